"""The responder on the new Security Hub's events, through boto3 on moto and the emulator's
V2 contract: delivered signed, written back with BatchUpdateFindingsV2, what was sent where
in DynamoDB, a reopened finding notified once per reopening, never a loop."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from hubrelay.responder import DeadLetterError, WriteBackError, preview
from tests.integration.route_harness import (
    ACCOUNT,
    REGION,
    SNS_NOT_OWED,
    Stack,
    forget_the_ledger,
    responder_stack,
)
from tests.support import load_fixture


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with responder_stack(monkeypatch) as built:
        built.configure(securityhubs="SecurityHub", auto_route_destinations="webhook")
        built.events = []  # type: ignore[attr-defined]
        built.contract.subscribe(built.events.append)  # type: ignore[attr-defined]
        yield built


def ocsf_finding(uid: str = "uid-1") -> dict[str, Any]:
    finding: dict[str, Any] = copy.deepcopy(
        load_fixture("events/imported-v2-guardduty.json")["detail"]["findings"][0]
    )
    finding["metadata"]["uid"] = uid
    finding["cloud"]["account"]["uid"] = ACCOUNT
    finding["cloud"]["region"] = REGION
    return finding


def stored(stack: Stack, uid: str = "uid-1") -> dict[str, Any]:
    (found,) = [
        f for f in stack.contract.findings_v2(ACCOUNT, REGION) if f["metadata"]["uid"] == uid
    ]
    return found


def test_an_imported_v2_event_is_delivered_and_written_back_in_progress(stack: Stack) -> None:
    event = stack.contract.import_v2(ocsf_finding())
    outcome = stack.route(event)
    assert [r.json()["findings"][0]["id"] for r in stack.webhook.accepted()] == ["uid-1"]
    assert outcome.writeback is not None
    assert outcome.writeback.unprocessed == []
    finding = stored(stack)
    assert finding["status_id"] == 2
    assert "T-1" in finding["comment"]
    # The write-back's own event (In Progress) is not routed again: no loop.
    (update_event,) = stack.events[1:]  # type: ignore[attr-defined]
    again = stack.route(update_event)
    assert again.delivered == []
    assert len(stack.webhook.received) == 1
    assert "Workflow.Status is NOTIFIED" in again.decision.skipped[0][1]


def test_a_replayed_event_after_resolution_changes_nothing(stack: Stack) -> None:
    event = stack.contract.import_v2(ocsf_finding())
    stack.route(event)
    client = stack.securityhub
    client.batch_update_findings_v2(MetadataUids=["uid-1"], StatusId=4, Comment="fixed")
    replay = stack.route(copy.deepcopy(event))
    assert replay.delivered == []
    assert stored(stack)["status_id"] == 4


def test_a_reopened_v2_finding_is_notified_once_per_reopening(stack: Stack) -> None:
    stack.route(stack.contract.import_v2(ocsf_finding()))
    # Someone (or an automation rule) sets it New again: a reopening.
    stack.securityhub.batch_update_findings_v2(MetadataUids=["uid-1"], StatusId=1)
    reopened = stack.events[-1]  # type: ignore[attr-defined]
    first = stack.route(reopened)
    second = stack.route(copy.deepcopy(reopened))
    assert len(first.delivered) == 1
    assert second.delivered == []
    assert len(stack.webhook.received) == 2
    assert stored(stack)["status_id"] == 2


def test_the_dead_letter_replay_keeps_the_ocsf_finding(stack: Stack) -> None:
    stack.webhook.fail_if = lambda body: True
    event = stack.contract.import_v2(ocsf_finding())
    outcome = stack.route(event)
    assert outcome.dead_lettered == 1
    (letter,) = stack.dead_letters()
    assert [f["metadata"]["uid"] for f in letter["event"]["detail"]["findings"]] == ["uid-1"]


def test_route_preview_names_each_metadata_uid_with_its_decision(stack: Stack) -> None:
    event = stack.contract.import_v2(ocsf_finding())
    report = preview(event, stack.config)
    assert report["findings"] == [
        {"metadataUid": "uid-1", "decision": "accepted", "to": ["webhook"]}
    ]
    (write_back,) = report["writeBack"]
    assert write_back["operation"] == "BatchUpdateFindingsV2"
    assert write_back["request"]["MetadataUids"] == ["uid-1"]
    assert write_back["request"]["StatusId"] == 2
    low = copy.deepcopy(event)
    low["detail"]["findings"][0]["severity_id"] = 1
    (skipped,) = preview(low, stack.config)["findings"]
    assert skipped["decision"] == "rejected"
    assert "below HIGH" in skipped["why"]
    off = preview(
        event,
        stack.config.__class__.from_settings(
            dataclasses.replace(stack.settings, securityhubs="CSPM")
        ),
    )
    assert off["findings"] == [
        {"metadataUid": "uid-1", "decision": "rejected", "why": off["reason"]}
    ]


def test_a_ticket_is_opened_through_the_connector_once_and_kept_in_the_comment(
    stack: Stack,
) -> None:
    connector = stack.contract.v2.add_connector(ACCOUNT, REGION)
    stack.configure(
        securityhubs="SecurityHub", auto_route_destinations="ticket", ticket_connector_id=connector
    )
    event = stack.contract.import_v2(ocsf_finding())
    outcome = stack.route(event)
    (ticket,) = stack.contract.v2.tickets
    assert (ticket.connector_id, ticket.metadata_uid) == (connector, "uid-1")
    assert [(d, ref) for d, _, ref in outcome.delivered] == [
        ("ticket", f"{ticket.ticket_id} {ticket.url}")
    ]
    comment = stored(stack)["comment"]
    assert ticket.ticket_id in comment
    assert ticket.url in comment
    # A second invocation without the ledger's record (its window passed, or another
    # Region's responder) sends the same ClientToken: still one ticket.
    from hubrelay.destinations import REGISTRY

    (delivery,) = REGISTRY["ticket"].render(
        outcome.decision, outcome.decision.findings, stack.settings
    )
    again = REGISTRY["ticket"].send(delivery, {}, stack.settings, stack.services.outlets)
    assert again["reference"].startswith(ticket.ticket_id)
    assert len(stack.contract.v2.tickets) == 1


def test_a_cspm_finding_never_goes_to_the_ticket_connector(stack: Stack) -> None:
    connector = stack.contract.v2.add_connector(ACCOUNT, REGION)
    stack.configure(
        securityhubs="Both",
        auto_route_destinations="ticket",
        ticket_connector_id=connector,
        auto_route_min_severity="INFORMATIONAL",
    )
    finding = load_fixture("events/custom-action-partner.json")["detail"]["findings"][0]
    stack.contract.seed(ACCOUNT, REGION, [finding])
    event = load_fixture("events/imported-inspector.json")
    event["detail"]["findings"] = [dict(finding, Workflow={"Status": "NEW"})]
    outcome = stack.route(event)
    assert outcome.delivered == []
    assert "not a Security Hub CSPM finding" in outcome.decision.skipped[-1][1]
    assert stack.contract.v2.tickets == []


def test_a_connector_security_hub_does_not_know_dead_letters_with_the_reason(
    stack: Stack,
) -> None:
    stack.configure(
        securityhubs="SecurityHub", auto_route_destinations="ticket", ticket_connector_id="nope"
    )
    outcome = stack.route(stack.contract.import_v2(ocsf_finding()))
    (failed,) = outcome.failed
    assert "ResourceNotFoundException" in failed[2]
    assert outcome.dead_lettered == 1


class FailingUpdatesV2:
    """A Security Hub client whose BatchUpdateFindingsV2 fails with a 500 the first `times`
    calls; everything else goes to the emulated service."""

    def __init__(self, client: Any, times: int) -> None:
        self.client, self.times = client, times

    def batch_update_findings_v2(self, **params: Any) -> Any:
        if self.times > 0:
            self.times -= 1
            error = {"Code": "InternalServerException", "Message": "try later"}
            raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 500}}, "X")
        return self.client.batch_update_findings_v2(**params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


@pytest.mark.parametrize("destination", ["webhook", "ticket"])
def test_a_write_back_that_failed_is_redone_on_retry_without_a_second_delivery(
    stack: Stack, destination: str
) -> None:
    # Given a delivery whose BatchUpdateFindingsV2 failed on every attempt, so the finding
    # is still New and the event is retried (WriteBackError)
    connector = stack.contract.v2.add_connector(ACCOUNT, REGION)
    stack.configure(
        securityhubs="SecurityHub",
        auto_route_destinations=destination,
        ticket_connector_id=connector,
    )
    event = stack.contract.import_v2(ocsf_finding())
    real = stack.services.securityhub
    stack.services.securityhub = lambda region: FailingUpdatesV2(real(region), times=4)
    with pytest.raises(WriteBackError):
        stack.route(event)
    assert stored(stack)["status_id"] == 1
    # When the event is retried and the write-back goes through
    stack.services.securityhub = real
    again = stack.route(copy.deepcopy(event))
    # Then the retry is the same delivery (a duplicate), not a reopening sent again
    assert again.delivered == []
    assert len(stack.webhook.received) == (1 if destination == "webhook" else 0)
    assert len(stack.contract.v2.tickets) == (1 if destination == "ticket" else 0)
    assert stored(stack)["status_id"] == 2
    assert "reopening" not in stored(stack)["comment"]


def test_a_throttled_read_of_the_current_state_is_retried_not_failed(stack: Stack) -> None:
    # Given GetFindingsV2 refusing two calls for the rate (the automatic route reads the
    # finding's state before sending and again before the write-back)
    from tests.integration.route_harness import throttle

    event = stack.contract.import_v2(ocsf_finding())
    seen = throttle(stack.services.securityhub(REGION), "GetFindingsV2", times=2)
    # When the event is routed
    outcome = stack.route(event)
    # Then both reads are retried: delivered and written back in this invocation
    assert seen == ["refused", "refused", "served", "served"]
    assert len(outcome.delivered) == 1
    assert outcome.writeback is not None
    assert outcome.writeback.unprocessed == []
    assert stored(stack)["status_id"] == 2


def _reopen(stack: Stack) -> dict[str, Any]:
    """Set the finding New again (someone, or an automation rule): its reopening's event."""
    stack.securityhub.batch_update_findings_v2(MetadataUids=["uid-1"], StatusId=1)
    event: dict[str, Any] = stack.events[-1]  # type: ignore[attr-defined]
    return event


def test_a_dead_lettered_v2_delivery_is_delivered_on_replay_and_the_other_not_twice(
    stack: Stack,
) -> None:
    # Given an automatic route to the webhook and SNS, the webhook failing for good: SNS
    # takes the finding, which is written back In Progress, and the webhook's delivery is
    # parked in the dead-letter queue, replayable as is
    stack.configure(auto_route_destinations="webhook,sns")
    stack.webhook.fail_if = lambda body: True
    first = stack.route(stack.contract.import_v2(ocsf_finding()))
    assert [d for d, _, _ in first.delivered] == ["sns"]
    assert stored(stack)["status_id"] == 2
    (parked,) = stack.dead_letters()
    assert len(stack.published()) == 1
    received = len(stack.webhook.accepted())
    # When the receiver is back and the parked event is replayed after the ledger forgot
    stack.webhook.fail_if = lambda body: False
    forget_the_ledger()
    replay = stack.route(parked["event"])
    # Then the webhook gets the finding (before 3665dd3: skipped, 'no longer New ... stale'),
    # and SNS, which had this round, is not sent it again
    assert [d for d, _, _ in replay.delivered] == ["webhook"]
    assert replay.duplicates == []
    assert [why for _, why in replay.decision.skipped] == [SNS_NOT_OWED]
    assert len(stack.webhook.accepted()) == received + 1
    assert stack.published() == []
    # and another copy of the event finds nothing owed: stale, skipped
    again = stack.route(parked["event"])
    assert again.delivered == []
    assert "no longer New" in again.decision.skipped[0][1]


def test_a_v2_retry_after_a_dead_letter_failure_delivers_the_destination_that_failed(
    stack: Stack,
) -> None:
    # Given no dead-letter queue: the webhook's failure fails the event (DeadLetterError)
    # for the queue to retry, after SNS took the finding and it was written back
    stack.configure(auto_route_destinations="webhook,sns", responder_dlq_url="")
    stack.webhook.fail_if = lambda body: True
    event = stack.contract.import_v2(ocsf_finding())
    with pytest.raises(DeadLetterError):
        stack.route(copy.deepcopy(event))
    assert stored(stack)["status_id"] == 2
    assert len(stack.published()) == 1
    # When the queue retries the event with the receiver back
    stack.webhook.fail_if = lambda body: False
    received = len(stack.webhook.accepted())
    retry = stack.route(copy.deepcopy(event))
    # Then the webhook gets it (before: skipped as stale, lost for good), SNS not again
    assert [d for d, _, _ in retry.delivered] == ["webhook"]
    assert len(stack.webhook.accepted()) == received + 1
    assert stack.published() == []


def test_a_reopening_dead_lettered_for_one_destination_is_delivered_on_replay(
    stack: Stack,
) -> None:
    # Given both destinations had the first round, and the webhook's delivery of the
    # reopening failed while SNS took it
    stack.configure(auto_route_destinations="webhook,sns")
    assert len(stack.route(stack.contract.import_v2(ocsf_finding())).delivered) == 2
    stack.published()
    event = _reopen(stack)
    stack.webhook.fail_if = lambda body: True
    assert [d for d, _, _ in stack.route(copy.deepcopy(event)).delivered] == ["sns"]
    (parked,) = stack.dead_letters()
    assert len(stack.published()) == 1
    # When the parked delivery is replayed
    stack.webhook.fail_if = lambda body: False
    received = len(stack.webhook.accepted())
    replay = stack.route(parked["event"])
    # Then the webhook gets the reopening, under the key of its failed attempt (its
    # payload's round), SNS nothing; a later copy of the event nothing at all
    assert [d for d, _, _ in replay.delivered] == ["webhook"]
    assert len(stack.webhook.accepted()) == received + 1
    assert stack.published() == []
    assert stack.route(copy.deepcopy(event)).delivered == []


def test_a_redelivered_copy_after_a_destination_was_added_sends_nothing(stack: Stack) -> None:
    # Given the first round sent to SNS only, then the webhook added to the route
    stack.configure(auto_route_destinations="sns")
    assert len(stack.route(stack.contract.import_v2(ocsf_finding())).delivered) == 1
    stack.configure(auto_route_destinations="webhook,sns")
    # When the finding is reopened, both take it (SNS its reopening 1, the webhook its
    # first delivery), and the event arrives a second time (EventBridge: at least once)
    event = _reopen(stack)
    assert sorted(d for d, _, _ in stack.route(copy.deepcopy(event)).delivered) == [
        "sns",
        "webhook",
    ]
    received, _ = len(stack.webhook.accepted()), stack.published()
    forget_the_ledger()
    again = stack.route(copy.deepcopy(event))
    # Then nothing is sent again: the rounds differ per destination, none is owed
    assert again.delivered == []
    assert len(stack.webhook.accepted()) == received
    assert stack.published() == []


def test_a_redelivered_copy_after_a_missed_round_sends_nothing(stack: Stack) -> None:
    # Given the webhook's first round dead-lettered and never replayed, then a reopening
    # both took (SNS its reopening 1, the webhook its first delivery)
    stack.configure(auto_route_destinations="webhook,sns")
    stack.webhook.fail_if = lambda body: True
    stack.route(stack.contract.import_v2(ocsf_finding()))
    (parked,) = stack.dead_letters()
    stack.webhook.fail_if = lambda body: False
    event = _reopen(stack)
    assert len(stack.route(copy.deepcopy(event)).delivered) == 2
    received = len(stack.webhook.accepted())
    forget_the_ledger()
    # When the reopening's event arrives again, and the old parked delivery is replayed
    again = stack.route(copy.deepcopy(event))
    late = stack.route(parked["event"])
    # Then neither sends anything
    assert again.delivered == late.delivered == []
    assert len(stack.webhook.accepted()) == received


def test_a_resolved_finding_a_destination_still_owes_is_not_sent(stack: Stack) -> None:
    # Given the webhook's delivery dead-lettered, then the finding resolved by an analyst
    stack.configure(auto_route_destinations="webhook,sns")
    stack.webhook.fail_if = lambda body: True
    stack.route(stack.contract.import_v2(ocsf_finding()))
    (parked,) = stack.dead_letters()
    stack.securityhub.batch_update_findings_v2(MetadataUids=["uid-1"], StatusId=4)
    stack.webhook.fail_if = lambda body: False
    # When the parked delivery is replayed
    replay = stack.route(parked["event"])
    # Then nothing is sent: resolved is settled, whatever is owed
    assert replay.delivered == []
    assert "status_id 4" in replay.decision.skipped[0][1]


def test_a_failed_delivery_that_cannot_be_recorded_leaves_the_finding_new(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the webhook failing and DynamoDB refusing the record of that failure
    stack.configure(auto_route_destinations="webhook,sns")
    stack.webhook.fail_if = lambda body: True
    error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}

    def refuse(*_: Any) -> None:
        raise ClientError(error, "PutItem")  # type: ignore[arg-type]

    assert stack.services.sent_v2 is not None
    monkeypatch.setattr(stack.services.sent_v2, "owe", refuse)
    # When the event is routed
    with pytest.raises(WriteBackError, match="cannot record the failed delivery to webhook"):
        stack.route(stack.contract.import_v2(ocsf_finding()))
    # Then the event fails before the write-back: the finding is still New, so the queue's
    # retry takes the usual way (the webhook sent again, SNS the ledger's duplicate)
    assert stored(stack)["status_id"] == 1


def test_a_preview_whose_state_cannot_be_read_says_so_and_shows_the_events_copy(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given GetFindingsV2 refused (the operator's credentials lack it, say)
    from hubrelay import writeback_v2

    error = {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}

    def refuse(*_: Any, **__: Any) -> Any:
        raise ClientError(error, "GetFindingsV2")  # type: ignore[arg-type]

    event = stack.contract.import_v2(ocsf_finding())
    monkeypatch.setattr(writeback_v2, "read_current", refuse)
    # When the event is previewed with the stack's state
    report = preview(event, stack.config, services=stack.services)
    # Then the preview shows what the event's copy alone would send, and why
    assert "AccessDeniedException" in report["stateNotRead"]
    assert [d["destination"] for d in report["deliveries"]] == ["webhook"]
