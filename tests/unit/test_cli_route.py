"""`hubrelay route`: the operator's view of what the responder would do with an event."""

from __future__ import annotations

import json

import pytest
from moto import mock_aws

from hubrelay import cli
from tests.support import FIXTURES

ACTION = "arn:aws:securityhub:us-east-1:111111111111:action/custom/hubrelayHook"


@pytest.fixture(autouse=True)
def _stack_settings(monkeypatch):
    monkeypatch.setenv("HUBRELAY_WEBHOOK_ACTION_ARN", ACTION)
    monkeypatch.setenv("HUBRELAY_WEBHOOK_SECRET_ARN", "hubrelay/webhook")
    monkeypatch.setenv("HUBRELAY_OPSCENTER_ENABLED", "true")
    monkeypatch.setenv("HUBRELAY_AUTO_ROUTE", "true")
    monkeypatch.setenv("HUBRELAY_AUTO_ROUTE_DESTINATIONS", "webhook,opscenter")


def run(capsys, *args):
    code = cli.main(["route", *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def test_dry_run_prints_every_payload_and_the_write_back(capsys):
    code, report, err = run(capsys, "--dry-run", str(FIXTURES / "events/custom-action-multi.json"))
    assert code == 0
    assert err.startswith("accepted: custom-action route 'Send to webhook': 5 finding(s)")
    assert len(report["deliveries"]) == 5
    first = report["deliveries"][0]
    assert json.loads(first["payload"]["body"])["findings"][0]["severity"] == "HIGH"
    assert first["headers"]["X-Hubrelay-Signature"].startswith("v2=<")
    (update,) = report["writeBack"]  # same placeholder reference: one request
    assert len(update["request"]["FindingIdentifiers"]) == 5
    assert update["request"]["Workflow"] == {"Status": "NOTIFIED"}


def test_dry_run_of_an_imported_event_shows_the_opsitem_fields(capsys):
    code, report, _ = run(capsys, "--dry-run", str(FIXTURES / "events/imported-inspector.json"))
    assert code == 0
    ops = [d for d in report["deliveries"] if d["destination"] == "opscenter"]
    assert ops[0]["payload"]["Source"] == "SecurityHub"
    assert "/aws/dedup" in ops[0]["payload"]["OperationalData"]


def test_a_foreign_event_is_rejected_with_exit_1(capsys, tmp_path):
    event = json.loads((FIXTURES / "events/custom-action-macie.json").read_text())
    event["resources"] = ["arn:aws:securityhub:us-east-1:999999999999:action/custom/x"]
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    code, report, err = run(capsys, "--dry-run", str(path))
    assert code == 1
    assert report["deliveries"] == []
    assert "do not belong to this stack" in err


def test_an_unreadable_file_exits_2(capsys, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{")
    code, _, err = run(capsys, "--dry-run", str(path))
    assert code == 2
    assert "broken.json" in err


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (
            lambda e: e.replace('"Normalized": 70', '"Normalized": ' + "7" * 401, 1),
            "integer of 401 digits (at most 64) at detail.findings[2].Severity.Normalized",
        ),
        (
            lambda e: e.replace('"findings": [', '"findings": [' + "[" * 100_000, 1),
            "nested too deeply (more than 64 levels)",
        ),
        (lambda e: e.replace('"Normalized": 70', '"Normalized": NaN', 1), "NaN is not a JSON"),
    ],
    ids=["integer-401", "100000-deep", "nan"],
)
@pytest.mark.parametrize("mode", [["--dry-run"], []], ids=["dry-run", "send"])
def test_a_hostile_event_file_exits_2_in_one_line(capsys, tmp_path, edit, reason, mode):
    text = (FIXTURES / "events/custom-action-multi.json").read_text()
    assert '"Normalized": 70' in text
    path = tmp_path / "event.json"
    path.write_text(edit(text))
    with mock_aws():  # nothing may reach AWS, even if the file were read
        code, report, err = run(capsys, *mode, str(path))
    assert code == 2
    assert report is None
    assert err.startswith(f"{path}: {reason}")
    assert err.count("\n") == 1


def test_dry_run_shows_the_destinations_own_skips(capsys, monkeypatch, tmp_path):
    # Given the vendor back-sync action, which covers only this product's findings (defect g)
    vendor = "arn:aws:securityhub:us-east-1:111111111111:action/custom/hubrelayVndr"
    monkeypatch.setenv("HUBRELAY_VENDOR_ACTION_ARN", vendor)
    monkeypatch.setenv("HUBRELAY_VENDOR_BACK_SYNC", "true")
    monkeypatch.setenv("HUBRELAY_VENDOR_SECRET_ARN", "hubrelay/vendor")
    monkeypatch.setenv("HUBRELAY_VENDOR_API_URL", "https://api.vendor.example")
    document = json.loads((FIXTURES / "events/custom-action-multi.json").read_text())
    document["resources"] = [vendor]
    path = tmp_path / "vendor-event.json"
    path.write_text(json.dumps(document))
    code, report, _ = run(capsys, "--dry-run", str(path))
    # Then the findings of other products are listed as skipped, with the reason
    assert code == 0
    whys = [s["why"] for s in report["skipped"]]
    assert len(whys) == 5 - len(report["deliveries"]) > 0
    assert all(why == "vendor: not this product's finding" for why in whys)
