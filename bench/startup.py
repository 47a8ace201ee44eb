"""Cold start of each handler: its import plus its first request of a typical event, next to
a bare boto3 handler's import plus its first request.

What a cold start is: Lambda's init (importing the handler module) and then the first
invocation, which pays for everything the import left to first use (lazy imports, boto3
clients made on their first call, botocore's service model loaded on it, Powertools set up
on the first event). Timing the import alone would reward moving work from the import to
the first request without making anything faster, so the figure takes both, for every
handler and for the baseline alike:

- the handler: `import app`, then `app.handler(event, context)` once, with a small typical
  event of its function under the template's default parameters (the collector: the
  schedule's own event with one small Trivy report waiting in the reports bucket, the
  `scanner_reports` source; the importer: an SQS batch of one message holding one finding;
  the responder: a custom action ("Notify team", the SNS destination on by default) on one
  finding, as Security Hub sends it);
- the baseline: a bare handler that imports boto3 and makes its Security Hub client at
  import, and on its first request sends one finding with BatchImportFindings: the least
  any Security Hub integration does on a cold start.

Both run against the same local stack (template.yaml on moto's server, hubrelay_emulator),
each in a fresh interpreter (a cold start imports everything once), with the layer folder
on sys.path as Lambda puts it, the function's environment from the template and Lambda's
runtime variables. Each imports as a function's process does (bench/lambda_imports.py):
the function's and the layer's modules from the release zips, extracted, with the
hash-checked bytecode `make build` puts in them (hubrelay_release.bytecode), and the
runtime's packages (boto3, botocore, Powertools) from their bytecode. Until 2026-12-07 the
zips carried no bytecode, so Lambda compiled hubrelay's modules from source on every cold
start (it cannot write bytecode beside them: a function's one writable directory is /tmp,
https://docs.aws.amazon.com/whitepapers/latest/security-overview-aws-lambda/lambda-isolation-technologies.html),
25 to 45 ms of CPU (the collector: 1.35x with it); before that the bench took this
checkout's bytecode and left that cost out. The round trips to the local stack are in
both. Each repeat gets its own new input (a new finding, a new report), so no run is
cheaper for finding the work done, and each request's input is made only when the one
before it is over (`_drive`), so the first request and the warm one each find one report
waiting (until 2026-12-03 both reports were put before the import: the collector's first
request read two, its warm one none, and its figure held a report's work); the figure is
the best of a few repeats. Times are the process's CPU time (time.process_time), not the
wall clock: on a shared machine the wall clock measures the other processes (the same run
gave a bare handler 490 ms by the wall clock, 285 ms of CPU), and what a cold start costs
is CPU here (imports, parsing botocore's models); waiting for the local stack's answers is
moto's time and is left out of both. The interpreter's own start is in neither. A function
in functions/ with no typical event here is timed on its import alone and says so
(`first_request`: null). `python -X importtime` of one more run names the heaviest
top-level imports (of the import and the first request together).

CPU time on a shared machine still moves from run to run (the same code gave the collector
1.62x and 1.98x of the bare handler an hour apart), so `--instructions` also counts the
instructions of one more run of each under valgrind's callgrind
(https://valgrind.org/docs/manual/cl-manual.html): the same script, the same segments, split
where it calls time.process_time (`--dump-before=time_process_time` writes one count per
segment). Instructions are the same from run to run within a fraction of a percent, but
they leave out what the kernel does for the process (botocore's listing of its data folder,
one directory read per service, is system time) and weigh every instruction alike, so the
figure of the goal stays the CPU time; the counts are printed beside it.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bench.lambda_imports import Deployed, compile_runtime_packages, deployed
from hubrelay import message
from hubrelay_emulator import samples
from hubrelay_emulator import securityhub as hub
from hubrelay_emulator.runner import StackEmulator
from hubrelay_emulator.runner.model import LambdaFunction

ROOT = Path(__file__).resolve().parents[1]
BARE_HANDLER = (
    "import boto3\n\n"
    'client = boto3.client("securityhub")\n\n\n'
    "def handler(event, context):\n"
    '    client.batch_import_findings(Findings=event["Findings"])\n'
    "    return {}\n"
)
PARAMETERS = {"Source": "scanner_reports"}
# Run in the fresh interpreter: what precedes `started` (the context, the event read) is
# the runtime's, not the handler's.
_TIMED = (
    "import json, sys, time, uuid\n"
    "sys.path[:0] = sys.argv[1:3]\n"
    "spec = json.loads(sys.argv[3])\n"
    "class Context:\n"
    "    function_name = spec['name']\n"
    "    function_version = '$LATEST'\n"
    "    invoked_function_arn = spec['arn']\n"
    "    memory_limit_in_mb = 512\n"
    "    aws_request_id = str(uuid.uuid4())\n"
    "    log_group_name = '/aws/lambda/' + spec['name']\n"
    "    log_stream_name = 'bench'\n"
    "    deadline = time.monotonic() + spec['timeout']\n"
    "    def get_remaining_time_in_millis(self):\n"
    "        return int((self.deadline - time.monotonic()) * 1000)\n"
    "context = Context()\n"
    "started = time.process_time()\n"
    "import app\n"
    "times = [time.process_time() - started]\n"
    "for _ in range(spec['events']):\n"
    "    print('\\nBENCH NEXT', flush=True)\n"
    "    event = json.loads(sys.stdin.readline())\n"
    "    started = time.process_time()\n"
    "    app.handler(event, context)\n"
    "    times.append(time.process_time() - started)\n"
    "print('\\nBENCH ' + json.dumps(times))\n"
)
Event = Callable[[StackEmulator, LambdaFunction, int], dict[str, Any]]


def _collector_event(stack: StackEmulator, function: LambdaFunction, n: int) -> dict[str, Any]:
    report = samples.trivy_report(5, f"registry.example.com/bench/app-{n}:1.0", seed=n)
    stack.client("s3").put_object(
        Bucket=stack.outputs["CollectorReportsBucket"],
        Key=f"reports/bench-{n}/trivy.json",
        Body=json.dumps(report).encode(),
    )
    target = next(t for s in stack.schedules for t in s.targets if t.arn == function.arn)
    event: dict[str, Any] = json.loads(target.input) if target.input else {}
    return event


def _finding(stack: StackEmulator, n: int) -> dict[str, Any]:
    return samples.control_finding(random.Random(n), 900_000 + n, stack.account)


def _importer_event(stack: StackEmulator, function: LambdaFunction, n: int) -> dict[str, Any]:
    body = next(message.pack_messages([_finding(stack, n)]))
    return {
        "Records": [
            {
                "messageId": f"bench-{n}",
                "receiptHandle": f"bench-{n}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "awsRegion": stack.region,
            }
        ]
    }


def _responder_event(stack: StackEmulator, function: LambdaFunction, n: int) -> dict[str, Any]:
    finding = _finding(stack, n)
    stack.client("securityhub").batch_import_findings(Findings=[finding])
    action = stack.resources["SnsActionTarget"]["ActionTargetArn"]
    (event,) = stack.contract.custom_action(
        stack.account, stack.region, action, [(finding["ProductArn"], finding["Id"])]
    )
    stack.events.pending.clear()  # the function is run here, not through the rule
    return dict(event)


EVENTS: dict[str, Event] = {
    "collector": _collector_event,
    "importer": _importer_event,
    "responder": _responder_event,
}


def _environment(stack: StackEmulator, function: LambdaFunction | None) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HUBRELAY_", "POWERTOOLS"))
    }
    env.update(function.environment if function else {})
    # What the Lambda runtime sets, pointed at the local stack.
    env.update(
        {
            "AWS_ENDPOINT_URL": stack.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": stack.region,
            "AWS_REGION": stack.region,
            "AWS_LAMBDA_FUNCTION_NAME": function.name if function else "bare",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "PYTHONDONTWRITEBYTECODE": "",
        }
    )
    return env


@dataclass(frozen=True)
class ColdStart:
    """CPU seconds of one run: the import, the first request, a second (warm) one, each with a
    new event of the same kind. The cold start is what the first request costs over a warm
    one, on top of the import: the lazy imports, the clients made, the models read."""

    imported: float
    first: float | None = None
    warm: float | None = None

    @property
    def seconds(self) -> float:
        if self.first is None or self.warm is None:
            return self.imported
        return self.imported + max(self.first - self.warm, 0.0)


def _run_once(
    code_dir: Path, env: dict[str, str], spec: dict[str, Any], importtime: bool = False
) -> tuple[ColdStart, str]:
    flags = ["-X", "importtime"] if importtime else []
    command = [sys.executable, *flags, "-c", _TIMED, str(code_dir), spec["layer"]]
    code, out, err = _drive(command, env, spec, timeout=120)
    last = out.strip().splitlines()[-1] if out.strip() else ""
    if code or not last.startswith("BENCH "):
        raise RuntimeError(f"{code_dir.name}: the cold start failed:\n{err[-3000:]}")
    return ColdStart(*(float(t) for t in json.loads(last.removeprefix("BENCH ")))), err


Events = list[Callable[[], dict[str, Any]]]


def _drive(
    command: list[str], env: dict[str, str], spec: dict[str, Any], timeout: float
) -> tuple[int, str, str]:
    """Run the timed script: each event is made (its report put in S3, its finding
    imported) only when the script asks for it, after the request before it, so that each
    request finds the work of one event waiting, the warm one as much as the first.
    (returncode, stdout, stderr). Each wait for the script (for its next request, for its
    end) gives it `timeout` seconds; a script that takes longer is killed (TimeoutError)."""
    events: Events = spec["events"]
    args = json.dumps({**spec, "events": len(events)})
    with tempfile.TemporaryFile("w+") as err:  # -X importtime's lines: never a full pipe
        proc = subprocess.Popen(
            [*command, args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env=env,
        )
        stdin, stdout = proc.stdin, proc.stdout
        if stdin is None or stdout is None:  # pragma: no cover - both are pipes
            raise RuntimeError("no pipes to the timed script")
        # A thread reads the script's lines, so a wait for one can end: readline() on the
        # pipe would wait for a hung script for ever, and `make bench` with it.
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_read_lines, args=(stdout, lines), daemon=True)
        reader.start()

        def next_line() -> str | None:
            try:
                return lines.get(timeout=timeout)
            except queue.Empty:
                proc.kill()
                proc.wait()
                raise TimeoutError(
                    f"{spec['name']}: the timed script was silent for {timeout:g} s (hung?), killed"
                ) from None

        try:
            out: list[str] = []
            line: str | None = ""  # None: the script's output has ended
            for make in events:
                while (line := next_line()) is not None and line.strip() != "BENCH NEXT":
                    out.append(line)
                if line is None:
                    break  # the script ended early: its error is in stderr
                stdin.write(json.dumps(make()) + "\n")
                stdin.flush()
            stdin.close()
            while line is not None and (line := next_line()) is not None:
                out.append(line)
            proc.wait(timeout=timeout)  # its output is over: it is exiting
        finally:
            if proc.poll() is None:  # pragma: no cover - an error of ours above
                proc.kill()
                proc.wait()
            reader.join(timeout=10)  # a killed script's pipe ends at once
        err.seek(0)
        return proc.returncode, "".join(out), err.read()


def _read_lines(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    """Every line of `stream`, then None at its end."""
    for line in stream:
        lines.put(line)
    lines.put(None)
    stream.close()


def _instructions_once(code_dir: Path, env: dict[str, str], spec: dict[str, Any]) -> ColdStart:
    """Instruction counts of one run under callgrind, segment by segment: the import, the
    first request, the warm one (in place of seconds)."""
    with tempfile.TemporaryDirectory() as out:
        command = [
            "valgrind",
            "--tool=callgrind",
            "--dump-before=time_process_time",
            f"--callgrind-out-file={out}/cg.out",
            sys.executable,
            "-c",
            _TIMED,
            str(code_dir),
            spec["layer"],
        ]
        code, stdout, stderr = _drive(command, env, spec, timeout=1800)
        if code or "\nBENCH [" not in stdout:
            raise RuntimeError(f"{code_dir.name}: callgrind's run failed:\n{stderr[-3000:]}")
        parts: dict[int, int] = {}
        for dump in Path(out).glob("cg.out*"):
            text = dump.read_text()
            part = re.search(r"^part: (\d+)", text, re.M)
            total = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
            parts[int(part.group(1)) if part else 0] = int(total.group(1)) if total else 0
    # Segments: the interpreter's start, the import, then each request between the two
    # process_time() calls around it (the gaps between are the script's own), the exit.
    counts = [parts[k] for k in sorted(parts)]
    if len(counts) != 3 + 2 * len(spec["events"]):
        raise RuntimeError(f"{code_dir.name}: {len(counts)} callgrind segments, not one per step")
    if not spec["events"]:
        return ColdStart(counts[1])
    return ColdStart(counts[1], counts[3], counts[5])


def _heaviest(importtime_stderr: str, top: int = 4) -> list[dict[str, Any]]:
    """Where the time goes: self time summed per top-level package (-X importtime)."""
    totals: dict[str, int] = {}
    for line in importtime_stderr.splitlines():
        # "import time: self [us] | cumulative | imported package"
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        own, _, package = line.removeprefix("import time:").split("|")
        top_level = package.strip().split(".")[0]
        if own.strip().isdigit() and not top_level.startswith("__editable__"):
            totals[top_level] = totals.get(top_level, 0) + int(own)
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])
    return [{"package": p, "ms": round(us / 1000, 1)} for p, us in ranked[:top]]


def _best(
    code_dir: Path,
    env: dict[str, str],
    spec: dict[str, Any],
    make_event: Callable[[], dict[str, Any]] | None,
    repeat: int,
) -> tuple[ColdStart, str]:
    """The best of `repeat` runs, each with new events (`make_event()`), and the
    -X importtime output of one more run (slower: it names the heaviest imports and is not
    in the figure)."""
    runs: list[ColdStart] = []
    stderr = ""
    for attempt in range(repeat + 1):
        events: Events = [] if make_event is None else [make_event, make_event]
        run, out = _run_once(code_dir, env, {**spec, "events": events}, attempt == repeat)
        if attempt < repeat:
            runs.append(run)
        else:
            stderr = out
    return min(runs, key=lambda r: r.seconds), stderr


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _millions(count: float | None) -> float | None:
    return None if count is None else round(count / 1e6, 1)


def _counted(run: ColdStart, bare: ColdStart | None = None) -> dict[str, Any]:
    """Instruction counts of a run, in millions (and its ratio to the bare handler's)."""
    row = {
        "import_m": _millions(run.imported),
        "first_request_m": _millions(run.first),
        "warm_request_m": _millions(run.warm),
        "cold_start_m": _millions(run.seconds),
    }
    if bare is not None:
        row["per_bare_boto3"] = round(run.seconds / bare.seconds, 2)
    return row


def _handler_row(
    stack: StackEmulator,
    app: Path,
    code: Deployed,
    function: LambdaFunction | None,
    bare: tuple[float, ColdStart | None],
    repeat: int,
    serial: Iterator[int],
) -> dict[str, Any]:
    name = app.parent.name
    event = EVENTS.get(name) if function else None
    spec: dict[str, Any] = {
        "name": function.name if function else name,
        "arn": function.arn if function else f"arn:aws:lambda:{stack.region}::function:{name}",
        "timeout": function.timeout if function else 30,
        "layer": str(code.layer),
    }
    make_event = None
    if function is not None and event is not None:
        make_event = lambda: event(stack, function, next(serial))  # noqa: E731
    env = _environment(stack, function)
    best, stderr = _best(code.function(name), env, spec, make_event, repeat)
    row: dict[str, Any] = {
        "handler": f"functions/{name}/app.py",
        "import_ms": _ms(best.imported),
        "first_request_ms": _ms(best.first),
        "warm_request_ms": _ms(best.warm),
        "cold_start_ms": _ms(best.seconds),
        "per_bare_boto3": round(best.seconds / bare[0], 2),
        "heaviest": _heaviest(stderr),
    }
    if bare[1] is not None:
        events: Events = [] if make_event is None else [make_event, make_event]
        counted = _instructions_once(code.function(name), env, {**spec, "events": events})
        row["instructions"] = _counted(counted, bare[1])
    return row


def run(repeat: int = 3, instructions: bool = False) -> dict[str, Any]:
    """CPU times, best of `repeat`; with `instructions`, callgrind's counts of one more run of
    each beside them (valgrind must be installed)."""
    if instructions and shutil.which("valgrind") is None:
        raise RuntimeError("--instructions needs valgrind (apt-get install valgrind)")
    compile_runtime_packages()  # as the runtime has them, whatever this environment held
    stack = StackEmulator(parameters=PARAMETERS).up()
    serial = itertools.count(1)  # a new finding or report for every run
    scratch = tempfile.TemporaryDirectory(prefix="hubrelay-bench-")
    try:
        code = deployed(Path(scratch.name))  # the zips with their bytecode, as Lambda has them
        with tempfile.TemporaryDirectory() as bare_dir:
            Path(bare_dir, "app.py").write_text(BARE_HANDLER)
            arn = f"arn:aws:lambda:{stack.region}::function:bare"
            spec: dict[str, Any] = {
                "name": "bare",
                "arn": arn,
                "timeout": 30,
                "layer": str(code.layer),
            }
            env = _environment(stack, None)

            def make_event() -> dict[str, Any]:
                return {"Findings": [_finding(stack, next(serial))]}

            bare, _ = _best(Path(bare_dir), env, spec, make_event, repeat)
            counted = None
            if instructions:
                events: Events = [make_event, make_event]
                counted = _instructions_once(Path(bare_dir), env, {**spec, "events": events})
        functions = {f.code_dir.resolve(): f for f in stack.functions.values()}
        rows = [
            _handler_row(
                stack,
                app,
                code,
                functions.get(app.parent.resolve()),
                (bare.seconds, counted),
                repeat,
                serial,
            )
            for app in sorted((ROOT / "functions").glob("*/app.py"))
        ]
    finally:
        stack.down()
        hub.uninstall()
        scratch.cleanup()
    return {
        "bare_boto3_handler_ms": _ms(bare.seconds),
        "bare_import_ms": _ms(bare.imported),
        "bare_first_request_ms": _ms(bare.first),
        "bare_warm_request_ms": _ms(bare.warm),
        **({"bare_instructions": _counted(counted)} if counted else {}),
        "repeat": repeat,
        "handlers": rows,
    }
