"""The new (OCSF-based) Security Hub's operations that hubrelay uses, as documented.

Served by the same moto patch as Security Hub CSPM (`securityhub.install()`), with its state
in `Contract.v2` (a `HubV2`): OCSF findings per (account, Region) keyed by `metadata.uid`,
ticket connectors, and tickets. Each rule below comes from the botocore model of the pinned
botocore (`securityhub` 2018-10-26, operations ending in V2) or the page cited with it.

- GetFindingsV2 (POST /findingsv2): `Filters.CompositeFilters` (at most 10) of
  StringFilters / NumberFilters (at most 20 each), `Operator` AND/OR inside a composite,
  `CompositeOperator` between them; MaxResults 1 to 100 ("GetFindingsV2",
  https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_GetFindingsV2.html).
- BatchUpdateFindingsV2 (PATCH /findingsv2/batchupdatev2): `MetadataUids` or
  `FindingIdentifiers` (CloudAccountUid, FindingInfoUid, MetadataProductUid), not both, at
  most 100; `StatusId` in [0, 1, 2, 3, 4, 5, 99], `SeverityId` in [0..6, 99], `Comment` of
  1 to 512 characters; the string siblings (`status`, `severity`) follow the ids
  ("BatchUpdateFindingsV2",
  https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchUpdateFindingsV2.html).
- CreateTicketV2 (POST /ticketsv2): ConnectorId and FindingMetadataUid required, ClientToken
  1 to 63 printable characters, an idempotency token ("CreateTicketV2",
  https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_CreateTicketV2.html).
- Events: one `Findings Imported V2` event per finding, `resources` holding the finding's
  `metadata.uid`, the finding in `detail.findings` ("EventBridge event formats",
  https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-v2-cwe-event-formats.html).
  As Security Hub CSPM documents for its Imported event, an update through
  BatchUpdateFindingsV2 emits one too here: the safe assumption for loop protection.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.core.exceptions import JsonRESTError

__all__ = ["SEVERITY", "STATUS", "HubV2", "V2Error", "imported_v2_event"]

Finding = dict[str, Any]
Event = dict[str, Any]
Body = dict[str, Any]
Scope = tuple[str, str]

# OCSF 1.1 Finding classes: status_id and severity_id with their captions
# (https://schema.ocsf.io/1.1.0/classes/detection_finding); the model allows these ids.
STATUS = {0: "Unknown", 1: "New", 2: "In Progress", 3: "Suppressed", 4: "Resolved", 5: "Archived"}
STATUS[99] = "Other"
SEVERITY = {0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical"}
SEVERITY |= {6: "Fatal", 99: "Other"}
MAX_UPDATE_UIDS = 100
MAX_COMPOSITE_FILTERS = 10
MAX_FILTERS_PER_TYPE = 20
COMMENT_MAX = 512
_CLIENT_TOKEN = re.compile(r"[\x21-\x7E]{1,63}")
_REQUIRED = (
    ("metadata", "uid"),
    ("finding_info", "uid"),
    ("metadata", "product", "uid"),
    ("cloud", "account", "uid"),
    ("cloud", "region"),
)
# The fields hubrelay filters on (a subset of OcsfStringField / OcsfNumberField).
_STRING_FIELDS = frozenset(
    {"metadata.uid", "finding_info.uid", "metadata.product.uid", "metadata.product.name"}
    | {"cloud.account.uid", "cloud.region", "activity_name", "status", "severity", "comment"}
)
_NUMBER_FIELDS = frozenset({"severity_id", "status_id", "activity_id"})


class V2Error(JsonRESTError):
    """A V2 API error: botocore parses it into ClientError with this code and status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code = status


def _validation(message: str) -> V2Error:
    return V2Error(400, "ValidationException", message)


def _dig(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def imported_v2_event(finding: Finding) -> Event:
    """The `Findings Imported V2` event Security Hub sends for one finding."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Findings Imported V2",
        "source": "aws.securityhub",
        "account": finding["cloud"]["account"]["uid"],
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": finding["cloud"]["region"],
        "resources": [finding["metadata"]["uid"]],
        "detail": {"findings": [copy.deepcopy(finding)]},
    }


@dataclass
class Ticket:
    ticket_id: str
    url: str
    connector_id: str
    metadata_uid: str


@dataclass
class HubV2:
    """The new Security Hub's state for every (account, Region)."""

    findings: dict[Scope, dict[str, Finding]] = field(default_factory=dict)
    connectors: dict[Scope, dict[str, str]] = field(default_factory=dict)  # id -> provider
    tickets: list[Ticket] = field(default_factory=list)
    _tokens: dict[tuple[str, str], tuple[tuple[str, str], Ticket]] = field(default_factory=dict)

    def put(self, finding: Finding) -> Finding:
        """Store `finding` as Security Hub ingests it from a product; return the stored copy.

        Missing required identifiers raise ValueError. A finding seen before keeps the
        fields its customers set (status_id, status, comment), as Security Hub CSPM
        keeps Workflow and Note over a provider's update.
        """
        missing = [".".join(path) for path in _REQUIRED if not _dig(finding, path)]
        if missing:
            raise ValueError(f"OCSF finding lacks {', '.join(missing)}")
        stored = copy.deepcopy(finding)
        scope = (stored["cloud"]["account"]["uid"], stored["cloud"]["region"])
        old = self.findings.setdefault(scope, {}).get(stored["metadata"]["uid"])
        if old is not None:
            for name in ("status_id", "status", "comment"):
                if name in old:
                    stored[name] = old[name]
        stored.setdefault("status_id", 1)
        stored["status"] = STATUS.get(stored["status_id"], "Other")
        if "severity_id" in stored:
            stored["severity"] = SEVERITY.get(stored["severity_id"], "Other")
        self.findings[scope][stored["metadata"]["uid"]] = stored
        return stored

    def add_connector(self, account: str, region: str, provider: str = "JIRA_CLOUD") -> str:
        """What CreateConnectorV2 does for hubrelay: a connector id to create tickets with."""
        connector_id = str(uuid.uuid4())
        self.connectors.setdefault((account, region), {})[connector_id] = provider
        return connector_id

    def scope(self, account: str, region: str) -> dict[str, Finding]:
        return self.findings.setdefault((account, region), {})

    # --- Operations: (account, region, body) -> (response, events) --------------------

    def get_findings(self, account: str, region: str, body: Body) -> tuple[Body, list[Event]]:
        test = _filter(body.get("Filters") or {})
        matching = [f for f in self.scope(account, region).values() if test(f)]
        size = body.get("MaxResults", 100)
        if not isinstance(size, int) or not 1 <= size <= 100:
            raise _validation("MaxResults must be between 1 and 100")
        start = int(body["NextToken"]) if str(body.get("NextToken", "")).isdigit() else 0
        page = matching[start : start + size]
        reply: Body = {"Findings": copy.deepcopy(page)}
        if start + size < len(matching):
            reply["NextToken"] = str(start + size)
        return reply, []

    def batch_update(self, account: str, region: str, body: Body) -> tuple[Body, list[Event]]:
        targets = _update_targets(body)
        changes = _update_changes(body)
        findings = self.scope(account, region)
        processed: list[Body] = []
        unprocessed: list[Body] = []
        events: list[Event] = []
        for label, finding in ((t, _locate(findings, t)) for t in targets):
            if finding is None:
                unprocessed.append(
                    {**label, "ErrorCode": "ResourceNotFoundException", "ErrorMessage": "Not found"}
                )
                continue
            finding.update(changes)
            finding.setdefault("finding_info", {})["modified_time_dt"] = _now()
            processed.append({**label, "MetadataUid": finding["metadata"]["uid"]})
            events.append(imported_v2_event(finding))
        return {"ProcessedFindings": processed, "UnprocessedFindings": unprocessed}, events

    def create_ticket(self, account: str, region: str, body: Body) -> tuple[Body, list[Event]]:
        connector_id, uid = body.get("ConnectorId"), body.get("FindingMetadataUid")
        if not isinstance(connector_id, str) or not connector_id.strip():
            raise _validation("ConnectorId is required")
        if not isinstance(uid, str) or not uid.strip():
            raise _validation("FindingMetadataUid is required")
        token = body.get("ClientToken")
        if token is not None and (not isinstance(token, str) or not _CLIENT_TOKEN.fullmatch(token)):
            raise _validation("ClientToken must be 1 to 63 printable ASCII characters")
        if connector_id not in self.connectors.get((account, region), {}):
            raise V2Error(404, "ResourceNotFoundException", f"No connectorV2 {connector_id}")
        if uid not in self.scope(account, region):
            raise V2Error(404, "ResourceNotFoundException", f"No finding with metadata.uid {uid}")
        if token is not None and (account, token) in self._tokens:
            params, ticket = self._tokens[(account, token)]
            if params != (connector_id, uid):
                # The same token with other parameters is a conflict, not a new ticket.
                raise V2Error(409, "ConflictException", "ClientToken used with other parameters")
            return {"TicketId": ticket.ticket_id, "TicketSrcUrl": ticket.url}, []
        number = len(self.tickets) + 1
        ticket = Ticket(
            f"SEC-{number}",
            f"https://example.atlassian.net/browse/SEC-{number}",
            connector_id,
            uid,
        )
        self.tickets.append(ticket)
        if token is not None:
            self._tokens[(account, token)] = ((connector_id, uid), ticket)
        return {"TicketId": ticket.ticket_id, "TicketSrcUrl": ticket.url}, []


def _update_targets(body: Body) -> list[Body]:
    uids, identifiers = body.get("MetadataUids"), body.get("FindingIdentifiers")
    if bool(uids) == bool(identifiers):
        raise _validation("Give MetadataUids or FindingIdentifiers, not both and not neither")
    items = uids or identifiers
    if not isinstance(items, list) or len(items) > MAX_UPDATE_UIDS:
        raise _validation(f"At most {MAX_UPDATE_UIDS} findings per request")
    if uids:
        if not all(isinstance(u, str) and u.strip() for u in uids):
            raise _validation("MetadataUids must be non-empty strings")
        return [{"MetadataUid": u} for u in uids]
    keys = ("CloudAccountUid", "FindingInfoUid", "MetadataProductUid")
    if not all(isinstance(i, dict) and all(i.get(k) for k in keys) for i in items):
        raise _validation(f"Every FindingIdentifier needs {', '.join(keys)}")
    return [{"FindingIdentifier": {k: i[k] for k in keys}} for i in items]


def _update_changes(body: Body) -> Body:
    changes: Body = {}
    if "StatusId" in body:
        if body["StatusId"] not in STATUS or isinstance(body["StatusId"], bool):
            raise _validation(f"StatusId must be one of {sorted(STATUS)}")
        changes |= {"status_id": body["StatusId"], "status": STATUS[body["StatusId"]]}
    if "SeverityId" in body:
        if body["SeverityId"] not in SEVERITY or isinstance(body["SeverityId"], bool):
            raise _validation(f"SeverityId must be one of {sorted(SEVERITY)}")
        changes |= {"severity_id": body["SeverityId"], "severity": SEVERITY[body["SeverityId"]]}
    if "Comment" in body:
        comment = body["Comment"]
        if not isinstance(comment, str) or not 1 <= len(comment) <= COMMENT_MAX:
            raise _validation(f"Comment must be 1 to {COMMENT_MAX} characters")
        changes["comment"] = comment
    if not changes:
        raise _validation("Nothing to update: give StatusId, SeverityId or Comment")
    return changes


def _locate(findings: dict[str, Finding], target: Body) -> Finding | None:
    if "MetadataUid" in target:
        return findings.get(target["MetadataUid"])
    wanted = target["FindingIdentifier"]
    for finding in findings.values():
        if (
            _dig(finding, ("cloud", "account", "uid")) == wanted["CloudAccountUid"]
            and _dig(finding, ("finding_info", "uid")) == wanted["FindingInfoUid"]
            and _dig(finding, ("metadata", "product", "uid")) == wanted["MetadataProductUid"]
        ):
            return finding
    return None


# --- GetFindingsV2 filters --------------------------------------------------------------

Test = Callable[[Finding], bool]


def _filter(filters: Any) -> Test:
    if not isinstance(filters, dict):
        raise _validation("Filters must be an object")
    composites = filters.get("CompositeFilters") or []
    if not isinstance(composites, list) or len(composites) > MAX_COMPOSITE_FILTERS:
        raise _validation(f"At most {MAX_COMPOSITE_FILTERS} composite filters")
    tests = [_composite(c) for c in composites]
    if filters.get("CompositeOperator", "AND") == "OR":
        return lambda f: not tests or any(t(f) for t in tests)
    return lambda f: all(t(f) for t in tests)


def _composite(composite: Any) -> Test:
    if not isinstance(composite, dict):
        raise _validation("A composite filter must be an object")
    tests: list[Test] = []
    for kind, fields, build in (
        ("StringFilters", _STRING_FIELDS, _string_test),
        ("NumberFilters", _NUMBER_FIELDS, _number_test),
    ):
        items = composite.get(kind) or []
        if not isinstance(items, list) or len(items) > MAX_FILTERS_PER_TYPE:
            raise _validation(f"At most {MAX_FILTERS_PER_TYPE} {kind} in a composite filter")
        for item in items:
            name = item.get("FieldName") if isinstance(item, dict) else None
            if name not in fields:
                raise _validation(f"{kind}: FieldName {name!r} is not supported here")
            tests.append(build(tuple(str(name).split(".")), item.get("Filter")))
    unknown = set(composite) - {"StringFilters", "NumberFilters", "Operator"}
    if unknown:
        raise _validation(f"Composite filter parts {sorted(unknown)} are not supported here")
    if composite.get("Operator", "AND") == "OR":
        return lambda f: not tests or any(t(f) for t in tests)
    return lambda f: all(t(f) for t in tests)


def _string_test(path: tuple[str, ...], condition: Any) -> Test:
    if not isinstance(condition, dict) or not isinstance(condition.get("Value"), str):
        raise _validation("A string filter needs Value and Comparison")
    value, comparison = condition["Value"], condition.get("Comparison")
    compare: dict[str, Callable[[Any], bool]] = {
        "EQUALS": lambda v: v == value,
        "NOT_EQUALS": lambda v: v != value,
        "PREFIX": lambda v: isinstance(v, str) and v.startswith(value),
        "PREFIX_NOT_EQUALS": lambda v: not (isinstance(v, str) and v.startswith(value)),
    }
    if comparison not in compare:
        raise _validation(f"Comparison {comparison!r} is not supported here")
    return lambda f: compare[str(comparison)](_dig(f, path))


def _number_test(path: tuple[str, ...], condition: Any) -> Test:
    bounds = {"Eq", "Gte", "Lte", "Gt", "Lt"}
    if not isinstance(condition, dict) or not condition or set(condition) - bounds:
        raise _validation(f"A number filter takes {sorted(bounds)}")

    def test(finding: Finding) -> bool:
        value = _dig(finding, path)
        if not isinstance(value, int | float):
            return False
        checks = {
            "Eq": value == condition.get("Eq"),
            "Gte": "Gte" in condition and value >= condition["Gte"],
            "Lte": "Lte" in condition and value <= condition["Lte"],
            "Gt": "Gt" in condition and value > condition["Gt"],
            "Lt": "Lt" in condition and value < condition["Lt"],
        }
        return all(checks[name] for name in condition)

    return test
