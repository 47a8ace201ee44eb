"""Back-sync to the vendor's own API: tell the source product where its finding went.

Only this product's findings are synced (the others belong to other vendors). The request
is `POST <base_url>/securityhub/notifications` with a bearer token. The base URL and the
secret are the collector's (`vendor_api_url`, `vendor_secret_arn`): the secret is either the
token itself or JSON with "token" (or "api_key") and optionally "base_url". A JSON reply
may name the vendor's own reference as {"reference": "..."}.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hubrelay.asff import parse_product_arn
from hubrelay.destinations.common import finding_summary, per_finding, read_secret
from hubrelay.errors import DeliveryError
from hubrelay.http import HttpError
from hubrelay.route_types import Decision, Delivery, Destination, EventFinding, Outlets
from hubrelay.settings import Settings

PATH = "/securityhub/notifications"


def not_applicable(finding: EventFinding, settings: Settings) -> str | None:
    """Why this finding is not the vendor's to hear about, or None.

    A product is its company and product: its ARN differs by Region, and carries the
    partner's account or none at all ("Available third-party partner product integrations",
    https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-partner-providers.html),
    so the account never decides. AWS services' products (company "aws") are never ours.
    """
    theirs = parse_product_arn(finding.ProductArn)
    if theirs is None or theirs.is_aws_service:
        return "not this product's finding"
    if settings.product_arn:
        ours = parse_product_arn(settings.product_arn)
        if ours and (ours.company, ours.product) == (theirs.company, theirs.product):
            return None
        return "not this product's finding"
    # The private default product: product/<account>/default in the finding's own account.
    if theirs.is_private_default:
        return None
    return "not this product's finding"


def credentials(secret_text: str, default_base_url: str) -> dict[str, str]:
    """{"base_url", "token"} from the vendor secret and the configured API URL."""
    try:
        document = json.loads(secret_text)
    except ValueError:
        document = None
    if isinstance(document, dict):
        token = document.get("token") or document.get("api_key") or ""
        base = document.get("base_url") or default_base_url
    else:
        token, base = secret_text.strip(), default_base_url
    return {"base_url": str(base), "token": str(token)}


def render_one(decision: Decision, finding: EventFinding) -> dict[str, Any]:
    summary = finding_summary(finding, decision.region)
    document = {
        "findingId": finding.Id,
        "productArn": finding.ProductArn,
        "generatorId": finding.GeneratorId,
        "awsAccountId": finding.AwsAccountId,
        "workflowStatus": "NOTIFIED",
        "route": decision.route_name,
        "securityHubUrl": summary["links"].get("securityHub"),
    }
    return {"method": "POST", "path": PATH, "body": json.dumps(document, sort_keys=True)}


render = per_finding("vendor", render_one)


def enabled(settings: Settings) -> bool:
    return settings.vendor_back_sync and bool(settings.vendor_secret_arn)


def action_arn(settings: Settings) -> str:
    return settings.vendor_action_arn


def send(
    delivery: Delivery, key: Mapping[str, str], settings: Settings, outlets: Outlets
) -> dict[str, str]:
    secret = credentials(
        read_secret(outlets, settings.vendor_secret_arn, "vendor"), settings.vendor_api_url
    )
    base, token = secret.get("base_url"), secret.get("token")
    if not base or not token:
        raise DeliveryError("vendor secret lacks 'base_url' or 'token'")
    payload = delivery.payload
    try:
        reply = outlets.http.request(
            str(payload["method"]),
            base.rstrip("/") + str(payload["path"]),
            body=str(payload["body"]).encode("utf-8"),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
    except (HttpError, ValueError) as error:
        raise DeliveryError(f"vendor: {error}") from None
    try:
        document = reply.json()
    except ValueError:
        document = None
    reference = document.get("reference") if isinstance(document, dict) else None
    return {"reference": str(reference) if reference else f"HTTP {reply.status}"}


DESTINATION = Destination(
    "vendor",
    "vendor API",
    enabled,
    action_arn,
    render,
    send,
    not_applicable=not_applicable,
    needs=(
        "EnableVendorBackSync=true and BackSyncSecretName"
        " (HUBRELAY_VENDOR_BACK_SYNC, HUBRELAY_VENDOR_SECRET_ARN)"
    ),
)
