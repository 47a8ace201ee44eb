"""Event-driven collection through the real template on the local stack: a report put in
S3 reaches Security Hub through EventBridge without a scheduled run, the schedule (the
backstop) imports nothing twice, and AWS Health events go the same way."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from hubrelay_emulator import securityhub as hub
from hubrelay_emulator.runner import StackEmulator
from tests.e2e.test_placement_change import REPORT
from tests.support import load_fixture


def report(*cves: int) -> bytes:
    vulnerabilities = REPORT["Results"][0]["Vulnerabilities"]  # type: ignore[index]
    result = {**REPORT["Results"][0], "Vulnerabilities": []}  # type: ignore[index]
    result["Vulnerabilities"] = [
        {**vulnerabilities[0], "VulnerabilityID": f"CVE-2026-{n}"} for n in cves
    ]
    return json.dumps({**REPORT, "Results": [result]}).encode()


def active(stack: StackEmulator) -> set[str]:
    return {
        f["Id"].split("/")[3]
        for f in stack.contract.findings(stack.account, stack.region)
        if f["RecordState"] == "ACTIVE"
    }


@pytest.fixture
def stack(request: pytest.FixtureRequest) -> Iterator[StackEmulator]:
    parameters = getattr(request, "param", {"Source": "scanner_reports"})
    stack = StackEmulator(parameters=parameters).up()
    yield stack
    stack.down()
    hub.uninstall()


def put(stack: StackEmulator, key: str, body: bytes) -> None:
    stack.client("s3").put_object(
        Bucket=stack.outputs["CollectorReportsBucket"], Key=key, Body=body
    )


def test_a_report_put_in_s3_reaches_security_hub_without_a_scheduled_run(
    stack: StackEmulator,
) -> None:
    # Given the stack's defaults: EventBridge notifications on the reports bucket, a rule
    put(stack, "reports/api/scan.json", report(1001, 1002))
    # When EventBridge delivers the Object Created event (no schedule tick)
    (run,) = stack.deliver_events()
    stack.drain()
    # Then the collector read that one report and its findings are in Security Hub
    assert stack.report.events_matched == {"CollectorReportRule": 1}
    assert (run["units"], run["enqueued"], run["error"]) == (1, 2, "")
    assert len(active(stack)) == 2
    # And the schedule's run later (the backstop) reads nothing again, imports nothing
    calls = len(stack.contract.calls)
    (backstop,) = stack.tick()
    stack.drain()
    assert (backstop["units"], backstop["enqueued"]) == (0, 0)
    assert len(stack.contract.calls) == calls
    # And the collector's own error reports never trigger it (the rule's key filter)
    assert stack.function("CollectorFunction").invocations == 2


def test_the_schedule_catches_a_report_whose_event_was_lost(stack: StackEmulator) -> None:
    put(stack, "reports/api/scan.json", report(1001))
    stack.events.pending.clear()  # the event never arrives
    (run,) = stack.tick()
    stack.drain()
    assert run["enqueued"] == 1
    assert len(active(stack)) == 1
    # The same report put again: a new event, the same ETag, read already: nothing to do
    put(stack, "reports/api/scan.json", report(1001))
    (again,) = stack.deliver_events()
    assert (again["units"], again["enqueued"], again["error"]) == (0, 0, "")


def test_events_out_of_order_leave_the_newest_report_in_force(stack: StackEmulator) -> None:
    # Two scans of one image land at once; EventBridge promises no order.
    put(stack, "reports/api/1.json", report(1001, 1002))
    put(stack, "reports/api/2.json", report(1002))  # CVE-2026-1001 fixed
    stack.events.pending.reverse()
    runs = stack.deliver_events()
    stack.drain()
    # The older report, read second, is followed by the newer one read again.
    assert [r["units"] for r in runs] == [1, 2]
    states = {
        f["Id"].split("/")[3]: f["RecordState"]
        for f in stack.contract.findings(stack.account, stack.region)
    }
    assert states == {"CVE-2026-1001": "ARCHIVED", "CVE-2026-1002": "ACTIVE"}


def test_a_foreign_event_gets_one_clear_error_and_is_kept(stack: StackEmulator) -> None:
    event = {"id": "e-7", "source": "aws.ec2", "detail-type": "EC2 Instance State", "detail": {}}
    result = stack.invoke("CollectorFunction", event)
    assert result["error"].startswith("EventError: event e-7: source 'aws.ec2'")
    assert stack.function("CollectorFunction").errors == 0  # no traceback, no Lambda error
    (written,) = result["errorReports"]
    bucket, key = written.removeprefix("s3://").split("/", 1)
    kept = json.loads(stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert json.loads(kept["errors"][0]["record"]) == event


@pytest.mark.parametrize(
    "stack", [{"Source": "scanner_reports", "EventDrivenCollection": "false"}], indirect=True
)
def test_event_driven_collection_can_be_turned_off(stack: StackEmulator) -> None:
    assert "CollectorReportRule" not in stack.resources
    put(stack, "reports/api/scan.json", report(1001))
    assert stack.deliver_events() == []
    assert active(stack) == set()
    (run,) = stack.tick()
    assert run["enqueued"] == 1


@pytest.mark.parametrize("stack", [{"Source": "health"}], indirect=True)
def test_a_health_event_reaches_security_hub_through_its_rule(stack: StackEmulator) -> None:
    events: list[dict[str, Any]] = load_fixture("sources/health_eventbridge.json")
    for event in events:
        stack.events.pending.append({**event, "account": stack.account})
    runs = stack.deliver_events()
    stack.drain()
    assert stack.report.events_matched == {"CollectorHealthRule": 3}
    # Two security events (S3 open bucket, IAM keys) become findings; the EC2 reboot is not
    # a security event and is left out without an error.
    assert [r["enqueued"] for r in runs] == [1, 1, 0]
    assert all(r["error"] == "" for r in runs)
    titles = {f["Title"] for f in stack.contract.findings(stack.account, stack.region)}
    assert titles == {
        "AWS Health - AWS_S3_OPEN_ACCESS_BUCKET_NOTIFICATION",
        "AWS Health - AWS_IAM_SECURITY_NOTIFICATION",
    }
