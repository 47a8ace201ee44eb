"""moto's Security Hub, held to the documented AWS contract.

moto 5.2.5 accepts any finding, has no size or rate limits, scans a list on every import and
lacks BatchUpdateFindings, custom actions, insights and product subscriptions. `install()`
patches moto in place, so the same contract is served in-process under `moto.mock_aws` and
by a `moto.server.ThreadedMotoServer` running in this process::

    contract = install()
    with mock_aws():
        enable_hub("111111111111", "us-east-1")
        client = client_for("111111111111", "us-east-1")
        client.batch_import_findings(Findings=[...])
        contract.findings("111111111111", "us-east-1")
    uninstall()

State lives in the `Contract`, keyed by (account, region). Only "is the hub enabled" is read
from moto's backend, so moto's EnableSecurityHub / DisableSecurityHub keep working.
A server builds its URL map on its first Security Hub request: `install()` before that.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import os
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import unquote

import boto3
from botocore.config import Config
from moto.core.exceptions import JsonRESTError
from moto.securityhub import urls as securityhub_urls
from moto.securityhub.models import securityhub_backends
from moto.securityhub.responses import SecurityHubResponse

from hubrelay.asff import FindingKey
from hubrelay_emulator.motopatch import MotoPatch
from hubrelay_emulator.securityhub_v2 import HubV2, imported_v2_event

__all__ = [
    "CallRecord",
    "Contract",
    "SecurityHubError",
    "client_for",
    "disable_hub",
    "enable_hub",
    "finding_size",
    "install",
    "subscribe",
    "uninstall",
]

Finding = dict[str, Any]
Event = dict[str, Any]
FaultKind = Literal["throttle", "internal", "failed_findings", "access_denied"]
Scope = tuple[str, str]  # (account, region)

MAX_ACTION_TARGETS = 50
MAX_INSIGHTS = 100
MAX_UPDATE_IDENTIFIERS = 100


class SecurityHubError(JsonRESTError):
    """An API error that botocore parses into ClientError with this code and HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code, message)
        # Not ServiceException: its status comes from the botocore model, which lacks
        # TooManyRequestsException and 413 for Security Hub.
        self.code = status


def _invalid(message: str) -> SecurityHubError:
    return SecurityHubError(400, "InvalidInputException", message)


def _not_found(message: str) -> SecurityHubError:
    return SecurityHubError(404, "ResourceNotFoundException", message)


_FAULT_ERRORS: dict[str, tuple[int, str, str]] = {
    "throttle": (429, "TooManyRequestsException", "Rate exceeded"),
    "internal": (500, "InternalException", "Internal service failure"),
    "access_denied": (403, "AccessDeniedException", "Not authorized for BatchImportFindings"),
}
_FAILED_FINDINGS_PARAMS = frozenset({"ids", "first", "error_code", "error_message"})

# --- The referee: ASFF rules as documented, deliberately independent of hubrelay. ---

_REQUIRED_STRINGS = (
    *("SchemaVersion", "Id", "ProductArn", "GeneratorId", "AwsAccountId"),
    *("CreatedAt", "UpdatedAt", "Title", "Description"),
)
_MAX_LENGTHS = (("Id", 512), ("GeneratorId", 512), ("Title", 256), ("Description", 1024))
_NAMESPACES = frozenset(
    {"Software and Configuration Checks", "TTPs", "Effects", "Unusual Behaviors"}
    | {"Sensitive Data Identifications"}
)
_SEVERITY_LABELS = ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL")
MAX_CUSTOM_ACTION_SELECTION = 20
_WORKFLOW_STATUSES = frozenset({"NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED"})
_VERIFICATION_STATES = frozenset({"UNKNOWN", "TRUE_POSITIVE", "FALSE_POSITIVE", "BENIGN_POSITIVE"})
# The account of a product ARN is 12 digits or empty: Security Hub lists AWS services'
# products and many partner products without one (arn:aws:securityhub:<REGION>::product/
# aquasecurity/aquasecurity, "Available third-party partner product integrations",
# https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-partner-providers.html).
_PRODUCT_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):securityhub:(?P<region>[a-z0-9-]+):(?P<account>(?:\d{12})?):"
    r"product/(?P<company>[^/]+)/(?P<product>[^/]+)"
)
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", re.I)
_ACCOUNT_ID = re.compile(r"\d{12}")
_ACTION_ID = re.compile(r"[A-Za-z0-9]{1,20}")


def finding_size(finding: Any) -> int:
    """Bytes a finding takes in the request: botocore writes restJson bodies with json.dumps."""
    return len(json.dumps(finding).encode("utf-8"))


def _is_rfc3339(value: Any) -> bool:
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        return False
    try:  # the pattern accepts month 13 and the like
        datetime.strptime(value[:19].upper(), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return False
    return True


def _is_ratio(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100


def _types_problem(types: Any) -> str | None:
    if not isinstance(types, list):
        return "Types must be a list"
    for item in types:
        parts = item.split("/", 2) if isinstance(item, str) else [""]
        if parts[0] not in _NAMESPACES or not all(parts):
            return f"Type {item!r} is not namespace[/category[/classifier]] with a valid namespace"
    return None


def _severity_problem(severity: Any, *, required: bool) -> str | None:
    if not isinstance(severity, dict):
        return "Severity must be an object"
    label, normalized = severity.get("Label"), severity.get("Normalized")
    if required and label is None and normalized is None:
        return "Severity needs Label or Normalized"
    if label is not None and label not in _SEVERITY_LABELS:
        return f"Severity.Label {label!r} is not one of {', '.join(_SEVERITY_LABELS)}"
    if normalized is not None and not _is_ratio(normalized):
        return "Severity.Normalized must be an integer from 0 to 100"
    return None


def _check_finding(finding: Any, region: str) -> str | None:
    """Why `finding` breaks the BatchImportFindings contract at `region`'s endpoint, or None."""
    if not isinstance(finding, dict):
        return "Finding must be an object"
    for name in _REQUIRED_STRINGS:
        if not isinstance(finding.get(name), str) or not finding[name]:
            return f"{name} is required"
    if not _ACCOUNT_ID.fullmatch(finding["AwsAccountId"]):
        return f"AwsAccountId {finding['AwsAccountId']!r} is not a 12-digit account ID"
    arn = _PRODUCT_ARN.fullmatch(finding["ProductArn"])
    if arn is None:
        return f"ProductArn {finding['ProductArn']!r} is not a Security Hub product ARN"
    if arn["region"] != region:
        return f"ProductArn region {arn['region']} does not match the endpoint region {region}"
    for name, limit in _MAX_LENGTHS:
        if len(finding[name]) > limit:
            return f"{name} is longer than {limit} characters"
    for name in ("CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt"):
        if name in finding and not _is_rfc3339(finding[name]):
            return f"{name} {finding[name]!r} is not an RFC 3339 timestamp"
    resources = finding.get("Resources")
    if not isinstance(resources, list) or not 1 <= len(resources) <= 32:
        return "Resources must hold 1 to 32 resources"
    for resource in resources:
        if not isinstance(resource, dict) or not all(
            isinstance(resource.get(key), str) and resource[key] for key in ("Type", "Id")
        ):
            return "Every resource needs a Type and an Id"
    if "Severity" not in finding:
        return "Severity is required"
    return _severity_problem(finding["Severity"], required=True) or _types_problem(
        finding.get("Types", [])
    )


def _update_problem(body: dict[str, Any]) -> str | None:
    """Why a BatchUpdateFindings request carries an invalid value, or None."""
    note = body.get("Note")
    if note is not None and not (
        isinstance(note, dict)
        and isinstance(note.get("Text"), str)
        and 1 <= len(note["Text"]) <= 512
        and isinstance(note.get("UpdatedBy"), str)
        and note["UpdatedBy"]
    ):
        return "Note needs Text of 1 to 512 characters and UpdatedBy"
    workflow = body.get("Workflow")
    if workflow is not None and (
        not isinstance(workflow, dict) or workflow.get("Status") not in _WORKFLOW_STATUSES
    ):
        return f"Workflow.Status must be one of {', '.join(sorted(_WORKFLOW_STATUSES))}"
    if "VerificationState" in body and body["VerificationState"] not in _VERIFICATION_STATES:
        return f"VerificationState {body['VerificationState']!r} is not valid"
    for name in ("Confidence", "Criticality"):
        if name in body and not _is_ratio(body[name]):
            return f"{name} must be an integer from 0 to 100"
    fields = body.get("UserDefinedFields", {})
    if not isinstance(fields, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in fields.items()
    ):
        return "UserDefinedFields must map strings to strings"
    related = body.get("RelatedFindings", [])
    if not isinstance(related, list) or not all(
        isinstance(r, dict) and r.get("ProductArn") and r.get("Id") for r in related
    ):
        return "RelatedFindings need ProductArn and Id"
    if "Severity" in body and (problem := _severity_problem(body["Severity"], required=False)):
        return problem
    return _types_problem(body["Types"]) if "Types" in body else None


# --- Findings, filters and paging. ---

_MANAGED_FIELDS = ("Workflow", "Note", "UserDefinedFields", "VerificationState")
# The top-level fields a finding provider sets through FindingProviderFields and a customer
# through BatchUpdateFindings ("Using FindingProviderFields",
# https://docs.aws.amazon.com/securityhub/latest/userguide/finding-update-batchimportfindings.html#batchimportfindings-findingproviderfields).
_PROVIDER_FIELDS = ("Confidence", "Criticality", "RelatedFindings", "Severity", "Types")
_FILTER_FIELDS: dict[str, tuple[str, ...]] = {
    **{name: (name,) for name in ("Id", "ProductArn", "AwsAccountId", "GeneratorId", "Title")},
    **{name: (name,) for name in ("ProductName", "CompanyName", "Region", "RecordState")},
    "WorkflowStatus": ("Workflow", "Status"),
    "SeverityLabel": ("Severity", "Label"),
    "ComplianceStatus": ("Compliance", "Status"),
}
_POSITIVE = frozenset({"EQUALS", "PREFIX"})
_NEGATIVE = frozenset({"NOT_EQUALS", "PREFIX_NOT_EQUALS"})


def _dig(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _label(normalized: int) -> str:
    for floor, label in ((90, "CRITICAL"), (70, "HIGH"), (40, "MEDIUM"), (1, "LOW")):
        if normalized >= floor:
            return label
    return "INFORMATIONAL"


def _check_filters(filters: Any) -> dict[str, list[dict[str, str]]]:
    if not isinstance(filters, dict):
        raise _invalid("Filters must be an object")
    for name, conditions in filters.items():
        if name not in _FILTER_FIELDS:
            raise _invalid(f"Filter {name} is not supported here ({', '.join(_FILTER_FIELDS)})")
        # "For each attribute, you can provide up to 20 filter values"
        # (https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_AwsSecurityFindingFilters.html).
        if isinstance(conditions, list) and len(conditions) > 20:
            raise _invalid(f"Filter {name} has {len(conditions)} values; at most 20 are allowed")
        if not isinstance(conditions, list) or not all(
            isinstance(c, dict)
            and isinstance(c.get("Value"), str)
            and c.get("Comparison") in _POSITIVE | _NEGATIVE
            for c in conditions
        ):
            raise _invalid(f"Filter {name} needs Value and an EQUALS/PREFIX/NOT_EQUALS Comparison")
    return filters


def _compare(value: Any, condition: dict[str, str]) -> bool:
    text = value if isinstance(value, str) else None
    target, comparison = condition["Value"], condition["Comparison"]
    if comparison == "EQUALS":
        return text == target
    if comparison == "PREFIX":
        return text is not None and text.startswith(target)
    if comparison == "NOT_EQUALS":
        return text != target
    return text is None or not text.startswith(target)


def _matches(finding: Finding, filters: dict[str, list[dict[str, str]]]) -> bool:
    # As documented: EQUALS/PREFIX on one field are OR'ed, negations AND'ed, fields AND'ed.
    for name, conditions in filters.items():
        value = _dig(finding, _FILTER_FIELDS[name])
        positive = [c for c in conditions if c["Comparison"] in _POSITIVE]
        if positive and not any(_compare(value, c) for c in positive):
            return False
        if not all(_compare(value, c) for c in conditions if c["Comparison"] in _NEGATIVE):
            return False
    return True


def _page(items: list[Any], max_results: Any, token: Any, limit: int) -> tuple[list[Any], Any]:
    size = (
        int(max_results) if isinstance(max_results, str) and max_results.isdigit() else max_results
    )
    size = limit if size is None else size
    if not isinstance(size, int) or not 1 <= size <= limit:
        raise _invalid(f"MaxResults must be between 1 and {limit}")
    start = 0
    if token:
        try:
            start = int(base64.urlsafe_b64decode(str(token).encode()).decode())
        except ValueError as exc:
            raise _invalid("NextToken is not valid") from exc
    end = start + size
    next_token = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return items[start:end], next_token


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _event(
    detail_type: str, account: str, region: str, resources: list[str], detail: dict[str, Any]
) -> Event:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "aws.securityhub",
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": resources,
        "detail": detail,
    }


def _imported_event(finding: Finding) -> Event:
    return _event(
        "Security Hub Findings - Imported",
        finding["AwsAccountId"],
        finding["Region"],
        [finding["Id"]],
        {"findings": [copy.deepcopy(finding)]},
    )


# --- Accounts and hubs. ---


def enable_hub(account: str, region: str) -> None:
    """Subscribe `account` to Security Hub in `region`, as EnableSecurityHub would."""
    securityhub_backends[account][region].enable_security_hub()


def disable_hub(account: str, region: str) -> None:
    """Unsubscribe `account` from Security Hub in `region`, as DisableSecurityHub would."""
    backend = securityhub_backends[account][region]
    if backend.enabled:
        backend.disable_security_hub()


def _hub_enabled(account: str, region: str) -> bool:
    return bool(securityhub_backends[account][region].enabled)


@functools.cache
def _session() -> boto3.session.Session:
    # Shared so that its loader reads each service model once, not once per client.
    return boto3.session.Session()


def client_for(
    account: str,
    region: str,
    service: str = "securityhub",
    endpoint_url: str | None = None,
    config: Config | None = None,
) -> Any:
    """A boto3 client that moto serves as `account`, in-process or through a moto server.

    moto picks the calling account from, in order: the MOTO_ACCOUNT_ID environment variable
    (which therefore must be unset), an `x-moto-account-id` request header, the account
    owning the access key in moto's IAM, else 123456789012. The client sends the header.
    SDK retries are off unless `config` says otherwise, so every API call reaches the
    contract exactly once and injected faults surface to the caller.
    """
    if not _ACCOUNT_ID.fullmatch(account):
        raise ValueError(f"account must be 12 digits, got {account!r}")
    if os.environ.get("MOTO_ACCOUNT_ID", account) != account:
        raise RuntimeError("MOTO_ACCOUNT_ID is set, so moto would ignore the account chosen here")
    no_retries = Config(retries={"mode": "standard", "total_max_attempts": 1})
    client = _session().client(
        service,
        region_name=region,
        endpoint_url=endpoint_url,
        # moto ignores credentials; fixed fake ones keep real ones out of tests.
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106
        config=no_retries.merge(config) if config else no_retries,
    )

    def act_as_account(request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = account

    client.meta.events.register("before-sign", act_as_account)
    return client


def subscribe(
    accounts: Iterable[str], region: str, product_arn: str, endpoint_url: str | None = None
) -> None:
    """What each account does to receive a product's findings: enable Security Hub in
    `region`, then subscribe to the product (EnableImportFindingsForProduct)."""
    for account in accounts:
        enable_hub(account, region)
        client_for(account, region, endpoint_url=endpoint_url).enable_import_findings_for_product(
            ProductArn=product_arn
        )


# --- The contract: settings, observations and state. ---


@dataclass(frozen=True)
class CallRecord:
    """One BatchImportFindings call as the service saw it.

    `outcome` is "ok", "partial" (some FailedFindings) or the error code returned.
    """

    account: str
    region: str
    findings: int
    request_bytes: int
    outcome: str


@dataclass
class _Fault:
    kind: FaultKind
    params: dict[str, Any]


@dataclass
class _Hub:
    """One account's Security Hub in one region."""

    findings: dict[FindingKey, Finding] = field(default_factory=dict)
    products: dict[str, str] = field(default_factory=dict)  # ProductArn -> subscription ARN
    actions: dict[str, dict[str, str]] = field(default_factory=dict)
    insights: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The provider fields a customer changed with BatchUpdateFindings, per finding: later
    # imports no longer change them at the top level.
    customer_fields: dict[FindingKey, set[str]] = field(default_factory=dict)


@dataclass
class Contract:
    """Limits, fault injection, observations and state of the patched Security Hub.

    Rate limiting is a token bucket per (calling account, region) for BatchImportFindings:
    `burst` calls at once, refilled at `rate_per_second` by `clock`; None disables it.
    """

    max_findings_per_call: int = 100
    max_finding_bytes: int = 240 * 1024
    max_request_bytes: int = 6 * 1024 * 1024
    rate_per_second: float | None = 10.0
    burst: int = 30
    clock: Callable[[], float] = time.monotonic
    calls: list[CallRecord] = field(default_factory=list)
    throttled: int = 0
    # Findings stored by BatchImportFindings, created or updated: what Security Hub bills as
    # finding ingestion events. An import it ignores (UpdatedAt not later) is not counted.
    billed_imports: int = 0
    _hubs: dict[Scope, _Hub] = field(default_factory=dict, init=False, repr=False)
    # (partition, company, product) -> the partner accounts Security Hub allow-listed for it.
    _allow_listed: dict[tuple[str, str, str], set[str]] = field(
        default_factory=dict, init=False, repr=False
    )
    _buckets: dict[Scope, tuple[float, float]] = field(default_factory=dict, init=False, repr=False)
    # The new (OCSF-based) Security Hub: securityhub_v2.py.
    v2: HubV2 = field(default_factory=HubV2, init=False, repr=False)
    _faults: deque[_Fault] = field(default_factory=deque, init=False, repr=False)
    _subscribers: list[Callable[[Event], None]] = field(
        default_factory=list, init=False, repr=False
    )
    # Reentrant, and events go out after release: a server thread serves requests meanwhile.
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    def inject(self, kind: FaultKind, count: int = 1, **params: Any) -> None:
        """Queue `count` faults for the next BatchImportFindings calls, one per call.

        "throttle" (429 TooManyRequestsException), "internal" (500 InternalException) and
        "access_denied" (403 AccessDeniedException) fail the whole call. "failed_findings"
        returns findings in FailedFindings: those whose Id is in `ids`, else the `first` N
        (default all), with `error_code` (default "InternalException") and `error_message`.
        Calls refused by the rate limiter do not consume a fault.
        """
        faults = _faults(kind, count, params)
        with self._lock:
            self._faults.extend(faults)

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call `callback` with every EventBridge event Security Hub would emit.

        That is one "Security Hub Findings - Imported" event per finding imported or updated,
        and the events built by `custom_action`. Returns a function that unsubscribes.
        """
        with self._lock:
            self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def allow_list(self, product_arn: str, account: str) -> None:
        """Let `account` import `product_arn`'s findings for the customers subscribed to it.

        Security Hub allow-lists the accounts a partner names in its product integration
        manifest, one per partition ("commercialAccountNumber", "govcloudAccountNumber",
        "chinaAccountNumber": "Security Hub console information",
        https://docs.aws.amazon.com/securityhub/latest/partnerguide/manifest-console-information.html),
        for the product in every Region of that partition. A product ARN carrying an account
        allow-lists that account already; one without an account (many partner products)
        allow-lists nobody until this is called.
        """
        arn = _PRODUCT_ARN.fullmatch(product_arn)
        if arn is None:
            raise ValueError(f"{product_arn!r} is not a Security Hub product ARN")
        if not _ACCOUNT_ID.fullmatch(account):
            raise ValueError(f"account must be 12 digits, got {account!r}")
        with self._lock:
            key = (arn["partition"], arn["company"], arn["product"])
            self._allow_listed.setdefault(key, set()).add(account)

    def seed(self, account: str, region: str, findings: Iterable[Finding]) -> None:
        """Place findings in `account`'s hub as AWS services and partners deliver them.

        For findings no test account may import itself (GuardDuty, Inspector, Macie,
        Security Hub controls: their ProductArn names company "aws"). Stored as given, plus
        the fields Security Hub adds when missing (Region, Workflow, RecordState). No event.
        """
        with self._lock:
            hub = self._hub(account, region)
            for finding in findings:
                stored = copy.deepcopy(finding)
                stored.setdefault("Region", region)
                stored.setdefault("RecordState", "ACTIVE")
                stored.setdefault("Workflow", {"Status": "NEW"})
                hub.findings[(stored["ProductArn"], stored["Id"])] = stored

    def findings(self, account: str, region: str) -> list[Finding]:
        """Copies of the findings stored in `account`'s hub in `region`."""
        with self._lock:
            return copy.deepcopy(list(self._hub(account, region).findings.values()))

    def custom_action(
        self, account: str, region: str, action_arn: str, finding_keys: Iterable[FindingKey]
    ) -> list[Event]:
        """Emit and return the events Security Hub sends when a user runs a custom action.

        "You can select a custom action for up to 20 findings at a time. Each finding is sent
        to EventBridge as a separate event" ("Security Hub event types in EventBridge",
        https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-cwe-integration-types.html):
        one event per finding, in the order given; more than 20 is a ValueError. Raises
        LookupError for an unknown action target or finding.
        """
        keys = list(finding_keys)
        if len(keys) > MAX_CUSTOM_ACTION_SELECTION:
            raise ValueError(
                f"a custom action takes at most {MAX_CUSTOM_ACTION_SELECTION} findings at a "
                f"time, got {len(keys)}"
            )
        with self._lock:
            hub = self._hub(account, region)
            events = _custom_action_events(hub, account, region, action_arn, keys)
        self._emit(events)
        return events

    def import_v2(self, finding: Finding) -> Event:
        """Ingest an OCSF finding into the new Security Hub as an AWS service or partner
        delivers it, and emit its `Findings Imported V2` event; return the event."""
        with self._lock:
            event = imported_v2_event(self.v2.put(finding))
        self._emit([event])
        return event

    def findings_v2(self, account: str, region: str) -> list[Finding]:
        """Copies of the OCSF findings the new Security Hub holds for `account`."""
        with self._lock:
            return copy.deepcopy(list(self.v2.scope(account, region).values()))

    def _hub(self, account: str, region: str) -> _Hub:
        return self._hubs.setdefault((account, region), _Hub())

    def _emit(self, events: list[Event]) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for event in events:
            for callback in subscribers:
                callback(event)


def _faults(kind: FaultKind, count: int, params: dict[str, Any]) -> list[_Fault]:
    """`count` faults of `kind`: ValueError for an unknown kind, TypeError for a parameter
    it does not take."""
    if kind not in (*_FAULT_ERRORS, "failed_findings"):
        raise ValueError(f"unknown fault kind {kind!r}")
    allowed = _FAILED_FINDINGS_PARAMS if kind == "failed_findings" else frozenset()
    if unknown := set(params) - allowed:
        raise TypeError(f"fault {kind!r} takes no parameter(s) {sorted(unknown)}")
    return [_Fault(kind, dict(params)) for _ in range(count)]


def _custom_action_events(
    hub: _Hub, account: str, region: str, action_arn: str, keys: list[FindingKey]
) -> list[Event]:
    """One event per finding, in the order given; LookupError for an unknown action target
    or finding."""
    target = hub.actions.get(action_arn)
    if target is None:
        raise LookupError(f"no action target {action_arn} in {account}/{region}")
    if missing := [key for key in keys if key not in hub.findings]:
        raise LookupError(f"no findings {missing} in {account}/{region}")
    return [
        _event(
            "Security Hub Findings - Custom Action",
            account,
            region,
            [action_arn],
            {
                "actionName": target["Name"],
                "actionDescription": target["Description"],
                "findings": [copy.deepcopy(hub.findings[key])],
            },
        )
        for key in keys
    ]


def _take_token(c: Contract, scope: Scope) -> bool:
    if c.rate_per_second is None:
        return True
    now = c.clock()
    tokens, stamp = c._buckets.get(scope, (float(c.burst), now))
    tokens = min(float(c.burst), tokens + (now - stamp) * c.rate_per_second)
    allowed = tokens >= 1
    c._buckets[scope] = (tokens - 1 if allowed else tokens, now)
    return allowed


def _may_import(c: Contract, caller: str, region: str, finding: Finding) -> bool:
    """BatchImportFindings' access rule, for a finding `_check_finding` passed.

    Findings are accepted only for an account with Security Hub enabled ("BatchImportFindings
    for finding providers", https://docs.aws.amazon.com/securityhub/latest/userguide/finding-update-batchimportfindings.html).
    The caller is either the finding's own account (AwsAccountId) or an account
    allow-listed for an official partner integration, which may send for several
    customers ("BatchImportFindings",
    https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchImportFindings.html).
    Either way a partner product needs the customer's subscription to that exact product
    ARN, whether the partner hosts the product or the customer does ("Integration use
    cases and required permissions",
    https://docs.aws.amazon.com/securityhub/latest/partnerguide/integration-use-cases.html).
    The product ARN's account, when it has one, decides nothing else: an ARN without an
    account is subscribed to and imported like one with an account.
    """
    account, product_arn = finding["AwsAccountId"], finding["ProductArn"]
    if not _hub_enabled(account, region):
        return False
    arn = _PRODUCT_ARN.fullmatch(product_arn)
    assert arn is not None  # _check_finding passed
    if arn["company"] == "aws":
        # AWS services send their own findings once the service and Security Hub are
        # both enabled ("AWS service integrations with Security Hub CSPM",
        # https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-internal-providers.html).
        return False
    subscribed = product_arn in c._hub(account, region).products
    # An account's own products, its private default product/<account>/default included
    # ("Integrating Security Hub CSPM with custom products",
    # https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-custom-providers.html),
    # are the ones whose ARN carries its account ID: they need no subscription.
    if caller == account:
        return subscribed or caller == arn["account"]
    return subscribed and caller in _allow_listed_for(c, arn)


def _allow_listed_for(c: Contract, arn: re.Match[str]) -> set[str]:
    listed = c._allow_listed.get((arn["partition"], arn["company"], arn["product"]), set())
    return listed | ({arn["account"]} if arn["account"] else set())


def _store(c: Contract, region: str, finding: Finding, now: str) -> Finding | None:
    """Store `finding`, or ignore it (None) when it is not newer than the stored one.

    Security Hub ignores an update of an existing finding whose UpdatedAt is not later
    than the stored one (the user guide's "Determining whether to create or update a
    finding", in "BatchImportFindings for finding providers",
    https://docs.aws.amazon.com/securityhub/latest/userguide/finding-update-batchimportfindings.html):
    nothing changes, no event, no ingestion billed.
    """
    hub = c._hub(finding["AwsAccountId"], region)
    key = (finding["ProductArn"], finding["Id"])
    old = hub.findings.get(key)
    if old is not None and _instant(finding["UpdatedAt"]) <= _instant(old["UpdatedAt"]):
        return None
    customer = hub.customer_fields.get(key, set())
    hub.findings[key] = _as_stored(finding, old, region, now, customer)
    c.billed_imports += 1
    return hub.findings[key]


def _instant(value: str) -> datetime:
    """An RFC 3339 timestamp (`_check_finding` passed) as a comparable instant."""
    return datetime.fromisoformat(value.upper().replace("Z", "+00:00"))


def _as_stored(
    finding: Finding, old: Finding | None, region: str, now: str, customer: set[str]
) -> Finding:
    """`finding` as Security Hub stores it over `old`: the fields Security Hub manages kept,
    the provider fields a customer changed kept, the ones it derives added, Workflow.Status
    reset to NEW where it documents that."""
    new = copy.deepcopy(finding)
    if old is not None:
        for name in _MANAGED_FIELDS:
            if name in old:
                new[name] = copy.deepcopy(old[name])
            else:
                new.pop(name, None)
    _provider_fields(new, old, customer)
    arn = _PRODUCT_ARN.fullmatch(new["ProductArn"])
    assert arn is not None  # _check_finding passed
    if (arn["company"], arn["product"]) == (new["AwsAccountId"], "default"):
        # A custom integration is the one case where the provider names itself.
        new.setdefault("CompanyName", "Personal")
        new.setdefault("ProductName", "Default")
    else:
        new["CompanyName"], new["ProductName"] = arn["company"], arn["product"]
    new["Region"] = region
    new["ProcessedAt"] = now
    new.setdefault("RecordState", "ACTIVE")
    if "Label" not in new["Severity"]:
        new["Severity"]["Label"] = _label(new["Severity"]["Normalized"])
    workflow = new.setdefault("Workflow", {})
    workflow.setdefault("Status", "NEW")
    if old is not None and workflow["Status"] in ("NOTIFIED", "RESOLVED"):
        reactivated = old.get("RecordState") == "ARCHIVED" and new["RecordState"] == "ACTIVE"
        old_status = _dig(old, ("Compliance", "Status"))
        new_status = _dig(new, ("Compliance", "Status"))
        regressed = old_status == "PASSED" and new_status not in (None, "PASSED")
        if reactivated or regressed:
            workflow["Status"] = "NEW"
    return new


def _provider_fields(new: Finding, old: Finding | None, customer: set[str]) -> None:
    """FindingProviderFields and their top-level analogues, as "Using FindingProviderFields"
    documents (https://docs.aws.amazon.com/securityhub/latest/userguide/finding-update-batchimportfindings.html#batchimportfindings-findingproviderfields):
    an empty FindingProviderFields is filled from the top-level fields; a provider's
    FindingProviderFields value also sets the top-level field unless a customer changed
    that field with BatchUpdateFindings, whose value then stays."""
    provided = new.get("FindingProviderFields")
    if not provided:
        new["FindingProviderFields"] = {
            name: copy.deepcopy(new[name]) for name in _PROVIDER_FIELDS if name in new
        }
    else:
        for name in _PROVIDER_FIELDS:
            if name in provided:
                new[name] = copy.deepcopy(provided[name])
    for name in customer:
        if old is not None and name in old:
            new[name] = copy.deepcopy(old[name])


# --- Operations: each turns a request into a response body, under the contract's lock. ---

Body = dict[str, Any]
_Operation = Callable[[Contract, "_Request"], Body]
_OPERATIONS: dict[str, _Operation] = {}


def _operation(function: _Operation) -> _Operation:
    # moto calls the method named after the botocore operation in snake_case.
    _OPERATIONS[function.__name__.lstrip("_")] = function
    return function


@dataclass(frozen=True)
class _Request:
    account: str
    region: str
    partition: str
    raw: bytes
    path: str
    query: dict[str, Any]
    events: list[Event] = field(default_factory=list)  # to emit once the lock is released

    @classmethod
    def of(cls, response: SecurityHubResponse) -> _Request:
        raw = response.raw_body or b""
        return cls(
            account=response.current_account,
            region=response.region,
            partition=response.partition,
            raw=raw.encode("utf-8") if isinstance(raw, str) else bytes(raw),
            path=response.path,
            query=dict(response.querystring),
        )

    def json(self) -> dict[str, Any]:
        try:
            body = json.loads(self.raw or b"{}")
        except ValueError as exc:
            raise _invalid(f"Request body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise _invalid("Request body must be a JSON object")
        return body

    def query_param(self, name: str) -> Any:
        value = self.query.get(name)
        return value[0] if isinstance(value, list) else value

    def uri_arn(self, collection: str) -> str:
        return unquote(self.path.split(f"/{collection}/", 1)[1])

    def arn(self, resource: str) -> str:
        return f"arn:{self.partition}:securityhub:{self.region}:{self.account}:{resource}"


def _enabled_hub(contract: Contract, req: _Request) -> _Hub:
    if not _hub_enabled(req.account, req.region):
        raise SecurityHubError(
            401,
            "InvalidAccessException",
            f"Account {req.account} is not subscribed to AWS Security Hub in {req.region}",
        )
    return contract._hub(req.account, req.region)


def _forced_failures(fault: _Fault, findings: list[Any]) -> dict[int, tuple[str, str]]:
    """Index -> (ErrorCode, ErrorMessage) of the findings a "failed_findings" fault fails."""
    failure = (
        fault.params.get("error_code", "InternalException"),
        fault.params.get("error_message", "Injected failure"),
    )
    ids = fault.params.get("ids")
    chosen = (
        [i for i, f in enumerate(findings) if isinstance(f, dict) and f.get("Id") in ids]
        if ids is not None
        else range(min(fault.params.get("first", len(findings)), len(findings)))
    )
    return dict.fromkeys(chosen, failure)


def _problem(c: Contract, req: _Request, finding: Any) -> tuple[str, str] | None:
    """Why Security Hub would fail this finding of the call, if it would."""
    if finding_size(finding) > c.max_finding_bytes:
        return ("InvalidInput", f"Finding size exceeded {c.max_finding_bytes // 1024} KB")
    if reason := _check_finding(finding, req.region):
        return ("InvalidInput", reason)
    if _may_import(c, req.account, req.region, finding):
        return None
    owner = finding["AwsAccountId"]
    if not _hub_enabled(owner, req.region):
        return (
            "InvalidAccess",
            f"Account {owner} is not subscribed to AWS Security Hub in {req.region}",
        )
    return (
        "InvalidAccess",
        f"Account {req.account} may not import findings into account {owner} "
        f"for product {finding['ProductArn']}",
    )


@_operation
def _batch_import_findings(c: Contract, req: _Request) -> Body:
    try:
        body: dict[str, Any] | None = req.json()
    except SecurityHubError:
        body = None
    findings = body.get("Findings") if body else None
    count = len(findings) if isinstance(findings, list) else 0

    def refuse(error: SecurityHubError) -> SecurityHubError:
        record = CallRecord(req.account, req.region, count, len(req.raw), error.error_type)
        c.calls.append(record)
        if error.code == 429:
            c.throttled += 1
        return error

    if not _take_token(c, (req.account, req.region)):
        raise refuse(SecurityHubError(429, "TooManyRequestsException", "Rate exceeded"))
    fault = c._faults.popleft() if c._faults else None
    if fault is not None and fault.kind in _FAULT_ERRORS:
        raise refuse(SecurityHubError(*_FAULT_ERRORS[fault.kind]))
    if len(req.raw) > c.max_request_bytes:
        message = f"Request of {len(req.raw)} bytes exceeds {c.max_request_bytes} bytes"
        raise refuse(SecurityHubError(413, "RequestEntityTooLargeException", message))
    if not isinstance(findings, list) or not 1 <= count <= c.max_findings_per_call:
        limit = c.max_findings_per_call
        raise refuse(_invalid(f"Findings must hold 1 to {limit} findings, got {count}"))

    # Only a "failed_findings" fault gets this far.
    forced = _forced_failures(fault, findings) if fault is not None else {}
    failed: list[dict[str, str]] = []
    now = _now()
    for index, finding in enumerate(findings):
        problem = forced.get(index) or _problem(c, req, finding)
        if problem is not None:
            finding_id = finding.get("Id") if isinstance(finding, dict) else None
            failed.append(
                {"Id": str(finding_id or ""), "ErrorCode": problem[0], "ErrorMessage": problem[1]}
            )
            continue
        if (stored := _store(c, req.region, finding, now)) is not None:
            req.events.append(_imported_event(stored))
    outcome = "partial" if failed else "ok"
    c.calls.append(CallRecord(req.account, req.region, count, len(req.raw), outcome))
    return {
        "FailedCount": len(failed),
        "SuccessCount": count - len(failed),
        "FailedFindings": failed,
    }


@_operation
def _get_findings(c: Contract, req: _Request) -> Body:
    hub = _enabled_hub(c, req)
    body = req.json()
    filters = _check_filters(body.get("Filters") or {})
    matching = [f for f in hub.findings.values() if _matches(f, filters)]
    return _paged("Findings", matching, body)


def _apply_update(finding: Finding, body: dict[str, Any], now: str) -> None:
    if "Note" in body:
        finding["Note"] = {**body["Note"], "UpdatedAt": now}
    if "Workflow" in body:
        finding["Workflow"] = {**finding.get("Workflow", {}), "Status": body["Workflow"]["Status"]}
    if "UserDefinedFields" in body:
        fields = finding.get("UserDefinedFields", {})
        finding["UserDefinedFields"] = {**fields, **body["UserDefinedFields"]}
    if "Severity" in body:
        severity = {**finding.get("Severity", {}), **body["Severity"]}
        if "Normalized" in body["Severity"] and "Label" not in body["Severity"]:
            severity["Label"] = _label(body["Severity"]["Normalized"])
        finding["Severity"] = severity
    for name in ("VerificationState", "Types", "Confidence", "Criticality", "RelatedFindings"):
        if name in body:
            finding[name] = copy.deepcopy(body[name])
    # "BatchUpdateFindings does not change the UpdatedAt field for the finding. UpdatedAt
    # only reflects the most recent update from the finding provider" ("BatchUpdateFindings
    # for customers", https://docs.aws.amazon.com/securityhub/latest/userguide/finding-update-batchupdatefindings.html).


@_operation
def _batch_update_findings(c: Contract, req: _Request) -> Body:
    hub = _enabled_hub(c, req)
    body = req.json()
    identifiers = body.get("FindingIdentifiers")
    if not isinstance(identifiers, list) or not 1 <= len(identifiers) <= MAX_UPDATE_IDENTIFIERS:
        raise _invalid(f"FindingIdentifiers must hold 1 to {MAX_UPDATE_IDENTIFIERS} identifiers")
    problem = _update_problem(body)
    processed: list[dict[str, str]] = []
    unprocessed: list[dict[str, Any]] = []
    seen: set[FindingKey] = set()
    now = _now()
    for identifier in identifiers:
        key = (str(_dig(identifier, ("ProductArn",))), str(_dig(identifier, ("Id",))))
        finding = hub.findings.get(key)
        if problem:
            error: tuple[str, str] | None = ("InvalidInput", problem)
        elif key in seen:
            error = ("DuplicatedFindingIdentifier", "Finding Identifier is duplicated")
        elif finding is None:
            error = ("FindingNotFound", "Finding Not Found")
        else:
            error = None
            _apply_update(finding, body, now)
            changed = {name for name in _PROVIDER_FIELDS if name in body}
            hub.customer_fields.setdefault(key, set()).update(changed)
            processed.append({"Id": key[1], "ProductArn": key[0]})
            req.events.append(_imported_event(finding))
        if error is not None:
            unprocessed.append(
                {"FindingIdentifier": identifier, "ErrorCode": error[0], "ErrorMessage": error[1]}
            )
        seen.add(key)
    return {"ProcessedFindings": processed, "UnprocessedFindings": unprocessed}


@dataclass(frozen=True)
class _Collection:
    """Custom action targets and insights: same describe/update/delete, different fields."""

    segment: str  # URI segment before the ARN, e.g. /actionTargets/{ActionTargetArn+}
    arn_member: str
    list_member: str
    hub_attribute: str
    rules: dict[str, tuple[Callable[[Any], bool], str]]

    def items(self, hub: _Hub) -> dict[str, Body]:
        items: dict[str, Body] = getattr(hub, self.hub_attribute)
        return items

    def fields(self, body: Body, *, partial: bool) -> Body:
        for name, (valid, rule) in self.rules.items():
            if (name in body or not partial) and not valid(body.get(name)):
                raise _invalid(f"{name} must be {rule}")
        return {name: copy.deepcopy(body[name]) for name in self.rules if name in body}

    def lookup(self, hub: _Hub, arns: Any) -> list[Body]:
        items = self.items(hub)
        if not arns:
            return list(items.values())
        if missing := [arn for arn in arns if arn not in items]:
            raise _not_found(f"No {self.list_member} with ARN {', '.join(map(str, missing))}")
        return [items[arn] for arn in arns]


def _text(limit: int) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, str) and 1 <= len(value) <= limit


_ACTION_TARGETS = _Collection(
    "actionTargets",
    "ActionTargetArn",
    "ActionTargets",
    "actions",
    {"Name": (_text(20), "1 to 20 characters"), "Description": (_text(2**31), "given")},
)
_INSIGHTS = _Collection(
    "insights",
    "InsightArn",
    "Insights",
    "insights",
    {
        "Name": (_text(128), "1 to 128 characters"),
        "Filters": (lambda value: isinstance(value, dict), "an object"),
        "GroupByAttribute": (_text(2**31), "given"),
    },
)


def _paged(member: str, items: list[Any], body: Body) -> Body:
    page, token = _page(items, body.get("MaxResults"), body.get("NextToken"), 100)
    return {member: copy.deepcopy(page), **({"NextToken": token} if token else {})}


@_operation
def _create_action_target(c: Contract, req: _Request) -> Body:
    hub = _enabled_hub(c, req)
    body = req.json()
    fields = _ACTION_TARGETS.fields(body, partial=False)
    if not isinstance(body.get("Id"), str) or not _ACTION_ID.fullmatch(body["Id"]):
        raise _invalid("Id must be 1 to 20 alphanumeric characters")
    arn = req.arn(f"action/custom/{body['Id']}")
    if arn in hub.actions:
        raise SecurityHubError(409, "ResourceConflictException", f"Action target {arn} exists")
    if len(hub.actions) >= MAX_ACTION_TARGETS:
        message = f"At most {MAX_ACTION_TARGETS} custom actions per account and Region"
        raise SecurityHubError(429, "LimitExceededException", message)
    hub.actions[arn] = {"ActionTargetArn": arn, **fields}
    return {"ActionTargetArn": arn}


@_operation
def _create_insight(c: Contract, req: _Request) -> Body:
    hub = _enabled_hub(c, req)
    fields = _INSIGHTS.fields(req.json(), partial=False)
    if len(hub.insights) >= MAX_INSIGHTS:
        raise SecurityHubError(429, "LimitExceededException", f"At most {MAX_INSIGHTS} insights")
    arn = req.arn(f"insight/{req.account}/custom/{uuid.uuid4()}")
    hub.insights[arn] = {"InsightArn": arn, **fields}
    return {"InsightArn": arn}


def _describe(kind: _Collection) -> _Operation:
    def describe(c: Contract, req: _Request) -> Body:
        body = req.json()
        items = kind.lookup(_enabled_hub(c, req), body.get(f"{kind.arn_member}s"))
        return _paged(kind.list_member, items, body)

    return describe


def _update(kind: _Collection) -> _Operation:
    def update(c: Contract, req: _Request) -> Body:
        (item,) = kind.lookup(_enabled_hub(c, req), [req.uri_arn(kind.segment)])
        item.update(kind.fields(req.json(), partial=True))
        return {}

    return update


def _delete(kind: _Collection) -> _Operation:
    def delete(c: Contract, req: _Request) -> Body:
        hub = _enabled_hub(c, req)
        (item,) = kind.lookup(hub, [req.uri_arn(kind.segment)])
        del kind.items(hub)[item[kind.arn_member]]
        return {kind.arn_member: item[kind.arn_member]}

    return delete


_OPERATIONS |= {
    "describe_action_targets": _describe(_ACTION_TARGETS),
    "update_action_target": _update(_ACTION_TARGETS),
    "delete_action_target": _delete(_ACTION_TARGETS),
    "get_insights": _describe(_INSIGHTS),
    "update_insight": _update(_INSIGHTS),
    "delete_insight": _delete(_INSIGHTS),
}


@_operation
def _enable_import_findings_for_product(c: Contract, req: _Request) -> Body:
    hub = _enabled_hub(c, req)
    product_arn = str(req.json().get("ProductArn"))
    # With or without an account, as the Integrations page lists the products
    # (https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-partner-providers.html).
    arn = _PRODUCT_ARN.fullmatch(product_arn)
    if arn is None or arn["region"] != req.region:
        raise _invalid(f"ProductArn {product_arn!r} is not a product ARN in {req.region}")
    if product_arn in hub.products:
        message = f"Already subscribed to {product_arn}"
        raise SecurityHubError(409, "ResourceConflictException", message)
    subscription = req.arn(f"product-subscription/{arn['company']}/{arn['product']}")
    hub.products[product_arn] = subscription
    return {"ProductSubscriptionArn": subscription}


@_operation
def _list_enabled_products_for_import(c: Contract, req: _Request) -> Body:
    hub = _enabled_hub(c, req)
    paging = {name: req.query_param(name) for name in ("MaxResults", "NextToken")}
    return _paged("ProductSubscriptions", list(hub.products.values()), paging)


@_operation
def _disable_import_findings_for_product(c: Contract, req: _Request) -> Body:
    hub = _enabled_hub(c, req)
    subscription = req.uri_arn("productSubscriptions")
    products = [p for p, s in hub.products.items() if s == subscription]
    if not products:
        raise _not_found(f"No product subscription {subscription}")
    del hub.products[products[0]]
    return {}


def _v2(name: str) -> _Operation:
    def operation(c: Contract, req: _Request) -> Body:
        body, events = getattr(c.v2, name)(req.account, req.region, req.json())
        req.events.extend(events)
        result: Body = body
        return result

    return operation


_OPERATIONS |= {
    "get_findings_v2": _v2("get_findings"),
    "batch_update_findings_v2": _v2("batch_update"),
    "create_ticket_v2": _v2("create_ticket"),
}


# --- Patching moto. ---

# moto routes a request to SecurityHubResponse by URL first, then picks the operation from
# the botocore model's method and requestUri, so only the paths moto lacks are needed.
_URL_PATHS = (
    "{0}/findings/batchupdate$",
    "{0}/actionTargets$",
    "{0}/actionTargets/get$",
    "{0}/actionTargets/(?P<ActionTargetArn>.+)$",
    "{0}/insights$",
    "{0}/insights/get$",
    "{0}/insights/(?P<InsightArn>.+)$",
    "{0}/productSubscriptions$",
    "{0}/productSubscriptions/(?P<ProductSubscriptionArn>.+)$",
    "{0}/findingsv2$",
    "{0}/findingsv2/batchupdatev2$",
    "{0}/ticketsv2$",
)


def _method(operation: _Operation) -> Callable[[SecurityHubResponse], str]:
    def method(response: SecurityHubResponse) -> str:
        contract = _PATCH.active
        if contract is None:
            raise SecurityHubError(
                500, "InternalException", "hubrelay_emulator contract not installed"
            )
        request = _Request.of(response)
        with contract._lock:
            result = operation(contract, request)
        contract._emit(request.events)
        return json.dumps(result)

    method.__name__ = operation.__name__.lstrip("_")
    return method


_PATCH: MotoPatch[Contract] = MotoPatch(
    SecurityHubResponse,
    {name: _method(operation) for name, operation in _OPERATIONS.items()},
    url_map=securityhub_urls.url_paths,
    url_paths=dict.fromkeys(_URL_PATHS, SecurityHubResponse.dispatch),
)


def install(contract: Contract | None = None) -> Contract:
    """Patch moto's Security Hub to enforce the contract; return the active Contract.

    Idempotent: moto is patched once; a given `contract` replaces the active one, otherwise
    the active one (or a new default one) is kept.
    """
    return _PATCH.install(contract, Contract)


def uninstall() -> None:
    """Restore moto's own Security Hub. Servers already started keep their URL map."""
    _PATCH.uninstall()
