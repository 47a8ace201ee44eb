"""Peak memory (RSS) of the importer and of the collector, each in a fresh subprocess.

Each figure comes from three subprocesses that differ in one step only, so the differences
are the step's own memory (getrusage's ru_maxrss is the peak resident set of the process):

- `imports`: the same modules imported, nothing else: the baseline;
- `setup`:   + moto started in-process (mock_aws, the Security Hub contract) and the input
             built (the 10,000-record SQS event; the report uploaded to moto's S3);
- `run`:     + the handler / the collector run on that input;
- `stored` (importer only): `setup` + the same findings put straight into moto's Security
             Hub, to tell moto's own copy of them apart from the importer's memory.

The importer's peak includes moto's own copy of every finding it stores (Security Hub runs
in the same process here): the `stored` subprocess measures that copy alone, and the
importer's own share is the run's growth over `setup` less it (an estimate: both peaks
hold transient garbage). The collector
runs the real Collector and ScannerReportsSource against moto's S3, with change tracking in
a store that remembers nothing (first run; DynamoDB holds the state in AWS) and a queue that
only counts what it is sent.

Usage (what bench/__main__.py runs): python -m bench.memory importer|collector MODE ARG
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "hubrelay" / "python"
MODES = ("imports", "setup", "run")
PRODUCT = "arn:aws:securityhub:us-east-1:123456789012:product/hubrelay/bench"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/bench-quarantine"
IMPORTER_MEMORY_MB = 512  # template.yaml ImporterFunction MemorySize
COLLECTOR_MEMORY_MB = 1024  # template.yaml CollectorFunction MemorySize


def _peak_mb() -> float:
    """Peak resident set of this process in MiB.

    Linux's VmHWM when there is one: getrusage's ru_maxrss survives exec, so a subprocess
    started by a big parent (this bench, after generating a 50 MB report) would report the
    parent's size at fork time instead of its own.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _environment(service: str) -> None:
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "POWERTOOLS_SERVICE_NAME": service,
            "POWERTOOLS_METRICS_NAMESPACE": "hubrelay",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "ERROR",  # one log line per quarantined finding otherwise
            "HUBRELAY_QUARANTINE_QUEUE_URL": QUEUE_URL,
        }
    )
    for key in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(key, None)


def importer(mode: str, count: int) -> dict[str, Any]:
    _environment("hubrelay-importer")
    sys.path[:0] = [str(ROOT / "functions" / "importer"), str(LAYER)]
    import app
    import boto3
    from moto import mock_aws

    from hubrelay import message
    from hubrelay_emulator import samples
    from hubrelay_emulator import securityhub as hub
    from hubrelay_emulator.lambda_runtime import LambdaContext, sqs_event

    out: dict[str, Any] = {"mode": mode, "records": count}
    if mode == "imports":
        return {**out, "peak_mb": _peak_mb()}
    with mock_aws():
        contract = hub.install(hub.Contract(rate_per_second=None))  # memory, not rate
        boto3.client("sqs").create_queue(QueueName=QUEUE_URL.rsplit("/", 1)[1])
        hub.subscribe(samples.SUBSCRIBED, "us-east-1", PRODUCT)
        # One small control finding (about 1.5 KB) per SQS record: the event source
        # mapping's largest batch (BatchSize 10,000). That is still over Lambda's 6 MB
        # invocation payload, so this is a stress figure above what Lambda can deliver.
        findings = samples.for_account(count, samples.SUBSCRIBED[0], product=PRODUCT)
        bodies = [message.encode([finding]) for finding in findings]
        ids = [f"m{i}" for i in range(len(bodies))]
        event = sqs_event(bodies, ids, queue_arn="arn:aws:sqs:us-east-1:123456789012:bench")
        out["event_mb"] = round(sum(len(r["body"]) for r in event["Records"]) / 2**20, 1)
        if mode == "setup":
            return {**out, "peak_mb": _peak_mb()}
        if mode == "stored":
            # Security Hub's (moto's) own copy of the findings, without the importer.
            contract.seed(samples.SUBSCRIBED[0], "us-east-1", findings)
            return {**out, "peak_mb": _peak_mb()}
        del findings
        context = LambdaContext(
            "bench-importer", memory_limit_in_mb=IMPORTER_MEMORY_MB, remaining_ms=900_000
        )
        response = app.handler(event, context)
        stored = len(contract.findings(samples.SUBSCRIBED[0], "us-east-1"))
        if response.get("batchItemFailures") or stored != count:
            raise RuntimeError(f"importer stored {stored} of {count}: {response}")
        return {**out, "peak_mb": _peak_mb()}


def collector(mode: str, report: str) -> dict[str, Any]:
    _environment("hubrelay-collector")
    import boto3
    from moto import mock_aws

    from bench.collector import CTX, CountingQueue, NullStore
    from hubrelay.collector import Collector, FindingQueue
    from hubrelay.error_report import ErrorReport
    from hubrelay.sources.scanner_reports import ScannerReportsSource

    out: dict[str, Any] = {"mode": mode, "report_mb": round(os.path.getsize(report) / 2**20, 1)}
    if mode == "imports":
        return {**out, "peak_mb": _peak_mb()}
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="bench-reports")
        # Streamed from the file in parts, so uploading costs this process little memory.
        s3.upload_file(report, "bench-reports", "scans/shop-api/trivy.json")
        if mode == "setup":
            return {**out, "peak_mb": _peak_mb()}
        queue = CountingQueue()
        outcome = Collector(
            source=ScannerReportsSource(s3, "bench-reports"),
            ctx=CTX,
            store=NullStore(),
            queue=FindingQueue(queue, "bench"),
            errors=ErrorReport(None, "", "", "bench"),
        ).run()
        if outcome.error or not outcome.finished or outcome.malformed:
            raise RuntimeError(f"collector run failed: {outcome.summary()}")
        return {
            **out,
            "records": outcome.records,
            "enqueued": queue.findings,
            "peak_mb": _peak_mb(),
        }


def _measure(kind: str, argument: str) -> dict[str, dict[str, Any]]:
    results = {}
    for mode in (*MODES, "stored") if kind == "importer" else MODES:
        done = subprocess.run(
            [sys.executable, "-m", "bench.memory", kind, mode, argument],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
            timeout=3600,  # a loaded 2-core machine needs minutes for 10,000 records
        )
        if done.returncode != 0:
            raise RuntimeError(f"bench.memory {kind} {mode} failed:\n{done.stderr[-3000:]}")
        results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def _summary(results: dict[str, dict[str, Any]], limit_mb: int) -> dict[str, Any]:
    peaks = {mode: round(r["peak_mb"], 1) for mode, r in results.items()}
    details = {k: v for k, v in results["run"].items() if k not in ("mode", "peak_mb")}
    emulator = {}
    if "stored" in peaks:
        copy_mb = peaks["stored"] - peaks["setup"]
        emulator = {
            "moto_copy_mb": round(copy_mb, 1),
            "run_over_setup_less_moto_copy_mb": round(peaks["run"] - peaks["setup"] - copy_mb, 1),
        }
    return {
        **details,
        "baseline_imports_mb": peaks["imports"],
        "setup_mb": peaks["setup"],
        "peak_mb": peaks["run"],
        "run_over_setup_mb": round(peaks["run"] - peaks["setup"], 1),
        **emulator,
        "peak_per_baseline": round(peaks["run"] / peaks["imports"], 2),
        "function_memory_mb": limit_mb,
        "peak_per_function_memory": round(peaks["run"] / limit_mb, 2),
        "extra_peak_per_function_memory": round((peaks["run"] - peaks["setup"]) / limit_mb, 2),
    }


def run(records: int = 10_000, report_mb: int = 50) -> dict[str, Any]:
    from hubrelay_emulator import samples

    importer_results = _measure("importer", str(records))
    # About 1.3 KB of report per Trivy vulnerability (samples.trivy_report's mix of texts).
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "trivy.json")
        count = report_mb * 2**20 // 1330
        path.write_text(json.dumps(samples.trivy_report(count)))
        collector_results = _measure("collector", str(path))
    return {
        "importer": _summary(importer_results, IMPORTER_MEMORY_MB),
        "collector": _summary(collector_results, COLLECTOR_MEMORY_MB),
    }


if __name__ == "__main__":
    kind, mode, argument = sys.argv[1:4]
    if kind == "importer":
        print(json.dumps(importer(mode, int(argument))))
    else:
        print(json.dumps(collector(mode, argument)))
