"""`hubrelay send` and `hubrelay enqueue`: a findings file into Security Hub (with the
importer's own code) or onto the findings queue, against moto with the Security Hub contract."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hubrelay import aws, cli, message
from hubrelay_emulator import samples
from hubrelay_emulator import securityhub as hub

REGION = "us-east-1"
PARTNER = f"arn:aws:securityhub:{REGION}:123456789012:product/hubrelay/test"


@pytest.fixture
def contract() -> Iterator[hub.Contract]:
    contract = hub.install(hub.Contract(clock=lambda: 0.0))
    with mock_aws():
        hub.subscribe(samples.SUBSCRIBED, REGION, PARTNER)
        aws.reset()
        yield contract
        aws.reset()
    hub.uninstall()


def write(path, document: Any) -> str:
    path.write_text(json.dumps(document))
    return str(path)


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_send_imports_a_file_and_keeps_what_security_hub_refuses_with_reasons(
    contract, capsys, tmp_path
):
    # Given 250 findings for subscribed accounts, 5 for an unsubscribed one, 1 invalid
    good = samples.mixed(250, product=PARTNER)
    foreign = samples.for_account(5, samples.UNSUBSCRIBED, product=PARTNER)
    bad = dict(good[0], Id="broken/title", Title="T" * 300)
    path = write(tmp_path / "findings.json", good + foreign + [bad])
    # When sent while Security Hub throttles the first two calls
    contract.inject("throttle", count=2)
    code, out, err = run(capsys, "send", path)
    # Then the good ones are in Security Hub, in calls the importer would make
    assert code == 1
    assert sum(len(contract.findings(a, REGION)) for a in samples.SUBSCRIBED) == 250
    assert max(c.findings for c in contract.calls) <= 100
    assert f"imported                 250 in {len(contract.calls)} BatchImportFindings" in out
    assert "throttled, retried       2, 2" in out
    assert "quarantined              6  InvalidAccess 5, InvalidFinding 1" in out
    # And the refused ones are in a file, with the reasons, that can be sent again once fixed
    kept = json.loads((tmp_path / "findings.json.quarantined.json").read_text())
    assert len(kept["Findings"]) == 6
    assert Counter(r["ErrorCode"] for r in kept["Reasons"]) == {
        "InvalidAccess": 5,
        "InvalidFinding": 1,
    }
    assert kept["Reasons"][0]["Source"] == [f"{path}[255]"]
    assert f"{path}[255]: InvalidFinding: finding 'broken/title': Title" in err
    assert cli.main(["validate", str(tmp_path / "findings.json.quarantined.json")]) == 1


def test_send_dry_run_plans_the_calls_and_calls_nothing(contract, capsys, tmp_path):
    findings = samples.mixed(300, product=PARTNER)
    bad = dict(findings[0], Id="broken/account", AwsAccountId="12345")
    path = write(tmp_path / "f.json", [*findings, bad])
    code, out, err = run(capsys, "send", "--dry-run", path)
    assert code == 1
    assert contract.calls == []
    assert "would import             300 in " in out
    assert "111111111111 in us-east-1, 222222222222 in us-east-1" in out
    assert "invalid                  1  InvalidFinding 1" in out
    assert f"{path}[300]: InvalidFinding: finding 'broken/account': AwsAccountId" in err
    assert not (tmp_path / "f.json.quarantined.json").exists()


def test_send_without_credentials_is_one_line(capsys, tmp_path, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    path = write(tmp_path / "f.json", samples.mixed(3, product=PARTNER))
    code, out, err = run(capsys, "send", path)
    assert code == 2
    assert out == ""
    assert err.startswith("no AWS credentials: configure them")
    assert err.count("\n") == 1


def test_send_accepts_what_convert_message_prints(contract, capsys, tmp_path):
    # Given convert's queue-ready output for a Trivy report, for this account (the private
    # default product)
    hub.enable_hub("123456789012", REGION)
    report = write(tmp_path / "trivy.json", samples.trivy_report(40))
    code, out, _ = run(
        capsys,
        "convert",
        report,
        "--message",
        "--account",
        "123456789012",
        "--max-message-bytes",
        "20000",
    )
    assert code == 0
    messages = json.loads(out)
    assert isinstance(messages, list)
    assert len(messages) > 1
    path = write(tmp_path / "messages.json", messages)
    # When it is sent as it is
    code, out, _ = run(capsys, "send", path)
    # Then every finding is in Security Hub
    assert code == 0, out
    assert len(contract.findings("123456789012", REGION)) == 40


def received(sqs: Any, url: str) -> list[str]:
    bodies: list[str] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return bodies
        bodies += [m["Body"] for m in got]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
            ],
        )


def test_enqueue_sends_valid_queue_messages_packed_to_the_limit(contract, capsys, tmp_path):
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="findings")["QueueUrl"]
    findings = samples.mixed(120, product=PARTNER)
    bad = dict(findings[0], Id="broken/blank", Description="   ")
    path = write(tmp_path / "f.json", [*findings, bad])
    # A dry run sends nothing
    code, out, _ = run(capsys, "enqueue", path, "--queue-url", url, "--dry-run")
    assert "would send               120 findings in " in out
    assert received(sqs, url) == []
    # When enqueued with a 64 KiB limit
    code, out, _ = run(capsys, "enqueue", path, "--queue-url", url, "--max-message-bytes", "65536")
    # Then the queue holds valid messages under the limit with every valid finding once
    bodies = received(sqs, url)
    assert code == 1
    assert len(bodies) > 1
    assert all(len(b.encode()) <= 65536 for b in bodies)
    ids = [f["Id"] for b in bodies for f in message.decode(b)]
    assert sorted(ids) == sorted(f["Id"] for f in findings)
    assert f"sent                     {len(bodies)} messages in " in out
    assert "quarantined              1  InvalidFinding 1 (written to " in out
    kept = json.loads((tmp_path / "f.json.quarantined.json").read_text())
    assert kept["Reasons"][0]["Id"] == "broken/blank"
