"""A ProductArn or Regions change through a stack update moves every active finding, the
ones no report mentions again included: archived where it was, sent where it now belongs
(issue 11: "a ProductArn change sends under the new ARN and archives under the old; a
removed Region gets its findings archived there")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from hubrelay_emulator import securityhub as hub
from hubrelay_emulator.demo import PARTNER_PRODUCT
from hubrelay_emulator.runner import StackEmulator

REPORT = {
    "SchemaVersion": 2,
    "ArtifactName": "registry.example.com/api:1",
    "ArtifactType": "container_image",
    "Results": [
        {
            "Target": "debian 12",
            "Class": "os-pkgs",
            "Type": "debian",
            "Vulnerabilities": [
                {
                    "VulnerabilityID": f"CVE-2026-{n}",
                    "PkgName": "openssl",
                    "InstalledVersion": "3.0.1",
                    "Severity": "HIGH",
                }
                for n in (1001, 1002)
            ],
        }
    ],
}


def states(stack: Any, region: str) -> dict[tuple[str, str], str]:
    return {
        (f["ProductArn"], f["Id"]): f["RecordState"]
        for f in stack.contract.findings(stack.account, region)
    }


@pytest.fixture
def stack() -> Iterator[StackEmulator]:
    """A stack collecting scanner reports under the account's private default product."""
    stack = StackEmulator(parameters={"Source": "scanner_reports"}).up()
    yield stack
    stack.down()
    hub.uninstall()


def collected_once(stack: StackEmulator) -> StackEmulator:
    s3, bucket = stack.client("s3"), stack.outputs["CollectorReportsBucket"]
    s3.put_object(Bucket=bucket, Key="reports/api/scan.json", Body=json.dumps(REPORT).encode())
    stack.tick()
    stack.drain()
    return stack


def test_a_product_arn_switch_moves_findings_no_report_mentions_again(
    stack: StackEmulator,
) -> None:
    # Given findings sent under the account's private default product
    collected_once(stack)
    default = f"arn:aws:securityhub:{stack.region}:{stack.account}:product/{stack.account}/default"
    before = states(stack, stack.region)
    assert {p for p, _ in before} == {default}
    assert len(before) == 2
    # When the stack is updated to the partner's ProductArn and the collector runs again,
    # no report changed
    stack.update({"ProductArn": PARTNER_PRODUCT})
    stack.advance(300)
    stack.tick()
    stack.drain()
    # Then each finding is archived under the default product and active under the partner's
    after = states(stack, stack.region)
    assert {k: v for k, v in after.items() if k[0] == default} == dict.fromkeys(before, "ARCHIVED")
    assert sorted(v for k, v in after.items() if k[0] == PARTNER_PRODUCT) == ["ACTIVE"] * 2
    assert stack.checker.denied() == []


def test_removing_the_home_region_moves_findings_to_the_new_home(stack: StackEmulator) -> None:
    # Given findings sent to the stack's own Region, and Security Hub on in eu-west-1 too
    collected_once(stack)
    hub.enable_hub(stack.account, "eu-west-1")
    # When Regions is updated to eu-west-1 only, and the collector runs again
    stack.update({"Regions": "eu-west-1"})
    stack.advance(300)
    stack.tick()
    stack.drain()
    # Then the findings are archived in the Region left and active in the new home, once
    assert sorted(states(stack, stack.region).values()) == ["ARCHIVED"] * 2
    assert sorted(states(stack, "eu-west-1").values()) == ["ACTIVE"] * 2
    assert stack.checker.denied() == []


def test_a_lost_archive_under_the_old_product_is_sent_again(stack: StackEmulator) -> None:
    # Given findings sent under the private default product, then a switch to a partner's
    collected_once(stack)
    default = f"arn:aws:securityhub:{stack.region}:{stack.account}:product/{stack.account}/default"
    ids = [finding_id for _, finding_id in states(stack, stack.region)]
    stack.update({"ProductArn": PARTNER_PRODUCT})
    # When Security Hub refuses every copy of the move for an outside cause (one call per
    # product: two calls)
    stack.contract.inject("failed_findings", count=2, ids=ids, error_code="InvalidAccess")
    stack.advance(300)
    stack.tick()
    stack.drain()
    assert sorted(states(stack, stack.region).values()) == ["ACTIVE"] * 2  # nothing moved
    # And the collector runs again after the delivery backoff
    stack.advance(301)
    stack.tick()
    stack.drain()
    # Then the exact sends that were lost are repeated: archived under the old product,
    # active under the new
    after = states(stack, stack.region)
    assert sorted(v for k, v in after.items() if k[0] == default) == ["ARCHIVED"] * 2
    assert sorted(v for k, v in after.items() if k[0] == PARTNER_PRODUCT) == ["ACTIVE"] * 2
    assert stack.checker.denied() == []
