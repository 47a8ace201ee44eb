"""`make demo`'s stage for the new (OCSF-based) Security Hub, beside Security Hub CSPM.

The stack runs with SecurityHubs=Both and a ticket connector (TicketConnectorId, created in
the emulator as CreateConnectorV2 would before the stack is deployed). GuardDuty's finding
reaches the new Security Hub in OCSF, which emits `Findings Imported V2`: the template's
AutoRouteV2Rule matches it, the responder reads its current state (GetFindingsV2), opens a
ticket through the connector (CreateTicketV2, one ClientToken per finding) and writes it
back (BatchUpdateFindingsV2: In Progress, the ticket in the comment). The write-back's own
event, GuardDuty updating the finding, and a replay of the first event all open no second
ticket.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hubrelay_emulator.runner import StackEmulator

CONNECTOR_ID = "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
METADATA_UID = "7d0c2a4e9b1f4c3a8e6d5b2a1c0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2"


@dataclass
class V2Result:
    imported_events: int = 0
    matched: int = 0
    tickets: list[str] = field(default_factory=list)
    status: str = ""
    comment: str = ""
    repeats: int = 0  # events after the first that reached the responder's rule
    delivered: list[str] = field(default_factory=list)  # destinations, from the records


def parameters() -> dict[str, str]:
    # The automatic route's SNS topic as before, and the ticket connector, which is the new
    # Security Hub's only: CSPM findings skip it, so the CSPM stages of the demo are
    # unchanged.
    return {
        "SecurityHubs": "Both",
        "TicketConnectorId": CONNECTOR_ID,
        "AutoRouteDestinations": "sns,ticket",
    }


def create_connector(stack: StackEmulator) -> None:
    """The operator's step before deploying: a Jira Cloud connector in Security Hub."""
    stack.contract.v2.connectors.setdefault((stack.account, stack.region), {})[CONNECTOR_ID] = (
        "JIRA_CLOUD"
    )


def guardduty_finding(account: str, region: str) -> dict[str, Any]:
    """A GuardDuty Detection Finding as the new Security Hub holds it (OCSF 1.x)."""
    detector = f"arn:aws:guardduty:{region}:{account}:detector/12abc34d567e8fa901bc2d34e56789f0"
    return {
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "activity_id": 1,
        "activity_name": "Create",
        "severity_id": 4,
        "severity": "High",
        "status_id": 1,
        "status": "New",
        "cloud": {"account": {"uid": account}, "provider": "AWS", "region": region},
        "finding_info": {
            "uid": f"{detector}/finding/0ec8d2f0a9b1c2d3e4f5a6b7c8d9e0f1",
            "title": "EC2 instance i-0abcd1234ef567890 is querying a Bitcoin-related domain",
            "desc": "An EC2 instance is querying a domain associated with Bitcoin activity.",
            "types": ["CryptoCurrency:EC2/BitcoinTool.B!DNS"],
        },
        "metadata": {
            "uid": METADATA_UID,
            "version": "1.6.0",
            "product": {
                "name": "GuardDuty",
                "vendor_name": "AWS",
                "uid": f"arn:aws:securityhub:{region}::productv2/aws/guardduty",
            },
        },
        "resources": [
            {
                "type": "AWS::EC2::Instance",
                "uid": f"arn:aws:ec2:{region}:{account}:instance/i-0abcd1234ef567890",
                "region": region,
            }
        ],
    }


def route_out(stack: StackEmulator) -> V2Result:
    result = V2Result()
    if "AutoRouteV2Rule" not in stack.resources:
        return result
    finding = guardduty_finding(stack.account, stack.region)
    first = stack.contract.import_v2(finding)
    stack.deliver_events()
    stack.drain()
    # GuardDuty updates the finding (a provider's re-import keeps the status the write-back
    # set), and the first event is replayed (EventBridge retrying, a dead-letter redrive).
    updated = copy.deepcopy(finding)
    updated["finding_info"]["desc"] += " Seen again."
    stack.contract.import_v2(updated)
    stack.put_event(copy.deepcopy(first))
    stack.drain()
    matched_first = 1
    result.matched = stack.report.events_matched.get("AutoRouteV2Rule", 0)
    result.repeats = result.matched - matched_first
    (stored,) = [
        f
        for f in stack.contract.findings_v2(stack.account, stack.region)
        if f["metadata"]["uid"] == METADATA_UID
    ]
    result.imported_events = 2
    result.tickets = [f"{t.ticket_id} {t.url}" for t in stack.contract.v2.tickets]
    result.delivered = sorted(
        {d for d in ("sns", "ticket") if f"hubrelay-v2-sent#{d}#{METADATA_UID}" in _records(stack)}
    )
    result.status = f"{stored.get('status_id')} {stored.get('status')}"
    result.comment = str(stored.get("comment", ""))
    return result


def _records(stack: StackEmulator) -> set[str]:
    """The ids of the responder's records of what was sent where (the idempotency table)."""
    table = stack.resources["IdempotencyTable"]["Ref"]
    items = stack.client("dynamodb").scan(TableName=table, ProjectionExpression="id")["Items"]
    return {str(item["id"]["S"]) for item in items}


def rows(result: V2Result) -> list[tuple[str, str]]:
    if not result.imported_events:
        return [("new Security Hub", "not run (SecurityHubs is CSPM)")]
    ticket = result.tickets[0] if result.tickets else "none"
    return [
        (
            "new Security Hub",
            f"{result.imported_events} Findings Imported V2 events (GuardDuty, OCSF) and a "
            f"replay; {result.matched} matched AutoRouteV2Rule",
        ),
        ("delivered (V2)", ", ".join(result.delivered) or "nowhere"),
        ("ticket (connector)", f"{len(result.tickets)} opened: {ticket}"),
        (
            "written back (V2)",
            f"status_id {result.status}; the comment ({len(result.comment)} chars) names "
            + ("the ticket" if ticket.split()[0] in result.comment else "no ticket"),
        ),
    ]


def failures(result: V2Result) -> list[str]:
    if not result.imported_events:
        return []
    reasons = []
    if len(result.tickets) != 1:
        reasons.append(f"{len(result.tickets)} tickets opened for one finding (expected 1)")
    if not result.status.startswith("2 "):
        reasons.append(f"the V2 finding was not written back In Progress ({result.status})")
    if result.tickets and result.tickets[0].split()[0] not in result.comment:
        reasons.append("the ticket is not in the finding's comment")
    return reasons
