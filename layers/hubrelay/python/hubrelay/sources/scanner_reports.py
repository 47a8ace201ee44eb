"""Scanner reports in S3: SARIF 2.1.0, Trivy JSON, Grype JSON, or ASFF (passthrough).

New objects under the reports prefix are read oldest first (LastModified, then key); each
object is a unit, so the cursor moves one report at a time. The cursor keeps the newest
LastModified read plus the objects (key and ETag) read within an overlap window before
it, so an object that shows up late with an older LastModified (a slow multipart upload)
is still read, and an overwritten report (new ETag) is read again. Objects under the
error-report prefix and objects over `max_report_bytes` are never parsed (the latter is
reported as an error).

Scope: a report is a complete scan of "its folder + its scanned target" (Trivy
ArtifactName, Grype source target, each SARIF run's tool, repository and category), so a
finding absent from a newer report of the same scope is archived. Keep one folder per
scanned target when targets share names. ASFF files are not complete scans: they carry
RecordState themselves.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from hubrelay import asff
from hubrelay.loading import load_json
from hubrelay.sources import (
    Context,
    Cursor,
    Finding,
    MappingError,
    Parsed,
    Record,
    Unit,
    parse_time,
    sarif,
    vulnscan,
)

FORMATS = ("sarif", "trivy", "grype", "asff")
OVERLAP = timedelta(minutes=30)


def detect_format(document: Any) -> str:
    """Which of FORMATS a parsed JSON document is; MappingError when none."""
    if isinstance(document, Mapping):
        if "runs" in document and (
            "sarif" in str(document.get("$schema", "")).lower()
            or document.get("version") == "2.1.0"
        ):
            return "sarif"
        if "Results" in document and ("SchemaVersion" in document or "ArtifactName" in document):
            return "trivy"
        if "matches" in document and ("descriptor" in document or "source" in document):
            return "grype"
        if isinstance(document.get("Findings"), list):
            return "asff"
    if isinstance(document, list) and all(
        isinstance(f, Mapping) and "SchemaVersion" in f for f in document
    ):
        return "asff"
    raise MappingError(
        "unrecognised report: expected SARIF 2.1.0, Trivy JSON, Grype JSON or ASFF findings"
    )


def parse_report(document: Any, origin: str, folder: str, fmt: str | None = None) -> Parsed:
    """(records, complete scopes, file-level errors) of a report document."""
    fmt = fmt or detect_format(document)
    if fmt == "sarif":
        return sarif.records(document, origin, folder)
    if fmt == "trivy":
        return vulnscan.trivy_records(document, origin, folder)
    if fmt == "grype":
        return vulnscan.grype_records(document, origin, folder)
    if fmt == "asff":
        findings = document.get("Findings") if isinstance(document, Mapping) else document
        if not isinstance(findings, list):
            raise MappingError('expected a JSON array of findings or {"Findings": [...]}')
        scope = f"asff:{folder}"
        return (
            [Record(f, f"{origin}#[{i}]", "asff", scope) for i, f in enumerate(findings)],
            set(),
            [],
        )
    raise MappingError(f"unknown report format {fmt!r} (one of {', '.join(FORMATS)})")


def map_asff(record: Record, ctx: Context) -> list[Finding]:
    """An ASFF finding re-stamped with our ProductArn (same Region) and the account."""
    if not isinstance(record.native, Mapping):
        raise MappingError("finding is not a JSON object")
    if not isinstance(record.native.get("Id"), str):
        raise MappingError("finding has no string Id")
    region = asff.region_of(str(record.native.get("ProductArn", "")))
    finding = dict(record.native)
    finding["ProductArn"] = ctx.product_arn_in(region if region in ctx.regions else ctx.home)
    finding["AwsAccountId"] = ctx.account_id
    finding.setdefault("SchemaVersion", asff.SCHEMA_VERSION)
    now = ctx.timestamp()
    finding.setdefault("CreatedAt", now)
    finding.setdefault("UpdatedAt", finding["CreatedAt"])
    return [finding]


MAPPERS = {
    "sarif": sarif.map_result,
    "trivy": vulnscan.map_trivy,
    "trivy-misconfig": vulnscan.map_trivy_misconfig,
    "grype": vulnscan.map_grype,
    "asff": map_asff,
}


def map_record(record: Record, ctx: Context) -> list[Finding]:
    return MAPPERS[record.kind](record, ctx)


class ScannerReportsSource:
    name = "scanner_reports"

    def __init__(
        self,
        s3: Any,
        bucket: str,
        prefix: str = "",
        skip_prefix: str = "errors/",
        max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix
        self.skip_prefix = skip_prefix
        self.max_bytes = max_bytes

    def map(self, record: Record, ctx: Context) -> list[Finding]:
        return map_record(record, ctx)

    def collect(self, cursor: Cursor) -> Iterator[Unit]:
        since = parse_time(cursor["since"]) if cursor.get("since") else None
        done: dict[str, str] = dict(cursor.get("done") or {})  # "key@etag" -> LastModified
        for obj in self._new_objects(since, done):
            modified: datetime = obj["LastModified"]
            since = max(since, modified) if since else modified
            done[f"{obj['Key']}@{obj['ETag']}"] = asff.timestamp(modified)
            horizon = since - OVERLAP
            done = {k: t for k, t in done.items() if parse_time(t) >= horizon}
            yield self._read(obj, {"since": asff.timestamp(since), "done": done})

    def _new_objects(self, since: datetime | None, done: Mapping[str, str]) -> list[dict[str, Any]]:
        found = []
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if key.endswith("/") or (self.skip_prefix and key.startswith(self.skip_prefix)):
                    continue
                if f"{key}@{obj['ETag']}" in done:
                    continue
                if since is None or obj["LastModified"] >= since - OVERLAP:
                    found.append(obj)
        return sorted(found, key=lambda o: (o["LastModified"], o["Key"]))

    def _read(self, obj: Mapping[str, Any], cursor: Cursor) -> Unit:
        key = obj["Key"]
        origin = f"s3://{self.bucket}/{key}"
        folder = key.rsplit("/", 1)[0] if "/" in key else ""
        if obj.get("Size", 0) > self.max_bytes:
            reason = f"report is {obj['Size']} bytes, over the {self.max_bytes}-byte limit"
            return Unit([], cursor, origin, errors=[(origin, reason)])
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"]
            document = load_json(body.read(), what=origin)
            records, complete, errors = parse_report(document, origin, folder)
        except (ValueError, RecursionError) as exc:  # JSON or format errors
            return Unit([], cursor, origin, errors=[(origin, f"invalid report: {exc}")])
        return Unit(records, cursor, origin, frozenset(complete), errors)
