"""Systems Manager OpsCenter: one OpsItem per finding.

OpsCenter is one of the services that receive Security Hub findings ("Available AWS service
integrations", https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-internal-providers.html).

OperationalData carries the finding's key data; `/aws/dedup` holds a deduplication string
derived from the finding's identity (ProductArn + Id, hashed: Ids run to 512 characters),
so OpsCenter itself refuses a second open OpsItem for the same finding.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hubrelay import asff
from hubrelay.destinations.common import finding_summary, per_finding
from hubrelay.errors import DeliveryError
from hubrelay.route_types import Decision, Delivery, Destination, EventFinding, Outlets
from hubrelay.settings import Settings

SOURCE = "SecurityHub"
CATEGORY = "Security"
# OpsItem Severity is "1" (highest) to "4".
SEVERITY = {"CRITICAL": "1", "HIGH": "2", "MEDIUM": "3", "LOW": "4", "INFORMATIONAL": "4"}
_MAX_VALUE = 1024  # keep each value small: OperationalData totals at most 20 KB


def dedup_string(finding: EventFinding) -> str:
    digest = hashlib.sha256(f"{finding.ProductArn}\n{finding.Id}".encode()).hexdigest()
    return f"hubrelay:{digest}"


def _data(value: str, searchable: bool = False) -> dict[str, str]:
    return {
        "Value": asff.truncate(value, _MAX_VALUE),
        "Type": "SearchableString" if searchable else "String",
    }


def render_one(decision: Decision, finding: EventFinding) -> dict[str, Any]:
    """The exact CreateOpsItem request."""
    summary = finding_summary(finding, decision.region)
    arns = [r["id"] for r in summary["resources"] if str(r["id"]).startswith("arn:")]
    data: dict[str, dict[str, str]] = {
        "/aws/dedup": {
            "Value": json.dumps({"dedupString": dedup_string(finding)}),
            "Type": "SearchableString",
        },
        "hubrelay:findingId": _data(finding.Id, searchable=True),
        "hubrelay:productArn": _data(finding.ProductArn, searchable=True),
        "hubrelay:severity": _data(summary["severity"], searchable=True),
        "hubrelay:awsAccountId": _data(str(summary["awsAccountId"]), searchable=True),
        "hubrelay:region": _data(str(summary["region"])),
        "hubrelay:types": _data(json.dumps(summary["types"][:10])),
        "hubrelay:route": _data(decision.route_name or ""),
    }
    if arns:
        data["/aws/resources"] = {
            "Value": json.dumps([{"arn": arn} for arn in arns[:10]]),
            "Type": "SearchableString",
        }
    for name, url in summary["links"].items():
        data[f"hubrelay:{name}Url"] = _data(url)
    description = asff.truncate(
        "\n".join(
            part
            for part in (
                str(summary["description"]),
                f"Product: {summary['productName'] or summary['productArn']}",
                f"Security Hub: {summary['links'].get('securityHub', '')}",
            )
            if part.strip()
        ),
        2048,
    )
    return {
        "Title": asff.truncate(f"[{summary['severity']}] {summary['title']}", 1024),
        "Description": description,
        "Source": SOURCE,
        "Category": CATEGORY,
        "Severity": SEVERITY.get(summary["severity"], "4"),
        "OperationalData": data,
    }


render = per_finding("opscenter", render_one)


def enabled(settings: Settings) -> bool:
    return settings.opscenter_enabled


def action_arn(settings: Settings) -> str:
    return settings.opscenter_action_arn


def send(
    delivery: Delivery, key: Mapping[str, str], settings: Settings, outlets: Outlets
) -> dict[str, str]:
    try:
        reply = outlets.ssm.create_ops_item(**delivery.payload)
    except ClientError as error:
        # The finding's OpsItem exists already (its dedup string is the finding's identity):
        # that one is the reference, not a failed delivery. CreateOpsItem's
        # OpsItemAlreadyExistsException carries its OpsItemId
        # (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_CreateOpsItem.html).
        existing = error.response.get("OpsItemId")
        code = error.response.get("Error", {}).get("Code")
        if code == "OpsItemAlreadyExistsException" and existing:
            return {"reference": str(existing)}
        raise DeliveryError(f"opscenter: {error}") from None
    except BotoCoreError as error:
        raise DeliveryError(f"opscenter: {error}") from None
    return {"reference": str(reply["OpsItemId"])}


DESTINATION = Destination(
    "opscenter",
    "OpsCenter",
    enabled,
    action_arn,
    render,
    send,
    needs="EnableOpsCenter=true (HUBRELAY_OPSCENTER_ENABLED)",
)
