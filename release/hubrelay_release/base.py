"""What every release step shares: where the tree is, the file names, the one error type,
and the one line that says what to do about an AWS failure."""

from __future__ import annotations

import os
from pathlib import Path

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    SSOError,
    TokenRetrievalError,
)
from botocore.parsers import ResponseParserError

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_NAME = "template.yaml"
PACKAGED_NAME = "packaged.yaml"

# Error codes AWS answers when it does not accept the caller's credentials (STS, S3 and
# CloudFormation spell them differently):
# https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList
# https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/CommonErrors.html
REFUSED_CREDENTIALS = frozenset(
    {"InvalidAccessKeyId", "InvalidClientTokenId", "SignatureDoesNotMatch", "AuthFailure"}
)
EXPIRED_CREDENTIALS = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})
DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
CREDENTIALS_HOWTO = (
    "set AWS_PROFILE (after `aws configure` or `aws sso login`) or AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY, then run the command again"
)


class ReleaseError(Exception):
    """A release step cannot go on; the message says why and what to do."""


def shown(path: Path) -> str:
    """A path as the user typed it: relative to the repository when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def credentials_refused(exc: ClientError) -> bool:
    """Whether AWS refused the call for its credentials rather than for what it asked."""
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in REFUSED_CREDENTIALS | EXPIRED_CREDENTIALS | DENIED


def aws_failure(exc: BotoCoreError | ClientError | ResponseParserError) -> str:
    """One line on an AWS call that failed outside the release's own checks: what to do."""
    if isinstance(exc, ClientError):
        return _refused(exc)
    if isinstance(exc, ResponseParserError):
        # Not an AWS answer at all: an HTML page from a proxy, or a local endpoint's crash.
        answer = " ".join(str(exc).split())[:300]
        return (
            "the endpoint's answer is not an AWS response (a proxy's page, or an error of the "
            f"server at AWS_ENDPOINT_URL, if set): {answer}"
        )
    if isinstance(exc, NoCredentialsError):
        return f"no AWS credentials found: {CREDENTIALS_HOWTO}"
    if isinstance(exc, PartialCredentialsError):
        return f"incomplete AWS credentials ({exc}): {CREDENTIALS_HOWTO}"
    if isinstance(exc, ProfileNotFound):
        return (
            f"{exc}: create it (aws configure --profile "
            f"{os.environ.get('AWS_PROFILE', '<name>')}) or unset AWS_PROFILE"
        )
    if isinstance(exc, CredentialRetrievalError | TokenRetrievalError | SSOError):
        return f"AWS credentials could not be loaded ({exc}): refresh them (aws sso login)"
    if isinstance(exc, NoRegionError):
        return (
            "no AWS Region: give one with REGION=<region> (e.g. REGION=eu-west-1) or set "
            "AWS_REGION, then run the command again"
        )
    if isinstance(
        exc,
        EndpointConnectionError | ConnectTimeoutError | ConnectionClosedError | ReadTimeoutError,
    ):
        return f"cannot reach AWS ({exc}): check the network or AWS_ENDPOINT_URL and run again"
    return f"an AWS call failed: {exc}"


def _refused(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    code, message = str(error.get("Code", "")), " ".join(str(error.get("Message", "")).split())
    call = exc.operation_name
    if code in REFUSED_CREDENTIALS:
        return f"AWS refused the credentials on {call} ({code}): {CREDENTIALS_HOWTO}"
    if code in EXPIRED_CREDENTIALS:
        return f"the AWS credentials have expired ({code} on {call}): refresh them and run again"
    if code in DENIED:
        return (
            f"access denied: {call} is not allowed for these credentials ({message}); use an "
            "identity allowed to release (docs/setup.md) and run again"
        )
    return f"{call} failed: {code}: {message}"
