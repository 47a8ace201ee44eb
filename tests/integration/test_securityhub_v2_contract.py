"""The new Security Hub's V2 operations in the emulator, through real boto3 clients on moto:
GetFindingsV2, BatchUpdateFindingsV2, CreateTicketV2 and the `Findings Imported V2` event."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from hubrelay_emulator.securityhub import Contract, client_for, install, uninstall
from tests.support import load_fixture

ACCOUNT = "123456789012"
REGION = "us-east-1"


def ocsf(n: int = 0, **overrides: Any) -> dict[str, Any]:
    """The documented GuardDuty finding of the fixture, with a uid of its own."""
    finding: dict[str, Any] = copy.deepcopy(
        load_fixture("events/imported-v2-guardduty.json")["detail"]["findings"][0]
    )
    finding["metadata"]["uid"] = f"uid-{n}"
    finding["finding_info"]["uid"] = f"finding-{n}"
    finding.update(overrides)
    return finding


@pytest.fixture
def contract() -> Iterator[Contract]:
    active = install(Contract(rate_per_second=None))
    with mock_aws():
        yield active
    uninstall()


@pytest.fixture
def client(contract: Contract) -> Any:
    return client_for(ACCOUNT, REGION)


def uid_filter(*uids: str) -> dict[str, Any]:
    strings = [
        {"FieldName": "metadata.uid", "Filter": {"Value": u, "Comparison": "EQUALS"}} for u in uids
    ]
    return {"CompositeFilters": [{"StringFilters": strings, "Operator": "OR"}]}


def test_an_import_emits_one_findings_imported_v2_event_naming_the_metadata_uid(
    contract: Contract,
) -> None:
    events: list[dict[str, Any]] = []
    contract.subscribe(events.append)
    contract.import_v2(ocsf(1))
    (event,) = events
    assert event["detail-type"] == "Findings Imported V2"
    assert event["source"] == "aws.securityhub"
    assert event["resources"] == ["uid-1"]
    assert (event["account"], event["region"]) == (ACCOUNT, REGION)
    assert [f["metadata"]["uid"] for f in event["detail"]["findings"]] == ["uid-1"]


def test_an_import_without_the_identifiers_is_refused(contract: Contract) -> None:
    finding = ocsf(1)
    del finding["metadata"]["uid"]
    with pytest.raises(ValueError, match=r"metadata\.uid"):
        contract.import_v2(finding)


def test_get_findings_v2_filters_by_string_and_number_fields_and_pages(
    contract: Contract, client: Any
) -> None:
    for n in range(5):
        contract.import_v2(ocsf(n, severity_id=5 if n % 2 else 2))
    found = client.get_findings_v2(Filters=uid_filter("uid-1", "uid-3", "uid-9"))["Findings"]
    assert sorted(f["metadata"]["uid"] for f in found) == ["uid-1", "uid-3"]
    high = client.get_findings_v2(
        Filters={
            "CompositeFilters": [
                {"NumberFilters": [{"FieldName": "severity_id", "Filter": {"Gte": 4}}]}
            ]
        }
    )["Findings"]
    assert sorted(f["metadata"]["uid"] for f in high) == ["uid-1", "uid-3"]
    pages = list(client.get_paginator("get_findings_v2").paginate(MaxResults=2))
    assert [len(p["Findings"]) for p in pages] == [2, 2, 1]


def test_get_findings_v2_refuses_more_than_20_filters_of_a_type(client: Any) -> None:
    with pytest.raises(ClientError) as raised:
        client.get_findings_v2(Filters=uid_filter(*(f"u{n}" for n in range(21))))
    assert raised.value.response["Error"]["Code"] == "ValidationException"


def test_batch_update_v2_sets_status_severity_and_comment_and_emits_an_event(
    contract: Contract, client: Any
) -> None:
    contract.import_v2(ocsf(1))
    events: list[dict[str, Any]] = []
    contract.subscribe(events.append)
    reply = client.batch_update_findings_v2(
        MetadataUids=["uid-1", "missing"], StatusId=2, SeverityId=5, Comment="looking"
    )
    assert [p["MetadataUid"] for p in reply["ProcessedFindings"]] == ["uid-1"]
    assert [(u["MetadataUid"], u["ErrorCode"]) for u in reply["UnprocessedFindings"]] == [
        ("missing", "ResourceNotFoundException")
    ]
    (stored,) = contract.findings_v2(ACCOUNT, REGION)
    assert (stored["status_id"], stored["status"]) == (2, "In Progress")
    assert (stored["severity_id"], stored["severity"]) == (5, "Critical")
    assert stored["comment"] == "looking"
    assert [e["resources"] for e in events] == [["uid-1"]]


def test_batch_update_v2_finds_a_finding_by_its_three_identifiers(
    contract: Contract, client: Any
) -> None:
    contract.import_v2(ocsf(1))
    identifier = {
        "CloudAccountUid": ACCOUNT,
        "FindingInfoUid": "finding-1",
        "MetadataProductUid": "arn:aws:securityhub:us-east-1::productv2/aws/guardduty",
    }
    reply = client.batch_update_findings_v2(FindingIdentifiers=[identifier], StatusId=4)
    assert reply["ProcessedFindings"][0]["FindingIdentifier"] == identifier
    assert contract.findings_v2(ACCOUNT, REGION)[0]["status"] == "Resolved"


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ({"MetadataUids": ["a"], "StatusId": 7}, "StatusId"),
        ({"MetadataUids": ["a"], "SeverityId": 9}, "SeverityId"),
        ({"MetadataUids": ["a"], "Comment": "x" * 513}, "Comment"),
        ({"MetadataUids": ["a"]}, "Nothing to update"),
        ({"StatusId": 1}, "MetadataUids or FindingIdentifiers"),
        (
            {
                "MetadataUids": ["a"],
                "FindingIdentifiers": [
                    {"CloudAccountUid": "1", "FindingInfoUid": "2", "MetadataProductUid": "3"}
                ],
                "StatusId": 1,
            },
            "not both",
        ),
        ({"MetadataUids": [f"u{n}" for n in range(101)], "StatusId": 1}, "At most 100"),
    ],
)
def test_batch_update_v2_refuses_what_the_api_reference_does_not_allow(
    contract: Contract, client: Any, params: dict[str, Any], why: str
) -> None:
    contract.import_v2(ocsf(1))
    # botocore validates lengths client-side; the service's own rule is what is tested.
    client.meta.config.parameter_validation = False
    with pytest.raises(ClientError) as raised:
        client.batch_update_findings_v2(**params)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert why in raised.value.response["Error"]["Message"]


def test_a_re_import_keeps_the_status_and_comment_a_customer_set(
    contract: Contract, client: Any
) -> None:
    contract.import_v2(ocsf(1))
    client.batch_update_findings_v2(MetadataUids=["uid-1"], StatusId=3, Comment="accepted risk")
    contract.import_v2(ocsf(1, status_id=1))
    (stored,) = contract.findings_v2(ACCOUNT, REGION)
    assert (stored["status"], stored["comment"]) == ("Suppressed", "accepted risk")


def test_create_ticket_v2_is_idempotent_per_client_token(contract: Contract, client: Any) -> None:
    contract.import_v2(ocsf(1))
    contract.import_v2(ocsf(2))
    connector = contract.v2.add_connector(ACCOUNT, REGION)
    first = client.create_ticket_v2(
        ConnectorId=connector, FindingMetadataUid="uid-1", ClientToken="tok-1"
    )
    again = client.create_ticket_v2(
        ConnectorId=connector, FindingMetadataUid="uid-1", ClientToken="tok-1"
    )
    other = client.create_ticket_v2(
        ConnectorId=connector, FindingMetadataUid="uid-2", ClientToken="tok-2"
    )
    assert first["TicketId"] == again["TicketId"] != other["TicketId"]
    assert first["TicketSrcUrl"].startswith("https://")
    assert len(contract.v2.tickets) == 2
    with pytest.raises(ClientError) as conflict:
        client.create_ticket_v2(
            ConnectorId=connector, FindingMetadataUid="uid-2", ClientToken="tok-1"
        )
    assert conflict.value.response["Error"]["Code"] == "ConflictException"


def test_create_ticket_v2_needs_a_known_connector_and_finding(
    contract: Contract, client: Any
) -> None:
    contract.import_v2(ocsf(1))
    connector = contract.v2.add_connector(ACCOUNT, REGION)
    for connector_id, uid in (("nope", "uid-1"), (connector, "missing")):
        with pytest.raises(ClientError) as raised:
            client.create_ticket_v2(ConnectorId=connector_id, FindingMetadataUid=uid)
        assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_the_iam_checker_knows_the_v2_actions_resources_and_condition_keys() -> None:
    from hubrelay_emulator import iam

    assert iam.action_of("securityhub", "GetFindingsV2") == "securityhub:GetFindings"
    assert (
        iam.action_of("securityhub", "BatchUpdateFindingsV2") == "securityhub:BatchUpdateFindings"
    )
    assert iam.action_of("securityhub", "CreateTicketV2") == "securityhub:CreateTicketV2"
    assert iam.resources_of(
        "securityhub", "CreateTicketV2", {"ConnectorId": "c1"}, REGION, ACCOUNT
    ) == [f"arn:aws:securityhub:{REGION}:{ACCOUNT}:connectorv2/c1"]
    for operation in ("GetFindingsV2", "BatchUpdateFindingsV2"):
        assert iam.resources_of("securityhub", operation, {}, REGION, ACCOUNT) == [
            f"arn:aws:securityhub:{REGION}:{ACCOUNT}:hubv2/{iam.HUB_V2_ID}"
        ]
    context = iam.context_of(
        "securityhub", "BatchUpdateFindingsV2", {"MetadataUids": ["u"], "StatusId": 4}
    )
    assert context == {"securityhub:OCSFSyntaxPath/StatusId": ["4"]}
    checker = iam.Checker(
        {
            "fn": [
                {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "securityhub:BatchUpdateFindings",
                            "Resource": "*",
                            "Condition": {
                                "Null": {"securityhub:OCSFSyntaxPath/SeverityId": "true"}
                            },
                        }
                    ]
                }
            ]
        }
    )
    assert checker.allows("fn", "securityhub:BatchUpdateFindings", "*", context)
    severity = iam.context_of(
        "securityhub", "BatchUpdateFindingsV2", {"MetadataUids": ["u"], "SeverityId": 1}
    )
    assert not checker.allows("fn", "securityhub:BatchUpdateFindings", "*", severity)
