"""IaC security scan of template.yaml with checkov: what `make scan` (part of `make lint`) runs.

checkov evaluates a template's conditions with the parameter defaults and leaves out every
resource whose condition is then false, and every Fn::If branch not taken. With the
defaults most optional parts are off, so the template is scanned twice: as it is, and as
``template.all-options.yaml``, the same text with defaults that turn every optional part on
(a collector, every destination, the automatic route, a partner product, alarms, a
customer managed key), plus one variant per other collector Source (SOURCE_VARIANTS:
their EventBridge rules). The scan fails on any failed check, on a deliberate skip without a
reason, and when a resource of a type checkov checks is missing from its results.

Deliberate skips live in the template, in the resource's Metadata, each with its reason::

    Metadata:
      checkov:
        skip:
          - id: CKV_AWS_117
            comment: Why this check does not apply here.

checkov runs from its own virtualenv (``.venv-checkov``, made by the Makefile from the
``scan`` extra of pyproject.toml as locked in uv.lock): its pins (boto3 among them) conflict
with ours.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hubrelay_emulator import cfn
from hubrelay_release import (
    ROOT,
    TEMPLATE_NAME,
    ReleaseError,
    decode_template,
    set_defaults,
)

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
ALL_OPTIONS_NAME = "template.all-options.yaml"

# Defaults that turn every optional part of the template on (valid values, never deployed).
ALL_OPTIONS: dict[str, str] = {
    "ProductArn": "arn:aws:securityhub:us-east-1:222222222222:product/generico/secure-pro",
    "Source": "vendor_api",
    "VendorApiUrl": "https://vendor.example.com/v1/findings",
    "VendorSecretArn": "arn:aws:secretsmanager:us-east-1:111122223333:secret:vendor-AbCdEf",
    "EnableWebhook": "true",
    "WebhookSecretName": "hubrelay/webhook",
    "EnableOpsCenter": "true",
    "EnableVendorBackSync": "true",
    "BackSyncApiUrl": "https://vendor.example.com/v1",
    "BackSyncSecretName": "hubrelay/vendor",
    "AutoRoute": "true",
    "EnableStatusSync": "true",
    "SecurityHubs": "Both",
    "TicketConnectorId": "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
    "AutoRouteProductNames": "GuardDuty,Inspector",
    "AlarmTopicArn": "arn:aws:sns:us-east-1:111122223333:ops-alarms",
    "KmsKeyArn": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
}

# The collector reads one Source; each other source's own resources (its EventBridge rule)
# are scanned in a variant of its own: ALL_OPTIONS with that Source.
SOURCE_VARIANTS: dict[str, dict[str, str]] = {
    "template.scanner-reports.yaml": {"Source": "scanner_reports"},
    "template.health.yaml": {"Source": "health"},
}

# Resource types checkov has checks for: each such resource must show up in its results,
# so a resource checkov silently dropped cannot pass unnoticed.
CHECKED_TYPES = frozenset(
    {
        "AWS::DynamoDB::Table",
        "AWS::IAM::Role",
        "AWS::Lambda::Function",
        "AWS::Logs::LogGroup",
        "AWS::S3::Bucket",
        "AWS::SNS::Topic",
        "AWS::SQS::Queue",
    }
)


class ScanError(Exception):
    pass


def deployed_resources(template: Mapping[str, Any]) -> dict[str, str]:
    """Logical id -> type of the resources a stack from `template` (its defaults) has."""
    resolver = cfn.Resolver.create(
        dict(template),
        {},
        region="us-east-1",
        account="111122223333",
        stack_name="hubrelay-scan",
        resolve_ssm=lambda name: "arn:aws:lambda:us-east-1:111122223333:layer:powertools:1",
    )
    return {
        logical_id: str(resource.get("Type"))
        for logical_id, resource in template["Resources"].items()
        if "Condition" not in resource or resolver.condition(resource["Condition"])
    }


def all_options_template(text: str) -> str:
    """template.yaml's text with the ALL_OPTIONS defaults (layout and line numbers kept).

    Fails when some resource would still be left out, so that the two scans together see
    every resource.
    """
    variant = set_defaults(text, ALL_OPTIONS)
    template = decode_template(variant)
    covered = set(deployed_resources(template))
    for source_variant in source_templates(text).values():
        covered |= set(deployed_resources(decode_template(source_variant)))
    off = sorted(set(template["Resources"]) - covered)
    if off:
        raise ScanError(f"ALL_OPTIONS leaves these resources out: {off}")
    return variant


def skip_problems(template: Mapping[str, Any]) -> list[str]:
    """Deliberate skips that do not say why (or that checkov would not read)."""
    problems = []
    for logical_id, resource in template.get("Resources", {}).items():
        skips = (resource.get("Metadata") or {}).get("checkov", {}).get("skip", [])
        for skip in skips if isinstance(skips, list) else [skips]:
            if not isinstance(skip, Mapping) or not str(skip.get("id", "")).startswith("CKV"):
                problems.append(f"{logical_id}: checkov skip {skip!r} has no check id")
            elif len(str(skip.get("comment", "")).strip()) < 20:
                problems.append(f"{logical_id}: checkov skip {skip['id']} needs its reason")
    return problems


def _reports(output: str) -> list[dict[str, Any]]:
    data = json.loads(output)
    reports = data if isinstance(data, list) else [data]
    return [r for r in reports if isinstance(r, dict) and "results" in r]


def source_templates(text: str) -> dict[str, str]:
    """File name -> template.yaml's text with ALL_OPTIONS and another Source."""
    return {
        name: set_defaults(text, {**ALL_OPTIONS, **changes})
        for name, changes in SOURCE_VARIANTS.items()
    }


def evaluate(
    output: str, templates: Mapping[str, Mapping[str, Any]]
) -> tuple[list[str], list[str]]:
    """(failures, summary lines) from checkov's JSON output for the scanned templates.

    `templates` maps each scanned file's name to its decoded template.
    """
    failures: list[str] = []
    seen: dict[str, set[str]] = {name: set() for name in templates}
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for report in _reports(output):
        results = report["results"]
        for kind in counts:
            for check in results.get(f"{kind}_checks", []):
                counts[kind] += 1
                name = Path(str(check.get("file_path", ""))).name
                resource = str(check.get("resource", ""))
                seen.setdefault(name, set()).add(resource.rsplit(".", 1)[-1])
                if kind == "failed":
                    failures.append(
                        f"{check['check_id']} {check.get('check_name', '')}: {resource} "
                        f"({name} lines {check.get('file_line_range')})"
                    )
        failures += [f"checkov could not parse {e}" for e in results.get("parsing_errors", [])]
    for name, template in templates.items():
        missing = sorted(
            logical_id
            for logical_id, kind in deployed_resources(template).items()
            if kind in CHECKED_TYPES and logical_id not in seen.get(name, set())
        )
        if missing:
            failures.append(f"{name}: checkov did not check {missing}")
    summary = [
        f"checkov: {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['skipped']} skipped (deliberate, with reasons in template.yaml) "
        f"over {', '.join(templates)}"
    ]
    return failures, summary


def run(checkov: Path = CHECKOV, root: Path = ROOT) -> int:
    if not checkov.is_file():
        raise ScanError(f"{checkov} is missing: run `make scan`, which installs it")
    text = (root / TEMPLATE_NAME).read_text(encoding="utf-8")
    template = decode_template(text)
    problems = skip_problems(template)
    with tempfile.TemporaryDirectory(prefix="hubrelay-scan-") as folder:
        variant_path = Path(folder) / ALL_OPTIONS_NAME
        variant_path.write_text(all_options_template(text), encoding="utf-8")
        files = {TEMPLATE_NAME: root / TEMPLATE_NAME, ALL_OPTIONS_NAME: variant_path}
        for name, source_variant in source_templates(text).items():
            files[name] = Path(folder) / name
            files[name].write_text(source_variant, encoding="utf-8")
        command = [str(checkov), "--framework", "cloudformation", "--output", "json"]
        command.append("--skip-download")  # offline: no Prisma Cloud look-ups
        for path in files.values():
            command += ["--file", str(path)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if not done.stdout.strip():
            raise ScanError(f"checkov printed nothing (exit {done.returncode}):\n{done.stderr}")
        decoded = {name: decode_template(path.read_text()) for name, path in files.items()}
        failures, summary = evaluate(done.stdout, decoded)
    for line in summary:
        print(line, flush=True)
    for line in problems + failures:
        print(f"  {line}", file=sys.stderr)
    return 1 if problems or failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkov", type=Path, default=CHECKOV, help="the checkov executable")
    args = parser.parse_args(argv)
    try:
        return run(args.checkov)
    except (ScanError, ReleaseError, cfn.TemplateError) as error:
        print(f"scan: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
