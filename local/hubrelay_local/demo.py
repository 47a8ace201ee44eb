"""`make demo`: the whole pipeline on this machine, from template.yaml, with no AWS account.

Brings the stack up on moto's server (127.0.0.1), subscribes two customer accounts to the
product and leaves a third unsubscribed, enqueues built-in sample findings (some invalid,
some over the limits, some for the unsubscribed account, one malformed message), lets the
importer drain the queue as its event source mapping would, and prints what became of every
finding. Usage: python -m hubrelay_local.demo [--findings N] [--param Name=Value ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from hubrelay import asff, message
from hubrelay.packing import lower_bound
from hubrelay_local import samples
from hubrelay_local import securityhub as hub
from hubrelay_local.stack import DEFAULT_ACCOUNT, LocalStack

PARTNER_PRODUCT = f"arn:aws:securityhub:us-east-1:{DEFAULT_ACCOUNT}:product/hubrelay/demo"


@dataclass
class Summary:
    sent: int = 0
    messages: int = 0
    malformed_messages: int = 0
    imported: int = 0
    in_security_hub: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    lower_bound: int = 0
    naive_calls: int = 0
    naive_over_budget: int = 0
    throttled: int = 0
    denied_calls: int = 0
    unused_permissions: dict[str, list[str]] = field(default_factory=dict)
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        accounted = self.imported + sum(self.quarantined.values()) - self.malformed_messages
        return self.sent - accounted


def run(
    findings: int = 300,
    parameters: dict[str, str] | None = None,
    progress: Callable[[str], None] = lambda line: None,
) -> Summary:
    summary = Summary()
    params = {"ProductArn": PARTNER_PRODUCT, **(parameters or {})}
    product = params["ProductArn"]
    started = time.perf_counter()
    progress("bringing the stack up from template.yaml on moto's server")
    with LocalStack(parameters=params) as stack:
        summary.stages["stack up"] = time.perf_counter() - started
        progress(f"stack up at {stack.endpoint}: {len(stack.resources)} resources")

        mark = time.perf_counter()
        for account in samples.SUBSCRIBED:
            hub.enable_hub(account, stack.region)
            stack.client("securityhub", account=account).enable_import_findings_for_product(
                ProductArn=product
            )
        progress(
            f"accounts {', '.join(samples.SUBSCRIBED)} subscribed; "
            f"{samples.UNSUBSCRIBED} left unsubscribed"
        )
        batch = (
            samples.mixed(findings, product=product)
            + [f for _, f in samples.broken(product=product)]
            + samples.for_account(20, samples.UNSUBSCRIBED, product=product)
        )
        summary.sent = len(batch)
        budget = int(params.get("BatchByteBudget", 245_760))
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
        summary.stages["enqueue"] = time.perf_counter() - mark
        progress(f"enqueued {summary.sent} findings in {len(bodies)} messages + 1 malformed")

        mark = time.perf_counter()
        polls = stack.drain()
        summary.stages["import"] = time.perf_counter() - mark
        progress(f"importer drained the queue in {polls} invocation(s)")

        mark = time.perf_counter()
        for account in (*samples.SUBSCRIBED, samples.UNSUBSCRIBED):
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
        summary.denied_calls = len(stack.checker.denied())
        summary.unused_permissions = stack.checker.unused_statements()
        summary.stages["report"] = time.perf_counter() - mark
    return summary


def _count_findings(stack: LocalStack, account: str) -> int:
    """Security Hub's own count, through GetFindings as the account would ask."""
    client = stack.client("securityhub", account=account)
    try:
        pages = client.get_paginator("get_findings").paginate()
        return sum(len(page["Findings"]) for page in pages)
    except client.exceptions.InvalidAccessException:
        return 0  # not subscribed: Security Hub holds nothing for it


def _naive_calls(findings: list[dict[str, Any]], budget: int) -> tuple[int, int]:
    """Calls, and calls over the byte budget, if findings were chunked by 100 in order."""
    groups: dict[tuple[Any, Any], list[int]] = {}
    for f in findings:
        if not asff.validate_finding(f):
            key = (asff.region_of(f["ProductArn"]), f["AwsAccountId"])
            groups.setdefault(key, []).append(asff.finding_size(f))
    chunks = [sizes[i : i + 100] for sizes in groups.values() for i in range(0, len(sizes), 100)]
    return len(chunks), sum(1 for chunk in chunks if sum(chunk) > budget)


def _bound(findings: list[dict[str, Any]], budget: int) -> int:
    valid = [f for f in findings if not asff.validate_finding(f)]
    groups: dict[tuple[Any, Any], list[int]] = {}
    for f in valid:
        key = (asff.region_of(f["ProductArn"]), f["AwsAccountId"])
        groups.setdefault(key, []).append(asff.finding_size(f))
    return sum(lower_bound(sizes, budget) for sizes in groups.values())


def render(summary: Summary) -> str:
    ratio = summary.calls / summary.lower_bound if summary.lower_bound else 0.0
    lines = [
        "",
        "hubrelay demo: template.yaml on a local moto server, no AWS account",
        "-" * 72,
        f"findings sent            {summary.sent} in {summary.messages} messages "
        f"({summary.malformed_messages} malformed message)",
        f"imported                 {summary.imported}",
        "  Security Hub count     "
        + ", ".join(f"{a}={n}" for a, n in summary.in_security_hub.items())
        + "  (GetFindings, per account)",
        f"quarantined              {sum(summary.quarantined.values())}  "
        + ", ".join(f"{code} {n}" for code, n in sorted(summary.quarantined.items())),
        f"lost                     {summary.lost}",
        f"BatchImportFindings      {summary.calls} calls (lower bound {summary.lower_bound}, "
        f"ratio {ratio:.2f}); naive chunking by 100: {summary.naive_calls} calls, "
        f"{summary.naive_over_budget} of them over the byte budget",
        f"throttled calls          {summary.throttled}",
        f"IAM                      {summary.denied_calls} denied calls; unused permissions: "
        + (json.dumps(summary.unused_permissions) if summary.unused_permissions else "none"),
        "time per stage           "
        + ", ".join(f"{stage} {seconds:.2f}s" for stage, seconds in summary.stages.items()),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--findings", type=int, default=300, help="valid sample findings")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a template parameter",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    parameters = dict(p.split("=", 1) for p in args.param)
    summary = run(args.findings, parameters, progress=lambda line: print(f"==> {line}", flush=True))
    print(json.dumps(asdict(summary), indent=2) if args.json else render(summary))
    return 0 if summary.lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
