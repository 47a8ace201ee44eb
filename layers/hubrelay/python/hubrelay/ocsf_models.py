"""The pydantic models of an OCSF finding of the new Security Hub (hubrelay.ocsf).

Apart from `hubrelay.ocsf` so that pydantic is imported with the first `Findings Imported V2`
event, not with every responder (hubrelay.event_reading).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from hubrelay.event_models import OpenModel

# OCSF 1.x "severity_id": 0 Unknown, 1 Informational, 2 Low, 3 Medium, 4 High, 5 Critical,
# 6 Fatal, 99 Other; the ids BatchUpdateFindingsV2 accepts (their labels: hubrelay.ocsf).
SEVERITY_IDS = frozenset({0, 1, 2, 3, 4, 5, 6, 99})
# OCSF "status_id": 0 Unknown, 1 New, 2 In Progress, 3 Suppressed, 4 Resolved, 5 Archived,
# 99 Other.
STATUS_IDS = frozenset({0, 1, 2, 3, 4, 5, 99})
# OCSF's Findings category (category_uid 2): class_uid 2001 to 2099, among them 2002
# Vulnerability, 2003 Compliance, 2004 Detection Finding (https://schema.ocsf.io/categories/findings).
FINDING_CLASSES = range(2001, 2100)


def _text(max_length: int = 2048) -> Any:
    return Field(min_length=1, max_length=max_length, pattern=r"\S")


class OcsfProduct(OpenModel):
    uid: str = _text()
    name: str | None = None
    vendor_name: str | None = None


class OcsfMetadata(OpenModel):
    uid: str = _text(512)
    product: OcsfProduct


class OcsfFindingInfo(OpenModel):
    uid: str = _text()
    title: str | None = None
    desc: str | None = None
    types: list[str] = Field(default_factory=list)
    created_time_dt: str | None = None
    modified_time_dt: str | None = None
    src_url: str | None = None


class OcsfAccount(OpenModel):
    uid: str = Field(pattern=r"^\d{12}$")


class OcsfCloud(OpenModel):
    account: OcsfAccount
    region: str = Field(min_length=1, max_length=64)


class OcsfResource(OpenModel):
    uid: str | None = None
    type: str | None = None
    region: str | None = None


class OcsfFinding(OpenModel):
    """An OCSF finding as the new Security Hub sends it."""

    metadata: OcsfMetadata
    finding_info: OcsfFindingInfo
    cloud: OcsfCloud
    class_uid: int
    severity_id: int
    status_id: int = 0
    severity: str | None = None
    status: str | None = None
    activity_name: str | None = None
    class_name: str | None = None
    comment: str | None = None
    resources: list[OcsfResource] = Field(default_factory=list)

    @field_validator("class_uid")
    @classmethod
    def _a_finding_class(cls, value: int) -> int:
        if value not in FINDING_CLASSES:
            raise ValueError(f"class_uid {value} is not an OCSF Findings class (2001-2099)")
        return value

    @field_validator("severity_id")
    @classmethod
    def _severity(cls, value: int) -> int:
        if value not in SEVERITY_IDS:
            raise ValueError(f"severity_id {value} is not one of {sorted(SEVERITY_IDS)}")
        return value

    @field_validator("status_id")
    @classmethod
    def _status(cls, value: int) -> int:
        if value not in STATUS_IDS:
            raise ValueError(f"status_id {value} is not one of {sorted(STATUS_IDS)}")
        return value
