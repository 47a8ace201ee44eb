"""A ticket through the new Security Hub's own ticket connector (Jira Cloud, ServiceNow).

The customer creates the connector in Security Hub (CreateConnectorV2) and gives its id
(TicketConnectorId); hubrelay calls CreateTicketV2(ConnectorId, FindingMetadataUid,
ClientToken) for each finding ("CreateTicketV2",
https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_CreateTicketV2.html). The
ClientToken is the finding's own (connector, metadata.uid, reopening), so a retry, a
redelivered event or a second invocation gets the same ticket back instead of a second
one. The ticket id and URL are the delivery's reference, which the write-back keeps in the
finding's comment. Connectors exist only in the new Security Hub: a Security Hub CSPM
finding is not this destination's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hubrelay import errors
from hubrelay.destinations.common import per_finding
from hubrelay.errors import DeliveryError
from hubrelay.retry import Retry
from hubrelay.route_types import Decision, Delivery, Destination, EventFinding, Outlets
from hubrelay.settings import Settings

TOKEN_MAX = 63  # ClientToken: 1 to 63 printable ASCII characters


def client_token(connector_id: str, metadata_uid: str, reopened: int = 0) -> str:
    digest = hashlib.sha256(f"{connector_id}\n{metadata_uid}\n{reopened}".encode()).hexdigest()
    return f"hubrelay-{digest}"[:TOKEN_MAX]


def not_applicable(finding: EventFinding, settings: Settings) -> str | None:
    if not finding.is_v2:
        return "ticket connectors are the new Security Hub's: not a Security Hub CSPM finding"
    return None


def render_one(decision: Decision, finding: EventFinding, connector_id: str) -> dict[str, Any]:
    """The exact CreateTicketV2 request."""
    kind = decision.route.kind if decision.route else "auto"
    return {
        "ConnectorId": connector_id,
        "FindingMetadataUid": finding.Id,
        "ClientToken": client_token(connector_id, finding.Id, finding.reopening("ticket", kind)),
    }


def render(decision: Decision, findings: Any, settings: Settings) -> list[Delivery]:
    connector = settings.ticket_connector_id
    return per_finding("ticket", lambda d, f: render_one(d, f, connector))(
        decision, findings, settings
    )


def enabled(settings: Settings) -> bool:
    return bool(settings.ticket_connector_id)


def action_arn(settings: Settings) -> str:
    return ""  # the new Security Hub has no custom actions


def send(
    delivery: Delivery, key: Mapping[str, str], settings: Settings, outlets: Outlets
) -> dict[str, str]:
    if outlets.securityhub is None:
        raise DeliveryError("ticket: no Security Hub client")
    region = delivery.findings[0].Region or settings.region
    client = outlets.securityhub(region)
    retry = Retry(max_attempts=4, base_s=0.5, cap_s=settings.max_retry_backoff_s)
    attempt = 0
    while True:
        attempt += 1
        try:
            reply = client.create_ticket_v2(**delivery.payload)
        except (ClientError, BotoCoreError) as error:
            code = error.response["Error"]["Code"] if isinstance(error, ClientError) else ""
            # The same ClientToken makes a retry return the same ticket.
            if (not code or errors.retryable(code)) and retry.pause(attempt):
                continue
            raise DeliveryError(f"ticket: CreateTicketV2 failed: {error}") from None
        ticket = str(reply["TicketId"])
        url = reply.get("TicketSrcUrl")
        return {"reference": f"{ticket} {url}" if url else ticket}


DESTINATION = Destination(
    "ticket",
    "a Security Hub ticket",
    enabled,
    action_arn,
    render,
    send,
    not_applicable,
    needs="TicketConnectorId with SecurityHubs SecurityHub or Both (HUBRELAY_TICKET_CONNECTOR_ID)",
)
