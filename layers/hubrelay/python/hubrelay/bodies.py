"""The last body sent of each tracked finding, kept in S3 instead of the tracking table.

Change tracking keeps the last complete finding sent so that an archive, a renewal or a
re-send can go out complete when the source no longer reports the finding. In the
tracking row it was most of the item (about 1 KB compressed): two write units per
finding and DynamoDB storage with point-in-time recovery ($0.45 per GB-month together)
for its tracked life. S3 bills per request, not per byte written: the bodies of the saves
between two flushes of the tracking state go into one gzip-compressed JSON object
({scope: {base Id: body}}, at most BATCH_BODIES), and the state keeps only the object's
key. Objects are never changed; a new body goes into a new object.

Where: `<errors_prefix>tracking/YYYY/MM/DD/` in the reports bucket, the collector's own
prefix that the report listing, the Object Created rule and the 90-day expiry of
template.yaml already treat as not a report. A body of an active finding is rewritten at
its renewal (every 80 days by default), before the expiry. An object that is gone (expired
or deleted) leaves the finding without a body: what needs one is then skipped as for a
row without a body (`tracking.archive`), never sent incomplete.

Prices: S3 PUT $0.005 per 1,000, storage $0.023 per GB-month
(https://aws.amazon.com/s3/pricing/); DynamoDB storage
(https://aws.amazon.com/dynamodb/pricing/on-demand/).
"""

from __future__ import annotations

import gzip
import json
import secrets
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from hubrelay.observability import logger

Finding = dict[str, Any]
FOLDER = "tracking/"
CACHED_OBJECTS = 4  # objects kept decoded per run
# Bodies an object holds (a save's go into one object, so up to a collector chunk more):
# about 1 MB gzip-compressed, 2.5 MB of JSON to parse when
# a body of it is read back (a renewal reads many of one object: they were saved together),
# about 20 MB as objects in the cache (CACHED_OBJECTS of them) and 2.5 MB of text while
# it fills. 2,000 until 2026-12-07: twice the memory, for half a PUT per 1,000 findings.
BATCH_BODIES = 1_000


def _compressed(filling: Mapping[str, Mapping[str, str]]) -> bytes:
    """One gzip member (level 6, mtime 0) of the JSON object {scope: {key: body}}
    of bodies held as JSON text, compressed piece by piece: the object's text (2.5 MB
    at BATCH_BODIES) is never joined, nor encoded whole, nor held beside its compression
    (three copies of it were a collector run's peak)."""
    # 31: zlib writes the gzip header and trailer itself (its OS byte is the system's, where
    # gzip.compress has written 255 since Python 3.13; readers ignore it).
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    out = [packer.compress(b"{")]
    for i, (scope, held) in enumerate(filling.items()):
        out.append(packer.compress(f"{',' if i else ''}{json.dumps(scope)}:{{".encode()))
        for j, (key, text) in enumerate(held.items()):
            out.append(packer.compress(f"{',' if j else ''}{json.dumps(key)}:{text}".encode()))
        out.append(packer.compress(b"}"))
    out.append(packer.compress(b"}"))
    out.append(packer.flush())
    return b"".join(out)


class BodyStore:
    """Bodies in S3, by object; decoded objects cached (they never change). The bodies of
    the saves between two flushes share one object (at most BATCH_BODIES), so a tracking
    bucket names few objects and a scan of thousands of findings costs a few PUTs."""

    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        self.s3, self.bucket, self.prefix = s3, bucket, f"{prefix}{FOLDER}"
        self._cache: OrderedDict[str, dict[str, dict[str, Finding]]] = OrderedDict()
        self.puts = 0
        self._open: str | None = None  # the key of the object being filled
        self._filling: dict[str, dict[str, str]] = {}  # its bodies as JSON text, by scope

    def put(self, bodies: Mapping[str, Mapping[str, Finding]], now: datetime) -> str:
        """Add `bodies` ({scope: {base Id: body}}) to the object being filled; its key. The
        object is written by `flush` (tracking.Store.flush: before the state naming it), or
        at once when it holds BATCH_BODIES. Held as JSON text, about 2.5 KB a body."""
        if self._open is None:
            # Every tracking entry names its object (hubrelay.packed), so the name's entropy
            # is stored per bucket: the time (alike across a run's objects, which deflate
            # shares) and 64 random bits, enough that two collectors never pick the same.
            self._open = f"{self.prefix}{now:%Y/%m/%d/%H%M%S}-{secrets.token_hex(8)}.json.gz"
        key = self._open
        for scope, found in bodies.items():
            held = self._filling.setdefault(scope, {})
            for finding_key, body in found.items():
                held[finding_key] = json.dumps(body, separators=(",", ":"))
        if sum(map(len, self._filling.values())) >= BATCH_BODIES:
            self.flush()
        return key

    def flush(self) -> None:
        """Write the object being filled, if any (the same JSON as one dumped whole)."""
        if self._open is None:
            return
        self.s3.put_object(
            Bucket=self.bucket,
            Key=self._open,
            Body=_compressed(self._filling),
            ContentType="application/json",
            ContentEncoding="gzip",
        )
        self.puts += 1
        self._open, self._filling = None, {}

    def get(self, key: str, scope: str, finding_key: str) -> Finding | None:
        """The body of `finding_key` of `scope` in object `key`; None when the object or
        the body is not there (an error is logged, naming both)."""
        if key == self._open:
            self.flush()  # a body saved in this run, read back before its state is written
        bodies = self._cache.get(key)
        if bodies is None:
            bodies = self._read(key)
            self._remember(key, bodies)
        else:
            self._cache.move_to_end(key)
        body = bodies.get(scope, {}).get(finding_key)
        if body is None:
            logger.error("tracked body missing", object=key, finding=finding_key[:200])
        return body

    def _read(self, key: str) -> dict[str, dict[str, Finding]]:
        try:
            data = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
                raise
            return {}
        return dict(json.loads(gzip.decompress(data)))

    def _remember(self, key: str, bodies: dict[str, dict[str, Finding]]) -> None:
        self._cache[key] = bodies
        while len(self._cache) > CACHED_OBJECTS:
            self._cache.popitem(last=False)
