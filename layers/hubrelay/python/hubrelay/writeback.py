"""Write the routing outcome back to Security Hub with BatchUpdateFindings.

Per finding: a Note (at most 512 characters) saying where it went and the reference,
UserDefinedFields `hubrelay:<destination>` = the machine reference, and Workflow NOTIFIED
when the finding was NEW (a finding someone already resolved or suppressed keeps its
status: routing it must not reopen it). One request carries one update for up to 100
findings, so findings with identical updates share requests. UnprocessedFindings with a
transient error, and throttled requests, are retried with backoff; the rest is reported.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hubrelay import asff
from hubrelay.settings import MAX_FINDINGS_PER_CALL

FindingKey = tuple[str, str]
UPDATED_BY = "hubrelay"
FIELD_PREFIX = "hubrelay:"
NOTE_MAX = 512
_RETRYABLE_CODES = frozenset(
    {"TooManyRequestsException", "ThrottlingException", "InternalException", "InternalError"}
)
_FINAL_UNPROCESSED = frozenset({"FindingNotFound", "InvalidInput", "DuplicatedFindingIdentifier"})
_LABELS = {"webhook": "webhook", "sns": "SNS", "opscenter": "OpsCenter", "vendor": "vendor API"}


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
    parts = [f"{_LABELS.get(s.destination, s.destination)} ({s.reference})" for s in sent]
    return asff.truncate(
        f"hubrelay sent this finding via {route_name} to " + ", ".join(parts), NOTE_MAX
    )


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
    return [u for u in result.unprocessed if u.get("ErrorCode") not in _FINAL_UNPROCESSED]


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


def apply(
    client: Any,
    updates: Iterable[Update],
    *,
    attempts: int = 4,
    max_backoff_s: float = 8.0,
    sleep: Callable[[float], None] = lambda seconds: time.sleep(seconds),
) -> Result:
    """Send every update; retry throttling and transient UnprocessedFindings."""
    result = Result()
    for update in updates:
        pending = list(update.identifiers)
        for attempt in range(1, attempts + 1):
            result.calls += 1
            try:
                reply = client.batch_update_findings(**Update(pending, update.body).request())
            except (ClientError, BotoCoreError) as error:
                code = error.response["Error"]["Code"] if isinstance(error, ClientError) else ""
                transient = code in _RETRYABLE_CODES or isinstance(error, BotoCoreError)
                if transient and attempt < attempts:
                    sleep(_backoff(attempt, max_backoff_s))
                    continue
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
            final = [u for u in unprocessed if u.get("ErrorCode") in _FINAL_UNPROCESSED]
            result.unprocessed.extend(final)
            pending = [u["FindingIdentifier"] for u in unprocessed if u not in final]
            if not pending:
                break
            if attempt == attempts:
                result.unprocessed.extend(u for u in unprocessed if u not in final)
                break
            sleep(_backoff(attempt, max_backoff_s))
    return result


def _backoff(attempt: int, ceiling: float) -> float:
    return random.uniform(0, min(ceiling, 0.2 * 2**attempt))
