"""Where the collector's vendor mapping is kept (`HUBRELAY_VENDOR_MAPPING`, set by the
template's `VendorMapping` parameter): empty for the built-in mapping, `ssm:<name>` for an
SSM parameter, `s3://bucket/key` for an S3 object, or a file path (tests, a custom layer).

Both stores are read with Powertools Parameters, cached for `max_age` seconds across warm
invocations: SSM through its own provider, S3 through a provider of ours
(https://docs.powertools.aws.dev/lambda/python/latest/utilities/parameters/#create-your-own-provider).
The mapping is checked when read; the collector reads it at cold start, so a mapping that
cannot work stops the function with one error naming the mapping and the field.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.base import BaseProvider
from botocore.exceptions import BotoCoreError, ClientError

from hubrelay.errors import PermanentError
from hubrelay.sources.vendor_api import VendorMapping

SSM = "ssm:"
S3 = "s3://"
# A mapping is a few kilobytes; an object far larger is not one (and must not fill memory).
MAX_MAPPING_BYTES = 1024 * 1024


class MappingConfigError(PermanentError):
    """The configured vendor mapping cannot be read or cannot work; the message says which
    mapping, and which field or why."""


class S3ObjectProvider(BaseProvider):
    """Powertools Parameters provider for S3 objects named `s3://bucket/key`."""

    def __init__(self, client: Any) -> None:
        super().__init__(client=client)  # type: ignore[no-untyped-call]
        self.s3 = client

    def _get(self, name: str, **sdk_options: Any) -> str:
        bucket, _, key = name.removeprefix(S3).partition("/")
        body = self.s3.get_object(Bucket=bucket, Key=key, **sdk_options)["Body"]
        data = body.read(MAX_MAPPING_BYTES + 1)
        if len(data) > MAX_MAPPING_BYTES:
            raise ValueError(f"over {MAX_MAPPING_BYTES} bytes")
        return str(data.decode("utf-8"))

    def _get_multiple(self, path: str, **sdk_options: Any) -> dict[str, str]:
        raise NotImplementedError("one mapping object at a time")


_providers: dict[int, S3ObjectProvider] = {}


def _s3_provider(client: Any) -> S3ObjectProvider:
    # One provider (and so one cache) per client: a warm function keeps both.
    if id(client) not in _providers:
        _providers[id(client)] = S3ObjectProvider(client)
    return _providers[id(client)]


def load(location: str, *, s3: Any, max_age: int) -> VendorMapping:
    """The vendor mapping kept at `location` (see the module docstring), checked."""
    try:
        if not location:
            return VendorMapping.load()
        if location.startswith(S3):
            text = _s3_provider(s3).get(location, max_age=max_age)
        elif location.startswith(SSM):
            text = parameters.get_parameter(location.removeprefix(SSM), max_age=max_age)
        else:
            return VendorMapping.load(location)
        return VendorMapping.parse(str(text), location)
    except MappingConfigError:
        raise
    except (ValueError, OSError) as exc:
        raise MappingConfigError(" ".join(str(exc).split())) from None
    except (parameters.exceptions.GetParameterError, ClientError, BotoCoreError) as exc:
        reason = " ".join(str(exc).split())[:500]
        raise MappingConfigError(f"vendor mapping {location}: cannot be read: {reason}") from None
