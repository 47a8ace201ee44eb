"""Write the routing outcome back to Security Hub with BatchUpdateFindings.

Per finding: a Note (at most 512 characters) saying where it went and the reference, unless
the finding carries someone else's note (an analyst's note is never replaced: the reference
is in UserDefinedFields then), UserDefinedFields `hubrelay:<destination>` = the machine
reference, and Workflow NOTIFIED when the finding is NEW and ACTIVE *now* (`read_current`:
a finding someone resolved or suppressed since the event keeps its status). One request
carries one update for up to 100 findings, so findings with identical updates share
requests. UnprocessedFindings with a transient error, and throttled requests, are retried
with backoff; the rest is reported.
What each error code means is `hubrelay.errors.SECURITY_HUB_CODES`, shared with the importer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hubrelay import asff, errors
from hubrelay.asff import FindingKey
from hubrelay.destinations import REGISTRY
from hubrelay.observability import logger
from hubrelay.retry import Retry
from hubrelay.route_types import (
    MARKER_PREFIX,
    REOPENED_SUFFIX,
    marker,
    reopened_field,
    reopenings_notified,
)
from hubrelay.settings import MAX_FINDINGS_PER_CALL

UPDATED_BY = "hubrelay"
NOTE_MAX = 512


@dataclass(frozen=True)
class Sent:
    """One successful delivery of a finding; `reopened` is which reopening it notified
    (0 for the first delivery, `EventFinding.reopening`)."""

    destination: str
    reference: str
    reopened: int = 0


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
    parts = [
        f"{_label(s.destination)} ({s.reference}"
        + (f", reopening {s.reopened})" if s.reopened else ")")
        for s in sent
    ]
    return asff.truncate(
        f"hubrelay sent this finding via {route_name} to " + ", ".join(parts), NOTE_MAX
    )


def _label(destination: str) -> str:
    known = REGISTRY.get(destination)
    return known.label if known else destination


def update_for(
    route_name: str, sent: list[Sent], workflow_status: str, keep_note: bool = False
) -> dict[str, Any]:
    fields = {marker(s.destination): asff.truncate(s.reference, 1024) for s in sent}
    # The count of reopenings notified: the next reopening's idempotency key (loop and
    # repeat protection: each reopening once).
    fields.update({reopened_field(s.destination): str(s.reopened) for s in sent if s.reopened})
    body: dict[str, Any] = {"UserDefinedFields": fields}
    if not keep_note:
        body["Note"] = {"Text": note_text(route_name, sent), "UpdatedBy": UPDATED_BY}
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
    keep_notes: Iterable[FindingKey] = (),
) -> list[Update]:
    """Group findings with identical updates; each group in chunks of 100."""
    groups: dict[str, tuple[dict[str, Any], list[FindingKey]]] = {}
    keep = set(keep_notes)
    for key, deliveries in sent.items():
        if not deliveries:
            continue
        status = workflow_status.get(key, "NEW")
        body = update_for(route_name, deliveries, status, keep_note=key in keep)
        signature = json.dumps(body, sort_keys=True)
        groups.setdefault(signature, (body, []))[1].append(key)
    updates = []
    for body, keys in groups.values():
        for start in range(0, len(keys), MAX_FINDINGS_PER_CALL):
            chunk = keys[start : start + MAX_FINDINGS_PER_CALL]
            identifiers = [{"ProductArn": arn, "Id": fid} for arn, fid in chunk]
            updates.append(Update(identifiers, body))
    return updates


@dataclass(frozen=True)
class Current:
    """What Security Hub holds for a finding now: the write-back decides from this, never
    from the event's copy, which may be stale (a queue backlog, EventBridge retrying for an
    hour, a dead-letter replay)."""

    workflow_status: str
    record_state: str
    note_by: str | None  # who wrote the finding's Note, None without one
    # The provider's last update (BatchUpdateFindings leaves it as it is).
    updated_at: str | None = None
    # (destination, reopenings notified) of each write-back mark it carries (`update_for`).
    delivered: tuple[tuple[str, int], ...] = ()

    def notified(self, destination: str, reopening: int) -> bool:
        """Whether the write-back marks say `destination` was sent this reopening (0: the
        first delivery) or a later one."""
        rounds = dict(self.delivered)
        return destination in rounds and rounds[destination] >= reopening

    @property
    def analyst_note(self) -> bool:
        return self.note_by is not None and self.note_by != UPDATED_BY

    def status_for_write_back(self) -> str:
        # Only a NEW, ACTIVE finding becomes NOTIFIED: one someone resolved, suppressed or
        # already notified keeps its status.
        return "NEW" if (self.workflow_status, self.record_state) == ("NEW", "ACTIVE") else "KEEP"


# GetFindings takes up to 20 values per filter attribute ("AwsSecurityFindingFilters",
# https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_AwsSecurityFindingFilters.html).
MAX_FILTER_VALUES = 20


def read_pages(
    operation: Callable[..., Any], retry: Retry | None = None, **params: Any
) -> Iterator[dict[str, Any]]:
    """The pages of a paged Security Hub read (GetFindings, GetFindingsV2), each page's call
    retried with backoff when it is throttled or fails transiently.

    The Security Hub client makes one attempt per call (hubrelay.aws), and GetFindings'
    quota is 3 requests per second, burst 6 (the throttling limits of the Security Hub API
    reference, in botocore's service model): the events of one console selection of 20
    findings arrive together, and a read refused for the rate would fail the event for a
    retry minutes later (WriteBackError) rather than wait a second. botocore's paginator
    cannot retry one page, so the pages are read here."""
    retry = retry or Retry(max_attempts=4, base_s=0.4)
    token: str | None = None
    while True:
        request = {**params, "NextToken": token} if token else params
        attempt = 0
        while True:
            attempt += 1
            try:
                page: dict[str, Any] = operation(**request)
                break
            except (ClientError, BotoCoreError) as error:
                if _transient(error) and retry.pause(attempt):
                    continue
                raise
        yield page
        token = page.get("NextToken")
        if not token:
            return


def _delivered(fields: Any) -> tuple[tuple[str, int], ...]:
    """The write-back marks of a finding's UserDefinedFields: `hubrelay:<destination>` and
    its `hubrelay:<destination>:reopened` count (none: 0)."""
    if not isinstance(fields, Mapping):
        return ()
    out = []
    for key in fields:
        if not (isinstance(key, str) and key.startswith(MARKER_PREFIX)):
            continue
        if key.endswith(REOPENED_SUFFIX):
            continue
        destination = key[len(MARKER_PREFIX) :]
        out.append((destination, reopenings_notified(fields, destination)))
    return tuple(out)


def read_current(
    client: Any, keys: Iterable[FindingKey], retry: Retry | None = None
) -> dict[FindingKey, Current]:
    """The current state of each finding (GetFindings by Id and ProductArn); a finding
    Security Hub does not hold is left out. A throttled or failed read is retried
    (`read_pages`); ClientError or BotoCoreError once the retries are spent."""
    wanted = sorted(set(keys))
    found: dict[FindingKey, Current] = {}
    for start in range(0, len(wanted), MAX_FILTER_VALUES):
        chunk = wanted[start : start + MAX_FILTER_VALUES]
        filters = {
            "Id": [{"Value": fid, "Comparison": "EQUALS"} for _, fid in chunk],
            "ProductArn": [
                {"Value": arn, "Comparison": "EQUALS"} for arn in sorted({a for a, _ in chunk})
            ],
        }
        for page in read_pages(client.get_findings, retry, Filters=filters):
            for finding in page.get("Findings", []):
                key = (finding["ProductArn"], finding["Id"])
                if key in chunk:
                    found[key] = Current(
                        str((finding.get("Workflow") or {}).get("Status") or "NEW"),
                        str(finding.get("RecordState") or "ACTIVE"),
                        (finding.get("Note") or {}).get("UpdatedBy"),
                        finding.get("UpdatedAt"),
                        _delivered(finding.get("UserDefinedFields")),
                    )
    return found


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
