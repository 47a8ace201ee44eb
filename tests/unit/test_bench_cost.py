"""The cost bench's DynamoDB model (bench/collector.py, bench/cost.py): index writes by
the rules of "Write considerations for Global Secondary Indexes"
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html), storage with
100 bytes of overhead per item, and the cost lines it feeds."""

from __future__ import annotations

import time
from typing import Any

import pytest
from moto.core.botocore_stubber import BotocoreStubber

from bench import collector, cost


def row(**extra: Any) -> dict[str, Any]:
    return {"pk": {"S": "f#scope"}, "sk": {"S": "id"}, "h": {"S": "x" * 64}, **extra}


ACTIVE = {"due": {"S": "active"}, "ls": {"N": "100"}}


def test_a_new_active_row_writes_its_index_entry_once() -> None:
    assert collector.index_writes(None, row(**ACTIVE)) == 1
    assert collector.index_writes(None, row()) == 0  # sparse: not in the index


def test_a_changed_index_key_costs_a_delete_and_a_put() -> None:
    later = {**ACTIVE, "ls": {"N": "200"}}
    assert collector.index_writes(row(**ACTIVE), row(**later)) == 2
    assert collector.index_writes(row(**ACTIVE), row()) == 1  # archived: removed
    # KEYS_ONLY: other attributes changing leave the index alone.
    assert collector.index_writes(row(**ACTIVE), row(**ACTIVE, b={"B": b"new"})) == 0


def test_storage_counts_overhead_in_table_and_index() -> None:
    table, index = collector.storage_bytes(row(**ACTIVE))
    assert table == collector.item_size(row(**ACTIVE)) + 100
    entry = {k: row(**ACTIVE)[k] for k in ("pk", "sk", "due", "ls")}
    assert index == collector.item_size(entry) + 100


def test_every_dynamodb_quantity_is_billed() -> None:
    first = {
        "cpu_s": 1.0,
        "sqs_messages": 10,
        "sqs_billed_requests": 20,
        "dynamodb_write_units": 1000,
        "dynamodb_index_write_units": 1000,
        "dynamodb_read_units": 1,
        "dynamodb_table_bytes": 1000 * 1024,
        "dynamodb_index_bytes": 0,
    }
    result = cost.per_million(
        {"seconds_per_finding": 0.001, "calls_per_finding": 0.01},
        {"runs": [first], "findings": 1000},
    )
    lines = result["lines_usd"]
    assert lines["DynamoDB tracking writes (table)"] == 0.625
    assert lines["DynamoDB renewal index writes"] == 0.625
    # 1 KiB a finding for 100 days: 1e6 KiB = 0.954 GiB x 3.33 months x $0.25 and $0.20.
    assert lines["DynamoDB storage, table + index, 100 days"] == round(
        1e6 / 1024**2 * 100 / 30 * 0.25, 4
    )
    assert lines["DynamoDB point-in-time recovery, 100 days"] == round(
        1e6 / 1024**2 * 100 / 30 * 0.20, 4
    )
    assert result["hubrelay_usd"] > 1.25


def test_the_collectors_cpu_leaves_out_what_moto_spends_answering(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a moto that burns 20 ms of CPU on every DynamoDB and S3 call it answers
    answer = BotocoreStubber.process_request

    def slow(self: Any, request: Any) -> Any:
        started = time.process_time()
        while time.process_time() - started < 0.02:
            pass
        return answer(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", slow)
    # When the bench measures a first run of 50 findings (a few dozen calls)
    first = collector.unchanged_resend(50)["runs"][0]
    # Then that time is counted beside the collector's CPU, not in it (it is DynamoDB's
    # and S3's work, not the function's)
    assert first["moto_and_billing_cpu_s"] > 0.3
    assert first["cpu_s"] < first["moto_and_billing_cpu_s"] / 2
