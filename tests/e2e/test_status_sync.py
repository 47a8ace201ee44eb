"""The status sync back through the real template on the stack emulator: webhook
receivers' signed callbacks over real HTTP (urllib) to the stack's function URL on
127.0.0.1, the vendor's closures polled on the schedule, both Security Hubs resolved, with
the IAM audit."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from hubrelay_emulator import demo_syncback, demo_v2, vendorapi
from hubrelay_emulator.runner import StackEmulator
from tests.integration.test_securityhub_contract import make_finding

SECRET = "receiver-signing-secret"
WEBHOOK_SECRET = "hubrelay-test-webhook"


@pytest.fixture
def vendor() -> Any:
    running = vendorapi.serve(vendorapi.VendorApi([]))
    yield next(running)
    running.close()


@pytest.fixture
def stack(make_stack: Any, vendor: vendorapi.VendorApi) -> StackEmulator:
    stack = make_stack(
        EnableWebhook="true",
        WebhookSecretName=WEBHOOK_SECRET,
        SecurityHubs="Both",
        **demo_syncback.parameters(),
    )
    secrets = stack.client("secretsmanager")
    secrets.create_secret(
        Name=WEBHOOK_SECRET,
        SecretString=json.dumps({"url": "http://127.0.0.1:9/hook", "signing_secret": SECRET}),
    )
    demo_syncback.create_secret(stack, vendor)
    return stack


def cspm_finding(stack: StackEmulator, n: int) -> dict[str, str]:
    finding = make_finding(n, account=stack.account)
    client = stack.client("securityhub")
    assert client.batch_import_findings(Findings=[finding])["FailedCount"] == 0
    return {"productArn": finding["ProductArn"], "findingId": finding["Id"]}


def workflow(stack: StackEmulator, n: int) -> str:
    found = {f["Id"]: f for f in stack.contract.findings(stack.account, stack.region)}
    return str(found[f"finding-{n}"]["Workflow"]["Status"])


def v2_status(stack: StackEmulator) -> int:
    (finding,) = stack.contract.findings_v2(stack.account, stack.region)
    return int(finding["status_id"])


def test_a_signed_callback_over_http_resolves_both_editions_with_no_denied_call(stack):
    stack.contract.import_v2(demo_v2.guardduty_finding(stack.account, stack.region))
    closures = [
        {**cspm_finding(stack, 1), "reference": "HOOK-1"},
        {"metadataUid": demo_v2.METADATA_UID, "reference": "HOOK-2"},
    ]
    status, reply = demo_syncback.post(
        stack.outputs["StatusCallbackUrl"], {"closures": closures}, SECRET
    )
    assert status == 200, reply
    assert len(reply["resolved"]) == 2
    assert workflow(stack, 1) == "RESOLVED"
    assert v2_status(stack) == 4
    assert stack.checker.denied() == []


def test_bad_signatures_replays_and_malformed_bodies_are_refused_in_one_line(stack):
    url = stack.outputs["StatusCallbackUrl"]
    body = {"closures": [{**cspm_finding(stack, 1), "reference": "HOOK-1"}]}
    assert demo_syncback.post(url, body, "another-secret") == (
        401,
        {"error": "the signature does not match the body"},
    )
    assert workflow(stack, 1) == "NEW"
    delivery = "0123456789abcdef0123456789abcdef"
    assert demo_syncback.post(url, body, SECRET, delivery)[0] == 200
    status, reply = demo_syncback.post(url, body, SECRET, delivery)
    assert status == 409
    assert reply == {"error": f"delivery {delivery} was already received: not processed again"}
    status, reply = demo_syncback.post(url, {"closures": [{"findingId": "x"}]}, SECRET)
    assert status == 400
    assert reply["error"].startswith("closures[0]: 'reference'")
    assert SECRET not in json.dumps(reply)
    assert stack.checker.denied() == []
    # The function's log names each outcome, never the signing secret.
    logs = "\n".join(stack.function("StatusSyncFunction").logs)
    assert "status sync back" in logs
    assert SECRET not in logs


def test_an_unsigned_request_is_401_and_a_get_405(stack):
    url = stack.outputs["StatusCallbackUrl"]
    request = urllib.request.Request(url, data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=30)
    assert error.value.code == 401
    assert json.loads(error.value.read())["error"].startswith("a signature header is missing")
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(url, timeout=30)
    assert error.value.code == 405


def test_a_suppressed_finding_stays_suppressed(stack):
    key = cspm_finding(stack, 1)
    stack.client("securityhub").batch_update_findings(
        FindingIdentifiers=[{"ProductArn": key["productArn"], "Id": key["findingId"]}],
        Workflow={"Status": "SUPPRESSED"},
    )
    status, reply = demo_syncback.post(
        stack.outputs["StatusCallbackUrl"], {"closures": [{**key, "reference": "T"}]}, SECRET
    )
    assert (status, reply["resolved"]) == (200, [])
    assert workflow(stack, 1) == "SUPPRESSED"


def test_the_vendor_poll_resolves_closures_since_its_watermark(stack, vendor):
    stack.contract.import_v2(demo_v2.guardduty_finding(stack.account, stack.region))
    key = cspm_finding(stack, 1)
    vendor.closures += [
        {**key, "reference": "ACME-1", "closedAt": "2026-12-01T10:00:00Z"},
        {
            "metadataUid": demo_v2.METADATA_UID,
            "reference": "ACME-2",
            "closedAt": "2026-12-01T11:00:00Z",
        },
        {"metadataUid": "not valid!", "reference": "ACME-3", "closedAt": "2026-12-01T12:00:00Z"},
    ]
    outcome = demo_syncback.poll(stack)
    assert len(outcome["resolved"]) == 2
    assert outcome["refused"] == 1
    assert (workflow(stack, 1), v2_status(stack)) == ("RESOLVED", 4)
    # The next run asks from the newest closure it took, with the vendor's bearer token.
    demo_syncback.poll(stack)
    assert vendor.requests[-1].startswith(
        "/v1/securityhub/closures?closed_since=2026-12-01T11%3A00%3A00Z"
    )
    assert vendor.unauthorized == 0
    assert stack.checker.denied() == []
    logs = "\n".join(stack.function("StatusSyncFunction").logs)
    assert "vendor closure refused" in logs
    assert vendor.token not in logs


def test_without_the_public_permissions_the_function_url_answers_403(stack):
    # Lambda checks the function's resource-based policy on every request to the URL.
    stack.permissions[:] = [p for p in stack.permissions if p.get("Principal") != "*"]
    body = {"closures": [{**cspm_finding(stack, 1), "reference": "T"}]}
    status, reply = demo_syncback.post(stack.outputs["StatusCallbackUrl"], body, SECRET)
    assert (status, reply) == (403, {"Message": "Forbidden"})
    assert workflow(stack, 1) == "NEW"


def test_the_function_gets_the_documented_function_url_event(stack, monkeypatch):
    # What the emulator hands the function parses as Powertools' model of the function URL
    # event (payload format 2.0), with the body as sent and the headers lowercased.
    from aws_lambda_powertools.utilities.parser.models import LambdaFunctionUrlModel

    seen: list[dict[str, Any]] = []
    invoke = stack.host.invoke

    def capture(function: Any, event: Any) -> Any:
        seen.append(event)
        return invoke(function, event)

    monkeypatch.setattr(stack.host, "invoke", capture)
    body = {"closures": [{**cspm_finding(stack, 1), "reference": "T"}]}
    url = stack.outputs["StatusCallbackUrl"] + "?source=jira&source=again"
    assert demo_syncback.post(url, body, SECRET)[0] == 200
    (event,) = seen
    model = LambdaFunctionUrlModel.model_validate(event)
    assert model.version == "2.0"
    assert model.requestContext.http.method == "POST"
    assert json.loads(model.body or "") == body
    assert not model.isBase64Encoded
    assert model.queryStringParameters == {"source": "jira,again"}
    assert "x-hubrelay-signature" in model.headers


def test_a_vendor_api_that_refuses_the_token_fails_the_run_in_one_line(stack, vendor):
    vendor.token = "the-vendor-rotated-it"
    assert demo_syncback.poll(stack) is None  # the run failed (Lambda Errors, the alarm)
    function = stack.function("StatusSyncFunction")
    assert function.errors >= 1
    refused = [line for line in function.logs if "vendor closures not read" in line]
    assert refused
    assert "vendor closures page 1: HTTP 401" in refused[0]
    assert vendorapi.TOKEN not in "\n".join(function.logs)
