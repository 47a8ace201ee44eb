"""Findings files as the commands read them, and the summaries they print.

A findings file is a JSON array of findings, `{"Findings": [...]}` (BatchImportFindings'
own shape, and the shape of a quarantined-findings file), one queue message
`{"version": 1, "findings": [...]}` or an array of queue messages (`hubrelay convert
--message`). Each finding is named by its file and its position in it, `FILE[n]`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from hubrelay import message
from hubrelay.commands.common import read_json
from hubrelay.quarantine import Quarantined

SHAPES = (
    'expected a JSON array of findings, {"Findings": [...]}, a queue message '
    '{"version": 1, "findings": [...]} or an array of queue messages'
)


def _is_message(value: Any) -> bool:
    return isinstance(value, dict) and "version" in value and "findings" in value


def load_findings(path: str) -> list[Any]:
    """The findings of a file in any of the shapes above; ValueError says what is wrong."""
    document = read_json(path)
    if isinstance(document, list) and document and all(_is_message(m) for m in document):
        findings: list[Any] = []
        for index, body in enumerate(document):
            try:
                findings += message.decode(json.dumps(body))
            except message.MessageError as exc:
                raise ValueError(f"message [{index}]: {exc}") from None
        return findings
    if isinstance(document, list):
        return document
    if isinstance(document, dict) and isinstance(document.get("Findings"), list):
        return list(document["Findings"])
    if _is_message(document):
        return list(message.decode(json.dumps(document)))
    raise ValueError(_native(path, document) or SHAPES)


_NATIVE = {"sarif": "a SARIF log", "trivy": "a Trivy report", "grype": "a Grype report"}


def _native(path: str, document: Any) -> str:
    """What to do with a scanner report given where findings are expected ("" if it is
    none): the commands take findings, which `hubrelay convert` makes of it."""
    if isinstance(document, dict) and "detail-type" in document:
        return f"an EventBridge event, not ASFF findings: hubrelay route {path} previews it"
    # Imported here so that reading a findings file does not load the sources.
    from hubrelay.sources import MappingError, reports

    try:
        fmt = reports.detect_format(document)
    except MappingError:
        return ""
    if fmt not in _NATIVE:
        return ""
    return (
        f"{_NATIVE[fmt]}, not ASFF findings: convert it first, "
        f"hubrelay convert {path} --account <12-digit account id> --message > message.json"
    )


def named(path: str, findings: Sequence[Any]) -> list[tuple[str, Any]]:
    """(origin, finding) pairs, the origin naming the file and the position."""
    return [(f"{path}[{index}]", finding) for index, finding in enumerate(findings)]


def quarantined_file(entries: Iterable[Quarantined]) -> dict[str, Any]:
    """A quarantined-findings file: the findings as `{"Findings": [...]}` (so that, once
    fixed, the file can be sent again as it is) and, aligned with them, why each was kept."""
    findings: list[Any] = []
    reasons: list[dict[str, Any]] = []
    for entry in entries:
        try:
            body: Any = json.loads(entry.body)
        except ValueError:
            body = entry.body
        if isinstance(body, dict) and isinstance(body.get("findings"), list):
            body = body["findings"][0]
        findings.append(body)
        reasons.append(
            {
                "Id": entry.finding_id,
                "ErrorCode": entry.code,
                "ErrorMessage": entry.reason,
                "Source": list(entry.origins),
            }
        )
    return {"Findings": findings, "Reasons": reasons}


def repeated(read: int, invalid: int, kept: int) -> list[tuple[str, object]]:
    """The summary's row for findings given more than once (none when there were none):
    the importer sends one per identity, and a count that does not add up needs saying."""
    twice = read - invalid - kept
    if twice <= 0:
        return []
    return [
        (
            "same finding twice",
            f"{twice} (the same Id, ProductArn and account again: only the copy with "
            "the latest UpdatedAt is sent, as the importer does)",
        )
    ]


def counts(entries: Sequence[Quarantined]) -> str:
    """`6  InvalidAccess 5, InvalidFinding 1`: how many, then how many per error code."""
    tally: dict[str, int] = {}
    for entry in entries:
        tally[entry.code] = tally.get(entry.code, 0) + 1
    ordered = sorted(tally.items(), key=lambda kv: -kv[1])
    return f"{len(entries)}" + ("  " if tally else "") + ", ".join(f"{c} {n}" for c, n in ordered)


def summary(rows: Sequence[tuple[str, object]]) -> str:
    """Lines like the demo's report: a label column, then the figures."""
    return "\n".join(f"{label:<24} {value}" for label, value in rows)
