"""The one settings model, read from environment variables (set by template.yaml).

A dataclass with its own checks rather than a pydantic model: every function reads its
settings at import, and pydantic (its import and the model's schema built at class
definition, about 120 ms of CPU together) was the largest part of the collector's and the
importer's cold start that a bare boto3 handler does not have (docs/operations.md, "Cold
starts"). The checks and their messages are pydantic's, as before: each value given as text
(the environment) is read as the field's type the way pydantic's lax mode reads it, then
held to the field's bounds and pattern; every refused field is named, no value repeated.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from hubrelay.errors import PermanentError

# Security Hub limits that are facts of the API, not settings.
MAX_FINDINGS_PER_CALL = 100
# "Security Hub CSPM accepts up to 100 findings per batch, up to 240 KB per finding, and up
# to 6 MB per batch" ("Guidelines for using the BatchImportFindings API", the current partner
# guide, https://docs.aws.amazon.com/securityhub/latest/partnerguide/guidelines-batchimportfindings.html).
# The older "AWS Security Hub partner FAQ"
# (https://docs.aws.amazon.com/securityhub/latest/partnerguide/partner-faq.html) says "100
# findings or 240 KB in a single call": that figure stays available as a setting
# (BatchByteBudget 245760), and the importer halves its budget for the container's life when
# Security Hub refuses a request as too large (413), so either reading is safe.
MAX_FINDING_BYTES = 240 * 1024
MAX_REQUEST_BYTES = 6 * 1024 * 1024
PARTNER_FAQ_BATCH_BYTES = 240 * 1024
DEFAULT_BATCH_BYTE_BUDGET = MAX_REQUEST_BYTES
# SQS accepted 256 KiB per message for years and 1 MiB since August 2025, now also the
# default of a new queue's MaximumMessageSize ("Valid values: An integer from 1,024 bytes
# (1 KiB) to 1,048,576 bytes (1 MiB). Default: 1,048,576 bytes (1 MiB)", SetQueueAttributes,
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html).
# A message then holds a whole BatchImportFindings call of 100 findings (hubrelay.message);
# HUBRELAY_MAX_MESSAGE_BYTES=262144 for a queue kept at the old limit.
DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024
# The automatic route's queue's VisibilityTimeout (template.yaml AutoRouteQueue: 6 x the
# responder's 300 s timeout + 30 s): a receive that fails is retried this much later.
AUTO_ROUTE_VISIBILITY_S = 1830


class SettingsError(PermanentError, ValueError):
    """The environment does not make valid settings; the message names each variable."""

    def __init__(self, message: str, refused: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.refused = refused  # (field, reason) for each refused field


def _field(
    default: Any,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    pattern: str | None = None,
) -> Any:
    """A field with a default and the bounds or pattern its value is held to."""
    rule = {"ge": ge, "gt": gt, "le": le, "pattern": pattern}
    return dataclasses.field(
        default=default, metadata={k: v for k, v in rule.items() if v is not None}
    )


_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("Input should be a valid boolean, unable to interpret input")


def _as_int(value: Any) -> int:
    if isinstance(value, int):  # bool included, as pydantic's lax mode takes it
        return int(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("Input should be a valid integer, got a number with a fractional part")
        return int(value)
    if not isinstance(value, str):
        raise ValueError("Input should be a valid integer")
    try:
        return int(value)
    except ValueError:
        pass
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not number.is_integer():
        raise ValueError("Input should be a valid integer, unable to parse string as an integer")
    return int(number)


def _as_float(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise ValueError("Input should be a valid number")
    try:
        return float(value)
    except ValueError:
        raise ValueError(
            "Input should be a valid number, unable to parse string as a number"
        ) from None


def _as_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("Input should be a valid string")
    return value


# The field's type is its default's.
_READERS: dict[type, Callable[[Any], Any]] = {
    bool: _as_bool,
    int: _as_int,
    float: _as_float,
    str: _as_str,
}


def _checked(field: dataclasses.Field[Any], value: Any) -> Any:
    """`value` read as `field`'s type and held to its rule; ValueError says why not."""
    value = _READERS[type(field.default)](value)
    rule = field.metadata
    if "pattern" in rule and not re.fullmatch(rule["pattern"], value):
        raise ValueError(f"String should match pattern '{rule['pattern']}'")
    if "ge" in rule and not value >= rule["ge"]:
        raise ValueError(f"Input should be greater than or equal to {rule['ge']}")
    if "gt" in rule and not value > rule["gt"]:
        raise ValueError(f"Input should be greater than {rule['gt']}")
    if "le" in rule and not value <= rule["le"]:
        raise ValueError(f"Input should be less than or equal to {rule['le']}")
    if field.name in _VALIDATORS:
        try:
            value = _VALIDATORS[field.name](value)
        except ValueError as error:
            raise ValueError(f"Value error, {error}") from None
    return value


def _no_user_information(url: str) -> str:
    # Credentials belong in the secret; a URL is logged and shown in errors. The message
    # must not repeat the URL, which would put them there.
    try:
        parts = urlsplit(url)
        has_userinfo = parts.username is not None or parts.password is not None
    except ValueError:
        raise ValueError("not a URL that can be parsed") from None
    if has_userinfo:
        raise ValueError("must not hold user information (user:password@): use the secret")
    return url


_VALIDATORS: dict[str, Callable[[str], str]] = {"vendor_api_url": _no_user_information}


@dataclass(kw_only=True)
class Settings:
    """Everything a hubrelay function reads from its environment, with defaults."""

    product_arn: str = ""  # Partner product ARN; empty = private default
    quarantine_queue_url: str = ""
    batch_byte_budget: int = _field(DEFAULT_BATCH_BYTE_BUDGET, ge=1024, le=MAX_REQUEST_BYTES)
    max_finding_bytes: int = _field(MAX_FINDING_BYTES, ge=1024, le=MAX_FINDING_BYTES)
    max_message_bytes: int = _field(DEFAULT_MAX_MESSAGE_BYTES, ge=1024, le=1024 * 1024)
    # The findings queue's maxReceiveCount: on a message's last receive the importer
    # quarantines what it could not import, with the reason, instead of letting SQS's
    # redrive move it to the dead-letter queue without one.
    max_receive_count: int = _field(5, ge=1)
    # Time kept back from the Lambda deadline for reporting, so retries never run into it.
    deadline_margin_ms: int = _field(10_000, ge=0)
    max_retry_backoff_s: float = _field(8.0, gt=0)
    # Attempts per BatchImportFindings call within one invocation; SQS redelivery (up to
    # max_receive_count) is the outer retry.
    max_import_attempts: int = _field(8, ge=1)
    # BatchImportFindings calls per second and burst per account and Region that one
    # importer container paces itself to (hubrelay.retry.Pace): Security Hub's quota, 10
    # and 30 ("Quotas for Security Hub CSPM",
    # https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-limits.html).
    # 0: not paced (a 429 then waits a random backoff).
    import_rate_per_second: float = _field(10.0, ge=0)
    import_burst: int = _field(30, ge=1)
    region: str = "us-east-1"

    # --- Collector: see hubrelay.collector and hubrelay.sources. Empty = not configured.
    source: str = _field("", pattern=r"^(|vendor_api|scanner_reports|health)$")
    findings_queue_url: str = ""
    tracking_table: str = ""
    # Comma-separated Regions findings may be sent to; empty = the function's own Region.
    regions: str = _field("", pattern=r"^[a-z0-9, -]*$")
    severity_floor: str = _field(
        "INFORMATIONAL", pattern=r"^(INFORMATIONAL|LOW|MEDIUM|HIGH|CRITICAL)$"
    )
    # "AWS Security Hub partner FAQ" (URL above): "some vulnerability management vendors
    # only send findings with a CVSS score of 3 or above"; 0 sends every score.
    cvss_floor: float = _field(0.0, ge=0, le=10)
    # The partner FAQ: "create new findings every 90 days and do not update findings
    # forever"; refresh (the same Id updated again) stays a choice.
    renewal_mode: str = _field("new-generation", pattern=r"^(refresh|new-generation)$")
    # Security Hub ages findings off 90 days after their last update.
    renewal_days: int = _field(80, ge=1, le=89)
    reports_bucket: str = ""
    reports_prefix: str = ""
    errors_prefix: str = "errors/"
    max_report_bytes: int = _field(64 * 1024 * 1024, ge=1024)
    vendor_api_url: str = ""
    vendor_secret_arn: str = ""
    # The vendor watermark never moves past the start of the last listing less this much:
    # records changed while a listing was under way, and the two clocks' skew.
    vendor_watermark_overlap_s: int = _field(300, ge=0, le=86_400)
    # Where the vendor mapping is kept (hubrelay.sources.mapping_store): "" = the built-in
    # mapping/vendor_default.json, "ssm:<parameter name>", "s3://bucket/key", or a file path.
    vendor_mapping: str = ""
    # How long a mapping read from SSM or S3 is reused before it is read again.
    vendor_mapping_max_age_s: int = _field(300, ge=0, le=86_400)
    http_timeout_s: float = _field(10.0, gt=0, le=60)
    # A reply body longer than this is refused unread (webhook receivers, vendor pages):
    # a hostile or broken peer cannot take the function's memory.
    http_max_reply_bytes: int = _field(1024 * 1024, ge=1024, le=64 * 1024 * 1024)

    def region_list(self) -> tuple[str, ...]:
        """Configured Regions, the function's own first when it is among them."""
        listed = [r.strip() for r in self.regions.split(",") if r.strip()]
        ordered = sorted(set(listed), key=lambda r: (r != self.region, listed.index(r)))
        return tuple(ordered) or (self.region,)

    # --- Route-out (responder): see hubrelay.routing. Empty ARN/secret = not configured.
    # Custom action ARNs come from the stack (never hard-coded): one action per destination.
    webhook_action_arn: str = ""
    sns_action_arn: str = ""
    opscenter_action_arn: str = ""
    vendor_action_arn: str = ""
    # The stack's own account: the responder acts only on findings of it (and of its
    # Regions), and of the member accounts an administrator-account deployment lists
    # (comma-separated, or ALL). Empty (the CLI without a stack): no such check.
    account_id: str = _field("", pattern=r"^(\d{12})?$")
    route_member_accounts: str = _field("", pattern=r"^(|ALL|\d{12}(,\d{12})*)$")
    auto_route: bool = False
    # Which Security Hub the stack routes out of (template parameter SecurityHubs): CSPM
    # (ASFF: custom actions and Imported events), SecurityHub (the new OCSF-based one:
    # Findings Imported V2), or Both (custom actions from CSPM; the automatic route from
    # the new Security Hub only, which shows CSPM's findings too: docs/securityhub-editions.md).
    securityhubs: str = _field("CSPM", pattern=r"^(CSPM|SecurityHub|Both)$")
    # The new Security Hub's ticket connector (CreateConnectorV2) the ticket destination
    # creates tickets through; empty = no ticket destination.
    ticket_connector_id: str = _field("", pattern=r"^[A-Za-z0-9-]{0,64}$")
    # Comma-separated destinations the automatic route sends to.
    auto_route_destinations: str = "sns"
    auto_route_min_severity: str = _field(
        "HIGH", pattern=r"^(INFORMATIONAL|LOW|MEDIUM|HIGH|CRITICAL)$"
    )
    # Comma-separated Security Hub ProductName values; empty = every product.
    auto_route_product_names: str = ""
    # Secrets Manager secret (JSON): {"url", "signing_secret"}; never in env or logs.
    webhook_secret_arn: str = ""
    webhook_mode: str = _field("finding", pattern=r"^(finding|batch)$")
    webhook_format: str = _field("hubrelay", pattern=r"^(hubrelay|slack)$")
    # The largest webhook body sent: a batch over it is split, a finding over it goes without
    # its ASFF copy (said in the body), one still over it is a failed delivery (DLQ).
    webhook_max_body_bytes: int = _field(262_144, ge=16_384, le=6_291_456)
    sns_topic_arn: str = ""
    opscenter_enabled: bool = False
    # Vendor back-sync reuses the collector's vendor_api_url and vendor_secret_arn.
    vendor_back_sync: bool = False
    idempotency_table: str = ""
    idempotency_window_minutes: int = _field(60, ge=1, le=7 * 24 * 60)
    # MaxReceiveCount of the automatic route's queue: its retries span this many visibility
    # timeouts (AUTO_ROUTE_VISIBILITY_S), which the ledger must outlast for that route.
    auto_route_max_receives: int = _field(5, ge=1, le=1000)
    responder_dlq_url: str = ""
    http_max_attempts: int = _field(3, ge=1, le=10)
    # How long a secret fetched from Secrets Manager is reused before fetching it again.
    secret_max_age_s: int = _field(300, ge=0, le=3600)

    def __post_init__(self) -> None:
        refused: list[tuple[str, str]] = []
        for field in dataclasses.fields(self):
            try:
                setattr(self, field.name, _checked(field, getattr(self, field.name)))
            except ValueError as error:
                refused.append((field.name, str(error)))
        if refused:
            reasons = "; ".join(f"{name}: {reason}" for name, reason in refused)
            raise SettingsError(f"invalid settings: {reasons}", tuple(refused))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in _names():
            key = f"HUBRELAY_{name.upper()}"
            if key in env and env[key] != "":
                values[name] = env[key]
        if "region" not in values:
            values["region"] = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
        try:
            return cls(**values)
        except SettingsError as error:
            # Only the variable and the reason are said: a URL or ARN may hold what must
            # not be logged, so no refused value is repeated.
            reasons = "; ".join(f"HUBRELAY_{name.upper()}: {why}" for name, why in error.refused)
            raise SettingsError(f"invalid settings: {reasons}", error.refused) from None

    @classmethod
    def env_names(cls) -> set[str]:
        """Environment variable names this model reads (template.yaml is checked against it)."""
        return {f"HUBRELAY_{name.upper()}" for name in _names()}


def auto_route_window_minutes(settings: Settings) -> int:
    """The ledger's window for the automatic route: idempotency_window_minutes, or the
    span of its queue's receives when longer. An event whose delivery went through and
    whose write-back keeps failing is received again up to auto_route_max_receives
    times, a visibility timeout apart; once the ledger forgot the delivery, the finding,
    still NEW with no marks (CSPM) or records (V2), would be sent again. Receives are
    at least a visibility timeout apart, more when a backlog keeps a visible message
    waiting (the event source mapping's MaximumConcurrency): one timeout more is kept."""
    receives = settings.auto_route_max_receives + 1
    span = math.ceil(receives * AUTO_ROUTE_VISIBILITY_S / 60)
    return max(settings.idempotency_window_minutes, span)


def _names() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(Settings))
