"""Write the routing outcome back to Security Hub with BatchUpdateFindings.

Per finding: a Note (at most 512 characters) saying where it went and the reference,
UserDefinedFields `hubrelay:<destination>` = the machine reference, and Workflow NOTIFIED
when the finding was NEW (a finding someone already resolved or suppressed keeps its
status: routing it must not reopen it). One request carries one update for up to 100
findings, so findings with identical updates share requests. UnprocessedFindings with a
transient error, and throttled requests, are retried with backoff; the rest is reported.
What each error code means is `hubrelay.errors.SECURITY_HUB_CODES`, shared with the importer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hubrelay import asff, errors
from hubrelay.asff import FindingKey
from hubrelay.destinations import REGISTRY
from hubrelay.observability import logger
from hubrelay.retry import Retry
from hubrelay.settings import MAX_FINDINGS_PER_CALL

UPDATED_BY = "hubrelay"
FIELD_PREFIX = "hubrelay:"
NOTE_MAX = 512


@dataclass(frozen=True)
class Sent:
    """One successful delivery of a finding."""

    destination: str
    reference: str


@dataclass(frozen=True)
class Update:
    identifiers: list[dict[str, str]]
    body: dict[str, Any]

    def request(self) -> dict[str, Any]:
        return {"FindingIdentifiers": self.identifiers, **self.body}


@dataclass
class Result:
    processed: int = 0
    calls: int = 0
    unprocessed: list[dict[str, Any]] = field(default_factory=list)


def note_text(route_name: str, sent: Iterable[Sent]) -> str:
    parts = [f"{_label(s.destination)} ({s.reference})" for s in sent]
    return asff.truncate(
        f"hubrelay sent this finding via {route_name} to " + ", ".join(parts), NOTE_MAX
    )


def _label(destination: str) -> str:
    known = REGISTRY.get(destination)
    return known.label if known else destination


def update_for(route_name: str, sent: list[Sent], workflow_status: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Note": {"Text": note_text(route_name, sent), "UpdatedBy": UPDATED_BY},
        "UserDefinedFields": {
            f"{FIELD_PREFIX}{s.destination}": asff.truncate(s.reference, 1024) for s in sent
        },
    }
    if workflow_status == "NEW":
        body["Workflow"] = {"Status": "NOTIFIED"}
    return body


def still_pending(result: Result) -> list[dict[str, Any]]:
    """Unprocessed findings a later attempt could still update (not the final refusals)."""
    return [u for u in result.unprocessed if not _final(u)]


def _final(unprocessed: Mapping[str, Any]) -> bool:
    """A refusal no later attempt changes (FindingNotFound, InvalidInput...); codes the table
    does not know are tried again."""
    return errors.meaning(str(unprocessed.get("ErrorCode", ""))) is errors.Meaning.REFUSED


def build_updates(
    route_name: str,
    sent: Mapping[FindingKey, list[Sent]],
    workflow_status: Mapping[FindingKey, str],
) -> list[Update]:
    """Group findings with identical updates; each group in chunks of 100."""
    groups: dict[str, tuple[dict[str, Any], list[FindingKey]]] = {}
    for key, deliveries in sent.items():
        if not deliveries:
            continue
        body = update_for(route_name, deliveries, workflow_status.get(key, "NEW"))
        signature = json.dumps(body, sort_keys=True)
        groups.setdefault(signature, (body, []))[1].append(key)
    updates = []
    for body, keys in groups.values():
        for start in range(0, len(keys), MAX_FINDINGS_PER_CALL):
            chunk = keys[start : start + MAX_FINDINGS_PER_CALL]
            identifiers = [{"ProductArn": arn, "Id": fid} for arn, fid in chunk]
            updates.append(Update(identifiers, body))
    return updates


def apply(client: Any, updates: Iterable[Update], retry: Retry | None = None) -> Result:
    """Send every update; retry throttling and transient UnprocessedFindings."""
    retry = retry or Retry(max_attempts=4, base_s=0.4)
    result = Result()
    for update in updates:
        pending = list(update.identifiers)
        attempt = 0
        while pending:
            attempt += 1
            result.calls += 1
            try:
                reply = client.batch_update_findings(**Update(pending, update.body).request())
            except (ClientError, BotoCoreError) as error:
                if _transient(error) and retry.pause(attempt):
                    continue
                code = error.response["Error"]["Code"] if isinstance(error, ClientError) else ""
                logger.warning("BatchUpdateFindings failed", code=code, error=str(error))
                result.unprocessed.extend(
                    {
                        "FindingIdentifier": i,
                        "ErrorCode": code or "Error",
                        "ErrorMessage": str(error),
                    }
                    for i in pending
                )
                break
            result.processed += len(reply.get("ProcessedFindings", []))
            unprocessed = reply.get("UnprocessedFindings", [])
            result.unprocessed.extend(u for u in unprocessed if _final(u))
            again = [u for u in unprocessed if not _final(u)]
            pending = [u["FindingIdentifier"] for u in again]
            if pending and not retry.pause(attempt):
                result.unprocessed.extend(again)
                break
    return result


def _transient(error: ClientError | BotoCoreError) -> bool:
    if not isinstance(error, ClientError):
        return True  # below the HTTP response: a timeout, a dropped connection
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    return errors.retryable(str(error.response["Error"]["Code"]), status)
