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

from hubrelay.responder import WriteBackError, preview
from tests.integration.route_harness import ACCOUNT, REGION, Stack, responder_stack
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


def test_a_dead_lettered_v2_delivery_is_delivered_on_replay_and_the_other_not_twice(
    stack: Stack,
) -> None:
    # Given an automatic route to the webhook and SNS, the webhook failing for good: SNS
    # takes the finding, which is written back In Progress with SNS's record, and the
    # webhook's delivery is parked in the dead-letter queue, replayable as is
    stack.configure(auto_route_destinations="webhook,sns")
    stack.webhook.fail_if = lambda body: True
    first = stack.route(stack.contract.import_v2(ocsf_finding()))
    assert [d for d, _, _ in first.delivered] == ["sns"]
    assert stored(stack)["status_id"] == 2
    (parked,) = stack.dead_letters()
    published, received = len(stack.published()), len(stack.webhook.accepted())
    # When the receiver is back and the parked event is replayed
    stack.webhook.fail_if = lambda body: False
    replay = stack.route(parked["event"])
    # Then the webhook gets the finding (before: skipped, 'no longer New ... stale'), and
    # SNS, which had it, is not sent it again (the ledger's duplicate of the same round)
    assert replay.decision.skipped == []
    assert [d for d, _, _ in replay.delivered] == ["webhook"]
    assert [d for d, _, _ in replay.duplicates] == ["sns"]
    assert len(stack.webhook.accepted()) == received + 1
    assert stack.published() == []  # nothing since the first invocation's `published`
    assert published == 1
    # and a third copy of the event finds every destination sent: stale, skipped
    again = stack.route(parked["event"])
    assert again.delivered == []
    assert "no longer New" in again.decision.skipped[0][1]


def test_a_v2_retry_after_a_dead_letter_failure_delivers_the_destination_that_failed(
    stack: Stack,
) -> None:
    # Given no dead-letter queue: the webhook's failure fails the event (DeadLetterError)
    # for the queue to retry, after SNS took the finding and it was written back
    from hubrelay.responder import DeadLetterError

    stack.configure(auto_route_destinations="webhook,sns", responder_dlq_url="")
    stack.webhook.fail_if = lambda body: True
    event = stack.contract.import_v2(ocsf_finding())
    with pytest.raises(DeadLetterError):
        stack.route(copy.deepcopy(event))
    assert stored(stack)["status_id"] == 2
    # When the queue retries the event with the receiver back
    stack.webhook.fail_if = lambda body: False
    received = len(stack.webhook.accepted())
    retry = stack.route(copy.deepcopy(event))
    # Then the webhook gets it (before: skipped as stale, lost for good)
    assert [d for d, _, _ in retry.delivered] == ["webhook"]
    assert [d for d, _, _ in retry.duplicates] == ["sns"]
    assert len(stack.webhook.accepted()) == received + 1


def test_a_v2_finding_an_analyst_moved_on_is_not_sent_from_a_stale_event(stack: Stack) -> None:
    # Given a finding both destinations were sent, then resolved by an analyst
    stack.configure(auto_route_destinations="webhook,sns")
    event = stack.contract.import_v2(ocsf_finding())
    assert len(stack.route(copy.deepcopy(event)).delivered) == 2
    stack.securityhub.batch_update_findings_v2(MetadataUids=["uid-1"], StatusId=4)
    # When a late copy of the event arrives
    late = stack.route(copy.deepcopy(event))
    # Then nothing is sent
    assert late.delivered == []
    assert "status_id 4" in late.decision.skipped[0][1]
