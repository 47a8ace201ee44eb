"""`make package`, `make deploy` and `make publish` end in one line that says what to do when
AWS cannot be used: no credentials, an unknown profile, AWS out of reach, credentials AWS
refuses. Run through make itself, as a user runs them, without any real AWS."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoRegionError

from hubrelay_release import base, bucket_region
from tests.support import ROOT, TEMPLATE

BUCKET = "acme-hubrelay-eu-west-1"
COMMANDS = {
    "package": ["package", f"BUCKET={BUCKET}"],
    "deploy": ["deploy", "STACK=hubrelay", f"BUCKET={BUCKET}"],
    # The tests' machine may have no Python 3.13, without which publish stops first
    "publish": [
        "publish",
        "BUCKET_PREFIX=acme-hubrelay",
        "REGIONS=us-east-1 eu-west-1",
        "ALLOW_WITHOUT_BYTECODE=1",
    ],
}


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _make(target: list[str], out: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`make <target>` with no AWS configuration but `env` (and the release writing to out)."""
    home = out / "home"
    home.mkdir(parents=True, exist_ok=True)
    clean = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),  # no ~/.aws
        "AWS_CONFIG_FILE": str(home / "missing-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "missing-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",  # no instance-metadata look-up off this machine
        **env,
    }
    release = f"{ROOT / '.venv/bin/python'} -m hubrelay_release --out {out}"
    command = ["make", "--no-print-directory", "-o", "venv", *target, f"RELEASE={release}"]
    return subprocess.run(
        command, cwd=ROOT, env=clean, capture_output=True, text=True, check=False, timeout=120
    )


def _said(done: subprocess.CompletedProcess[str]) -> list[str]:
    """What the command itself wrote on stderr (make's own closing `make: ***` line aside)."""
    return [line for line in done.stderr.splitlines() if not line.startswith("make: ***")]


@pytest.fixture
def out(tmp_path: Path) -> Path:
    # deploy reads build/packaged.yaml: one is there, so deploy reaches AWS
    shutil.copy(TEMPLATE, tmp_path / "packaged.yaml")
    return tmp_path


@pytest.mark.slow  # subprocesses
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_without_credentials_each_command_says_how_to_give_them(command: str, out: Path) -> None:
    done = _make(COMMANDS[command], out)
    assert done.returncode == 2, done.stderr
    assert _said(done) == [f"error: no AWS credentials found: {base.CREDENTIALS_HOWTO}"]
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.slow  # subprocesses
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_unknown_profile_is_named_with_how_to_create_it(command: str, out: Path) -> None:
    done = _make(COMMANDS[command], out, AWS_PROFILE="acme-release")
    assert done.returncode == 2, done.stderr
    assert _said(done) == [
        "error: The config profile (acme-release) could not be found: create it "
        "(aws configure --profile acme-release) or unset AWS_PROFILE"
    ]


@pytest.mark.slow  # subprocesses, and botocore's retries of a refused connection
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_with_aws_out_of_reach_and_no_region_each_command_says_so(command: str, out: Path) -> None:
    # Given credentials, no Region anywhere, and an endpoint nothing listens on
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    done = _make(
        COMMANDS[command],
        out,
        AWS_ACCESS_KEY_ID="AKIAEXAMPLE",
        AWS_SECRET_ACCESS_KEY="example",
        AWS_ENDPOINT_URL=endpoint,
    )
    assert done.returncode == 2, done.stderr
    said = _said(done)
    assert len(said) == 1, done.stderr
    assert said[0].startswith("error: cannot reach AWS (Could not connect to the endpoint URL:")
    assert endpoint in said[0]
    assert said[0].endswith("check the network or AWS_ENDPOINT_URL and run again")


def _client_error(code: str, message: str = "Denied.") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "GetBucketLocation")


def test_refused_expired_and_denied_credentials_each_say_what_to_do() -> None:
    assert base.aws_failure(_client_error("InvalidAccessKeyId")) == (
        "AWS refused the credentials on GetBucketLocation (InvalidAccessKeyId): "
        + base.CREDENTIALS_HOWTO
    )
    assert base.aws_failure(_client_error("ExpiredToken")) == (
        "the AWS credentials have expired (ExpiredToken on GetBucketLocation): "
        "refresh them and run again"
    )
    assert base.aws_failure(_client_error("AccessDenied", "User x is\nnot allowed")) == (
        "access denied: GetBucketLocation is not allowed for these credentials (User x is "
        "not allowed); use an identity allowed to release (docs/setup.md) and run again"
    )
    assert base.aws_failure(_client_error("SlowDown", "Reduce")) == (
        "GetBucketLocation failed: SlowDown: Reduce"
    )


def test_no_region_and_no_endpoint_each_say_what_to_do() -> None:
    assert base.aws_failure(NoRegionError()) == (
        "no AWS Region: give one with REGION=<region> (e.g. REGION=eu-west-1) or set "
        "AWS_REGION, then run the command again"
    )
    line = base.aws_failure(EndpointConnectionError(endpoint_url="https://s3.amazonaws.com/"))
    assert line.startswith("cannot reach AWS (Could not connect to the endpoint URL")


def test_a_refused_credential_is_not_mistaken_for_a_bucket_problem() -> None:
    class Refusing:
        def get_bucket_location(self, Bucket: str) -> None:
            raise _client_error("InvalidAccessKeyId")

    with pytest.raises(ClientError):
        bucket_region(Refusing(), BUCKET)


def test_an_endpoint_that_answers_an_html_page_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an endpoint that answers 500 with an HTML page (a moto server refusing the stack,
    # a proxy): botocore cannot parse it and raised past the one-line errors, a traceback
    from botocore.parsers import ResponseParserError

    from hubrelay_release import cli

    def deploy(args: object) -> None:
        raise ResponseParserError(
            "Unable to parse response (syntax error: line 1, column 0), invalid XML "
            "received.\nb'<!doctype html>\\n<title>500 Internal Server Error</title>'"
        )

    monkeypatch.setattr(cli, "_deploy", deploy)
    assert cli.main(["deploy", "--stack", "hubrelay", "--bucket", "acme-us-east-1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(
        "error: the endpoint's answer is not an AWS response (a proxy's page, or an error of "
        "the server at AWS_ENDPOINT_URL, if set): Unable to parse response"
    )
