"""Tracked bodies in S3 (hubrelay.bodies): the row keeps the object's key, not the body;
a body read back is written again only when it changed; rows of an earlier release, with
the body in the row, are still read and move their body to S3 when saved again."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hubrelay import aws
from hubrelay import bodies as bodies_module
from hubrelay.bodies import BodyStore
from hubrelay.sources import Context
from hubrelay.tracking import (
    Policy,
    Store,
    Tracked,
    _from_item,
    _to_item,
    archive,
    item_size,
    needs_body,
    plan,
)
from tests.integration.collector_env import create_stack_resources

REGION = "us-east-1"
T0 = datetime(2026, 11, 1, tzinfo=UTC)
CTX = Context("123456789012", (REGION,), "", T0)


@pytest.fixture
def env() -> Iterator[dict[str, Any]]:
    with mock_aws():
        aws.reset()
        create_stack_resources()
        s3 = boto3.client("s3", region_name=REGION)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        bodies = BodyStore(s3, "reports", "errors/")
        yield {"s3": s3, "dynamodb": dynamodb, "store": Store(dynamodb, "tracking", bodies=bodies)}
        aws.reset()


def objects(env: dict[str, Any]) -> list[str]:
    listed = env["s3"].list_objects_v2(Bucket="reports").get("Contents", [])
    return sorted(item["Key"] for item in listed)


def row(env: dict[str, Any], scope: str, key: str) -> dict[str, Any]:
    """A finding's row of an earlier release."""
    item = env["dynamodb"].get_item(
        TableName="tracking", Key={"pk": {"S": f"f#{scope}"}, "sk": {"S": key}}
    )["Item"]
    return dict(item)


def buckets(env: dict[str, Any], scope: str) -> list[dict[str, Any]]:
    """The items the scope's findings are packed in (hubrelay.packed)."""
    return list(
        env["dynamodb"].query(
            TableName="tracking",
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"t#{scope}"}},
        )["Items"]
    )


def sent(finding: dict[str, Any], n: int) -> Tracked:
    planned = plan({**finding, "Id": f"scanner/finding-{n}"}, "shop/api", None, CTX, Policy())
    assert planned.state is not None
    return planned.state


def test_one_save_writes_its_bodies_in_one_object_and_rows_only_name_it(
    env: dict[str, Any], finding: dict[str, Any]
) -> None:
    states = [sent(finding, n) for n in range(3)]
    env["store"].save(states)
    (key,) = objects(env)
    assert key.startswith("errors/tracking/")
    stored = env["s3"].get_object(Bucket="reports", Key=key)
    assert stored["ContentEncoding"] == "gzip"
    bodies = json.loads(gzip.decompress(stored["Body"].read()))
    assert bodies["shop/api"]["scanner/finding-1"] == states[1].body
    (item,) = buckets(env, "shop/api")
    assert item_size(item) < 1024  # one write unit for all three, bodies not in it
    loaded = env["store"].load("shop/api", ["scanner/finding-1"])["scanner/finding-1"]
    assert loaded.body is None
    assert loaded.body_ref == key
    (resolved,) = env["store"].resolve([loaded])
    assert resolved.body == states[1].body


def test_object_names_are_the_time_and_64_random_bits(env: dict[str, Any]) -> None:
    # Every entry of a bucket names its body's object, and a bucket's entries come from
    # the saves of a run: names that start alike (the time) and end in 16 random hex
    # digits, not 32 (a uuid4), leave 8 bytes of each name that deflate cannot squeeze.
    bodies = BodyStore(env["s3"], "reports", "errors/")
    at = datetime(2026, 11, 1, 8, 5, 9, tzinfo=UTC)
    first = bodies.put({"shop/api": {"a": {"Id": "a"}}}, at)
    bodies.flush()
    second = bodies.put({"shop/api": {"b": {"Id": "b"}}}, at)
    name = r"errors/tracking/2026/11/01/080509-[0-9a-f]{16}\.json\.gz"
    assert re.fullmatch(name, first)
    assert re.fullmatch(name, second)
    assert first != second


def test_the_saves_of_a_flush_share_one_object_of_at_most_batch_bodies(
    env: dict[str, Any], finding: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a store that writes at flush (the collector's), saving a chunk at a time
    store = Store(env["dynamodb"], "tracking", bodies=env["store"].bodies, defer=True)
    for n in range(3):
        store.save([sent(finding, n)])
    # Then nothing is written before the flush, and one object after it holds all three
    assert objects(env) == []
    store.flush()
    (key,) = objects(env)
    body = env["s3"].get_object(Bucket="reports", Key=key)["Body"].read()
    stored = json.loads(gzip.decompress(body))
    assert sorted(stored["shop/api"]) == [f"scanner/finding-{n}" for n in range(3)]
    assert stored["shop/api"]["scanner/finding-1"] == sent(finding, 1).body
    # And an object is written as soon as it holds BATCH_BODIES
    monkeypatch.setattr(bodies_module, "BATCH_BODIES", 2)
    store.save([sent(finding, n) for n in range(3, 5)])
    assert len(objects(env)) == 2


def test_a_body_saved_in_this_run_is_read_back_before_its_state_is_written(
    env: dict[str, Any], finding: dict[str, Any]
) -> None:
    store = Store(env["dynamodb"], "tracking", bodies=env["store"].bodies, defer=True)
    store.save([sent(finding, 1)])
    loaded = store.load("shop/api", ["scanner/finding-1"])["scanner/finding-1"]
    (resolved,) = store.resolve([loaded])
    assert resolved.body == sent(finding, 1).body


def test_a_body_read_back_is_not_written_again_unless_it_changed(
    env: dict[str, Any], finding: dict[str, Any]
) -> None:
    env["store"].save([sent(finding, 1)])
    loaded = env["store"].load("shop/api", ["scanner/finding-1"])["scanner/finding-1"]
    (resolved,) = env["store"].resolve([loaded])
    env["store"].save([replace(resolved, undelivered=frozenset())])  # same body
    env["store"].save([loaded])  # body never read
    assert len(objects(env)) == 1
    archived = archive(resolved, replace(CTX, now=T0 + timedelta(days=1)))
    assert archived.state is not None
    env["store"].save([archived.state])
    assert len(objects(env)) == 2
    again = env["store"].load("shop/api", ["scanner/finding-1"])["scanner/finding-1"]
    (body,) = [s.body for s in env["store"].resolve([again])]
    assert body is not None
    assert body["RecordState"] == "ARCHIVED"


def test_a_body_whose_object_is_gone_is_none_and_the_archive_is_dropped(
    env: dict[str, Any], finding: dict[str, Any]
) -> None:
    env["store"].save([sent(finding, 1)])
    (key,) = objects(env)
    env["s3"].delete_object(Bucket="reports", Key=key)
    loaded = env["store"].load("shop/api", ["scanner/finding-1"])["scanner/finding-1"]
    (resolved,) = Store(
        env["dynamodb"], "tracking", bodies=BodyStore(env["s3"], "reports", "errors/")
    ).resolve([loaded])
    assert resolved.body is None
    assert archive(resolved, CTX).sends == []


def test_a_row_of_an_earlier_release_keeps_its_body_and_moves_it_to_s3_when_saved(
    env: dict[str, Any], finding: dict[str, Any]
) -> None:
    # the body in the row, as earlier releases wrote it
    env["dynamodb"].put_item(TableName="tracking", Item=_to_item(sent(finding, 1)))
    assert "b" in row(env, "shop/api", "scanner/finding-1")
    assert objects(env) == []
    loaded = env["store"].load("shop/api", ["scanner/finding-1"])["scanner/finding-1"]
    assert loaded.body is not None
    assert loaded.body_ref == ""
    env["store"].save([loaded])
    again = Store(env["dynamodb"], "tracking").load("shop/api", ["scanner/finding-1"])
    assert again["scanner/finding-1"].body is None
    assert again["scanner/finding-1"].body_ref == objects(env)[0]


def test_plan_sends_the_same_without_the_body_unless_it_says_it_needs_it(
    finding: dict[str, Any],
) -> None:
    """`needs_body` is what lets the collector read bodies only when `plan` sends one."""
    base = sent(finding, 1)
    report = {**finding, "Id": "scanner/finding-1"}
    later = replace(CTX, now=T0 + timedelta(days=81))
    cases = [
        (CTX, report, base),  # unchanged
        (CTX, {**report, "Title": "changed"}, base),
        (CTX, {**report, "RecordState": "ARCHIVED"}, base),
        (replace(CTX, regions=(REGION, "eu-west-1")), report, base),
        (later, report, base),  # renewal: a new generation
        (
            replace(
                CTX, product_arn="arn:aws:securityhub:us-east-1:999999999999:product/acme/scanner"
            ),
            report,
            base,
        ),
        (CTX, report, replace(base, state="ARCHIVED")),
    ]
    for ctx, reported, tracked in cases:
        unread = replace(tracked, body=None, body_ref="errors/tracking/x.json.gz")
        if needs_body(tracked, reported, ctx, Policy()):
            assert (
                plan(reported, "shop/api", unread, ctx, Policy()).sends
                != plan(reported, "shop/api", tracked, ctx, Policy()).sends
            )
        else:
            assert (
                plan(reported, "shop/api", unread, ctx, Policy()).sends
                == plan(reported, "shop/api", tracked, ctx, Policy()).sends
            )


def test_the_reference_survives_the_item_round_trip() -> None:
    state = Tracked("s", "k", 0, "c", "u", frozenset({REGION}), 1.0, body_ref="errors/tracking/o")
    assert _from_item(_to_item(state)).body_ref == "errors/tracking/o"


def test_an_object_is_the_gzip_of_its_bodies_json_compressed_piece_by_piece() -> None:
    # Given bodies of two scopes held as JSON text, as BodyStore.put holds them
    def held(body: dict[str, str]) -> str:
        return json.dumps(body, separators=(",", ":"))

    filling = {
        "scope/a": {"id-1": held({"Id": "id-1"}), "id-2": held({"Id": "é"})},
        'scope/"b"': {"id-3": held({"Id": "id-3", "Title": "x" * 5000})},
    }
    # When they are compressed for the object
    body = bodies_module._compressed(filling)
    # Then it is one gzip member (mtime 0) of the whole object's JSON, as dumped whole,
    # compressed as gzip.compress compresses it (the same deflate stream: the header's OS
    # byte is the only thing Python 3.13's gzip.compress writes otherwise)
    whole = {s: {k: json.loads(v) for k, v in held.items()} for s, held in filling.items()}
    text = json.dumps(whole, separators=(",", ":")).encode()
    assert gzip.decompress(body) == text
    assert body[:2] == b"\x1f\x8b"
    assert body[4:8] == b"\0\0\0\0"
    assert body[10:] == gzip.compress(text, compresslevel=6, mtime=0)[10:]
