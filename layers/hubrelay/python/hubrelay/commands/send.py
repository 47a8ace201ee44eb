"""`hubrelay send FILE`: a findings file into Security Hub with the importer's own code (its
validation, one finding per identity, grouping, packing, splitting, retries), without a
queue; what Security Hub or the validator refuses is written to a file with the reasons."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from hubrelay.commands import inputs
from hubrelay.commands.common import CommandError, Progress, refused, say
from hubrelay.quarantine import Quarantine, Quarantined
from hubrelay.settings import Settings, SettingsError

# The CLI's quarantine keeps whole findings (the DLQ cuts them to fit a message).
FILE_QUARANTINE_BYTES = 64 * 1024 * 1024
# The CLI has no invocation deadline: only the retry policy's attempts bound the retries.
NO_DEADLINE_MS = 10**12
SHOWN_REASONS = 20


def add_parser(commands: Any) -> None:
    send = commands.add_parser(
        "send",
        help="validate a findings file and import it into Security Hub (BatchImportFindings) "
        "with the importer's own batching and retries",
    )
    send.add_argument("file", help='findings: an array, {"Findings": [...]} or queue messages')
    send.add_argument("--dry-run", action="store_true", help="validate and plan the calls only")
    send.add_argument(
        "--quarantine", default="", metavar="PATH", help="default: FILE.quarantined.json"
    )
    send.set_defaults(run=run)


def settings_from_env() -> Settings:
    """The importer's settings (HUBRELAY_BATCH_BYTE_BUDGET, ...) from this environment."""
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise CommandError(str(exc)) from None


def need_credentials() -> None:
    """One line, before any call, when no AWS credentials can be found."""
    import boto3

    if boto3.session.Session().get_credentials() is None:
        raise CommandError(
            "no AWS credentials: configure them (aws configure, AWS_PROFILE, or "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or use --dry-run"
        )


def run(args: argparse.Namespace) -> int:
    from hubrelay import aws, importer
    from hubrelay.gathering import gather_findings

    try:
        findings = inputs.load_findings(args.file)
        settings = settings_from_env()
        if not args.dry_run:
            need_credentials()
    except (OSError, ValueError, CommandError) as exc:
        return refused(args.file, exc)
    quarantine = Quarantine(FILE_QUARANTINE_BYTES)
    pairs = inputs.named(args.file, findings)
    items = gather_findings(pairs, settings.max_finding_bytes, quarantine)
    rows: list[tuple[str, object]] = [("findings read", len(findings))]
    rows += inputs.repeated(len(findings), len(quarantine.entries), len(items))
    if args.dry_run:
        return _plan(items, quarantine, settings, rows)
    progress = Progress("imported", len(items))
    retry = importer.retry_for(settings, lambda: NO_DEADLINE_MS)
    sender, calls = importer.deliver(
        items,
        settings,
        aws.securityhub,
        quarantine,
        retry,
        lambda: NO_DEADLINE_MS,
        on_call=lambda tally: progress.update(tally.imported),
    )
    progress.finish()
    # Nothing redelivers here: what stayed unresolved is kept with its last error.
    every = {origin for origin, _ in pairs}
    importer.keep_last_receives(sender.tally.unresolved, every, quarantine)
    tally = sender.tally
    rows += [
        (
            "imported",
            f"{tally.imported} in {tally.calls} BatchImportFindings calls "
            f"(lower bound {importer.calls_lower_bound(calls, settings)})",
        ),
        ("throttled, retried", f"{tally.throttles}, {tally.retries}"),
    ]
    written = write_quarantined(args, quarantine.entries)
    rows.append(
        (
            "quarantined",
            inputs.counts(quarantine.entries) + (f" (written to {written})" if written else ""),
        )
    )
    print(inputs.summary(rows))
    return 1 if quarantine.entries else 0


def _plan(
    items: list[Any], quarantine: Quarantine, settings: Settings, rows: list[tuple[str, object]]
) -> int:
    """--dry-run: what would be imported, in which calls, and what is invalid."""
    from hubrelay import importer

    calls = importer.plan_calls(items, settings)
    bound = importer.calls_lower_bound(calls, settings)
    groups = sorted({call.group[:2] for call in calls})  # (Region, account)
    where = ", ".join(f"{account} in {region}" for region, account in groups) or "-"
    rows += [
        (
            "would import",
            f"{len(items)} in {len(calls)} BatchImportFindings calls (lower bound {bound}): "
            f"{where}",
        ),
        ("invalid", inputs.counts(quarantine.entries)),
    ]
    _tell_reasons(quarantine.entries, "")
    print(inputs.summary(rows))
    return 1 if quarantine.entries else 0


def write_quarantined(args: argparse.Namespace, entries: list[Quarantined]) -> str:
    """Write the quarantined findings and their reasons; the path, or "" when none."""
    if not entries:
        return ""
    path = str(args.quarantine or f"{args.file}.quarantined.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(inputs.quarantined_file(entries), handle, indent=2)
    _tell_reasons(entries, path)
    return path


def _tell_reasons(entries: list[Quarantined], path: str) -> None:
    """One line per refused finding on stderr, the first few; the file has them all."""
    for entry in entries[:SHOWN_REASONS]:
        reason = " ".join(entry.reason.split())[:300]
        print(f"{','.join(entry.origins)}: {entry.code}: {reason}", file=sys.stderr)
    if len(entries) > SHOWN_REASONS:
        say(f"... and {len(entries) - SHOWN_REASONS} more" + (f" in {path}" if path else ""))
