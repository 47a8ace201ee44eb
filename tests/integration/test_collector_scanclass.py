"""The collector over Trivy and Grype reports in S3 (moto), issue 11: one image in two
folders, completeness per scanner class, clean reports, unreadable results, the upgrade
from Ids without scope or class, and `hubrelay convert --key` giving the collector's Ids.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from hubrelay import cli
from hubrelay.bodies import BodyStore
from hubrelay.sources import scan_class, stable_hash
from hubrelay.tracking import LAYOUT, Store, _to_item
from tests.integration.collector_env import collector_stack, drain, run
from tests.support import FIXTURES, load_fixture

IMAGE = "registry.example.com/shop/api:1.4.2"


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    with collector_stack(
        monkeypatch, SOURCE="scanner_reports", REPORTS_PREFIX="reports/", REGIONS="us-east-1"
    ) as resources:
        yield resources


def put(key: str, document: Any) -> None:
    boto3.client("s3").put_object(Bucket="reports", Key=key, Body=json.dumps(document).encode())


def by_state(findings: list[dict[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {"ACTIVE": set(), "ARCHIVED": set()}
    for finding in findings:
        out[finding["RecordState"]].add(finding["Id"])
    return out


def clean(artifact: str = IMAGE) -> dict[str, Any]:
    return {**load_fixture("sources/trivy_clean.json"), "ArtifactName": artifact}


def secrets_report() -> dict[str, Any]:
    """The secret scan of IMAGE, every record of it readable (a secret without a RuleID
    would make the scan of secrets incomplete)."""
    report = load_fixture("sources/trivy_image_secrets.json")
    del report["Results"][2]
    return report


def scan(key: str, document: Any, queue_url: str) -> tuple[dict[str, Any], dict[str, set[str]]]:
    put(key, document)
    summary = run()
    return summary, by_state(drain(queue_url))


def test_a_clean_scan_in_one_folder_leaves_the_same_image_in_another_alone(
    stack: dict[str, str],
) -> None:
    _, prod = scan(
        "reports/prod/api.json", load_fixture("sources/trivy_image.json"), stack["queue_url"]
    )
    _, staging = scan(
        "reports/staging/api.json", load_fixture("sources/trivy_image.json"), stack["queue_url"]
    )
    # The same image in two folders: two sets of findings, both sent.
    assert prod["ACTIVE"]
    assert len(prod["ACTIVE"]) == len(staging["ACTIVE"])
    assert not prod["ACTIVE"] & staging["ACTIVE"]
    # A clean staging scan archives staging's vulnerabilities, and none of prod's.
    _, fixed = scan("reports/staging/api-2.json", clean(), stack["queue_url"])
    assert fixed["ARCHIVED"]
    assert fixed["ARCHIVED"] <= staging["ACTIVE"]
    assert {scan_class(i) for i in fixed["ARCHIVED"]} == {"vulnerability"}
    assert fixed["ACTIVE"] == set()
    # prod, scanned again unchanged, owes Security Hub nothing: its findings were never archived.
    summary, again = scan(
        "reports/prod/api-2.json", load_fixture("sources/trivy_image.json"), stack["queue_url"]
    )
    assert summary["enqueued"] == 0
    assert again == {"ACTIVE": set(), "ARCHIVED": set()}


def test_a_secret_scan_archives_no_vulnerability_and_none_is_reopened(
    stack: dict[str, str],
) -> None:
    _, first = scan(
        "reports/prod/vuln.json", load_fixture("sources/trivy_image.json"), stack["queue_url"]
    )
    secrets = secrets_report()
    summary, found = scan("reports/prod/secrets.json", secrets, stack["queue_url"])
    assert found["ARCHIVED"] == set()
    assert {scan_class(i) for i in found["ACTIVE"]} == {"secret"}
    assert len(found["ACTIVE"]) == 3
    assert summary["actions"].get("archived", 0) == 0
    # The next vulnerability scan finds every vulnerability finding as it left it.
    summary, again = scan(
        "reports/prod/vuln-2.json", load_fixture("sources/trivy_image.json"), stack["queue_url"]
    )
    assert summary["enqueued"] == 0
    assert again["ACTIVE"] == set()
    assert again["ARCHIVED"] == set()
    # A secret removed from the image is archived by the next secret scan, and only it.
    fewer = copy.deepcopy(secrets)
    del fewer["Results"][0]["Secrets"][1]  # the hard-coded password is gone
    _, later = scan("reports/prod/secrets-2.json", fewer, stack["queue_url"])
    (archived,) = later["ARCHIVED"]
    assert archived.startswith("hubrelay/trivy/secret/generic-password/")
    assert archived in found["ACTIVE"]
    assert later["ACTIVE"] == set()
    assert first["ACTIVE"]  # untouched throughout


def test_a_clean_trivy_report_archives_the_vulnerabilities_of_its_scope(
    stack: dict[str, str],
) -> None:
    report = load_fixture("sources/trivy_image.json")
    _, first = scan("reports/prod/api.json", report, stack["queue_url"])
    summary, fixed = scan("reports/prod/api-clean.json", clean(), stack["queue_url"])
    vulnerabilities = {i for i in first["ACTIVE"] if scan_class(i) == "vulnerability"}
    assert vulnerabilities
    assert fixed["ARCHIVED"] == vulnerabilities
    assert summary["malformed"] == 0
    assert summary["records"] == 0
    # The misconfiguration stays: a report without Results says nothing of config files.
    assert {i for i in first["ACTIVE"] if scan_class(i) == "misconfiguration"}
    # A clean Grype report archives its target's matches the same way.
    _, grype = scan(
        "reports/prod/grype.json", load_fixture("sources/grype_image.json"), stack["queue_url"]
    )
    gone = {**load_fixture("sources/grype_clean.json")}
    gone["source"] = load_fixture("sources/grype_image.json")["source"]
    _, none_left = scan("reports/prod/grype-2.json", gone, stack["queue_url"])
    assert grype["ACTIVE"]
    assert none_left["ARCHIVED"] == grype["ACTIVE"]


def test_a_result_that_is_not_an_object_archives_nothing_and_is_reported(
    stack: dict[str, str],
) -> None:
    scan("reports/prod/api.json", load_fixture("sources/trivy_image.json"), stack["queue_url"])
    broken = load_fixture("sources/trivy_result_not_an_object.json")
    summary, after = scan("reports/prod/api-2.json", broken, stack["queue_url"])
    assert after == {"ACTIVE": set(), "ARCHIVED": set()}
    assert summary["malformed"] == 1
    (report,) = summary["errorReports"]
    body = boto3.client("s3").get_object(Bucket="reports", Key=report.split("/", 3)[3])["Body"]
    (error,) = json.loads(body.read())["errors"]
    assert error["position"] == "s3://reports/reports/prod/api-2.json#Results[0]"
    assert "not a JSON object" in error["reason"]


def legacy_id(finding_id: str) -> str:
    """The form of the Id an earlier release gave: no class, a hash without the folder."""
    _, scanner, _, rest = finding_id.split("/", 3)
    return f"hubrelay/{scanner}/{rest.split('/')[0]}/" + stable_hash("earlier", finding_id)


def rewrite_as_earlier_release(scope: str) -> dict[str, Any]:
    """Replace the scope's tracking state by the rows an earlier release left: one row per
    finding, legacy Ids, the body in the row, and no record of the packed layout."""
    dynamodb = boto3.client("dynamodb")
    store = Store(dynamodb, "tracking", bodies=BodyStore(boto3.client("s3"), "reports", "errors/"))
    rows = store.load_scope(scope)
    for item in dynamodb.scan(TableName="tracking")["Items"]:
        if item["pk"]["S"] == f"t#{scope}" or item["sk"]["S"] == LAYOUT:
            dynamodb.delete_item(TableName="tracking", Key={"pk": item["pk"], "sk": item["sk"]})
    for row in store.resolve(rows.values()):
        earlier = replace(row, key=legacy_id(row.key), body_ref="")
        dynamodb.put_item(TableName="tracking", Item=_to_item(earlier))
    return rows


def test_findings_under_the_ids_of_an_earlier_release_are_archived_on_the_first_scan(
    stack: dict[str, str],
) -> None:
    # Given a table as an earlier release left it: the same scope, Ids without class or folder
    report = load_fixture("sources/trivy_image.json")
    _, sent = scan("reports/prod/api.json", report, stack["queue_url"])
    rows = rewrite_as_earlier_release(f"trivy:reports/prod:{IMAGE}")
    assert set(rows) == sent["ACTIVE"]
    old = {legacy_id(key) for key in rows}
    # When the upgraded collector reads the next scan of that image
    summary, upgraded = scan("reports/prod/api-2.json", report, stack["queue_url"])
    # Then every finding goes out under its new Id and every old Id is archived, once
    assert upgraded["ACTIVE"] == sent["ACTIVE"]
    assert upgraded["ARCHIVED"] == set(old)
    assert summary["actions"]["archived"] == len(old)
    assert scan("reports/prod/api-3.json", report, stack["queue_url"])[0]["enqueued"] == 0


def test_findings_of_an_earlier_release_are_archived_by_a_scan_of_another_class(
    stack: dict[str, str],
) -> None:
    report = load_fixture("sources/trivy_image.json")
    _, sent = scan("reports/prod/api.json", report, stack["queue_url"])
    rows = rewrite_as_earlier_release(f"trivy:reports/prod:{IMAGE}")
    # A secret scan: the old Ids are no class's, and no report gives them any more.
    _, found = scan("reports/prod/secrets.json", secrets_report(), stack["queue_url"])
    assert found["ARCHIVED"] == {legacy_id(key) for key in rows}
    assert sent["ACTIVE"]


def test_convert_with_the_key_gives_the_ids_the_collector_enqueues(
    stack: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, key in [
        ("trivy_image.json", "reports/prod/shop/api/trivy.json"),
        ("trivy_image_secrets.json", "reports/prod/shop/api/secrets.json"),
        ("grype_image.json", "reports/staging/grype.json"),
        ("trivy_fs_odd_corners.json", "reports/repository.json"),
    ]:
        put(key, load_fixture(f"sources/{name}"))
        run()
        enqueued = drain(stack["queue_url"])
        account = {f["AwsAccountId"] for f in enqueued}.pop()
        capsys.readouterr()  # the collector's own log lines
        cli.main(["convert", str(FIXTURES / "sources" / name), "--key", key, "--account", account])
        converted = json.loads(capsys.readouterr().out)
        # The collector sends what is active (a resolved finding it never sent is dropped).
        active = {f["Id"] for f in converted if f["RecordState"] == "ACTIVE"}
        assert {f["Id"] for f in enqueued} == active, name
        sent = {f["Id"]: f for f in enqueued}
        for finding in converted:
            if finding["Id"] in sent:
                assert finding["Title"] == sent[finding["Id"]]["Title"]
        # Without the key (or at another), the Ids are another folder's.
        elsewhere = f"elsewhere/{key}"
        cli.main(
            ["convert", str(FIXTURES / "sources" / name), "--key", elsewhere, "--account", account]
        )
        assert not {f["Id"] for f in json.loads(capsys.readouterr().out)} & active


def test_an_upgrade_in_place_from_rows_reimports_nothing_and_removes_the_rows(
    stack: dict[str, str],
) -> None:
    # Given the table as today's release leaves it: one `f#` row per finding, the same Ids
    report = load_fixture("sources/trivy_image.json")
    scope = f"trivy:reports/prod:{IMAGE}"
    _, sent = scan("reports/prod/api.json", report, stack["queue_url"])
    dynamodb = boto3.client("dynamodb")
    store = Store(dynamodb, "tracking", bodies=BodyStore(boto3.client("s3"), "reports", "errors/"))
    rows = store.load_scope(scope)
    for item in dynamodb.scan(TableName="tracking")["Items"]:
        if item["pk"]["S"] == f"t#{scope}" or item["sk"]["S"] == LAYOUT:
            dynamodb.delete_item(TableName="tracking", Key={"pk": item["pk"], "sk": item["sk"]})
    for row in rows.values():
        dynamodb.put_item(TableName="tracking", Item=_to_item(row))
    # When the upgraded collector reads the same report again
    summary, again = scan("reports/prod/api-2.json", report, stack["queue_url"])
    # Then nothing is imported again, and the rows are gone, their state in the buckets
    assert summary["enqueued"] == 0
    assert not again["ACTIVE"]
    left = dynamodb.scan(TableName="tracking")["Items"]
    assert not [i for i in left if i["pk"]["S"].startswith("f#")]
    assert set(Store(dynamodb, "tracking").load_scope(scope)) == sent["ACTIVE"]
