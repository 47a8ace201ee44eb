"""The pydantic models of a Security Hub event and its ASFF findings: what is readable.

`hubrelay.event_reading` reads an event or a finding without them when every declared field
already has the type declared (nearly every event Security Hub sends); anything else is
read here, as it always was: pydantic converts what its lax mode converts
(https://docs.pydantic.dev/latest/concepts/conversion_table/) and its errors are the
reasons given. Imported only then: pydantic's import and these models' schemas were about
a fifth of the responder's cold start (docs/operations.md, "Cold starts").
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field


class OpenModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class SeverityModel(OpenModel):
    Label: str | None = None
    Normalized: int | None = None
    Original: str | None = None


class WorkflowModel(OpenModel):
    Status: str | None = None


class ResourceModel(OpenModel):
    Type: str = "Other"
    Id: str = "unknown"
    Region: str | None = None
    Partition: str | None = None


class ProviderFieldsModel(OpenModel):
    Severity: SeverityModel | None = None


class EventFindingModel(OpenModel):
    """`hubrelay.route_types.EventFinding`'s fields: only Id and ProductArn are required."""

    Id: str = Field(min_length=1, max_length=512)
    ProductArn: str = Field(min_length=1, max_length=2048)
    AwsAccountId: str | None = None
    Region: str | None = None
    GeneratorId: str | None = None
    ProductName: str | None = None
    CompanyName: str | None = None
    Title: str | None = None
    Description: str | None = None
    Types: list[str] = Field(default_factory=list)
    Severity: SeverityModel | None = None
    FindingProviderFields: ProviderFieldsModel | None = None
    Resources: list[ResourceModel] = Field(default_factory=list)
    Workflow: WorkflowModel | None = None
    RecordState: str | None = None
    CreatedAt: str | None = None
    UpdatedAt: str | None = None
    SourceUrl: str | None = None
    ProductFields: dict[str, Any] = Field(default_factory=dict)
    UserDefinedFields: dict[str, Any] = Field(default_factory=dict)
    Ocsf: dict[str, Any] | None = None


class SecurityHubDetail(OpenModel):
    # Findings are read one by one (hubrelay.routing), so that one unreadable finding does
    # not cost the others their delivery.
    findings: list[Any] = Field(min_length=1)
    actionName: str | None = None
    actionDescription: str | None = None


class SecurityHubEvent(EventBridgeModel):
    detail: SecurityHubDetail
