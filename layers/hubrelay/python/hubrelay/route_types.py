"""The types routing, the destinations, the responder and the write-back share.

A leaf module: it imports nothing of routing or of the destinations, so each destination
module can use these types and `hubrelay.destinations` can register them without a cycle.

- `EventFinding`: an ASFF finding as an EventBridge event carries it (tolerant record,
  read by `hubrelay.event_reading`).
- `Route`, `Decision`: what `routing.decide` made of one event.
- `Delivery`: one send (a destination, the findings it covers, the exact payload).
- `Outlets`: the clients the destinations send through.
- `Destination`: the small surface every destination module exposes, which the registry
  (`hubrelay.destinations.REGISTRY`) maps names to; `hubrelay.destinations.common` holds
  what the destination modules share.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hubrelay import asff
from hubrelay.asff import FindingKey
from hubrelay.http import Client
from hubrelay.settings import Settings

SEVERITY_ORDER = {label: rank for rank, label in enumerate(asff.SEVERITY_LABELS)}
# The write-back's marks in UserDefinedFields: `hubrelay:<destination>` = the reference of
# the last delivery, `hubrelay:<destination>:reopened` = how many reopenings were notified.
MARKER_PREFIX = "hubrelay:"
REOPENED_SUFFIX = ":reopened"


def marker(destination: str) -> str:
    return f"{MARKER_PREFIX}{destination}"


def reopened_field(destination: str) -> str:
    return f"{MARKER_PREFIX}{destination}{REOPENED_SUFFIX}"


def reopenings_notified(fields: Mapping[str, Any], destination: str) -> int:
    """How many reopenings the write-back marked as notified to `destination` (none, or a
    value that is not a short count: 0); UserDefinedFields are the user's to edit too."""
    return count_of(str(fields.get(reopened_field(destination)) or "0"))


# The largest count of reopenings read (a longer one was edited by hand): 6 digits.
MAX_COUNT = 999_999


def count_of(text: str) -> int:
    """A short count written as digits (up to MAX_COUNT); 0 for anything else (a value
    edited by hand)."""
    return int(text) if text.isdigit() and len(text) <= len(str(MAX_COUNT)) else 0


# --- Findings: tolerant records, because every product omits different optional fields. -


@dataclass
class OpenRecord:
    """A record of an event: its declared fields, and every other field as received.

    Read by `hubrelay.event_reading`, which takes a value only of the type declared (the
    rules of the pydantic models in `hubrelay.event_models`, which read anything else).
    `set_fields` are the declared fields the input had, in declaration order: `dump` gives
    those and the others, as pydantic's `model_dump(mode="json", exclude_unset=True)` did."""

    extra: dict[str, Any] = field(default_factory=dict, kw_only=True, repr=False)
    set_fields: tuple[str, ...] = field(default=(), kw_only=True, compare=False, repr=False)

    def dump(self) -> dict[str, Any]:
        out = {name: _dumped(getattr(self, name)) for name in self.set_fields}
        out.update((name, _dumped(value)) for name, value in self.extra.items())
        return out


def _dumped(value: Any) -> Any:
    """A JSON value as a new copy (records dumped): what the payloads get."""
    if isinstance(value, OpenRecord):
        return value.dump()
    if isinstance(value, dict):
        return {k: _dumped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dumped(v) for v in value]
    return value


@dataclass
class SeverityModel(OpenRecord):
    Label: str | None = None
    Normalized: int | None = None
    Original: str | None = None


@dataclass
class WorkflowModel(OpenRecord):
    Status: str | None = None


@dataclass
class ResourceModel(OpenRecord):
    Type: str = "Other"
    Id: str = "unknown"
    Region: str | None = None
    Partition: str | None = None


@dataclass
class ProviderFieldsModel(OpenRecord):
    Severity: SeverityModel | None = None


@dataclass
class EventFinding(OpenRecord):
    """An ASFF finding as it arrives in an event: only Id and ProductArn are required
    (1 to 512 and 1 to 2,048 characters)."""

    Id: str
    ProductArn: str
    AwsAccountId: str | None = None
    Region: str | None = None
    GeneratorId: str | None = None
    ProductName: str | None = None
    CompanyName: str | None = None
    Title: str | None = None
    Description: str | None = None
    Types: list[str] = field(default_factory=list)
    Severity: SeverityModel | None = None
    FindingProviderFields: ProviderFieldsModel | None = None
    Resources: list[ResourceModel] = field(default_factory=list)
    Workflow: WorkflowModel | None = None
    RecordState: str | None = None
    CreatedAt: str | None = None
    UpdatedAt: str | None = None
    SourceUrl: str | None = None
    ProductFields: dict[str, Any] = field(default_factory=dict)
    UserDefinedFields: dict[str, Any] = field(default_factory=dict)
    # A finding of the new (OCSF-based) Security Hub: the OCSF finding as received, the
    # fields above mapped from it (hubrelay.ocsf); None for a Security Hub CSPM finding.
    Ocsf: dict[str, Any] | None = None

    @property
    def key(self) -> FindingKey:
        return (self.ProductArn, self.Id)

    @property
    def is_v2(self) -> bool:
        return self.Ocsf is not None

    def source_document(self) -> dict[str, Any]:
        """The finding as its Security Hub sent it: {"ocsf": ...} or {"asff": ...}."""
        return {"ocsf": self.Ocsf} if self.Ocsf is not None else {"asff": self.raw()}

    @property
    def severity_label(self) -> str:
        """Label, else derived from Normalized (Security Hub's bands), else the provider's."""
        provider = self.FindingProviderFields.Severity if self.FindingProviderFields else None
        for severity in (self.Severity, provider):
            if severity is None:
                continue
            if severity.Label is not None and severity.Label in SEVERITY_ORDER:
                return severity.Label
            if severity.Normalized is not None:
                score = min(max(severity.Normalized, 0), 100)
                return str(asff.severity_from_score(score)["Label"])
        return "INFORMATIONAL"

    @property
    def product_name(self) -> str | None:
        """ProductName, or where some products carry it only: ProductFields'
        "aws/securityhub/ProductName" (Security Hub's own field for it)."""
        named = self.ProductFields.get("aws/securityhub/ProductName")
        return self.ProductName or (named if isinstance(named, str) else None)

    @property
    def workflow_status(self) -> str:
        # Security Hub fills Workflow.Status in; a finding without one has never been worked.
        return (self.Workflow.Status if self.Workflow else None) or "NEW"

    def reopening(self, destination: str, route_kind: str) -> int:
        """Which reopening of this finding the automatic route notifies `destination` of:
        0 for the first delivery, n for the n-th reopening.

        Security Hub resets Workflow.Status to NEW when a finding is reactivated or its
        compliance regresses ("Workflow", API reference,
        https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_Workflow.html); the
        UserDefinedFields the write-back set survive the reset. A NEW finding that already
        carries our marker was therefore reopened since it was last notified. Every event of
        that one reopening carries the same marks (until the write-back moves the finding to
        NOTIFIED with the next count), so they share one idempotency key. A custom action is
        the user's explicit request: always round 0 (its key has the action ARN)."""
        if route_kind != "auto" or not self.UserDefinedFields.get(marker(destination)):
            return 0
        return reopenings_notified(self.UserDefinedFields, destination) + 1

    def raw(self) -> dict[str, Any]:
        """The finding as received (extra fields included), for payloads that carry ASFF."""
        raw = self.dump()
        raw.pop("Ocsf", None)
        return raw


# --- What routing made of an event ----------------------------------------------------


@dataclass(frozen=True)
class Route:
    kind: Literal["custom-action", "auto"]
    name: str  # the action's name, or "auto"
    action: str  # the action target ARN, or "auto": part of the idempotency key
    destinations: tuple[str, ...]


@dataclass
class Decision:
    accepted: bool
    reason: str
    route: Route | None = None
    event_id: str = ""
    region: str = ""
    account: str = ""
    findings: list[EventFinding] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (index, why) unreadable
    skipped: list[tuple[FindingKey, str]] = field(default_factory=list)  # filtered out
    # Findings of other accounts or Regions than this stack's: never acted on.
    foreign: list[tuple[FindingKey, str]] = field(default_factory=list)
    # Findings the automatic route owes the event copy's round to some of the route's
    # destinations only (the others had it: a failed delivery retried or replayed, an old
    # copy replayed after a reopening): sent to those only.
    owed: dict[FindingKey, frozenset[str]] = field(default_factory=dict)

    @property
    def route_name(self) -> str | None:
        return self.route.name if self.route else None


@dataclass
class Delivery:
    """One send: a destination, the finding(s) it covers and the exact payload."""

    destination: str
    findings: list[EventFinding]
    payload: dict[str, Any]

    @property
    def keys(self) -> list[FindingKey]:
        return [f.key for f in self.findings]

    def idempotency_key(self, route: Route) -> dict[str, str]:
        """(finding Id + ProductArn) + destination + action: one delivery per window."""
        rounds = [f.reopening(self.destination, route.kind) for f in self.findings]
        if len(self.findings) == 1:
            finding = self.findings[0]
            key = {
                "findingId": finding.Id,
                "productArn": finding.ProductArn,
                "destination": self.destination,
                "action": route.action,
            }
            # A reopening is a delivery of its own; the first delivery keeps the key it
            # always had.
            return {**key, "reopened": str(rounds[0])} if rounds[0] else key
        # A batch webhook covers several findings at once: the same selection sent twice is
        # one delivery (overlapping selections are not merged).
        entries: list[Any] = sorted(
            [*k, r] if r else list(k) for k, r in zip(self.keys, rounds, strict=True)
        )
        batch = json.dumps(entries)
        return {"findings": batch, "destination": self.destination, "action": route.action}


# --- The destinations' surface --------------------------------------------------------


@dataclass
class Outlets:
    """What the destinations send through (boto3 clients, secrets, HTTP)."""

    sns: Any
    ssm: Any
    secret: Callable[[str], str]  # secret ARN -> SecretString (cached)
    http: Client
    securityhub: Callable[[str], Any] | None = None  # Region -> client (ticket connectors)


def _applies(finding: EventFinding, settings: Settings) -> str | None:
    return None


def _no_preview(
    delivery: Delivery, key: Mapping[str, str], signing: Mapping[str, str] | None
) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Destination:
    """One destination: its name, whether the settings enable it, the custom action that
    sends to it, how its payloads are rendered and sent. Each module under
    `hubrelay.destinations` defines one as `DESTINATION`."""

    name: str
    label: str  # how the write-back's Note names it
    enabled: Callable[[Settings], bool]
    action_arn: Callable[[Settings], str]
    render: Callable[[Decision, Sequence[EventFinding], Settings], list[Delivery]]
    # Sends a rendered delivery; returns {"reference": ...} for the write-back, or raises
    # DeliveryError once the destination did not take it after its retries.
    send: Callable[[Delivery, Mapping[str, str], Settings, Outlets], dict[str, str]]
    # Why a finding is not this destination's to hear about, or None.
    not_applicable: Callable[[EventFinding, Settings], str | None] = _applies
    # What `hubrelay route` shows besides the payload (the webhook's signed headers).
    preview: Callable[[Delivery, Mapping[str, str], Mapping[str, str] | None], dict[str, Any]] = (
        _no_preview
    )
    # What enables it, as the stack parameters (and the setting) an operator sets: said in
    # the error for a custom action whose destination is off.
    needs: str = ""
