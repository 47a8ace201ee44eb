"""`make demo ARGS="--report PATH"`: a user's own scanner report through the real template."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hubrelay_emulator import demo
from hubrelay_emulator.runner import DEFAULT_ACCOUNT

SOURCES = Path(__file__).parent.parent / "fixtures" / "sources"


def _converted(path: Path, key: str) -> list[dict[str, object]]:
    """What `hubrelay convert` says the collector sends for the file at that S3 key (it
    exits 1 when it skipped a record, as the fixture has one)."""
    done = subprocess.run(
        [sys.executable, "-m", "hubrelay.cli", "convert", str(path), "--key", key,
         "--account", DEFAULT_ACCOUNT],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    findings: list[dict[str, object]] = json.loads(done.stdout)
    return findings


def test_demo_with_your_trivy_report_puts_what_convert_gives_in_security_hub(capsys):
    # Given a Trivy report with one record the mapping refuses
    path = SOURCES / "trivy_image.json"
    # When `make demo ARGS="--report tests/fixtures/sources/trivy_image.json --json"` runs
    code = demo.main(["--report", str(path), "--json", "--findings", "40"])
    out, err = capsys.readouterr()
    report = json.loads(out)["report"]
    # Then Security Hub holds as many of its findings as `hubrelay convert` gives for it, the
    # ARCHIVED ones (resolved in the report) aside: nothing was ever sent for them to archive
    expected = [f for f in _converted(path, report["key"]) if f["RecordState"] == "ACTIVE"]
    assert report["key"] == "reports/your-report/trivy_image.json"
    assert report["in_security_hub"] == len(expected) > 0
    assert {s["Id"] for s in report["sample"]} <= {f["Id"] for f in expected}
    # And the refused record is named from the collector's error report; the rest went through
    assert len(report["error_reports"]) == 1
    assert any("Vulnerabilities[4]" in line for line in report["errors"])
    assert code == 0, err
    assert "==> your report trivy_image.json:" in err


def test_demo_with_a_malformed_report_says_why_in_one_line_before_starting(capsys):
    # When the report is not JSON the collector can read
    path = SOURCES / "truncated.sarif.json"
    code = demo.main(["--report", str(path), "--findings", "20"])
    out, err = capsys.readouterr()
    # Then the demo stops before the stack comes up, with one line naming the file and the
    # reason (it ran every stage first, then failed), and no traceback
    assert code == 2
    assert out == ""
    assert err.startswith(f"make demo: --report {path}: not JSON: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_demo_with_a_missing_report_file_says_so_before_starting(capsys, tmp_path):
    code = demo.main(["--report", str(tmp_path / "nope.json")])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.strip() == f"make demo: --report {tmp_path / 'nope.json'}: No such file or directory"
