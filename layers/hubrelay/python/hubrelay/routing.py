"""Which Security Hub events this stack acts on, and what it sends for them.

`decide(event, config)` accepts or rejects an EventBridge event:
  * only `source` aws.securityhub (EventBridge lets nobody but AWS emit `aws.*` sources);
  * "Security Hub Findings - Custom Action" only when `resources` holds one of this stack's
    action target ARNs (given by settings, from the stack: never hard-coded);
  * "Security Hub Findings - Imported" only when the automatic route is on, and then each
    finding is checked again against the route's filters (see `auto_route_filter`);
  * "Findings Imported V2" (the new Security Hub, one OCSF finding per event) the same way,
    each finding read by `hubrelay.ocsf` into the same `EventFinding`; which Security Hub
    the automatic route listens to is `securityhubs` (CSPM, SecurityHub or Both: with Both
    the CSPM copies of the findings the new Security Hub receives too are left to it,
    `SHOWN_IN_BOTH`);
  * every finding in the event is handled: Security Hub sends one finding per event
    (custom actions: a selection of up to 20 findings is up to 20 events), but a replayed
    or hand-made event may carry several; a finding we cannot read (no Id or ProductArn)
    is rejected alone.

`plan_deliveries(decision, config)` returns, per finding and destination, the exact payload
to send; the destinations are known only through `hubrelay.destinations.REGISTRY`.
The responder and `hubrelay route` share both functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hubrelay import asff, loading, ocsf
from hubrelay.asff import FindingKey
from hubrelay.destinations import NAMES, REGISTRY
from hubrelay.event_reading import SecurityHubEvent, Unreadable, read_event, read_finding
from hubrelay.route_types import SEVERITY_ORDER, Decision, Delivery, EventFinding, Route
from hubrelay.settings import Settings

SOURCE = "aws.securityhub"
CUSTOM_ACTION = "Security Hub Findings - Custom Action"
IMPORTED = "Security Hub Findings - Imported"
AUTO = "auto"


# --- Configuration --------------------------------------------------------------------


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class RouteConfig:
    """What this stack routes: action ARN -> destination, the automatic route's filters,
    and the settings the destinations render and send with."""

    actions: Mapping[str, str]
    enabled: frozenset[str]
    settings: Settings
    auto_route: bool = False
    auto_destinations: tuple[str, ...] = ()
    min_severity: str = "HIGH"
    product_names: frozenset[str] = frozenset()
    # Whose findings this stack acts on; an empty `account` checks nothing (the CLI).
    account: str = ""
    member_accounts: frozenset[str] = frozenset()  # or {"ALL"}
    regions: frozenset[str] = frozenset()
    securityhubs: str = "CSPM"  # CSPM, SecurityHub or Both (Settings.securityhubs)

    @classmethod
    def from_settings(cls, settings: Settings) -> RouteConfig:
        wanted = _csv(settings.auto_route_destinations)
        unknown = [name for name in wanted if name not in REGISTRY]
        if unknown:
            raise ValueError(f"auto_route_destinations: unknown destination(s) {unknown}")
        return cls(
            actions={
                arn: name
                for name, destination in REGISTRY.items()
                if (arn := destination.action_arn(settings))
            },
            enabled=frozenset(
                name for name, destination in REGISTRY.items() if destination.enabled(settings)
            ),
            settings=settings,
            auto_route=settings.auto_route,
            auto_destinations=tuple(name for name in NAMES if name in wanted),
            min_severity=settings.auto_route_min_severity,
            product_names=frozenset(_csv(settings.auto_route_product_names)),
            account=settings.account_id,
            member_accounts=frozenset(_csv(settings.route_member_accounts)),
            regions=frozenset(settings.region_list()) if settings.account_id else frozenset(),
            securityhubs=settings.securityhubs,
        )


# --- Decision -------------------------------------------------------------------------


def _reject(reason: str, **known: Any) -> Decision:
    return Decision(accepted=False, reason=reason, **known)


def severity_at_least(label: str, minimum: str) -> bool:
    return SEVERITY_ORDER.get(label, 0) >= SEVERITY_ORDER.get(minimum, 0)


def labels_at_least(minimum: str) -> list[str]:
    """The severity labels at or above `minimum`: what the template's rule pattern lists."""
    return [label for label in asff.SEVERITY_LABELS if severity_at_least(label, minimum)]


def auto_route_filter(finding: EventFinding, config: RouteConfig) -> str | None:
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
    if config.product_names and finding.product_name not in config.product_names:
        return f"product {finding.product_name!r} is not routed automatically"
    if (
        config.securityhubs == "Both"
        and not finding.is_v2
        and finding.product_name in SHOWN_IN_BOTH
    ):
        return (
            f"the new Security Hub routes {finding.product_name}'s findings "
            "(SecurityHubs is Both): its Findings Imported V2 event is the one notified"
        )
    return None


def decide(event: Any, config: RouteConfig) -> Decision:
    """Accept or reject one EventBridge event; see the module docstring for the rules."""
    try:
        # Lambda's runtime parses an event with Python's json, which reads NaN, integers
        # of 4,300 digits and nesting to the recursion limit: the loading policy first,
        # before anything reads, copies or renders the event.
        loading.check_value(event, what="event")
    except loading.LoadError as error:
        return _reject(str(error))
    if not isinstance(event, Mapping):
        return _reject(f"event is a JSON {type(event).__name__}, not an object")
    source = event.get("source")
    if source != SOURCE:
        return _reject(f"source {str(source)[:100]!r} is not {SOURCE}")
    try:
        # Powertools' Parser (EventBridgeModel) defines a readable event; one that holds
        # exactly its types is read without it (hubrelay.event_reading).
        parsed = read_event(dict(event))
    except Unreadable as error:
        return _reject(f"not a Security Hub findings event: {error}")
    known: dict[str, Any] = {
        "event_id": parsed.id,
        "region": parsed.region,
        "account": parsed.account,
    }
    route = _route_for(parsed, config)
    if isinstance(route, str):
        return _reject(route, **known)
    decision = Decision(accepted=True, reason="", route=route, **known)
    v2 = parsed.resources if parsed.detail_type == ocsf.IMPORTED_V2 else None
    _read_findings(decision, route, parsed.detail.findings, config, v2)
    if not decision.findings and decision.foreign and not decision.skipped:
        decision.accepted = False
        decision.reason = (
            f"no finding of this stack's accounts and Regions: {decision.foreign[0][1]}"
        )
    elif not decision.findings and decision.rejected and not decision.skipped:
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


def _route_for(parsed: SecurityHubEvent, config: RouteConfig) -> Route | str:
    """The route an event takes, or why it takes none."""
    if config.account and parsed.account != config.account:
        return f"event from account {parsed.account[:20]!r}, not this stack's"
    if parsed.detail_type == CUSTOM_ACTION:
        ours = [arn for arn in parsed.resources if arn in config.actions]
        if not ours:
            foreign = ", ".join(parsed.resources)[:300] or "none"
            if not config.actions:
                # Said as what is missing: a stack (or `hubrelay route` without one) that
                # has no custom action configured cannot own any.
                return (
                    f"no custom action is configured (action ARN(s) {foreign}): the stack's "
                    "actions come from HUBRELAY_WEBHOOK_ACTION_ARN, HUBRELAY_SNS_ACTION_ARN, "
                    "HUBRELAY_OPSCENTER_ACTION_ARN or HUBRELAY_VENDOR_ACTION_ARN"
                )
            own = ", ".join(f"{arn} ({name})" for arn, name in sorted(config.actions.items()))
            return f"action ARN(s) {foreign} do not belong to this stack (its actions: {own})"
        destination = config.actions[ours[0]]
        if destination not in config.enabled:
            return f"destination {destination} is not configured: set {REGISTRY[destination].needs}"
        name = parsed.detail.actionName or destination
        return Route("custom-action", name, ours[0], (destination,))
    if parsed.detail_type in (IMPORTED, ocsf.IMPORTED_V2):
        if not config.auto_route:
            return "the automatic route is off"
        if why := _edition_not_routed(parsed.detail_type, config.securityhubs):
            return why
        destinations = tuple(d for d in config.auto_destinations if d in config.enabled)
        if not destinations:
            return "the automatic route has no configured destination"
        return Route("auto", AUTO, AUTO, destinations)
    return f"detail-type {parsed.detail_type[:100]!r} is not handled"


def _edition_not_routed(detail_type: str, securityhubs: str) -> str | None:
    """Why the automatic route does not take this Security Hub's events, or None."""
    if detail_type == ocsf.IMPORTED_V2 and securityhubs == "CSPM":
        return "the new Security Hub is not routed (SecurityHubs is CSPM)"
    if detail_type == IMPORTED and securityhubs == "SecurityHub":
        return "Security Hub CSPM is not routed (SecurityHubs is SecurityHub)"
    return None


# The products whose findings the new Security Hub receives (in OCSF) from Security Hub
# CSPM and the AWS services: "Security Hub generates findings in OCSF and receives findings
# in OCSF from Security Hub CSPM and other AWS services: Amazon GuardDuty, Amazon Macie,
# Amazon Inspector" ("Introduction to AWS Security Hub",
# https://docs.aws.amazon.com/securityhub/latest/userguide/what-is-securityhub-v2.html).
# With SecurityHubs Both their CSPM (ASFF) copies are not routed automatically: one real
# finding, one notification. The template's CSPM rule leaves them out too.
SHOWN_IN_BOTH = ("GuardDuty", "Macie", "Inspector", "Security Hub")


def not_ours(finding: EventFinding, config: RouteConfig) -> str | None:
    """Why a finding is not this stack's to act on, or None.

    A Security Hub administrator account sees its members' findings too; acting on them is
    the operator's choice (RouteMemberAccounts), never a default.
    """
    if not config.account:
        return None
    account = finding.AwsAccountId or ""
    listed = account == config.account or account in config.member_accounts
    if not listed and "ALL" not in config.member_accounts:
        return f"finding of account {account[:20]!r}, not this stack's (RouteMemberAccounts)"
    region = finding.Region or ""
    if config.regions and region and region not in config.regions:
        return f"finding of Region {region[:30]!r}, not one of this stack's Regions"
    return None


def _read_findings(
    decision: Decision,
    route: Route,
    raw_findings: list[Any],
    config: RouteConfig,
    v2_resources: list[str] | None = None,
) -> None:
    """Each finding of the event, read alone: taken, skipped (with why) or rejected.

    `v2_resources` (the event's `resources`) marks a `Findings Imported V2` event: its
    findings are OCSF, each read by `ocsf.event_finding`."""
    seen: set[FindingKey] = set()
    for index, raw in enumerate(raw_findings):
        try:
            if v2_resources is None:
                finding = read_finding(raw)
            else:
                finding = ocsf.event_finding(raw, v2_resources)
        except ValueError as error:  # Unreadable: pydantic's reasons, in one line
            decision.rejected.append((index, str(error)))
            continue
        if finding.key in seen:
            decision.skipped.append((finding.key, "listed twice in the event"))
            continue
        seen.add(finding.key)
        if foreign := not_ours(finding, config):
            decision.foreign.append((finding.key, foreign))
            continue
        why = auto_route_filter(finding, config) if route.kind == "auto" else None
        if why:
            decision.skipped.append((finding.key, why))
        else:
            decision.findings.append(finding)


# --- Payloads -------------------------------------------------------------------------


# A destination the automatic route does not owe the event copy's round (Decision.owed).
NOT_OWED = "not owed this round (sent it already, or not on the route then)"


def plan_deliveries(decision: Decision, config: RouteConfig) -> list[Delivery]:
    """Every delivery for an accepted decision, in a stable order (destination, finding).

    Findings a destination must not get are recorded in `decision.skipped` with the reason.
    """
    if not decision.accepted or decision.route is None:
        return []
    route = decision.route
    out: list[Delivery] = []
    for name in route.destinations:
        destination = REGISTRY[name]
        eligible: list[EventFinding] = []
        for finding in decision.findings:
            # A NEW finding that carries our marker was reopened (Security Hub reset its
            # workflow): it is notified again, once per reopening (`EventFinding.reopening`
            # keys the delivery; the write-back counts it and moves the finding to NOTIFIED,
            # which the rule no longer matches).
            owed = decision.owed.get(finding.key)
            if owed is not None and name not in owed:
                decision.skipped.append((finding.key, f"{name}: {NOT_OWED}"))
            elif why := destination.not_applicable(finding, config.settings):
                decision.skipped.append((finding.key, f"{name}: {why}"))
            else:
                eligible.append(finding)
        out.extend(destination.render(decision, eligible, config.settings))
    decision.reason = _sending(route, out, decision)
    return out


def _sending(route: Route, deliveries: list[Delivery], decision: Decision) -> str:
    """The reason of an accepted decision, from what is planned: the findings' state (a
    stale copy, a destination not owed) and the destinations' own rules may leave fewer
    findings and destinations than the route names. Findings, not (finding, destination)
    skips, are counted."""
    sent = {key for delivery in deliveries for key in delivery.keys}
    every = {f.key for f in decision.findings} | {key for key, _ in decision.skipped}
    unsent = f"; {len(every - sent)} not sent (see skipped)" if every - sent else ""
    if not deliveries:
        return f"{route.kind} route {route.name!r}: nothing to send{unsent}"
    names = ", ".join(dict.fromkeys(delivery.destination for delivery in deliveries))
    return f"{route.kind} route {route.name!r}: {len(sent)} finding(s) to {names}{unsent}"
