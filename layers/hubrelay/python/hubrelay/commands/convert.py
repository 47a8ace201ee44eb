"""`hubrelay convert FILE`: the findings the collector would send for a native file, with
the collector's own mapping code; `--message` prints them as queue messages."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from hubrelay import message
from hubrelay.commands.common import (
    CommandError,
    Progress,
    positive_int,
    refuse_empty,
    refused,
    say,
)
from hubrelay.settings import DEFAULT_MAX_MESSAGE_BYTES

FORMATS = ["auto", "sarif", "trivy", "grype", "asff", "health", "vendor"]
# The Region of a product ARN as the validator reads it (hubrelay.asff.PRODUCT_ARN_RE).
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d+")
_ACCOUNT = re.compile(r"\d{12}")
_OTHERS = "a vendor API page needs --mapping FILE or --format vendor"


def account_id(text: str) -> str:
    """argparse's type for --account: a bad one is one line, not an error per record
    ("", the default, is the caller's account)."""
    if text and not _ACCOUNT.fullmatch(text):
        raise argparse.ArgumentTypeError(f"not a 12-digit account id: {text!r}")
    return text


def region_code(text: str) -> str:
    if not _REGION.fullmatch(text):
        raise argparse.ArgumentTypeError(f"not a Region code such as us-east-1: {text!r}")
    return text


def add_parser(commands: Any) -> None:
    conv = commands.add_parser(
        "convert", help="turn a native file (SARIF, Trivy, Grype, ASFF, Health, vendor) into ASFF"
    )
    conv.add_argument("file", help="a scanner report, AWS Health events or a vendor API page")
    conv.add_argument(
        "--format",
        default="auto",
        choices=FORMATS,
        help="default: auto, which tells SARIF, Trivy, Grype, ASFF and Health apart "
        "(a vendor page needs --format vendor or --mapping)",
    )
    conv.add_argument(
        "--mapping",
        default="",
        help="vendor mapping file (default: built-in); implies --format vendor",
    )
    conv.add_argument(
        "--key",
        default="",
        metavar="S3_KEY",
        help="the report's S3 key in the reports bucket (its folder is part of the scope and "
        "of Trivy's and Grype's finding Ids); default: a report at the top of the bucket",
    )
    conv.add_argument(
        "--account",
        default="",
        type=account_id,
        help="AwsAccountId of the findings (default: yours, from STS GetCallerIdentity)",
    )
    conv.add_argument(
        "--region",
        default="us-east-1",
        type=region_code,
        help="Region of the ProductArn (default: us-east-1)",
    )
    conv.add_argument("--product-arn", default="", help="partner product ARN (default: private)")
    conv.add_argument(
        "--message",
        action="store_true",
        help='print queue messages {"version": 1, "findings": [...]} packed under the '
        "size limit: one message, or an array of them",
    )
    conv.add_argument(
        "--max-message-bytes",
        type=positive_int,
        default=DEFAULT_MAX_MESSAGE_BYTES,
        help="with --message",
    )
    conv.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the findings the collector would send for a native file; errors to stderr.

    A large scanner report is read as a stream and each finding printed as it is mapped
    (hubrelay.sources.files.read_file), so the file and its findings are never held; with
    --message, their JSON texts are, the packing needing them all."""
    # Imported here so that `hubrelay validate` does not load the sources.
    from hubrelay.loading import LoadError
    from hubrelay.sources import Context, MappingError, files

    try:
        fmt = _format(args)
        refuse_empty(args.file)
        read, problems = _read(args.file, fmt, args.mapping, args.key or "")
        records = _Counted(read)
        # Without records there is nothing to name an account in: no STS call for it.
        account = args.account or (account_from_sts() if records.any() else "000000000000")
        ctx = Context(account, (args.region,), args.product_arn)
        ctx.product_arn_in(args.region)  # a malformed --product-arn fails here, clearly
    except (OSError, ValueError, MappingError, CommandError) as exc:
        return refused(args.file, exc)
    skipped: list[tuple[str, str]] = []
    errors: list[tuple[str, str]] = []
    total = len(read) if isinstance(read, list) else None
    progress = Progress("records mapped", total)
    findings = files.each_finding(records, ctx, errors, skipped, progress.update, one_per_id=True)
    try:
        count = _write(findings, args)
    except (OSError, LoadError, message.MessageError) as exc:  # LoadError: the file changed
        return refused(args.file, exc)
    progress.finish(records.count)
    for position, reason in problems + errors + skipped:
        print(f"{position}: {reason}", file=sys.stderr)
    left_out = f", {len(skipped)} not sent (filtered)" if skipped else ""
    print(
        f"{records.count} records: {count} findings, {len(problems + errors)} errors{left_out}",
        file=sys.stderr,
    )
    return 1 if problems or errors else 0


def _format(args: argparse.Namespace) -> str | None:
    """The format asked for (None: detect it); a mapping is for vendor pages only."""
    if args.mapping and args.format not in ("auto", "vendor"):
        raise CommandError(f"--mapping is for --format vendor, not --format {args.format}")
    if args.mapping:
        return "vendor"
    return None if args.format == "auto" else str(args.format)


def _read(path: str, fmt: str | None, mapping: str, key: str) -> tuple[Any, Any]:
    """files.read_file, with a mapping that cannot be opened named as the mapping."""
    from hubrelay.sources import MappingError, files

    try:
        return files.read_file(path, fmt, mapping, key=key)
    except MappingError as exc:
        # The collector's words (its scanner reports); convert reads two more kinds.
        if fmt is None and str(exc).startswith("unrecognised report"):
            raise MappingError(f"{exc}, or AWS Health events ({_OTHERS})") from None
        raise
    except OSError as exc:
        if mapping and exc.filename == mapping:
            raise CommandError(f"vendor mapping {mapping}: {exc.strerror or exc}") from None
        raise


class _Counted:
    """Items (records, findings) as they are read, counted; `any()` reads the first
    without losing it."""

    def __init__(self, records: Iterable[Any]) -> None:
        self._records = iter(records)
        self._first: list[Any] = []
        self.count = 0

    def any(self) -> bool:
        if not self._first:
            self._first = [next(self._records, _END)]
        return self._first[0] is not _END

    def __iter__(self) -> Iterator[Any]:
        for record in itertools.chain(self._first, self._records):
            if record is _END:
                return
            self.count += 1
            yield record


_END = object()


def _write(findings: Iterator[Any], args: argparse.Namespace) -> int:
    """Print the findings (as queue messages with --message); how many there were."""
    if args.message:
        counted = _Counted(findings)
        bodies = message.pack_messages(counted, args.max_message_bytes)
        first, second = next(bodies, None), next(bodies, None)
        # The bodies exactly as packed: a file holding one message is a message body under
        # the limit as it is (`aws sqs send-message --message-body file://...`), so no
        # newline is added to it unless a person is reading.
        end = "\n" if sys.stdout.isatty() else ""
        if second is None:
            print(first if first is not None else "[\n\n]", end=end)
        else:
            sys.stdout.write(f"[\n{first},\n{second}")
            for body in bodies:
                sys.stdout.write(f",\n{body}")
            print("\n]", end=end)
        return counted.count
    # json.dumps(findings, indent=2), one finding at a time: each element indented by two
    # more spaces (a JSON string holds no raw newline, so every newline is the layout's).
    count = 0
    for count, finding in enumerate(findings, 1):
        text = json.dumps(finding, indent=2).replace("\n", "\n  ")
        sys.stdout.write(("[\n  " if count == 1 else ",\n  ") + text)
    sys.stdout.write("\n]\n" if count else "[]\n")
    return count


def account_from_sts() -> str:
    """The caller's account (STS GetCallerIdentity needs no permission), said on stderr; a
    CommandError saying to pass --account when it cannot be read."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    advice = "pass --account <12-digit account id> (the AwsAccountId of the findings)"
    try:
        if boto3.session.Session().get_credentials() is None:
            raise CommandError(f"no --account and no AWS credentials to read it from: {advice}")
        quick = Config(retries={"total_max_attempts": 2}, connect_timeout=3, read_timeout=5)
        sts = boto3.client(
            "sts", region_name=os.environ.get("AWS_REGION") or "us-east-1", config=quick
        )
        account = str(sts.get_caller_identity()["Account"])
    except (BotoCoreError, ClientError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise CommandError(
            f"no --account, and STS GetCallerIdentity failed ({reason}): {advice}"
        ) from None
    say(f"account {account} (yours, from STS GetCallerIdentity; --account to choose)")
    return account
