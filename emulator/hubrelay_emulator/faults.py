"""Fault injection through the stack emulator, with conservation accounting.

Each fault kind pushes findings through the real template on the stack emulator while one
kind of trouble happens; `mixed` does all of them at once. At the end every finding is
accounted for: source = imported + quarantined (with a readable reason) + deliberately
filtered, lost = 0, and no finding is in Security Hub twice.

Usage: python -m hubrelay_emulator.faults [--findings N] [--kind NAME ...]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ReadTimeoutError

from hubrelay import bodies, message
from hubrelay_emulator import samples
from hubrelay_emulator import securityhub as hub
from hubrelay_emulator.demo import PARTNER_PRODUCT
from hubrelay_emulator.runner import LambdaFunction, StackEmulator


@dataclass
class Ledger:
    kind: str
    source: int = 0
    imported: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    filtered: int = 0
    lost: int = 0
    duplicates: int = 0
    unreadable: int = 0
    invocations: int = 0
    calls: int = 0
    throttled: int = 0
    faults_hit: int = 0  # how often the injected fault actually happened
    lost_ids: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicates == 0 and self.unreadable == 0


@dataclass
class Run:
    """One fault run: the stack, the findings a source produced, and the fault's hooks."""

    stack: StackEmulator
    findings: list[dict[str, Any]]
    rng: random.Random
    expect_quarantined: set[str] = field(default_factory=set)
    duplicate_sends: bool = False
    midway: Callable[[], None] | None = None


def _throttling_storm(run: Run) -> None:
    run.stack.contract.burst = 5
    run.stack.contract.rate_per_second = 2.0
    run.stack.contract.inject("throttle", count=40)


def _server_errors_and_timeouts(run: Run) -> None:
    run.stack.contract.inject("internal", count=25)
    timeouts = [15]

    def time_out(function: LambdaFunction, operation: str, params: dict[str, Any]) -> None:
        if operation == "securityhub:BatchImportFindings" and timeouts[0] > 0:
            timeouts[0] -= 1
            raise ReadTimeoutError(endpoint_url="https://securityhub.us-east-1.amazonaws.com")

    run.stack.before_call.append(time_out)


def _partial_failed_findings(run: Run) -> None:
    # Some calls lose a few findings to transient errors, others have findings refused.
    for _ in range(10):
        run.stack.contract.inject("failed_findings", first=7, error_code="InternalException")
        run.stack.contract.inject(
            "failed_findings",
            first=1,
            error_code="InvalidInput",
            error_message="Finding rejected by Security Hub",
        )


def _unsubscribed_mid_run(run: Run) -> None:
    def unsubscribe() -> None:
        hub.disable_hub(samples.SUBSCRIBED[1], run.stack.region)

    run.midway = unsubscribe


def _oversized_findings(run: Run) -> None:
    for finding in run.rng.sample(run.findings, max(len(run.findings) // 100, 1)):
        finding["ProductFields"] = {f"pad{k}": "x" * 2000 for k in range(50)}
        for resource in finding["Resources"]:
            resource["Details"] = {"Other": {f"k{k}": "y" * 150 for k in range(50)}}


def _duplicate_deliveries(run: Run) -> None:
    run.duplicate_sends = True


def _importer_crash_after_some_calls(run: Run) -> None:
    state = {"crashes": 3, "calls": 0}

    def crash(function: LambdaFunction, operation: str, params: dict[str, Any]) -> None:
        if operation != "securityhub:BatchImportFindings" or state["crashes"] <= 0:
            return
        state["calls"] += 1
        if state["calls"] % 4 == 0:
            state["crashes"] -= 1
            raise RuntimeError("simulated crash: the importer died after some calls succeeded")

    run.stack.after_call.append(crash)


FAULTS: dict[str, Callable[[Run], None]] = {
    "throttling storm": _throttling_storm,
    "5xx and timeouts": _server_errors_and_timeouts,
    "partial FailedFindings": _partial_failed_findings,
    "account unsubscribed mid-run": _unsubscribed_mid_run,
    "findings over 240 KB": _oversized_findings,
    "duplicate SQS deliveries": _duplicate_deliveries,
    "importer crash after some calls": _importer_crash_after_some_calls,
}


def run_kind(kinds: Sequence[str], count: int, seed: int = 5) -> Ledger:
    """Push `count` findings through a fresh stack while the given faults happen."""
    if len(kinds) == 1 and kinds[0] in SOURCE_FAULTS:
        return SOURCE_FAULTS[kinds[0]](count, seed)
    name = "mixed" if len(kinds) > 1 else kinds[0]
    with StackEmulator(parameters={"ProductArn": PARTNER_PRODUCT, "MaxReceiveCount": "5"}) as stack:
        hub.subscribe(samples.SUBSCRIBED, stack.region, PARTNER_PRODUCT, stack.endpoint)
        run = Run(
            stack, samples.mixed(count, seed=seed, product=PARTNER_PRODUCT), random.Random(seed)
        )
        for kind in kinds:
            FAULTS[kind](run)
        bodies = list(message.pack_messages(run.findings, max_bytes=1024 * 1024))
        sqs = stack.client("sqs")
        half = len(bodies) // 2
        for index, body in enumerate(bodies):
            copies = 2 if run.duplicate_sends else 1
            for _ in range(copies):
                sqs.send_message(QueueUrl=stack.outputs["FindingsQueueUrl"], MessageBody=body)
            if run.midway and index == half:
                stack.poll(stack.mappings[0])
                run.midway()
        stack.drain()
        return _account(name, stack, run)


# --- faults on the collector and route-out side ---------------------------------------------

REPORT_KEY = "reports/shop-api/trivy.json"


def _collector_stack(**parameters: str) -> StackEmulator:
    stack = StackEmulator(
        parameters={"ProductArn": PARTNER_PRODUCT, "Source": "scanner_reports", **parameters}
    ).up()
    return stack


def _collect_until_done(stack: StackEmulator, ticks: int = 20) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for _ in range(ticks):
        got = [r for r in stack.tick() if isinstance(r, dict)]
        results.extend(got)
        stack.drain()
        if got and got[-1].get("finished") and not got[-1].get("stoppedEarly"):
            break
        stack.advance(300)
    return results


def _source_ledger(
    name: str, stack: StackEmulator, source: int, runs: list[dict[str, Any]]
) -> Ledger:
    """Conservation from the source's side: every native record is a finding in Security
    Hub, an entry of an error report (with its reason) or deliberately filtered."""
    ledger = Ledger(name, source=source)
    stored = [f["Id"] for f in stack.contract.findings(stack.account, stack.region)]
    ledger.duplicates = len(stored) - len(set(stored))
    ledger.imported = len(set(stored))
    reasons: Counter[str] = Counter()
    s3, bucket = stack.client("s3"), stack.outputs["CollectorReportsBucket"]
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="errors/")
    for page in pages:
        for item in page.get("Contents", []):
            if item["Key"].startswith(f"errors/{bodies.FOLDER}"):
                continue  # tracked findings' last bodies (hubrelay.bodies), not error reports
            document = json.loads(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            for error in document.get("errors", []):
                reason = str(error.get("reason", "")).strip()
                reasons["MalformedRecord" if reason else "(no reason)"] += 1
                ledger.unreadable += not reason
    for kept in stack.messages("FindingsDeadLetterQueue"):
        code = kept.get("MessageAttributes", {}).get("hubrelay.ErrorCode", {}).get("StringValue")
        reasons[code or "RedrivenBySQS"] += 1
    ledger.quarantined = dict(reasons)
    ledger.filtered = sum(r.get("actions", {}).get("dropped", 0) for r in runs)
    ledger.lost = source - ledger.imported - sum(reasons.values()) - ledger.filtered
    ledger.invocations = sum(f.invocations for f in stack.functions.values())
    ledger.calls = len(stack.contract.calls)
    return ledger


def _malformed_native_records(count: int, seed: int) -> Ledger:
    report = samples.trivy_report(count, seed=seed)
    vulnerabilities = report["Results"][0]["Vulnerabilities"]
    for vulnerability in random.Random(seed).sample(vulnerabilities, max(count // 50, 1)):
        del vulnerability["VulnerabilityID"], vulnerability["PkgName"]
    stack = _collector_stack()
    try:
        s3 = stack.client("s3")
        s3.put_object(
            Bucket=stack.outputs["CollectorReportsBucket"],
            Key=REPORT_KEY,
            Body=json.dumps(report).encode(),
        )
        runs = _collect_until_done(stack)
        ledger = _source_ledger("malformed native records", stack, count, runs)
        ledger.faults_hit = max(count // 50, 1)
        return ledger
    finally:
        stack.down()


def _collector_timeout_mid_source(count: int, seed: int) -> Ledger:
    # Three reports; the first run has about a second (the collector must stop cleanly and
    # save what it finished), the second is killed outright after a few enqueues.
    stack = _collector_stack()
    try:
        s3 = stack.client("s3")
        per_report = count // 3
        for n in range(3):
            report = samples.trivy_report(
                per_report, image=f"registry.example.com/app{n}:1", seed=seed + n
            )
            s3.put_object(
                Bucket=stack.outputs["CollectorReportsBucket"],
                Key=f"reports/app{n}/trivy.json",
                Body=json.dumps(report).encode(),
            )
        collector = stack.functions["CollectorFunction"]
        # Just past the collector's 10 s safety margin, and the first report's messages take
        # a (simulated) second and a half to send: the run must stop after that report.
        timeout, collector.timeout = collector.timeout, 11
        slow = {"sent": False}

        def slow_first_send(function: LambdaFunction, operation: str, params: Any) -> None:
            if function is collector and operation == "sqs:SendMessageBatch" and not slow["sent"]:
                slow["sent"] = True
                time.sleep(1.5)  # simulated inside the function: it costs its deadline

        stack.after_call.append(slow_first_send)
        runs = [r for r in stack.tick() if isinstance(r, dict)]
        stack.after_call.remove(slow_first_send)
        collector.timeout = timeout
        sends = {"count": 0}

        def kill(function: LambdaFunction, operation: str, params: dict[str, Any]) -> None:
            if function is collector and operation == "sqs:SendMessageBatch":
                sends["count"] += 1
                if sends["count"] == 2:
                    raise RuntimeError("simulated timeout: the collector was killed mid-source")

        stack.after_call.append(kill)
        stack.advance(300)
        killed = 0
        try:
            stack.tick()
        except RuntimeError:
            killed = 1  # the schedule does not retry; the next run starts from the saved cursor
        stack.after_call.remove(kill)
        stopped = sum(1 for r in runs if r.get("stoppedEarly"))
        runs += _collect_until_done(stack)
        ledger = _source_ledger("collector timeout mid-source", stack, per_report * 3, runs)
        ledger.faults_hit = stopped + killed
        return ledger
    finally:
        stack.down()


def _destination_down(count: int, seed: int) -> Ledger:
    """Findings picked for a custom action whose webhook never answers 2xx: each must be
    delivered or in the responder's dead-letter queue with the reason."""
    from hubrelay_emulator.demo import SIGNING_SECRET, WEBHOOK_SECRET_NAME, Receiver

    receiver = Receiver(SIGNING_SECRET, status=503).start()

    def secret(stack: StackEmulator) -> None:
        stack.client("secretsmanager").create_secret(
            Name=WEBHOOK_SECRET_NAME,
            SecretString=json.dumps({"url": receiver.url, "signing_secret": SIGNING_SECRET}),
        )

    stack = StackEmulator(
        parameters={
            "ProductArn": PARTNER_PRODUCT,
            "EnableWebhook": "true",
            "WebhookSecretName": WEBHOOK_SECRET_NAME,
        },
        setup=secret,
    ).up()
    try:
        findings = samples.for_account(
            min(count, 60), stack.account, seed=seed, product=PARTNER_PRODUCT
        )
        for body in message.pack_messages(findings):
            stack.client("sqs").send_message(
                QueueUrl=stack.outputs["FindingsQueueUrl"], MessageBody=body
            )
        stack.drain()
        keys = [(f["ProductArn"], f["Id"]) for f in findings]
        for start in range(0, len(keys), 20):
            stack.click("WebhookActionTarget", keys[start : start + 20])
        ledger = Ledger("destination down", source=len(keys))
        reasons: Counter[str] = Counter()
        for kept in stack.messages("ResponderDeadLetterQueue"):
            body = json.loads(kept["Body"])
            for _ in body.get("findings", []):
                reasons[
                    "DeliveryFailed" if str(body.get("reason", "")).strip() else "(no reason)"
                ] += 1
        ledger.quarantined = dict(reasons)
        ledger.unreadable = reasons.get("(no reason)", 0)
        ledger.imported = receiver.verified_ok  # delivered and acknowledged: none here
        ledger.faults_hit = receiver.verified - receiver.verified_ok
        ledger.lost = ledger.source - ledger.imported - sum(reasons.values())
        ledger.invocations = sum(f.invocations for f in stack.functions.values())
        return ledger
    finally:
        stack.down()
        receiver.stop()


SOURCE_FAULTS: dict[str, Callable[[int, int], Ledger]] = {
    "malformed native records": _malformed_native_records,
    "collector timeout mid-source": _collector_timeout_mid_source,
    "destination down": _destination_down,
}


def _account(name: str, stack: StackEmulator, run: Run) -> Ledger:
    ledger = Ledger(name, source=len(run.findings))
    source_ids = {f["Id"] for f in run.findings}
    stored: Counter[str] = Counter()
    for account in samples.SUBSCRIBED:
        stored.update(f["Id"] for f in stack.contract.findings(account, stack.region))
    ledger.duplicates = sum(n - 1 for n in stored.values() if n > 1)
    imported = set(stored) & source_ids
    quarantined: dict[str, str] = {}
    reasons: Counter[str] = Counter()
    for kept in stack.messages("FindingsDeadLetterQueue"):
        attributes = kept.get("MessageAttributes", {})
        code = attributes.get("hubrelay.ErrorCode", {}).get("StringValue", "")
        reason = attributes.get("hubrelay.ErrorMessage", {}).get("StringValue", "")
        finding_id = attributes.get("hubrelay.FindingId", {}).get("StringValue")
        if not code:
            # No importer reason: SQS's redrive moved the message because every receive
            # failed (the importer crashed or timed out each time); SQS's receive count is
            # the reason, the importer's logs and Errors metric say why it failed.
            receives = kept.get("Attributes", {}).get("ApproximateReceiveCount", "?")
            code, reason = "RedrivenBySQS", f"SQS moved it after {receives} failed receives"
        ids = [finding_id] if finding_id else _ids_in(kept["Body"])
        for fid in ids:
            if fid in quarantined or fid in imported:
                continue  # a redelivered message quarantined it twice, or it got in later
            quarantined[fid] = code
            reasons[code or "(no reason)"] += 1
            if not (code and reason.strip()):
                ledger.unreadable += 1
    ledger.imported = len(imported)
    ledger.quarantined = dict(reasons)
    missing = source_ids - imported - set(quarantined)
    ledger.lost = len(missing)
    ledger.lost_ids = sorted(missing)[:10]
    ledger.invocations = sum(f.invocations for f in stack.functions.values())
    ledger.calls = len(stack.contract.calls)
    ledger.throttled = stack.contract.throttled
    return ledger


def _ids_in(body: str) -> list[str]:
    try:
        return [str(f.get("Id")) for f in message.decode(body)]
    except message.MessageError:
        return []


def render(ledgers: list[Ledger]) -> str:
    header = (
        f"{'fault':34} {'source':>7} {'imported':>9} {'quarantined':>12} {'filtered':>9} "
        f"{'lost':>5} {'dupes':>6} {'no reason':>10}  reasons"
    )
    lines = [header, "-" * len(header)]
    for ledger in ledgers:
        lines.append(
            f"{ledger.kind:34} {ledger.source:>7} {ledger.imported:>9} "
            f"{sum(ledger.quarantined.values()):>12} {ledger.filtered:>9} {ledger.lost:>5} "
            f"{ledger.duplicates:>6} {ledger.unreadable:>10}  "
            + ", ".join(f"{k} {v}" for k, v in sorted(ledger.quarantined.items()))
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make faults", description=__doc__)
    parser.add_argument("--findings", type=int, default=1500)
    parser.add_argument("--kind", action="append", choices=[*FAULTS, *SOURCE_FAULTS, "mixed"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    kinds = args.kind or [*FAULTS, *SOURCE_FAULTS, "mixed"]
    ledgers = []
    for kind in kinds:
        print(f"==> {kind}", flush=True)
        selected = list(FAULTS) if kind == "mixed" else [kind]
        ledgers.append(run_kind(selected, args.findings))
    print(json.dumps([vars(x) for x in ledgers], indent=2) if args.json else render(ledgers))
    return 0 if all(ledger.ok for ledger in ledgers) else 1


if __name__ == "__main__":
    sys.exit(main())
