"""The collector handler against moto (S3, Secrets Manager, DynamoDB, SQS) and a real HTTP
vendor API on 127.0.0.1: pages, Retry-After, a timeout mid-source, a crash after enqueueing.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from hubrelay import asff, tracking
from tests.integration.collector_env import (
    TOKEN,
    VendorApi,
    collector_stack,
    drain,
    run,
    run_with,
    serve,
)
from tests.support import LambdaContext, load_fixture

VALID_IDS = {"vendor/F-1001", "vendor/F-1002", "vendor/F-1003"}


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    with collector_stack(
        monkeypatch, REGIONS="us-east-1,eu-west-1", DEADLINE_MARGIN_MS="5000"
    ) as resources:
        yield resources


@pytest.fixture
def api(stack: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[VendorApi]:
    records = copy.deepcopy(load_fixture("sources/vendor_findings.json"))
    for gen in serve(VendorApi(records)):
        monkeypatch.setenv("HUBRELAY_SOURCE", "vendor_api")
        monkeypatch.setenv("HUBRELAY_VENDOR_API_URL", gen.url)
        monkeypatch.setenv("HUBRELAY_VENDOR_SECRET_ARN", stack["secret_arn"])
        yield gen


@pytest.fixture
def small_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default mapping with 2 records per page, so 5 records make 3 pages."""
    mapping = json.loads(
        (Path(asff.__file__).parent / "mapping" / "vendor_default.json").read_text()
    )
    mapping["request"]["page_size"] = 2
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps(mapping))
    monkeypatch.setenv("HUBRELAY_VENDOR_MAPPING", str(path))


def test_first_run_enqueues_valid_findings_and_reports_the_malformed_one(
    api: VendorApi, stack: dict[str, str], small_pages: None
) -> None:
    summary = run()
    assert summary["error"] == ""
    assert summary["finished"] is True
    findings = drain(stack["queue_url"])
    assert {f["Id"] for f in findings} == VALID_IDS
    assert all(asff.validate_finding(f) == [] for f in findings)
    # The account finding goes to both Regions, the EC2 finding to its own Region.
    regions = {(f["Id"], asff.region_of(f["ProductArn"])) for f in findings}
    assert ("vendor/F-1003", "us-east-1") in regions
    assert ("vendor/F-1003", "eu-west-1") in regions
    assert ("vendor/F-1002", "eu-west-1") in regions
    assert summary["enqueued"] == len(findings) == 4
    # F-1004 is resolved and was never sent: nothing to archive. F-1005 has no asset.
    assert summary["actions"] == {"dropped": 1, "new": 3}
    assert summary["malformed"] == 1
    (report,) = summary["errorReports"]
    body = boto3.client("s3").get_object(Bucket="reports", Key=report.split("/", 3)[3])
    errors = json.loads(body["Body"].read())["errors"]
    assert errors[0]["position"].endswith("/v1/findings#[0] id=F-1005")
    assert "at least an Id" in errors[0]["reason"]
    assert "F-1005" in errors[0]["record"]
    # The token went in the Authorization header and nowhere else.
    assert api.unauthorized == 0
    assert all(TOKEN not in path for path in api.requests)


def test_second_run_over_unchanged_data_enqueues_nothing(
    api: VendorApi, stack: dict[str, str], small_pages: None
) -> None:
    run()
    drain(stack["queue_url"])
    # The API re-reports everything (the since filter is inclusive and records kept).
    for record in api.records:
        record["updated_at"] = "2026-10-30T00:00:00Z"
    summary = run()
    assert summary["enqueued"] == 0
    assert drain(stack["queue_url"]) == []
    assert summary["actions"]["unchanged"] == 3


def test_changed_and_resolved_records_are_sent_complete(
    api: VendorApi, stack: dict[str, str], small_pages: None
) -> None:
    run()
    first = {f["Id"]: f for f in drain(stack["queue_url"])}
    api.records[0].update(severity="critical", updated_at="2026-10-31T00:00:00Z")
    api.records[1].update(status="resolved", updated_at="2026-10-31T00:00:00Z")
    summary = run()
    later = drain(stack["queue_url"])
    changed = next(f for f in later if f["Id"] == "vendor/F-1001")
    assert changed["Severity"]["Label"] == "CRITICAL"
    assert changed["CreatedAt"] == first["vendor/F-1001"]["CreatedAt"]
    assert changed["UpdatedAt"] > first["vendor/F-1001"]["UpdatedAt"]
    assert changed["Description"] == first["vendor/F-1001"]["Description"]
    resolved = [f for f in later if f["Id"] == "vendor/F-1002"]
    assert [(asff.region_of(f["ProductArn"]), f["RecordState"]) for f in resolved] == [
        ("eu-west-1", "ARCHIVED")
    ]
    assert summary["actions"] == {"archived": 1, "changed": 1}


def test_429_with_retry_after_is_waited_out(
    api: VendorApi, stack: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    api.faults = [(429, {"Retry-After": "3"}), (503, {})]
    summary = run()
    assert summary["error"] == ""
    assert waits[0] == 3.0  # Retry-After honoured; the 503 gets a jittered backoff
    assert len(waits) == 2
    assert {f["Id"] for f in drain(stack["queue_url"])} == VALID_IDS


def test_an_api_that_keeps_failing_stops_the_run_without_moving_the_cursor(
    api: VendorApi, stack: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "sleep", lambda s: None)
    api.faults = [(500, {})] * 5
    summary = run()
    assert summary["error"].startswith("SourceError: vendor API")
    assert drain(stack["queue_url"]) == []
    assert run()["error"] == ""  # the API is back: everything from the start
    assert {f["Id"] for f in drain(stack["queue_url"])} == VALID_IDS


def test_a_timeout_mid_source_skips_nothing_on_the_next_run(
    api: VendorApi, stack: dict[str, str], small_pages: None
) -> None:
    # Time runs out once the second page has been fetched: only page 1 is committed.
    context = LambdaContext(
        "collector", remaining_ms=lambda: 300_000 if len(api.requests) < 2 else 1_000
    )
    first = run_with(context)
    assert first["stoppedEarly"] is True
    assert first["units"] == 1
    sent_first = {f["Id"] for f in drain(stack["queue_url"])}
    assert sent_first == {"vendor/F-1001", "vendor/F-1002"}
    second = run()
    assert second["finished"] is True
    sent_second = {f["Id"] for f in drain(stack["queue_url"])}
    assert sent_first | sent_second == VALID_IDS
    assert not sent_first & sent_second
    # Page 2 was asked for again, from the cursor's next link.
    assert api.requests[2] == api.requests[1]


def test_a_crash_after_enqueueing_loses_nothing_and_only_resends(
    api: VendorApi, stack: dict[str, str], small_pages: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_save = tracking.Store.save
    calls = {"n": 0}

    def crash_on_second_save(self: tracking.Store, states: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("Lambda runtime killed")  # after page 2 was enqueued
        real_save(self, states)

    monkeypatch.setattr(tracking.Store, "save", crash_on_second_save)
    with pytest.raises(SystemExit):
        run()
    before = drain(stack["queue_url"])
    monkeypatch.setattr(tracking.Store, "save", real_save)
    run()
    after = drain(stack["queue_url"])
    assert {f["Id"] for f in before + after} == VALID_IDS
    # Page 2's findings went twice (identical content: an overwrite, not a new finding);
    # page 1's not at all the second time.
    resent = {f["Id"] for f in before} & {f["Id"] for f in after}
    assert resent <= {"vendor/F-1003"}
    assert run()["enqueued"] == 0


def test_a_record_that_changes_during_a_listing_is_fetched_by_the_next_one() -> None:
    from datetime import UTC, datetime, timedelta

    from hubrelay.http import Client
    from hubrelay.retry import Retry
    from hubrelay.sources.vendor_api import VendorApiSource, VendorMapping
    from tests.integration.collector_env import TOKEN, serve

    # Given a listing of two pages that starts at S
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    at = lambda minutes: asff.timestamp(start + timedelta(minutes=minutes))  # noqa: E731
    records = [
        {**r, "updated_at": at(-60)}
        for r in copy.deepcopy(load_fixture("sources/vendor_findings.json"))[:4]
    ]
    for api in serve(VendorApi(records, page_size=2)):
        source = VendorApiSource(
            api.url,
            VendorMapping.load(),
            Client(retry=Retry(max_attempts=1)),
            {"Authorization": f"Bearer {TOKEN}"},
            now=lambda: start,
        )
        listing = source.collect({})
        first = next(listing)
        # While it is under way, a record of the page already read changes (at S+3), and
        # one of the next page changes later still (S+5), so it is the newest one seen
        records[0]["updated_at"], records[0]["title"] = at(3), "changed during the listing"
        records[2]["updated_at"] = at(5)
        *_, last = [first, *listing]
        # Then the next listing asks for records updated since before the first change
        since = last.cursor["since"]
        assert since <= at(3), since
        again = [r.native for u in source.collect(last.cursor) for r in u.records]
        assert "changed during the listing" in [r["title"] for r in again]


def test_a_page_the_policy_refuses_is_reported_and_the_run_goes_on(
    api: VendorApi, stack: dict[str, str], small_pages: None
) -> None:
    # Given page 2 (F-1003, F-1004) holds a 401-digit integer
    api.records[2]["risk"] = 10**400
    # When the collector runs
    summary = run()
    # Then page 1 is enqueued, page 2 is in the error report with the reason, and the run
    # ends the listing there (the link to page 3 is inside the page it cannot read)
    assert summary["error"] == ""
    assert summary["finished"] is True
    assert {f["Id"] for f in drain(stack["queue_url"])} == {"vendor/F-1001", "vendor/F-1002"}
    (report,) = summary["errorReports"]
    body = boto3.client("s3").get_object(Bucket="reports", Key=report.split("/", 3)[3])
    (error,) = json.loads(body["Body"].read())["errors"]
    assert error["position"] == api.url
    assert error["reason"] == (
        f"vendor API page {api.url}: integer of 401 digits (at most 64) at findings[0].risk"
    )
    # And the watermark moved only past what was read: once the API serves the record
    # readable, the next run reads on from page 1's newest record and loses nothing.
    del api.records[2]["risk"]
    summary = run()
    assert summary["malformed"] == 1  # F-1005, as in every run
    assert {f["Id"] for f in drain(stack["queue_url"])} == {"vendor/F-1003"}
