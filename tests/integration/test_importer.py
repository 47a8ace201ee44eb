"""The importer handler against moto, with Security Hub held to the documented contract."""

from __future__ import annotations

import copy
import functools
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hubrelay import aws, message
from hubrelay.settings import MAX_FINDING_BYTES, MAX_REQUEST_BYTES
from hubrelay_emulator import samples
from hubrelay_emulator import securityhub as hub
from tests import support
from tests.support import LambdaContext, sqs_event

STACK_ACCOUNT = "123456789012"  # moto's default account: the importer's own
REGION = "us-east-1"
PARTNER = f"arn:aws:securityhub:{REGION}:{STACK_ACCOUNT}:product/hubrelay/test"

# The importer's context: two minutes left unless a test says otherwise.
Context = functools.partial(LambdaContext, "importer", remaining_ms=120_000)


@pytest.fixture
def contract() -> Iterator[hub.Contract]:
    # A clock that only moves when a test says so keeps the rate limiter deterministic.
    contract = hub.install(hub.Contract(clock=lambda: 0.0))
    yield contract
    hub.uninstall()


@pytest.fixture
def env(contract: hub.Contract, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        monkeypatch.setenv("HUBRELAY_QUARANTINE_QUEUE_URL", dlq)
        monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "hubrelay")
        hub.subscribe((*samples.SUBSCRIBED, STACK_ACCOUNT), REGION, PARTNER)
        aws.reset()
        yield {"sqs": sqs, "dlq": dlq, "contract": contract}
        aws.reset()


def load_handler() -> Any:
    """functions/importer/app.py's handler, imported fresh so it reads this test's environment."""
    return support.load_handler("importer").handler


def failed_ids(response: dict[str, Any]) -> set[str]:
    return {f["itemIdentifier"] for f in response["batchItemFailures"]}


def dlq_messages(env: dict[str, Any]) -> list[dict[str, Any]]:
    got = env["sqs"].receive_message(
        QueueUrl=env["dlq"], MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )
    return got.get("Messages", [])


def codes(messages: list[dict[str, Any]]) -> Counter[str]:
    return Counter(m["MessageAttributes"]["hubrelay.ErrorCode"]["StringValue"] for m in messages)


def stored(contract: hub.Contract, account: str) -> list[dict[str, Any]]:
    return contract.findings(account, REGION)


def test_findings_are_imported_in_full_calls_and_messages_reported_done(env):
    # Given 400 findings for two subscribed accounts, in messages as a producer writes them
    findings = samples.mixed(400, product=PARTNER)
    bodies = list(message.pack_messages(findings))
    # When the importer handles the batch
    response = load_handler()(sqs_event(bodies), Context())
    # Then every finding is in Security Hub, no message failed, and calls are near the bound
    assert failed_ids(response) == set()
    assert len(stored(env["contract"], samples.SUBSCRIBED[0])) == 200
    assert len(stored(env["contract"], samples.SUBSCRIBED[1])) == 200
    calls = env["contract"].calls
    assert all(c.findings <= 100 and c.outcome == "ok" for c in calls)
    sizes = [len(json.dumps(f)) for f in findings]
    bound = sum(
        max(-(-len(group) // 100), -(-sum(group) // MAX_REQUEST_BYTES))
        for group in (sizes[0::2], sizes[1::2])
    )
    assert bound <= len(calls) <= bound + 2


def test_byte_budget_is_respected_when_security_hub_enforces_240_kb_per_call(env, monkeypatch):
    # Given a Security Hub that refuses requests over 240 KB per call ("100 findings or 240 KB
    # in a single call", the AWS Security Hub partner FAQ,
    # https://docs.aws.amazon.com/securityhub/latest/partnerguide/partner-faq.html), and the
    # budget set to that older figure
    env["contract"].max_request_bytes = MAX_FINDING_BYTES + 1024
    monkeypatch.setenv("HUBRELAY_BATCH_BYTE_BUDGET", str(MAX_FINDING_BYTES))
    findings = samples.mixed(200, product=PARTNER)
    # When they are imported
    response = load_handler()(sqs_event(list(message.pack_messages(findings))), Context())
    # Then no call was refused and everything arrived
    assert failed_ids(response) == set()
    assert {c.outcome for c in env["contract"].calls} == {"ok"}
    assert max(c.request_bytes for c in env["contract"].calls) <= MAX_FINDING_BYTES + 1024
    assert sum(len(stored(env["contract"], a)) for a in samples.SUBSCRIBED) == 200


def test_a_413_halves_the_budget_for_the_container_and_later_invocations_pack_under_it(env, capsys):
    # Given the default budget (6 MB per request, the current partner guide) and a Security
    # Hub that refuses requests over 240 KB with 413, as the older partner FAQ reads the limit
    env["contract"].max_request_bytes = MAX_FINDING_BYTES + 1024
    env["contract"].rate_per_second = None  # calls are counted here, not paced
    handler = load_handler()
    first = samples.mixed(200, product=PARTNER)
    # When one container handles two batches
    response = handler(sqs_event(list(message.pack_messages(first))), Context())
    too_large = "RequestEntityTooLargeException"
    refused_first = sum(c.outcome == too_large for c in env["contract"].calls)
    calls_before = len(env["contract"].calls)
    second = [dict(f, Id=f"{f['Id']}/second") for f in first]
    again = handler(sqs_event(list(message.pack_messages(second))), Context())
    later = env["contract"].calls[calls_before:]
    # Then the first batch got in whole after splitting on 413, the budget came down (the
    # metric says so), and the second batch paid no 413 at all
    assert failed_ids(response) == set()
    assert failed_ids(again) == set()
    assert refused_first > 0
    assert {c.outcome for c in later} == {"ok"}
    assert sum(len(stored(env["contract"], a)) for a in samples.SUBSCRIBED) == 400
    lines = capsys.readouterr().out.splitlines()
    metrics = [json.loads(line) for line in lines if '"_aws"' in line]

    # (EMF: a metric's value is a number, or a list of the values added in one flush)
    def value(metric: Any) -> float:
        return float(sum(metric) if isinstance(metric, list) else metric)

    halvings = [value(m["ImportByteBudgetHalvings"]) for m in metrics if "ImportByteBudget" in m]
    assert halvings[0] >= 1
    assert halvings[-1] == 0
    assert value(metrics[-1]["ImportByteBudget"]) <= MAX_FINDING_BYTES + 1024


def test_unsubscribed_account_is_quarantined_without_failing_the_others(env):
    # Given one message mixing subscribed accounts and an unsubscribed one
    good = samples.mixed(20, product=PARTNER)
    foreign = samples.for_account(5, samples.UNSUBSCRIBED, product=PARTNER)
    body = message.encode(good + foreign)
    # When imported
    response = load_handler()(sqs_event([body]), Context())
    # Then the message is done, the good findings are imported, the foreign ones are in the
    # dead-letter queue with Security Hub's error code
    assert failed_ids(response) == set()
    assert sum(len(stored(env["contract"], a)) for a in samples.SUBSCRIBED) == 20
    quarantined = dlq_messages(env)
    assert codes(quarantined) == Counter({"InvalidAccess": 5})
    reason = quarantined[0]["MessageAttributes"]["hubrelay.ErrorMessage"]["StringValue"]
    assert samples.UNSUBSCRIBED in reason
    assert {
        m["MessageAttributes"]["hubrelay.SourceMessageIds"]["StringValue"] for m in quarantined
    } == {"msg-0"}


def test_trivys_asff_output_is_imported_for_a_customer_subscribed_to_trivy(env):
    # Given Trivy's ASFF output (its product ARN has no account) for STACK_ACCOUNT, which
    # subscribed to Trivy, and the same findings for an account that did not
    trivy = f"arn:aws:securityhub:{REGION}::product/aquasecurity/aquasecurity"
    hub.client_for(STACK_ACCOUNT, REGION).enable_import_findings_for_product(ProductArn=trivy)
    findings = support.load_fixture("sources/trivy_asff.json")["Findings"]
    assert {(f["ProductArn"], f["AwsAccountId"]) for f in findings} == {(trivy, STACK_ACCOUNT)}
    elsewhere = [
        dict(f, Id=f"{f['Id']}/other", AwsAccountId=samples.SUBSCRIBED[0]) for f in findings
    ]
    # When the importer handles them
    response = load_handler()(sqs_event([message.encode(findings + elsewhere)]), Context())
    # Then the subscriber's are in Security Hub, and only the others are quarantined, with
    # Security Hub's refusal rather than as invalid findings
    assert failed_ids(response) == set()
    assert {f["Id"] for f in stored(env["contract"], STACK_ACCOUNT)} == {f["Id"] for f in findings}
    assert codes(dlq_messages(env)) == Counter({"InvalidAccess": 2})


def test_invalid_and_oversized_findings_are_quarantined_before_any_call(env):
    # Given a message with valid findings and every kind of broken one
    good = samples.mixed(10, product=PARTNER)
    broken = samples.broken(product=PARTNER)
    bodies = [message.encode(good + [f for _, f in broken])]
    # When imported
    response = load_handler()(sqs_event(bodies), Context())
    # Then the message is done, the valid ones imported, each broken one kept with its reason
    assert failed_ids(response) == set()
    assert sum(len(stored(env["contract"], a)) for a in samples.SUBSCRIBED) == 10
    quarantined = dlq_messages(env)
    assert codes(quarantined) == Counter({"InvalidFinding": len(broken)})
    reasons = {
        m["MessageAttributes"]["hubrelay.FindingId"]["StringValue"]: m["MessageAttributes"][
            "hubrelay.ErrorMessage"
        ]["StringValue"]
        for m in quarantined
    }
    assert "finding too large (limit 245760 B" in reasons["broken/oversized"]
    assert "Title: wrong length (limit 1..256 characters, got 300)" in reasons["broken/title"]
    # No call carried an invalid finding
    assert sum(c.findings for c in env["contract"].calls) == 10


def test_oversized_finding_body_is_kept_truncated_with_its_size(env, monkeypatch):
    # A queue kept at SQS's old 256 KiB limit: the finding over 240 KB does not fit.
    monkeypatch.setenv("HUBRELAY_MAX_MESSAGE_BYTES", str(256 * 1024))
    _, oversized = samples.broken(product=PARTNER)[-1]
    load_handler()(sqs_event([message.encode([oversized])]), Context())
    (kept,) = dlq_messages(env)
    body = json.loads(kept["Body"])
    assert body["truncated"] is True
    assert body["originalBytes"] > MAX_FINDING_BYTES


def test_oversized_finding_is_kept_whole_in_a_default_1_mib_message(env):
    # The dead-letter message is a queue message again, ready to be sent back.
    _, oversized = samples.broken(product=PARTNER)[-1]
    load_handler()(sqs_event([message.encode([oversized])]), Context())
    (kept,) = dlq_messages(env)
    assert message.decode(kept["Body"]) == [oversized]


def test_malformed_message_body_is_quarantined_and_the_rest_imported(env):
    bodies = ["{not json", message.encode(samples.mixed(3, product=PARTNER)), '{"version": 9}']
    response = load_handler()(sqs_event(bodies), Context())
    assert failed_ids(response) == set()
    quarantined = dlq_messages(env)
    assert codes(quarantined) == Counter({"MalformedMessage": 2})
    assert {m["Body"] for m in quarantined} == {"{not json", '{"version": 9}'}
    assert sum(len(stored(env["contract"], a)) for a in samples.SUBSCRIBED) == 3


def test_throttling_is_retried_within_the_invocation(env):
    # Given Security Hub throttles the first two calls
    env["contract"].inject("throttle", count=2)
    body = message.encode(samples.mixed(30, product=PARTNER))
    # When imported
    response = load_handler()(sqs_event([body]), Context())
    # Then the calls were retried and everything arrived
    assert failed_ids(response) == set()
    assert sum(len(stored(env["contract"], a)) for a in samples.SUBSCRIBED) == 30
    assert [c.outcome for c in env["contract"].calls][:2] == ["TooManyRequestsException"] * 2


def test_rate_limit_burst_then_messages_fail_for_redelivery_when_time_runs_out(env):
    # Given a rate limiter with no refill (the clock stands still) and an invocation
    # with no time left for retries
    env["contract"].burst = 1
    findings = samples.for_account(150, samples.SUBSCRIBED[0], product=PARTNER)
    bodies = [message.encode(findings[:100]), message.encode(findings[100:])]
    # When imported
    response = load_handler()(sqs_event(bodies), Context(remaining_ms=12_000))
    # Then one call succeeded, and exactly the messages holding a finding that was not
    # imported are reported failed (SQS will deliver them again)
    imported = {f["Id"] for f in stored(env["contract"], samples.SUBSCRIBED[0])}
    assert len(imported) == 100
    pending = {
        f"msg-{i}"
        for i, part in enumerate((findings[:100], findings[100:]))
        if any(f["Id"] not in imported for f in part)
    }
    assert pending
    assert failed_ids(response) == pending
    assert env["contract"].throttled >= 1
    assert dlq_messages(env) == []


def test_partial_failed_findings_are_retried_or_quarantined_by_error_code(env):
    # Given a call where two findings fail transiently and one is refused as invalid input
    findings = samples.for_account(10, samples.SUBSCRIBED[0], product=PARTNER)
    env["contract"].inject("failed_findings", ids=[findings[0]["Id"], findings[1]["Id"]])
    body = message.encode(findings)
    handler = load_handler()
    # When imported
    response = handler(sqs_event([body]), Context())
    # Then the transient ones were retried and the message is done
    assert failed_ids(response) == set()
    assert len(stored(env["contract"], samples.SUBSCRIBED[0])) == 10

    env["contract"].inject(
        "failed_findings",
        ids=[findings[2]["Id"]],
        error_code="InvalidInput",
        error_message="Finding is malformed",
    )
    response = handler(sqs_event([body], ["msg-b"]), Context())
    assert failed_ids(response) == set()
    (kept,) = dlq_messages(env)
    assert kept["MessageAttributes"]["hubrelay.ErrorCode"]["StringValue"] == "InvalidInput"
    assert kept["MessageAttributes"]["hubrelay.FindingId"]["StringValue"] == findings[2]["Id"]


def test_internal_errors_that_outlast_the_invocation_fail_only_their_messages(env):
    env["contract"].inject("internal", count=50)
    bodies = [message.encode(samples.for_account(5, samples.SUBSCRIBED[0], product=PARTNER))]
    response = load_handler()(sqs_event(bodies), Context(remaining_ms=15_500))
    assert failed_ids(response) == {"msg-0"}
    assert dlq_messages(env) == []


def test_access_denied_for_a_call_quarantines_only_that_call(env):
    env["contract"].inject("access_denied")
    first = samples.for_account(3, samples.SUBSCRIBED[0], product=PARTNER)
    second = samples.for_account(3, samples.SUBSCRIBED[1], product=PARTNER)
    response = load_handler()(sqs_event([message.encode(first), message.encode(second)]), Context())
    assert failed_ids(response) == set()
    assert codes(dlq_messages(env)) == Counter({"AccessDeniedException": 3})
    assert (
        len(stored(env["contract"], samples.SUBSCRIBED[0]))
        + len(stored(env["contract"], samples.SUBSCRIBED[1]))
        == 3
    )


def test_redelivered_message_overwrites_and_never_duplicates(env):
    # Given a message imported once
    findings = samples.mixed(20, product=PARTNER)
    body = message.encode(findings)
    handler = load_handler()
    handler(sqs_event([body]), Context())
    # When SQS delivers it again, twice in one batch and once more later, with a newer copy
    newer = copy.deepcopy(findings)
    for f in newer:
        f["UpdatedAt"] = "2026-12-01T00:00:00.000Z"
        f["Title"] = "updated"
    response = handler(sqs_event([body, message.encode(newer), body], ["a", "b", "c"]), Context())
    # Then there is one finding per Id, and it is the newer version
    assert failed_ids(response) == set()
    everything = [f for a in samples.SUBSCRIBED for f in stored(env["contract"], a)]
    assert len(everything) == 20
    assert {f["Title"] for f in everything} == {"updated"}


def test_request_level_invalid_input_is_bisected_to_the_bad_finding(env, monkeypatch):
    # Given a Security Hub that refuses a whole request when it contains one bad finding
    findings = samples.for_account(8, samples.SUBSCRIBED[0], product=PARTNER)
    poison = findings[5]["Id"]
    real = aws.securityhub

    class Picky:
        def __init__(self, client: Any) -> None:
            self.client = client

        def batch_import_findings(self, Findings: list[dict[str, Any]]) -> Any:
            if any(f["Id"] == poison for f in Findings):
                raise self.client.exceptions.InvalidInputException(
                    {"Error": {"Code": "InvalidInputException", "Message": "bad request"}},
                    "BatchImportFindings",
                )
            return self.client.batch_import_findings(Findings=Findings)

    monkeypatch.setattr(aws, "securityhub", lambda region: Picky(real(region)))
    # When imported
    response = load_handler()(sqs_event([message.encode(findings)]), Context())
    # Then only the poison finding is quarantined
    assert failed_ids(response) == set()
    (kept,) = dlq_messages(env)
    assert kept["MessageAttributes"]["hubrelay.FindingId"]["StringValue"] == poison
    assert len(stored(env["contract"], samples.SUBSCRIBED[0])) == 7


def test_quarantine_write_failure_keeps_the_message_for_redelivery(env, monkeypatch):
    monkeypatch.setenv("HUBRELAY_QUARANTINE_QUEUE_URL", env["dlq"] + "-missing")
    response = load_handler()(
        sqs_event(["garbage", message.encode(samples.mixed(2, product=PARTNER))]), Context()
    )
    assert failed_ids(response) == {"msg-0"}


def test_on_the_last_receive_unimportable_findings_are_quarantined_with_the_last_error(env):
    # Given Security Hub failing for good and a message on its fifth (last) receive
    env["contract"].inject("internal", count=10_000)
    findings = samples.for_account(4, samples.SUBSCRIBED[0], product=PARTNER)
    event = sqs_event([message.encode(findings)], receive_count=5)
    # When imported
    response = load_handler()(event, Context(remaining_ms=15_500))
    # Then the message is done and each finding is kept with the reason it never got in
    assert failed_ids(response) == set()
    kept = dlq_messages(env)
    assert codes(kept) == Counter({"RetriesExhausted": 4})
    assert all(
        "InternalException" in m["MessageAttributes"]["hubrelay.ErrorMessage"]["StringValue"]
        for m in kept
    )


def test_an_integer_too_long_to_convert_fails_only_its_own_message(env):
    huge = message.encode(samples.mixed(1, product=PARTNER)).replace(
        '"version": 1', '"version": 1, "n": ' + "9" * 5000
    )
    good = message.encode(samples.mixed(2, seed=3, product=PARTNER))
    response = load_handler()(sqs_event([huge, good]), Context())
    assert failed_ids(response) == set()
    assert codes(dlq_messages(env)) == Counter({"MalformedMessage": 1})


def test_findings_failing_transiently_back_off_and_give_up_at_the_deadline(env, monkeypatch):
    # Given Security Hub refusing the same findings in every answer
    env["contract"].inject("failed_findings", count=1_000, first=3, error_code="InternalException")
    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)
    findings = samples.for_account(5, samples.SUBSCRIBED[0], product=PARTNER)
    # When imported with a minute left
    response = load_handler()(sqs_event([message.encode(findings)]), Context(remaining_ms=60_000))
    # Then the retries waited between attempts and stopped; the message is redelivered
    assert slept, "retries of failed findings must back off"
    assert len(env["contract"].calls) == 8
    assert failed_ids(response) == {"msg-0"}


def test_quarantined_bodies_and_attributes_always_fit_sqs(env):
    # Given a huge finding full of characters JSON escapes, and an Id with control characters
    quoted = samples.for_account(1, samples.SUBSCRIBED[0], product=PARTNER)[0]
    quoted["Id"] = "quoted"
    quoted["Description"] = '"' * 600_000
    control = samples.for_account(1, samples.SUBSCRIBED[0], seed=8, product=PARTNER)[0]
    control["Id"] = "bad\x01id"
    control["Title"] = "t" * 300
    # And many mid-sized findings for the unsubscribed account
    foreign = samples.mixed(30, accounts=(samples.UNSUBSCRIBED,), product=PARTNER)
    bodies = [
        json.dumps({"version": 1, "findings": [quoted]}),
        message.encode([control]),
        *message.pack_messages(foreign),
    ]
    response = load_handler()(sqs_event(bodies), Context())
    # Then every one of them is kept in the dead-letter queue and no message fails
    assert failed_ids(response) == set()
    kept = []
    while got := dlq_messages(env):
        kept += got
        for m in got:
            env["sqs"].delete_message(QueueUrl=env["dlq"], ReceiptHandle=m["ReceiptHandle"])
    assert len(kept) == 32


def test_a_server_error_without_a_known_code_is_retried(env, monkeypatch):
    real = aws.securityhub
    calls = {"n": 0}

    class Flaky:
        def __init__(self, client: Any) -> None:
            self.client = client

        def batch_import_findings(self, **kwargs: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == 1:
                from botocore.exceptions import ClientError

                raise ClientError(
                    {
                        "Error": {"Code": "502", "Message": "Bad Gateway"},
                        "ResponseMetadata": {"HTTPStatusCode": 502},
                    },
                    "BatchImportFindings",
                )
            return self.client.batch_import_findings(**kwargs)

    monkeypatch.setattr(aws, "securityhub", lambda region: Flaky(real(region)))
    findings = samples.for_account(4, samples.SUBSCRIBED[0], product=PARTNER)
    response = load_handler()(sqs_event([message.encode(findings)]), Context())
    assert failed_ids(response) == set()
    assert dlq_messages(env) == []
    assert calls["n"] == 2


def test_no_call_starts_inside_the_deadline_margin(env):
    response = load_handler()(
        sqs_event([message.encode(samples.mixed(4, product=PARTNER))]), Context(remaining_ms=9_000)
    )
    assert env["contract"].calls == []
    assert failed_ids(response) == {"msg-0"}


def test_the_same_id_for_two_accounts_is_two_findings_both_imported(env):
    # Given a partner product whose ARN names no account, sending the same finding Id to two
    # customer accounts that both subscribed, in one batch
    trivy = f"arn:aws:securityhub:{REGION}::product/aquasecurity/aquasecurity"
    accounts = (STACK_ACCOUNT, samples.SUBSCRIBED[0])
    env["contract"].allow_list(trivy, STACK_ACCOUNT)  # the partner's account imports for both
    for account in accounts:
        hub.client_for(account, REGION).enable_import_findings_for_product(ProductArn=trivy)
    (finding, *_) = support.load_fixture("sources/trivy_asff.json")["Findings"]
    copies = [dict(finding, AwsAccountId=account) for account in accounts]
    # When the importer handles them
    response = load_handler()(sqs_event([message.encode(copies)]), Context())
    # Then each account's hub holds its own finding
    assert failed_ids(response) == set()
    for account in accounts:
        assert [f["Id"] for f in stored(env["contract"], account)] == [finding["Id"]]
    assert dlq_messages(env) == []


def test_one_poison_message_is_quarantined_with_its_reason_and_the_batch_imported(env):
    # Given a batch where one message holds a 401-digit integer and one is nested 100,000
    # deep, between good messages (the integer once crashed validation for the batch)
    findings = samples.mixed(8, product=PARTNER)
    good = [message.encode(findings[i : i + 2]) for i in (0, 2, 4)]
    poison = message.encode(findings[6:])
    poison = poison.replace('"Id": ', '"Confidence": ' + "9" * 401 + ', "Id": ', 1)
    deep = '{"version": 1, "findings": [' + "[" * 100_000 + "]" * 100_000 + "]}"
    bodies = [good[0], poison, good[1], deep, good[2]]
    # When the importer handles it
    response = load_handler()(sqs_event(bodies), Context())
    # Then no message is left for redelivery, the good findings are all in Security Hub,
    # and each poison message is in the dead-letter queue with what is wrong and where
    assert failed_ids(response) == set()
    assert sum(len(stored(env["contract"], a)) for a in samples.SUBSCRIBED) == 6
    quarantined = dlq_messages(env)
    assert codes(quarantined) == Counter({"MalformedMessage": 2})
    reasons = {
        m["MessageAttributes"]["hubrelay.SourceMessageIds"]["StringValue"]: m["MessageAttributes"][
            "hubrelay.ErrorMessage"
        ]["StringValue"]
        for m in quarantined
    }
    assert reasons == {
        "msg-1": "message msg-1: integer of 401 digits (at most 64) at findings[0].Confidence",
        "msg-3": "message msg-3: nested too deeply (more than 64 levels)",
    }
    assert {c.outcome for c in env["contract"].calls} == {"ok"}


def _paced_import(env, findings, pace):
    """import_records with the contract, the token buckets and the sleeps on one clock."""
    from hubrelay import importer
    from hubrelay.retry import Retry
    from hubrelay.settings import Settings

    def sleep(seconds: float) -> None:
        now[0] += seconds

    now = [0.0]
    env["contract"].clock = lambda: now[0]
    pace.clock = lambda: now[0]
    settings = Settings(quarantine_queue_url=env["dlq"])
    services = importer.Services(securityhub=aws.securityhub, sqs=env["sqs"], pace=pace)
    records = [(f"msg-{i}", body, 1) for i, body in enumerate(message.pack_messages(findings))]
    retry = Retry(max_attempts=8, sleep=sleep, pace=pace)
    return importer.import_records(records, settings, services, retry=retry), now[0]


def test_calls_paced_by_the_token_bucket_stay_within_security_hubs_enforced_rate(env):
    # Given Security Hub's quota (10 requests/s, burst 30 per account and Region) enforced,
    # and 6,000 findings of one account: 60 calls
    from hubrelay.retry import Pace

    findings = samples.for_account(6_000, samples.SUBSCRIBED[0], product=PARTNER)
    # When imported with the importer's pacing at the documented rate
    outcome, seconds = _paced_import(env, findings, Pace(10.0, 30))
    # Then all arrive without a single 429: the burst, then one call per 0.1 s
    assert outcome.imported == 6_000
    assert outcome.calls == 60
    assert env["contract"].throttled == 0
    # (each wait a millisecond over the refill, so a call is never a hair early)
    assert seconds == pytest.approx((60 - 30) * (0.1 + 0.001))


def test_a_429_empties_the_bucket_so_the_next_call_waits_one_refill_not_a_backoff(env):
    # Given Security Hub's bucket nearly spent by someone else (a second importer): one
    # token where this container's bucket believes in a full burst of 30
    from hubrelay.retry import Pace

    env["contract"].burst = 1
    findings = samples.for_account(2_000, samples.SUBSCRIBED[0], product=PARTNER)
    # When 20 calls are imported
    outcome, seconds = _paced_import(env, findings, Pace(10.0, 30))
    # Then the second call's 429 is the only one: it empties the bucket, and each later
    # call waits for its token (0.1 s), not a random backoff
    assert outcome.imported == 2_000
    assert outcome.unresolved == []
    assert env["contract"].throttled == outcome.throttles == 1
    assert outcome.calls == 21
    assert seconds == pytest.approx(19 * (0.1 + 0.001))
