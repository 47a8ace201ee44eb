"""Status synced back (hubrelay.syncback, hubrelay.callback): closures resolve findings in
both Security Hubs from their current state, through boto3 on moto and the emulator's
contract; the callback is verified with the webhook signature and taken once."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any
from unittest import mock

import boto3
import pytest
from moto import mock_aws

from hubrelay import callback, syncback, writeback_v2
from hubrelay.destinations import webhook
from hubrelay.http import Client
from hubrelay.retry import Retry
from hubrelay_emulator import vendorapi
from hubrelay_emulator.securityhub import Contract, client_for, enable_hub, install, uninstall
from tests.integration.test_securityhub_contract import make_finding
from tests.integration.test_securityhub_v2_contract import ACCOUNT, REGION, ocsf

NO_WAIT = Retry(max_attempts=2, base_s=0.0, cap_s=0.0)
SECRET = "callback-signing-secret"
TABLE = "hubrelay-idempotency"
NOW = 1_800_000_000.0


@pytest.fixture
def contract(monkeypatch: pytest.MonkeyPatch) -> Iterator[Contract]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    active = install(Contract(rate_per_second=None))
    with mock_aws():
        enable_hub(ACCOUNT, REGION)
        yield active
    uninstall()


@pytest.fixture
def client(contract: Contract) -> Any:
    return client_for(ACCOUNT, REGION)


@pytest.fixture
def table(contract: Contract) -> Any:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return dynamodb


def cspm(client: Any, n: int, **overrides: Any) -> dict[str, str]:
    finding = make_finding(n, account=ACCOUNT, **overrides)
    assert client.batch_import_findings(Findings=[finding])["FailedCount"] == 0
    return {"productArn": finding["ProductArn"], "findingId": finding["Id"]}


def stored(client: Any, n: int) -> dict[str, Any]:
    (finding,) = client.get_findings(
        Filters={"Id": [{"Value": f"finding-{n}", "Comparison": "EQUALS"}]}
    )["Findings"]
    return dict(finding)


def stored_v2(contract: Contract, uid: str) -> dict[str, Any]:
    return next(f for f in contract.findings_v2(ACCOUNT, REGION) if f["metadata"]["uid"] == uid)


def closure(document: dict[str, Any], reference: str = "SEC-1") -> syncback.Closure:
    return syncback.parse_closure({**document, "reference": reference}, "callback", "test")


# --- resolving ---------------------------------------------------------------------------


def test_a_closed_ticket_resolves_a_cspm_finding_with_a_note(client: Any) -> None:
    outcome = syncback.resolve(client, [closure(cspm(client, 1))], NO_WAIT)
    assert outcome.resolved_cspm == ["CSPM finding 'finding-1'"]
    finding = stored(client, 1)
    assert finding["Workflow"]["Status"] == "RESOLVED"
    assert finding["Note"]["UpdatedBy"] == "hubrelay"
    assert "callback reported SEC-1 closed" in finding["Note"]["Text"]
    assert finding["UserDefinedFields"][syncback.CLOSED_FIELD] == "SEC-1"


def test_an_analysts_note_is_kept_and_the_closure_is_in_user_defined_fields(
    client: Any,
) -> None:
    key = cspm(client, 2)
    note = {"Text": "Payments team owns this; see INC-42.", "UpdatedBy": "analyst"}
    client.batch_update_findings(
        FindingIdentifiers=[{"ProductArn": key["productArn"], "Id": key["findingId"]}], Note=note
    )
    syncback.resolve(client, [closure(key)], NO_WAIT)
    finding = stored(client, 2)
    assert finding["Workflow"]["Status"] == "RESOLVED"
    assert finding["Note"]["Text"] == note["Text"]
    assert finding["UserDefinedFields"][syncback.CLOSED_FIELD] == "SEC-1"


def test_a_suppressed_cspm_finding_stays_suppressed(client: Any) -> None:
    key = cspm(client, 3)
    client.batch_update_findings(
        FindingIdentifiers=[{"ProductArn": key["productArn"], "Id": key["findingId"]}],
        Workflow={"Status": "SUPPRESSED"},
    )
    outcome = syncback.resolve(client, [closure(key)], NO_WAIT)
    assert outcome.resolved_cspm == []
    assert outcome.unchanged == {"CSPM finding 'finding-3'": "Workflow.Status is SUPPRESSED: kept"}
    assert stored(client, 3)["Workflow"]["Status"] == "SUPPRESSED"
    assert syncback.CLOSED_FIELD not in stored(client, 3).get("UserDefinedFields", {})


def test_a_v2_finding_is_resolved_and_a_suppressed_one_kept(
    contract: Contract, client: Any
) -> None:
    contract.import_v2(ocsf(1))
    contract.import_v2(ocsf(2))
    client.batch_update_findings_v2(MetadataUids=["uid-2"], StatusId=writeback_v2.SUPPRESSED)
    wanted = [closure({"metadataUid": "uid-1"}), closure({"metadataUid": "uid-2"})]
    outcome = syncback.resolve(client, wanted, NO_WAIT)
    assert outcome.resolved_v2 == ["new Security Hub finding 'uid-1'"]
    assert outcome.unchanged == {"new Security Hub finding 'uid-2'": "status_id is 3: kept"}
    assert stored_v2(contract, "uid-1")["status_id"] == writeback_v2.RESOLVED
    assert "SEC-1 closed" in stored_v2(contract, "uid-1")["comment"]
    assert stored_v2(contract, "uid-2")["status_id"] == writeback_v2.SUPPRESSED


def test_an_unknown_finding_is_named_as_not_found(client: Any) -> None:
    key = {
        "productArn": make_finding(9, account=ACCOUNT)["ProductArn"],
        "findingId": "no-such-finding",
    }
    outcome = syncback.resolve(client, [closure(key), closure({"metadataUid": "nope"})])
    assert outcome.not_found == {
        "CSPM finding 'no-such-finding'": "Security Hub CSPM has no such finding (GetFindings)",
        "new Security Hub finding 'nope'": (
            "the new Security Hub holds no such finding (GetFindingsV2)"
        ),
    }


@pytest.mark.parametrize(
    ("document", "why"),
    [
        ([], "test: not a JSON object"),
        ({"metadataUid": "u"}, "test: 'reference' (the closed ticket) is missing or empty"),
        ({"reference": "T", "findingId": "f"}, "test: 'productArn' is missing or not a product"),
        ({"reference": "T", "metadataUid": "u", "findingId": "f"}, "test: name 'metadataUid' or"),
        ({"reference": "T" * 300, "metadataUid": "u"}, "test: 'reference' is over 256"),
    ],
)
def test_a_closure_that_cannot_be_read_names_the_reason(document: Any, why: str) -> None:
    with pytest.raises(syncback.ClosureError) as error:
        syncback.parse_closure(document, "callback", "test")
    assert str(error.value).startswith(why)


# --- the callback (the function URL's event, handled) ----------------------------------


def request(
    body: dict[str, Any] | str,
    *,
    secret: str = SECRET,
    now: float = NOW,
    delivery: str | None = None,
    key_id: str = "default",
) -> dict[str, Any]:
    """A function URL event (payload format 2.0) for a signed POST."""
    text = body if isinstance(body, str) else json.dumps(body)
    headers = webhook.signed_headers(text, secret, delivery or uuid.uuid4().hex, key_id, now)
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {"http": {"method": "POST", "path": "/"}},
        "body": text,
        "isBase64Encoded": False,
    }


def handle(client: Any, table: Any, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    handler = callback.Callback(
        lambda: {"default": SECRET},
        callback.ReplayGuard(TABLE, table),
        lambda closures: syncback.resolve(client, closures, NO_WAIT),
        clock=lambda: NOW,
    )
    response = callback.handle(event, handler)
    assert response["headers"] == {"Content-Type": "application/json"}
    return response["statusCode"], json.loads(response["body"])


def test_a_signed_callback_resolves_both_editions(
    contract: Contract, client: Any, table: Any
) -> None:
    contract.import_v2(ocsf(1))
    closures = [
        {**cspm(client, 1), "reference": "JIRA-7", "note": "fixed in 1.4.3"},
        {"metadataUid": "uid-1", "reference": "JIRA-8"},
    ]
    status, body = handle(client, table, request({"closures": closures}))
    assert status == 200, body
    assert body["resolved"] == ["CSPM finding 'finding-1'", "new Security Hub finding 'uid-1'"]
    assert stored(client, 1)["Workflow"]["Status"] == "RESOLVED"
    assert "fixed in 1.4.3" in stored(client, 1)["Note"]["Text"]
    assert stored_v2(contract, "uid-1")["status_id"] == writeback_v2.RESOLVED


def test_a_bad_signature_is_401_and_changes_nothing(client: Any, table: Any) -> None:
    key = cspm(client, 1)
    event = request({"closures": [{**key, "reference": "T-1"}]}, secret="not-the-secret")
    assert handle(client, table, event) == (401, {"error": "the signature does not match the body"})
    assert stored(client, 1)["Workflow"]["Status"] == "NEW"


def test_a_stale_timestamp_is_401(client: Any, table: Any) -> None:
    key = cspm(client, 1)
    event = request({"closures": [{**key, "reference": "T-1"}]}, now=NOW - 301)
    status, body = handle(client, table, event)
    assert status == 401
    assert "more than 300 s from now" in body["error"]


def test_a_replayed_request_is_409_even_when_signed(client: Any, table: Any) -> None:
    key = cspm(client, 1)
    event = request({"closures": [{**key, "reference": "T-1"}]})
    assert handle(client, table, event)[0] == 200
    status, body = handle(client, table, event)
    assert status == 409
    assert "was already received" in body["error"]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("{not json", "the body is not JSON"),
        ({"closures": []}, "'closures' must be a list of 1 to 20 closures"),
        ({"closures": [{"findingId": "f", "reference": "T"}]}, "closures[0]: 'productArn'"),
    ],
)
def test_a_malformed_body_is_400_with_one_line(
    client: Any, table: Any, body: Any, why: str
) -> None:
    status, answer = handle(client, table, request(body))
    assert status == 400
    assert answer["error"].startswith(why)
    assert "\n" not in answer["error"]


def test_a_malformed_body_can_be_sent_again_once_fixed(client: Any, table: Any) -> None:
    delivery = uuid.uuid4().hex
    assert handle(client, table, request("{", delivery=delivery))[0] == 400
    fixed = request({"closures": [{**cspm(client, 1), "reference": "T"}]}, delivery=delivery)
    assert handle(client, table, fixed)[0] == 200


def test_an_unknown_finding_is_404_naming_it(client: Any, table: Any) -> None:
    event = request({"closures": [{"metadataUid": "nope", "reference": "T-1"}]})
    status, body = handle(client, table, event)
    assert status == 404
    assert body["error"] == (
        "new Security Hub finding 'nope': the new Security Hub holds no such finding "
        "(GetFindingsV2)"
    )


def test_a_suppressed_finding_stays_suppressed_through_the_callback(
    client: Any, table: Any
) -> None:
    key = cspm(client, 1)
    client.batch_update_findings(
        FindingIdentifiers=[{"ProductArn": key["productArn"], "Id": key["findingId"]}],
        Workflow={"Status": "SUPPRESSED"},
    )
    status, body = handle(client, table, request({"closures": [{**key, "reference": "T"}]}))
    assert (status, body["resolved"]) == (200, [])
    assert body["unchanged"] == {"CSPM finding 'finding-1'": "Workflow.Status is SUPPRESSED: kept"}
    assert stored(client, 1)["Workflow"]["Status"] == "SUPPRESSED"


def test_only_post_is_accepted(client: Any, table: Any) -> None:
    event = request({"closures": []})
    event["requestContext"]["http"]["method"] = "GET"
    assert handle(client, table, event)[0] == 405


# --- the vendor's closures ---------------------------------------------------------------


@pytest.fixture
def vendor() -> Iterator[vendorapi.VendorApi]:
    running = vendorapi.serve(vendorapi.VendorApi([]))
    yield next(running)
    running.close()


def base(api: vendorapi.VendorApi) -> str:
    return api.url.rsplit("/findings", 1)[0]


HTTP = Client(retry=Retry(max_attempts=1, base_s=0.0))


def test_closures_are_read_page_by_page_and_bad_ones_named(vendor: vendorapi.VendorApi) -> None:
    vendor.closures = [
        {"metadataUid": f"uid-{n}", "reference": f"A-{n}", "closedAt": f"2026-12-01T10:0{n}:00Z"}
        for n in range(3)
    ] + [{"metadataUid": "uid-9", "reference": "A-9", "closedAt": "yesterday"}]
    with mock.patch.object(syncback, "PAGE_LIMIT", 2):
        poll = syncback.read_closures(HTTP, base(vendor), vendorapi.TOKEN, syncback.EPOCH)
    assert [c.uid for c in poll.closures] == ["uid-0", "uid-1", "uid-2"]
    assert poll.pages == 2
    assert poll.newest == "2026-12-01T10:02:00Z"
    assert poll.refused == [
        "vendor closure 1 of page 2: 'closedAt' is not a UTC time like 2026-12-03T05:35:00Z"
    ]


def test_a_next_link_to_another_origin_is_not_followed(vendor: vendorapi.VendorApi) -> None:
    vendor.closures = [{"metadataUid": "u", "reference": "A", "closedAt": "2026-12-01T10:00:00Z"}]
    elsewhere = {"closures": [], "next": "https://elsewhere.example/steal"}
    vendor.closures_page = lambda query: elsewhere  # type: ignore[method-assign]
    with pytest.raises(syncback.VendorSyncError, match="'next' leaves the API's origin"):
        syncback.read_closures(HTTP, base(vendor), vendorapi.TOKEN, syncback.EPOCH)
    assert vendor.unauthorized == 0


def test_a_wrong_token_is_a_one_line_error_without_the_token(vendor: vendorapi.VendorApi) -> None:
    with pytest.raises(syncback.VendorSyncError) as error:
        syncback.read_closures(HTTP, base(vendor), "wrong-token-value", syncback.EPOCH)
    assert str(error.value).startswith("vendor closures page 1: HTTP 401")
    assert "wrong-token-value" not in str(error.value)


def test_the_watermark_moves_forward_only_and_not_past_a_failed_update(
    contract: Contract, client: Any, table: Any, vendor: vendorapi.VendorApi
) -> None:
    contract.import_v2(ocsf(1))
    watermark = syncback.Watermark(TABLE, table)
    credentials = {"base_url": base(vendor), "token": vendorapi.TOKEN}
    vendor.closures = [
        {"metadataUid": "uid-1", "reference": "A", "closedAt": "2026-12-01T10:00:00Z"}
    ]
    failing = syncback.Outcome(failed={"x": "InternalException: try later"})
    with mock.patch.object(syncback, "resolve", return_value=failing):
        syncback.sync_vendor(HTTP, client, credentials, watermark, NO_WAIT)
    assert watermark.read() == syncback.EPOCH
    outcome, _ = syncback.sync_vendor(HTTP, client, credentials, watermark, NO_WAIT)
    assert outcome.resolved_v2 == ["new Security Hub finding 'uid-1'"]
    assert watermark.read() == "2026-12-01T10:00:00Z"
    watermark.write("2026-11-01T00:00:00Z")  # an older run finishing late
    assert watermark.read() == "2026-12-01T10:00:00Z"
