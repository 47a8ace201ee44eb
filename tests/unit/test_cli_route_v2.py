"""`hubrelay route` on the new Security Hub's `Findings Imported V2` events: each finding
named by its metadata.uid with the decision made for it."""

from __future__ import annotations

import json

import pytest

from hubrelay import cli
from tests.support import FIXTURES, load_fixture

UID = "e51603d1054aad9d9f498d82d6e81acf4cf6bc88140e8ad2273123c73b81084"


@pytest.fixture(autouse=True)
def _stack_settings(monkeypatch):
    monkeypatch.setenv("HUBRELAY_WEBHOOK_SECRET_ARN", "hubrelay/webhook")
    monkeypatch.setenv("HUBRELAY_OPSCENTER_ENABLED", "true")
    monkeypatch.setenv("HUBRELAY_AUTO_ROUTE", "true")
    monkeypatch.setenv("HUBRELAY_AUTO_ROUTE_DESTINATIONS", "webhook,opscenter")
    monkeypatch.setenv("HUBRELAY_SECURITYHUBS", "SecurityHub")


def run(capsys, *args):
    code = cli.main(["route", *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def test_an_accepted_v2_event_names_the_metadata_uid_and_where_it_goes(capsys):
    code, report, err = run(capsys, str(FIXTURES / "events/imported-v2-guardduty.json"))
    assert code == 0
    assert f"metadata.uid {UID}: accepted, to webhook, opscenter" in err
    assert report["findings"] == [
        {"metadataUid": UID, "decision": "accepted", "to": ["webhook", "opscenter"]}
    ]
    assert report["writeBack"][0]["operation"] == "BatchUpdateFindingsV2"


def test_a_filtered_v2_finding_is_named_with_why(capsys, tmp_path):
    event = load_fixture("events/imported-v2-guardduty.json")
    event["detail"]["findings"][0]["status_id"] = 4
    path = tmp_path / "resolved.json"
    path.write_text(json.dumps(event))
    code, report, err = run(capsys, str(path))
    # Its only finding rejected: the event is not accepted ("0 accepted"), exit 1
    assert code == 1
    assert report["accepted"] is False
    assert err.startswith("rejected: 0 accepted, 1 rejected: auto route")
    assert f"metadata.uid {UID}: rejected, Workflow.Status is RESOLVED, not NEW" in err


def test_a_malformed_v2_finding_is_named_with_the_reason(capsys, tmp_path):
    event = load_fixture("events/imported-v2-guardduty.json")
    event["detail"]["findings"][0]["class_uid"] = 1001
    path = tmp_path / "activity.json"
    path.write_text(json.dumps(event))
    code, _, err = run(capsys, str(path))
    assert code == 1
    assert f"metadata.uid {UID}: rejected," in err
    assert "not an OCSF Findings class" in err
