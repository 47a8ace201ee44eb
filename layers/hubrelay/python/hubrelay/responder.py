"""The responder: route one Security Hub event out, then write the outcome back.

decide -> plan -> per delivery: once (idempotency) -> send (retries inside the
destination) -> on failure, the finding's delivery goes to the responder's dead-letter
queue with the reason, and every other delivery carries on -> BatchUpdateFindings.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hubrelay import writeback
from hubrelay.destinations import DeliveryError, opscenter, sns, vendor, webhook
from hubrelay.http import Client
from hubrelay.idempotency import InProgress, Ledger, NoLedger
from hubrelay.routing import Decision, Delivery, FindingKey, RouteConfig, decide, plan
from hubrelay.settings import Settings

DLQ_VERSION = 1


class WriteBackError(Exception):
    """Deliveries happened but Security Hub did not record them yet."""


class DeadLetterError(Exception):
    """A failed delivery could not be parked in the dead-letter queue: retry the event."""


@dataclass
class Deps:
    """Everything the responder talks to (boto3 clients, secrets, HTTP, idempotency)."""

    securityhub: Callable[[str], Any]  # Region -> client
    sns: Any
    ssm: Any
    sqs: Any
    secret: Callable[[str], str]  # secret ARN -> SecretString (cached)
    http: Client
    ledger: Ledger | NoLedger


@dataclass
class Outcome:
    decision: Decision
    delivered: list[tuple[str, list[FindingKey], str]] = field(default_factory=list)
    duplicates: list[tuple[str, list[FindingKey], str]] = field(default_factory=list)
    failed: list[tuple[str, list[FindingKey], str]] = field(default_factory=list)
    dead_lettered: int = 0
    writeback: writeback.Result | None = None


def _send(
    delivery: Delivery, settings: Settings, deps: Deps, key: dict[str, str]
) -> dict[str, Any]:
    destination = delivery.destination
    if destination == "webhook":
        secret = _json_secret(_secret(deps, settings.webhook_secret_arn, "webhook"), "webhook")
        return webhook.send(delivery.payload, secret, deps.http, webhook.delivery_id(key))
    if destination == "sns":
        return sns.send(delivery.payload, deps.sns, settings.sns_topic_arn)
    if destination == "opscenter":
        return opscenter.send(delivery.payload, deps.ssm)
    credentials = vendor.credentials(
        _secret(deps, settings.vendor_secret_arn, "vendor"), settings.vendor_api_url
    )
    return vendor.send(delivery.payload, credentials, deps.http)


def _secret(deps: Deps, arn: str, what: str) -> str:
    try:
        return deps.secret(arn)
    except Exception as error:
        # Any failure: report its kind, never anything that might hold the value.
        raise DeliveryError(f"{what}: cannot read its secret ({type(error).__name__})") from None


def _json_secret(text: str, what: str) -> Mapping[str, Any]:
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if not isinstance(document, Mapping):
        raise DeliveryError(f"{what}: its secret is not a JSON object")
    return document


def dead_letter_body(
    event: Mapping[str, Any], delivery: Delivery, reason: str, decision: Decision
) -> str:
    """The DLQ message: the reason, and the event narrowed to the failed findings.

    `event` can be replayed as is (`hubrelay route`, or sent back to the responder):
    idempotency keeps the deliveries that did succeed from being repeated.
    """
    replay = copy.deepcopy(dict(event))
    wanted = set(delivery.keys)
    detail = replay.get("detail")
    if not isinstance(detail, dict):
        detail = replay["detail"] = {}
    detail["findings"] = [
        f
        for f in detail.get("findings", [])
        if isinstance(f, dict) and (f.get("ProductArn"), f.get("Id")) in wanted
    ]
    route = decision.route
    return json.dumps(
        {
            "version": DLQ_VERSION,
            "reason": reason,
            "destination": delivery.destination,
            "route": {"kind": route.kind, "name": route.name, "action": route.action}
            if route
            else None,
            "findings": [{"ProductArn": arn, "Id": fid} for arn, fid in delivery.keys],
            "event": replay,
        }
    )


def respond(event: Any, settings: Settings, config: RouteConfig, deps: Deps) -> Outcome:
    decision = decide(event, config)
    outcome = Outcome(decision)
    if not decision.accepted or decision.route is None:
        return outcome
    route = decision.route
    sent: dict[FindingKey, list[writeback.Sent]] = {}
    fresh: set[FindingKey] = set()
    dead_letter_failures: list[str] = []
    for delivery in plan(decision, config):
        key = delivery.idempotency_key(route)
        try:
            once = deps.ledger.once(key, lambda d=delivery, k=key: _send(d, settings, deps, k))  # type: ignore[misc]
        except InProgress:
            outcome.duplicates.append((delivery.destination, delivery.keys, "in progress"))
            continue
        except DeliveryError as error:
            reason = str(error)
            outcome.failed.append((delivery.destination, delivery.keys, reason))
            if not _dead_letter(deps, settings, event, delivery, reason, decision):
                dead_letter_failures.append(reason)
            else:
                outcome.dead_lettered += 1
            continue
        reference = str(once.result.get("reference", ""))
        target = outcome.delivered if once.fresh else outcome.duplicates
        target.append((delivery.destination, delivery.keys, reference))
        if once.fresh:
            fresh.update(delivery.keys)
        # Duplicates are written back too: the invocation that delivered may have stopped
        # before its own write-back, and the same Note/fields again change nothing.
        for finding_key in delivery.keys:
            sent.setdefault(finding_key, []).append(writeback.Sent(delivery.destination, reference))
    if sent:
        # Only a fresh delivery moves the workflow: a duplicate's event may be stale, and
        # setting NOTIFIED from it could reopen a finding someone resolved since.
        status = {
            f.key: f.workflow_status if f.key in fresh else "UNCHANGED" for f in decision.findings
        }
        updates = writeback.build_updates(route.name, sent, status)
        outcome.writeback = writeback.apply(
            deps.securityhub(decision.region or settings.region),
            updates,
            max_backoff_s=settings.max_retry_backoff_s,
        )
        if pending := writeback.still_pending(outcome.writeback):
            # Without the write-back the finding stays NEW and would be routed again by
            # the next Imported event: fail, so the event is retried; the ledger turns the
            # retry's deliveries into duplicates and only the write-back is redone.
            raise WriteBackError(f"{len(pending)} findings not written back: {pending[:3]}")
    if dead_letter_failures:
        raise DeadLetterError(
            f"{len(dead_letter_failures)} failed deliveries could not be dead-lettered"
        )
    return outcome


def _dead_letter(
    deps: Deps,
    settings: Settings,
    event: Any,
    delivery: Delivery,
    reason: str,
    decision: Decision,
) -> bool:
    if not settings.responder_dlq_url:
        return False
    body = dead_letter_body(event, delivery, reason, decision)
    try:
        deps.sqs.send_message(
            QueueUrl=settings.responder_dlq_url,
            MessageBody=body,
            MessageAttributes={
                "reason": {"DataType": "String", "StringValue": reason[:256]},
                "destination": {"DataType": "String", "StringValue": delivery.destination},
            },
        )
    except (ClientError, BotoCoreError):
        return False
    return True


def default_deps(settings: Settings) -> Deps:
    """Real clients, for the Lambda function and `hubrelay route`."""
    from aws_lambda_powertools.utilities import parameters

    from hubrelay import aws

    def secret(arn: str) -> str:
        value = parameters.get_secret(arn, max_age=settings.secret_max_age_s)
        return value.decode("utf-8") if isinstance(value, bytes) else str(value)

    ledger: Ledger | NoLedger = (
        Ledger(
            settings.idempotency_table, settings.idempotency_window_minutes, aws.client("dynamodb")
        )
        if settings.idempotency_table
        else NoLedger()
    )
    return Deps(
        securityhub=aws.securityhub,
        sns=aws.client("sns"),
        ssm=aws.client("ssm"),
        sqs=aws.client("sqs"),
        secret=secret,
        http=Client(
            timeout_s=settings.http_timeout_s,
            max_attempts=settings.http_max_attempts,
            max_backoff_s=settings.max_retry_backoff_s,
        ),
        ledger=ledger,
    )


def preview(
    event: Any,
    config: RouteConfig,
    signing_secret: str | None = None,
) -> dict[str, Any]:
    """What `respond` would do with `event`, without sending anything (`hubrelay route`).

    The webhook signature depends on the send time and the signing secret: it is computed
    (for now) when `signing_secret` is given, else shown as a placeholder.
    """
    decision = decide(event, config)
    report: dict[str, Any] = {
        "accepted": decision.accepted,
        "reason": decision.reason,
        "route": None,
        "deliveries": [],
        "writeBack": [],
        "skipped": [{"finding": list(k), "why": why} for k, why in decision.skipped],
        "rejectedFindings": [{"index": i, "why": why} for i, why in decision.rejected],
    }
    route = decision.route
    if not decision.accepted or route is None:
        return report
    report["route"] = {"kind": route.kind, "name": route.name, "action": route.action}
    sent: dict[FindingKey, list[writeback.Sent]] = {}
    for delivery in plan(decision, config):
        key = delivery.idempotency_key(route)
        entry: dict[str, Any] = {
            "destination": delivery.destination,
            "findings": [{"ProductArn": arn, "Id": fid} for arn, fid in delivery.keys],
            "idempotencyKey": key,
            "payload": delivery.payload,
        }
        if delivery.destination == "webhook":
            body = str(delivery.payload["body"])
            entry["headers"] = (
                webhook.signed_headers(body, signing_secret, webhook.delivery_id(key))
                if signing_secret
                else {
                    "Content-Type": "application/json",
                    webhook.TIMESTAMP_HEADER: "<unix seconds at send time>",
                    webhook.SIGNATURE_HEADER: "v1=<hex HMAC-SHA256(signing secret, "
                    "timestamp + '.' + body)>",
                    webhook.DELIVERY_HEADER: webhook.delivery_id(key),
                }
            )
        report["deliveries"].append(entry)
        for finding_key in delivery.keys:
            placeholder = f"<{delivery.destination} reference>"
            sent.setdefault(finding_key, []).append(
                writeback.Sent(delivery.destination, placeholder)
            )
    status = {f.key: f.workflow_status for f in decision.findings}
    report["writeBack"] = [
        {"operation": "BatchUpdateFindings", "request": update.request()}
        for update in writeback.build_updates(route.name, sent, status)
    ]
    return report


def outcome_report(outcome: Outcome) -> dict[str, Any]:
    """A JSON-able summary of what `respond` did."""
    unprocessed = outcome.writeback.unprocessed if outcome.writeback else []
    return {
        "accepted": outcome.decision.accepted,
        "reason": outcome.decision.reason,
        "delivered": [
            {"destination": d, "findings": [list(k) for k in keys], "reference": ref}
            for d, keys, ref in outcome.delivered
        ],
        "duplicates": [
            {"destination": d, "findings": [list(k) for k in keys], "reference": ref}
            for d, keys, ref in outcome.duplicates
        ],
        "failed": [
            {"destination": d, "findings": [list(k) for k in keys], "reason": why}
            for d, keys, why in outcome.failed
        ],
        "deadLettered": outcome.dead_lettered,
        "writeBackUnprocessed": unprocessed,
    }
