"""BatchImportFindings calls through the local stack, next to the lower bound and prowler's.

The stack is template.yaml on moto's server (hubrelay_emulator.runner) with its default
parameters; Security Hub's contract is the emulator's, at the request limit of the current
documentation: 6 MB per request and 100 findings per call (the partner guide and the API
reference, /work/shared/reference/security-hub-contract.md). The rate limit is off here:
this counts calls, not waits (throughput.py measures those).

A producer enqueues the realistic mix (about 80% small controls, 20% large vulnerability
findings, two accounts) as the collector does (message.pack_messages: messages up to 1 MiB
of at most 100 findings of one account and product), and the event source mapping drains
the queue through the importer. The figure is

    calls / sum over (Region, account) of max(ceil(n / 100), ceil(bytes / 6 MB))

Beside it, prowler's strategy on the same findings against the same contract: per
(Region, account), the findings in order in chunks of 100, one call each (prowler 5.x's
Security Hub sender); a chunk over the request limit is refused with 413 and counted.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from hubrelay import asff, message
from hubrelay.packing import lower_bound
from hubrelay.settings import MAX_FINDINGS_PER_CALL, MAX_REQUEST_BYTES
from hubrelay_emulator import samples
from hubrelay_emulator import securityhub as hub
from hubrelay_emulator.demo import PARTNER_PRODUCT
from hubrelay_emulator.runner import StackEmulator

IMPORTER = "ImporterFunction"


def _groups(findings: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for f in findings:
        key = (asff.region_of(f["ProductArn"]) or "", f["AwsAccountId"])
        groups.setdefault(key, []).append(f)
    return groups


def _bound(findings: list[dict[str, Any]]) -> int:
    return sum(
        lower_bound([asff.finding_size(f) for f in group], MAX_REQUEST_BYTES)
        for group in _groups(findings).values()
    )


def _prowler(stack: StackEmulator, findings: list[dict[str, Any]]) -> dict[str, int]:
    """Chunks of 100 per (Region, account), in order, straight to BatchImportFindings."""
    calls = too_large = 0
    for (region, _), group in sorted(_groups(findings).items()):
        client = stack.client("securityhub", region=region)
        for start in range(0, len(group), MAX_FINDINGS_PER_CALL):
            calls += 1
            try:
                client.batch_import_findings(Findings=group[start : start + MAX_FINDINGS_PER_CALL])
            except ClientError as exc:
                if exc.response["ResponseMetadata"]["HTTPStatusCode"] != 413:
                    raise
                too_large += 1
    return {"calls": calls, "refused_413": too_large}


def run(count: int = 10_000) -> dict[str, Any]:
    findings = samples.mixed(count, product=PARTNER_PRODUCT)
    bound = _bound(findings)
    stack = StackEmulator(parameters={"ProductArn": PARTNER_PRODUCT})
    stack.up()
    try:
        stack.contract.rate_per_second = None
        hub.subscribe(samples.SUBSCRIBED, stack.region, PARTNER_PRODUCT, stack.endpoint)
        sqs, queue = stack.client("sqs"), stack.outputs["FindingsQueueUrl"]
        bodies = list(message.pack_messages(findings))
        for body in bodies:
            sqs.send_message(QueueUrl=queue, MessageBody=body)
        mapping = next(m for m in stack.mappings if m.function == IMPORTER)
        invocations = 0
        while stack.poll(mapping):
            invocations += 1
        calls = list(stack.contract.calls)
        imported = sum(c.findings for c in calls if c.outcome == "ok")
        # More than sent is a call made twice: its answer outlived botocore's read timeout
        # on a loaded machine (a harmless overwrite, and a call counted against hubrelay).
        if imported < count:
            raise RuntimeError(f"the importer imported {imported} of {count} findings")
        start = len(stack.contract.calls)
        prowler = _prowler(stack, findings)
        if len(stack.contract.calls) - start != prowler["calls"]:
            raise RuntimeError("prowler's calls were not all seen by the contract")
    finally:
        stack.down()
        hub.uninstall()
    return {
        "findings": count,
        "groups": len(_groups(findings)),
        "mean_bytes": sum(asff.finding_size(f) for f in findings) // count,
        "request_limit_bytes": MAX_REQUEST_BYTES,
        "messages": len(bodies),
        "importer_invocations": invocations,
        "lower_bound": bound,
        "calls": len(calls),
        "refused_413": sum(1 for c in calls if c.outcome == "RequestEntityTooLargeException"),
        "calls_over_bound": round(len(calls) / bound, 3),
        "prowler_calls": prowler["calls"],
        "prowler_refused_413": prowler["refused_413"],
        "prowler_calls_over_bound": round(prowler["calls"] / bound, 3),
    }
