"""The command line behind `make build|package|deploy|publish`.

``python -m hubrelay_release <command> -h`` for each command's options.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from hubrelay_release.base import PACKAGED_NAME, ROOT, ReleaseError, aws_failure, shown
from hubrelay_release.buckets import launch_link
from hubrelay_release.bytecode import (
    Compiler,
    find_compiler,
    missing_compiler_notice,
    publish_refusal,
    runtime_version,
)
from hubrelay_release.deploy import deploy, parse_params, plan_deploy
from hubrelay_release.template import default_key_prefix, read_template
from hubrelay_release.upload import Upload, package, publish
from hubrelay_release.wheel import build_wheel
from hubrelay_release.zips import build


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


def _compiler(args: argparse.Namespace) -> tuple[str, Compiler | None]:
    """The functions' runtime version, and the interpreter of it that compiles the zips'
    bytecode (one named by --python and not that runtime's is refused before anything
    else)."""
    version = runtime_version(read_template(ROOT))
    return version, find_compiler(version, args.python)


def _said_without_bytecode(version: str, compiler: Compiler | None) -> None:
    # Once the zips are built: a command that fails first (credentials, a bucket) says
    # only why it failed.
    if compiler is None:
        print(missing_compiler_notice(version), file=sys.stderr)


def _build(args: argparse.Namespace) -> None:
    version, compiler = _compiler(args)
    for artifact in build(ROOT, args.out, compiler):
        print(artifact.line())
    wheel = build_wheel(ROOT, args.out)
    print(wheel.line())
    print(f"install the hubrelay command: pipx install '{shown(wheel.path)}[cli]'")
    _said_without_bytecode(version, compiler)


def _package(args: argparse.Namespace) -> None:
    version, compiler = _compiler(args)
    result = package(args.bucket, args.prefix, args.region, ROOT, args.out, compiler)
    _print_upload(result)
    print(f"{shown(args.out / PACKAGED_NAME)} written; template: {result.template_url}")
    _said_without_bytecode(version, compiler)


def _deploy(args: argparse.Namespace) -> None:
    packaged = args.out / PACKAGED_NAME
    plan = plan_deploy(args.stack, args.bucket, parse_params(args.params), args.region, packaged)
    for name, value in deploy(plan, packaged).items():
        print(f"{name}: {value}")


def _publish(args: argparse.Namespace) -> None:
    regions = [r for r in re.split(r"[\s,]+", args.regions) if r]
    version, compiler = _compiler(args)
    if compiler is None and not args.allow_without_bytecode:
        # What customers deploy from the quick-create links: refused, before any upload,
        # rather than published with a warning that scrolls by.
        raise ReleaseError(publish_refusal(version))
    for result in publish(args.bucket_prefix, regions, args.prefix, ROOT, args.out, compiler):
        _print_upload(result)
    key_prefix = args.prefix if args.prefix is not None else default_key_prefix(ROOT)
    print("\nLaunch stack (quick-create) links:")
    for region in dict.fromkeys(regions):
        print(f"{region}: {launch_link(region, args.bucket_prefix, key_prefix, args.stack_name)}")
    _said_without_bytecode(version, compiler)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hubrelay-release", description="Build, package, deploy and publish hubrelay."
    )
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="build folder")
    parser.add_argument(
        "--python",
        help="the interpreter that compiles the zips' bytecode: the functions' runtime "
        "version (default: pythonX.Y on PATH, else uv's)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "build", help="zip the functions and layers into build/, build the hubrelay wheel"
    ).set_defaults(run=_build)

    pkg = sub.add_parser("package", help="upload to one bucket, write build/packaged.yaml")
    pkg.add_argument("--bucket", required=True, help="artifact bucket, named <prefix>-<region>")
    pkg.add_argument("--prefix", help="key prefix ending in / (default hubrelay/<version>/)")
    pkg.add_argument("--region", help="expected Region of the bucket")
    pkg.set_defaults(run=_package)

    dep = sub.add_parser("deploy", help="create or update a stack from build/packaged.yaml")
    dep.add_argument("--stack", required=True)
    dep.add_argument("--bucket", required=True, help="the bucket given to package")
    dep.add_argument("--params", default="", help='parameter overrides: "K=V K2=V2"')
    dep.add_argument("--region", help="expected Region (the bucket's)")
    dep.set_defaults(run=_deploy)

    pub = sub.add_parser("publish", help="one bucket per Region, with quick-create links")
    pub.add_argument("--bucket-prefix", required=True, help="buckets are <prefix>-<region>")
    pub.add_argument("--regions", required=True, help='"us-east-1 eu-west-1" (spaces or commas)')
    pub.add_argument("--prefix", help="key prefix ending in / (default hubrelay/<version>/)")
    pub.add_argument("--stack-name", default="hubrelay", help="stack name the links suggest")
    pub.add_argument(
        "--allow-without-bytecode",
        action="store_true",
        help="publish even when no Python of the runtime's version compiles the bytecode "
        "(the zips then start slower)",
    )
    pub.set_defaults(run=_publish)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        args.run(args)
    except ReleaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # Credentials, Region, network, permissions; an endpoint that is not AWS's.
    except (BotoCoreError, ClientError, ResponseParserError) as exc:
        print(f"error: {aws_failure(exc)}", file=sys.stderr)
        return 2
    return 0
