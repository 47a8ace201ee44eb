"""`make demo ARGS="--report PATH"`: your own scanner report through the stack, after the
built-in stages. The file goes into the reports bucket as it is, a schedule tick runs the
collector (which reads whatever its scanner_reports source reads: Trivy, Grype, SARIF, ASFF),
the importer drains the queue, and Security Hub's own GetFindings says which of the report's
findings it now holds. What the collector could not read is in its error report, quoted here."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hubrelay_emulator.runner import StackEmulator

FOLDER = "your-report"  # the report's folder: part of its scope and of its findings' Ids
SAMPLE = 5


@dataclass(frozen=True)
class Report:
    name: str
    body: bytes

    @classmethod
    def read(cls, path: str) -> Report:
        """The file as the user gave it (OSError when it cannot be read)."""
        file = Path(path)
        return cls(file.name or "report.json", file.read_bytes())

    def check(self, path: str) -> None:
        """ValueError (LoadError) or MappingError naming `path` when the collector could not
        read the report at all: empty, not JSON, or no format its scanner_reports source
        reads (hubrelay.sources.reports.detect_format, the collector's own test)."""
        from hubrelay.loading import load_json
        from hubrelay.sources import MappingError, reports

        if not self.body or self.body.isspace():
            what = "0 bytes" if not self.body else "only whitespace"
            raise ValueError(f"{path}: the file is empty ({what}), expected a scanner report")
        document = load_json(self.body, what=path)
        try:
            reports.detect_format(document)
        except MappingError as exc:
            raise MappingError(f"{path}: {exc}") from None


@dataclass
class ReportResult:
    file: str = ""
    key: str = ""
    in_security_hub: int = 0  # the report's findings Security Hub holds after the tick
    enqueued: int = 0
    sample: list[dict[str, str]] = field(default_factory=list)  # Id, Title, Severity
    errors: list[str] = field(default_factory=list)  # "position: reason", from error reports
    error_reports: list[str] = field(default_factory=list)


def _held(stack: StackEmulator) -> dict[str, dict[str, Any]]:
    """The stack account's findings by Id, through GetFindings as the account would ask."""
    client = stack.client("securityhub")
    pages = client.get_paginator("get_findings").paginate()
    return {f["Id"]: f for page in pages for f in page["Findings"]}


def _errors(stack: StackEmulator, urls: list[str]) -> list[str]:
    s3 = stack.client("s3")
    lines = []
    for url in urls:
        bucket, key = url.removeprefix("s3://").split("/", 1)
        document = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        lines += [f"{e['position']}: {e['reason']}" for e in document.get("errors", [])]
    return lines


def collect(
    stack: StackEmulator,
    report: Report,
    tick: Callable[[StackEmulator], dict[str, Any]],
    progress: Callable[[str], None],
) -> ReportResult:
    result = ReportResult(file=report.name)
    if stack.parameters.get("Source") != "scanner_reports":
        result.errors.append("--report needs the scanner_reports source (the default)")
        return result
    bucket = stack.outputs["CollectorReportsBucket"]
    result.key = f"{stack.parameters.get('ReportsPrefix', 'reports/')}{FOLDER}/{report.name}"
    before = _held(stack)
    stack.client("s3").put_object(Bucket=bucket, Key=result.key, Body=report.body)
    stack.advance(301)  # the next schedule tick, past any backoff of earlier stages
    outcome = tick(stack)
    stack.drain()
    new = [f for fid, f in _held(stack).items() if fid not in before]
    result.in_security_hub = len(new)
    result.enqueued = outcome.get("enqueued", 0)
    result.sample = [
        {"Id": f["Id"], "Title": f.get("Title", ""), "Severity": f["Severity"].get("Label", "")}
        for f in new[:SAMPLE]
    ]
    result.error_reports = list(outcome.get("errorReports", []))
    result.errors = _errors(stack, result.error_reports)
    if outcome.get("error"):
        result.errors.append(str(outcome["error"]))
    progress(
        f"your report {report.name}: {result.in_security_hub} findings in Security Hub, "
        f"{len(result.errors)} errors"
    )
    return result


def rows(result: ReportResult) -> list[tuple[str, str]]:
    out = [
        (
            "your report",
            f"{result.file}: {result.in_security_hub} findings in Security Hub "
            f"(s3 key {result.key or '-'})",
        )
    ]
    out += [("  finding", f"{s['Severity']:<8} {s['Title']}  [{s['Id']}]") for s in result.sample]
    out += [("  error report", url) for url in result.error_reports]
    out += [("  error", line) for line in result.errors]
    return out


def failures(result: ReportResult) -> list[str]:
    """A report that yielded nothing but errors fails the demo; skipped records of an
    otherwise good report are shown in its rows, and the rest went through."""
    if result.in_security_hub:
        return []
    return [f"your report {result.file}: {line}" for line in result.errors]
