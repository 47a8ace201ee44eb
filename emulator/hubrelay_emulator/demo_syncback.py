"""`make demo`'s stage for the status sync back (EnableStatusSync).

After the route-out stages: the webhook receiver closes the ticket of a CSPM finding the
custom action sent and tells hubrelay with a signed POST to the stack's function URL
(output StatusCallbackUrl), a real HTTP request through urllib to 127.0.0.1; the vendor
closes the ticket of the new Security Hub's GuardDuty finding, and the stack's schedule
polls the vendor's closures (hubrelay_emulator.vendorapi). Both findings are resolved from
their current state. The same callback sent again is refused (a replay), and so is one
signed with another secret.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from hubrelay.destinations import webhook
from hubrelay_emulator import demo_v2, vendorapi

if TYPE_CHECKING:
    from hubrelay_emulator.runner import StackEmulator

SCHEDULE = "StatusSyncScheduleRule"


@dataclass
class SyncResult:
    resolved_cspm: int = 0
    resolved_v2: int = 0
    callback_status: int = 0
    replay_status: int = 0
    bad_signature_status: int = 0
    vendor_pages: int = 0
    statuses: dict[str, str] = field(default_factory=dict)  # finding -> status now


@contextmanager
def vendor_api() -> Iterator[vendorapi.VendorApi]:
    """The vendor's API, running, with no findings and (yet) no closures."""
    running = vendorapi.serve(vendorapi.VendorApi([]))
    yield next(running)
    running.close()


def parameters() -> dict[str, str]:
    # The vendor back-sync needs an https:// BackSyncApiUrl; the local vendor API's
    # http://127.0.0.1 address is the secret's base_url, which takes precedence.
    return {
        "EnableStatusSync": "true",
        "EnableVendorBackSync": "true",
        "BackSyncApiUrl": "https://vendor.example.com/v1",
        "BackSyncSecretName": "hubrelay-demo-back-sync",
    }


def create_secret(stack: StackEmulator, api: vendorapi.VendorApi) -> None:
    base = api.url.rsplit("/findings", 1)[0]
    stack.client("secretsmanager").create_secret(
        Name=parameters()["BackSyncSecretName"],
        SecretString=json.dumps({"token": api.token, "base_url": base}),
    )


def post(
    url: str, body: dict[str, Any], secret: str, delivery: str = "", key_id: str = "default"
) -> tuple[int, dict[str, Any]]:
    """A receiver's signed callback, through a real HTTP client: (status, JSON reply)."""
    text = json.dumps(body)
    headers = webhook.signed_headers(text, secret, delivery or uuid.uuid4().hex, key_id)
    request = urllib.request.Request(url, data=text.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def poll(stack: StackEmulator) -> Any:
    """The status sync schedule's next run (the rule's own target, as EventBridge would)."""
    (rule,) = [r for r in stack.schedules if r.logical_id == SCHEDULE]
    return stack.events.deliver(rule, rule.targets[0], {})


def run(
    stack: StackEmulator, api: vendorapi.VendorApi, cspm_key: tuple[str, str], secret: str
) -> SyncResult:
    result = SyncResult()
    if "StatusCallbackUrl" not in stack.outputs:
        return result
    url = stack.outputs["StatusCallbackUrl"]
    closure = {"productArn": cspm_key[0], "findingId": cspm_key[1], "reference": "HOOK-1"}
    body = {"closures": [{**closure, "note": "fixed in shop/api 1.4.3"}]}
    delivery = uuid.uuid4().hex
    result.callback_status, reply = post(url, body, secret, delivery)
    result.resolved_cspm = len(reply.get("resolved", [])) if result.callback_status == 200 else 0
    result.replay_status, _ = post(url, body, secret, delivery)
    result.bad_signature_status, _ = post(url, body, "not-the-signing-secret")
    if SCHEDULE in {r.logical_id for r in stack.schedules}:
        closed_at = datetime.now(UTC) + timedelta(seconds=stack.clock)
        api.closures.append(
            {
                "metadataUid": demo_v2.METADATA_UID,
                "reference": "ACME-981",
                "closedAt": closed_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "note": "closed at the vendor",
            }
        )
        before = api.closure_pages
        outcome = poll(stack) or {}
        result.resolved_v2 = len(outcome.get("resolved", []))
        result.vendor_pages = api.closure_pages - before
    result.statuses = _statuses(stack, cspm_key)
    return result


def _statuses(stack: StackEmulator, key: tuple[str, str]) -> dict[str, str]:
    cspm = next(
        f for f in stack.contract.findings(stack.account, stack.region) if f["Id"] == key[1]
    )
    found = {"CSPM": str(cspm.get("Workflow", {}).get("Status"))}
    for finding in stack.contract.findings_v2(stack.account, stack.region):
        if finding["metadata"]["uid"] == demo_v2.METADATA_UID:
            found["new Security Hub"] = f"{finding.get('status_id')} {finding.get('status')}"
    return found


def rows(result: SyncResult) -> list[tuple[str, str]]:
    if not result.callback_status:
        return [("synced back", "not run (EnableStatusSync is false)")]
    return [
        (
            "synced back",
            f"{result.resolved_cspm} resolved (CSPM), {result.resolved_v2} resolved (new "
            f"Security Hub): a signed callback to the function URL (HTTP "
            f"{result.callback_status}) and a vendor closure poll ({result.vendor_pages} "
            f"page{'s' if result.vendor_pages != 1 else ''})",
        ),
        (
            "callback refused",
            f"the same delivery again: HTTP {result.replay_status}; another secret: HTTP "
            f"{result.bad_signature_status}; now "
            + ", ".join(f"{k} {v}" for k, v in result.statuses.items()),
        ),
    ]


def failures(result: SyncResult) -> list[str]:
    if not result.callback_status:
        return []
    reasons = []
    if (result.resolved_cspm, result.resolved_v2) != (1, 1):
        reasons.append(
            f"synced back {result.resolved_cspm} CSPM and {result.resolved_v2} new Security "
            "Hub findings (expected 1 and 1)"
        )
    if (result.replay_status, result.bad_signature_status) != (409, 401):
        reasons.append(
            f"a replayed callback got {result.replay_status} (expected 409), a badly signed "
            f"one {result.bad_signature_status} (expected 401)"
        )
    return reasons
