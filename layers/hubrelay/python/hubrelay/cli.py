"""The `hubrelay` command: pre-flight checks for partners and operators."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from hubrelay import asff, loading, message
from hubrelay.commands import route
from hubrelay.settings import MAX_FINDING_BYTES


def _read(path: str) -> Any:
    """The JSON of a file, read under the loading policy; LoadError names the file."""
    with open(path, "rb") as handle:
        return loading.load_json(handle.read(), what=path)


def _refused(path: str, error: Exception) -> int:
    """One line on stderr naming the file and why it cannot be used; exit code 2."""
    text = str(error) if isinstance(error, loading.LoadError) else f"{path}: {error}"
    print(" ".join(text.split()), file=sys.stderr)
    return 2


def _load_findings(path: str) -> list[Any]:
    """Findings from a JSON array, {"Findings": [...]}, or a queue message."""
    document = _read(path)
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
        return _refused(args.file, exc)
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


def convert(args: argparse.Namespace) -> int:
    """Print the findings the collector would send for a native file; errors to stderr."""
    # Imported here so that `hubrelay validate` does not load the sources.
    from hubrelay.sources import Context, MappingError, files

    try:
        document = _read(args.file)
        fmt = None if args.format == "auto" else args.format
        records, problems = files.read_records(
            document, fmt, args.file, args.mapping, key=args.key or ""
        )
        ctx = Context(args.account, (args.region,), args.product_arn)
        ctx.product_arn_in(args.region)  # a malformed --product-arn fails here, clearly
    except (OSError, ValueError, MappingError) as exc:
        return _refused(args.file, exc)
    findings, errors = files.map_records(records, ctx)
    for position, reason in problems + errors:
        print(f"{position}: {reason}", file=sys.stderr)
    print(json.dumps(findings, indent=2))
    print(
        f"{len(records)} records: {len(findings)} findings, {len(problems + errors)} errors",
        file=sys.stderr,
    )
    return 1 if problems or errors else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hubrelay", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("validate", help="check a JSON file of ASFF findings")
    check.add_argument("file")
    check.add_argument("--max-finding-bytes", type=int, default=MAX_FINDING_BYTES)
    check.set_defaults(run=validate)
    conv = commands.add_parser(
        "convert", help="turn a native file (SARIF, Trivy, Grype, ASFF, Health, vendor) into ASFF"
    )
    conv.add_argument("file")
    conv.add_argument(
        "--format",
        default="auto",
        choices=["auto", "sarif", "trivy", "grype", "asff", "health", "vendor"],
    )
    conv.add_argument("--mapping", default="", help="vendor mapping file (default: built-in)")
    conv.add_argument(
        "--key",
        default="",
        metavar="S3_KEY",
        help="the report's S3 key in the reports bucket (its folder is part of the scope and "
        "of Trivy's and Grype's finding Ids); default: a report at the top of the bucket",
    )
    conv.add_argument("--account", default="123456789012", help="AwsAccountId of the findings")
    conv.add_argument("--region", default="us-east-1", help="Region of the ProductArn")
    conv.add_argument("--product-arn", default="", help="partner product ARN (default: private)")
    conv.set_defaults(run=convert)
    route.add_parser(commands)
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
