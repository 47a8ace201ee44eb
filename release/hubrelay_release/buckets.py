"""Regions, artifact buckets and the URLs CloudFormation and the console read.

The template reads code from ``${ArtifactBucketPrefix}-${AWS::Region}``, so an artifact
bucket must be named ``<prefix>-<its own Region>``; every command checks that before it
uploads anything.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError

from hubrelay.asff import partition_for
from hubrelay.links import console_host
from hubrelay_release.base import TEMPLATE_NAME, ReleaseError, credentials_refused
from hubrelay_release.template import check_parameter

REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
STACK_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
S3_DOMAINS = {"aws": "amazonaws.com", "aws-cn": "amazonaws.com.cn", "aws-us-gov": "amazonaws.com"}


def partition_of(region: str) -> str:
    if not REGION_RE.fullmatch(region):
        raise ReleaseError(f"{region!r} is not a Region name (like us-east-1)")
    partition = partition_for(region)
    if partition not in S3_DOMAINS or console_host(region) is None:
        raise ReleaseError(
            f"{region} is in partition {partition}, which has no public console or quick-create "
            "links; deploy there with `make deploy` from inside that partition"
        )
    return partition


def check_stack_name(stack_name: str) -> None:
    if not STACK_NAME_RE.fullmatch(stack_name):
        raise ReleaseError(f"stack name {stack_name!r}: letters, digits and '-', 1 to 128")


def bucket_name(bucket_prefix: str, region: str) -> str:
    return f"{bucket_prefix}-{region}"


def s3_url(bucket: str, region: str, key: str) -> str:
    """The Regional virtual-hosted HTTPS URL of an object (what CloudFormation reads)."""
    domain = S3_DOMAINS[partition_of(region)]
    return f"https://{bucket}.s3.{region}.{domain}/{quote(key)}"


def launch_link(region: str, bucket_prefix: str, key_prefix: str, stack_name: str) -> str:
    """The console's quick-create link for the template published in `region`'s bucket."""
    check_stack_name(stack_name)
    partition_of(region)
    domain = console_host(region)
    template_url = s3_url(bucket_name(bucket_prefix, region), region, key_prefix + TEMPLATE_NAME)
    query = "&".join(
        f"{name}={quote(value, safe='')}"
        for name, value in (
            ("templateURL", template_url),
            ("stackName", stack_name),
            ("param_ArtifactBucketPrefix", bucket_prefix),
            ("param_ArtifactKeyPrefix", key_prefix),
        )
    )
    return f"https://{domain}/cloudformation/home?region={region}#/stacks/create/review?{query}"


def bucket_region(s3: Any, bucket: str) -> str:
    try:
        location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    except ClientError as exc:
        if credentials_refused(exc):
            raise  # the command says what to do about the credentials (base.aws_failure)
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "NoSuchBucket":
            raise ReleaseError(
                f"bucket {bucket} does not exist; create it in the Region its name ends with "
                f"(aws s3 mb s3://{bucket} --region <region>)"
            ) from exc
        raise ReleaseError(f"cannot read the Region of bucket {bucket}: {exc}") from exc
    # GetBucketLocation answers null for us-east-1 and "EU" for old eu-west-1 buckets.
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, str(location))


def check_bucket(bucket: str, region: str, template: Mapping[str, Any]) -> str:
    """The ArtifactBucketPrefix that `bucket` (in `region`) stands for; explains a misfit."""
    suffix = f"-{region}"
    if not bucket.endswith(suffix) or len(bucket) == len(suffix):
        raise ReleaseError(
            f"bucket {bucket} is in {region}, but template.yaml reads code from the bucket "
            f'named "${{ArtifactBucketPrefix}}-${{AWS::Region}}" of the Region the stack runs '
            f"in, so an artifact bucket in {region} must be named <prefix>{suffix} "
            f"(for example {bucket.rstrip('-')}{suffix}, giving ArtifactBucketPrefix="
            f"{bucket.rstrip('-')}). Use `make publish` for several Regions."
        )
    prefix = bucket[: -len(suffix)]
    check_parameter(template, "ArtifactBucketPrefix", prefix)
    return prefix
