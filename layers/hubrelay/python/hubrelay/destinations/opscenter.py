"""Systems Manager OpsCenter: one OpsItem per finding (seed 003: OpsCenter receives findings).

OperationalData carries the finding's key data; `/aws/dedup` holds a deduplication string
derived from the finding's identity (ProductArn + Id, hashed: Ids run to 512 characters),
so OpsCenter itself refuses a second open OpsItem for the same finding.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from hubrelay import asff
from hubrelay.destinations import DeliveryError

if TYPE_CHECKING:
    from hubrelay.routing import Decision, Finding

SOURCE = "SecurityHub"
CATEGORY = "Security"
# OpsItem Severity is "1" (highest) to "4".
SEVERITY = {"CRITICAL": "1", "HIGH": "2", "MEDIUM": "3", "LOW": "4", "INFORMATIONAL": "4"}
_MAX_VALUE = 1024  # keep each value small: OperationalData totals at most 20 KB


def dedup_string(finding: Finding) -> str:
    digest = hashlib.sha256(f"{finding.ProductArn}\n{finding.Id}".encode()).hexdigest()
    return f"hubrelay:{digest}"


def _data(value: str, searchable: bool = False) -> dict[str, str]:
    return {
        "Value": asff.truncate(value, _MAX_VALUE),
        "Type": "SearchableString" if searchable else "String",
    }


def render(decision: Decision, finding: Finding) -> dict[str, Any]:
    """The exact CreateOpsItem request."""
    from hubrelay.routing import finding_summary

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
        "hubrelay:route": _data(decision.route.name if decision.route else ""),
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


def send(payload: Mapping[str, Any], ssm: Any) -> dict[str, str]:
    try:
        reply = ssm.create_ops_item(**payload)
    except (ClientError, BotoCoreError) as error:
        raise DeliveryError(f"opscenter: {error}") from None
    return {"reference": str(reply["OpsItemId"])}
