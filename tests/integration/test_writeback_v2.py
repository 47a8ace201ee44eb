"""Write-back to the new Security Hub (hubrelay.writeback_v2) through boto3 on moto and the
emulator's V2 contract: decided from GetFindingsV2, never reopening a settled finding, an
analyst's comment kept, what was sent where kept in DynamoDB."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hubrelay import writeback_v2
from hubrelay.retry import Retry
from hubrelay.writeback import Sent
from hubrelay_emulator.securityhub import Contract, client_for, install, uninstall
from tests.integration.test_securityhub_v2_contract import ACCOUNT, REGION, ocsf

NO_WAIT = Retry(max_attempts=2, base_s=0.0, cap_s=0.0)


@pytest.fixture
def contract() -> Iterator[Contract]:
    active = install(Contract(rate_per_second=None))
    with mock_aws():
        yield active
    uninstall()


@pytest.fixture
def client(contract: Contract) -> Any:
    return client_for(ACCOUNT, REGION)


def stored(contract: Contract, uid: str) -> dict[str, Any]:
    return next(f for f in contract.findings_v2(ACCOUNT, REGION) if f["metadata"]["uid"] == uid)


def test_a_new_finding_goes_in_progress_with_a_comment_naming_the_delivery(
    contract: Contract, client: Any
) -> None:
    contract.import_v2(ocsf(1))
    result = writeback_v2.write_back(
        client, "auto", {"uid-1": [Sent("webhook", "delivery-abc")]}, NO_WAIT
    )
    assert (result.processed, result.unprocessed) == (1, [])
    finding = stored(contract, "uid-1")
    assert finding["status_id"] == writeback_v2.IN_PROGRESS
    assert finding["comment"].startswith("[hubrelay] hubrelay sent this finding via auto")
    assert "delivery-abc" in finding["comment"]
    assert finding["comment"].endswith("[/hubrelay]")


@pytest.mark.parametrize("settled", [3, 4, 5])
def test_a_stale_event_never_moves_a_settled_finding_back(
    contract: Contract, client: Any, settled: int
) -> None:
    contract.import_v2(ocsf(1))
    client.batch_update_findings_v2(MetadataUids=["uid-1"], StatusId=settled)
    writeback_v2.write_back(client, "auto", {"uid-1": [Sent("webhook", "d1")]}, NO_WAIT)
    assert stored(contract, "uid-1")["status_id"] == settled
    writeback_v2.set_status(client, "uid-1", writeback_v2.IN_PROGRESS, "again", NO_WAIT)
    assert stored(contract, "uid-1")["status_id"] == settled


def test_set_status_resolves_with_a_comment_and_keeps_the_analysts_text(
    contract: Contract, client: Any
) -> None:
    contract.import_v2(ocsf(1))
    writeback_v2.write_back(client, "auto", {"uid-1": [Sent("webhook", "d1")]}, NO_WAIT)
    analyst = "Owner is the payments team; see INC-42."
    now = stored(contract, "uid-1")["comment"]
    client.batch_update_findings_v2(MetadataUids=["uid-1"], Comment=f"{now}\n{analyst}")
    result = writeback_v2.set_status(
        client, "uid-1", writeback_v2.RESOLVED, "ticket SEC-1 was closed", NO_WAIT
    )
    assert result.unprocessed == []
    finding = stored(contract, "uid-1")
    assert finding["status_id"] == writeback_v2.RESOLVED
    assert finding["comment"].startswith(analyst)
    assert finding["comment"].count("[hubrelay]") == 1
    assert "ticket SEC-1 was closed" in finding["comment"]
    assert "d1" not in finding["comment"]


def test_a_long_analyst_comment_is_kept_whole_and_the_status_still_moves(
    contract: Contract, client: Any
) -> None:
    contract.import_v2(ocsf(1))
    analyst = "x" * 500
    client.batch_update_findings_v2(MetadataUids=["uid-1"], Comment=analyst)
    writeback_v2.write_back(client, "auto", {"uid-1": [Sent("webhook", "d1")]}, NO_WAIT)
    finding = stored(contract, "uid-1")
    assert (finding["comment"], finding["status_id"]) == (analyst, writeback_v2.IN_PROGRESS)


def test_merged_comment_stays_within_512_characters() -> None:
    merged = writeback_v2.merged_comment("a" * 300, "b" * 1000)
    assert merged is not None
    assert len(merged) <= 512
    assert merged.startswith("a" * 300)
    assert merged.endswith("[/hubrelay]")
    assert writeback_v2.merged_comment("a" * 480, "b") is None


def test_a_finding_the_hub_does_not_hold_is_reported_not_found(
    contract: Contract, client: Any
) -> None:
    result = writeback_v2.set_status(client, "missing", writeback_v2.RESOLVED, "x", NO_WAIT)
    assert [u["ErrorCode"] for u in result.unprocessed] == ["ResourceNotFoundException"]


def test_sent_records_move_forward_only_with_a_conditional_write(contract: Contract) -> None:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName="ledger",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    records = writeback_v2.SentRecords("ledger", dynamodb)
    assert records.marks("uid-1", ["webhook"]) == {}
    assert records.record("uid-1", "webhook", "first")
    assert not records.record("uid-1", "webhook", "replayed")
    assert records.marks("uid-1", ["webhook", "sns"]) == {
        "hubrelay:webhook": "first",
        "hubrelay:webhook:reopened": "0",
    }
    assert records.record("uid-1", "webhook", "reopened once", reopened=1)
    assert not records.record("uid-1", "webhook", "late first", reopened=0)
    assert records.marks("uid-1", ["webhook"])["hubrelay:webhook"] == "reopened once"
