"""`make package` (one artifact bucket) and `make publish` (one bucket per Region).

Both upload the zips and the packaged template under ``<prefix>functions/<name>.zip``,
``<prefix>layers/<name>.zip`` and ``<prefix>template.yaml`` (prefix default
``hubrelay/<version>/``), and write ``build/packaged.yaml``: template.yaml with the
ArtifactBucketPrefix and ArtifactKeyPrefix defaults set, so it deploys as is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from hubrelay import aws
from hubrelay_release.base import PACKAGED_NAME, ROOT, TEMPLATE_NAME, ReleaseError
from hubrelay_release.buckets import bucket_name, bucket_region, check_bucket, partition_of, s3_url
from hubrelay_release.bytecode import Compiler
from hubrelay_release.template import (
    check_parameter,
    default_key_prefix,
    packaged_template,
    read_template,
)
from hubrelay_release.zips import Artifact, build, check_artifacts


@dataclass(frozen=True)
class Upload:
    region: str
    bucket: str
    keys: tuple[str, ...]
    template_url: str
    replaced: tuple[str, ...]  # keys that held different bytes before


def upload(
    s3: Any,
    bucket: str,
    region: str,
    key_prefix: str,
    artifacts: Sequence[Artifact],
    template_text: str,
) -> Upload:
    """Put the artifacts and the template under `key_prefix`; note what it overwrote."""
    items = [(key_prefix + a.key, a.path.read_bytes(), "application/zip") for a in artifacts]
    items.append((key_prefix + TEMPLATE_NAME, template_text.encode(), "application/x-yaml"))
    replaced = []
    for key, data, content_type in items:
        digest = hashlib.sha256(data).hexdigest()
        try:
            previous = s3.head_object(Bucket=bucket, Key=key).get("Metadata", {}).get("sha256")
        except ClientError:
            previous = None
        if previous is not None and previous != digest:
            replaced.append(key)
        s3.put_object(
            Bucket=bucket, Key=key, Body=data, ContentType=content_type, Metadata={"sha256": digest}
        )
    return Upload(
        region,
        bucket,
        tuple(key for key, _, _ in items),
        s3_url(bucket, region, key_prefix + TEMPLATE_NAME),
        tuple(replaced),
    )


def _prepare(
    root: Path,
    out: Path,
    template: Mapping[str, Any],
    prefixes: tuple[str, str],
    compiler: Compiler | None,
) -> tuple[list[Artifact], str]:
    """Build, and write the packaged template; refuses bad prefixes before building."""
    bucket_prefix, key_prefix = prefixes
    check_parameter(template, "ArtifactBucketPrefix", bucket_prefix)
    check_parameter(template, "ArtifactKeyPrefix", key_prefix)
    artifacts = build(root, out, compiler)
    check_artifacts(template, artifacts)
    text = packaged_template(root, bucket_prefix, key_prefix)
    (out / PACKAGED_NAME).write_text(text, encoding="utf-8")
    return artifacts, text


def package(
    bucket: str,
    key_prefix: str | None = None,
    region: str | None = None,
    root: Path = ROOT,
    out: Path | None = None,
    compiler: Compiler | None = None,
) -> Upload:
    """Build, upload to `bucket`, and write build/packaged.yaml for that bucket's prefix."""
    out = out if out is not None else root / "build"
    key_prefix = default_key_prefix(root) if key_prefix is None else key_prefix
    located = bucket_region(aws.client("s3", region), bucket)
    if region and region != located:
        raise ReleaseError(f"bucket {bucket} is in {located}, not in the requested {region}")
    partition_of(located)
    template = read_template(root)
    bucket_prefix = check_bucket(bucket, located, template)
    artifacts, text = _prepare(root, out, template, (bucket_prefix, key_prefix), compiler)
    return upload(aws.client("s3", located), bucket, located, key_prefix, artifacts, text)


def publish(
    bucket_prefix: str,
    regions: Sequence[str],
    key_prefix: str | None = None,
    root: Path = ROOT,
    out: Path | None = None,
    compiler: Compiler | None = None,
) -> list[Upload]:
    """The same release in `<bucket_prefix>-<region>` for every Region; checks all first."""
    out = out if out is not None else root / "build"
    key_prefix = default_key_prefix(root) if key_prefix is None else key_prefix
    regions = list(dict.fromkeys(regions))
    if not regions:
        raise ReleaseError('no Regions given (REGIONS="us-east-1 eu-west-1")')
    partitions = {partition_of(r) for r in regions}
    if len(partitions) > 1:
        raise ReleaseError(
            f"Regions span partitions {sorted(partitions)}: each partition has its own "
            "accounts and credentials, so publish once per partition"
        )
    template = read_template(root)
    check_parameter(template, "ArtifactBucketPrefix", bucket_prefix)
    for region in regions:
        bucket = bucket_name(bucket_prefix, region)
        located = bucket_region(aws.client("s3", region), bucket)
        if located != region:
            raise ReleaseError(
                f"bucket {bucket} is in {located}, not in {region}: a stack in {region} reads "
                f"its code from {bucket}, and Lambda only reads code from its own Region"
            )
    artifacts, text = _prepare(root, out, template, (bucket_prefix, key_prefix), compiler)
    return [
        upload(
            aws.client("s3", region),
            bucket_name(bucket_prefix, region),
            region,
            key_prefix,
            artifacts,
            text,
        )
        for region in regions
    ]
