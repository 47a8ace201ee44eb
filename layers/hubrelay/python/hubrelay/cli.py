"""The `hubrelay` command: pre-flight checks for partners and operators."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from hubrelay import asff, message
from hubrelay.settings import MAX_FINDING_BYTES


def _load_findings(path: str) -> list[Any]:
    """Findings from a JSON array, {"Findings": [...]}, or a queue message."""
    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    if isinstance(document, list):
        return document
    if isinstance(document, dict) and isinstance(document.get("Findings"), list):
        return list(document["Findings"])
    if isinstance(document, dict) and "findings" in document:
        return list(message.decode(json.dumps(document)))
    raise ValueError(
        'expected a JSON array of findings, {"Findings": [...]} or a queue message '
        '{"version": 1, "findings": [...]}'
    )


def validate(args: argparse.Namespace) -> int:
    try:
        findings = _load_findings(args.file)
    except (OSError, ValueError) as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 2
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hubrelay", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("validate", help="check a JSON file of ASFF findings")
    check.add_argument("file")
    check.add_argument("--max-finding-bytes", type=int, default=MAX_FINDING_BYTES)
    check.set_defaults(run=validate)
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
