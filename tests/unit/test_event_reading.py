"""hubrelay.event_reading: an event or a finding read without pydantic is read exactly as the
pydantic models (Powertools' EventBridgeModel, hubrelay.event_models) read it, and anything
those models would convert or refuse is theirs, with their reasons."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser import parse
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from hubrelay import event_reading
from hubrelay.event_models import EventFindingModel, SecurityHubEvent
from hubrelay.event_reading import Unreadable, read_event, read_finding, short
from hubrelay.route_types import OpenRecord
from hubrelay_emulator import samples
from tests.support import load_fixture

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = ["guardduty", "inspector", "macie", "securityhub-control", "partner", "multi"]


def _ordered(value: Any) -> str:
    return json.dumps(value)  # key order included: payloads carry the finding as dumped


def _findings() -> list[dict[str, Any]]:
    rng = random.Random(7)
    made = [samples.control_finding(rng, n, "111111111111") for n in range(5)]
    made += [samples.vulnerability_finding(rng, n, "111111111111") for n in range(5)]
    for family in FAMILIES:
        made += load_fixture(f"events/custom-action-{family}.json")["detail"]["findings"]
    return made


BASE = {"Id": "f-1", "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/guardduty"}
# Each a change pydantic's lax mode converts, refuses, or takes as it is.
VARIANTS: list[dict[str, Any]] = [
    {},
    {"Id": ""},
    {"Id": "x" * 513},
    {"Id": "x" * 512},
    {"Id": "é"},
    {"Id": "\ud800"},
    {"Id": 5},
    {"ProductArn": None},
    {"Title": "\ud800"},
    {"Title": 7},
    {"Title": None},
    {"Types": ["a", 1]},
    {"Types": ("a",)},
    {"Types": None},
    {"Severity": {"Normalized": True}},
    {"Severity": {"Normalized": 40.0}},
    {"Severity": {"Normalized": "40"}},
    {"Severity": {"Normalized": 2**70, "Label": "HIGH", "Product": 3.5}},
    {"Severity": None},
    {"Severity": "HIGH"},
    {"FindingProviderFields": {"Severity": {"Label": "LOW"}, "Types": ["t"]}},
    {"FindingProviderFields": {"Severity": {"Label": 1}}},
    {"Resources": [{"Type": "AwsEc2Instance", "Id": "i-1", "Details": {"a": [1, {"b": None}]}}]},
    {"Resources": [{}]},
    {"Resources": [{"Id": None}]},
    {"Resources": None},
    {"Resources": {"Type": "x"}},
    {"Workflow": {"Status": "NEW", "x": 1}},
    {"Workflow": {"Status": ["NEW"]}},
    {"ProductFields": {"k": "v", "n": 1}},
    {"ProductFields": None},
    {"UserDefinedFields": {"a": {"deep": [1, 2.5, True, None]}}},
    {"Ocsf": {"metadata": {}}},
    {"Ocsf": None},
    {"Ocsf": []},
    {"_private": 1, "model_config": 2, "extra": 3, "set_fields": 4},
    {"zz": float("nan")},
    {"zz": (1, 2)},
    {"zz": {1: "int key"}},
]


def _pydantic(raw: Any) -> tuple[str, Any]:
    try:
        model = EventFindingModel.model_validate(raw)
    except ValidationError as error:
        return "error", short(error)
    dumped = model.model_dump(mode="json", exclude_unset=True)
    fields = {name: getattr(model, name) for name in EventFindingModel.model_fields}
    return "read", (_ordered({k: v for k, v in dumped.items() if k != "Ocsf"}), fields)


def _ours(raw: Any) -> tuple[str, Any]:
    try:
        finding = read_finding(raw)
    except Unreadable as error:
        return "error", str(error)
    fields = {name: getattr(finding, name) for name in EventFindingModel.model_fields}
    return "read", (_ordered(finding.raw()), fields)


def _comparable(result: tuple[str, Any]) -> Any:
    """What a reading gave: the error, or the finding's dump (key order included) and every
    declared field's value, nested records with their defaults and their other fields."""
    kind, value = result
    if kind == "error":
        return result
    dumped, fields = value
    return kind, dumped, _ordered(_every_field(fields))


def _every_field(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, OpenRecord):
        declared = [f.name for f in dataclasses.fields(value) if not f.kw_only]
        return _every_field({**{n: getattr(value, n) for n in declared}, **value.extra})
    if isinstance(value, dict):
        return {k: _every_field(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_every_field(v) for v in value]
    return value


@pytest.mark.parametrize("index", range(len(_findings())))
def test_a_real_finding_is_read_without_pydantic_as_pydantic_reads_it(index, monkeypatch):
    raw = _findings()[index]
    expected = _comparable(_pydantic(copy.deepcopy(raw)))
    # The plain reading alone: pydantic's models are not reached.
    monkeypatch.setattr(
        "hubrelay.event_models.EventFindingModel.model_validate", _unreachable, raising=True
    )
    assert _comparable(_ours(copy.deepcopy(raw))) == expected


def _unreachable(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a plain finding was left to pydantic")


@pytest.mark.parametrize("change", VARIANTS, ids=[repr(v)[:40] for v in VARIANTS])
def test_every_other_finding_is_read_or_refused_as_pydantic_does(change):
    raw = {**BASE, **change}
    assert _comparable(_ours(copy.deepcopy(raw))) == _comparable(_pydantic(copy.deepcopy(raw)))


@pytest.mark.parametrize("raw", [None, [], "finding", 3])
def test_a_finding_that_is_not_an_object_is_refused_with_pydantics_reason(raw):
    assert _ours(raw) == _pydantic(raw)


def test_what_a_finding_is_read_to_is_its_own_copy():
    raw = {**BASE, "UserDefinedFields": {"a": "b"}, "Types": ["t"], "zz": {"deep": [1]}}
    finding = read_finding(raw)
    finding.UserDefinedFields["c"] = "d"
    finding.Types.append("u")
    finding.raw()["zz"]["deep"].append(2)
    assert raw == {**BASE, "UserDefinedFields": {"a": "b"}, "Types": ["t"], "zz": {"deep": [1]}}
    # exclude_unset: a field the input did not have stays out of the dump, as pydantic's
    assert "UserDefinedFields" not in read_finding(dict(BASE)).raw()


def _event_fields(parsed: Any) -> Any:
    """What either reading of an event gives its callers, to compare the two."""
    d = parsed.detail
    return (
        parsed.id,
        parsed.region,
        parsed.account,
        parsed.detail_type,
        parsed.resources,
        (d.findings, d.actionName),
    )


def _event_pydantic(event: dict[str, Any]) -> Any:
    try:
        parsed = parse(event=copy.deepcopy(event), model=SecurityHubEvent)
    except ValidationError as error:
        return "error", short(error)
    return _event_fields(parsed)


def _event_ours(event: dict[str, Any]) -> Any:
    try:
        parsed = read_event(copy.deepcopy(event))
    except Unreadable as error:
        return "error", str(error)
    return _event_fields(parsed)


EVENT_CHANGES: list[dict[str, Any]] = [
    {},
    {"time": "2026-02-30T00:00:00Z"},
    {"time": "2026-01-01T00:00:00.123456Z"},
    {"time": "2026-01-01T00:00:00+01:00"},
    {"time": "2026-01-01T24:00:00Z"},
    {"time": 1700000000},
    {"time": "0000-01-01T00:00:00Z"},
    {"version": 0},
    {"account": None},
    {"resources": ["a", 2]},
    {"resources": "arn"},
    {"detail": {"findings": []}},
    {"detail": {"findings": [{}], "actionName": 3}},
    {"detail": {"findings": [{}], "actionName": None, "more": 1}},
    {"detail": "{}"},
    {"replay-name": "r"},
    {"replay-name": 5},
    {"detail_type": "Security Hub Findings - Custom Action"},
    {"replay_name": "r"},
]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_real_event_is_read_without_powertools_parser_as_it_reads_it(family, monkeypatch):
    event = load_fixture(f"events/custom-action-{family}.json")
    expected = _event_pydantic(event)
    monkeypatch.setattr("aws_lambda_powertools.utilities.parser.parse", _unreachable)
    assert _event_ours(event) == expected


@pytest.mark.parametrize("change", EVENT_CHANGES, ids=[repr(c)[:40] for c in EVENT_CHANGES])
def test_every_other_event_is_read_or_refused_as_powertools_parser_does(change):
    event = {**load_fixture("events/custom-action-guardduty.json"), **change}
    assert _event_ours(event) == _event_pydantic(event)


@pytest.mark.parametrize("missing", ["version", "id", "time", "resources", "detail", "detail-type"])
def test_an_event_missing_a_field_is_refused_as_powertools_parser_does(missing):
    event = load_fixture("events/custom-action-guardduty.json")
    event.pop(missing)
    assert _event_ours(event) == _event_pydantic(event)
    assert _event_ours(event)[0] == "error"


DECIDED = (
    "import sys, json\nsys.path[:0] = sys.argv[1:2]\n"
    "from hubrelay.routing import RouteConfig, decide\nfrom hubrelay.settings import Settings\n"
    "event = json.loads(sys.argv[2])\n"
    "config = RouteConfig.from_settings(Settings(sns_action_arn=event['resources'][0],"
    " sns_topic_arn='arn:aws:sns:us-east-1:111111111111:t'))\n"
    "decision = decide(event, config)\n"
    "assert decision.accepted and decision.findings, decision.reason\n"
    "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'pydantic_core')))\n"
)


def test_a_custom_action_on_a_plain_finding_is_routed_without_importing_pydantic():
    # pydantic's import and the models' schemas were about a quarter of the responder's
    # cold start (docs/operations.md, "Cold starts").
    event = load_fixture("events/custom-action-securityhub-control.json")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS", "AWS_"))}
    env.update({"AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true"})
    done = subprocess.run(
        [sys.executable, "-c", DECIDED, str(ROOT / "layers/hubrelay/python"), json.dumps(event)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_the_plain_reading_checks_every_field_the_model_declares():
    # A field added to one and not the other would be read by pydantic's rules alone.
    checks = event_reading._checks(event_reading.EventFinding)  # type: ignore[arg-type]
    assert list(checks) == list(EventFindingModel.model_fields)
    required = [name for name, (_, needed) in checks.items() if needed]
    assert required == [n for n, f in EventFindingModel.model_fields.items() if f.is_required()]


# Any value a field may hold, in and out of what the models declare.
_VALUES = st.sampled_from(
    [
        *(None, "", "x", "é", "\ud800", "x" * 600, 0, 1, -3, 2**70, 1.5, 40.0, True, False),
        *([], ["a"], ["a", 1], {}, {"Label": "HIGH"}, {"Normalized": 50}, {"Status": "NEW"}),
        *([{"Type": "T", "Id": "i"}], [{"Id": 3}], {"k": [1, {"n": None}]}, {"Severity": {}}),
    ]
)
_FIELDS = st.sampled_from(
    [
        *EventFindingModel.model_fields,
        *("Compliance", "Note", "_x", "Severity.Label", "Severity.Normalized", "Severity.X"),
        *("Workflow.Status", "FindingProviderFields.Severity", "Resources.0.Type"),
        *("Resources.0.Id", "Resources.0.Z"),
    ]
)


def _set(raw: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node: Any = raw
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if not isinstance(node, (dict, list)) or (isinstance(node, list) and not node):
            return
    if isinstance(node, list):
        return
    node[last] = value


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.tuples(_FIELDS, _VALUES), max_size=6), st.integers(0, len(_findings()) - 1))
def test_any_mix_of_fields_is_read_as_pydantic_reads_it(changes, index):
    raw = copy.deepcopy(_findings()[index])
    for path, value in changes:
        _set(raw, path, copy.deepcopy(value))
    assert _comparable(_ours(copy.deepcopy(raw))) == _comparable(_pydantic(copy.deepcopy(raw)))


_EVENT_FIELDS = st.sampled_from(
    [
        *("version", "id", "source", "account", "time", "region", "resources", "detail-type"),
        *("detail", "replay-name", "detail_type", "detail.findings", "detail.actionName"),
        *("detail.actionDescription", "detail.other"),
    ]
)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.tuples(_EVENT_FIELDS, _VALUES), max_size=4), st.sampled_from(FAMILIES))
def test_any_mix_of_event_fields_is_read_as_powertools_parser_reads_it(changes, family):
    event = load_fixture(f"events/custom-action-{family}.json")
    for path, value in changes:
        _set(event, path, copy.deepcopy(value))
    assert _event_ours(event) == _event_pydantic(event)
