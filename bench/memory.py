"""Peak memory (RSS) of the importer and of the collector, each in a fresh subprocess that
holds what a Lambda process holds and nothing else.

AWS (moto, with the Security Hub contract) runs in a process of its own on 127.0.0.1, as
the services are remote from a function: its copy of the findings and of the report is
not in the measured process. Each figure comes from subprocesses that differ in one step
only, so the differences are the step's own memory (the peak resident set, VmHWM):

- `imports`: the handler's modules imported (what the function loads before its first
             event) and the harness's few: the baseline, "its imports alone";
- `event` (importer only): + the SQS event read from a file and parsed with json.loads,
             as Lambda's runtime parses the invocation payload before calling the handler:
             memory the function holds whatever its handler does;
- `run`:     + the handler / the collector run on that input, against the AWS process.

Each measured process starts with the allocator settings template.yaml gives the function
(MALLOC_MMAP_THRESHOLD_), as Lambda starts the function's process with its environment,
and imports what a function's process imports as Lambda's does (bench/lambda_imports.py):
the function's and the layer's modules from the release zips, extracted, with the
hash-checked bytecode they ship, and the runtime's packages from their bytecode. Until
2026-12-07 that depended on what this checkout's __pycache__ folders held: with bytecode
for everything the collector's baseline was 34.4 MB, without any 36.6 MB.

The importer's input is one small control finding (about 1.5 KB) per SQS record, 10,000
records: the event source mapping's largest batch (BatchSize 10,000). That is over
Lambda's 6 MB invocation payload, so it is a stress figure above what Lambda delivers.
Beside it (`at_payload_limit`): the largest batch Lambda does deliver, as many records of
the same findings as fit in 6 MB, with record keys of AWS's sizes (UUID message ids,
176-character receipt handles, a role's SenderId).
The collector is functions/collector's handler itself (its imports are the baseline), run
by the schedule's event with a scanner-reports stack's environment: the report in the AWS
process's S3, change tracking (hubrelay.tracking.Store, deferred writes, the last body of
each finding kept in S3 by hubrelay.bodies) in the stack's table, and the findings queue,
all in the AWS process (tests/integration/collector_env makes them as template.yaml does).
It is a first run: every finding is new, so every state is written and every body kept.
Until 2026-12-07 the collector here was the Collector class with tracking that remembered
nothing and a queue that only counted: it left out the states and bodies a run holds
before it writes them, and the handler's own imports.

Usage (what bench/__main__.py runs): python -m bench.memory importer|collector MODE ARG
(and `serve KIND ARG`, the AWS process).
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

from bench.lambda_imports import Deployed, compile_runtime_packages, deployed

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = "arn:aws:securityhub:us-east-1:123456789012:product/hubrelay/bench"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/bench-quarantine"
BUCKET, KEY = "bench-reports", "scans/shop-api/trivy.json"
# What tests/integration/collector_env.create_stack_resources names them.
STACK = {"table": "tracking", "bucket": "reports", "queue": "findings"}
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


def _environment(service: str, endpoint: str = "") -> None:
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
    if endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint  # botocore sends every client there


_DEPLOYED = "BENCH_DEPLOYED"  # where run() extracted the zips, for the measured processes


def _as_lambda_imports(function: str) -> None:
    """The function's and the layer's modules first on the path, from the zips."""
    code = Deployed(Path(os.environ[_DEPLOYED]))
    sys.path[:0] = [str(code.function(function)), str(code.layer)]


def importer(mode: str, event_file: str, endpoint: str) -> dict[str, Any]:
    _environment("hubrelay-importer", endpoint)
    _as_lambda_imports("importer")
    import app

    from hubrelay_emulator.lambda_runtime import LambdaContext

    out: dict[str, Any] = {"mode": mode}
    if mode == "imports":
        return {**out, "peak_mb": _peak_mb()}
    # The runtime reads the payload's bytes and parses them (awslambdaric: json.loads).
    event = json.loads(Path(event_file).read_bytes())
    out["records"] = len(event["Records"])
    out["event_mb"] = round(sum(len(r["body"]) for r in event["Records"]) / 2**20, 1)
    if mode == "event":
        return {**out, "peak_mb": _peak_mb()}
    context = LambdaContext(
        "bench-importer", memory_limit_in_mb=IMPORTER_MEMORY_MB, remaining_ms=900_000
    )
    response = app.handler(event, context)
    peak = _peak_mb()  # before the check below reads anything back
    if response.get("batchItemFailures"):
        raise RuntimeError(f"importer failed messages: {response}")
    return {**out, "peak_mb": peak}


def collector(mode: str, report: str, endpoint: str) -> dict[str, Any]:
    _environment("hubrelay-collector", endpoint)
    os.environ.update(
        {
            # What template.yaml gives the function for a scanner-reports stack.
            "HUBRELAY_SOURCE": "scanner_reports",
            "HUBRELAY_REPORTS_BUCKET": BUCKET,
            "HUBRELAY_TRACKING_TABLE": STACK["table"],
            "HUBRELAY_FINDINGS_QUEUE_URL": f"{endpoint}/123456789012/{STACK['queue']}",
            "HUBRELAY_REGIONS": "us-east-1",
        }
    )
    _as_lambda_imports("collector")
    import app

    from hubrelay_emulator.lambda_runtime import LambdaContext

    out: dict[str, Any] = {"mode": mode, "report_mb": round(os.path.getsize(report) / 2**20, 1)}
    if mode == "imports":
        return {**out, "peak_mb": _peak_mb()}
    context = LambdaContext(
        "bench-collector", memory_limit_in_mb=COLLECTOR_MEMORY_MB, remaining_ms=900_000
    )
    summary = app.handler({}, context)  # the schedule's event: a run from the cursor
    peak = _peak_mb()
    if summary["error"] or not summary["finished"] or summary["malformed"]:
        raise RuntimeError(f"collector run failed: {summary}")
    return {**out, "records": summary["records"], "enqueued": summary["enqueued"], "peak_mb": peak}


def serve(kind: str, argument: str) -> None:
    """The AWS process: moto on 127.0.0.1 with the Security Hub contract, set up for `kind`;
    prints its endpoint, then (when stdin closes) how many findings Security Hub holds."""
    _environment("bench-aws")
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    from hubrelay_emulator import samples
    from hubrelay_emulator import securityhub as hub

    contract = hub.install(hub.Contract(rate_per_second=None))  # memory, not rate
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    if kind == "importer":
        boto3.client("sqs", endpoint_url=endpoint).create_queue(
            QueueName=QUEUE_URL.rsplit("/", 1)[1]
        )
        hub.subscribe(samples.SUBSCRIBED, "us-east-1", PRODUCT, endpoint_url=endpoint)
    else:
        import importlib

        # The stack's queue, tracking table and bucket, as template.yaml defines them (the
        # tests' own setup: by name, so that mypy does not check it against the bench's).
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        importlib.import_module("tests.integration.collector_env").create_stack_resources()
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket=BUCKET)
        s3.upload_file(argument, BUCKET, KEY)
    print(endpoint, flush=True)
    sys.stdin.read()
    stored = len(contract.findings(samples.SUBSCRIBED[0], "us-east-1")) if kind == "importer" else 0
    print(json.dumps({"stored": stored}), flush=True)
    server.stop()


def _subprocess(args: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench.memory", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=3600,  # a loaded 2-core machine needs minutes for 10,000 records
        **options,
    )


def _allocator_environment(kind: str) -> dict[str, str]:
    """The glibc allocator settings (MALLOC_*) template.yaml gives the function: glibc reads
    them as the process starts, so the measured processes start with them, as Lambda's
    runtime process does with the function's environment."""
    from hubrelay_emulator import cfn

    function = cfn.load(ROOT / "template.yaml")["Resources"][f"{kind.capitalize()}Function"]
    variables = function["Properties"]["Environment"]["Variables"]
    return {name: str(value) for name, value in variables.items() if name.startswith("MALLOC_")}


def _measure(kind: str, argument: str, code: Deployed) -> dict[str, dict[str, Any]]:
    modes = ("imports", "event", "run") if kind == "importer" else ("imports", "run")
    environment = {**os.environ, **_allocator_environment(kind), _DEPLOYED: str(code.root)}
    aws = subprocess.Popen(
        [sys.executable, "-m", "bench.memory", "serve", kind, argument],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert aws.stdin is not None
    assert aws.stdout is not None
    results: dict[str, dict[str, Any]] = {}
    try:
        endpoint = aws.stdout.readline().strip()
        if not endpoint.startswith("http://"):
            raise RuntimeError(f"bench.memory serve {kind} did not start: {endpoint!r}")
        for mode in modes:
            done = _subprocess([kind, mode, argument, endpoint], env=environment)
            if done.returncode != 0:
                raise RuntimeError(f"bench.memory {kind} {mode} failed:\n{done.stderr[-3000:]}")
            results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
        aws.stdin.close()
        results["aws"] = json.loads(aws.stdout.readline())
    finally:
        if not aws.stdin.closed:
            aws.stdin.close()
        aws.wait(timeout=120)
    return results


def _summary(results: dict[str, dict[str, Any]], limit_mb: int) -> dict[str, Any]:
    peaks = {mode: round(r["peak_mb"], 1) for mode, r in results.items() if "peak_mb" in r}
    details = {k: v for k, v in results["run"].items() if k not in ("mode", "peak_mb")}
    event = {}
    if "event" in peaks:
        event = {
            "with_event_mb": peaks["event"],
            "event_over_imports_mb": round(peaks["event"] - peaks["imports"], 1),
            "run_over_event_mb": round(peaks["run"] - peaks["event"], 1),
        }
    if "empty" in peaks:
        event["with_empty_bodies_mb"] = peaks["empty"]
        event["empty_bodies_per_baseline"] = round(peaks["empty"] / peaks["imports"], 2)
    return {
        **details,
        "baseline_imports_mb": peaks["imports"],
        **event,
        "peak_mb": peaks["run"],
        "run_over_imports_mb": round(peaks["run"] - peaks["imports"], 1),
        "peak_per_baseline": round(peaks["run"] / peaks["imports"], 2),
        "function_memory_mb": limit_mb,
        "peak_per_function_memory": round(peaks["run"] / limit_mb, 2),
    }


def _empty_event_floor(folder: str, ids: list[str], code: Deployed) -> dict[str, Any]:
    """The same records with empty bodies, parsed after the same imports: what the Python
    runtime's json.loads of the SQS event costs before any finding is in it (the records'
    own keys: ids, receipt handles, attributes, md5, source ARN). Our emulated records have
    short receipt handles and ids (AWS's are about 10x longer), so this is a lower bound."""
    from hubrelay_emulator.lambda_runtime import sqs_event

    event = sqs_event([""] * len(ids), ids, queue_arn="arn:aws:sqs:us-east-1:123456789012:bench")
    path = Path(folder, "empty.json")
    path.write_text(json.dumps(event))
    # The `event` mode makes no AWS call; the endpoint only has to be well formed.
    done = _subprocess(
        ["importer", "event", str(path), "http://127.0.0.1:9"],
        env={**os.environ, **_allocator_environment("importer"), _DEPLOYED: str(code.root)},
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.memory importer event (empty bodies) failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _payload_limit_event(folder: str, bodies: list[str]) -> tuple[Path, int]:
    """As many records of `bodies` as fit in Lambda's 6 MB invocation payload ("Lambda
    quotas", https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html), with
    AWS-sized record keys, written to a file."""
    import base64
    import random
    import uuid

    from hubrelay_emulator.lambda_runtime import sqs_record

    rand = random.Random(14)
    attributes = {
        "ApproximateReceiveCount": "1",
        "SentTimestamp": "1767225600000",
        "SenderId": "AROAEXAMPLEEXAMPLE1234:hubrelay-collector",
        "ApproximateFirstReceiveTimestamp": "1767225600001",
    }
    records: list[dict[str, Any]] = []
    size = len('{"Records": []}')
    for body in bodies:
        record = sqs_record(
            body,
            str(uuid.UUID(int=rand.getrandbits(128), version=4)),
            receipt_handle=base64.b64encode(rand.randbytes(132)).decode(),
            queue_arn="arn:aws:sqs:us-east-1:123456789012:hubrelay-findings",
            attributes=attributes,
        )
        size += len(json.dumps(record)) + 2
        if size > 6 * 2**20:
            break
        records.append(record)
    path = Path(folder, "payload-limit.json")
    path.write_text(json.dumps({"Records": records}))
    return path, len(records)


def run(records: int = 10_000, report_mb: int = 50) -> dict[str, Any]:
    from hubrelay import message
    from hubrelay_emulator import samples
    from hubrelay_emulator.lambda_runtime import sqs_event

    compile_runtime_packages()
    with tempfile.TemporaryDirectory() as folder:
        code = deployed(Path(folder, "lambda"))  # the zips with their bytecode
        findings = samples.for_account(records, samples.SUBSCRIBED[0], product=PRODUCT)
        bodies = [message.encode([finding]) for finding in findings]
        ids = [f"m{i}" for i in range(len(bodies))]
        event = sqs_event(bodies, ids, queue_arn="arn:aws:sqs:us-east-1:123456789012:bench")
        event_file = Path(folder, "event.json")
        event_file.write_text(json.dumps(event))
        limit_file, at_limit_records = _payload_limit_event(folder, bodies)
        del findings, bodies, event
        importer_results = _measure("importer", str(event_file), code)
        stored = importer_results.pop("aws")["stored"]
        if stored != records:
            raise RuntimeError(f"importer stored {stored} of {records}")
        importer_results["empty"] = _empty_event_floor(folder, ids, code)
        at_limit = _measure("importer", str(limit_file), code)
        stored = at_limit.pop("aws")["stored"]
        if stored != at_limit_records:
            raise RuntimeError(f"importer stored {stored} of {at_limit_records}")
        # About 1.3 KB of report per Trivy vulnerability (samples.trivy_report's mix of texts).
        path = Path(folder, "trivy.json")
        count = report_mb * 2**20 // 1330
        path.write_text(json.dumps(samples.trivy_report(count)))
        collector_results = _measure("collector", str(path), code)
        collector_results.pop("aws")
    return {
        "importer": {
            **_summary(importer_results, IMPORTER_MEMORY_MB),
            "at_payload_limit": _summary(at_limit, IMPORTER_MEMORY_MB),
        },
        "collector": _summary(collector_results, COLLECTOR_MEMORY_MB),
    }


if __name__ == "__main__":
    kind, mode, argument = sys.argv[1:4]
    if kind == "serve":
        serve(mode, argument)
    elif kind == "importer":
        print(json.dumps(importer(mode, argument, sys.argv[4])))
    else:
        print(json.dumps(collector(mode, argument, sys.argv[4])))
