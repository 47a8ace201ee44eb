"""The checkov scan (devtools/hubrelay_devtools/scan.py): what it scans and what it refuses.

checkov itself runs in `make lint`; these tests cover the scan's own logic without it.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

import hubrelay_release as release
from hubrelay_devtools import scan

ROOT = Path(__file__).resolve().parents[2]


def template_text() -> str:
    return (ROOT / "template.yaml").read_text(encoding="utf-8")


def test_every_deliberate_skip_in_the_template_says_why() -> None:
    template = release.decode_template(template_text())
    assert scan.skip_problems(template) == []
    skipped = [
        skip["id"]
        for resource in template["Resources"].values()
        for skip in (resource.get("Metadata") or {}).get("checkov", {}).get("skip", [])
    ]
    assert skipped, "the template records its deliberate skips"


@pytest.mark.parametrize(
    ("skip", "problem"),
    [
        ({"id": "CKV_AWS_117"}, "needs its reason"),
        ({"id": "CKV_AWS_117", "comment": "no"}, "needs its reason"),
        ({"comment": "A reason that is long enough to count"}, "has no check id"),
        ("CKV_AWS_117", "has no check id"),
    ],
)
def test_a_skip_without_a_reason_or_an_id_is_refused(skip: Any, problem: str) -> None:
    template = {"Resources": {"Fn": {"Type": "X", "Metadata": {"checkov": {"skip": [skip]}}}}}
    (found,) = scan.skip_problems(template)
    assert found.startswith("Fn: ")
    assert problem in found


def test_the_all_options_variant_turns_every_resource_on_and_keeps_line_numbers() -> None:
    text = template_text()
    variant = scan.all_options_template(text)
    assert variant.count("\n") == text.count("\n")
    decoded = release.decode_template(variant)
    # Every resource, the other collector sources' own in their variants (one Source each)
    deployed = set(scan.deployed_resources(decoded))
    for source_variant in scan.source_templates(text).values():
        assert source_variant.count("\n") == text.count("\n")
        deployed |= set(scan.deployed_resources(release.decode_template(source_variant)))
    assert deployed == set(decoded["Resources"])
    assert "CollectorHealthRule" not in scan.deployed_resources(decoded)
    # With the defaults, optional parts (the collector, alarms...) are off.
    assert set(scan.deployed_resources(release.decode_template(text))) < set(decoded["Resources"])


def test_all_options_must_reach_every_resource() -> None:
    options = dict(scan.ALL_OPTIONS)
    del options["AlarmTopicArn"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scan, "ALL_OPTIONS", options)
        with pytest.raises(scan.ScanError, match="Alarm"):
            scan.all_options_template(template_text())


def _template() -> dict[str, Any]:
    return {
        "Parameters": {"On": {"Type": "String", "Default": "false"}},
        "Conditions": {"IsOn": {"Fn::Equals": [{"Ref": "On"}, "true"]}},
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue"},
            "Optional": {"Type": "AWS::SQS::Queue", "Condition": "IsOn"},
            "Alarm": {"Type": "AWS::CloudWatch::Alarm"},
        },
    }


def _output(*checks: tuple[str, str, str]) -> str:
    """checkov's JSON for (kind, resource, file name) results."""
    results: dict[str, list[dict[str, Any]]] = {
        "passed_checks": [],
        "failed_checks": [],
        "skipped_checks": [],
    }
    for kind, resource, name in checks:
        results[f"{kind}_checks"].append(
            {
                "check_id": "CKV_AWS_27",
                "check_name": "Ensure all data stored in the SQS queue is encrypted",
                "resource": f"AWS::SQS::Queue.{resource}",
                "file_path": f"/{name}",
                "file_line_range": [1, 2],
            }
        )
    return json.dumps({"check_type": "cloudformation", "results": results})


def test_evaluate_passes_when_every_checked_resource_passed() -> None:
    failures, summary = scan.evaluate(
        _output(("passed", "Queue", "t.yaml")), {"t.yaml": _template()}
    )
    assert failures == []
    assert re.search(r"1 passed, 0 failed, 0 skipped", summary[0])


def test_evaluate_reports_failed_checks_with_resource_and_file() -> None:
    failures, _ = scan.evaluate(_output(("failed", "Queue", "t.yaml")), {"t.yaml": _template()})
    assert failures == [
        "CKV_AWS_27 Ensure all data stored in the SQS queue is encrypted: "
        "AWS::SQS::Queue.Queue (t.yaml lines [1, 2])"
    ]


def test_evaluate_refuses_a_resource_checkov_left_out() -> None:
    # "Optional" exists only when On is true: missing from a scan with the defaults is fine,
    # missing from a scan where it exists is not.
    on = copy.deepcopy(_template())
    on["Parameters"]["On"]["Default"] = "true"
    output = _output(("passed", "Queue", "a.yaml"), ("skipped", "Queue", "b.yaml"))
    failures, _ = scan.evaluate(output, {"a.yaml": _template(), "b.yaml": on})
    assert failures == ["b.yaml: checkov did not check ['Optional']"]


def test_checkov_comes_from_its_own_locked_extra_and_runs_in_make_lint() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    install = makefile.split("\n$(CHECKOV_STAMP):", 1)[1].split("\n\n", 1)[0]
    assert "UV_PROJECT_ENVIRONMENT=$(CHECKOV_VENV) $(SYNC) --extra scan" in install
    assert "SYNC := $(UV) sync --frozen " in makefile, "installs only what uv.lock holds"
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "hubrelay_devtools.scan" in lint
    assert "$(CHECKOV_STAMP)" in lint.splitlines()[0], "lint must install checkov first"
