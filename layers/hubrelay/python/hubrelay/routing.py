"""Which Security Hub events this stack acts on, and what it sends for them.

`decide(event, config)` accepts or rejects an EventBridge event:
  * only `source` aws.securityhub (EventBridge lets nobody but AWS emit `aws.*` sources);
  * "Security Hub Findings - Custom Action" only when `resources` holds one of this stack's
    action target ARNs (given by settings, from the stack: never hard-coded);
  * "Security Hub Findings - Imported" only when the automatic route is on, and then each
    finding is checked again against the route's filters (see `auto_route_filter`);
  * every finding in the event is handled (one event may carry up to 100 selected
    findings); a finding we cannot read (no Id or ProductArn) is rejected alone.

`plan(decision, config)` returns, per finding and destination, the exact payload to send.
The responder and `hubrelay route` share both functions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hubrelay import asff, links
from hubrelay.settings import Settings

SOURCE = "aws.securityhub"
CUSTOM_ACTION = "Security Hub Findings - Custom Action"
IMPORTED = "Security Hub Findings - Imported"
AUTO = "auto"
Destination = Literal["webhook", "sns", "opscenter", "vendor"]
DESTINATIONS: tuple[Destination, ...] = ("webhook", "sns", "opscenter", "vendor")
SEVERITY_ORDER = {label: rank for rank, label in enumerate(asff.SEVERITY_LABELS)}
FindingKey = tuple[str, str]  # (ProductArn, Id): a finding's identity in Security Hub


# --- Models: tolerant, because every product omits different optional fields. ---------


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class SeverityModel(_Open):
    Label: str | None = None
    Normalized: int | None = None
    Original: str | None = None


class WorkflowModel(_Open):
    Status: str | None = None


class ResourceModel(_Open):
    Type: str = "Other"
    Id: str = "unknown"
    Region: str | None = None
    Partition: str | None = None


class ProviderFieldsModel(_Open):
    Severity: SeverityModel | None = None


class Finding(_Open):
    """An ASFF finding as it arrives in an event: only Id and ProductArn are required."""

    Id: str = Field(min_length=1, max_length=512)
    ProductArn: str = Field(min_length=1, max_length=2048)
    AwsAccountId: str | None = None
    Region: str | None = None
    GeneratorId: str | None = None
    ProductName: str | None = None
    CompanyName: str | None = None
    Title: str | None = None
    Description: str | None = None
    Types: list[str] = Field(default_factory=list)
    Severity: SeverityModel | None = None
    FindingProviderFields: ProviderFieldsModel | None = None
    Resources: list[ResourceModel] = Field(default_factory=list)
    Workflow: WorkflowModel | None = None
    RecordState: str | None = None
    CreatedAt: str | None = None
    UpdatedAt: str | None = None
    SourceUrl: str | None = None
    ProductFields: dict[str, Any] = Field(default_factory=dict)
    UserDefinedFields: dict[str, Any] = Field(default_factory=dict)

    @property
    def key(self) -> FindingKey:
        return (self.ProductArn, self.Id)

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
    def workflow_status(self) -> str:
        # Security Hub fills Workflow.Status in; a finding without one has never been worked.
        return (self.Workflow.Status if self.Workflow else None) or "NEW"

    def raw(self) -> dict[str, Any]:
        """The finding as received (extra fields included), for payloads that carry ASFF."""
        return self.model_dump(mode="json", exclude_unset=True)


class SecurityHubDetail(_Open):
    # Findings are read one by one below, so that one unreadable finding does not cost the
    # others their delivery.
    findings: list[Any] = Field(min_length=1)
    actionName: str | None = None
    actionDescription: str | None = None


class SecurityHubEvent(EventBridgeModel):
    detail: SecurityHubDetail


# --- Configuration --------------------------------------------------------------------


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class RouteConfig:
    """What this stack routes: action ARN -> destination, the automatic route's filters."""

    actions: Mapping[str, Destination]
    enabled: frozenset[Destination]
    auto_route: bool = False
    auto_destinations: tuple[Destination, ...] = ()
    min_severity: str = "HIGH"
    product_names: frozenset[str] = frozenset()
    webhook_mode: str = "finding"
    webhook_format: str = "hubrelay"
    product_arn: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> RouteConfig:
        enabled: set[Destination] = set()
        if settings.webhook_secret_arn:
            enabled.add("webhook")
        if settings.sns_topic_arn:
            enabled.add("sns")
        if settings.opscenter_enabled:
            enabled.add("opscenter")
        if settings.vendor_back_sync and settings.vendor_secret_arn:
            enabled.add("vendor")
        arns: dict[Destination, str] = {
            "webhook": settings.webhook_action_arn,
            "sns": settings.sns_action_arn,
            "opscenter": settings.opscenter_action_arn,
            "vendor": settings.vendor_action_arn,
        }
        unknown = [d for d in _csv(settings.auto_route_destinations) if d not in DESTINATIONS]
        if unknown:
            raise ValueError(f"auto_route_destinations: unknown destination(s) {unknown}")
        return cls(
            actions={arn: dest for dest, arn in arns.items() if arn},
            enabled=frozenset(enabled),
            auto_route=settings.auto_route,
            auto_destinations=tuple(
                d for d in DESTINATIONS if d in _csv(settings.auto_route_destinations)
            ),
            min_severity=settings.auto_route_min_severity,
            product_names=frozenset(_csv(settings.auto_route_product_names)),
            webhook_mode=settings.webhook_mode,
            webhook_format=settings.webhook_format,
            product_arn=settings.product_arn,
        )


# --- Decision -------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    kind: Literal["custom-action", "auto"]
    name: str  # the action's name, or "auto"
    action: str  # the action target ARN, or "auto": part of the idempotency key
    destinations: tuple[Destination, ...]


@dataclass
class Decision:
    accepted: bool
    reason: str
    route: Route | None = None
    event_id: str = ""
    region: str = ""
    account: str = ""
    findings: list[Finding] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (index, why) unreadable
    skipped: list[tuple[FindingKey, str]] = field(default_factory=list)  # filtered out


def _reject(reason: str, **known: Any) -> Decision:
    return Decision(accepted=False, reason=reason, **known)


def severity_at_least(label: str, minimum: str) -> bool:
    return SEVERITY_ORDER.get(label, 0) >= SEVERITY_ORDER.get(minimum, 0)


def labels_at_least(minimum: str) -> list[str]:
    """The severity labels at or above `minimum`: what the template's rule pattern lists."""
    return [label for label in asff.SEVERITY_LABELS if severity_at_least(label, minimum)]


def auto_route_filter(finding: Finding, config: RouteConfig) -> str | None:
    """Why the automatic route must not forward `finding`, or None to forward it.

    The rule's pattern already says this, but EventBridge matches each pattern field
    against *any* element of `detail.findings` independently, so an event with several
    findings can match on one finding's severity and another's status. Re-checking each
    finding here keeps the contract exact. `Workflow.Status` NEW is also what breaks the
    loop with our own write-back: BatchUpdateFindings emits an Imported event too, but with
    Workflow.Status NOTIFIED, which neither the rule nor this check accepts.
    """
    if finding.workflow_status != "NEW":
        return f"Workflow.Status is {finding.workflow_status}, not NEW"
    if (finding.RecordState or "ACTIVE") != "ACTIVE":
        return f"RecordState is {finding.RecordState}, not ACTIVE"
    if not severity_at_least(finding.severity_label, config.min_severity):
        return f"severity {finding.severity_label} is below {config.min_severity}"
    if config.product_names and finding.ProductName not in config.product_names:
        return f"product {finding.ProductName!r} is not routed automatically"
    return None


def _short(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:3]:
        where = ".".join(str(p) for p in item["loc"]) or "(event)"
        parts.append(f"{where}: {item['msg']}")
    more = f" (+{error.error_count() - 3} more)" if error.error_count() > 3 else ""
    return "; ".join(parts) + more


def decide(event: Any, config: RouteConfig) -> Decision:
    """Accept or reject one EventBridge event; see the module docstring for the rules."""
    if not isinstance(event, Mapping):
        return _reject(f"event is a JSON {type(event).__name__}, not an object")
    source = event.get("source")
    if source != SOURCE:
        return _reject(f"source {str(source)[:100]!r} is not {SOURCE}")
    try:
        parsed = parse(event=dict(event), model=SecurityHubEvent)
    except ValidationError as error:
        return _reject(f"not a Security Hub findings event: {_short(error)}")
    known: dict[str, Any] = {
        "event_id": parsed.id,
        "region": parsed.region,
        "account": parsed.account,
    }
    if parsed.detail_type == CUSTOM_ACTION:
        ours = [arn for arn in parsed.resources if arn in config.actions]
        if not ours:
            foreign = ", ".join(parsed.resources)[:300] or "none"
            return _reject(f"action ARN(s) {foreign} do not belong to this stack", **known)
        destination = config.actions[ours[0]]
        if destination not in config.enabled:
            return _reject(f"destination {destination} is not configured", **known)
        route = Route(
            "custom-action", parsed.detail.actionName or destination, ours[0], (destination,)
        )
    elif parsed.detail_type == IMPORTED:
        if not config.auto_route:
            return _reject("the automatic route is off", **known)
        destinations = tuple(d for d in config.auto_destinations if d in config.enabled)
        if not destinations:
            return _reject("the automatic route has no configured destination", **known)
        route = Route("auto", AUTO, AUTO, destinations)
    else:
        return _reject(f"detail-type {parsed.detail_type[:100]!r} is not handled", **known)

    decision = Decision(accepted=True, reason="", route=route, **known)
    seen: set[FindingKey] = set()
    for index, raw in enumerate(parsed.detail.findings):
        try:
            finding = Finding.model_validate(raw)
        except ValidationError as error:
            decision.rejected.append((index, _short(error)))
            continue
        if finding.key in seen:
            decision.skipped.append((finding.key, "listed twice in the event"))
            continue
        seen.add(finding.key)
        why = auto_route_filter(finding, config) if route.kind == "auto" else None
        if why:
            decision.skipped.append((finding.key, why))
        else:
            decision.findings.append(finding)
    if not decision.findings and decision.rejected and not decision.skipped:
        decision.accepted = False
        decision.reason = (
            f"no finding in the event could be read ({len(decision.rejected)} rejected)"
        )
    else:
        decision.reason = (
            f"{route.kind} route {route.name!r}: {len(decision.findings)} finding(s) to "
            f"{', '.join(route.destinations)}"
        )
    return decision


# --- Payloads -------------------------------------------------------------------------


def finding_summary(finding: Finding, region: str) -> dict[str, Any]:
    """The fields every destination shows, with the console links."""
    finding_region = finding.Region or region
    return {
        "id": finding.Id,
        "productArn": finding.ProductArn,
        "productName": finding.ProductName,
        "companyName": finding.CompanyName,
        "awsAccountId": finding.AwsAccountId,
        "region": finding_region,
        "title": finding.Title or finding.GeneratorId or finding.Id,
        "description": finding.Description or "",
        "severity": finding.severity_label,
        "types": finding.Types,
        "workflowStatus": finding.workflow_status,
        "recordState": finding.RecordState or "ACTIVE",
        "createdAt": finding.CreatedAt,
        "updatedAt": finding.UpdatedAt,
        "resources": [{"type": r.Type, "id": r.Id} for r in finding.Resources[:32]],
        # The console of the Region the event came from: with cross-Region aggregation
        # that is the aggregation Region, where the finding can be opened.
        "links": links.finding_links(finding.Id, region or finding_region, finding.ProductName),
    }


@dataclass
class Delivery:
    """One send: a destination, the finding(s) it covers and the exact payload."""

    destination: Destination
    findings: list[Finding]
    payload: dict[str, Any]

    @property
    def keys(self) -> list[FindingKey]:
        return [f.key for f in self.findings]

    def idempotency_key(self, route: Route) -> dict[str, str]:
        """(finding Id + ProductArn) + destination + action: one delivery per window."""
        if len(self.findings) == 1:
            finding = self.findings[0]
            return {
                "findingId": finding.Id,
                "productArn": finding.ProductArn,
                "destination": self.destination,
                "action": route.action,
            }
        # A batch webhook covers several findings at once: the same selection sent twice is
        # one delivery (overlapping selections are not merged).
        batch = json.dumps(sorted(self.keys))
        return {"findings": batch, "destination": self.destination, "action": route.action}


def plan(decision: Decision, config: RouteConfig) -> list[Delivery]:
    """Every delivery for an accepted decision, in a stable order (destination, finding).

    Findings a destination must not get are recorded in `decision.skipped` with the reason.
    """
    from hubrelay.destinations import opscenter, sns, vendor, webhook

    if not decision.accepted or decision.route is None:
        return []
    route = decision.route
    out: list[Delivery] = []
    for destination in route.destinations:
        eligible: list[Finding] = []
        for finding in decision.findings:
            earlier = finding.UserDefinedFields.get(f"hubrelay:{destination}")
            if route.kind == "auto" and earlier:
                # Security Hub resets Workflow.Status to NEW when a finding is reactivated
                # or its compliance regresses; the fields we wrote survive the reset, so the
                # automatic route does not open a second ticket, even after the window.
                decision.skipped.append((finding.key, f"{destination}: already sent ({earlier})"))
            elif destination == "vendor" and (
                why := vendor.not_applicable(finding, config.product_arn)
            ):
                decision.skipped.append((finding.key, f"vendor: {why}"))
            else:
                eligible.append(finding)
        if destination == "webhook" and config.webhook_mode == "batch":
            if eligible:
                payload = webhook.render(decision, eligible, config.webhook_format)
                out.append(Delivery("webhook", eligible, payload))
            continue
        for finding in eligible:
            if destination == "webhook":
                payload = webhook.render(decision, [finding], config.webhook_format)
            elif destination == "sns":
                payload = sns.render(decision, finding)
            elif destination == "opscenter":
                payload = opscenter.render(decision, finding)
            else:
                payload = vendor.render(decision, finding)
            out.append(Delivery(destination, [finding], payload))
    return out
