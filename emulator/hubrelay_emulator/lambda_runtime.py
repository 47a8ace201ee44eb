"""What the Lambda runtime hands a handler, for tests, benchmarks and the stack emulator.

A handler gets its module imported from its code folder (layers on the path), a context
object with a deadline, and, behind an SQS event source mapping, records shaped as Lambda
delivers them (Powertools' parser models require every field).
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

# moto's default account and Region: what code under test runs as unless told otherwise.
ACCOUNT = "123456789012"
REGION = "us-east-1"


class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    def __init__(
        self,
        function_name: str = "hubrelay-test",
        *,
        remaining_ms: int | Callable[[], int] = 300_000,
        memory_limit_in_mb: int = 512,
        function_arn: str | None = None,
        aws_request_id: str | None = None,
        log_stream_name: str = "local",
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            function_arn or f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"
        )
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = aws_request_id or str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = log_stream_name
        self._remaining = remaining_ms if callable(remaining_ms) else lambda: remaining_ms

    @classmethod
    def with_deadline(
        cls, function_name: str, function_arn: str, timeout_s: float, slept: Callable[[], float]
    ) -> LambdaContext:
        """A context whose remaining time runs down from `timeout_s` from now, faster by the
        simulated time `slept` returns (backoff that passed no real time)."""
        deadline = time.monotonic() + timeout_s

        def remaining() -> int:
            return max(int((deadline - time.monotonic() - slept()) * 1000), 0)

        return cls(function_name, function_arn=function_arn, remaining_ms=remaining)

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining()


def sqs_record(
    body: str,
    message_id: str,
    *,
    receive_count: int = 1,
    queue_arn: str = f"arn:aws:sqs:{REGION}:{ACCOUNT}:findings",
    region: str = REGION,
    receipt_handle: str | None = None,
    attributes: Mapping[str, str] | None = None,
    message_attributes: Mapping[str, Any] | None = None,
    md5_of_body: str | None = None,
) -> dict[str, Any]:
    """One record of an SQS event as Lambda delivers it."""
    if attributes is None:
        attributes = {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1767225600000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1767225600001",
        }
    if md5_of_body is None:
        md5_of_body = hashlib.md5(body.encode(), usedforsecurity=False).hexdigest()
    return {
        "messageId": message_id,
        "receiptHandle": receipt_handle or f"rh-{message_id}",
        "body": body,
        "attributes": dict(attributes),
        "messageAttributes": dict(message_attributes or {}),
        "md5OfBody": md5_of_body,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def sqs_event(
    bodies: Sequence[str], ids: Sequence[str] | None = None, **record: Any
) -> dict[str, Any]:
    """An SQS event of one record per body (ids msg-0, msg-1... unless given)."""
    ids = ids or [f"msg-{i}" for i in range(len(bodies))]
    return {
        "Records": [
            sqs_record(body, message_id, **record)
            for message_id, body in zip(ids, bodies, strict=True)
        ]
    }


def load_source(path: Path, name: str, search_path: Sequence[Path] = ()) -> ModuleType:
    """Import the file at `path` as a new module `name`, `search_path` first on sys.path
    while it runs (a function's folder and its layers, as Lambda's runtime has them)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered, as an import would: dataclasses and pydantic look their module up there.
    sys.modules[name] = module
    added = [str(p) for p in search_path]
    sys.path[:0] = added
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        del sys.path[: len(added)]
    return module
