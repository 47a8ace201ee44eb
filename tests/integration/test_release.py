"""The release tooling (release/hubrelay_release/): build, package, deploy, publish.

Builds run on a copy of the source tree (so junk can be planted and mtimes changed without
touching the checkout). S3 and CloudFormation are moto's (`mock_aws`, and one run of the
command line against a ThreadedMotoServer through AWS_ENDPOINT_URL). moto's CloudFormation
creates the packaged stack (it skips the types it lacks: queue and topic policies,
EventInvokeConfig, Security Hub insights and subscriptions) but cannot update it (its
Lambda update trips over the layer reference), so the update path is checked on the
request itself with botocore's Stubber, which validates it against the API model.
"""

from __future__ import annotations

import base64
import datetime
import difflib
import functools
import hashlib
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
import pytest
from botocore.stub import Stubber
from cfnlint.api import lint_file
from cfnlint.config import ManualArgs
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws
from moto.server import ThreadedMotoServer
from moto.ssm.models import Parameter, ssm_backends

import hubrelay_release as release
from hubrelay import aws
from hubrelay_release import Compiler, ReleaseError
from hubrelay_release.bytecode import missing_compiler_notice, publish_refusal

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("functions", "layers", "template.yaml", "pyproject.toml")
ACCOUNT = "123456789012"  # moto's default account
PREFIX = "acme-hubrelay"
JUNK = (
    "__pycache__/app.cpython-311.pyc",
    "stale.pyc",
    "tests/test_app.py",
    "test_local.py",
    "local_test.py",
    "conftest.py",
    ".DS_Store",
    ".env",
    ".venv/lib/site.py",
    ".mypy_cache/3.11/cache.json",
    "scratch.egg-info/PKG-INFO",
    "notes.txt~",
)


def version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return str(tomllib.load(handle)["project"]["version"])


def copy_tree(target: Path) -> Path:
    target.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore)
        else:
            shutil.copy2(source, target / name)
    return target


def files_of(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def zip_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return copy_tree(tmp_path / "src")


@pytest.fixture
def moto() -> Iterator[None]:
    with mock_aws():
        aws.reset()
        yield
    aws.reset()


def make_bucket(name: str, region: str) -> None:
    s3 = boto3.client("s3", region_name=region)
    if region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})


def objects(bucket: str, region: str) -> dict[str, bytes]:
    s3 = boto3.client("s3", region_name=region)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


# =========================================================================================
# build
# =========================================================================================


@pytest.mark.slow  # three full builds
def test_builds_are_byte_identical_whatever_the_mtimes_modes_and_paths(tmp_path: Path) -> None:
    # Given two copies of the sources, the second with new mtimes and other permissions
    first = copy_tree(tmp_path / "one")
    second = copy_tree(tmp_path / "two")
    later = datetime.datetime(2031, 5, 6, 7, 8, 9).timestamp()
    for path in second.rglob("*"):
        os.utime(path, (later, later))
        if path.is_file():
            path.chmod(0o600)
    # When both are built, and the first twice
    a = release.build(first, tmp_path / "out-a")
    b = release.build(first, tmp_path / "out-b")
    c = release.build(second, tmp_path / "out-c")
    # Then every artifact has the same bytes
    assert [x.key for x in a] == [x.key for x in b] == [x.key for x in c]
    for x, y, z in zip(a, b, c, strict=True):
        assert x.path.read_bytes() == y.path.read_bytes() == z.path.read_bytes(), x.key
        assert x.sha256 == hashlib.sha256(x.path.read_bytes()).hexdigest() == z.sha256
        assert x.size == x.path.stat().st_size


def test_zips_hold_exactly_the_shipped_sources_and_no_junk(tree: Path, tmp_path: Path) -> None:
    # Given the pristine sources, then junk planted in every function and in the layer
    expected_functions = {
        d.name: files_of(d) for d in (tree / "functions").iterdir() if (d / "app.py").is_file()
    }
    expected_layer = {
        f"python/{k}": v for k, v in files_of(tree / "layers/hubrelay/python").items()
    }
    for folder in [*(tree / "functions").iterdir(), tree / "layers/hubrelay/python/hubrelay"]:
        for junk in JUNK:
            (folder / junk).parent.mkdir(parents=True, exist_ok=True)
            (folder / junk).write_text("junk")
    # When built
    artifacts = {a.key: a for a in release.build(tree, tmp_path / "out")}
    # Then each zip holds exactly the pristine files, byte for byte
    assert set(artifacts) == {f"functions/{n}.zip" for n in expected_functions} | {
        "layers/hubrelay.zip"
    }
    for name, files in expected_functions.items():
        assert zip_members(artifacts[f"functions/{name}.zip"].path) == files
        assert "app.py" in files
    assert zip_members(artifacts["layers/hubrelay.zip"].path) == expected_layer


def test_zip_entries_are_normalised(tree: Path, tmp_path: Path) -> None:
    for artifact in release.build(tree, tmp_path / "out"):
        with zipfile.ZipFile(artifact.path) as archive:
            infos = archive.infolist()
            assert archive.testzip() is None
        names = [i.filename for i in infos]
        assert names == sorted(names), artifact.key
        assert artifact.entries == len(infos)
        for info in infos:
            assert not info.is_dir()
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.external_attr >> 16 == 0o100644
            assert info.compress_type == zipfile.ZIP_DEFLATED


def test_layer_zip_has_the_package_under_python_and_nothing_from_the_runtime(
    tree: Path, tmp_path: Path
) -> None:
    artifacts = {a.key: a for a in release.build(tree, tmp_path / "out")}
    names = set(zip_members(artifacts["layers/hubrelay.zip"].path))
    assert "python/hubrelay/__init__.py" in names
    assert "python/hubrelay/mapping/vendor_default.json" in names  # package data ships too
    assert "python/hubrelay/asff_shapes.json" in names  # the ASFF validator's shapes
    assert all(n.startswith("python/hubrelay/") for n in names)
    for artifact in artifacts.values():
        tops = {n.split("/")[0] for n in zip_members(artifact.path)}
        assert not tops & {"boto3", "botocore", "aws_lambda_powertools"}


@pytest.mark.slow  # a subprocess of its own
def test_layer_zip_alone_provides_a_working_hubrelay(tree: Path, tmp_path: Path) -> None:
    # Given the layer zip extracted as Lambda would (/opt/python on the path)
    artifacts = {a.key: a for a in release.build(tree, tmp_path / "out")}
    opt = tmp_path / "opt"
    with zipfile.ZipFile(artifacts["layers/hubrelay.zip"].path) as archive:
        archive.extractall(opt)
    # When a fresh interpreter imports hubrelay from it and reads the packaged mapping
    code = (
        "import hubrelay, hubrelay.importer, hubrelay.collector, hubrelay.responder\n"
        "from hubrelay.sources.vendor_api import VendorMapping\n"
        "from hubrelay import asff\n"
        "VendorMapping.load()\n"
        "asff.finding_shape()\n"
        "print(hubrelay.__file__)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(opt / "python")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    # Then it works, and the code came from the zip, not from the checkout
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(opt)


def test_a_bundled_boto3_is_refused(tree: Path, tmp_path: Path) -> None:
    (tree / "functions/importer/boto3").mkdir()
    (tree / "functions/importer/boto3/__init__.py").write_text("")
    with pytest.raises(ReleaseError, match="boto3"):
        release.build(tree, tmp_path / "out")


def test_the_build_has_every_artifact_the_template_reads(tmp_path: Path) -> None:
    template = release.decode_template((ROOT / "template.yaml").read_text())
    wanted = release.referenced_artifacts(template)
    assert "layers/hubrelay.zip" in wanted
    assert any(k.startswith("functions/") for k in wanted)
    built = release.build(ROOT, tmp_path / "out")
    assert wanted <= {a.key for a in built}
    # A build without one of them is refused before anything is uploaded
    missing = [a for a in built if a.key != sorted(wanted)[0]]
    with pytest.raises(ReleaseError, match=sorted(wanted)[0]):
        release.check_artifacts(template, missing)


# =========================================================================================
# the packaged template
# =========================================================================================


def test_packaged_template_changes_only_the_two_artifact_defaults(tmp_path: Path) -> None:
    original = (ROOT / "template.yaml").read_text()
    packaged = release.packaged_template(ROOT, "acme-hubrelay", "releases/2.0.0/")
    # Only two lines differ, and they are the two defaults
    changed = [
        line
        for line in difflib.unified_diff(original.splitlines(), packaged.splitlines(), n=0)
        if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert len(changed) == 4, changed
    after = release.decode_template(packaged)
    assert after["Parameters"]["ArtifactBucketPrefix"]["Default"] == "acme-hubrelay"
    assert after["Parameters"]["ArtifactKeyPrefix"]["Default"] == "releases/2.0.0/"
    # And it is as clean for cfn-lint as template.yaml is
    path = tmp_path / "packaged.yaml"
    path.write_text(packaged)
    matches = lint_file(path, config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    assert not matches, "\n".join(f"{m.rule.id} {m.message}" for m in matches)


@pytest.mark.parametrize(
    ("bucket_prefix", "key_prefix"),
    [
        ("acme-hubrelay", "hubrelay/1.0.0"),  # no trailing slash: keys would run together
        ("acme-hubrelay", "/hubrelay/1.0.0/"),
        ("Acme", "hubrelay/1.0.0/"),  # bucket names are lowercase
        ("a" * 48, "hubrelay/1.0.0/"),  # <prefix>-<region> would pass 63 characters
    ],
)
def test_packaging_refuses_what_the_template_would_refuse(
    bucket_prefix: str, key_prefix: str
) -> None:
    with pytest.raises(ReleaseError, match="Artifact"):
        release.packaged_template(ROOT, bucket_prefix, key_prefix)


@functools.cache
def artifact_specs() -> dict[str, Any]:
    parameters = release.decode_template((ROOT / "template.yaml").read_text())["Parameters"]
    return {name: parameters[name] for name in release.ARTIFACT_PARAMETERS}


def small_template() -> str:
    """A template with the real artifact parameters, in the styles YAML allows."""
    specs = artifact_specs()
    return (
        "# leading comment\n"
        "Parameters:\n"
        "  ArtifactBucketPrefix:   # trailing comment\n"
        "    Type: String\n"
        "    Default: hubrelay-artifacts\n"
        f"    AllowedPattern: '{specs['ArtifactBucketPrefix']['AllowedPattern']}'\n"
        f"    MaxLength: {specs['ArtifactBucketPrefix']['MaxLength']}\n"
        "  ArtifactKeyPrefix:\n"
        "    Type: String\n"
        '    Default: "hubrelay/0.1.0/"\n'
        f"    AllowedPattern: '{specs['ArtifactKeyPrefix']['AllowedPattern']}'\n"
        f"    MaxLength: {specs['ArtifactKeyPrefix']['MaxLength']}\n"
        "Resources:\n"
        "  Topic:\n"
        "    Type: AWS::SNS::Topic\n"
    )


@settings(max_examples=40, deadline=None)
@given(
    bucket_prefix=st.from_regex(r"\A[a-z0-9][a-z0-9-]{1,45}[a-z0-9]\Z"),
    key_prefix=st.from_regex(r"\A([A-Za-z0-9][A-Za-z0-9._+-]{0,20}/){0,4}\Z"),
)
def test_any_prefix_the_template_accepts_is_written_exactly(
    bucket_prefix: str, key_prefix: str
) -> None:
    text = release.set_defaults(
        small_template(), {"ArtifactBucketPrefix": bucket_prefix, "ArtifactKeyPrefix": key_prefix}
    )
    parameters = release.decode_template(text)["Parameters"]
    assert parameters["ArtifactBucketPrefix"]["Default"] == bucket_prefix
    assert parameters["ArtifactKeyPrefix"]["Default"] == key_prefix
    assert text.startswith("# leading comment\n")
    assert "# trailing comment" in text


@given(
    st.dictionaries(
        st.from_regex(r"\A[A-Za-z][A-Za-z0-9]{0,30}\Z"),
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")),
        max_size=6,
    )
)
def test_params_survive_shell_quoting(params: dict[str, str]) -> None:
    text = " ".join(shlex.quote(f"{name}={value}") for name, value in params.items())
    assert release.parse_params(text) == params


# =========================================================================================
# package
# =========================================================================================


def test_package_uploads_the_release_layout(moto: None, tree: Path, tmp_path: Path) -> None:
    bucket = f"{PREFIX}-eu-west-1"
    make_bucket(bucket, "eu-west-1")
    out = tmp_path / "out"
    result = release.package(bucket, root=tree, out=out)
    key_prefix = f"hubrelay/{version()}/"
    stored = objects(bucket, "eu-west-1")
    built = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*.zip")}
    packaged = (out / "packaged.yaml").read_bytes()
    assert stored == {key_prefix + k: v for k, v in built.items()} | {
        f"{key_prefix}template.yaml": packaged
    }
    assert set(result.keys) == set(stored)
    defaults = release.decode_template(packaged.decode())["Parameters"]
    assert defaults["ArtifactBucketPrefix"]["Default"] == PREFIX
    assert defaults["ArtifactKeyPrefix"]["Default"] == key_prefix
    assert result.template_url == (
        f"https://{bucket}.s3.eu-west-1.amazonaws.com/{key_prefix}template.yaml"
    )
    assert result.replaced == ()


def test_uploading_other_bytes_under_the_same_prefix_is_reported(
    moto: None, tree: Path, tmp_path: Path
) -> None:
    bucket = f"{PREFIX}-us-east-1"
    make_bucket(bucket, "us-east-1")
    s3 = boto3.client("s3", region_name="us-east-1")
    artifacts = release.build(tree, tmp_path / "out")
    assert release.upload(s3, bucket, "us-east-1", "rel/1/", artifacts, "t").replaced == ()
    # The same bytes again: nothing to report
    assert release.upload(s3, bucket, "us-east-1", "rel/1/", artifacts, "t").replaced == ()
    # A changed function under the same prefix: stacks deployed from it would not see it
    with (tree / "functions/importer/app.py").open("a") as handle:
        handle.write("\n# changed\n")
    changed = release.build(tree, tmp_path / "out")
    again = release.upload(s3, bucket, "us-east-1", "rel/1/", changed, "t")
    assert again.replaced == ("rel/1/functions/importer.zip",)


@pytest.mark.parametrize(
    ("bucket", "located", "message"),
    [
        ("acme-artifacts", "eu-west-1", "<prefix>-eu-west-1"),
        ("acme-hubrelay-us-east-1", "eu-west-1", "acme-hubrelay-us-east-1-eu-west-1"),
    ],
)
def test_package_refuses_a_bucket_not_named_for_its_region(
    moto: None, tree: Path, tmp_path: Path, bucket: str, located: str, message: str
) -> None:
    make_bucket(bucket, located)
    with pytest.raises(ReleaseError, match="ArtifactBucketPrefix") as raised:
        release.package(bucket, root=tree, out=tmp_path / "out")
    assert message in str(raised.value)
    assert objects(bucket, located) == {}


def test_package_explains_a_missing_bucket(moto: None, tree: Path, tmp_path: Path) -> None:
    with pytest.raises(ReleaseError, match="does not exist"):
        release.package(f"{PREFIX}-eu-west-1", root=tree, out=tmp_path / "out")


# =========================================================================================
# publish and the quick-create links
# =========================================================================================


def parse_link(link: str) -> tuple[str, str, dict[str, str]]:
    """(console host, region, fragment parameters) of a quick-create link."""
    parts = urlsplit(link)
    assert parts.scheme == "https"
    assert parts.path == "/cloudformation/home"
    path, _, query = parts.fragment.partition("?")
    assert path == "/stacks/create/review"
    params = {k: v[0] for k, v in parse_qs(query, strict_parsing=True).items()}
    return parts.netloc, parse_qs(parts.query)["region"][0], params


def test_publish_puts_the_release_in_each_regional_bucket_behind_its_link(
    moto: None, tree: Path, tmp_path: Path
) -> None:
    # Given one bucket per Region, each named <prefix>-<region>
    regions = ["us-east-1", "eu-west-1", "ap-southeast-2"]
    for region in regions:
        make_bucket(f"{PREFIX}-{region}", region)
    # When the release is published to all of them
    out = tmp_path / "out"
    uploads = release.publish(PREFIX, regions, "hubrelay/9.9.9/", root=tree, out=out)
    # Then each holds the same artifacts and the packaged template
    assert [u.region for u in uploads] == regions
    contents = [objects(f"{PREFIX}-{r}", r) for r in regions]
    assert contents[0] == contents[1] == contents[2]
    assert contents[0]["hubrelay/9.9.9/template.yaml"] == (out / "packaged.yaml").read_bytes()
    assert {k.removeprefix("hubrelay/9.9.9/") for k in contents[0]} == {
        "template.yaml",
        *(p.relative_to(out).as_posix() for p in out.rglob("*.zip")),
    }
    # And each Region's quick-create link opens the template in that Region's bucket
    for region, upload in zip(regions, uploads, strict=True):
        host, link_region, params = parse_link(
            release.launch_link(region, PREFIX, "hubrelay/9.9.9/", "hubrelay")
        )
        assert (host, link_region) == ("console.aws.amazon.com", region)
        assert params["stackName"] == "hubrelay"
        assert params["param_ArtifactBucketPrefix"] == PREFIX
        assert params["param_ArtifactKeyPrefix"] == "hubrelay/9.9.9/"
        assert params["templateURL"] == upload.template_url
        url = urlsplit(params["templateURL"])
        assert url.scheme == "https"
        assert url.netloc == f"{PREFIX}-{region}.s3.{region}.amazonaws.com"
        key = unquote(url.path.lstrip("/"))
        assert contents[regions.index(region)][key] == (out / "packaged.yaml").read_bytes()


def test_publish_checks_every_bucket_before_uploading(
    moto: None, tree: Path, tmp_path: Path
) -> None:
    make_bucket(f"{PREFIX}-us-east-1", "us-east-1")
    make_bucket(f"{PREFIX}-eu-west-1", "eu-central-1")  # named for one Region, lives in another
    with pytest.raises(ReleaseError, match="eu-central-1"):
        release.publish(PREFIX, ["us-east-1", "eu-west-1"], root=tree, out=tmp_path / "out")
    assert objects(f"{PREFIX}-us-east-1", "us-east-1") == {}


@pytest.mark.parametrize(
    ("region", "console", "s3_host"),
    [
        ("cn-north-1", "console.amazonaws.cn", "s3.cn-north-1.amazonaws.com.cn"),
        ("us-gov-west-1", "console.amazonaws-us-gov.com", "s3.us-gov-west-1.amazonaws.com"),
    ],
)
def test_links_in_china_and_govcloud_use_their_own_domains(
    region: str, console: str, s3_host: str
) -> None:
    host, link_region, params = parse_link(release.launch_link(region, PREFIX, "r/1/", "hub"))
    assert (host, link_region) == (console, region)
    assert urlsplit(params["templateURL"]).netloc == f"{PREFIX}-{region}.{s3_host}"


def test_partitions_without_a_console_link_or_mixed_partitions_are_refused(
    tree: Path, tmp_path: Path
) -> None:
    with pytest.raises(ReleaseError, match="aws-iso"):
        release.launch_link("us-iso-east-1", PREFIX, "r/1/", "hub")
    with pytest.raises(ReleaseError, match="partition"):
        release.publish(PREFIX, ["us-east-1", "cn-north-1"], root=tree, out=tmp_path / "out")
    with pytest.raises(ReleaseError, match="Region name"):
        release.launch_link("Europe", PREFIX, "r/1/", "hub")


@pytest.mark.slow  # a subprocess of its own
def test_publish_command_against_a_moto_server(tmp_path: Path) -> None:
    # Given a moto server reached only through AWS_ENDPOINT_URL, with two regional buckets
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for region in ("us-east-1", "eu-west-1"):
            s3 = boto3.client("s3", region_name=region, endpoint_url=endpoint)
            config = {} if region == "us-east-1" else {"LocationConstraint": region}
            kwargs: dict[str, Any] = {"CreateBucketConfiguration": config} if config else {}
            s3.create_bucket(Bucket=f"{PREFIX}-{region}", **kwargs)
        # When `make publish` runs (its command line)
        done = subprocess.run(
            [sys.executable, "-m", "hubrelay_release", "--out", str(tmp_path / "out"),
             "publish", "--bucket-prefix", PREFIX, "--regions", "us-east-1, eu-west-1",
             "--allow-without-bytecode"],  # the tests' machine may have no Python 3.13
            env={**os.environ, "AWS_ENDPOINT_URL": endpoint},
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        # Then each bucket holds the template each printed link points to
        assert done.returncode == 0, done.stderr
        links = [
            line.split(": ", 1)[1] for line in done.stdout.splitlines() if "://console" in line
        ]
        assert len(links) == 2
        for link in links:
            _, region, params = parse_link(link)
            url = urlsplit(params["templateURL"])
            bucket = url.netloc.split(".s3.")[0]
            assert bucket == f"{PREFIX}-{region}"
            s3 = boto3.client("s3", region_name=region, endpoint_url=endpoint)
            body = s3.get_object(Bucket=bucket, Key=unquote(url.path.lstrip("/")))["Body"].read()
            assert body == (tmp_path / "out/packaged.yaml").read_bytes()
    finally:
        server.stop()


# =========================================================================================
# bytecode
# =========================================================================================

# Bytecode of the interpreter running the tests: the same mechanism as the runtime's
# (python3.13), which the tests' machine may not have.
HERE = Compiler.of(sys.executable)
LOADED_FROM_SOURCE = (
    "import sys\n"
    "from importlib.machinery import SourceFileLoader\n"
    "compiled = []\n"
    "to_code = SourceFileLoader.source_to_code\n"
    "def recorded(self, data, path, *rest, **kwargs):\n"
    "    compiled.append(path)\n"
    "    return to_code(self, data, path, *rest, **kwargs)\n"
    "SourceFileLoader.source_to_code = recorded\n"
    "sys.path[:0] = sys.argv[1:3]\n"
    "import app, hubrelay.collector, hubrelay.importer, hubrelay.sources.scanner_reports\n"
    "print('\\n'.join(p for p in compiled if p.startswith(tuple(sys.argv[1:3]))))\n"
)


def pyc_header(data: bytes) -> tuple[int, bytes]:
    """The flags and source hash of a hash-based .pyc (PEP 552)."""
    return int.from_bytes(data[4:8], "little"), data[8:16]


def extracted(artifacts: dict[str, release.Artifact], into: Path) -> tuple[Path, Path]:
    """The collector's zip at into/task and the layer's at into/opt, read-only as in Lambda."""
    for key, folder in (("functions/collector.zip", "task"), ("layers/hubrelay.zip", "opt")):
        with zipfile.ZipFile(artifacts[key].path) as archive:
            archive.extractall(into / folder)
    for path in into.rglob("*"):
        path.chmod(0o555 if path.is_dir() else 0o444)
    return into / "task", into / "opt/python"


def test_zips_with_bytecode_hold_a_hash_checked_pyc_of_every_module(
    tree: Path, tmp_path: Path
) -> None:
    # Given the same tree built without and with the tests' interpreter as the compiler
    assert HERE is not None
    plain_zips = {a.key: zip_members(a.path) for a in release.build(tree, tmp_path / "a")}
    compiled = {a.key: a for a in release.build(tree, tmp_path / "b", HERE)}
    assert set(compiled) == set(plain_zips)
    for key, artifact in compiled.items():
        members = zip_members(artifact.path)
        sources = {n: d for n, d in members.items() if not n.endswith(".pyc")}
        pycs = {n: d for n, d in members.items() if n.endswith(".pyc")}
        # Then the sources are those of the plain build, and each module has its bytecode
        assert sources == plain_zips[key], key
        modules = [PurePosixPath(n) for n in sources if n.endswith(".py")]
        expected = {
            str(m.parent / "__pycache__" / f"{m.stem}.{HERE.cache_tag}.pyc") for m in modules
        }
        assert set(pycs) == expected, key
        for module in modules:
            data = pycs[str(module.parent / "__pycache__" / f"{module.stem}.{HERE.cache_tag}.pyc")]
            flags, source_hash = pyc_header(data)
            assert data[:4] == importlib.util.MAGIC_NUMBER
            assert flags == 0b11, module  # hash-based, checked
            assert source_hash == importlib.util.source_hash(sources[str(module)]), module
        assert artifact.entries == len(members)
        assert artifact.bytecode == HERE.release
        assert f"bytecode of Python {HERE.release}" in artifact.line()


@pytest.mark.slow  # three builds with their compiler's subprocess
def test_bytecode_is_the_same_bytes_whatever_the_path_and_the_callers_optimisation_level(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two copies of the sources, one built with the caller's optimisation level set
    # (which would drop asserts and docstrings from the bytecode if it reached it)
    assert HERE is not None
    first = copy_tree(tmp_path / "one")
    second = copy_tree(tmp_path / "elsewhere/two")
    a = release.build(first, tmp_path / "out-a", HERE)
    monkeypatch.setenv("PYTHONOPTIMIZE", "2")
    b = release.build(second, tmp_path / "out-b", HERE)
    # Then every zip is the same bytes
    for x, y in zip(a, b, strict=True):
        assert x.path.read_bytes() == y.path.read_bytes(), x.key


@pytest.mark.slow  # subprocesses of their own
def test_a_function_imports_from_the_zips_bytecode_and_compiles_only_an_edited_module(
    tree: Path, tmp_path: Path
) -> None:
    # Given the collector's zip and the layer's, with bytecode, extracted read-only
    assert HERE is not None
    artifacts = {a.key: a for a in release.build(tree, tmp_path / "out", HERE)}
    task, opt = extracted(artifacts, tmp_path / "lambda")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "AWS_DEFAULT_REGION": "us-east-1"}

    def compiled_from_source(task: Path, opt: Path) -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", LOADED_FROM_SOURCE, str(task), str(opt)],
            env=env, capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    # When a fresh interpreter imports the handler and hubrelay's modules from them
    # Then none is compiled from source
    assert compiled_from_source(task, opt) == []
    # And when one module's source differs from what its bytecode was compiled from
    edited = tmp_path / "edited"
    shutil.copytree(tmp_path / "lambda", edited)
    module = edited / "opt/python/hubrelay/tracking.py"
    module.chmod(0o644)
    module.write_bytes(module.read_bytes() + b"\n# edited in the console\n")
    # Then that module, and only it, is compiled from its source
    assert compiled_from_source(edited / "task", edited / "opt/python") == [str(module)]


def test_a_module_that_does_not_compile_is_named_with_its_line_and_nothing_is_built(
    tmp_path: Path,
) -> None:
    # Given a layer module with a syntax error on its last line
    assert HERE is not None
    tree = copy_tree(tmp_path / "tree")
    module = tree / "layers/hubrelay/python/hubrelay/tracking.py"
    lines = module.read_text().count("\n")
    module.write_text(module.read_text() + "def broken(:\n")
    # When the zips are built with bytecode
    with pytest.raises(ReleaseError) as refused:
        release.build(tree, tmp_path / "out", HERE)
    # Then the error names the checkout's file, the line and the reason, in one line
    message = str(refused.value)
    assert f"{module}, line {lines + 1}: SyntaxError: " in message
    assert "\n" not in message
    assert not (tmp_path / "out" / "layers" / "hubrelay.zip").exists()


def test_the_runtime_version_is_the_templates(tmp_path: Path) -> None:
    template = release.decode_template((ROOT / "template.yaml").read_text())
    runtimes = {
        r["Properties"]["Runtime"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    }
    assert runtimes == {f"python{release.runtime_version(template)}"}
    # A template whose functions run two Pythons cannot have one bytecode for all
    mixed = {
        "Resources": {
            name: {"Type": "AWS::Lambda::Function", "Properties": {"Runtime": runtime}}
            for name, runtime in (("A", "python3.12"), ("B", "python3.13"))
        }
    }
    with pytest.raises(ReleaseError, match=r"python3\.12, python3\.13"):
        release.runtime_version(mixed)


def test_a_compiler_of_another_version_or_none_is_refused_and_one_is_found_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert HERE is not None
    with pytest.raises(
        ReleaseError, match=rf"is Python {HERE.version}; the functions run python3\.99"
    ):
        release.find_compiler("3.99", sys.executable)
    with pytest.raises(ReleaseError, match="is no Python 3"):
        release.find_compiler(HERE.version, str(tmp_path / "no-such-python"))
    # Given python<version> on PATH (and no uv that knows another)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / f"python{HERE.version}").symlink_to(sys.executable)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    found = release.find_compiler(HERE.version)
    assert found is not None
    assert found.python == str(tmp_path / "bin" / f"python{HERE.version}")
    assert (found.version, found.release, found.cache_tag) == (
        HERE.version,
        HERE.release,
        HERE.cache_tag,
    )


def test_without_a_compiler_the_build_writes_zips_without_bytecode_and_says_so_once(
    tmp_path: Path,
) -> None:
    # Given no python3.13 on PATH and no uv that knows one
    env = _without_a_compiler(tmp_path)
    out = tmp_path / "out"
    # When the build command runs
    done = subprocess.run(
        [sys.executable, "-m", "hubrelay_release", "--out", str(out), "build"],
        capture_output=True, text=True, check=False, timeout=300, env=env, cwd=tmp_path,
    )  # fmt: skip
    # Then it builds every zip, each saying it has no bytecode, and warns once
    assert done.returncode == 0, done.stderr
    zips = [line for line in done.stdout.splitlines() if ".zip " in line]
    assert len(zips) == 5
    assert all(line.endswith("no bytecode") for line in zips)
    version = release.runtime_version(release.decode_template((ROOT / "template.yaml").read_text()))
    assert done.stderr.strip().splitlines() == [missing_compiler_notice(version)]
    with zipfile.ZipFile(out / "layers" / "hubrelay.zip") as layer:
        assert not [n for n in layer.namelist() if n.endswith(".pyc")]


def _without_a_compiler(tmp_path: Path) -> dict[str, str]:
    """An environment with no python3.13 on PATH and no uv that knows one (an empty PATH,
    uv's own Pythons in an empty folder, should the Makefile's uv be there, and no active
    virtual or conda environment: `uv python find` looks in those, and in a .venv of the
    working folder or above it, so the commands run from `tmp_path`)."""
    (tmp_path / "bin").mkdir(exist_ok=True)
    hidden = ("VIRTUAL_ENV", "CONDA_PREFIX")
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    env |= {"PATH": str(tmp_path / "bin"), "PYTHONPATH": os.pathsep.join(sys.path)}
    return env | {"UV_PYTHON_INSTALL_DIR": str(tmp_path / "uv"), "UV_NO_CONFIG": "1"}


@pytest.mark.slow  # a subprocess of its own
def test_publish_without_a_compiler_is_refused_before_anything_is_uploaded(
    tmp_path: Path,
) -> None:
    # Given no Python 3.13 anywhere, and a bucket that would take the release (of its own:
    # the moto servers of this module share one S3)
    prefix = "acme-unbuilt"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=endpoint)
        s3.create_bucket(Bucket=f"{prefix}-us-east-1")
        command = [sys.executable, "-m", "hubrelay_release", "--out", str(tmp_path / "out"),
                   "publish", "--bucket-prefix", prefix, "--regions", "us-east-1"]  # fmt: skip
        env = _without_a_compiler(tmp_path) | {"AWS_ENDPOINT_URL": endpoint}
        # When the release is published without saying it may go without bytecode
        done = subprocess.run(
            command,
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        # Then it is refused in one line that says how to go on, and nothing is uploaded
        version = release.runtime_version(
            release.decode_template((ROOT / "template.yaml").read_text())
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().splitlines() == [f"error: {publish_refusal(version)}"]
        assert s3.list_objects_v2(Bucket=f"{prefix}-us-east-1")["KeyCount"] == 0
        assert not (tmp_path / "out").exists()  # nor anything built
        # And with --allow-without-bytecode it is published, with the build's warning
        allowed = subprocess.run(
            [*command, "--allow-without-bytecode"],
            env=env, cwd=tmp_path, capture_output=True, text=True, check=False, timeout=300,
        )  # fmt: skip
        assert allowed.returncode == 0, allowed.stderr
        assert allowed.stderr.strip().splitlines() == [missing_compiler_notice(version)]
        assert s3.list_objects_v2(Bucket=f"{prefix}-us-east-1")["KeyCount"] > 0
    finally:
        server.stop()


def test_build_command_names_a_wrong_compiler_without_a_traceback(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "hubrelay_release", "--out", str(out), "--python",
         str(tmp_path / "no-such-python"), "build"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("error: ")
    assert "is no Python 3" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (out / "layers").exists()


# =========================================================================================
# deploy
# =========================================================================================


def seed_public_parameter(name: str, value: str, region: str) -> None:
    """Put an /aws/service/... parameter in moto's SSM (its API refuses reserved names)."""
    ssm_backends[ACCOUNT][region]._parameters[name].append(
        Parameter(
            account_id=ACCOUNT,
            name=name,
            value=value,
            parameter_type="String",
            description=None,
            allowed_pattern=None,
            keyid=None,
            last_modified_date=datetime.datetime.now(),
            version=1,
            data_type="text",
        )
    )


@pytest.mark.filterwarnings("ignore:Tried to parse")
def test_deploy_creates_the_stack_from_the_uploaded_artifacts(
    moto: None, tree: Path, tmp_path: Path
) -> None:
    # Given a packaged release in eu-west-1, and the public Powertools parameter
    region, bucket, out = "eu-west-1", f"{PREFIX}-eu-west-1", tmp_path / "out"
    make_bucket(bucket, region)
    release.package(bucket, root=tree, out=out)
    packaged = out / "packaged.yaml"
    template = release.decode_template(packaged.read_text())
    layer_arn = f"arn:aws:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3:1"
    seed_public_parameter(
        template["Parameters"]["PowertoolsLayerArn"]["Default"], layer_arn, region
    )
    # When it is deployed with boto3, with one override
    sent: list[dict[str, Any]] = []
    aws.client("cloudformation", region).meta.events.register(
        "provide-client-params.cloudformation.CreateStack",
        lambda params, **_: sent.append(dict(params)),
    )
    plan = release.plan_deploy("hub-one", bucket, {"LogLevel": "DEBUG"}, None, packaged)
    outputs = release.deploy(plan, packaged, delay=0)
    # Then the stack is complete, with the packaged artifact location and the override
    cfn = boto3.client("cloudformation", region_name=region)
    stack = cfn.describe_stacks(StackName="hub-one")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert [r["Capabilities"] for r in sent] == [["CAPABILITY_IAM"]]
    values = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert values["ArtifactBucketPrefix"] == PREFIX
    assert values["ArtifactKeyPrefix"] == f"hubrelay/{version()}/"
    assert values["LogLevel"] == "DEBUG"
    queues = boto3.client("sqs", region_name=region).list_queues()["QueueUrls"]
    assert outputs["FindingsQueueUrl"] in queues
    # And the functions and the layer are made of exactly the uploaded zips (moto's
    # CloudFormation drops a function's Layers, so the stack's one layer is looked up)
    lam = boto3.client("lambda", region_name=region)
    for output, name in (
        ("ImporterFunctionName", "importer"),
        ("ResponderFunctionName", "responder"),
    ):
        function = lam.get_function(FunctionName=outputs[output])["Configuration"]
        assert function["CodeSha256"] == sha256_b64((out / f"functions/{name}.zip").read_bytes())
        assert function["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
    (ours,) = lam.list_layers()["Layers"]
    layer = lam.get_layer_version(
        LayerName=ours["LayerName"], VersionNumber=ours["LatestMatchingVersion"]["Version"]
    )
    assert layer["Content"]["CodeSha256"] == sha256_b64((out / "layers/hubrelay.zip").read_bytes())


def stub_stack(status: str, parameters: dict[str, str]) -> dict[str, Any]:
    return {
        "StackName": "hub-one",
        "StackId": f"arn:aws:cloudformation:eu-west-1:{ACCOUNT}:stack/hub-one/1",
        "CreationTime": datetime.datetime(2025, 1, 1),
        "StackStatus": status,
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        "Outputs": [{"OutputKey": "FindingsQueueUrl", "OutputValue": "https://queue"}],
    }


@pytest.fixture
def packaged_release(moto: None, tmp_path: Path) -> Path:
    """build/packaged.yaml for acme-hubrelay-eu-west-1 (the zips play no part in deploy)."""
    make_bucket(f"{PREFIX}-eu-west-1", "eu-west-1")
    path = tmp_path / "packaged.yaml"
    path.write_text(packaged_text())
    return path


@functools.cache
def packaged_text() -> str:
    return release.packaged_template(ROOT, PREFIX, "hubrelay/2.0.0/")


def stack_request(parameter: dict[str, Any]) -> dict[str, Any]:
    """What deploying packaged_release sends: its template's URL, the packaged artifact
    location and one more parameter."""
    return {
        "StackName": "hub-one",
        "TemplateURL": f"https://{PREFIX}-eu-west-1.s3.eu-west-1.amazonaws.com/"
        "hubrelay/2.0.0/template.yaml",
        "Capabilities": ["CAPABILITY_IAM"],
        "Parameters": [
            {"ParameterKey": "ArtifactBucketPrefix", "ParameterValue": PREFIX},
            {"ParameterKey": "ArtifactKeyPrefix", "ParameterValue": "hubrelay/2.0.0/"},
            parameter,
        ],
    }


def deploy_until_complete(
    stubber: Stubber, cfn: Any, stack: dict[str, Any], plan: Any, packaged: Path
) -> dict[str, str]:
    """Deploy through the stubbed client: the waiter finds `stack` complete at once, then
    its outputs are read."""
    for _ in ("waiter", "outputs"):
        stubber.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": "hub-one"})
    outputs = release.deploy(plan, packaged, cfn=cfn, delay=0)
    stubber.assert_no_pending_responses()
    return outputs


def uploaded_template() -> bytes:
    """The template deploy put where stack_request's TemplateURL points."""
    s3 = boto3.client("s3", region_name="eu-west-1")
    body = s3.get_object(Bucket=f"{PREFIX}-eu-west-1", Key="hubrelay/2.0.0/template.yaml")["Body"]
    return bytes(body.read())


def test_deploy_update_keeps_customised_values_and_follows_new_defaults(
    packaged_release: Path,
) -> None:
    # Given a stack of an older release: LogLevel customised, the rest at that release's
    # defaults (its Powertools parameter among them), plus a parameter since removed
    old_defaults = {
        "ArtifactBucketPrefix": PREFIX,
        "ArtifactKeyPrefix": "hubrelay/1.0.0/",
        "LogLevel": "INFO",
        "LogRetentionDays": "30",
        "PowertoolsLayerArn": "/aws/service/powertools/python/x86_64/python3.13/1.0.0",
        "Retired": "x",
    }
    deployed = {**old_defaults, "LogLevel": "DEBUG"}
    old_template = "Parameters:\n" + "".join(
        f"  {k}:\n    Type: String\n    Default: '{v}'\n" for k, v in old_defaults.items()
    )
    plan = release.plan_deploy("hub-one", f"{PREFIX}-eu-west-1", {}, None, packaged_release)
    cfn = boto3.client("cloudformation", region_name="eu-west-1")
    stack = stub_stack("UPDATE_COMPLETE", deployed)
    with Stubber(cfn) as stubber:
        stubber.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": "hub-one"})
        stubber.add_response(
            "get_template", {"TemplateBody": old_template}, {"StackName": "hub-one"}
        )
        # Then the update names the new artifact location and keeps only LogLevel
        stubber.add_response(
            "update_stack",
            {"StackId": stack["StackId"]},
            stack_request({"ParameterKey": "LogLevel", "UsePreviousValue": True}),
        )
        # When the new release is deployed over it
        outputs = deploy_until_complete(stubber, cfn, stack, plan, packaged_release)
    assert outputs == {"FindingsQueueUrl": "https://queue"}
    # And the template deployed is the packaged one, uploaded where TemplateURL points
    assert uploaded_template() == packaged_release.read_bytes()


def test_deploy_with_nothing_to_change_succeeds_without_waiting(packaged_release: Path) -> None:
    plan = release.plan_deploy("hub-one", f"{PREFIX}-eu-west-1", {}, None, packaged_release)
    cfn = boto3.client("cloudformation", region_name="eu-west-1")
    stack = stub_stack("UPDATE_COMPLETE", {"LogLevel": "INFO"})
    with Stubber(cfn) as stubber:
        stubber.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": "hub-one"})
        stubber.add_client_error("get_template", "ValidationError", "gone")
        stubber.add_client_error(
            "update_stack", "ValidationError", "No updates are to be performed."
        )
        stubber.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": "hub-one"})
        assert release.deploy(plan, packaged_release, cfn=cfn, delay=0) == {
            "FindingsQueueUrl": "https://queue"
        }
        stubber.assert_no_pending_responses()


def test_deploy_refuses_a_stack_that_cannot_be_updated(packaged_release: Path) -> None:
    plan = release.plan_deploy("hub-one", f"{PREFIX}-eu-west-1", {}, None, packaged_release)
    cfn = boto3.client("cloudformation", region_name="eu-west-1")
    with Stubber(cfn) as stubber:
        stubber.add_response(
            "describe_stacks",
            {"Stacks": [stub_stack("ROLLBACK_COMPLETE", {})]},
            {"StackName": "hub-one"},
        )
        with pytest.raises(ReleaseError, match="delete-stack"):
            release.deploy(plan, packaged_release, cfn=cfn, delay=0)


def test_deploy_plan_refuses_mistakes_before_calling_cloudformation(
    packaged_release: Path, tmp_path: Path
) -> None:
    bucket = f"{PREFIX}-eu-west-1"
    with pytest.raises(ReleaseError, match="LogLevell"):
        release.plan_deploy("hub-one", bucket, {"LogLevell": "DEBUG"}, None, packaged_release)
    with pytest.raises(ReleaseError, match="LogLevel"):
        release.plan_deploy("hub-one", bucket, {"LogLevel": "LOUD"}, None, packaged_release)
    with pytest.raises(ReleaseError, match="make package"):
        release.plan_deploy("hub-one", bucket, {}, None, tmp_path / "missing.yaml")
    with pytest.raises(ReleaseError, match="us-east-1"):
        release.plan_deploy("hub-one", bucket, {}, "us-east-1", packaged_release)
    make_bucket("other-hubrelay-eu-west-1", "eu-west-1")
    with pytest.raises(ReleaseError, match="package for this bucket"):
        release.plan_deploy("hub-one", "other-hubrelay-eu-west-1", {}, None, packaged_release)
    with pytest.raises(ReleaseError, match="stack name"):
        release.plan_deploy("1st", bucket, {}, None, packaged_release)


def test_deploy_creates_a_new_stack_from_the_uploaded_template_with_every_override(
    packaged_release: Path,
) -> None:
    # Given a packaged release and no stack yet
    plan = release.plan_deploy(
        "hub-one", f"{PREFIX}-eu-west-1", {"LogLevel": "DEBUG"}, None, packaged_release
    )
    assert plan.region == "eu-west-1"  # the bucket's Region, where the stack must run
    cfn = boto3.client("cloudformation", region_name=plan.region)
    stack = stub_stack("CREATE_COMPLETE", {})
    with Stubber(cfn) as stubber:
        stubber.add_client_error(
            "describe_stacks",
            "ValidationError",
            "Stack with id hub-one does not exist",
            expected_params={"StackName": "hub-one"},
        )
        # Then the stack is created from the template in the artifact bucket, with IAM
        # capability, the packaged artifact location and the override
        stubber.add_response(
            "create_stack",
            {"StackId": stack["StackId"]},
            stack_request({"ParameterKey": "LogLevel", "ParameterValue": "DEBUG"}),
        )
        # When it is deployed
        outputs = deploy_until_complete(stubber, cfn, stack, plan, packaged_release)
    assert outputs == {"FindingsQueueUrl": "https://queue"}
    # And the template it was created from is the packaged file, byte for byte
    assert uploaded_template() == packaged_release.read_bytes()


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("", {}),
        ("LogLevel=DEBUG", {"LogLevel": "DEBUG"}),
        ('SnsActionName="Page me" ProductArn=', {"SnsActionName": "Page me", "ProductArn": ""}),
        ("A=x=y", {"A": "x=y"}),
    ],
)
def test_params_are_read_with_shell_quoting(text: str, parsed: dict[str, str]) -> None:
    assert release.parse_params(text) == parsed


def test_params_without_a_name_or_with_open_quotes_are_refused() -> None:
    with pytest.raises(ReleaseError, match="NAME=VALUE"):
        release.parse_params("LogLevel DEBUG")
    with pytest.raises(ReleaseError, match="quotation"):
        release.parse_params('SnsActionName="Page me')
