"""Large reports read as a stream (hubrelay.sources.streamjson) and a cursor inside a report:
a report that outlasts a run's time is finished by the next runs from where it stopped,
with nothing lost and nothing sent twice, and its absent findings archived once, after
its last record."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hubrelay import message
from hubrelay.collector import Collector, CollectOutcome, FindingQueue
from hubrelay.error_report import ErrorReport
from hubrelay.sources import Context, Cursor
from hubrelay.sources.scanner_reports import ScannerReportsSource
from hubrelay.tracking import Tracked
from hubrelay_emulator import samples
from tests.support import load_fixture

CTX = Context("123456789012", ("us-east-1",), "", datetime(2026, 11, 1, tzinfo=UTC))
BUCKET, KEY = "reports", "scans/shop-api/trivy.json"


@dataclass
class Store:
    """Change tracking that keeps cursors and remembers no finding: every finding the
    collector meets is new to it, so a record read twice would be sent twice."""

    cursors: dict[str, Cursor] = field(default_factory=dict)
    tracked: dict[str, Tracked] = field(default_factory=dict)  # of the report's scope
    scope_loads: int = 0

    def cursor(self, source: str) -> Cursor:
        return dict(self.cursors.get(source, {}))

    def commit(self, source: str, cursor: Cursor) -> None:
        self.cursors[source] = json.loads(json.dumps(cursor))  # as DynamoDB keeps it: JSON

    def load(self, scope: str, keys: Any) -> dict[str, Tracked]:
        return {}

    def load_scope(self, scope: str) -> dict[str, Tracked]:
        self.scope_loads += 1
        return dict(self.tracked)

    def save(self, states: Any) -> None:
        list(states)

    def resolve(self, states: Any) -> list[Tracked]:
        return list(states)

    def due(self, before: float, limit: int) -> list[tuple[str, str]]:
        return []

    def undelivered(self, now: float, limit: int) -> list[tuple[str, str]]:
        return []

    def active_page(self, start: Any, limit: int) -> tuple[list[Tracked], None]:
        return [], None

    def flush(self) -> None:
        pass

    def legacy(self) -> bool:
        return False


class Queue:
    """SQS as the collector sees it, keeping each finding's Id and RecordState."""

    def __init__(self) -> None:
        self.sent: Counter[tuple[str, str]] = Counter()

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        for entry in Entries:
            for f in message.decode(entry["MessageBody"]):
                self.sent[(f["Id"], f["RecordState"])] += 1
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def _budget(calls: int) -> Callable[[], bool]:
    """A run's time: `calls` checks of time_left, then none left."""
    left = [calls]

    def time_left() -> bool:
        left[0] -= 1
        return left[0] >= 0

    return time_left


def _run(
    s3: Any, store: Store, queue: Queue, time_left: Callable[[], bool], **source: Any
) -> CollectOutcome:
    return Collector(
        source=ScannerReportsSource(s3, BUCKET, **source),
        ctx=CTX,
        store=store,  # type: ignore[arg-type]
        queue=FindingQueue(queue, "findings"),
        errors=ErrorReport(None, "", "", "scanner_reports"),
        time_left=time_left,
    ).run()


def _small_trivy(count: int) -> bytes:
    """A Trivy report of `count` short vulnerabilities (about 110 bytes each)."""
    vulns = ",".join(
        f'{{"VulnerabilityID":"CVE-2026-{n}","PkgName":"p{n % 997}",'
        f'"InstalledVersion":"1.{n % 7}","Severity":"HIGH"}}'
        for n in range(count)
    )
    head = '{"SchemaVersion":2,"ArtifactName":"shop/api:1","ArtifactType":"container_image",'
    return (
        head + f'"Results":[{{"Target":"t","Class":"lang-pkgs","Vulnerabilities":[{vulns}]}}]}}'
    ).encode()


def _tracked(key: str) -> Tracked:
    return Tracked(
        "trivy:scans/shop-api:shop/api:1",
        key,
        0,
        "2026-10-01T00:00:00.000Z",
        "2026-10-01T00:00:00.000Z",
        frozenset({"us-east-1"}),
        0.0,
        body={"Id": key, "Title": "gone", "RecordState": "ACTIVE"},
    )


@pytest.mark.slow  # about a minute on 2 cores
def test_a_300000_result_report_completes_across_runs_with_nothing_lost_or_sent_twice(
    s3: Any,
) -> None:
    count = 300_000
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=_small_trivy(count))
    gone = "hubrelay/trivy/vulnerability/gone-from-the-report"
    store, queue = Store(tracked={gone: _tracked(gone)}), Queue()
    runs: list[CollectOutcome] = []
    while not (runs and runs[-1].finished):
        assert len(runs) < 10, [r.summary() for r in runs]
        # 400 checks of the time left: 400 chunks of 500 records, two thirds of the report.
        runs.append(_run(s3, store, queue, _budget(400)))
        assert not runs[-1].error, runs[-1].error
    assert [r.stopped_early for r in runs] == [True, False]
    # Each run went on from where the last one stopped: every record mapped once...
    assert sum(r.records for r in runs) == count
    active = [fid for (fid, state) in queue.sent if state == "ACTIVE"]
    assert len(active) == count
    # ...and every finding enqueued exactly once (the store remembers none: a record read
    # twice would be sent twice).
    assert set(queue.sent.values()) == {1}
    # The finding absent from the report archived once, by the run that read its last record.
    assert queue.sent[(gone, "ARCHIVED")] == 1
    assert [r.actions["archived"] for r in runs] == [0, 1]
    # The cursor is past the report, with nothing left of where it stopped.
    assert "partial" not in store.cursors["scanner_reports"]
    assert _run(s3, store, Queue(), _budget(10**6)).records == 0


def test_a_report_overwritten_while_half_read_is_read_from_its_start(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=_small_trivy(3_000))
    store, queue = Store(), Queue()
    first = _run(s3, store, queue, _budget(3), stream_bytes=0)  # 2 chunks of 500, then out
    assert (first.stopped_early, first.records) == (True, 1_000)
    assert store.cursors["scanner_reports"]["partial"]["offset"] == 1_000
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=_small_trivy(2_000))  # a new ETag
    second = _run(s3, store, Queue(), _budget(10**6), stream_bytes=0)
    assert (second.finished, second.records) == (True, 2_000)


@pytest.mark.parametrize(
    "fixture",
    [
        "sources/trivy_image.json",
        "sources/trivy_image_secrets.json",
        "sources/trivy_fs_odd_corners.json",
        "sources/trivy_result_not_an_object.json",
        "sources/trivy_clean.json",
        "sources/grype_image.json",
        "sources/grype_clean.json",
        "sources/sarif_multi_run.sarif.json",
        "sources/codeql_rules_in_extensions.sarif.json",
        "sources/checkov_terraform.sarif.json",
        "sources/semgrep_results_before_rules.sarif.json",
        "sources/sarif_odd_corners.sarif.json",
        "sources/trivy_asff.json",
        "sources/trivy_asff_no_region.json",
        "sources/prowler_asff_list.json",
    ],
)
def test_a_report_read_as_a_stream_gives_what_it_gives_read_whole(s3: Any, fixture: str) -> None:
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=json.dumps(load_fixture(fixture)).encode())
    outcomes, queues = [], []
    for stream_bytes in (10**9, 0):  # whole, then as a stream
        queue = Queue()
        outcomes.append(_run(s3, Store(), queue, lambda: True, stream_bytes=stream_bytes))
        queues.append(queue.sent)
    whole, streamed = (o.summary() for o in outcomes)
    assert streamed == whole
    assert queues[1] == queues[0]


def _sarif(count: int) -> bytes:
    return json.dumps(samples.sarif_report(count, rules_after=True)).encode()


def _asff(count: int) -> bytes:
    findings = samples.for_account(count, "123456789012")
    return json.dumps({"Findings": findings}).encode()


@pytest.mark.parametrize(("make", "key"), [(_sarif, "scans/shop/codeql.sarif"), (_asff, "a.json")])
def test_a_sarif_or_asff_report_completes_across_runs_with_nothing_lost_or_sent_twice(
    s3: Any, make: Callable[[int], bytes], key: str
) -> None:
    # The same cursor inside a report as for Trivy's (ScannerReportsSource's `partial`).
    count = 2_600
    s3.put_object(Bucket=BUCKET, Key=key, Body=make(count))
    store, queue = Store(), Queue()
    runs: list[CollectOutcome] = []
    while not (runs and runs[-1].finished):
        assert len(runs) < 10, [r.summary() for r in runs]
        runs.append(_run(s3, store, queue, _budget(3), stream_bytes=0))  # 2 chunks of 500
        assert not runs[-1].error, runs[-1].error
    assert [r.stopped_early for r in runs] == [True, True, False]
    assert sum(r.records for r in runs) == count
    assert len(queue.sent) == count
    assert set(queue.sent.values()) == {1}
    assert "partial" not in store.cursors["scanner_reports"]


def test_a_malformed_large_report_is_one_error_and_the_other_reports_go_through(
    s3: Any,
) -> None:
    good = _sarif(300)
    broken = good.replace(b'"ruleIndex": 7,', b'"ruleIndex": 7,,', 1)
    s3.put_object(Bucket=BUCKET, Key="scans/a/broken.sarif", Body=broken)
    s3.put_object(Bucket=BUCKET, Key="scans/b/good.sarif", Body=good)
    s3.put_object(Bucket=BUCKET, Key="scans/c/trivy.json", Body=_small_trivy(40))
    s3.create_bucket(Bucket="errors")
    queue = Queue()
    outcome = Collector(
        source=ScannerReportsSource(s3, BUCKET, stream_bytes=0),
        ctx=CTX,
        store=Store(),  # type: ignore[arg-type]
        queue=FindingQueue(queue, "findings"),
        errors=ErrorReport(s3, "errors", "", "scanner_reports"),
        time_left=lambda: True,
    ).run()
    assert outcome.finished
    assert len(queue.sent) == 340
    [report] = outcome.error_reports
    body = s3.get_object(Bucket="errors", Key=report.split("/", 3)[3])["Body"].read()
    [error] = json.loads(body)["errors"]
    where, reason = error["position"], error["reason"]
    assert where == f"s3://{BUCKET}/scans/a/broken.sarif"
    assert "\n" not in reason
    assert reason.startswith(
        f"invalid report: s3://{BUCKET}/scans/a/broken.sarif: not JSON: Expecting property name"
    )
