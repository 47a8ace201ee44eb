"""hubrelay.writeback: the BatchUpdateFindings requests that record where a finding went."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from hubrelay import writeback
from hubrelay.retry import Retry
from hubrelay.writeback import Sent


def keys(n: int) -> list[tuple[str, str]]:
    return [("arn:aws:securityhub:us-east-1::product/aws/guardduty", f"f-{i}") for i in range(n)]


@given(refs=st.lists(st.text(min_size=1, max_size=2000), min_size=1, max_size=4))
def test_the_note_never_exceeds_512_characters(refs):
    sent = [
        Sent(d, r) for d, r in zip(["webhook", "sns", "opscenter", "vendor"], refs, strict=False)
    ]
    body = writeback.update_for("Send to webhook", sent, "NEW")
    assert 1 <= len(body["Note"]["Text"]) <= 512
    assert all(len(v) <= 1024 for v in body["UserDefinedFields"].values())


def test_only_new_findings_are_moved_to_notified():
    sent = [Sent("sns", "m-1")]
    assert writeback.update_for("auto", sent, "NEW")["Workflow"] == {"Status": "NOTIFIED"}
    assert "Workflow" not in writeback.update_for("auto", sent, "RESOLVED")


def test_identical_updates_share_requests_of_at_most_100_findings():
    same = {key: [Sent("webhook", "batch-1")] for key in keys(150)}
    updates = writeback.build_updates("Send to webhook", same, {})
    assert [len(u.identifiers) for u in updates] == [100, 50]
    distinct = {key: [Sent("sns", f"m-{i}")] for i, key in enumerate(keys(3))}
    assert len(writeback.build_updates("Notify", distinct, {})) == 3


class FlakyHub:
    """Returns the first identifier unprocessed (transient) once, throttles once."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def batch_update_findings(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        ids = request["FindingIdentifiers"]
        if len(self.calls) == 1:
            raise ClientError(
                {"Error": {"Code": "TooManyRequestsException"}}, "BatchUpdateFindings"
            )
        if len(self.calls) == 2:
            return {
                "ProcessedFindings": ids[1:],
                "UnprocessedFindings": [
                    {"FindingIdentifier": ids[0], "ErrorCode": "InternalException"},
                    {
                        "FindingIdentifier": {"Id": "gone", "ProductArn": "p"},
                        "ErrorCode": "FindingNotFound",
                    },
                ],
            }
        return {"ProcessedFindings": ids, "UnprocessedFindings": []}


def test_throttling_and_transient_unprocessed_findings_are_retried_the_rest_reported():
    hub = FlakyHub()
    updates = writeback.build_updates("x", {key: [Sent("sns", "m")] for key in keys(3)}, {})
    result = writeback.apply(hub, updates, Retry(max_attempts=4, sleep=lambda _: None))
    assert len(hub.calls) == 3
    assert hub.calls[2]["FindingIdentifiers"] == [{"ProductArn": keys(1)[0][0], "Id": "f-0"}]
    assert result.processed == 3
    assert [u["ErrorCode"] for u in result.unprocessed] == ["FindingNotFound"]


def test_a_duplicate_delivery_writes_the_note_but_never_moves_the_workflow():
    # Given a finding someone RESOLVED after the first delivery; a redelivered event still
    # says NEW, but the responder marks duplicates UNCHANGED
    body = writeback.update_for("r", [writeback.Sent("webhook", "T-1")], "UNCHANGED")
    assert "Workflow" not in body
    assert body["Note"]["Text"]


def test_only_transient_unprocessed_findings_are_still_pending():
    result = writeback.Result()
    result.unprocessed = [
        {"FindingIdentifier": {"Id": "a"}, "ErrorCode": "FindingNotFound"},
        {"FindingIdentifier": {"Id": "b"}, "ErrorCode": "InternalException"},
    ]
    assert [u["FindingIdentifier"]["Id"] for u in writeback.still_pending(result)] == ["b"]
