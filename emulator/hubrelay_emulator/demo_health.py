"""`make demo`'s stage for AWS Health events through EventBridge, on a stack of its own.

The collector reads one source per stack, so this stage brings up a second one from
template.yaml with Source=health (after the main stack is down). Two AWS Health events go to
the default event bus as AWS Health sends them ("AWS Health events Amazon EventBridge
schema", https://docs.aws.amazon.com/health/latest/ug/aws-health-events-eventbridge-schema.html):
a security event (an S3 bucket open to the public) and a scheduled EC2 reboot, which is
not one. The template's CollectorHealthRule invokes the collector with each; the first
becomes a finding in Security Hub without any scheduled run (there is no Health API here),
the second is left out without an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hubrelay_emulator import securityhub as hub
from hubrelay_emulator.runner import StackEmulator


@dataclass
class HealthResult:
    events: int = 0
    matched: int = 0
    findings: int = 0
    errors: list[str] = field(default_factory=list)
    denied: list[dict[str, str]] = field(default_factory=list)


def event(account: str, n: int, service: str, code: str, category: str) -> dict[str, Any]:
    arn = f"arn:aws:health:us-east-1::event/{service}/{code}/{code}_{n}"
    return {
        "version": "0",
        "id": f"0000000{n}-1428-4cd3-a780-95db273d1602",
        "detail-type": "AWS Health Event",
        "source": "aws.health",
        "account": account,
        "time": "2026-12-02T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventArn": arn,
            "service": service,
            "eventTypeCode": code,
            "eventTypeCategory": category,
            "startTime": "Wed, 02 Dec 2026 11:00:00 GMT",
            "statusCode": "open",
            "eventDescription": [{"language": "en_US", "latestDescription": f"About {code}."}],
        },
    }


def run() -> HealthResult:
    result = HealthResult()
    stack = StackEmulator(parameters={"Source": "health"}).up()
    try:
        stack.events.pending += [
            event(stack.account, 1, "S3", "AWS_S3_OPEN_ACCESS_BUCKET_NOTIFICATION", "issue"),
            event(stack.account, 2, "EC2", "AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED", "x"),
        ]
        result.events = len(stack.events.pending)
        runs = [r for r in stack.deliver_events() if isinstance(r, dict)]
        stack.drain()
        result.matched = stack.report.events_matched.get("CollectorHealthRule", 0)
        result.errors = [r["error"] for r in runs if r.get("error")]
        result.findings = len(stack.contract.findings(stack.account, stack.region))
        result.denied = [
            {"function": c.function, "action": c.action, "resource": c.resource}
            for c in stack.checker.denied()
        ]
    finally:
        stack.down()
        hub.uninstall()
    return result


def rows(result: HealthResult) -> list[tuple[str, str]]:
    return [
        (
            "AWS Health events",
            f"{result.events} sent to EventBridge, {result.matched} matched CollectorHealthRule"
            f", {result.findings} in Security Hub with no scheduled run (the other is not a "
            "security event)",
        )
    ]


def failures(result: HealthResult) -> list[str]:
    reasons = [f"Health event: {e}" for e in result.errors]
    if result.findings != 1:
        reasons.append(f"{result.findings} Health findings in Security Hub, expected 1")
    return reasons + [
        f"IAM denied {d['action']} on {d['resource']} to {d['function']} (Health stack)"
        for d in result.denied
    ]
