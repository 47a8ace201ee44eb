"""The status sync back function's wiring: its clients and secrets, from the settings.

One function (template.yaml, StatusSyncFunction) with two entry points, told apart by the
event: a request to its function URL is a webhook receiver's callback
(`hubrelay.callback`); its schedule's event polls the vendor's back-sync API for closures
(`hubrelay.syncback.sync_vendor`). Both resolve findings with `hubrelay.syncback.resolve`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hubrelay import callback, syncback
from hubrelay.destinations import vendor, webhook
from hubrelay.errors import DeliveryError
from hubrelay.http import Client
from hubrelay.observability import logger
from hubrelay.retry import Retry
from hubrelay.settings import Settings


@dataclass(frozen=True)
class Services:
    securityhub: Any  # the function's own Region's Security Hub (both editions)
    dynamodb: Any
    http: Client
    secret: Callable[[str], str]  # secret name or ARN -> value


def connect(settings: Settings) -> Services:
    """Real clients, for the Lambda function."""
    from hubrelay import aws

    def secret(arn: str) -> str:
        return aws.secret(arn, settings.region, settings.secret_max_age_s)

    http = Client(
        timeout_s=settings.http_timeout_s,
        max_reply_bytes=settings.http_max_reply_bytes,
        retry=Retry(max_attempts=settings.http_max_attempts, base_s=0.5, cap_s=8.0),
    )
    return Services(
        aws.lazy_client("securityhub", settings.region), aws.lazy_client("dynamodb"), http, secret
    )


def _retry(settings: Settings) -> Retry:
    return Retry(max_attempts=4, base_s=0.4, cap_s=settings.max_retry_backoff_s)


def on_callback(
    event: Mapping[str, Any], settings: Settings, services: Services
) -> tuple[dict[str, Any], syncback.Outcome]:
    """The function URL's response, and what was resolved."""
    resolved = syncback.Outcome()

    def signing_secrets() -> Mapping[str, str]:
        if not settings.webhook_secret_arn:
            raise callback.Rejected(404, "the status callback is off (no webhook secret)")
        try:
            return webhook.signing_secrets(services.secret(settings.webhook_secret_arn))
        except DeliveryError as error:
            raise callback.Rejected(500, str(error)) from None
        except Exception as error:
            # Any failure: its kind only, never anything that might hold the value.
            raise callback.Rejected(
                500, f"the signing secret cannot be read ({type(error).__name__})"
            ) from None

    def resolve(closures: list[syncback.Closure]) -> syncback.Outcome:
        resolved.add(syncback.resolve(services.securityhub, closures, _retry(settings)))
        return resolved

    handler = callback.Callback(
        signing_secrets,
        callback.ReplayGuard(settings.idempotency_table, services.dynamodb),
        resolve,
    )
    try:
        response = callback.handle(event, handler)
    except Exception as error:
        # Never a traceback to the caller: the log has the kind, the caller one line.
        logger.error("status callback failed", error_type=type(error).__name__)
        response = callback.answer(500, {"error": "internal error; see the function's log"})
    return response, resolved


def on_schedule(
    settings: Settings, services: Services
) -> tuple[syncback.Outcome, syncback.VendorPoll]:
    """One poll of the vendor's back-sync API (nothing without one configured)."""
    if not (settings.vendor_api_url and settings.vendor_secret_arn):
        return syncback.Outcome(), syncback.VendorPoll()
    try:
        text = services.secret(settings.vendor_secret_arn)
    except Exception as error:
        raise syncback.VendorSyncError(
            f"vendor: cannot read its secret ({type(error).__name__})"
        ) from None
    credentials = vendor.credentials(text, settings.vendor_api_url)
    if not credentials["base_url"] or not credentials["token"]:
        raise syncback.VendorSyncError("vendor secret lacks 'base_url' or 'token'")
    watermark = syncback.Watermark(settings.idempotency_table, services.dynamodb)
    try:
        return syncback.sync_vendor(
            services.http, services.securityhub, credentials, watermark, _retry(settings)
        )
    except syncback.VendorSyncError as error:
        # One line with the reason (never the token); the run fails, so the Errors alarm
        # sees it, and the next run starts from the same watermark.
        logger.error("vendor closures not read", reason=str(error))
        raise
