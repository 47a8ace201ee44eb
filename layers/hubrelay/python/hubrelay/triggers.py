"""What started a collector run: its schedule, a report put in S3, or an AWS Health event.

The schedule's input is "{}" (template.yaml CollectorSchedule): a full run from the cursor.
EventBridge delivers the other two, each as one event per invocation:

- "Object Created" of the reports bucket (Amazon S3 sends it once the bucket's EventBridge
  notifications are on: "Using EventBridge",
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventBridge.html; its fields:
  "EventBridge event message structure",
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html). The object key
  comes as it is, not URL-encoded as in S3's own notifications to SQS, SNS or Lambda. It is
  read with Powertools' S3EventNotificationEventBridgeModel.
- "AWS Health Event" ("Monitoring AWS Health events with Amazon EventBridge",
  https://docs.aws.amazon.com/health/latest/ug/cloudwatch-events-health.html; the event's
  fields: "AWS Health events Amazon EventBridge schema",
  https://docs.aws.amazon.com/health/latest/ug/aws-health-events-eventbridge-schema.html).

An event that is neither, or one of them without the fields it must have, is refused with
one EventError naming the event (its id) and the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hubrelay.errors import PermanentError
from hubrelay.settings import Settings

S3_SOURCE, S3_CREATED = "aws.s3", "Object Created"
HEALTH_SOURCE, HEALTH_EVENT = "aws.health", "AWS Health Event"
# Source -> the EventBridge events its collector reads besides its schedule's.
READS = {
    "scanner_reports": (f"{S3_CREATED!r} of {S3_SOURCE}",),
    "health": (f"{HEALTH_EVENT!r} of {HEALTH_SOURCE}",),
}


class EventError(PermanentError):
    """An invocation event the collector does not read; the message names it and says why."""


@dataclass(frozen=True)
class Scheduled:
    """A run from the cursor over everything the source has (the schedule: the backstop)."""


@dataclass(frozen=True)
class ReportCreated:
    """One report object, as S3's Object Created event names it."""

    event_id: str
    bucket: str
    key: str
    etag: str  # without the quotes S3's API puts around it
    size: int


@dataclass(frozen=True)
class HealthEvent:
    """One AWS Health event, as EventBridge delivered it (mapped by sources.health)."""

    event_id: str
    event: Mapping[str, Any]


Trigger = Scheduled | ReportCreated | HealthEvent


def parse(event: Any, settings: Settings) -> Trigger:
    """The trigger of an invocation; EventError for anything else."""
    if not isinstance(event, Mapping):
        raise EventError(f"collector event is a {type(event).__name__}, not a JSON object")
    if not event:
        return Scheduled()
    name = f"event {str(event.get('id', '(no id)'))[:80]}"
    origin = (event.get("source"), event.get("detail-type"))
    if origin == (S3_SOURCE, S3_CREATED) and settings.source == "scanner_reports":
        return _report_created(event, name, settings)
    if origin == (HEALTH_SOURCE, HEALTH_EVENT) and settings.source == "health":
        return _health_event(event, name)
    reads = " and ".join(["its schedule's {}", *READS.get(settings.source, ())])
    raise EventError(
        f"{name}: source {str(origin[0])[:40]!r}, detail-type {str(origin[1])[:60]!r} is not "
        f"an event the {settings.source or 'disabled'} collector reads (it reads {reads})"
    )


def _report_created(event: Mapping[str, Any], name: str, settings: Settings) -> ReportCreated:
    from aws_lambda_powertools.utilities.parser import ValidationError, parse
    from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel

    try:
        parsed = parse(event=dict(event), model=S3EventNotificationEventBridgeModel)
    except ValidationError as exc:
        raise EventError(f"{name}: not a valid S3 Object Created event: {_first(exc)}") from None
    bucket, key = parsed.detail.bucket.name, parsed.detail.object.key
    if bucket != settings.reports_bucket:
        raise EventError(f"{name}: bucket {bucket!r} is not the reports bucket")
    if not key.startswith(settings.reports_prefix) or (
        settings.errors_prefix and key.startswith(settings.errors_prefix)
    ):
        raise EventError(f"{name}: key {key[:200]!r} is not under {settings.reports_prefix!r}")
    return ReportCreated(
        str(parsed.id),
        bucket,
        key,
        parsed.detail.object.etag.strip('"'),
        int(parsed.detail.object.size or 0),
    )


def _health_event(event: Mapping[str, Any], name: str) -> HealthEvent:
    from aws_lambda_powertools.utilities.parser import ValidationError, parse
    from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
    from pydantic import BaseModel, ConfigDict

    # Powertools has no Health model: the schema's fields hubrelay.sources.health maps
    # without a default; the rest of the event goes through as it is.
    class HealthDetail(BaseModel):
        model_config = ConfigDict(extra="allow")
        eventArn: str  # the event schema's own field names
        service: str
        eventTypeCode: str
        startTime: str

    class HealthEventBridgeModel(EventBridgeModel):
        detail: HealthDetail

    try:
        parsed = parse(event=dict(event), model=HealthEventBridgeModel)
    except ValidationError as exc:
        raise EventError(f"{name}: not a valid AWS Health event: {_first(exc)}") from None
    return HealthEvent(str(parsed.id), event)


def _first(exc: Any) -> str:
    """The first problem pydantic found, as `field.path: message`."""
    errors = exc.errors() if hasattr(exc, "errors") else []
    if not errors:
        return str(exc).splitlines()[0][:300]
    where = ".".join(str(part) for part in errors[0].get("loc", ()))
    return f"{where}: {errors[0].get('msg', 'invalid')}"[:300]
