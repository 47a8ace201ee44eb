"""Build, package, deploy and publish hubrelay: what `make build|package|deploy|publish` run.

Dev tooling, never shipped. Commands (``python -m hubrelay_local.release <command> -h``):

- ``build``: one zip per function folder (``functions/<name>/`` -> ``build/functions/<name>.zip``,
  ``app.py`` at the zip root) and per layer (``layers/<name>/`` -> ``build/layers/<name>.zip``,
  holding ``python/<package>/...``). The zips are reproducible: entries sorted, timestamps
  1980-01-01, permissions 0644, fixed compression, so the same sources give the same bytes
  whatever the checkout's mtimes or umask. Caches, tests, dotfiles and virtualenvs are left
  out, and a bundled boto3 or Powertools is refused (the runtime and the public Powertools
  layer provide them).
- ``package``: uploads the zips and the packaged template to one artifact bucket, under
  ``<prefix>functions/<name>.zip``, ``<prefix>layers/<name>.zip`` and ``<prefix>template.yaml``
  (prefix default ``hubrelay/<version>/``), and writes ``build/packaged.yaml``: template.yaml
  with the ArtifactBucketPrefix and ArtifactKeyPrefix defaults set, so it deploys as is.
- ``deploy``: creates or updates a stack from ``build/packaged.yaml`` with boto3 (nothing
  else to install), or with ``aws cloudformation deploy`` when asked to.
- ``publish``: the same artifacts and template in one bucket per Region
  (``<bucket prefix>-<region>``), and a quick-create ("Launch stack") link per Region.

The template reads code from ``${ArtifactBucketPrefix}-${AWS::Region}``, so an artifact
bucket must be named ``<prefix>-<its own Region>``; every command checks that before it
uploads anything. boto3 honours AWS_ENDPOINT_URL, which is how the tests run these commands
against moto.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError, WaiterError
from cfnlint.decode import decode_str

from hubrelay import aws
from hubrelay.asff import partition_for
from hubrelay.links import console_host

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_NAME = "template.yaml"
PACKAGED_NAME = "packaged.yaml"

# --- what goes into a zip --------------------------------------------------------------

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
FILE_MODE = 0o100644  # regular file, rw-r--r--, whatever the checkout's umask
COMPRESS_LEVEL = 9
SKIPPED_DIRS = frozenset(
    {"__pycache__", "tests", "test", "venv", "node_modules", "build", "dist"}
)  # plus any dot-directory and *.egg-info / *.dist-info
SKIPPED_SUFFIXES = (".pyc", ".pyo", ".orig", ".rej", ".swp", "~")
SKIPPED_FILES = frozenset({"conftest.py"})
# Provided by the Lambda runtime (boto3) or the public Powertools layer: bundling a copy
# would shadow the runtime's and bloat every cold start.
RUNTIME_PROVIDED = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "aws_lambda_powertools", "aws_xray_sdk"}
)

# --- names -------------------------------------------------------------------------------

REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
STACK_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
S3_DOMAINS = {"aws": "amazonaws.com", "aws-cn": "amazonaws.com.cn", "aws-us-gov": "amazonaws.com"}
ARTIFACT_PARAMETERS = ("ArtifactBucketPrefix", "ArtifactKeyPrefix")


class ReleaseError(Exception):
    """A release step cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Artifact:
    key: str  # path under the key prefix: functions/importer.zip, layers/hubrelay.zip
    path: Path
    size: int
    sha256: str
    entries: int

    def line(self) -> str:
        shown = _shown(self.path)
        return f"{shown:<30} {self.size:>9,} bytes {self.entries:>4} files  sha256 {self.sha256}"


def _shown(path: Path) -> str:
    """A path as the user typed it: relative to the repository when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


# =========================================================================================
# build
# =========================================================================================


def included(relative: PurePosixPath) -> bool:
    """Whether a file (path relative to the folder being zipped) belongs in the zip."""
    *folders, name = relative.parts
    for folder in folders:
        if folder.startswith(".") or folder in SKIPPED_DIRS:
            return False
        if folder.endswith((".egg-info", ".dist-info")):
            return False
    if name.startswith(".") or name in SKIPPED_FILES or name.endswith(SKIPPED_SUFFIXES):
        return False
    return not (name.startswith("test_") and name.endswith(".py")) and not name.endswith("_test.py")


def source_files(folder: Path, under: str = "") -> list[tuple[str, Path]]:
    """(name in the zip, file) for every file of `folder` that ships, sorted by name."""
    found: list[tuple[str, Path]] = []
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        relative = PurePosixPath(path.relative_to(folder).as_posix())
        if included(relative):
            found.append((str(PurePosixPath(under) / relative) if under else str(relative), path))
    found.sort(key=lambda pair: pair[0])
    depth = len(PurePosixPath(under).parts) if under else 0
    packages = {
        PurePosixPath(name).parts[depth]
        for name, _ in found
        if len(PurePosixPath(name).parts) > depth + 1
    }
    bundled = packages & RUNTIME_PROVIDED
    if bundled:
        raise ReleaseError(
            f"{folder} bundles {', '.join(sorted(bundled))}: boto3 comes from the Lambda "
            "runtime and Powertools from its public layer; remove the copy"
        )
    return found


def zip_bytes(entries: Iterable[tuple[str, Path]]) -> tuple[bytes, int]:
    """A reproducible zip of the entries (already sorted) and the number of entries."""
    buffer = io.BytesIO()
    count = 0
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, path in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.create_system = 3  # Unix, so external_attr carries the mode
            info.external_attr = FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=COMPRESS_LEVEL)
            count += 1
    return buffer.getvalue(), count


def _write(key: str, data: bytes, entries: int, out: Path) -> Artifact:
    target = out / key
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return Artifact(key, target, len(data), hashlib.sha256(data).hexdigest(), entries)


def build(root: Path = ROOT, out: Path | None = None) -> list[Artifact]:
    """Zip every function and layer of the tree at `root` into `out` (default root/build)."""
    out = out if out is not None else root / "build"
    for stale in ("functions", "layers"):
        shutil.rmtree(out / stale, ignore_errors=True)
    artifacts: list[Artifact] = []
    functions = sorted(p for p in (root / "functions").glob("*/app.py"))
    if not functions:
        raise ReleaseError(f"no functions/<name>/app.py under {root}")
    for app in functions:
        data, count = zip_bytes(source_files(app.parent))
        artifacts.append(_write(f"functions/{app.parent.name}.zip", data, count, out))
    for layer in sorted(p for p in (root / "layers").iterdir() if (p / "python").is_dir()):
        entries = source_files(layer / "python", under="python")
        if not entries:
            raise ReleaseError(f"layer {layer} has no files under python/")
        data, count = zip_bytes(entries)
        artifacts.append(_write(f"layers/{layer.name}.zip", data, count, out))
    return artifacts


# =========================================================================================
# the template
# =========================================================================================


def decode_template(text: str) -> dict[str, Any]:
    """The template as CloudFormation reads it (cfn-lint's decoder: short tags included)."""
    template, matches = decode_str(text)
    if matches or not isinstance(template, dict):
        raise ReleaseError(f"template does not decode: {[str(m) for m in matches]}")
    return template


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, str) else value


def referenced_artifacts(template: Mapping[str, Any]) -> set[str]:
    """Keys under the ArtifactKeyPrefix that the template reads (functions/x.zip, ...)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if key == "Fn::Sub" and isinstance(value, str):
                    found.update(re.findall(r"\$\{ArtifactKeyPrefix\}([\w./-]+\.zip)", value))
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(template.get("Resources", {}))
    return found


def check_parameter(template: Mapping[str, Any], name: str, value: str) -> None:
    """Refuse a value the template's own constraints for `name` would refuse at deploy."""
    spec = template.get("Parameters", {}).get(name)
    if spec is None:
        raise ReleaseError(f"template.yaml has no parameter {name}")
    allowed = [str(v) for v in spec.get("AllowedValues", [])]
    if allowed and value not in allowed:
        raise ReleaseError(f"{name} {value!r} is not one of {', '.join(allowed)}")
    if "MinValue" in spec or "MaxValue" in spec:
        try:
            number = float(value)
        except ValueError:
            raise ReleaseError(f"{name} {value!r} is not a number") from None
        low, high = float(spec.get("MinValue", "-inf")), float(spec.get("MaxValue", "inf"))
        if not low <= number <= high:
            raise ReleaseError(
                f"{name} {value} is outside {spec.get('MinValue')}..{spec.get('MaxValue')}"
            )
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(str(pattern), value):
        raise ReleaseError(
            f"{name} {value!r} does not match the template's pattern {pattern}: "
            f"{spec.get('ConstraintDescription', '')}".rstrip(": ")
        )
    if len(value) > int(spec.get("MaxLength", 4096)) or len(value) < int(spec.get("MinLength", 0)):
        raise ReleaseError(
            f"{name} {value!r} is outside the template's length "
            f"{spec.get('MinLength', 0)}..{spec.get('MaxLength', 4096)}"
        )


def set_defaults(text: str, values: Mapping[str, str]) -> str:
    """The template text with the Default of each named parameter replaced.

    The edit is made in place on the value's exact span (comments and layout stay), then
    the result is decoded again and must equal the original with only those defaults
    changed.
    """
    template = decode_template(text)
    # YAML marks count lines by "\n" (a "\r\n" pair is one break), not by str.splitlines.
    offsets = [0]
    for line in text.split("\n"):
        offsets.append(offsets[-1] + len(line) + 1)
    spans = []
    for name, value in values.items():
        check_parameter(template, name, value)
        node = template["Parameters"][name].get("Default")
        if node is None or not hasattr(node, "start_mark"):
            raise ReleaseError(f"parameter {name} has no Default to set")
        start = offsets[node.start_mark.line] + node.start_mark.column
        end = offsets[node.end_mark.line] + node.end_mark.column
        spans.append((start, end, json.dumps(value)))
    for start, end, replacement in sorted(spans, reverse=True):
        text = text[:start] + replacement + text[end:]
    expected = _plain(template)
    for name, value in values.items():
        expected["Parameters"][name]["Default"] = value
    if _plain(decode_template(text)) != expected:
        raise ReleaseError("rewriting the parameter defaults changed more than the defaults")
    return text


def packaged_template(root: Path, bucket_prefix: str, key_prefix: str) -> str:
    text = (root / TEMPLATE_NAME).read_text(encoding="utf-8")
    return set_defaults(
        text, {"ArtifactBucketPrefix": bucket_prefix, "ArtifactKeyPrefix": key_prefix}
    )


def check_artifacts(template: Mapping[str, Any], artifacts: Sequence[Artifact]) -> None:
    missing = referenced_artifacts(template) - {a.key for a in artifacts}
    if missing:
        raise ReleaseError(
            f"template.yaml reads {', '.join(sorted(missing))} but the build has no such "
            "artifact (a functions/<name>/app.py or layers/<name>/python/ folder is missing)"
        )


def version(root: Path = ROOT) -> str:
    with (root / "pyproject.toml").open("rb") as handle:
        return str(tomllib.load(handle)["project"]["version"])


def default_key_prefix(root: Path = ROOT) -> str:
    return f"hubrelay/{version(root)}/"


# =========================================================================================
# buckets, Regions, URLs
# =========================================================================================


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


def bucket_name(bucket_prefix: str, region: str) -> str:
    return f"{bucket_prefix}-{region}"


def s3_url(bucket: str, region: str, key: str) -> str:
    """The Regional virtual-hosted HTTPS URL of an object (what CloudFormation reads)."""
    domain = S3_DOMAINS[partition_of(region)]
    return f"https://{bucket}.s3.{region}.{domain}/{quote(key)}"


def launch_link(region: str, bucket_prefix: str, key_prefix: str, stack_name: str) -> str:
    """The console's quick-create link for the template published in `region`'s bucket."""
    if not STACK_NAME_RE.fullmatch(stack_name):
        raise ReleaseError(f"stack name {stack_name!r}: letters, digits and '-', 1 to 128")
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


# =========================================================================================
# package and publish
# =========================================================================================


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
    root: Path, out: Path, template: Mapping[str, Any], bucket_prefix: str, key_prefix: str
) -> tuple[list[Artifact], str]:
    """Build, and write the packaged template; refuses bad prefixes before building."""
    check_parameter(template, "ArtifactBucketPrefix", bucket_prefix)
    check_parameter(template, "ArtifactKeyPrefix", key_prefix)
    artifacts = build(root, out)
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
) -> Upload:
    """Build, upload to `bucket`, and write build/packaged.yaml for that bucket's prefix."""
    out = out if out is not None else root / "build"
    key_prefix = default_key_prefix(root) if key_prefix is None else key_prefix
    located = bucket_region(aws.client("s3", region), bucket)
    if region and region != located:
        raise ReleaseError(f"bucket {bucket} is in {located}, not in the requested {region}")
    partition_of(located)
    template = decode_template((root / TEMPLATE_NAME).read_text(encoding="utf-8"))
    bucket_prefix = check_bucket(bucket, located, template)
    artifacts, text = _prepare(root, out, template, bucket_prefix, key_prefix)
    return upload(aws.client("s3", located), bucket, located, key_prefix, artifacts, text)


def publish(
    bucket_prefix: str,
    regions: Sequence[str],
    key_prefix: str | None = None,
    root: Path = ROOT,
    out: Path | None = None,
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
    template = decode_template((root / TEMPLATE_NAME).read_text(encoding="utf-8"))
    check_parameter(template, "ArtifactBucketPrefix", bucket_prefix)
    for region in regions:
        bucket = bucket_name(bucket_prefix, region)
        located = bucket_region(aws.client("s3", region), bucket)
        if located != region:
            raise ReleaseError(
                f"bucket {bucket} is in {located}, not in {region}: a stack in {region} reads "
                f"its code from {bucket}, and Lambda only reads code from its own Region"
            )
    artifacts, text = _prepare(root, out, template, bucket_prefix, key_prefix)
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


# =========================================================================================
# deploy
# =========================================================================================


def parse_params(text: str | Sequence[str]) -> dict[str, str]:
    """`K=V K2="a b"` (shell quoting) or a list of K=V items -> {K: V}."""
    try:
        items = shlex.split(text) if isinstance(text, str) else list(text)
    except ValueError as exc:  # an unclosed quote
        raise ReleaseError(f"parameters {text!r}: {exc}") from exc
    params: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ReleaseError(f"parameter {item!r} is not NAME=VALUE")
        params[name] = value
    return params


@dataclass(frozen=True)
class DeployPlan:
    """What deploying build/packaged.yaml means: the template's location and parameters."""

    stack_name: str
    region: str
    bucket: str
    template_key: str
    template_url: str
    bucket_prefix: str
    key_prefix: str
    overrides: Mapping[str, str]

    def parameters(self, kept: Iterable[str] = ()) -> list[dict[str, Any]]:
        """CloudFormation Parameters: the artifact location, the overrides, and `kept`.

        The artifact location always comes from the packaged template: that is how a new
        release reaches the functions. On an update, `kept` names the parameters whose
        previous value stays (UsePreviousValue); any other parameter takes the new
        template's default.
        """
        given = {
            "ArtifactBucketPrefix": self.bucket_prefix,
            "ArtifactKeyPrefix": self.key_prefix,
            **self.overrides,
        }
        out: list[dict[str, Any]] = [
            {"ParameterKey": k, "ParameterValue": v} for k, v in sorted(given.items())
        ]
        out += [
            {"ParameterKey": k, "UsePreviousValue": True} for k in sorted(kept) if k not in given
        ]
        return out

    def cli_command(self, packaged: Path) -> list[str]:
        """The equivalent `aws cloudformation deploy` command."""
        overrides = [
            f"{k}={v}"
            for k, v in sorted(
                {
                    "ArtifactBucketPrefix": self.bucket_prefix,
                    "ArtifactKeyPrefix": self.key_prefix,
                    **self.overrides,
                }.items()
            )
        ]
        return [
            "aws", "cloudformation", "deploy",
            "--region", self.region,
            "--stack-name", self.stack_name,
            "--template-file", str(packaged),
            # The template is over the 51,200-byte inline limit: the CLI uploads it here.
            "--s3-bucket", self.bucket,
            "--s3-prefix", f"{self.key_prefix}cli-templates",
            "--capabilities", "CAPABILITY_IAM",
            "--no-fail-on-empty-changeset",
            "--parameter-overrides", *overrides,
        ]  # fmt: skip


def plan_deploy(
    stack_name: str,
    bucket: str,
    overrides: Mapping[str, str],
    region: str | None,
    packaged: Path,
) -> DeployPlan:
    if not STACK_NAME_RE.fullmatch(stack_name):
        raise ReleaseError(f"stack name {stack_name!r}: letters, digits and '-', 1 to 128")
    if not packaged.is_file():
        raise ReleaseError(f"{packaged} does not exist: run `make package BUCKET={bucket}` first")
    template = decode_template(packaged.read_text(encoding="utf-8"))
    unknown = set(overrides) - set(template.get("Parameters", {}))
    if unknown:
        raise ReleaseError(f"the template has no parameter(s) {', '.join(sorted(unknown))}")
    for name, value in overrides.items():
        check_parameter(template, name, value)
    defaults = {n: str(template["Parameters"][n].get("Default", "")) for n in ARTIFACT_PARAMETERS}
    located = bucket_region(aws.client("s3", region), bucket)
    if region and region != located:
        raise ReleaseError(
            f"bucket {bucket} is in {located}: the stack must be deployed there, not in {region}"
        )
    bucket_prefix = overrides.get("ArtifactBucketPrefix", defaults["ArtifactBucketPrefix"])
    if bucket != bucket_name(bucket_prefix, located):
        raise ReleaseError(
            f"{packaged} reads code from {bucket_name(bucket_prefix, located)} in {located}, "
            f"not from {bucket}: package for this bucket first (make package BUCKET={bucket})"
        )
    key_prefix = overrides.get("ArtifactKeyPrefix", defaults["ArtifactKeyPrefix"])
    key = key_prefix + TEMPLATE_NAME
    return DeployPlan(
        stack_name,
        located,
        bucket,
        key,
        s3_url(bucket, located, key),
        bucket_prefix,
        key_prefix,
        {k: v for k, v in overrides.items() if k not in ARTIFACT_PARAMETERS},
    )


def _stack(cfn: Any, stack_name: str) -> dict[str, Any] | None:
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    return dict(stacks[0]) if stacks else None


def _customised(cfn: Any, stack: Mapping[str, Any], declared: Mapping[str, Any]) -> list[str]:
    """Parameters of the deployed stack set away from its template's default.

    Those keep their value through an upgrade; a parameter left at its default follows
    the new release's default (a newer Powertools layer, say), as a fresh install would.
    """
    try:
        body = cfn.get_template(StackName=stack["StackName"])["TemplateBody"]
        old = body if isinstance(body, Mapping) else decode_template(str(body))
        old_defaults = {k: str(v.get("Default")) for k, v in old.get("Parameters", {}).items()}
    except (ClientError, ReleaseError):
        old_defaults = {}  # unknown: keep every previous value
    return [
        str(p["ParameterKey"])
        for p in stack.get("Parameters", [])
        if p["ParameterKey"] in declared
        and str(p.get("ParameterValue")) != old_defaults.get(p["ParameterKey"])
    ]


def _failures(cfn: Any, stack_name: str) -> str:
    try:
        events = cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
    except ClientError:
        return ""
    reasons = [
        f"{e.get('LogicalResourceId')} {e.get('ResourceStatus')}: {e.get('ResourceStatusReason')}"
        for e in events
        if str(e.get("ResourceStatus", "")).endswith("FAILED")
    ]
    return "\n  ".join(reasons[:10])


def deploy(
    plan: DeployPlan, packaged: Path, *, cfn: Any = None, delay: float = 15, wait: bool = True
) -> dict[str, str]:
    """Create or update the stack with boto3; the stack's outputs once it is complete."""
    s3 = aws.client("s3", plan.region)
    data = packaged.read_bytes()
    s3.put_object(
        Bucket=plan.bucket,
        Key=plan.template_key,
        Body=data,
        ContentType="application/x-yaml",
        Metadata={"sha256": hashlib.sha256(data).hexdigest()},
    )
    cfn = cfn if cfn is not None else aws.client("cloudformation", plan.region)
    existing = _stack(cfn, plan.stack_name)
    status = str(existing.get("StackStatus", "")) if existing else ""
    if status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED", "REVIEW_IN_PROGRESS"):
        raise ReleaseError(
            f"stack {plan.stack_name} is {status} and cannot be updated: delete it "
            f"(aws cloudformation delete-stack --stack-name {plan.stack_name} --region "
            f"{plan.region}) and deploy again"
        )
    request: dict[str, Any] = {
        "StackName": plan.stack_name,
        "TemplateURL": plan.template_url,
        "Capabilities": ["CAPABILITY_IAM"],
    }
    if existing is None:
        request["Parameters"] = plan.parameters()
        cfn.create_stack(**request)
        waiter_name = "stack_create_complete"
    else:
        declared = decode_template(data.decode()).get("Parameters", {})
        request["Parameters"] = plan.parameters(_customised(cfn, existing, declared))
        try:
            cfn.update_stack(**request)
        except ClientError as exc:
            if "No updates are to be performed" not in str(exc):
                raise
            print(f"stack {plan.stack_name}: no changes")
            return _outputs(cfn, plan.stack_name)
        waiter_name = "stack_update_complete"
    if wait:
        attempts = max(1, math.ceil(3600 / max(delay, 1)))
        try:
            cfn.get_waiter(waiter_name).wait(
                StackName=plan.stack_name, WaiterConfig={"Delay": delay, "MaxAttempts": attempts}
            )
        except WaiterError as exc:
            raise ReleaseError(
                f"stack {plan.stack_name} did not complete: {exc}\n  "
                + _failures(cfn, plan.stack_name)
            ) from exc
    return _outputs(cfn, plan.stack_name)


def _outputs(cfn: Any, stack_name: str) -> dict[str, str]:
    stack = _stack(cfn, stack_name) or {}
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


# =========================================================================================
# command line
# =========================================================================================


def _print_build(artifacts: Sequence[Artifact]) -> None:
    for artifact in artifacts:
        print(artifact.line())


def _print_upload(result: Upload) -> None:
    print(f"s3://{result.bucket}/ ({result.region}): {len(result.keys)} objects")
    for key in result.keys:
        print(f"  {key}")
    for key in result.replaced:
        print(
            f"  WARNING: {key} held different bytes: stacks already deployed from this "
            "prefix keep their old code; publish each release under a new PREFIX",
            file=sys.stderr,
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hubrelay-release", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="build folder")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="zip the functions and layers into build/")

    pkg = sub.add_parser("package", help="upload to one bucket, write build/packaged.yaml")
    pkg.add_argument("--bucket", required=True, help="artifact bucket, named <prefix>-<region>")
    pkg.add_argument("--prefix", help="key prefix ending in / (default hubrelay/<version>/)")
    pkg.add_argument("--region", help="expected Region of the bucket")

    dep = sub.add_parser("deploy", help="create or update a stack from build/packaged.yaml")
    dep.add_argument("--stack", required=True)
    dep.add_argument("--bucket", required=True, help="the bucket given to package")
    dep.add_argument("--params", default="", help='parameter overrides: "K=V K2=V2"')
    dep.add_argument("--region", help="expected Region (the bucket's)")
    dep.add_argument("--cli", action="store_true", help="deploy with `aws cloudformation deploy`")

    pub = sub.add_parser("publish", help="one bucket per Region, with quick-create links")
    pub.add_argument("--bucket-prefix", required=True, help="buckets are <prefix>-<region>")
    pub.add_argument("--regions", required=True, help='"us-east-1 eu-west-1" (spaces or commas)')
    pub.add_argument("--prefix", help="key prefix ending in / (default hubrelay/<version>/)")
    pub.add_argument("--stack-name", default="hubrelay", help="stack name the links suggest")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out: Path = args.out
    try:
        if args.command == "build":
            _print_build(build(ROOT, out))
        elif args.command == "package":
            result = package(args.bucket, args.prefix, args.region, ROOT, out)
            _print_upload(result)
            print(f"{_shown(out / PACKAGED_NAME)} written; template: {result.template_url}")
        elif args.command == "deploy":
            packaged = out / PACKAGED_NAME
            plan = plan_deploy(
                args.stack, args.bucket, parse_params(args.params), args.region, packaged
            )
            if args.cli:
                if shutil.which("aws") is None:
                    raise ReleaseError("the AWS CLI is not installed; deploy without --cli")
                return subprocess.call(plan.cli_command(packaged))
            for name, value in deploy(plan, packaged).items():
                print(f"{name}: {value}")
        else:
            regions = [r for r in re.split(r"[\s,]+", args.regions) if r]
            for result in publish(args.bucket_prefix, regions, args.prefix, ROOT, out):
                _print_upload(result)
            key_prefix = args.prefix if args.prefix is not None else default_key_prefix(ROOT)
            print("\nLaunch stack (quick-create) links:")
            for region in dict.fromkeys(regions):
                link = launch_link(region, args.bucket_prefix, key_prefix, args.stack_name)
                print(f"{region}: {link}")
    except ReleaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
