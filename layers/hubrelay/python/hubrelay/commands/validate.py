"""`hubrelay validate FILE`: every documented ASFF limit and botocore's own validation."""

from __future__ import annotations

import argparse
from typing import Any

from hubrelay import asff
from hubrelay.commands import inputs
from hubrelay.commands.common import CommandError, positive_int, refused
from hubrelay.settings import MAX_FINDING_BYTES


def add_parser(commands: Any) -> None:
    check = commands.add_parser(
        "validate",
        help='check a JSON file of ASFF findings (an array, {"Findings": [...]}, a queue '
        "message or an array of queue messages)",
    )
    check.add_argument("file", help='findings: an array, {"Findings": [...]} or queue messages')
    check.add_argument(
        "--max-finding-bytes",
        type=positive_int,
        default=MAX_FINDING_BYTES,
        help=f"largest finding, in bytes of its JSON (default: {MAX_FINDING_BYTES:,}, "
        "Security Hub's 240 KB)",
    )
    check.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        findings = inputs.load_findings(args.file)
    except (OSError, ValueError, CommandError) as exc:
        return refused(args.file, exc)
    bad = 0
    for index, finding in enumerate(findings):
        violations = asff.validate_finding(finding, max_finding_bytes=args.max_finding_bytes)
        if violations:
            bad += 1
            print(f"[{index}] INVALID")
            for violation in violations:
                print(f"    {violation}")
    print(f"{len(findings)} findings: {len(findings) - bad} valid, {bad} invalid")
    return 1 if bad else 0
