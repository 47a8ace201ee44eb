"""The tracking table of the cost bench: hubrelay.tracking.Store itself, over moto's
DynamoDB, each call billed by DynamoDB's on-demand rules on the items it really reads and
writes (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html)."""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hubrelay.tracking import item_size

KB = 1024
READ_UNIT = 4 * KB  # a strongly consistent read: one unit per started 4 KB


class Aside:
    """CPU seconds that are not the collector's: moto answering a call (DynamoDB's and
    S3's work, on their servers in AWS) and this module's own reads of the items before
    and after each write, to bill it. Regions inside one another are counted once."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._depth = 0

    @contextmanager
    def region(self) -> Iterator[None]:
        outermost = self._depth == 0
        self._depth += 1
        started = time.process_time()
        try:
            yield
        finally:
            self._depth -= 1
            if outermost:
                self.seconds += time.process_time() - started


class BilledDynamoDB:
    """A DynamoDB client that counts what each call is billed. A write is billed by the
    larger of the item before and after it, even when its condition fails ("Write
    operations", page above); a Query or Scan by the total size of the items it returns."""

    def __init__(self, client: Any, aside: Aside | None = None) -> None:
        self.client = client
        self.aside = aside or Aside()
        self.write_units = 0
        self.index_write_units = 0
        self.read_units = 0
        self.items_read = 0
        self.items_written = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def _old(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        with self.aside.region():
            item: dict[str, Any] | None = self.client.get_item(
                TableName=table, Key=key, ConsistentRead=True
            ).get("Item")
        return item

    def _bill_write(self, table: str, key: dict[str, Any], new: dict[str, Any] | None) -> None:
        self._bill(self._old(table, key), new)

    def _bill(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        with self.aside.region():
            self._count(old, new)

    def _count(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        from bench.collector import index_writes

        sizes = [item_size(i) for i in (old, new) if i is not None]
        self.write_units += max(1, math.ceil(max(sizes, default=0) / KB))
        self.index_write_units += index_writes(old, new or {})
        self.items_written += 1

    def put_item(self, **kwargs: Any) -> Any:
        item, table = kwargs["Item"], kwargs["TableName"]
        key = {"pk": item["pk"], "sk": item["sk"]}
        old = self._old(table, key)
        try:
            return self.client.put_item(**kwargs)
        finally:
            self._bill(old, self._old(table, key))

    def update_item(self, **kwargs: Any) -> Any:
        table, key = kwargs["TableName"], kwargs["Key"]
        old = self._old(table, key)
        try:
            return self.client.update_item(**kwargs)
        finally:
            self._bill(old, self._old(table, key))

    def delete_item(self, **kwargs: Any) -> Any:
        self._bill_write(kwargs["TableName"], kwargs["Key"], None)
        return self.client.delete_item(**kwargs)

    def batch_write_item(self, **kwargs: Any) -> Any:
        for table, requests in kwargs["RequestItems"].items():
            for request in requests:
                if "PutRequest" in request:
                    item = request["PutRequest"]["Item"]
                    self._bill_write(table, {"pk": item["pk"], "sk": item["sk"]}, item)
                else:
                    self._bill_write(table, request["DeleteRequest"]["Key"], None)
        return self.client.batch_write_item(**kwargs)

    def get_item(self, **kwargs: Any) -> Any:
        found = self.client.get_item(**kwargs)
        self._bill_read([found["Item"]] if "Item" in found else [], each=True)
        return found

    def query(self, **kwargs: Any) -> Any:
        found = self.client.query(**kwargs)
        self._bill_read(found.get("Items", []), each=False)
        return found

    def scan(self, **kwargs: Any) -> Any:
        found = self.client.scan(**kwargs)
        self._bill_read(found.get("Items", []), each=False)
        return found

    def get_paginator(self, name: str) -> Any:
        return _Paginator(self, name)

    def _bill_read(self, items: list[dict[str, Any]], each: bool) -> None:
        with self.aside.region():
            self._count_read(items, each)

    def _count_read(self, items: list[dict[str, Any]], each: bool) -> None:
        self.items_read += len(items)
        if each:
            self.read_units += sum(max(1, math.ceil(item_size(i) / READ_UNIT)) for i in items)
        else:
            size = sum(item_size(i) for i in items)
            self.read_units += max(1, math.ceil(size / READ_UNIT))

    def storage(self) -> tuple[int, int]:
        """(table bytes, index bytes) stored now."""
        from bench.collector import storage_bytes

        table = index = 0
        for page in self.client.get_paginator("scan").paginate(TableName="tracking"):
            for item in page["Items"]:
                t, i = storage_bytes(item)
                table, index = table + t, index + i
        return table, index


class _Paginator:
    """Pages through the billed client's query or scan."""

    def __init__(self, client: BilledDynamoDB, name: str) -> None:
        self.client, self.name = client, name

    def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        call = getattr(self.client, self.name)
        while True:
            page: dict[str, Any] = call(**kwargs)
            yield page
            if "LastEvaluatedKey" not in page:
                return
            kwargs = {**kwargs, "ExclusiveStartKey": page["LastEvaluatedKey"]}


@contextmanager
def tracking_table() -> Iterator[tuple[BilledDynamoDB, Any]]:
    """The stack's tracking table and bucket in moto: (billed DynamoDB client, S3 client).
    The client's `aside` counts the CPU time moto spends answering calls (S3's included)."""
    import boto3
    from moto import mock_aws
    from moto.core.botocore_stubber import BotocoreStubber

    # The tests' own setup of the stack's resources, as template.yaml defines them (by
    # name, so that mypy does not check the test support module against the bench's rules).
    stack = importlib.import_module("tests.integration.collector_env")
    aside = Aside()
    answer = BotocoreStubber.process_request

    def answered(self: Any, request: Any) -> Any:
        with aside.region():
            return answer(self, request)

    BotocoreStubber.process_request = answered  # type: ignore[method-assign]
    try:
        with mock_aws():
            stack.create_stack_resources()
            client = boto3.client("dynamodb", region_name="us-east-1")
            yield BilledDynamoDB(client, aside), boto3.client("s3", region_name="us-east-1")
    finally:
        BotocoreStubber.process_request = answer  # type: ignore[method-assign]
