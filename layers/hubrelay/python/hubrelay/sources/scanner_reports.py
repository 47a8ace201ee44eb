"""Scanner reports in S3: SARIF 2.1.0, Trivy JSON, Grype JSON, or ASFF (passthrough).

New objects under the reports prefix are read oldest first (LastModified, then key); each
object is a unit, so the cursor moves one report at a time, and inside a report: a run
whose time runs out between two chunks of records commits `partial` (key, ETag, the
offset of the next record, the scanner classes not complete so far), and the next run
reads that version again from there (the records before it only for their Ids, which the
archive decision after the last record needs); an overwritten report (new ETag) is read
from its start. Reports over 4 MiB (Trivy and Grype) are read as a stream, in two passes
(`streamjson`), so the collector never holds the document. The cursor keeps the newest
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
complete only for the scanner classes it ran (vulnerability, secret, misconfiguration:
`vulnscan`), and archives only findings of those. ASFF files are not complete scans: they
carry RecordState themselves.

ASFF files are passed through with the stack's ProductArn and account, after two safe
repairs (Trivy's contrib/asff.tpl leaves Regions blank when AWS_REGION is not set): a blank
Resources[].Region or Partition becomes the finding's Region or its partition, and any
other blank optional string is dropped. A file that holds one Id twice keeps one copy, the
one with the latest UpdatedAt (the first of equals), and warns about the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError
from botocore.model import ListShape, MapShape, Shape, StructureShape

from hubrelay import asff
from hubrelay.loading import load_json
from hubrelay.sources import (
    UNCLASSED,
    VULNERABILITY,
    Context,
    Cursor,
    Finding,
    MappingError,
    Parsed,
    Record,
    Scanned,
    Unit,
    parse_time,
    sarif,
    streamjson,
    vulnscan,
)

FORMATS = ("sarif", "trivy", "grype", "asff")
OVERLAP = timedelta(minutes=30)
# Larger reports are read as a stream (`_stream`), smaller ones whole: a document of this
# size parses into a few tens of MB, and one pass over it costs less than two.
STREAM_BYTES = 4 * 1024 * 1024


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
        # A clean Trivy report: Trivy leaves Results out when it is empty (`json:",omitempty"`
        # on types.Report.Results), so its SchemaVersion and ArtifactName are all it holds.
        if "SchemaVersion" in document and "ArtifactName" in document:
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


def folder_of(key: str) -> str:
    """The folder of an S3 key, which its report's scope and finding Ids are part of:
    everything before the last "/" (the configured prefix included), "" at the top."""
    return key.rsplit("/", 1)[0] if "/" in key else ""


def parse_report(document: Any, origin: str, folder: str, fmt: str | None = None) -> Parsed:
    """(records, complete scopes, file-level errors) of a report document."""
    records, complete, errors = read_report(document, origin, folder, fmt)
    return records, set(complete), errors


def read_report(document: Any, origin: str, folder: str, fmt: str | None = None) -> Scanned:
    """(records, complete scopes with the classes each is scanned for, file-level errors)."""
    fmt = fmt or detect_format(document)
    if fmt == "sarif":
        records, complete, errors = sarif.records(document, origin, folder)
        return records, dict.fromkeys(complete, frozenset({UNCLASSED})), errors
    if fmt == "trivy":
        return vulnscan.trivy_records(document, origin, folder)
    if fmt == "grype":
        return vulnscan.grype_records(document, origin, folder)
    if fmt == "asff":
        findings = document.get("Findings") if isinstance(document, Mapping) else document
        if not isinstance(findings, list):
            raise MappingError('expected a JSON array of findings or {"Findings": [...]}')
        scope = f"asff:{folder}"
        records, warnings = _one_per_id(
            [Record(f, f"{origin}#[{i}]", "asff", scope) for i, f in enumerate(findings)]
        )
        # The warnings go with the file's errors (so the error report and `hubrelay convert`
        # name them); they change nothing else, ASFF files never being complete scans.
        return records, {}, warnings
    raise MappingError(f"unknown report format {fmt!r} (one of {', '.join(FORMATS)})")


def _one_per_id(records: list[Record]) -> tuple[list[Record], list[tuple[str, str]]]:
    """One record per finding Id, and a warning for each copy left out.

    A finding is its Id (with the ProductArn, which the passthrough sets:
    https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_AwsSecurityFindingIdentifier.html),
    and the collector sends one per Id, so only one copy can go. The copy kept is the one
    updated last by its UpdatedAt, "when the security findings provider last updated the
    finding record" (https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_AwsSecurityFinding.html);
    of copies equally recent, or whose UpdatedAt cannot be read, the first in the file
    (what the collector kept before: the first of an Id wins).
    """
    out: list[Record] = []
    slot: dict[str, int] = {}  # Id -> where its kept copy is in `out`
    warnings: list[tuple[str, str]] = []
    for record in records:
        fid = record.native.get("Id") if isinstance(record.native, Mapping) else None
        if not isinstance(fid, str):
            out.append(record)  # map_asff refuses it, with its reason
            continue
        if fid not in slot:
            slot[fid] = len(out)
            out.append(record)
            continue
        first = out[slot[fid]]
        if _newer(record, first):
            out[slot[fid]], kept, dropped = record, record, first
        else:
            kept, dropped = first, record
        warnings.append(
            (
                dropped.position,
                f"warning: duplicate Id {fid[:200]!r}: kept the copy at {kept.position}"
                f" ({_updated_at(kept)}), dropped this one ({_updated_at(dropped)})",
            )
        )
    return out, warnings


def _updated(record: Record) -> datetime | None:
    try:
        return parse_time(record.native.get("UpdatedAt"))
    except ValueError:  # MappingError: missing or unreadable
        return None


def _newer(record: Record, than: Record) -> bool:
    mine, theirs = _updated(record), _updated(than)
    return mine is not None and (theirs is None or mine > theirs)


def _updated_at(record: Record) -> str:
    value = record.native.get("UpdatedAt")
    return f"UpdatedAt {str(value)[:64]}" if value is not None else "no UpdatedAt"


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
        return {
            key: _without_blank_optionals(item, shape.value)
            for key, item in value.items()
            if not (shape.value.type_name == "string" and _blank(item))
        }
    return value


MAPPERS = {
    "sarif": sarif.map_result,
    "trivy": vulnscan.map_trivy,
    "trivy-misconfig": vulnscan.map_trivy_misconfig,
    "trivy-secret": vulnscan.map_trivy_secret,
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
        folder = folder_of(key)
        if obj.get("Size", 0) > self.max_bytes:
            reason = f"report is {obj['Size']} bytes, over the {self.max_bytes}-byte limit"
            return Unit([], cursor, origin, errors=[(origin, reason)])
        try:
            if obj.get("Size", 0) > self.stream_bytes:
                return self._stream(obj, cursor, origin, folder)
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"]
            document = load_json(body.read(), what=origin)
            records, complete, errors = read_report(document, origin, folder)
        except (ValueError, RecursionError) as exc:  # JSON or format errors
            return Unit([], cursor, origin, errors=[(origin, f"invalid report: {exc}")])
        return Unit(
            records, cursor, origin, frozenset(complete), errors=errors, complete_classes=complete
        )

    def _body(self, obj: Mapping[str, Any]) -> Any:
        """The object's body, of the version listed: IfMatch on its ETag, so that the two
        passes over a large report read the same bytes (S3 answers 412 Precondition Failed
        once it is overwritten: "GetObject",
        https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html)."""
        return self.s3.get_object(Bucket=self.bucket, Key=obj["Key"], IfMatch=obj["ETag"])["Body"]

    def _stream(self, obj: Mapping[str, Any], cursor: Cursor, origin: str, folder: str) -> Unit:
        """A large report in two passes over its stream (hubrelay.sources.streamjson): the
        skeleton first (format, scope, completeness, errors), then the records one by one
        as the collector asks for them. Trivy and Grype only; other formats are read whole
        afterwards."""
        skeleton = streamjson.skeleton(self._body(obj), origin)
        fmt = detect_format(skeleton)
        if fmt == "trivy":
            scan = vulnscan.trivy_scan(skeleton, origin, folder)
            records: Iterable[Record] = _Streamed(
                lambda: self._body(obj), origin, lambda path, item: _trivy_record(scan, path, item)
            )
            complete, errors = scan.complete, scan.errors
        elif fmt == "grype":
            scope, context = vulnscan.grype_scan(skeleton, folder)
            records = _Streamed(
                lambda: self._body(obj),
                origin,
                lambda path, item: _grype_record(origin, scope, context, path, item),
            )
            complete, errors = {scope: frozenset({VULNERABILITY})}, []
        else:
            # Not a format read as a stream: whole, as a small report is.
            document = load_json(self._body(obj).read(), what=origin)
            records, complete, errors = read_report(document, origin, folder, fmt)
        return Unit(
            records, cursor, origin, frozenset(complete), errors=errors, complete_classes=complete
        )


@dataclass
class _Streamed:
    """The records of a large report, read from a new stream each time they are iterated."""

    open: Callable[[], Any]
    origin: str
    record: Callable[[streamjson.Path, Any], Record | None]

    def __iter__(self) -> Iterator[Record]:
        for path, item in streamjson.elements(self.open(), self.origin):
            if (found := self.record(path, item)) is not None:
                yield found


def _trivy_record(scan: vulnscan.TrivyScan, path: streamjson.Path, item: Any) -> Record | None:
    """The record at ("Results", r, list, i), unless its result is not an object."""
    if len(path) != 4 or path[0] != "Results":
        return None
    _, r, key, i = path
    if not isinstance(r, int) or r not in scan.contexts:
        return None
    return scan.record(r, str(key), int(i), item)


def _grype_record(
    origin: str, scope: str, context: dict[str, Any], path: streamjson.Path, item: Any
) -> Record | None:
    """The record at ("matches", i)."""
    if len(path) != 2 or path[0] != "matches":
        return None
    return vulnscan.grype_record(origin, scope, context, int(path[1]), item)


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
