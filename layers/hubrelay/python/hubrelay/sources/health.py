"""AWS Health events to ASFF, exactly as the AWS Health integration is described in
"Available AWS service integrations"
(https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-internal-providers.html,
"the integrations page" below).

Only security-related events: any event of an AWS security service, any event whose type
code contains SECURITY, ABUSE or CERTIFICATE, any event of service RISK or ABUSE, and the
type codes the page's CRITICAL rule names (one is an S3 event, which the three rules above
would otherwise drop). The fields follow the page's mapping table: Id = the event ARN with
the account inserted + "/" + a SHA-256 of the start time; GeneratorId = the type code;
Title "AWS Health - <code>"; Types ["Software and Configuration Checks"]; CreatedAt = start
time; UpdatedAt = the event's time (last update); Resources of type Other (each affected
entity, or the account); SourceUrl the event on the Health console; Description cut to
1024 characters ending in "(truncated)". Severity by the page's rules, checked in order:
CRITICAL, HIGH, MEDIUM; the page names no level for other security-related events:
hubrelay uses LOW.

Our choices where the page is silent or cannot apply to a partner product: ProductArn is
the configured product's (a partner cannot import into product/aws/health); the start
time is hashed in its RFC 3339 form; a closed event is resolved (ARCHIVED). Global events
go to us-east-1, cn-northwest-1 or us-gov-west-1 by partition (the page's "gov-us-west-1"
is read as us-gov-west-1), regional events to their Region; each resource carries that
Region so change tracking routes the finding there.

Timestamps come as datetimes (boto3), epoch numbers (the API's JSON) or RFC 1123 strings
(EventBridge "AWS Health Event" events); all are accepted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any

from hubrelay import asff
from hubrelay.loading import is_mapping
from hubrelay.sources import (
    Context,
    Cursor,
    Finding,
    MappingError,
    Record,
    Unit,
    dig,
    items,
    obj,
    parse_time,
    rfc3339,
)

SCOPE = "health"
CRITICAL_CODES = frozenset(
    {
        "AWS_S3_OPEN_ACCESS_BUCKET_NOTIFICATION",
        "AWS_SHIELD_INTERNET_TRAFFIC_LIMITATIONS_PLACED_IN_RESPONSE_TO_DDOS_ATTACK",
        "AWS_SHIELD_IS_RESPONDING_TO_A_DDOS_ATTACK_AGAINST_YOUR_AWS_RESOURCES",
    }
)
HIGH_CODE_PARTS = ("SECURITY_NOTIFICATION", "ABUSE_DETECTION")
MEDIUM_CODE_PARTS = ("CERTIFICATE", "END_OF_SUPPORT")
# The integrations page's MEDIUM list; it is also what "an AWS security service" means here.
_SECURITY_SERVICES = """
    ACM CLOUDHSM CLOUDTRAIL CONFIG CONTROLTOWER DETECTIVE EVENTS GUARDDUTY IAM INSPECTOR KMS
    MACIE SES SECURITYHUB SHIELD SSO COGNITO IOTDEVICEDEFENDER NETWORKFIREWALL ROUTE53 WAF
    FIREWALLMANAGER SECRETSMANAGER BACKUP AUDITMANAGER ARTIFACT CLOUDENDURE CODEGURU
    ORGANIZATIONS DIRECTORYSERVICE RESOURCEMANAGER CLOUDWATCH DRS INSPECTOR2 RESILIENCEHUB
"""
SECURITY_SERVICES = frozenset(_SECURITY_SERVICES.split())
SECURITY_CODE_WORDS = ("SECURITY", "ABUSE", "CERTIFICATE")
GLOBAL_REGIONS = {"aws": "us-east-1", "aws-cn": "cn-northwest-1", "aws-us-gov": "us-gov-west-1"}
CONSOLE_URL = "https://phd.aws.amazon.com/phd/home#/event-log?eventID="
TYPES = ("Software and Configuration Checks",)  # build_finding copies them per finding
DETAILS_BATCH = 10  # DescribeEventDetails and DescribeAffectedEntities take 10 ARNs at most


def is_security_related(service: str, code: str) -> bool:
    service, code = service.upper(), code.upper()
    # The page's CRITICAL type codes (an S3 event among them) are security events too.
    return (
        service in SECURITY_SERVICES
        or service in ("RISK", "ABUSE")
        or any(word in code for word in SECURITY_CODE_WORDS)
        or code in CRITICAL_CODES
    )


def why_not_sent(record: Record) -> str:
    """Why a readable Health record maps to no finding (`hubrelay convert` says it)."""
    item = record.native
    event = item.get("event") if isinstance(item, Mapping) else None
    if not isinstance(event, Mapping):
        return "not a Health event"
    service, code = str(event.get("service") or ""), str(event.get("eventTypeCode") or "")
    return (
        f"filtered: service {service[:40]!r}, eventTypeCode {code[:80]!r} is not a security "
        "event (the collector sends Health events of security services, security-related "
        "type codes and the critical ones: docs/findings.md)"
    )


def severity_label(service: str, code: str) -> str:
    service, code = service.upper(), code.upper()
    if service == "RISK" or code in CRITICAL_CODES:
        return "CRITICAL"
    if service == "ABUSE" or any(part in code for part in HIGH_CODE_PARTS):
        return "HIGH"
    if service in SECURITY_SERVICES or any(part in code for part in MEDIUM_CODE_PARTS):
        return "MEDIUM"
    return "LOW"


def finding_id(event_arn: str, account: str, start: Any) -> str:
    """The integrations page's Id: the event ARN including the account, plus a hash of the
    start time."""
    return _finding_id(_arn_in(event_arn, account), asff.timestamp(parse_time(start)))


def _arn_in(event_arn: str, account: str) -> str:
    """The event ARN with the account in it; MappingError when it is no Health event's."""
    parts = event_arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "health":
        raise MappingError(f"not a Health event ARN: {event_arn[:120]!r}")
    parts[4] = account
    return ":".join(parts)


def _finding_id(arn: str, start: str) -> str:
    return f"{arn}/{hashlib.sha256(start.encode()).hexdigest().upper()}"


def _timestamp(value: Any) -> str:
    """asff.timestamp(parse_time(value)). rfc3339 gives the same, parsing each text once (an
    event's start time is both hashed into its Id and its CreatedAt), but reads "" as
    missing: parse_time then refuses it as it always did."""
    return rfc3339(value, "") or asff.timestamp(parse_time(value))


@lru_cache(maxsize=1024)
def _label(service: str, code: str) -> str | None:
    """The severity label of a security event, None for any other: an account's events
    share a few services and type codes."""
    return severity_label(service, code) if is_security_related(service, code) else None


def map_event(record: Record, ctx: Context) -> list[Finding]:
    """A normalised Health record (see `from_api` / `from_eventbridge`) to 0 or 1 finding."""
    item = record.native
    event = item.get("event") if is_mapping(item) else None
    if not is_mapping(event):
        raise MappingError("Health record has no event")
    arn, code = str(event.get("arn") or ""), str(event.get("eventTypeCode") or "")
    service = str(event.get("service") or "")
    if not arn or not code or event.get("startTime") is None:
        raise MappingError("Health event lacks arn, eventTypeCode or startTime")
    label = _label(service, code)
    if label is None:
        return []
    account = str(item.get("account") or ctx.account_id)
    # First, so that an ARN that is not a Health event's is refused before it is read.
    account_arn = _arn_in(arn, account)
    created = _timestamp(event["startTime"])
    region = _region(arn, str(event.get("region") or ""))
    entities = _entities(item.get("entities"))
    updated = item.get("time") or event.get("lastUpdatedTime") or event["startTime"]
    status = event.get("statusCode")
    finding = asff.build_finding(
        finding_id=_finding_id(account_arn, created),
        product_arn=ctx.product_arn_in(region if region in ctx.regions else ctx.home),
        generator_id=code,
        account_id=account,
        title=f"AWS Health - {code}",
        description=str(item.get("description") or f"AWS Health event {code}"),
        resources=[
            {"Type": "Other", "Id": value[:512], "Region": region}
            for value in dict.fromkeys(entities or [account])
        ],
        severity={"Label": label, "Original": label},
        types=TYPES,
        created_at=created,
        updated_at=max(created, _timestamp(updated)),
        source_url=CONSOLE_URL + arn,
        product_fields={
            "hubrelay/health/service": service,
            "hubrelay/health/eventTypeCategory": event.get("eventTypeCategory"),
            "hubrelay/health/statusCode": status,
            "hubrelay/health/eventArn": arn,
            "hubrelay/health/eventScopeCode": event.get("eventScopeCode"),
        },
        record_state="ARCHIVED" if str(status).lower() == "closed" else "ACTIVE",
    )
    return [finding]


def _entities(entities: Any) -> list[str]:
    """The affected entities' values (or ARNs), the UNKNOWN placeholder left out."""
    found = []
    for entity in items(entities):
        if not is_mapping(entity):
            continue
        value, entity_arn = entity.get("entityValue"), entity.get("entityArn")
        if (value or entity_arn) and value != "UNKNOWN":
            found.append(str(value or entity_arn))
    return found


def _region(arn: str, region: str) -> str:
    parts = arn.split(":")
    region = region or parts[3]
    if region and region != "global":
        return region
    return GLOBAL_REGIONS.get(parts[1] or "aws", "us-east-1")


def from_eventbridge(event: Mapping[str, Any]) -> dict[str, Any]:
    """A Health record from an EventBridge "AWS Health Event" (RFC 1123 times)."""
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise MappingError("EventBridge event has no detail")
    english = [d for d in items(detail.get("eventDescription")) if isinstance(d, Mapping)]
    english.sort(key=lambda d: d.get("language") != "en_US")
    return {
        "account": detail.get("affectedAccount") or event.get("account"),
        "time": event.get("time"),
        "description": english[0].get("latestDescription") if english else None,
        "entities": detail.get("affectedEntities") or [],
        "event": {
            "arn": detail.get("eventArn"),
            "service": detail.get("service"),
            "eventTypeCode": detail.get("eventTypeCode"),
            "eventTypeCategory": detail.get("eventTypeCategory"),
            "eventScopeCode": detail.get("eventScopeCode"),
            "region": detail.get("eventRegion") or event.get("region"),
            "startTime": detail.get("startTime"),
            "endTime": detail.get("endTime"),
            "lastUpdatedTime": detail.get("lastUpdatedTime"),
            "statusCode": detail.get("statusCode"),
        },
    }


def from_api(detail: Mapping[str, Any], entities: list[Any], account: str) -> dict[str, Any]:
    """A Health record from a DescribeEventDetails item and its affected entities."""
    event = dict(obj(detail.get("event")))
    return {
        "account": account,
        "time": event.get("lastUpdatedTime"),
        "description": dig(detail, "eventDescription", "latestDescription"),
        "entities": entities,
        "event": event,
    }


def looks_like_health(document: Any) -> bool:
    """Whether a document is one of the forms `file_records` reads."""
    first = document[0] if isinstance(document, list) and document else document
    if not is_mapping(first):
        return False
    if first.get("source") == "aws.health" or is_mapping(first.get("event")):
        return True
    if isinstance(first.get("successfulSet"), list):  # DescribeEventDetails(ForOrganization)
        return True
    listed = first.get("events")  # a DescribeEvents(ForOrganization) page
    if isinstance(listed, list):
        return not listed or looks_like_health(listed)
    arn = first.get("arn")
    return isinstance(arn, str) and arn.startswith("arn:") and ":health:" in arn


def file_records(document: Any, origin: str) -> tuple[list[Record], list[tuple[str, str]]]:
    """(records, errors) of a file of Health events (`hubrelay convert`): EventBridge
    events, one or an array; the Health API's output as the AWS CLI writes it (a
    DescribeEvents page {"events": [...]}, a DescribeEventDetails answer {"successfulSet":
    [...], "failedSet": [...]}, their ForOrganization forms, a bare event); or normalised
    records. One record per event and account (`_latest`)."""
    found: list[tuple[str, Any]] = []
    errors: list[tuple[str, str]] = []
    for i, part in enumerate(document if isinstance(document, list) else [document]):
        # "#[0]" for one event too, as convert always named it; the API's lists inside
        # one answer by their own names (origin#successfulSet[0]).
        inside = f"{origin}#[{i}]." if isinstance(document, list) else f"{origin}#"
        found += _file_events(part, f"{origin}#[{i}]", inside, errors)
    return _latest(found), errors


def _file_events(
    part: Any, where: str, inside: str, errors: list[tuple[str, str]]
) -> list[tuple[str, Any]]:
    """(position, native record) of each event one element of a Health file holds: at
    `where`, or inside it at `inside` + path."""
    if not is_mapping(part):
        return [(where, part)]  # map_event says why it is no record
    if "detail" in part:
        try:
            return [(where, from_eventbridge(part))]
        except MappingError as exc:  # one broken event, not the file's other events
            errors.append((where, str(exc)))
            return []
    if isinstance(part.get("successfulSet"), list):
        # https://docs.aws.amazon.com/health/latest/APIReference/API_DescribeEventDetails.html
        # (the ForOrganization items name the account: awsAccountId)
        for j, failed in enumerate(items(part.get("failedSet"))):
            reason = f"{obj(failed).get('errorName')}: {obj(failed).get('errorMessage')}"
            errors.append((f"{inside}failedSet[{j}]", reason))
        return [
            (
                f"{inside}successfulSet[{j}]",
                from_api(obj(d), [], str(obj(d).get("awsAccountId") or "")),
            )
            for j, d in enumerate(part["successfulSet"])
        ]
    if isinstance(part.get("events"), list):
        # https://docs.aws.amazon.com/health/latest/APIReference/API_DescribeEvents.html
        return [
            (f"{inside}events[{j}]", from_api({"event": e}, [], ""))
            for j, e in enumerate(part["events"])
        ]
    if "arn" in part and "event" not in part:  # one event of DescribeEvents
        return [(where, from_api({"event": part}, [], ""))]
    return [(where, part)]


def _latest(found: list[tuple[str, Any]]) -> list[Record]:
    """One record per event ARN and account, as the finding is one per Id: the latest
    update (lastUpdatedTime, else the EventBridge time; the first of equals), so that an
    event closed later in the file is resolved; with the affected entities of every record
    of that update, EventBridge sending an event with many entities as several, each with
    "page" and "totalPages" ("Event example", https://docs.aws.amazon.com/health/latest/ug/aws-health-events-eventbridge-schema.html)."""
    kept: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    # In the file's order, each event where its first record is: (position, record) of a
    # record that is no event's, None in place of an event's (kept by `keys`).
    order: list[tuple[str, Any] | None] = []
    keys: list[tuple[str, str]] = []
    # Events whose kept record has a list of entities of its own, added to page by page
    # (a copy per page was quadratic; the first record's list is the document's).
    merging: set[tuple[str, str]] = set()
    for position, native in found:
        event = native.get("event") if is_mapping(native) else None
        if not is_mapping(event) or not isinstance(event.get("arn"), str):
            order.append((position, native))  # map_event refuses it, with its reason
            continue
        key = (event["arn"], str(native.get("account") or ""))
        if key not in kept:
            kept[key] = (position, dict(native))
            order.append(None)
            keys.append(key)
            continue
        mine, theirs = _updated(native), _updated(kept[key][1])
        if mine is not None and theirs is not None and mine > theirs:
            kept[key] = (position, dict(native))
            merging.discard(key)
        elif mine == theirs:
            merged = kept[key][1]
            if key not in merging:
                merged["entities"] = list(items(merged.get("entities")))
                merging.add(key)
            merged["entities"] += items(native.get("entities"))
    events = iter(keys)
    return [
        Record(native, position, "health", SCOPE)
        for position, native in (entry or kept[next(events)] for entry in order)
    ]


def _updated(native: Mapping[str, Any]) -> Any:
    """When a record's event was last updated, None when unreadable."""
    event = obj(native.get("event"))
    try:
        return parse_time(event.get("lastUpdatedTime") or native.get("time"))
    except ValueError:  # MappingError: missing or unreadable
        return None


class HealthSource:
    """DescribeEvents / DescribeEventDetails / DescribeAffectedEntities of one account."""

    name = "health"

    def __init__(self, health: Any, account_id: str) -> None:
        self.health = health
        self.account_id = account_id

    def map(self, record: Record, ctx: Context) -> list[Finding]:
        return map_event(record, ctx)

    def collect(self, cursor: Cursor) -> Iterator[Unit]:
        events = self._security_events(cursor.get("since"))
        for start in range(0, len(events), DETAILS_BATCH):
            batch = events[start : start + DETAILS_BATCH]
            arns = [e["arn"] for e in batch]
            details = self.health.describe_event_details(eventArns=arns)
            entities: dict[str, list[Any]] = {arn: [] for arn in arns}
            pages = self.health.get_paginator("describe_affected_entities")
            for page in pages.paginate(filter={"eventArns": arns}):
                for entity in page.get("entities", []):
                    entities.setdefault(entity.get("eventArn"), []).append(entity)
            records = [
                Record(
                    from_api(d, entities.get(d["event"]["arn"], []), self.account_id),
                    f"health:{d['event']['arn']}",
                    "health",
                    SCOPE,
                )
                for d in details.get("successfulSet", [])
            ]
            errors = [
                (f"health:{f.get('eventArn')}", f"{f.get('errorName')}: {f.get('errorMessage')}")
                for f in details.get("failedSet", [])
            ]
            since = asff.timestamp(parse_time(batch[-1]["lastUpdatedTime"]))
            yield Unit(records, {"since": since}, f"health events {start}..", errors=errors)

    def _security_events(self, since: str | None) -> list[dict[str, Any]]:
        """Security-related events updated since the watermark, oldest update first."""
        event_filter: dict[str, Any] = {}
        if since:
            event_filter["lastUpdatedTimes"] = [{"from": parse_time(since)}]
        found = []
        for page in self.health.get_paginator("describe_events").paginate(filter=event_filter):
            for event in page.get("events", []):
                if is_security_related(event.get("service", ""), event.get("eventTypeCode", "")):
                    found.append(event)
        return sorted(found, key=lambda e: (parse_time(e["lastUpdatedTime"]), e["arn"]))


class HealthEventSource:
    """One AWS Health event EventBridge delivered (`hubrelay.triggers.HealthEvent`), mapped
    as the poll maps the same event. The poll's watermark stays where the poll left it: the
    poll (the schedule, the backstop) reads the event again later, and change tracking
    finds it unchanged (timestamps are not part of a finding's content hash)."""

    name = "health"

    def __init__(self, event: Mapping[str, Any], health: Callable[[], Any] | None = None) -> None:
        self.event = event
        self.health = health  # the Health API's client, made only for an event in pages

    def map(self, record: Record, ctx: Context) -> list[Finding]:
        return map_event(record, ctx)

    def collect(self, cursor: Cursor) -> Iterator[Unit]:
        native = from_eventbridge(self.event)
        arn = native["event"]["arn"]
        position = f"health:{arn}"
        if self.health is not None and _in_pages(self.event):
            entities = _every_entity(self.health, arn)
            native["entities"] = native["entities"] if entities is None else entities
        yield Unit([Record(native, position, "health", SCOPE)], cursor, f"health event {position}")


def _in_pages(event: Mapping[str, Any]) -> bool:
    """Whether EventBridge delivered the event in pages, each with some of its affected
    entities: AWS Health splits an event whose entities are over EventBridge's 256 KB into
    pages of one eventArn, not sorted ("Viewing paginated lists of AWS Health events on
    EventBridge", https://docs.aws.amazon.com/health/latest/ug/pagnation-of-health-events.html).
    Mapped alone, each page made the finding another one, its Resources those of the last
    page read. Only for the account's own events: another account's (an organization's
    view) are not the account's DescribeAffectedEntities."""
    detail = obj(event.get("detail"))
    try:
        pages = int(str(detail.get("totalPages") or 1))
    except ValueError:
        return False
    account = detail.get("affectedAccount")
    return pages > 1 and (account is None or account == event.get("account"))


def _every_entity(health: Callable[[], Any], arn: str) -> list[Any] | None:
    """Every affected entity of an event, as the poll reads them (DescribeAffectedEntities);
    None when the API does not answer: an account without a Business, Enterprise On-Ramp or
    Enterprise Support plan has no Health API (SubscriptionRequiredException,
    https://docs.aws.amazon.com/health/latest/APIReference/Welcome.html), and then the
    page's own entities are what there is."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        pages = health().get_paginator("describe_affected_entities")
        return [e for page in pages.paginate(filter={"eventArns": [arn]}) for e in page["entities"]]
    except (BotoCoreError, ClientError, KeyError) as exc:
        from hubrelay.observability import logger

        logger.warning(
            "Health event in pages mapped with its page's entities",
            event=arn[:300],
            reason=str(exc)[:300],
        )
        return None
