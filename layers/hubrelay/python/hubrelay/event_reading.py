"""Reading a Security Hub event and its ASFF findings, without pydantic when they are plain.

What is readable is defined by the pydantic models of `hubrelay.event_models` (the event
is Powertools' `EventBridgeModel`, read by Powertools' Parser). Importing pydantic and
building those schemas cost the responder about 350 million instructions of its cold start
(docs/operations.md, "Cold starts"), for events that nearly always hold exactly the types
the models declare. So an event or a finding is first checked here for that: every
declared field absent or of its declared type, so that pydantic's lax mode would take it
unchanged (a str where a str is declared, an int but not a bool where an int is,
https://docs.pydantic.dev/latest/concepts/conversion_table/), and every other value a
plain JSON value. Such an input is read here, to what the models would have made of it;
anything else (a value pydantic converts, a missing or wrong field) goes to the models,
whose result or error is the answer as before. `tests/unit/test_event_reading.py` holds
both readings to the same results.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

from hubrelay.route_types import (
    EventFinding,
    OpenRecord,
    ProviderFieldsModel,
    ResourceModel,
    SeverityModel,
    WorkflowModel,
)

R = TypeVar("R", bound=OpenRecord)
_NO: Any = object()  # "not plain": left to pydantic
Check = Callable[[Any], Any]  # the value as read, or _NO


class Unreadable(ValueError):
    """The event or finding is not readable: the reason, as `short` says it."""


@dataclass(frozen=True)
class EventDetail:
    findings: list[Any]
    actionName: str | None = None  # the event's own field name


@dataclass(frozen=True)
class SecurityHubEvent:
    """What routing reads of an EventBridge event of Security Hub."""

    id: str
    region: str
    account: str
    detail_type: str
    resources: list[str]
    detail: EventDetail


def short(error: Any) -> str:
    """A pydantic ValidationError in one line: its first three problems, by field path."""
    parts = []
    for item in error.errors()[:3]:
        where = ".".join(str(p) for p in item["loc"]) or "(event)"
        parts.append(f"{where}: {item['msg']}")
    more = f" (+{error.error_count() - 3} more)" if error.error_count() > 3 else ""
    return "; ".join(parts) + more


# --- Events ---------------------------------------------------------------------------

_ENVELOPE = ("version", "id", "source", "account", "region", "detail-type")
# EventBridge's time, as its events carry it (RFC 3339 in UTC, "2017-12-22T18:43:48Z").
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z")


def _plain_time(value: Any) -> bool:
    if type(value) is not str or not _TIME.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value)  # a real date and time (pydantic checks the same)
    except ValueError:
        return False
    return True


def _plain_event(event: dict[str, Any]) -> SecurityHubEvent | None:
    if any(type(event.get(name)) is not str for name in _ENVELOPE):
        return None
    # The models' field names taken for their aliases (populate_by_name): pydantic's call.
    if "detail_type" in event or "replay_name" in event:
        return None
    resources, detail = event.get("resources"), event.get("detail")
    replay = event.get("replay-name")
    if not _plain_time(event.get("time")) or (replay is not None and type(replay) is not str):
        return None
    if type(resources) is not list or any(type(arn) is not str for arn in resources):
        return None
    if type(detail) is not dict or not _optional_texts(detail, "actionName", "actionDescription"):
        return None
    findings = detail.get("findings")
    if type(findings) is not list or not findings:
        return None
    return SecurityHubEvent(
        id=event["id"],
        region=event["region"],
        account=event["account"],
        detail_type=event["detail-type"],
        resources=list(resources),
        detail=EventDetail(list(findings), detail.get("actionName")),
    )


def _optional_texts(record: dict[str, Any], *names: str) -> bool:
    return all(record.get(name) is None or type(record[name]) is str for name in names)


def read_event(event: dict[str, Any]) -> SecurityHubEvent:
    """The event as routing reads it; Unreadable when Powertools' Parser refuses it."""
    plain = _plain_event(event)
    if plain is not None:
        return plain
    from aws_lambda_powertools.utilities.parser import parse
    from pydantic import ValidationError

    from hubrelay.event_models import SecurityHubEvent as Model

    try:
        parsed = parse(event=dict(event), model=Model)
    except ValidationError as error:
        raise Unreadable(short(error)) from None
    detail = EventDetail(parsed.detail.findings, parsed.detail.actionName)
    return SecurityHubEvent(
        parsed.id, parsed.region, parsed.account, parsed.detail_type, parsed.resources, detail
    )


# --- Findings -------------------------------------------------------------------------


def _plain(value: Any) -> bool:
    """A JSON value: what pydantic's JSON mode dumps as an equal copy."""
    kind = type(value)
    if kind is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    if kind is list:
        return all(_plain(v) for v in value)
    if kind is float:
        return math.isfinite(value)
    return value is None or kind in (str, int, bool)


def _text(value: Any) -> Any:
    return value if type(value) is str else _NO


def _optional_text(value: Any) -> Any:
    return value if value is None or type(value) is str else _NO


def _optional_int(value: Any) -> Any:
    return value if value is None or type(value) is int else _NO


def _texts(value: Any) -> Any:
    if type(value) is list and all(type(v) is str for v in value):
        return list(value)
    return _NO


def _mapping(value: Any) -> Any:
    return dict(value) if type(value) is dict and _plain(value) else _NO


def _optional_mapping(value: Any) -> Any:
    return None if value is None else _mapping(value)


def _bounded(longest: int) -> Check:
    # Constrained text is counted in characters, and pydantic refuses lone surrogates in
    # it: ASCII only here (ARNs and Ids are), the rest is pydantic's.
    def check(value: Any) -> Any:
        ok = type(value) is str and value.isascii() and 1 <= len(value) <= longest
        return value if ok else _NO

    return check


def _record(kind: type[R]) -> Check:
    return lambda value: None if value is None else _read(kind, value)


def _records(kind: type[R]) -> Check:
    def check(value: Any) -> Any:
        if type(value) is not list:
            return _NO
        read = [_read(kind, item) for item in value]
        return _NO if any(item is _NO for item in read) else read

    return check


def _kind(annotation: str) -> Check:
    return {
        "str": _text,
        "str | None": _optional_text,
        "int | None": _optional_int,
        "list[str]": _texts,
        "dict[str, Any]": _mapping,
        "dict[str, Any] | None": _optional_mapping,
        "SeverityModel | None": _record(SeverityModel),
        "ProviderFieldsModel | None": _record(ProviderFieldsModel),
        "WorkflowModel | None": _record(WorkflowModel),
        "list[ResourceModel]": _records(ResourceModel),
    }[annotation]


_BOUNDED: dict[tuple[type[OpenRecord], str], Check] = {
    (EventFinding, "Id"): _bounded(512),
    (EventFinding, "ProductArn"): _bounded(2048),
}


@cache
def _checks(kind: type[OpenRecord]) -> dict[str, tuple[Check, bool]]:
    """Each declared field of a record: its check, and whether the input must have it."""
    out = {}
    for f in fields(kind):
        if f.kw_only:  # OpenRecord's own: extra, set_fields
            continue
        check = _BOUNDED.get((kind, f.name)) or _kind(str(f.type))
        out[f.name] = (check, f.default is MISSING and f.default_factory is MISSING)
    return out


def _read(kind: type[R], raw: Any) -> Any:
    """`kind` read from a plain input, or _NO."""
    if type(raw) is not dict:
        return _NO
    checks = _checks(kind)  # type: ignore[arg-type]  # a class is hashable
    values = {}
    for name, (check, required) in checks.items():
        if name not in raw:
            if required:
                return _NO
            continue
        value = check(raw[name])
        if value is _NO:
            return _NO
        values[name] = value
    extra = {name: value for name, value in raw.items() if name not in checks}
    if not _plain(extra):
        return _NO
    return kind(**values, extra=extra, set_fields=tuple(values))


def read_finding(raw: Any) -> EventFinding:
    """An ASFF finding of an event; Unreadable (with pydantic's reasons) when it is not one."""
    plain = _read(EventFinding, raw)
    if plain is not _NO:
        return plain  # type: ignore[no-any-return]
    from pydantic import ValidationError

    from hubrelay.event_models import EventFindingModel

    try:
        model = EventFindingModel.model_validate(raw)
    except ValidationError as error:
        raise Unreadable(short(error)) from None
    return _built(EventFinding, model.model_dump(mode="json", exclude_unset=True))


_NESTED: dict[str, type[OpenRecord]] = {
    "SeverityModel | None": SeverityModel,
    "ProviderFieldsModel | None": ProviderFieldsModel,
    "WorkflowModel | None": WorkflowModel,
    "list[ResourceModel]": ResourceModel,
}


def _built(kind: type[R], dumped: dict[str, Any]) -> R:
    """`kind` from what its pydantic model read, dumped (its set fields, then the others)."""
    values: dict[str, Any] = {}
    for f in fields(kind):
        if f.kw_only or f.name not in dumped:
            continue
        value, nested = dumped[f.name], _NESTED.get(str(f.type))
        if nested is not None and isinstance(value, list):
            value = [_built(nested, item) for item in value]
        elif nested is not None and value is not None:
            value = _built(nested, value)
        values[f.name] = value
    extra = {name: value for name, value in dumped.items() if name not in values}
    return kind(**values, extra=extra, set_fields=tuple(values))
