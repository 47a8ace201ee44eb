"""Scanner reports in S3: SARIF 2.1.0, Trivy JSON, Grype JSON, or ASFF (passthrough).

New objects under the reports prefix are read oldest first (LastModified, then key); each
object is a unit, so the cursor moves one report at a time, and inside a report: a run
whose time runs out between two chunks of records commits `partial` (key, ETag, the
offset of the next record, the scanner classes not complete so far), and the next run
reads that version again from there (the records before it only for their Ids, which the
archive decision after the last record needs); an overwritten report (new ETag) is read
from its start. Reports over 4 MiB, of every format, are read as a stream, in two passes
(`reports.read_stream`), so the collector never holds the document. The cursor keeps the newest
LastModified read plus the objects (key and ETag) read within an overlap window before
it, so an object that shows up late with an older LastModified (a slow multipart upload)
is still read, and an overwritten report (new ETag) is read again. Objects under the
error-report prefix and objects over `max_report_bytes` are never parsed (the latter is
reported as an error).

Scope: a report is a complete scan of "its folder + its scanned target" (Trivy
ArtifactName, Grype source target, each SARIF run's tool, repository and category), so a
finding absent from a newer report of the same scope is archived. Keep one folder per
scanned target when targets share names. Trivy and Grype finding Ids include the scope, so
one image scanned in two folders is two sets of findings. A Trivy or Grype report is
complete only for the scanner classes it ran (vulnerability, secret, misconfiguration,
license: `trivy`), and archives only findings of those. ASFF files are not complete scans: they
carry RecordState themselves.

ASFF files are passed through with the stack's ProductArn and account, after three safe
repairs (Trivy's contrib/asff.tpl leaves Regions blank when AWS_REGION is not set): a blank
Resources[].Region or Partition becomes the finding's Region or its partition, and any
other blank optional string is dropped; and a number where a map holds strings
(Details.Other: older templates write CVSS scores unquoted) becomes its text. A file of JSON
Lines (one finding a line: prowler 2) is read as an array. A file that holds one Id twice
keeps one copy, the
one with the latest UpdatedAt (the first of equals), and warns about the other
(`reports.OnePerId`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from botocore.model import ListShape, MapShape, Shape, StructureShape

from hubrelay import asff
from hubrelay.loading import load_json_values
from hubrelay.sources import (
    Context,
    Cursor,
    Finding,
    MappingError,
    Record,
    Unit,
    grype,
    parse_time,
    sarif,
    trivy,
)
from hubrelay.sources.reports import (
    FORMATS,
    STREAM_BYTES,
    detect_format,
    folder_of,
    parse_report,
    read_report,
    read_stream,
)

# What reading a report is, here for the callers that always found it here.
__all__ = [
    "FORMATS",
    "MAPPERS",
    "OVERLAP",
    "STREAM_BYTES",
    "ScannerReportsSource",
    "detect_format",
    "folder_of",
    "map_asff",
    "map_record",
    "parse_report",
    "read_report",
]
OVERLAP = timedelta(minutes=30)


def map_asff(record: Record, ctx: Context) -> list[Finding]:
    """An ASFF finding re-stamped with our ProductArn (same Region) and the account, after
    the safe repairs (module docstring)."""
    if not isinstance(record.native, Mapping):
        raise MappingError("finding is not a JSON object")
    if not isinstance(record.native.get("Id"), str):
        raise MappingError("finding has no string Id")
    # The Region is read from the ARN's own field rather than by the ProductArn pattern, so
    # that a partner ARN without an account (Trivy's
    # arn:aws:securityhub:<region>::product/aquasecurity/aquasecurity) keeps its Region,
    # and a blank one ("arn:aws:securityhub:::...", AWS_REGION unset) becomes the home's.
    region = _arn_region(record.native.get("ProductArn"))
    region = region if region in ctx.regions else ctx.home
    native = dict(record.native)
    if isinstance(native.get("Resources"), list):
        native["Resources"] = [_resource_in(r, region) for r in native["Resources"]]
    finding = _without_blank_optionals(native, asff.finding_shape())
    finding["ProductArn"] = ctx.product_arn_in(region)
    finding["AwsAccountId"] = ctx.account_id
    finding.setdefault("SchemaVersion", asff.SCHEMA_VERSION)
    now = ctx.timestamp()
    finding.setdefault("CreatedAt", now)
    finding.setdefault("UpdatedAt", finding["CreatedAt"])
    return [finding]


def _arn_region(arn: Any) -> str:
    """The Region field of an ARN, arn:partition:service:region:account-id:resource
    ("Identify AWS resources with Amazon Resource Names (ARNs)",
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html); "" if none."""
    parts = arn.split(":", 5) if isinstance(arn, str) else []
    return parts[3] if len(parts) == 6 and parts[0] == "arn" else ""


def _resource_in(resource: Any, region: str) -> Any:
    """The resource with a blank Region or Partition set to where the finding goes: Trivy's
    template fills Resources[].Region from AWS_REGION, as it does the ProductArn."""
    if not isinstance(resource, Mapping):
        return resource
    out = dict(resource)
    if _blank(out.get("Region")):
        out["Region"] = region
    if _blank(out.get("Partition")):
        out["Partition"] = asff.partition_for(region)
    return out


def _blank(value: Any) -> bool:
    return isinstance(value, str) and not asff.NOT_BLANK_RE.fullmatch(value)


def _without_blank_optionals(value: Any, shape: Shape) -> Any:
    """A copy of `value` without the blank strings Security Hub would refuse where the
    field may be left out: optional members of the botocore model, and map values. Required
    members stay, so the validator still names them."""
    if isinstance(shape, StructureShape) and isinstance(value, Mapping):
        required = set(shape.required_members)
        out: dict[Any, Any] = {}
        for key, item in value.items():
            member = shape.members.get(key)
            if member is None:
                out[key] = item  # not ASFF: botocore's validation reports it
            elif not (key not in required and member.type_name == "string" and _blank(item)):
                out[key] = _without_blank_optionals(item, member)
        return out
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [_without_blank_optionals(item, shape.member) for item in value]
    if isinstance(shape, MapShape) and isinstance(value, Mapping):
        if shape.value.type_name == "string":
            return {key: _number_text(item) for key, item in value.items() if not _blank(item)}
        return {key: _without_blank_optionals(item, shape.value) for key, item in value.items()}
    return value


def _number_text(value: Any) -> Any:
    """A number in a map of strings (Details.Other, ProductFields) as its JSON text: older
    releases of Trivy's contrib/asff.tpl write "NvdCvssScoreV3": 7.5 there unquoted (today's,
    https://github.com/aquasecurity/trivy/blob/main/contrib/asff.tpl, quote it), and Security
    Hub refuses a number where the model says string."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return json.dumps(value)
    return value


MAPPERS = {
    "sarif": sarif.map_result,
    "trivy": trivy.map_trivy,
    "trivy-misconfig": trivy.map_trivy_misconfig,
    "trivy-secret": trivy.map_trivy_secret,
    "trivy-license": trivy.map_trivy_license,
    "grype": grype.map_grype,
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
        only: tuple[str, str] | None = None,
        stream_bytes: int = STREAM_BYTES,
    ) -> None:
        self.s3 = s3
        # (key, ETag) of the one object an Object Created event names: read it, not the prefix.
        self.only = only
        self.bucket = bucket
        self.prefix = prefix
        self.skip_prefix = skip_prefix
        self.max_bytes = max_bytes
        # Reports larger than this are read as a stream, in two passes.
        self.stream_bytes = stream_bytes

    def map(self, record: Record, ctx: Context) -> list[Finding]:
        return map_record(record, ctx)

    def collect(self, cursor: Cursor) -> Iterator[Unit]:
        since = parse_time(cursor["since"]) if cursor.get("since") else None
        done: dict[str, str] = dict(cursor.get("done") or {})  # "key@etag" -> LastModified
        partial: Mapping[str, Any] = cursor.get("partial") or {}
        for obj in self._new_objects(since, done):
            # The cursor before this report: where a run that stops inside it resumes.
            before: Cursor = {"done": dict(done)}
            if since is not None:
                before["since"] = asff.timestamp(since)
            modified: datetime = obj["LastModified"]
            since = max(since, modified) if since else modified
            done[f"{obj['Key']}@{obj['ETag']}"] = asff.timestamp(modified)
            horizon = since - OVERLAP
            done = {k: t for k, t in done.items() if parse_time(t) >= horizon}
            unit = self._read(obj, {"since": asff.timestamp(since), "done": done})
            unit.resume = _resumer(before, obj)
            if (partial.get("key"), partial.get("etag")) == (obj["Key"], obj["ETag"]):
                # The same version as the run that stopped inside it (an overwritten
                # report has a new ETag and is read from its start).
                unit.skip = int(partial.get("offset") or 0)
                unit.incomplete = dict(partial.get("incomplete") or {})
            yield unit

    def _new_objects(self, since: datetime | None, done: Mapping[str, str]) -> list[dict[str, Any]]:
        if self.only is not None:
            return self._event_objects(*self.only, done)
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

    def _event_objects(self, key: str, etag: str, done: Mapping[str, str]) -> list[dict[str, Any]]:
        """The object an event names, as a listing would show it, unless already read; then
        the newer reports of its folder read before it, again, so that the newest report of
        a scope is the last read, whatever order the events came in (EventBridge does not
        promise one)."""
        obj = self._head(key, etag)
        if obj is None or f"{key}@{obj['ETag']}" in done:
            return []
        folder, modified = folder_of(key), obj["LastModified"]
        newer = []
        for entry, at in done.items():
            done_key, _, done_etag = entry.rpartition("@")
            # Newer as the schedule orders reports: LastModified, then key.
            later = (parse_time(at), done_key) > (modified, key)
            if folder_of(done_key) == folder and done_key != key and later:
                again = self._head(done_key, done_etag.strip('"'))
                newer += [again] if again is not None else []
        return [obj, *sorted(newer, key=lambda o: (o["LastModified"], o["Key"]))]

    def _head(self, key: str, etag: str) -> dict[str, Any] | None:
        """The object's listing fields if it is still the version with `etag`; None when it
        is gone or was overwritten since (the newer version's own event reads that one)."""
        try:
            head = self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        if etag and head["ETag"].strip('"') != etag:
            return None
        return {
            "Key": key,
            "ETag": head["ETag"],
            "LastModified": head["LastModified"],
            "Size": head["ContentLength"],
        }

    def _read(self, obj: Mapping[str, Any], cursor: Cursor) -> Unit:
        key = obj["Key"]
        origin = f"s3://{self.bucket}/{key}"
        if obj.get("Size", 0) > self.max_bytes:
            reason = f"report is {obj['Size']} bytes, over the {self.max_bytes}-byte limit"
            return Unit([], cursor, origin, errors=[(origin, reason)])
        try:
            if obj.get("Size", 0) > self.stream_bytes:
                # Two passes over the stream (hubrelay.sources.reports.read_stream): the
                # skeleton first, then the records one by one as the collector asks.
                read = read_stream(lambda: self._body(obj), origin, folder_of(key))
            else:
                body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"]
                document = load_json_values(body.read(), what=origin)
                read = read_report(document, origin, folder_of(key))
        except (ValueError, RecursionError) as exc:  # JSON or format errors
            return Unit([], cursor, origin, errors=[(origin, f"invalid report: {exc}")])
        records, complete, errors = read
        return Unit(
            records, cursor, origin, frozenset(complete), errors=errors, complete_classes=complete
        )

    def _body(self, obj: Mapping[str, Any]) -> Any:
        """The object's body, of the version listed: IfMatch on its ETag, so that the two
        passes over a large report read the same bytes (S3 answers 412 Precondition Failed
        once it is overwritten: "GetObject",
        https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html)."""
        return self.s3.get_object(Bucket=self.bucket, Key=obj["Key"], IfMatch=obj["ETag"])["Body"]


def _resumer(
    before: Cursor, obj: Mapping[str, Any]
) -> Callable[[int, Mapping[str, list[str]]], Cursor]:
    """The cursor that reads this report again from a record offset (Unit.resume)."""

    def resume(offset: int, incomplete: Mapping[str, list[str]]) -> Cursor:
        partial = {
            "key": obj["Key"],
            "etag": obj["ETag"],
            "offset": offset,
            "incomplete": dict(incomplete),
        }
        return {**before, "partial": partial}

    return resume
