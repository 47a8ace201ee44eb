"""The responder end to end: moto (SNS, SQS, DynamoDB, Secrets Manager), the Security Hub
contract (action targets, BatchUpdateFindings, events), the OpsCenter extension, and real
HTTP receivers on 127.0.0.1."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from hubrelay.responder import WriteBackError, preview
from tests.integration.route_harness import (
    ACCOUNT,
    AUTO_ROUTE_QUEUE,
    REGION,
    SIGNING_SECRET,
    SNS_NOT_OWED,
    Stack,
    forget_the_ledger,
    load_responder,
    pass_minutes_in_the_ledger,
    responder_context,
    responder_stack,
)
from tests.support import load_fixture, nested, sqs_record

FAMILIES = ["guardduty", "inspector", "macie", "securityhub-control", "partner"]


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with responder_stack(monkeypatch) as built:
        yield built


def test_multi_select_sends_every_finding_signed_and_writes_each_back(stack):
    # Given five findings from five product families, selected together
    events = stack.click("webhook", *FAMILIES)
    # Security Hub sends each selected finding as an event of its own
    assert [len(e["detail"]["findings"]) for e in events] == [1] * 5
    findings = [e["detail"]["findings"][0] for e in events]
    # When the user runs "send to webhook"
    outcomes = stack.route_all(events)
    # Then every finding is delivered once, signed, and written back
    assert len(stack.webhook.accepted()) == 5
    assert [r for r in stack.webhook.received if not r.verified] == []
    sent_ids = {r.json()["findings"][0]["id"] for r in stack.webhook.accepted()}
    assert sent_ids == {f["Id"] for f in findings}
    assert sum(len(o.delivered) for o in outcomes) == 5
    assert all(o.writeback is not None and o.writeback.unprocessed == [] for o in outcomes)
    for finding in findings:
        stored = stack.stored(finding["Id"])
        assert stored["Workflow"]["Status"] == "NOTIFIED"
        assert stored["Note"]["Text"].startswith("hubrelay sent this finding via")
        assert stored["UserDefinedFields"]["hubrelay:webhook"].startswith("T-")
        assert stored["UserDefinedFields"]["hubrelay:webhook"] in stored["Note"]["Text"]


def test_redelivery_and_double_click_deliver_once(stack):
    events = stack.click("webhook", "guardduty", "inspector")
    stack.route_all(events)
    # Redelivery of the same events, then a second click (new events, same findings).
    again = stack.route_all(copy.deepcopy(events))
    second_click = stack.contract.custom_action(
        ACCOUNT, REGION, stack.actions["webhook"],
        [(e["detail"]["findings"][0]["ProductArn"], e["detail"]["findings"][0]["Id"])
         for e in events],
    )  # fmt: skip
    third = stack.route_all(second_click)
    assert len(stack.webhook.received) == 2
    assert [o.delivered for o in again + third] == [[]] * 4
    assert [len(o.duplicates) for o in again + third] == [1] * 4


def test_sns_publishes_one_readable_message_per_finding(stack):
    events = stack.click("sns", "guardduty", "macie", "partner")
    stack.route_all(events)
    messages = stack.published()
    assert len(messages) == 3
    notices = [json.loads(m["Message"]) for m in messages]  # the Chatbot "default" form
    assert {n["content"]["title"].split("]")[0] for n in notices} == {"[HIGH"}
    guardduty = [n for n in notices if "detective/home" in n["content"]["description"]]
    assert len(guardduty) == 1
    references = {
        stack.stored(e["detail"]["findings"][0]["Id"])["UserDefinedFields"]["hubrelay:sns"]
        for e in events
    }
    assert references == {m["MessageId"] for m in messages}


def test_opscenter_gets_one_opsitem_per_finding_deduplicated_by_finding(stack):
    events = stack.click("opscenter", "inspector", "securityhub-control")
    stack.route_all(events)
    items = stack.ops.items(ACCOUNT, REGION)
    assert len(items) == 2
    assert {i["OperationalData"]["hubrelay:findingId"]["Value"] for i in items} == {
        e["detail"]["findings"][0]["Id"] for e in events
    }
    # Without the idempotency table, OpsCenter's own dedup string still holds.
    stack.configure(idempotency_table="")
    stack.route_all(copy.deepcopy(events))
    assert len(stack.ops.items(ACCOUNT, REGION)) == 2
    stored = stack.stored(events[0]["detail"]["findings"][0]["Id"])
    assert stored["UserDefinedFields"]["hubrelay:opscenter"] in {i["OpsItemId"] for i in items}


def test_vendor_back_sync_covers_only_this_products_findings(stack):
    _, guardduty = stack.route_all(stack.click("vendor", "partner", "guardduty"))
    assert len(stack.vendor.accepted()) == 1
    assert stack.vendor.accepted()[0].path == "/securityhub/notifications"
    assert stack.vendor.accepted()[0].json()["findingId"] == "secure-pro/finding/98765"
    assert any("not this product's finding" in why for _, why in guardduty.decision.skipped)


def test_vendor_back_sync_covers_a_product_whose_arn_has_no_account(stack):
    # Given the stack configured as Trivy's product, whose ARN has no account, and the
    # customer subscribed to it and importing Trivy's ASFF output from its own account
    trivy = f"arn:aws:securityhub:{REGION}::product/aquasecurity/aquasecurity"
    stack.configure(product_arn=trivy)
    stack.securityhub.enable_import_findings_for_product(ProductArn=trivy)
    (finding, _) = load_fixture("sources/trivy_asff.json")["Findings"]
    finding.update(AwsAccountId=ACCOUNT, ProductArn=trivy)
    assert stack.securityhub.batch_import_findings(Findings=[finding])["SuccessCount"] == 1
    (guardduty,) = stack.seed("guardduty")
    # When the user sends it and a GuardDuty finding (also without an account) to the vendor
    keys = [(trivy, finding["Id"]), (guardduty["ProductArn"], guardduty["Id"])]
    events = stack.contract.custom_action(ACCOUNT, REGION, stack.actions["vendor"], keys)
    ours, theirs = stack.route_all(events)
    # Then the vendor hears of its own finding only
    (notice,) = stack.vendor.accepted()
    assert notice.json()["findingId"] == finding["Id"]
    assert notice.json()["productArn"] == trivy
    assert ours.decision.skipped == []
    assert [why for _, why in theirs.decision.skipped] == ["vendor: not this product's finding"]


def test_a_destination_failing_once_is_retried_and_delivered_once(stack):
    stack.webhook.statuses = [500, 503]
    outcome = stack.route(stack.click_one("webhook", "macie"))
    assert len(stack.webhook.accepted()) == 3
    assert len(outcome.delivered) == 1
    assert outcome.failed == []
    assert stack.dead_letters() == []
    assert stack.stored(outcome.decision.findings[0].Id)["Workflow"]["Status"] == "NOTIFIED"


def test_a_destination_down_for_good_dead_letters_only_that_delivery(stack):
    stack.webhook.fail_if = lambda body: b"secure-pro/finding/98765" in body
    # Security Hub sends one finding per event; an event carrying several (the format
    # allows it: a hand-made or replayed one) is handled finding by finding.
    first, second = stack.click("webhook", "partner", "guardduty")
    event = dict(first, detail=dict(first["detail"], findings=[
        first["detail"]["findings"][0], second["detail"]["findings"][0]
    ]))  # fmt: skip
    outcome = stack.route(event)
    # The other finding went through and was written back.
    assert len(outcome.delivered) == 1
    assert stack.stored(event["detail"]["findings"][1]["Id"])["Workflow"]["Status"] == "NOTIFIED"
    assert stack.stored("secure-pro/finding/98765")["Workflow"]["Status"] == "NEW"
    # The failed one is in the dead-letter queue with the reason and a replayable event.
    (parked,) = stack.dead_letters()
    assert "HTTP 500" in parked["reason"]
    assert "gave up after 3 attempts" in parked["reason"]
    assert parked["findings"] == [
        {
            "ProductArn": event["detail"]["findings"][0]["ProductArn"],
            "Id": "secure-pro/finding/98765",
        }
    ]
    assert [f["Id"] for f in parked["event"]["detail"]["findings"]] == ["secure-pro/finding/98765"]
    # Once the receiver is back, replaying the parked event delivers just that finding.
    stack.webhook.fail_if = lambda body: False
    replay = stack.route(parked["event"])
    assert len(replay.delivered) == 1
    assert replay.duplicates == []


def test_an_unreadable_secret_fails_the_delivery_without_leaking_anything(stack):
    stack.configure(webhook_secret_arn="hubrelay/missing")
    outcome = stack.route(stack.click_one("webhook", "macie"))
    (parked,) = stack.dead_letters()
    assert "cannot read its secret (" in parked["reason"]
    assert SIGNING_SECRET not in json.dumps(parked)
    assert outcome.failed


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e.update(source="aws.config"),
        lambda e: e.update(resources=[e["resources"][0].replace(ACCOUNT, "999999999999")]),
        lambda e: e["detail"].update(findings=[{"NoId": True}, "junk"]),
        lambda e: e["detail"]["findings"][0].update(Confidence=10**400),
        lambda e: e["detail"]["findings"][0].update(ProductFields={"x": nested(100_000)}),
    ],
    ids=["wrong-source", "foreign-action-arn", "malformed-findings", "integer-401", "deep"],
)
def test_hostile_events_change_nothing(stack, mutate):
    event = stack.click_one("webhook", "guardduty")
    before = stack.contract.findings(ACCOUNT, REGION)
    mutate(event)
    outcome = stack.route(event)
    assert not outcome.decision.accepted
    assert stack.webhook.received == []
    assert stack.contract.findings(ACCOUNT, REGION) == before
    assert stack.dead_letters() == []


def _private_finding(finding: dict[str, Any], **changes: Any) -> dict[str, Any]:
    updated = dict(finding, AwsAccountId=ACCOUNT, **changes)
    updated["ProductArn"] = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
    return updated


def _imported_for_the_automatic_route(
    stack: Any, finding: dict[str, Any], fid: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A private finding imported as `fid`, and the one Imported event of it that the
    template's AutoRouteRule pattern matches."""
    from hubrelay_emulator.eventpattern import matches
    from tests.integration.test_route_patterns import auto_route_pattern

    events: list[dict[str, Any]] = []
    stack.contract.subscribe(events.append)
    finding = _private_finding(finding, Id=fid)
    stack.securityhub.batch_import_findings(Findings=[finding])
    (event,) = [e for e in events if matches(auto_route_pattern({}), e)]
    return finding, event


def test_a_reopened_finding_is_notified_once_per_reopening_and_does_not_loop(stack, finding):
    # The rule's filters, applied as EventBridge would, in front of the responder.
    from hubrelay_emulator.eventpattern import matches
    from tests.integration.test_route_patterns import auto_route_pattern

    pattern = auto_route_pattern({"AutoRouteMinSeverity": "HIGH"})
    events: list[dict[str, Any]] = []
    stack.contract.subscribe(events.append)
    finding = _private_finding(finding, Id="auto/1")

    def matching() -> list[dict[str, Any]]:
        taken = [event for event in events if matches(pattern, event)]
        events.clear()
        return taken

    def reimport(day: int, **changes: Any) -> None:
        stamp = f"2026-11-{day:02d}T10:00:00.000Z"
        stack.securityhub.batch_import_findings(
            Findings=[dict(finding, UpdatedAt=stamp, **changes)]
        )

    stack.securityhub.batch_import_findings(Findings=[finding])
    # The import matches; the responder's write-back emits an update event that does not.
    for event in matching():
        stack.route(event)
    assert len(stack.webhook.accepted()) == 1
    assert len(stack.published()) == 1
    assert stack.stored("auto/1")["Workflow"]["Status"] == "NOTIFIED"
    assert matching() == []

    # Archived, then active again: Security Hub resets Workflow.Status to NEW, and two more
    # imports of the reopened finding arrive before the responder runs.
    reimport(2, RecordState="ARCHIVED")
    reimport(3, RecordState="ACTIVE")
    reimport(4, RecordState="ACTIVE")
    assert stack.stored("auto/1")["Workflow"]["Status"] == "NEW"
    queued = matching()
    assert len(queued) == 2
    for event in queued:
        stack.route(event)
    # The reopening is notified again, exactly once, and the finding is NOTIFIED again.
    assert len(stack.webhook.accepted()) == 2
    assert len(stack.published()) == 1
    stored = stack.stored("auto/1")
    assert stored["Workflow"]["Status"] == "NOTIFIED"
    assert stored["UserDefinedFields"]["hubrelay:webhook:reopened"] == "1"
    assert stored["UserDefinedFields"]["hubrelay:webhook"] == "T-2"
    assert "reopening 1" in stored["Note"]["Text"]
    first, second = (r.headers["X-Hubrelay-Delivery"] for r in stack.webhook.accepted())
    assert first != second
    # Later imports of the same state queue nothing (the loop is broken), even after the
    # idempotency window.
    stack.configure(idempotency_table="")
    reimport(5, RecordState="ACTIVE")
    assert matching() == []
    # A second reopening is a delivery of its own.
    reimport(6, RecordState="ARCHIVED")
    reimport(7, RecordState="ACTIVE")
    for event in matching():
        stack.route(event)
    assert len(stack.webhook.accepted()) == 3
    assert stack.stored("auto/1")["UserDefinedFields"]["hubrelay:webhook:reopened"] == "2"
    assert stack.stored("auto/1")["Workflow"]["Status"] == "NOTIFIED"


# --- The Lambda handler (functions/responder/app.py) -----------------------------------


def test_handler_rejects_a_hostile_event_with_a_log_line_and_a_metric(
    stack, monkeypatch, capsys, caplog
):
    app = load_responder(stack, monkeypatch)
    event = stack.click_one("webhook", "guardduty")
    event["source"] = "attacker.securityhub"
    with caplog.at_level(logging.WARNING):
        assert app.handler(event, responder_context()) == {}
    out = capsys.readouterr().out
    (rejected,) = [r for r in caplog.records if r.getMessage() == "event rejected"]
    assert "is not aws.securityhub" in rejected.__dict__["reason"]
    metrics = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    assert any(
        m.get("RouteEventsRejected") == [1.0] or m.get("RouteEventsRejected") == 1.0
        for m in metrics
    )
    assert stack.webhook.received == []


def test_handler_routes_automatic_route_batches_from_the_queue(stack, monkeypatch, finding):
    app = load_responder(stack, monkeypatch)
    events: list[dict[str, Any]] = []
    stack.contract.subscribe(events.append)
    stack.securityhub.batch_import_findings(
        Findings=[
            _private_finding(finding, Id="queued/1"),
            _private_finding(finding, Id="queued/2"),
        ]
    )
    records = [
        sqs_record(json.dumps(e), f"m{i}", queue_arn=AUTO_ROUTE_QUEUE)
        for i, e in enumerate(events[:2])
    ]
    records.append(sqs_record("not json", "m-junk", queue_arn=AUTO_ROUTE_QUEUE))
    reply = app.handler({"Records": records}, responder_context())
    assert reply == {"batchItemFailures": []}
    assert sorted(r.json()["findings"][0]["id"] for r in stack.webhook.accepted()) == [
        "queued/1",
        "queued/2",
    ]


def test_handler_leaves_findings_of_other_accounts_alone_with_a_log_line_and_a_metric(
    stack, monkeypatch, capsys, caplog
):
    # Given the responder of a stack in another account than the findings' own
    stack.configure(account_id="999999999999")
    app = load_responder(stack, monkeypatch)
    event = stack.click_one("webhook", "guardduty")
    event["account"] = "999999999999"
    with caplog.at_level(logging.WARNING):
        assert app.handler(event, responder_context()) == {}
    # Then nothing is sent, and a warning and the RouteFindingsForeign metric say why
    assert stack.webhook.received == []
    (line,) = [r for r in caplog.records if r.getMessage().startswith("findings of other")]
    assert "RouteMemberAccounts" in str(line.__dict__["findings"])
    out = capsys.readouterr().out
    metrics = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    assert any(m.get("RouteFindingsForeign") in ([1.0], 1.0) for m in metrics)


# --- The write-back decides from the finding's current state ---------------------------


class FailingUpdates:
    """A Security Hub client whose BatchUpdateFindings fails with a 500 the first `times`
    calls; everything else goes to the real (emulated) service."""

    def __init__(self, client: Any, times: int) -> None:
        self.client, self.times = client, times

    def batch_update_findings(self, **params: Any) -> Any:
        if self.times > 0:
            self.times -= 1
            error = {"Code": "InternalException", "Message": "try later"}
            raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 500}}, "X")
        return self.client.batch_update_findings(**params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_a_write_back_that_failed_sets_the_workflow_when_the_event_is_retried(stack):
    # Given a delivery whose write-back Security Hub refused on every attempt (defect a)
    event = stack.click_one("webhook", "guardduty")
    (finding,) = event["detail"]["findings"]
    real = stack.services.securityhub
    stack.services.securityhub = lambda region: FailingUpdates(real(region), times=4)
    with pytest.raises(WriteBackError):
        stack.route(event)
    assert stack.stored(finding["Id"])["Workflow"]["Status"] == "NEW"
    # When the event is retried (the delivery is now a duplicate)
    stack.services.securityhub = real
    again = stack.route(copy.deepcopy(event))
    # Then nothing is sent twice, and the finding is NOTIFIED with the reference
    assert again.delivered == []
    assert len(stack.webhook.accepted()) == 1
    stored = stack.stored(finding["Id"])
    assert stored["Workflow"]["Status"] == "NOTIFIED"
    assert stored["UserDefinedFields"]["hubrelay:webhook"].startswith("T-")


def test_an_automatic_route_delivery_is_not_sent_again_by_a_retry_past_the_window(stack, finding):
    # Given an automatic-route finding delivered to the webhook and SNS, whose write-back
    # fails on every attempt of this receive
    finding, event = _imported_for_the_automatic_route(stack, finding, "retried/1")
    real = stack.services.securityhub
    stack.services.securityhub = lambda region: FailingUpdates(real(region), times=4)
    with pytest.raises(WriteBackError):
        stack.route(copy.deepcopy(event))
    assert stack.stored("retried/1")["Workflow"]["Status"] == "NEW"
    assert (len(stack.webhook.accepted()), len(stack.published())) == (1, 1)
    # When the queue receives it again past IdempotencyWindowMinutes (60): its 3rd receive
    # comes 2 visibility timeouts (61 minutes) after the first, its 5th 122 minutes after
    stack.services.securityhub = real
    pass_minutes_in_the_ledger(2 * 1830 / 60 + 1)
    third = stack.route(copy.deepcopy(event))
    # Then nothing is sent again (before: the ledger had forgotten both deliveries at 60
    # minutes, and the finding, still NEW and unmarked, was sent to both a second time),
    # and the write-back is done
    assert third.delivered == []
    assert len(stack.webhook.accepted()) == 1
    assert stack.published() == []
    assert stack.stored("retried/1")["Workflow"]["Status"] == "NOTIFIED"
    # And a custom action keeps the window as set: a click 61 minutes after the last one
    # sends again
    click = stack.click_one("webhook", "guardduty")
    stack.route(copy.deepcopy(click))
    pass_minutes_in_the_ledger(61)
    assert len(stack.route(copy.deepcopy(click)).delivered) == 1


class OversizedFindings:
    """A Security Hub client whose BatchUpdateFindings answers every identifier
    UnprocessedFindings FindingSizeExceeded (an ErrorCode of
    BatchUpdateFindingsUnprocessedFinding,
    https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchUpdateFindingsUnprocessedFinding.html:
    the update would make the finding too large); the rest is the emulated service."""

    def __init__(self, client: Any) -> None:
        self.client, self.updates = client, 0

    def batch_update_findings(self, **params: Any) -> Any:
        self.updates += 1
        message = "Finding size would exceed the limit"
        return {
            "ProcessedFindings": [],
            "UnprocessedFindings": [
                {
                    "FindingIdentifier": i,
                    "ErrorCode": "FindingSizeExceeded",
                    "ErrorMessage": message,
                }
                for i in params["FindingIdentifiers"]
            ],
        }

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_a_finding_too_large_to_write_back_is_kept_with_its_reason_not_retried(stack, caplog):
    # Given a delivery whose write-back Security Hub refuses with FindingSizeExceeded
    # (defect f): no later attempt can make the finding smaller
    from hubrelay.observability import record_route

    event = stack.click_one("webhook", "guardduty")
    (finding,) = event["detail"]["findings"]
    real = stack.services.securityhub
    hub = OversizedFindings(real(REGION))
    stack.services.securityhub = lambda region: hub
    # When it is routed, the event is not failed (no retry until the dead-letter queue)
    outcome = stack.route(event)
    with caplog.at_level(logging.WARNING):
        record_route(outcome)
    # Then the delivery stands, the update was sent once, and the refusal is kept with
    # its reason in one log line
    assert len(outcome.delivered) == 1
    assert hub.updates == 1
    assert outcome.writeback is not None
    (refused,) = outcome.writeback.unprocessed
    assert refused["ErrorCode"] == "FindingSizeExceeded"
    assert refused["FindingIdentifier"]["Id"] == finding["Id"]
    lines = [r for r in caplog.records if r.getMessage() == "write-back incomplete"]
    assert len(lines) == 1
    assert "FindingSizeExceeded" in str(lines[0].__dict__)
    assert stack.dead_letters() == []
    # And a redelivery of the event sends nothing twice
    stack.services.securityhub = real
    assert stack.route(copy.deepcopy(event)).delivered == []


@pytest.mark.parametrize("status", ["RESOLVED", "SUPPRESSED"])
def test_a_stale_event_never_moves_a_finding_resolved_since(stack, status):
    # Given a custom-action event that waits (a backlog, a retry, a DLQ replay) while
    # someone resolves the finding (defect b)
    event = stack.click_one("webhook", "inspector")
    (finding,) = event["detail"]["findings"]
    identifier = {"ProductArn": finding["ProductArn"], "Id": finding["Id"]}
    stack.securityhub.batch_update_findings(
        FindingIdentifiers=[identifier], Workflow={"Status": status}
    )
    # When the stale event is routed
    outcome = stack.route(event)
    # Then it is delivered, the reference written, and the workflow left as the person set it
    assert len(outcome.delivered) == 1
    stored = stack.stored(finding["Id"])
    assert stored["Workflow"]["Status"] == status
    assert "hubrelay:webhook" in stored["UserDefinedFields"]


def test_an_analysts_note_is_kept(stack):
    # Given a finding an analyst wrote a note on (defect d)
    event = stack.click_one("webhook", "macie")
    (finding,) = event["detail"]["findings"]
    identifier = {"ProductArn": finding["ProductArn"], "Id": finding["Id"]}
    note = {"Text": "Owner confirmed: test bucket, deleting Friday.", "UpdatedBy": "alice"}
    stack.securityhub.batch_update_findings(FindingIdentifiers=[identifier], Note=note)
    # When hubrelay routes it
    stack.route(event)
    # Then the note is the analyst's still, and the reference is in UserDefinedFields
    stored = stack.stored(finding["Id"])
    assert (stored["Note"]["Text"], stored["Note"]["UpdatedBy"]) == (note["Text"], "alice")
    assert stored["UserDefinedFields"]["hubrelay:webhook"].startswith("T-")
    assert stored["Workflow"]["Status"] == "NOTIFIED"


def test_queued_events_the_policy_refuses_are_rejected_with_the_reason_alone(
    stack, monkeypatch, finding, caplog
):
    # Given the automatic route's queue holds a good event, one with a 401-digit integer
    # and one nested 100,000 deep
    app = load_responder(stack, monkeypatch)
    events: list[dict[str, Any]] = []
    stack.contract.subscribe(events.append)
    stack.securityhub.batch_import_findings(Findings=[_private_finding(finding, Id="queued/1")])
    good = json.dumps(events[0])
    huge = good.replace('"Id": "queued/1"', '"Confidence": ' + "9" * 401 + ', "Id": "q/2"')
    deep = good.replace('"findings": [', '"findings": [' + "[" * 100_000 + "]" * 100_000 + ", ")
    records = [
        sqs_record(body, message_id, queue_arn=AUTO_ROUTE_QUEUE)
        for message_id, body in (("m-huge", huge), ("m-good", good), ("m-deep", deep))
    ]
    # When the responder handles the batch
    with caplog.at_level(logging.WARNING):
        reply = app.handler({"Records": records}, responder_context())
    # Then every record is done, the good event delivered, each refused one logged with why
    assert reply == {"batchItemFailures": []}
    assert [r.json()["findings"][0]["id"] for r in stack.webhook.accepted()] == ["queued/1"]
    reasons = [r.__dict__["reason"] for r in caplog.records if r.getMessage() == "event rejected"]
    assert reasons == [
        "queued event m-huge: integer of 401 digits (at most 64) at detail.findings[0].Confidence",
        "queued event m-deep: nested too deeply (more than 64 levels)",
    ]
    assert stack.dead_letters() == []


def test_a_throttled_read_of_the_current_state_is_retried_not_failed(stack):
    # Given a custom-action event whose write-back's GetFindings is refused for the rate
    # twice (GetFindings' quota is 3 requests per second, burst 6: one console selection
    # of 20 findings is 20 events that arrive together)
    from tests.integration.route_harness import throttle

    event = stack.click_one("webhook", "guardduty")
    (finding,) = event["detail"]["findings"]
    seen = throttle(stack.services.securityhub(REGION), "GetFindings", times=2)
    # When it is routed
    outcome = stack.route(event)
    # Then the read is retried, and the finding written back in the same invocation
    assert seen == ["refused", "refused", "served"]
    assert len(outcome.delivered) == 1
    assert outcome.writeback is not None
    assert outcome.writeback.unprocessed == []
    assert stack.stored(finding["Id"])["Workflow"]["Status"] == "NOTIFIED"


@pytest.mark.parametrize(
    "since",
    ["suppressed", "archived", "notified"],
)
def test_the_automatic_route_never_sends_a_stale_copy_of_a_finding_settled_since(
    stack, finding, since
):
    # Given an Imported event of a NEW, ACTIVE finding that waits (the queue's batching
    # window, a retry after its visibility timeout, a dead-letter replay) while the finding
    # is suppressed by an analyst, archived by its provider, or notified (an earlier copy
    # delivered, the idempotency window since passed)
    finding, event = _imported_for_the_automatic_route(stack, finding, "stale/1")
    identifier = {"ProductArn": finding["ProductArn"], "Id": "stale/1"}
    if since == "suppressed":
        stack.securityhub.batch_update_findings(
            FindingIdentifiers=[identifier], Workflow={"Status": "SUPPRESSED"}
        )
    elif since == "archived":
        stack.securityhub.batch_import_findings(
            Findings=[dict(finding, UpdatedAt="2026-11-02T10:00:00.000Z", RecordState="ARCHIVED")]
        )
    else:
        stack.route(copy.deepcopy(event))
        assert len(stack.webhook.accepted()) == 1
        stack.configure(idempotency_table="")
    stored_before = stack.stored("stale/1")
    sent_before = (len(stack.webhook.accepted()), len(stack.published()))
    # When the stale copy is routed
    outcome = stack.route(copy.deepcopy(event))
    # Then nothing is sent and the finding is left as it is, with the reason
    assert outcome.delivered == []
    assert (len(stack.webhook.accepted()), len(stack.published())) == (sent_before[0], 0)
    assert "the event's copy is stale" in outcome.decision.skipped[0][1]
    assert stack.stored("stale/1") == stored_before


def test_a_reopening_is_sent_when_the_read_is_behind_the_import_that_reopened_it(stack, finding):
    # Given a notified finding that its provider archives and imports ACTIVE again (Security
    # Hub resets it to NEW), and a GetFindings that still answers with the copy from before
    # the reopening import (older UpdatedAt): the read is behind the event, not the event
    # behind the finding
    from botocore.awsrequest import AWSResponse

    from hubrelay_emulator.eventpattern import matches
    from tests.integration.test_route_patterns import auto_route_pattern

    events: list[dict[str, Any]] = []
    stack.contract.subscribe(events.append)
    finding = _private_finding(finding, Id="lagging/1")
    stack.securityhub.batch_import_findings(Findings=[finding])
    for event in [e for e in events if matches(auto_route_pattern({}), e)]:
        stack.route(event)
    events.clear()
    for day, state in ((2, "ARCHIVED"), (3, "ACTIVE")):
        stamp = f"2026-11-{day:02d}T10:00:00.000Z"
        stack.securityhub.batch_import_findings(
            Findings=[dict(finding, UpdatedAt=stamp, RecordState=state)]
        )
        if state == "ARCHIVED":
            before = stack.stored("lagging/1")
    (reopened,) = [e for e in events if matches(auto_route_pattern({}), e)]
    served: list[str] = []

    def behind(**_: Any) -> Any:
        if served:
            return None
        served.append("old copy")
        return AWSResponse("https://securityhub", 200, {}, None), {"Findings": [before]}

    client = stack.services.securityhub(REGION)
    client.meta.events.register("before-call.securityhub.GetFindings", behind)
    # When the reopening's event is routed
    outcome = stack.route(reopened)
    # Then the reopening is sent, and written back from the (now current) state
    assert served == ["old copy"]
    assert len(outcome.delivered) == 2
    assert len(stack.webhook.accepted()) == 2
    assert stack.stored("lagging/1")["Workflow"]["Status"] == "NOTIFIED"


def test_a_dead_lettered_automatic_route_delivery_is_delivered_on_replay(stack, finding):
    # Given an automatic-route finding whose webhook delivery fails for good while SNS takes
    # it: the finding is written back NOTIFIED (SNS got it) and the webhook's delivery is
    # parked in the dead-letter queue, replayable "as is" (dead_letter_body's docstring)
    finding, event = _imported_for_the_automatic_route(stack, finding, "parked/1")
    stack.webhook.fail_if = lambda body: True
    first = stack.route(copy.deepcopy(event))
    assert len(first.delivered) == 1
    assert len(first.failed) == 1
    assert stack.stored("parked/1")["Workflow"]["Status"] == "NOTIFIED"
    (parked,) = stack.dead_letters()
    assert len(stack.published()) == 1
    # and its preview with the stack's state shows the webhook only (the event's copy alone
    # would show both: `hubrelay route EVENT.json --stack NAME` reads the state)
    shown = preview(parked["event"], stack.config, services=stack.services)
    assert [d["destination"] for d in shown["deliveries"]] == ["webhook"]
    assert [s["why"] for s in shown["skipped"]] == [SNS_NOT_OWED]
    # and its reason says the same (before: "... 1 finding(s) to webhook, sns")
    assert shown["reason"].endswith(": 1 finding(s) to webhook")
    alone = preview(parked["event"], stack.config)
    assert [d["destination"] for d in alone["deliveries"]] == ["webhook", "sns"]
    assert alone["reason"].endswith(": 1 finding(s) to webhook, sns")
    # When the receiver is back and the parked event is replayed
    stack.webhook.fail_if = lambda body: False
    received = len(stack.webhook.accepted())
    replay = stack.route(parked["event"])
    # Then the webhook gets the finding (fails since 67c6b89: skipped, 'the event's copy is stale')
    # and SNS, which had it, not again, even without the ledger's record (the marks say so)
    assert [why for _, why in replay.decision.skipped] == [SNS_NOT_OWED]
    assert [d for d, _, _ in replay.delivered] == ["webhook"]
    assert replay.decision.reason.endswith(": 1 finding(s) to webhook")
    assert replay.duplicates == []
    assert len(stack.webhook.accepted()) == received + 1
    assert stack.published() == []


def test_an_old_replay_after_a_reopening_is_not_sent_again_to_the_destination_that_had_it(
    stack, finding
):
    # Given SNS took the first round and the webhook's delivery of it was dead-lettered
    finding, event = _imported_for_the_automatic_route(stack, finding, "old/1")
    stack.webhook.fail_if = lambda body: True
    stack.route(copy.deepcopy(event))
    (parked,) = stack.dead_letters()
    assert len(stack.published()) == 1
    # and the finding was reopened since: archived, then active again (NEW)
    for day, state in ((2, "ARCHIVED"), (3, "ACTIVE")):
        stamp = f"2026-11-{day:02d}T10:00:00.000Z"
        stack.securityhub.batch_import_findings(
            Findings=[dict(finding, UpdatedAt=stamp, RecordState=state)]
        )
    assert stack.stored("old/1")["Workflow"]["Status"] == "NEW"
    # When the parked delivery is replayed after the idempotency window
    stack.webhook.fail_if = lambda body: False
    forget_the_ledger()
    replay = stack.route(parked["event"])
    # Then the webhook gets the round it missed, and SNS, whose marks show that round, not
    # again (before: SNS re-published the first round under its key)
    assert [d for d, _, _ in replay.delivered] == ["webhook"]
    assert [why for _, why in replay.decision.skipped] == [SNS_NOT_OWED]
    assert stack.published() == []
    # and a second replay finds every destination sent that round: stale
    again = stack.route(parked["event"])
    assert again.delivered == []
    assert "every destination has this copy's round" in again.decision.skipped[0][1]


@pytest.mark.parametrize("replay_first", [True, False], ids=["replay-first", "reopening-first"])
def test_a_reopening_is_notified_once_whichever_comes_first_of_it_and_an_old_replay(
    stack, finding, replay_first
):
    # Given SNS took the first round, the webhook's delivery of it was dead-lettered, and
    # the finding was reopened since (its reopening's event matched by the rule)
    from hubrelay_emulator.eventpattern import matches
    from tests.integration.test_route_patterns import auto_route_pattern

    finding, event = _imported_for_the_automatic_route(stack, finding, "twice/1")
    stack.webhook.fail_if = lambda body: True
    stack.route(copy.deepcopy(event))
    (parked,) = stack.dead_letters()
    assert len(stack.published()) == 1
    events: list[dict[str, Any]] = []
    stack.contract.subscribe(events.append)
    for day, state in ((2, "ARCHIVED"), (3, "ACTIVE")):
        stamp = f"2026-11-{day:02d}T10:00:00.000Z"
        stack.securityhub.batch_import_findings(
            Findings=[dict(finding, UpdatedAt=stamp, RecordState=state)]
        )
    (reopening,) = [e for e in events if matches(auto_route_pattern({}), e)]
    stack.webhook.fail_if = lambda body: False
    forget_the_ledger()
    received = len(stack.webhook.accepted())
    # When the old delivery is replayed and the reopening's event handled, in either order
    first, second = (parked["event"], reopening) if replay_first else (reopening, parked["event"])
    stack.route(copy.deepcopy(first))
    stack.route(copy.deepcopy(second))
    # Then SNS is notified of the reopening once, the webhook once, and the finding ends
    # NOTIFIED with SNS's count at the reopening
    assert len(stack.published()) == 1
    assert len(stack.webhook.accepted()) == received + 1
    stored = stack.stored("twice/1")
    assert stored["UserDefinedFields"]["hubrelay:sns:reopened"] == "1"
    assert stored["Workflow"]["Status"] == "NOTIFIED"


def test_an_automatic_route_retry_after_a_dead_letter_failure_delivers(stack, finding):
    # Given an automatic-route finding whose webhook delivery fails for good while SNS takes
    # it, and no dead-letter queue to park it in: the event fails (DeadLetterError) so that
    # the queue retries it, after the finding was written back NOTIFIED for SNS
    from hubrelay.responder import DeadLetterError

    finding, event = _imported_for_the_automatic_route(stack, finding, "retried/1")
    stack.configure(responder_dlq_url="")
    stack.webhook.fail_if = lambda body: True
    with pytest.raises(DeadLetterError):
        stack.route(copy.deepcopy(event))
    assert stack.stored("retried/1")["Workflow"]["Status"] == "NOTIFIED"
    # When the queue retries the event with the receiver back
    stack.webhook.fail_if = lambda body: False
    received = len(stack.webhook.accepted())
    retry = stack.route(copy.deepcopy(event))
    # Then the webhook gets the finding (fails since 67c6b89: skipped as stale, lost for good)
    assert [why for _, why in retry.decision.skipped] == [SNS_NOT_OWED]
    assert [d for d, _, _ in retry.delivered] == ["webhook"]
    assert len(stack.webhook.accepted()) == received + 1
