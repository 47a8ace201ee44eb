"""`hubrelay enqueue FILE --queue-url URL`: a findings file onto the stack's findings queue
as valid queue messages, packed to the queue's size limit (the importer does the rest).
Findings the validator refuses are not sent: they go to the quarantined-findings file."""

from __future__ import annotations

import argparse
import re
from typing import Any

from hubrelay import message
from hubrelay.commands import inputs
from hubrelay.commands.common import CommandError, Progress, positive_int, refused
from hubrelay.commands.send import (
    FILE_QUARANTINE_BYTES,
    need_credentials,
    settings_from_env,
    write_quarantined,
)
from hubrelay.quarantine import Quarantine

# https://sqs.<region>.amazonaws.com/<account>/<name> and the legacy <region>.queue.amazonaws.com
_QUEUE_REGION = re.compile(r"^https://(?:sqs\.([a-z0-9-]+)|([a-z0-9-]+)\.queue)\.amazonaws\.com")
# SendMessageBatch calls per progress step.
CHUNK = 100


def add_parser(commands: Any) -> None:
    enqueue = commands.add_parser(
        "enqueue",
        help="validate a findings file and send it to the findings queue as queue messages",
    )
    enqueue.add_argument("file", help='findings: an array, {"Findings": [...]} or queue messages')
    enqueue.add_argument("--queue-url", required=True, help="the stack's FindingsQueueUrl output")
    enqueue.add_argument("--dry-run", action="store_true", help="validate and pack only")
    enqueue.add_argument(
        "--max-message-bytes",
        type=positive_int,
        default=0,
        help="message size limit (default: HUBRELAY_MAX_MESSAGE_BYTES or 1 MiB)",
    )
    enqueue.add_argument(
        "--quarantine", default="", metavar="PATH", help="default: FILE.quarantined.json"
    )
    enqueue.set_defaults(run=run)


def queue_region(url: str) -> str | None:
    match = _QUEUE_REGION.match(url)
    return (match.group(1) or match.group(2)) if match else None


def run(args: argparse.Namespace) -> int:
    from hubrelay.gathering import gather_findings

    try:
        findings = inputs.load_findings(args.file)
        settings = settings_from_env()
        limit = args.max_message_bytes or settings.max_message_bytes
        quarantine = Quarantine(FILE_QUARANTINE_BYTES)
        pairs = inputs.named(args.file, findings)
        valid = [i.finding for i in gather_findings(pairs, settings.max_finding_bytes, quarantine)]
        bodies = list(message.pack_messages(valid, limit))
        if not args.dry_run:
            need_credentials()
    except (OSError, ValueError, CommandError) as exc:
        return refused(args.file, exc)
    largest = max((len(b.encode()) for b in bodies), default=0)
    rows: list[tuple[str, object]] = [
        ("findings read", len(findings)),
        *inputs.repeated(len(findings), len(quarantine.entries), len(valid)),
        (
            "would send" if args.dry_run else "messages",
            f"{len(valid)} findings in {len(bodies)} messages (largest {largest} bytes, "
            f"limit {limit})",
        ),
    ]
    if not args.dry_run:
        try:
            rows.append(("sent", _send(args.queue_url, bodies, limit, quarantine, settings)))
        except CommandError as exc:
            return refused("", exc)
    written = "" if args.dry_run else write_quarantined(args, quarantine.entries)
    rows.append(
        (
            "quarantined" if not args.dry_run else "invalid",
            inputs.counts(quarantine.entries) + (f" (written to {written})" if written else ""),
        )
    )
    print(inputs.summary(rows))
    return 1 if quarantine.entries else 0


def _send(url: str, bodies: list[str], limit: int, quarantine: Quarantine, settings: Any) -> str:
    """SendMessageBatch through the one SQS sender; unsent messages' findings are kept."""
    from botocore.exceptions import NoRegionError

    from hubrelay import aws, importer, sqs

    try:
        client = aws.client("sqs", queue_region(url))
    except NoRegionError:
        raise CommandError("no AWS Region: set AWS_REGION (or use the queue's full URL)") from None
    retry = importer.retry_for(settings, lambda: 10**12)
    progress = Progress("messages sent", len(bodies), quiet_below=50)
    sent = calls = 0
    for start in range(0, len(bodies), CHUNK):
        entries = [{"MessageBody": body} for body in bodies[start : start + CHUNK]]
        report = sqs.send_entries(client, url, entries, max_bytes=limit, retry=retry)
        calls += report.calls
        sent += len(entries) - len(report.unsent)
        for entry, why in report.unsent:
            for finding in message.decode(entry["MessageBody"]):
                fid = str(finding.get("Id", "?"))
                quarantine.add(("SendMessageBatch",), fid, "NotEnqueued", why, finding)
        progress.update(start + len(entries))
    progress.finish()
    return f"{sent} messages in {calls} SendMessageBatch calls"
