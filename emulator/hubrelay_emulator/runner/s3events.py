"""Amazon S3's events to EventBridge, for the buckets whose EventBridge notifications are on.

As "Using EventBridge" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventBridge.html)
describes them: once a bucket's notification configuration holds an EventBridgeConfiguration
(CloudFormation's `NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled`,
or PutBucketNotificationConfiguration), S3 sends every event of the bucket to the default
event bus of its account and Region; rules pick what they want. Only "Object Created" is
emitted here (PutObject, CopyObject, CompleteMultipartUpload: the `reason` values the page
lists), with the fields of "EventBridge event message structure"
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html): the key as it is
(not URL-encoded), the ETag without quotes, the size, the version id on a versioned bucket.

The events wait with Security Hub's in the router's queue (`EventRouter.pending`) until the
stack delivers events: EventBridge's delivery is asynchronous.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hubrelay_emulator.runner.emulator import StackEmulator

CREATED_BY = ("PutObject", "CopyObject", "CompleteMultipartUpload")
Call = Callable[[Any, str, dict[str, Any]], Any]


def enabled(props: Mapping[str, Any]) -> bool:
    """Whether a bucket's CloudFormation properties turn its EventBridge notifications on."""
    config = props.get("NotificationConfiguration")
    bridge = config.get("EventBridgeConfiguration") if isinstance(config, Mapping) else None
    return isinstance(bridge, Mapping) and str(bridge.get("EventBridgeEnabled", True)).lower() in (
        "true",
        "1",
    )


class S3Events:
    def __init__(self, stack: StackEmulator) -> None:
        self.stack = stack
        self.buckets: set[str] = set()  # buckets sending their events to EventBridge
        self.sent = 0

    def observe(self, call: Call, client: Any, operation: str, params: dict[str, Any]) -> None:
        """After a successful S3 call: the event S3 would send for it, if any. `call` makes
        S3 calls of the emulator's own, unchecked (S3 reading its own object)."""
        if client.meta.service_model.service_name != "s3":
            return
        bucket = str(params.get("Bucket", ""))
        if operation == "PutBucketNotificationConfiguration":
            config = params.get("NotificationConfiguration") or {}
            (self.buckets.add if "EventBridgeConfiguration" in config else self.buckets.discard)(
                bucket
            )
            return
        if operation not in CREATED_BY or bucket not in self.buckets:
            return
        key = params["Key"]
        head = call(client, "HeadObject", {"Bucket": bucket, "Key": key})
        obj: dict[str, Any] = {
            "key": key,
            "size": head["ContentLength"],
            "etag": head["ETag"].strip('"'),
            "sequencer": f"{self.sent + 1:016X}",
        }
        if head.get("VersionId"):
            obj["version-id"] = head["VersionId"]
        self.sent += 1
        self.stack.events.pending.append(
            {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Object Created",
                "source": "aws.s3",
                "account": self.stack.account,
                "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": self.stack.region,
                "resources": [f"arn:aws:s3:::{bucket}"],
                "detail": {
                    "version": "0",
                    "bucket": {"name": bucket},
                    "object": obj,
                    "request-id": uuid.uuid4().hex[:16].upper(),
                    "requester": self.stack.account,
                    "source-ip-address": "127.0.0.1",
                    "reason": operation,
                },
            }
        )
