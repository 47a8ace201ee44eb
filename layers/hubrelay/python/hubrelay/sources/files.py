"""Native files to findings without AWS: what `hubrelay convert` runs.

The records and mappers are the collector's own; only the reading differs (a local file
instead of S3, an API page or the Health API).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from hubrelay import asff
from hubrelay.loading import load_json_values
from hubrelay.sources import (
    Context,
    Finding,
    MappingError,
    Record,
    health,
    reports,
    scanner_reports,
)
from hubrelay.sources.vendor_api import VendorMapping
from hubrelay.sources.vendor_api import map_record as map_vendor

FORMATS = (*scanner_reports.FORMATS, "health", "vendor")
# A scanner report larger than this is read as a stream, as the collector reads it
# (hubrelay.sources.reports.read_stream): a 100,000-result SARIF log of 31 MB held whole
# took `hubrelay convert` to 1.8 GB.
STREAM_BYTES = reports.STREAM_BYTES


def read_file(
    path: str, fmt: str | None, mapping_path: str = "", key: str = ""
) -> tuple[Iterable[Record], list[tuple[str, str]]]:
    """(records, file-level errors) of a native file, as `read_records` gives them; a
    scanner report over STREAM_BYTES is read as a stream, its records read from the file
    each time they are iterated, so that it is never held. LoadError names the file."""
    if fmt in (None, *reports.FORMATS) and os.path.getsize(path) > STREAM_BYTES:
        try:
            records, _, errors = reports.read_stream(
                lambda: open(path, "rb"),  # noqa: SIM115 - read_stream closes it
                path,
                scanner_reports.folder_of(key),
                fmt,
            )
            return records, errors
        except MappingError:
            if fmt is not None:
                raise
            # Not a scanner report (a Health file, say): read whole below, which also
            # says why when it is nothing readable.
    with open(path, "rb") as handle:
        document = load_json_values(handle.read(), what=path)
    return read_records(document, fmt, path, mapping_path, key)


def read_records(
    document: Any, fmt: str | None, origin: str, mapping_path: str = "", key: str = ""
) -> tuple[list[Record], list[tuple[str, str]]]:
    """(records, file-level errors) of a document in `fmt` (detected when None).

    `key` is the S3 key the collector would read a scanner report from: its folder is part
    of the report's scope and of its findings' Ids, so the same file gives the collector's
    Ids only with the same key ("" = a report at the top of the bucket).
    """
    if fmt == "vendor":
        mapping = VendorMapping.load(mapping_path)
        items = document if isinstance(document, list) else mapping.records(document)
        return [
            Record(r, f"{origin}#[{i}]", "vendor", "vendor", mapping) for i, r in enumerate(items)
        ], []
    if fmt == "health" or (fmt is None and health.looks_like_health(document)):
        return health.file_records(document, origin)
    folder = scanner_reports.folder_of(key)
    records, _, errors = scanner_reports.parse_report(document, origin, folder, fmt)
    return records, errors


def map_records(
    records: Iterable[Record],
    ctx: Context,
    skipped: list[tuple[str, str]] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[Finding], list[tuple[str, str]]]:
    """Valid findings, and (position, reason) for every record that cannot be sent; records
    that are readable but send nothing (a Health event that is not a security event) go to
    `skipped` with the reason; `progress` is told how many records were mapped so far."""
    errors: list[tuple[str, str]] = []
    findings = list(each_finding(records, ctx, errors, skipped, progress))
    return findings, errors


def each_finding(
    records: Iterable[Record],
    ctx: Context,
    errors: list[tuple[str, str]],
    skipped: list[tuple[str, str]] | None = None,
    progress: Callable[[int], None] | None = None,
    one_per_id: bool = False,
) -> Iterator[Finding]:
    """`map_records` one finding at a time, as each record is read: the valid findings,
    and (position, reason) appended to `errors` for each record that cannot be sent.
    `one_per_id`: a finding whose Id an earlier one of its scope has is left out, into
    `skipped`, as the collector leaves it out (`hubrelay convert`: what it would send)."""
    seen: set[bytes] = set()  # digests of (scope, Id): a 300,000-result report's stay small
    for done, record in enumerate(records, 1):
        if progress is not None:
            progress(done)
        try:
            mapped = _mapper(record.kind)(record, ctx)
        except Exception as exc:  # a bad record is reported, never fatal
            errors.append((record.position, f"{type(exc).__name__}: {exc}"))
            continue
        if not mapped and skipped is not None:
            why = health.why_not_sent(record) if record.kind == "health" else "maps to no finding"
            skipped.append((record.position, why))
        for finding in mapped:
            if one_per_id and _seen_before(seen, record.scope, finding):
                # Before validation, as the collector's first of an Id wins (Collector._map).
                if skipped is not None:
                    fid = str(finding.get("Id"))[:512]
                    skipped.append((record.position, f"same Id as an earlier finding: {fid}"))
                continue
            violations = asff.validate_finding(finding)
            if violations:
                errors.append((record.position, "; ".join(str(v) for v in violations)))
            else:
                yield finding


def _seen_before(seen: set[bytes], scope: str, finding: Any) -> bool:
    """Whether an earlier finding of `scope` had this one's Id (and remember it)."""
    fid = finding.get("Id") if isinstance(finding, dict) else None
    text = json.dumps([scope, fid])
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    if digest in seen:
        return True
    seen.add(digest)
    return False


def _mapper(kind: str) -> Any:
    if kind == "health":
        return health.map_event
    if kind == "vendor":
        return map_vendor
    if kind not in scanner_reports.MAPPERS:
        raise MappingError(f"no mapper for {kind!r}")
    return scanner_reports.MAPPERS[kind]
