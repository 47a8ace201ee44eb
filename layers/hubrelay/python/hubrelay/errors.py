"""The one failure vocabulary: every hubrelay error is transient or permanent.

A *transient* error may go away on a later attempt (throttling, a 5xx, a timeout, a source
that is down): the caller retries within its deadline, then leaves the work to the next
delivery or run. A *permanent* error will not (a malformed message, a finding Security Hub
refuses, a destination that rejects the payload): the work is kept with its reason where an
operator sees it (the dead-letter queue, the error report) and everything else goes on.

`SECURITY_HUB_CODES` is the one table of Security Hub error codes and what each means to
hubrelay; the importer (BatchImportFindings) and the write-back (BatchUpdateFindings) both
read it.
"""

from __future__ import annotations

from enum import Enum


class HubrelayError(Exception):
    """Base of every error hubrelay raises; the message is the reason and holds no secret."""

    # Whether a later attempt can succeed; a subclass may decide per instance.
    transient: bool = False


class TransientError(HubrelayError):
    """A later attempt can succeed."""

    transient = True


class PermanentError(HubrelayError):
    """Retrying cannot fix it: keep the work with this reason."""

    transient = False


class DeliveryError(PermanentError):
    """A destination did not take a payload after its own retries; the message is the reason."""


class Meaning(Enum):
    THROTTLED = "throttled"  # retry after a backoff, and count it as a throttle
    TRANSIENT = "transient"  # retry after a backoff
    TOO_LARGE = "too-large"  # the request as a whole was refused: split it
    REFUSED = "refused"  # the finding or the account is the problem: keep it with the reason
    UNKNOWN = "unknown"  # a code this table does not know


# Sources: "Common Errors" of the Security Hub API reference
# (https://docs.aws.amazon.com/securityhub/1.0/APIReference/CommonErrors.html), the errors
# of BatchImportFindings and BatchUpdateFindings
# (https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchImportFindings.html,
# https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchUpdateFindings.html) and
# the ErrorCode values of BatchUpdateFindingsUnprocessedFinding
# (https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchUpdateFindingsUnprocessedFinding.html).
SECURITY_HUB_CODES: dict[str, Meaning] = {
    "TooManyRequestsException": Meaning.THROTTLED,
    "ThrottlingException": Meaning.THROTTLED,
    "Throttling": Meaning.THROTTLED,
    "LimitExceededException": Meaning.TRANSIENT,
    "InternalException": Meaning.TRANSIENT,
    "InternalServerError": Meaning.TRANSIENT,
    "InternalFailure": Meaning.TRANSIENT,
    "InternalError": Meaning.TRANSIENT,
    "ServiceUnavailable": Meaning.TRANSIENT,
    "ServiceUnavailableException": Meaning.TRANSIENT,
    "RequestTimeout": Meaning.TRANSIENT,
    "RequestTimeoutException": Meaning.TRANSIENT,
    "ExpiredTokenException": Meaning.TRANSIENT,
    # "Another request attempted to update the finding while this request was being
    # processed" (BatchUpdateFindingsUnprocessedFinding).
    "ConcurrentUpdateError": Meaning.TRANSIENT,
    "InvalidInputException": Meaning.TOO_LARGE,
    "RequestEntityTooLargeException": Meaning.TOO_LARGE,
    "InvalidAccessException": Meaning.REFUSED,
    "AccessDeniedException": Meaning.REFUSED,
    "InvalidAccess": Meaning.REFUSED,
    "InvalidInput": Meaning.REFUSED,
    "FindingNotFound": Meaning.REFUSED,
    "DuplicatedFindingIdentifier": Meaning.REFUSED,
    "FindingSizeExceeded": Meaning.REFUSED,
    # The new Security Hub's V2 operations and their UnprocessedFindings ErrorCode values
    # (https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchUpdateFindingsV2.html).
    "InternalServerException": Meaning.TRANSIENT,
    "ConflictException": Meaning.TRANSIENT,
    "ValidationException": Meaning.REFUSED,
    "ResourceNotFoundException": Meaning.REFUSED,
}


def meaning(code: str, http_status: int = 0) -> Meaning:
    """What a Security Hub error code (and the HTTP status it came with) means."""
    known = SECURITY_HUB_CODES.get(code)
    if known is not None:
        return known
    if http_status == 413:
        return Meaning.TOO_LARGE
    if http_status == 429:
        return Meaning.THROTTLED
    if http_status >= 500:
        return Meaning.TRANSIENT
    return Meaning.UNKNOWN


def retryable(code: str, http_status: int = 0) -> bool:
    return meaning(code, http_status) in (Meaning.THROTTLED, Meaning.TRANSIENT)
