"""ASFF files as real tools write them: prowler 2's JSON Lines, older Trivy contrib/asff.tpl
output (unquoted scores), `aws securityhub get-findings` output; read whole, as a stream
and by the collector from S3 alike."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hubrelay import loading
from hubrelay.loading import LoadError
from hubrelay.sources import Context, MappingError, files, reports
from hubrelay.sources.scanner_reports import ScannerReportsSource
from tests.support import FIXTURES, load_fixture

CTX = Context("123456789012", ("us-east-1", "eu-west-1"), "", datetime(2026, 11, 1, tzinfo=UTC))
PROWLER2 = FIXTURES / "sources" / "prowler2_json_asff.ndjson"
PROWLER2_IDS = [
    "prowler-1.1-123456789012-us-east-1-2e4ae8d7b",
    "prowler-7.12-123456789012-eu-west-1-5b7cd1a02",
    "prowler-2.1-123456789012-us-east-1-9ad3e1f70",
]


def mapped(records: Any) -> list[dict[str, Any]]:
    findings, errors = files.map_records(records, CTX)
    assert errors == []
    return findings


def test_prowler2_json_lines_are_read_as_an_array_of_findings() -> None:
    records, errors = files.read_file(str(PROWLER2), None)
    findings = mapped(records)
    assert errors == []
    assert [f["Id"] for f in findings] == PROWLER2_IDS
    assert [f["RecordState"] for f in findings] == ["ACTIVE", "ACTIVE", "ARCHIVED"]
    # each keeps the Region of its own ProductArn
    assert [f["ProductArn"].split(":")[3] for f in findings] == [
        "us-east-1",
        "eu-west-1",
        "us-east-1",
    ]


def test_json_lines_read_as_a_stream_give_the_same_findings() -> None:
    streamed, _, errors = reports.read_stream(lambda: open(PROWLER2, "rb"), "p", "")  # noqa: SIM115
    assert errors == []
    assert [f["Id"] for f in mapped(streamed)] == PROWLER2_IDS


@pytest.mark.parametrize(
    "separator", [b"\n", b"\r\n", b"", b"\n\n  \n"], ids=["lf", "crlf", "back-to-back", "blank"]
)
def test_json_values_one_after_another_are_one_array(separator: bytes, tmp_path: Path) -> None:
    lines = [line for line in PROWLER2.read_bytes().splitlines() if line.strip()]
    path = tmp_path / "findings.json"
    path.write_bytes(b"\xef\xbb\xbf" + separator.join(lines) + b"\n")
    records, _ = files.read_file(str(path), None)
    assert [f["Id"] for f in mapped(records)] == PROWLER2_IDS
    streamed, _, _ = reports.read_stream(lambda: open(path, "rb"), "p", "")  # noqa: SIM115
    assert [f["Id"] for f in mapped(streamed)] == PROWLER2_IDS


def test_a_broken_line_is_refused_and_named() -> None:
    text = PROWLER2.read_text().replace('"Severity":{"Label":"MEDIUM"}', '"Severity":{"Label"')
    with pytest.raises(LoadError, match="not JSON"):
        loading.load_json_values(text, what="p")


def test_a_single_document_reads_as_load_json_reads_it() -> None:
    for text in ('{"Findings": []}', "[1, 2]", '\ufeff{"a": 1}'):
        assert loading.load_json_values(text.lstrip("\ufeff"), what="t") == json.loads(
            text.lstrip("\ufeff")
        )
    with pytest.raises(LoadError, match="Expecting value"):
        loading.load_json_values("[1] x", what="t")
    # the loading policy holds in every value
    with pytest.raises(LoadError, match="integer of 70 digits"):
        loading.load_json_values('{"a": 1}\n{"b": ' + "9" * 70 + "}", what="t")


def test_an_older_trivy_template_with_unquoted_scores_is_repaired() -> None:
    # contrib/asff.tpl before the scores were quoted: "NvdCvssScoreV3": 7.5 in Details.Other
    records, _ = files.read_records(load_fixture("sources/trivy_asff_old_template.json"), None, "t")
    [finding] = mapped(records)
    other = finding["Resources"][0]["Details"]["Other"]
    assert (other["NvdCvssScoreV3"], other["NvdCvssScoreV2"]) == ("7.5", "0")
    assert "NvdCvssVectorV2" not in other  # blank: dropped, as before
    assert finding["AwsAccountId"] == "123456789012"  # the template wrote a number


def test_a_boolean_in_a_map_of_strings_is_still_refused() -> None:
    document = load_fixture("sources/trivy_asff_old_template.json")
    document[0]["Resources"][0]["Details"]["Other"]["Fixed"] = True
    records, _ = files.read_records(document, None, "t")
    findings, errors = files.map_records(records, CTX)
    assert findings == []
    assert "Details.Other.Fixed" in errors[0][1]


def test_securityhub_get_findings_output_passes_through() -> None:
    document = load_fixture("sources/securityhub_get_findings.json")
    records, _ = files.read_records(document, None, "g")
    [finding] = mapped(records)
    assert finding["Id"] == document["Findings"][0]["Id"]
    assert finding["Severity"]["Label"] == "HIGH"


class _Body(io.BytesIO):
    pass


class _S3:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def get_object(self, **_: Any) -> dict[str, Any]:
        return {"Body": _Body(self.data)}


def test_the_collector_reads_json_lines_from_s3() -> None:
    source = ScannerReportsSource(_S3(PROWLER2.read_bytes()), "bucket")
    obj = {"Key": "prowler/out.json", "ETag": '"e"', "Size": PROWLER2.stat().st_size}
    unit = source._read(obj, {})
    assert unit.errors == []
    assert [f["Id"] for f in mapped(unit.records)] == PROWLER2_IDS


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_json_lines_in_utf16_as_powershell_writes_them_are_read(
    encoding: str, tmp_path: Path
) -> None:
    # PowerShell 5's `>` writes UTF-16LE with a byte-order mark
    path = tmp_path / "findings.json"
    path.write_bytes(PROWLER2.read_text().encode(encoding))
    records, _ = files.read_file(str(path), None)
    assert [f["Id"] for f in mapped(records)] == PROWLER2_IDS
    streamed, _, _ = reports.read_stream(lambda: open(path, "rb"), "p", "")  # noqa: SIM115
    assert [f["Id"] for f in mapped(streamed)] == PROWLER2_IDS


def test_two_trivy_reports_in_one_file_are_not_taken_for_asff_findings(tmp_path: Path) -> None:
    # Trivy's SchemaVersion is a number (2), ASFF's a string ("2018-10-08")
    report = (FIXTURES / "sources" / "trivy_image.json").read_text()
    path = tmp_path / "appended.json"
    path.write_text(report + report)
    with pytest.raises(MappingError, match="unrecognised report"):
        files.read_file(str(path), None)


def test_prowler4_json_asff_with_empty_types_and_a_blank_tag_passes_through() -> None:
    records, _ = files.read_records(load_fixture("sources/prowler4_json_asff.json"), None, "p")
    findings = mapped(records)
    assert [f["RecordState"] for f in findings] == ["ACTIVE", "ARCHIVED"]
    assert findings[0]["Resources"][0]["Tags"] == {"env": "prod"}  # the blank tag dropped
    assert findings[0]["ProductArn"].split(":")[3] == "eu-west-1"
