"""`make demo`: the whole pipeline on this machine, from template.yaml, with no AWS account.

1. Brings the stack up on moto's server (127.0.0.1) with a scanner-report source, a signed
   webhook custom action and the automatic route on; subscribes two customer accounts to the
   product and leaves a third unsubscribed.
2. A producer enqueues built-in sample findings (some invalid, some over the limits, some for
   the unsubscribed account, one malformed message); the importer drains the queue as its
   event source mapping would.
3. A Trivy report lands in the reports bucket; its S3 Object Created event runs the
   collector through the template's EventBridge rule; a schedule tick over the same report
   sends nothing; a rescan with fixed vulnerabilities archives them.
4. Someone picks findings in the console and chooses "Send to webhook": the responder signs
   and posts them to a receiver on 127.0.0.1 and writes the outcome back to Security Hub.
Last, on a stack of its own with Source=health, two AWS Health events go through the
template's CollectorHealthRule (demo_health). Then it prints what became of every finding.
Usage:
python -m hubrelay_emulator.demo [--findings N] [--vulnerabilities N] [--param Name=Value ...]
                                 [--report PATH]
`--report PATH` also puts your own scanner report (whatever the collector's scanner_reports
source reads: Trivy, Grype, SARIF, ASFF) in the reports bucket after the built-in stages; a
collector tick collects it, and the demo says how many of its findings are in Security Hub.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from hubrelay import asff, message
from hubrelay.commands.common import CommandError, parse_params
from hubrelay.packing import lower_bound
from hubrelay.settings import DEFAULT_BATCH_BYTE_BUDGET
from hubrelay.sources import MappingError
from hubrelay_emulator import (
    cfn,
    demo_health,
    demo_report,
    demo_syncback,
    demo_v2,
    demo_vendor,
    samples,
    vendorapi,
    webhook_verifier,
)
from hubrelay_emulator import securityhub as hub
from hubrelay_emulator.localhttp import start_server, stop_server
from hubrelay_emulator.runner import DEFAULT_ACCOUNT, DEFAULT_REGION, StackEmulator
from hubrelay_emulator.runner.model import ROOT

TEMPLATE = ROOT / "template.yaml"

PARTNER_PRODUCT = f"arn:aws:securityhub:us-east-1:{DEFAULT_ACCOUNT}:product/hubrelay/demo"
WEBHOOK_SECRET_NAME = "hubrelay-demo-webhook"  # noqa: S105 - a name, not a value
SIGNING_SECRET = "demo-signing-secret"  # noqa: S105 - a local demo value, not a credential
IMAGE = "registry.example.com/shop/api:1.4.2"


@dataclass
class Summary:
    """What the demo did and what became of every finding, in the order of its stages."""

    stages: dict[str, float] = field(default_factory=dict)  # seconds each stage took
    # The import path: a producer's findings through the queue to Security Hub.
    sent: int = 0
    messages: int = 0
    malformed_messages: int = 0
    calls: int = 0
    lower_bound: int = 0
    naive_calls: int = 0
    naive_over_budget: int = 0
    # The collector: a scanner report, the same report again, a rescan.
    collected: int = 0
    collected_by_event: bool = False  # by S3's Object Created through EventBridge, no tick
    collected_second_run: int = 0
    archived: int = 0
    # --source vendor_api: the vendor API's pages, its refusals (status -> count), and one
    # imported finding as the mapping made it.
    source: str = "scanner_reports"
    vendor_pages: int = 0
    vendor_refusals: dict[str, int] = field(default_factory=dict)
    vendor_sample: str = ""
    # Delivery feedback: findings refused while the account was not subscribed to the
    # product, then delivered by a later run once it was, the report untouched.
    held_back: int = 0
    delivered_late: int = 0
    # Route out: the custom action, the webhook receiver, the write-back, the automatic route.
    clicked: int = 0
    webhook_received: int = 0
    webhook_verified: int = 0
    written_back: int = 0
    auto_routed: int = 0
    # The new Security Hub: a Findings Imported V2 event routed to a ticket connector.
    v2: demo_v2.V2Result = field(default_factory=demo_v2.V2Result)
    # Status synced back: a signed callback to the function URL, a vendor closure poll.
    syncback: demo_syncback.SyncResult = field(default_factory=demo_syncback.SyncResult)
    # AWS Health events through CollectorHealthRule, on a stack of their own (Source=health).
    health: demo_health.HealthResult | None = None
    # The audit: Security Hub's own counts, the dead-letter queue, the IAM checker.
    imported: int = 0
    in_security_hub: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    throttled: int = 0
    denied_calls: int = 0
    # Each denied call: the function, the IAM action and the resource it was refused on.
    denied: list[dict[str, str]] = field(default_factory=list)
    unused_permissions: dict[str, list[str]] = field(default_factory=dict)
    # Permissions only a failure path uses (iam.FAILURE_PATHS), which this run did not take.
    failure_path_permissions: dict[str, list[str]] = field(default_factory=dict)
    # --report PATH: the user's own report, collected after the rest (not in the counts above).
    report: demo_report.ReportResult | None = None

    @property
    def lost(self) -> int:
        """Producer findings neither in Security Hub nor quarantined with a reason."""
        producer_imported = (
            sum(self.in_security_hub.values()) - self.collected - self.delivered_late
        )
        accounted = producer_imported + sum(self.quarantined.values()) - self.malformed_messages
        return self.sent - accounted


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 that checks signatures as a customer's would."""

    secret: str
    status: int = 200  # what it answers to a correctly signed request
    received: list[dict[str, Any]] = field(default_factory=list)
    verified: int = 0
    verified_ok: int = 0  # signed correctly and answered 2xx: delivered
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                # The headers as received, repeats included (the verifier refuses repeats).
                secrets = {"default": receiver.secret}
                ok = webhook_verifier.verify(self.headers, body, secrets)
                receiver.verified += ok
                receiver.received.append(json.loads(body))
                status = receiver.status if ok else 401
                receiver.verified_ok += ok and status < 300
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(
                    json.dumps({"reference": f"HOOK-{len(receiver.received)}"}).encode()
                )

            def log_message(self, *args: Any) -> None:
                pass

        self.server = start_server(Handler)
        return self

    def stop(self) -> None:
        if self.server:
            stop_server(self.server)


@contextmanager
def _stage(summary: Summary, name: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    summary.stages[name] = time.perf_counter() - started


def run(
    findings: int = 300,
    parameters: dict[str, str] | None = None,
    progress: Callable[[str], None] = lambda line: None,
    vulnerabilities: int = 120,
    source: str = "scanner_reports",
    report: demo_report.Report | None = None,
) -> Summary:
    with contextlib.ExitStack() as running:
        api = None
        if source == "vendor_api":
            api = running.enter_context(demo_vendor.vendor_api(DEFAULT_ACCOUNT))
        # The vendor's back-sync side: its closed tickets, polled by the status sync back.
        closures = running.enter_context(demo_syncback.vendor_api())
        return _run(findings, parameters or {}, progress, vulnerabilities, api, closures, report)


def _run(
    findings: int,
    parameters: dict[str, str],
    progress: Callable[[str], None],
    vulnerabilities: int,
    api: vendorapi.VendorApi | None,
    closures: vendorapi.VendorApi,
    report: demo_report.Report | None = None,
) -> Summary:
    summary = Summary()
    receiver = Receiver(SIGNING_SECRET).start()
    params = _stack_parameters(parameters, api)
    summary.source = params["Source"]
    setup = _secrets_setup(receiver, api, closures)
    progress("bringing the stack up from template.yaml on moto's server")
    try:
        with _stage(summary, "stack up"):
            stack = StackEmulator(parameters=params, setup=setup).up()
        try:
            progress(f"stack up at {stack.endpoint}: {len(stack.resources)} resources")
            _import_path(stack, summary, findings, params, progress)
            _collect_any(stack, summary, vulnerabilities, api, progress)
            _route_out_and_back(stack, summary, closures, progress)
            _audit(stack, summary)
            _subscribed_late(stack, summary, progress)
            _your_report(stack, summary, report, progress)
            _permissions(stack, summary)
        finally:
            stack.down()
    finally:
        receiver.stop()
    if "Source" not in parameters and api is None and report is None:
        progress("AWS Health events through EventBridge, on a stack with Source=health")
        with _stage(summary, "health events"):
            summary.health = demo_health.run()
    summary.webhook_received = len(receiver.received)
    summary.webhook_verified = receiver.verified
    return summary


def _stack_parameters(
    parameters: dict[str, str], api: vendorapi.VendorApi | None
) -> dict[str, str]:
    """The stack's parameters, the caller's over the demo's, checked as CloudFormation would."""
    params = {
        "ProductArn": PARTNER_PRODUCT,
        "Source": "scanner_reports",
        "EnableWebhook": "true",
        "WebhookSecretName": WEBHOOK_SECRET_NAME,
        "AutoRoute": "true",
        **demo_v2.parameters(),
        **demo_syncback.parameters(),
        **(demo_vendor.parameters(api) if api else {}),
        **parameters,
    }
    # The vendor API's token secret is named once it exists (demo_vendor.create_secret): an
    # ARN of that form stands in for it here.
    pending = (
        {"VendorSecretArn": demo_vendor.secret_arn_to_be(DEFAULT_ACCOUNT, DEFAULT_REGION)}
        if api
        else {}
    )
    check_parameters({**params, **pending})
    return params


def _secrets_setup(
    receiver: Receiver, api: vendorapi.VendorApi | None, closures: vendorapi.VendorApi
) -> Callable[[StackEmulator], None]:
    def create_secrets(stack: StackEmulator) -> None:
        # The operator's step before deploying: the webhook's URL and signing secret.
        stack.client("secretsmanager").create_secret(
            Name=WEBHOOK_SECRET_NAME,
            SecretString=json.dumps({"url": receiver.url, "signing_secret": SIGNING_SECRET}),
        )
        if api is not None:
            demo_vendor.create_secret(stack, api)
        demo_v2.create_connector(stack)
        demo_syncback.create_secret(stack, closures)

    return create_secrets


def _collect_any(
    stack: StackEmulator,
    summary: Summary,
    vulnerabilities: int,
    api: vendorapi.VendorApi | None,
    progress: Callable[[str], None],
) -> None:
    """The collector's stage: from the vendor API when there is one, else from a report."""
    if api is not None:
        with _stage(summary, "collect"):
            demo_vendor.collect(stack, summary, api, _tick, progress)
        summary.vendor_sample = demo_vendor.mapped_sample(stack)
    else:
        _collect(stack, summary, vulnerabilities, progress)


def _route_out_and_back(
    stack: StackEmulator,
    summary: Summary,
    closures: vendorapi.VendorApi,
    progress: Callable[[str], None],
) -> None:
    """The custom action, the new Security Hub's route, then a ticket's status synced back."""
    routed = _route_out(stack, summary, progress)
    with _stage(summary, "new Security Hub"):
        summary.v2 = demo_v2.route_out(stack)
    if routed:
        with _stage(summary, "synced back"):
            summary.syncback = demo_syncback.run(stack, closures, routed[0], SIGNING_SECRET)
        progress(demo_syncback.rows(summary.syncback)[0][1])


def _permissions(stack: StackEmulator, summary: Summary) -> None:
    """What the IAM checker saw: calls denied, permissions unused."""
    summary.denied = [
        {"function": c.function, "action": c.action, "resource": c.resource}
        for c in stack.checker.denied()
    ]
    summary.denied_calls = len(summary.denied)
    summary.unused_permissions = stack.checker.unused_statements()
    summary.failure_path_permissions = {
        role: sorted(kept) for role, kept in stack.checker.failure_paths().items()
    }


def _import_path(
    stack: StackEmulator,
    summary: Summary,
    count: int,
    params: dict[str, str],
    progress: Callable[[str], None],
) -> None:
    product = params["ProductArn"]
    with _stage(summary, "enqueue"):
        hub.subscribe(samples.SUBSCRIBED, stack.region, product, stack.endpoint)
        progress(
            f"accounts {', '.join(samples.SUBSCRIBED)} subscribed; "
            f"{samples.UNSUBSCRIBED} left unsubscribed"
        )
        batch = (
            samples.mixed(count, product=product)
            + [f for _, f in samples.broken(product=product)]
            + samples.for_account(20, samples.UNSUBSCRIBED, product=product)
        )
        summary.sent = len(batch)
        budget = int(params.get("BatchByteBudget", DEFAULT_BATCH_BYTE_BUDGET))
        summary.naive_calls, summary.naive_over_budget = _naive_calls(batch, budget)
        summary.lower_bound = _bound(batch, budget)
        sqs = stack.client("sqs")
        queue = stack.outputs["FindingsQueueUrl"]
        # 1 MiB is the SQS message limit today; the oversized sample needs it to get this far.
        bodies = list(message.pack_messages(batch, max_bytes=1024 * 1024))
        for body in bodies:
            sqs.send_message(QueueUrl=queue, MessageBody=body)
        sqs.send_message(QueueUrl=queue, MessageBody='{"version": 1, "findings": "oops"}')
        summary.messages = len(bodies) + 1
        summary.malformed_messages = 1
    progress(f"a producer enqueued {summary.sent} findings in {len(bodies)} messages + 1 malformed")
    with _stage(summary, "import"):
        polls = stack.drain()
    summary.calls = len(stack.contract.calls)
    progress(
        f"the queues drained in {polls} function invocation(s); {summary.calls} "
        "BatchImportFindings calls"
    )


def _collect(
    stack: StackEmulator, summary: Summary, vulnerabilities: int, progress: Callable[[str], None]
) -> None:
    if stack.parameters.get("Source") != "scanner_reports":
        return
    s3 = stack.client("s3")
    bucket = stack.outputs["CollectorReportsBucket"]
    key = f"{stack.parameters.get('ReportsPrefix', 'reports/')}shop-api/trivy.json"
    report = samples.trivy_report(vulnerabilities, IMAGE)
    with _stage(summary, "collect"):
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(report).encode())
        # S3's Object Created event, through the template's rule, before any schedule tick
        # (EventDrivenCollection, on by default); with it off, the first tick reads it.
        runs = [r for r in stack.deliver_events() if isinstance(r, dict)]
        summary.collected_by_event = bool(runs)
        first = runs[0] if runs else _tick(stack)
        summary.collected = first.get("enqueued", 0)
        stack.drain()
        how = "its Object Created event" if runs else "collector tick 1"
        progress(f"{how}: {summary.collected} findings from a Trivy report enqueued and imported")
        second = _tick(stack)
        summary.collected_second_run = second.get("enqueued", 0)
        progress(
            f"collector tick (the schedule, the backstop; same report): "
            f"{summary.collected_second_run} enqueued"
        )
        # A rescan in which the first ten vulnerabilities are fixed: a complete scan of the
        # image, so the missing findings are archived everywhere they were sent.
        fixed = report["Results"][0]["Vulnerabilities"][10:]
        rescan = {**report, "CreatedAt": "2026-11-21T09:00:00Z"}
        rescan["Results"] = [{**report["Results"][0], "Vulnerabilities": fixed}]
        stack.advance(301)
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(rescan).encode())
        _tick(stack)
        stack.drain()
    summary.archived = sum(
        1
        for f in stack.contract.findings(stack.account, stack.region)
        if f.get("RecordState") == "ARCHIVED"
    )
    progress(f"collector tick 3 (rescan, 10 fixed): {summary.archived} findings archived")


def _subscribed_late(
    stack: StackEmulator, summary: Summary, progress: Callable[[str], None]
) -> None:
    """After the audit of the rest: the stack's account turns Security Hub off, a new report
    comes in, its findings are refused (quarantined, and marked undelivered in tracking);
    Security Hub back on, the next run delivers them by itself, the report untouched."""
    if stack.parameters.get("Source") != "scanner_reports":
        return
    s3 = stack.client("s3")
    bucket = stack.outputs["CollectorReportsBucket"]
    key = f"{stack.parameters.get('ReportsPrefix', 'reports/')}shop-web/trivy.json"
    report = samples.trivy_report(5, IMAGE.replace("/api:", "/web:"), seed=11)
    with _stage(summary, "subscribed late"):
        hub.disable_hub(stack.account, stack.region)
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(report).encode())
        stack.advance(301)
        _tick(stack)
        stack.drain()
        # Only this stage's: the audit read the dead-letter queue already.
        summary.held_back = len(stack.messages("FindingsDeadLetterQueue"))
        hub.enable_hub(stack.account, stack.region)
        stack.advance(301)  # past the first backoff of (account, Region)
        _tick(stack)
        stack.drain()
        now = _count_findings(stack, stack.account)
        summary.delivered_late = now - summary.in_security_hub[stack.account]
        summary.in_security_hub[stack.account] = now
        summary.imported += summary.delivered_late
    progress(
        f"Security Hub off, then on: {summary.held_back} findings refused, "
        f"{summary.delivered_late} delivered by the next run without a new report"
    )


def _your_report(
    stack: StackEmulator,
    summary: Summary,
    report: demo_report.Report | None,
    progress: Callable[[str], None],
) -> None:
    if report is not None:
        with _stage(summary, "your report"):
            summary.report = demo_report.collect(stack, report, _tick, progress)


def _tick(stack: StackEmulator) -> dict[str, Any]:
    results = [r for r in stack.tick() if isinstance(r, dict)]
    return results[0] if results else {}


def _route_out(
    stack: StackEmulator, summary: Summary, progress: Callable[[str], None]
) -> list[tuple[str, str]]:
    """The findings the custom action sent (none without the webhook action)."""
    if "WebhookActionTarget" not in stack.resources:
        return []
    candidates = [
        f
        for f in stack.contract.findings(stack.account, stack.region)
        if f.get("RecordState") == "ACTIVE"
    ][:3]
    keys = [(f["ProductArn"], f["Id"]) for f in candidates]
    with _stage(summary, "route out"):
        stack.click("WebhookActionTarget", keys)
        stack.click("WebhookActionTarget", keys)  # a double click: must not deliver twice
    summary.clicked = len(keys)
    stored = {f["Id"]: f for f in stack.contract.findings(stack.account, stack.region)}
    summary.written_back = sum(
        1 for _, fid in keys if stored[fid].get("Workflow", {}).get("Status") == "NOTIFIED"
    )
    summary.auto_routed = stack.report.events_matched.get("AutoRouteRule", 0)
    progress(
        f"custom action clicked twice on {len(keys)} findings; "
        f"{summary.written_back} written back as NOTIFIED"
    )
    return keys


def _audit(stack: StackEmulator, summary: Summary) -> None:
    for account in (*samples.SUBSCRIBED, samples.UNSUBSCRIBED, stack.account):
        summary.in_security_hub[account] = _count_findings(stack, account)
    summary.imported = sum(summary.in_security_hub.values())
    summary.quarantined = dict(
        Counter(
            m.get("MessageAttributes", {})
            .get("hubrelay.ErrorCode", {})
            .get("StringValue", "redriven by SQS")
            for m in stack.messages("FindingsDeadLetterQueue")
        )
    )
    summary.calls = len(stack.contract.calls)
    summary.throttled = stack.contract.throttled


def _count_findings(stack: StackEmulator, account: str) -> int:
    """Security Hub's own count, through GetFindings as the account would ask."""
    client = stack.client("securityhub", account=account)
    try:
        pages = client.get_paginator("get_findings").paginate()
        return sum(len(page["Findings"]) for page in pages)
    except client.exceptions.InvalidAccessException:
        return 0  # not subscribed: Security Hub holds nothing for it


def _group_sizes(findings: list[dict[str, Any]]) -> list[list[int]]:
    """Wire sizes of the valid findings, per (Region, account) group, in order."""
    groups: dict[tuple[Any, Any], list[int]] = {}
    for f in findings:
        if not asff.validate_finding(f):
            key = (asff.region_of(f["ProductArn"]), f["AwsAccountId"])
            groups.setdefault(key, []).append(asff.finding_size(f))
    return list(groups.values())


def _naive_calls(findings: list[dict[str, Any]], budget: int) -> tuple[int, int]:
    """Calls, and calls over the byte budget, if findings were chunked by 100 in order."""
    chunks = [s[i : i + 100] for s in _group_sizes(findings) for i in range(0, len(s), 100)]
    return len(chunks), sum(1 for chunk in chunks if sum(chunk) > budget)


def _bound(findings: list[dict[str, Any]], budget: int) -> int:
    return sum(lower_bound(sizes, budget) for sizes in _group_sizes(findings))


def _collected_row(summary: Summary) -> tuple[str, str]:
    if summary.source == "vendor_api":
        refused = ", ".join(f"{n} answered {code}" for code, n in summary.vendor_refusals.items())
        return (
            "collected from a vendor API",
            f"{summary.collected} from {summary.vendor_pages} pages ({refused or 'no refusals'}, "
            f"retried after Retry-After; second run: {summary.collected_second_run}); "
            f"mapped: {summary.vendor_sample}",
        )
    how = "by its Object Created event, no scheduled run" if summary.collected_by_event else ""
    return (
        "collected from a report",
        f"{summary.collected} ({how + '; ' if how else ''}the schedule over the same report: "
        f"{summary.collected_second_run})",
    )


def failures(summary: Summary) -> list[str]:
    """Why the demo failed, one reason each ([] when it did not)."""
    reasons = []
    if summary.lost:
        reasons.append(f"{summary.lost} findings lost (neither in Security Hub nor quarantined)")
    for d in summary.denied:
        reasons.append(f"IAM denied {d['action']} on {d['resource']} to {d['function']}")
    if summary.source == "vendor_api" and not summary.collected:
        reasons.append("the collector sent nothing from the vendor API")
    if summary.report is not None:
        reasons += demo_report.failures(summary.report)
    if summary.health is not None:
        reasons += demo_health.failures(summary.health)
    return reasons + demo_v2.failures(summary.v2) + demo_syncback.failures(summary.syncback)


def render(summary: Summary) -> str:
    rows = [
        *_delivery_rows(summary),
        *_route_rows(summary),
        *demo_v2.rows(summary.v2),
        *demo_syncback.rows(summary.syncback),
        *(demo_health.rows(summary.health) if summary.health is not None else []),
        *(demo_report.rows(summary.report) if summary.report is not None else []),
        ("throttled calls", str(summary.throttled)),
        _iam_row(summary),
        ("time per stage", ", ".join(f"{k} {v:.2f}s" for k, v in summary.stages.items())),
    ]
    width = max(len(name) for name, _ in rows)
    lines = ["", "hubrelay demo: template.yaml on a local moto server, no AWS account", "-" * 72]
    lines += [f"{name:<{width}}  {value}" for name, value in rows]
    return "\n".join(lines)


def _delivery_rows(summary: Summary) -> list[tuple[str, str]]:
    """The findings in: sent, collected, delivered, quarantined, archived, lost; the calls."""
    return [
        (
            "producer findings sent",
            f"{summary.sent} in {summary.messages} messages "
            f"({summary.malformed_messages} malformed)",
        ),
        _collected_row(summary),
        (
            "subscribed late",
            f"{summary.held_back} refused while Security Hub was off, "
            f"{summary.delivered_late} delivered by a later run once it was on"
            if summary.source == "scanner_reports"
            else "not run (it rescans a report: --source scanner_reports)",
        ),
        (
            "in Security Hub",
            f"{summary.imported}  (GetFindings per account: "
            + ", ".join(f"{a}={n}" for a, n in summary.in_security_hub.items())
            + ")",
        ),
        (
            "quarantined",
            f"{sum(summary.quarantined.values())}  "
            + ", ".join(f"{c} {n}" for c, n in sorted(summary.quarantined.items())),
        ),
        (
            "archived",
            f"{summary.archived} "
            + (
                "(resolved at the vendor)"
                if summary.source == "vendor_api"
                else "(fixed in the rescan)"
            ),
        ),
        ("lost", str(summary.lost)),
        (
            "BatchImportFindings",
            f"{summary.calls} calls; producer batch lower bound "
            f"{summary.lower_bound} (naive chunking by 100: {summary.naive_calls} calls, "
            f"{summary.naive_over_budget} over the byte budget)",
        ),
    ]


def _route_rows(summary: Summary) -> list[tuple[str, str]]:
    """The findings out: the custom action, the webhook, the write-back, the automatic route."""
    return [
        ("custom action", f"{summary.clicked} findings, clicked twice"),
        (
            "webhook",
            f"{summary.webhook_received} received, {summary.webhook_verified} signatures verified",
        ),
        ("written back", f"{summary.written_back} findings NOTIFIED with a note"),
        ("automatic route", f"{summary.auto_routed} imported events matched"),
    ]


def _iam_row(summary: Summary) -> tuple[str, str]:
    return (
        "IAM",
        f"{summary.denied_calls} denied calls"
        + "".join(
            f"; DENIED {d['action']} on {d['resource']} by {d['function']}" for d in summary.denied
        )
        + "; unused permissions: "
        + (json.dumps(summary.unused_permissions) if summary.unused_permissions else "none")
        + (
            "; for failure paths not taken: " + json.dumps(summary.failure_path_permissions)
            if summary.failure_path_permissions
            else ""
        ),
    )


# `make demo --help` (the module's docstring is for whoever reads the code).
DESCRIPTION = """\
The whole pipeline on this machine, from template.yaml, on a local moto server, with no AWS
account: sample findings through the queue and the importer, a Trivy report through its S3
event and the collector, a custom action to a signed webhook with the write-back, the new
Security Hub's events, a ticket closed and synced back, AWS Health events. README.md, "What
`make demo` shows", describes each stage and the summary.
  make demo ARGS="--report trivy.json"    your own report too (Trivy, Grype, SARIF, ASFF)
  make demo ARGS="--param BatchByteBudget=500000 --findings 1000"
  make demo ARGS=--json                   the summary alone, as JSON, on stdout"""


def _count(text: str) -> int:
    """argparse's type for a number of samples: 0 or more."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number, 0 or more: {text!r}")
    return value


def check_parameters(parameters: Mapping[str, str]) -> None:
    """TemplateError, before anything starts, for parameters CloudFormation would refuse:
    an unknown name, a value outside its constraints, a broken Rule of the template."""
    template = cfn.load(TEMPLATE)
    values = cfn.parameter_values(template, parameters, resolve_ssm=lambda name: name)
    broken = cfn.rule_violations(template, values)
    if broken:
        raise cfn.TemplateError(
            "the template's Rules refuse these parameters: " + "; ".join(broken)
        )


class _Refused(Exception):
    """A usage error, said before the demo starts: `make demo: <message>`, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="make demo",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--findings", type=_count, default=300, help="producer sample findings (default: 300)"
    )
    parser.add_argument(
        "--vulnerabilities", type=_count, default=120, help="in the Trivy report (default: 120)"
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a template parameter",
    )
    parser.add_argument(
        "--source",
        choices=["scanner_reports", "vendor_api"],
        default="scanner_reports",
        help="the collector's source: a Trivy report in S3, or a vendor API on 127.0.0.1",
    )
    parser.add_argument(
        "--report",
        default="",
        metavar="PATH",
        help="your own scanner report (Trivy, Grype, SARIF, ASFF), collected after the rest",
    )
    parser.add_argument("--json", action="store_true", help="print only the summary, as JSON")
    return parser


def _read_report(path: str) -> demo_report.Report:
    try:
        report = demo_report.Report.read(path)
        # What the collector cannot read at all is said now, not after the whole demo.
        report.check(path)
    except OSError as exc:
        raise _Refused(f"--report {path}: {exc.strerror or exc}") from exc
    except (ValueError, MappingError) as exc:  # LoadError is a ValueError
        raise _Refused(f"--report {' '.join(str(exc).split())}") from exc
    return report


def _parameters(pairs: list[str]) -> dict[str, str]:
    try:
        return parse_params(pairs)
    except CommandError as exc:
        raise _Refused(str(exc)) from exc


def _source(chosen: str, parameters: dict[str, str], report: demo_report.Report | None) -> str:
    """The collector's source, checked against --report."""
    # `--param Source=vendor_api` means the built-in vendor API too (it needs its URL).
    source = "vendor_api" if parameters.get("Source") == "vendor_api" else chosen
    collector = parameters.get("Source") or source
    if report is not None and collector != "scanner_reports":
        # Said now: the report's stage, the last, would only find it out after the rest.
        raise _Refused(f"--report needs the scanner_reports source (the default), not {collector}")
    return source


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        report = _read_report(args.report) if args.report else None
        parameters = _parameters(args.param)
        source = _source(args.source, parameters, report)
    except _Refused as exc:
        print(f"make demo: {exc}", file=sys.stderr)
        return 2
    try:
        summary = run(
            args.findings,
            parameters,
            # Progress on stderr: stdout is the summary alone (with --json, pure JSON).
            lambda line: print(f"==> {line}", file=sys.stderr, flush=True),
            args.vulnerabilities,
            source,
            report,
        )
    except cfn.TemplateError as exc:  # before the stack came up (check_parameters)
        print(f"make demo: --param: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(summary), indent=2) if args.json else render(summary))
    reasons = failures(summary)
    for reason in reasons:
        print(f"demo failed: {reason}", file=sys.stderr)
    return 1 if reasons else 0


if __name__ == "__main__":
    sys.exit(main())
