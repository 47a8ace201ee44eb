"""Scanner report documents to records: SARIF 2.1.0, Trivy JSON, Grype JSON or ASFF, read
whole (`read_report`) or, when large, as a stream in two passes (`read_stream`).

Both ways give the same records, scopes and errors (tests/integration/test_collector_stream
compares them). A stream is read twice (hubrelay.sources.streamjson): the first pass reads
everything but the records into a skeleton, so the format, the scope and the completeness
of the scan are known before the first record is sent, and what a record needs from
elsewhere in the file is there whatever the order: a SARIF run's tool, rules and artifacts
before or after its results. It also sees every record, once: an ASFF file's duplicate Ids
are settled there (`OnePerId`). The second pass yields the records one by one.

ASFF: a file that holds one Id twice keeps one copy, the one with the latest UpdatedAt
(the first of equals), and warns about the other; the copy kept is read where it is in the
file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import IO, Any

from hubrelay.loading import LoadError
from hubrelay.sources import (
    UNCLASSED,
    VULNERABILITY,
    MappingError,
    Parsed,
    Record,
    Scanned,
    grype,
    parse_time,
    sarif,
    streamjson,
    trivy,
    vulnscan,
)

FORMATS = ("sarif", "trivy", "grype", "asff")
# Larger reports are read as a stream, smaller ones whole: a document of this size parses
# into a few tens of MB, and one pass over it costs less than two.
STREAM_BYTES = 4 * 1024 * 1024
_NOT_ASFF = 'expected a JSON array of findings or {"Findings": [...]}'


def detect_format(
    document: Any, findings_list: bool | None = None, results_list: bool | None = None
) -> str:
    """Which of FORMATS a parsed JSON document (or its skeleton) is; MappingError when none.
    `findings_list`, `results_list`: whether every element of a top-level array is an ASFF
    finding, or a result of Trivy before 0.20, when the document's elements are not there
    to say (a skeleton)."""
    if isinstance(document, Mapping):
        if "runs" in document and (
            "sarif" in str(document.get("$schema", "")).lower()
            or document.get("version") == "2.1.0"
        ):
            return "sarif"
        if trivy.trivy_form(document) is not None:
            return "trivy"
        if "matches" in document and ("descriptor" in document or "source" in document):
            return "grype"
        if isinstance(document.get("Findings"), list):
            return "asff"
    if isinstance(document, list):
        if all(_asff_like(f) for f in document) if findings_list is None else findings_list:
            return "asff"
        if trivy.trivy_form(document, results_list) is not None:
            return "trivy"
    raise MappingError(
        "unrecognised report: expected SARIF 2.1.0, Trivy JSON, Grype JSON or ASFF findings"
        + vulnscan.what_instead(document)
    )


def _asff_like(value: Any) -> bool:
    """An ASFF finding's SchemaVersion is a string ("2018-10-08"); a Trivy report's is a
    number (2): two Trivy reports written into one file are not a list of findings."""
    return isinstance(value, Mapping) and isinstance(value.get("SchemaVersion"), str)


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
    if fmt in ("trivy", "grype"):
        read = trivy.trivy_records if fmt == "trivy" else grype.grype_records
        found, classes, problems = read(document, origin, folder)
        repeats = vulnscan.Repeats()
        return [repeats.mark(r) for r in found], classes, problems
    if fmt == "asff":
        findings = document.get("Findings") if isinstance(document, Mapping) else document
        if not isinstance(findings, list):
            raise MappingError(_NOT_ASFF)
        ids = OnePerId(origin)
        for i, finding in enumerate(findings):
            ids.see(i, finding)
        scope = f"asff:{folder}"
        records = [
            Record(f, ids.position(i), "asff", scope)
            for i, f in enumerate(findings)
            if ids.keeps(i, f)
        ]
        # The warnings go with the file's errors (so the error report and `hubrelay convert`
        # name them); they change nothing else, ASFF files never being complete scans.
        return records, {}, ids.warnings
    raise MappingError(f"unknown report format {fmt!r} (one of {', '.join(FORMATS)})")


@dataclass
class OnePerId:
    """Which copy of each finding Id an ASFF file keeps, and a warning for each left out.

    A finding is its Id (with the ProductArn, which the passthrough sets:
    https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_AwsSecurityFindingIdentifier.html),
    and the collector sends one per Id, so only one copy can go. The copy kept is the one
    updated last by its UpdatedAt, "when the security findings provider last updated the
    finding record" (https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_AwsSecurityFinding.html);
    of copies equally recent, or whose UpdatedAt cannot be read, the first in the file.
    Each copy is seen once, in the file's order; what is kept per Id is its place and its
    UpdatedAt, not the finding, so a file read as a stream is never held (about 250 bytes
    per finding: an Id is kept as its 16-byte BLAKE2 digest, Ids being up to 512 characters).
    """

    origin: str
    kept: dict[bytes, tuple[int, Any]] = field(default_factory=dict)  # Id -> (index, UpdatedAt)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    all_findings: bool = True  # every copy seen is a JSON object with a SchemaVersion

    def position(self, i: int) -> str:
        return f"{self.origin}#[{i}]"

    def see(self, i: int, native: Any) -> None:
        self.all_findings = self.all_findings and _asff_like(native)
        fid = native.get("Id") if isinstance(native, Mapping) else None
        if not isinstance(fid, str):
            return  # always kept: map_asff refuses it, with its reason
        mine, key = (i, native.get("UpdatedAt")), _digest(fid)
        first = self.kept.setdefault(key, mine)
        if first is mine:
            return
        kept, dropped = (mine, first) if _newer(mine[1], first[1]) else (first, mine)
        self.kept[key] = kept
        self.warnings.append(
            (
                self.position(dropped[0]),
                f"warning: duplicate Id {fid[:200]!r}: kept the copy at"
                f" {self.position(kept[0])} ({_updated_at(kept[1])}), dropped this one"
                f" ({_updated_at(dropped[1])})",
            )
        )

    def keeps(self, i: int, native: Any) -> bool:
        """Whether copy `i` (seen before) is the one kept of its Id."""
        fid = native.get("Id") if isinstance(native, Mapping) else None
        if not isinstance(fid, str):
            return True
        kept = self.kept.get(_digest(fid))
        if kept is None:  # a stream's second pass met an Id its first never saw
            raise LoadError(
                self.origin, "the file changed while it was read", kind="syntax", path=f"[{i}]"
            )
        return bool(kept[0] == i)


def _digest(finding_id: str) -> bytes:
    return hashlib.blake2b(finding_id.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _updated(value: Any) -> datetime | None:
    try:
        return parse_time(value)
    except ValueError:  # MappingError: missing or unreadable
        return None


def _newer(value: Any, than: Any) -> bool:
    mine, theirs = _updated(value), _updated(than)
    return mine is not None and (theirs is None or mine > theirs)


def _updated_at(value: Any) -> str:
    return f"UpdatedAt {str(value)[:64]}" if value is not None else "no UpdatedAt"


# How a format read as a stream makes the records of the element at a path: none when it
# is none of its records, several when it holds them (a whole Trivy result).
Maker = Callable[[streamjson.Path, Any], list[Record]]


def read_stream(
    open_stream: Callable[[], IO[bytes]], origin: str, folder: str, fmt: str | None = None
) -> tuple[Iterable[Record], dict[str, frozenset[str]], list[tuple[str, str]]]:
    """What `read_report` gives of the document that `open_stream()` reads, without holding
    it: the records are read from a new stream each time they are iterated. Each stream is
    closed when read (or left)."""
    ids = OnePerId(origin)
    outlines = trivy.Outlines()

    def each(path: streamjson.Path, item: Any) -> None:
        if _asff_index(path) is not None:
            ids.see(int(path[-1]), item)
        outlines.see(path, item)

    with closing(open_stream()) as stream:
        skeleton = streamjson.skeleton(stream, origin, each)
    fmt = fmt or detect_format(skeleton, ids.all_findings, outlines.all_results)
    make: Maker
    if fmt == "sarif":
        log = sarif.scan(skeleton, origin, folder)
        make = partial(_sarif_record, log)
        complete = dict.fromkeys(log.complete, frozenset({UNCLASSED}))
        errors = log.errors
    elif fmt == "trivy":
        scan = trivy.trivy_scan(outlines.fill(skeleton), origin, folder)
        make = scan.streamed
        complete, errors = scan.complete, scan.errors
    elif fmt == "grype":
        scope, context = grype.grype_scan(skeleton, folder)
        make = partial(_grype_record, origin, scope, context)
        complete, errors = {scope: frozenset({VULNERABILITY})}, []
    elif fmt == "asff":
        findings = skeleton.get("Findings") if isinstance(skeleton, Mapping) else skeleton
        if not isinstance(findings, list):
            raise MappingError(_NOT_ASFF)
        make = partial(_asff_record, ids, f"asff:{folder}")
        complete, errors = {}, ids.warnings
    else:
        raise MappingError(f"unknown report format {fmt!r} (one of {', '.join(FORMATS)})")
    return _Streamed(open_stream, origin, make), complete, errors


@dataclass
class _Streamed:
    """The records of a large report, read from a new stream each time they are iterated."""

    open: Callable[[], IO[bytes]]
    origin: str
    record: Maker

    def __iter__(self) -> Iterator[Record]:
        repeats = vulnscan.Repeats()  # counted again each time the records are read
        with closing(self.open()) as stream:
            for path, item in streamjson.elements(stream, self.origin):
                for found in self.record(path, item):
                    yield repeats.mark(found)


def _sarif_record(log: sarif.Scan, path: streamjson.Path, item: Any) -> list[Record]:
    """The record at ("runs", r, "results", i), unless its run could not be read."""
    if len(path) != 4 or path[0] != "runs" or path[2] != "results":
        return []
    r = path[1]
    if not isinstance(r, int) or r not in log.runs:
        return []
    return [log.record(r, int(path[3]), item)]


def _grype_record(
    origin: str, scope: str, context: dict[str, Any], path: streamjson.Path, item: Any
) -> list[Record]:
    """The record at ("matches", i)."""
    if len(path) != 2 or path[0] != "matches":
        return []
    return [grype.grype_record(origin, scope, context, int(path[1]), item)]


def _asff_index(path: streamjson.Path) -> int | None:
    """i of a finding at ("Findings", i) or at (i,) (a bare array)."""
    if (path[:1] == ("Findings",) and len(path) == 2) or len(path) == 1:
        return int(path[-1])
    return None


def _asff_record(ids: OnePerId, scope: str, path: streamjson.Path, item: Any) -> list[Record]:
    """The finding at ("Findings", i) or (i,), when it is the copy kept of its Id."""
    i = _asff_index(path)
    if i is None or not ids.keeps(i, item):
        return []
    return [Record(item, ids.position(i), "asff", scope)]
