"""OCSF findings of the new Security Hub, read from `Findings Imported V2` events.

The event: source `aws.securityhub`, detail-type `Findings Imported V2`, one OCSF finding in
`detail.findings`, `resources` holding its `metadata.uid` ("EventBridge event formats",
https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-v2-cwe-event-formats.html).
`OcsfFinding` (hubrelay.ocsf_models) models the fields hubrelay uses (the rest is kept as
received); the ones that identify a finding are required, as BatchUpdateFindingsV2 needs them
(`OcsfFindingIdentifier`: cloud.account.uid, finding_info.uid, metadata.product.uid;
https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_OcsfFindingIdentifier.html).

`event_finding` maps one into the `EventFinding` every destination renders: Id is
`metadata.uid`, ProductArn is `metadata.product.uid`, the severity and workflow status are
OCSF's `severity_id` and `status_id` in ASFF's words, and `Ocsf` keeps the finding as
received (the webhook sends it as `ocsf`; the write-back knows the new Security Hub by it).
"""

from __future__ import annotations

from typing import Any

from hubrelay.event_reading import Unreadable, read_finding, short
from hubrelay.route_types import EventFinding

IMPORTED_V2 = "Findings Imported V2"

# OCSF severity_id -> ASFF Severity.Label (the ids: hubrelay.ocsf_models.SEVERITY_IDS).
# Unknown and Other are informational: nothing says more.
SEVERITY_LABELS = {1: "INFORMATIONAL", 2: "LOW", 3: "MEDIUM", 4: "HIGH", 5: "CRITICAL"}
SEVERITY_LABELS[6] = "CRITICAL"
# OCSF status_id -> ASFF Workflow.Status: New, In Progress (what hubrelay's write-back sets,
# its "notified"), Suppressed, Resolved; Archived is a RecordState in ASFF.
WORKFLOW = {1: "NEW", 2: "NOTIFIED", 3: "SUPPRESSED", 4: "RESOLVED", 5: "RESOLVED"}
ARCHIVED = 5


def event_finding(raw: Any, resources: list[str] | None = None) -> EventFinding:
    """The `EventFinding` for one OCSF finding of an event; Unreadable (a ValueError, with
    pydantic's reasons) when it is not one, ValueError when its metadata.uid is not among
    the event's `resources`.

    The OCSF models are pydantic's (`hubrelay.ocsf_models`), imported with the first
    `Findings Imported V2` event: the new Security Hub's route is off by default."""
    from pydantic import ValidationError

    from hubrelay.ocsf_models import OcsfFinding

    try:
        finding = OcsfFinding.model_validate(raw)
    except ValidationError as error:
        raise Unreadable(short(error)) from None
    uid = finding.metadata.uid
    if resources is not None and uid not in resources:
        raise ValueError(f"metadata.uid {uid[:80]!r} is not among the event's resources")
    info = finding.finding_info
    label = SEVERITY_LABELS.get(finding.severity_id, "INFORMATIONAL")
    return read_finding(
        {
            "Id": uid,
            "ProductArn": finding.metadata.product.uid,
            "AwsAccountId": finding.cloud.account.uid,
            "Region": finding.cloud.region,
            "GeneratorId": info.uid,
            "ProductName": finding.metadata.product.name,
            "CompanyName": finding.metadata.product.vendor_name,
            "Title": info.title or info.uid,
            "Description": info.desc or "",
            "Types": info.types,
            "Severity": {"Label": label, "Original": finding.severity or str(finding.severity_id)},
            "Resources": [
                {"Type": r.type or "Other", "Id": r.uid or "unknown", "Region": r.region}
                for r in finding.resources
            ],
            "Workflow": {"Status": WORKFLOW.get(finding.status_id, "UNKNOWN")},
            "RecordState": "ARCHIVED" if finding.status_id == ARCHIVED else "ACTIVE",
            "CreatedAt": info.created_time_dt,
            "UpdatedAt": info.modified_time_dt,
            "SourceUrl": info.src_url,
            "ProductFields": {
                "ocsf/class_uid": str(finding.class_uid),
                "ocsf/activity_name": finding.activity_name or "",
                "ocsf/finding_info.uid": info.uid,
            },
            "Ocsf": raw,
        }
    )
