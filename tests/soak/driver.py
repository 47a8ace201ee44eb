"""The driver: one scenario through the real template on the stack emulator.

Each tick moves the simulated clock, applies the account's Security Hub state and any
stack update, uploads the tick's Trivy reports, arms the tick's faults, fires the
collector's schedule and drains the queues as Lambda's pollers would. At the end it reads
what Security Hub holds and what it billed.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hubrelay_emulator import motospeed
from hubrelay_emulator import securityhub as hub
from hubrelay_emulator.runner import LambdaFunction, StackEmulator
from tests.soak import oracle
from tests.soak.world import ACCOUNT, SECRET, Scan, Scenario, Tick

IN_PROCESS = True  # moto in this process: no HTTP round trip per AWS call
EPOCH = datetime(2026, 3, 1, tzinfo=UTC)
BASE_PARAMETERS = {
    "Source": "scanner_reports",
    "ProductArn": "",
    "ScheduleExpression": "rate(3 hours)",
}


@dataclass
class Result:
    name: str
    runs: int = 0
    issues: int = 0
    held: int = 0
    mismatches: list[tuple[Any, ...]] = field(default_factory=list)
    billed: int = 0
    minimum: int = 0
    seconds: float = 0.0
    faults: Counter[str] = field(default_factory=Counter)
    denied: int = 0


def render(scan: Scan, when: datetime) -> bytes:
    """A Trivy JSON report (schema 2) of `scan`, as `trivy image --format json` writes it."""
    report: dict[str, Any] = {
        "SchemaVersion": 2,
        "CreatedAt": when.isoformat().replace("+00:00", "Z"),
        "ArtifactName": scan.image,
        "ArtifactType": "container_image",
        "Metadata": {"ImageID": "sha256:" + "ab" * 32},
        "Trivy": {"Version": scan.trivy_version},
    }
    if scan.clean:
        return json.dumps(report).encode()
    results: list[dict[str, Any]] = []
    if "vulnerability" in scan.classes:
        vulnerabilities = [
            {
                "VulnerabilityID": issue.name,
                "PkgID": f"{issue.package}@{issue.version}",
                "PkgName": issue.package,
                "InstalledVersion": issue.version,
                "Status": "affected",
                "Severity": content.severity,
                "Title": content.headline,
                "Description": f"{issue.name} affects {issue.package}.",
                "DataSource": {"ID": "debian", "Name": "Debian Security Tracker"},
            }
            for issue, content in sorted(scan.found.items(), key=lambda kv: kv[0].name)
            if issue.kind == "vulnerability"
        ]
        result: dict[str, Any] = {"Target": "debian 12", "Class": "os-pkgs", "Type": "debian"}
        if vulnerabilities:
            result["Vulnerabilities"] = vulnerabilities
        results.append(result)
    if SECRET in scan.classes:
        by_target: dict[str, list[dict[str, Any]]] = {}
        for issue, content in sorted(scan.found.items(), key=lambda kv: kv[0].target):
            if issue.kind == SECRET:
                by_target.setdefault(issue.target, []).append(
                    {
                        "RuleID": issue.name,
                        "Category": "General",
                        "Severity": content.severity,
                        "Title": content.headline,
                        "StartLine": issue.line,
                        "EndLine": issue.line,
                        "Match": "KEY=****",
                    }
                )
        results += [
            {"Target": target, "Class": "secret", "Secrets": secrets}
            for target, secrets in by_target.items()
        ]
    report["Results"] = results
    return json.dumps(report).encode()


class Faults:
    """The tick's faults, armed on the stack and disarmed after the tick."""

    def __init__(self, stack: StackEmulator, rng: random.Random) -> None:
        self.stack, self.rng = stack, rng
        self.importer_crash = False
        self.collector_crash_at = 0
        self.collector_calls = 0
        stack.after_call.append(self._after)
        stack.before_call.append(self._before)

    def arm(self, tick: Tick) -> None:
        for fault in tick.faults:
            if fault == "throttle":
                # A storm: Security Hub refuses the next calls, whatever the rate limiter says.
                self.stack.contract.inject("throttle", count=self.rng.randint(5, 40))
            elif fault == "importer-crash":
                self.importer_crash = True
            elif fault == "collector-crash":
                self.collector_crash_at = self.rng.randint(2, 25)
                self.collector_calls = 0

    def disarm(self) -> None:
        self.importer_crash, self.collector_crash_at = False, 0
        self.stack.contract._faults.clear()

    def _after(self, function: LambdaFunction, name: str, params: dict[str, Any]) -> None:
        importing = name == "securityhub:BatchImportFindings"
        if self.importer_crash and importing and "Importer" in function.logical_id:
            # The call went through; the invocation dies before it can report it.
            self.importer_crash = False
            raise RuntimeError("soak: importer crashed after BatchImportFindings")

    def _before(self, function: LambdaFunction, name: str, params: dict[str, Any]) -> None:
        if self.collector_crash_at and "Collector" in function.logical_id:
            self.collector_calls += 1
            if self.collector_calls == self.collector_crash_at:
                self.collector_crash_at = 0
                raise RuntimeError(f"soak: collector crashed before {name}")


def redeliver(stack: StackEmulator) -> int:
    """SQS delivers at least once: every message waiting in the findings queue, twice."""
    sqs, url = stack.client("sqs"), stack.resources["FindingsQueue"]["QueueUrl"]
    messages = stack.messages("FindingsQueue")
    for message in messages:
        attributes = {
            k: {"DataType": v["DataType"], "StringValue": v["StringValue"]}
            for k, v in message.get("MessageAttributes", {}).items()
            if "StringValue" in v
        }
        for _ in range(2):
            sqs.send_message(
                QueueUrl=url, MessageBody=message["Body"], MessageAttributes=attributes
            )
    return len(messages)


def run(scenario: Scenario, seed: int = 0) -> Result:
    started = time.perf_counter()
    result = Result(scenario.name)
    motospeed.install()  # the same responses, serialized without moto's alias search
    stack = StackEmulator(
        parameters={**BASE_PARAMETERS, **scenario.parameters}, in_process=IN_PROCESS
    ).up()
    try:
        faults = Faults(stack, random.Random(seed))
        for region in scenario.regions:
            hub.enable_hub(ACCOUNT, region)
        s3, bucket = stack.client("s3"), stack.outputs["CollectorReportsBucket"]
        enabled = True
        for t, tick in enumerate(scenario.ticks):
            stack.advance(scenario.tick_seconds)
            if tick.hub_enabled != enabled:
                for region in scenario.regions:
                    (hub.enable_hub if tick.hub_enabled else hub.disable_hub)(ACCOUNT, region)
                enabled = tick.hub_enabled
            if tick.update:
                stack.update(tick.update)
            when = EPOCH + timedelta(seconds=t * scenario.tick_seconds)
            for scan in tick.scans:
                # A scanner job writes its report over the last one (a new ETag: read again);
                # one key per folder and scanner classes keeps the listing short.
                key = f"{scan.folder}trivy-{'+'.join(sorted(scan.classes))}.json"
                s3.put_object(Bucket=bucket, Key=key, Body=render(scan, when))
            faults.arm(tick)
            result.faults.update(tick.faults)
            stack.tick()
            result.runs += 1
            if "redeliver" in tick.faults:
                redeliver(stack)
            stack.drain()
            faults.disarm()
        result.held, actual = read_hub(stack, scenario)
        expected = oracle.expect(scenario)
        result.issues = expected.issues
        result.mismatches = oracle.mismatches(expected.held, actual)
        result.minimum = expected.minimum_imports
        result.billed = stack.contract.billed_imports
        result.denied = len(stack.checker.denied())
    finally:
        stack.down()
        hub.uninstall()
    result.seconds = time.perf_counter() - started
    return result


def read_hub(
    stack: StackEmulator, scenario: Scenario
) -> tuple[int, dict[oracle.Place, Counter[oracle.Observable]]]:
    held: dict[oracle.Place, Counter[oracle.Observable]] = {}
    count = 0
    for region in scenario.regions:
        for finding in stack.contract.findings(ACCOUNT, region):
            place = (finding["ProductArn"], region)
            held.setdefault(place, Counter())[oracle.observed(finding)] += 1
            count += 1
    return count, held
