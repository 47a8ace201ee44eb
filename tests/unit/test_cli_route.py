"""`hubrelay route`: the operator's view of what the responder would do with an event."""

from __future__ import annotations

import json

import pytest
from moto import mock_aws

from hubrelay import cli
from tests.support import FIXTURES

ACTION = "arn:aws:securityhub:us-east-1:111111111111:action/custom/hubrelayHook"


@pytest.fixture(autouse=True)
def _stack_settings(monkeypatch):
    monkeypatch.setenv("HUBRELAY_WEBHOOK_ACTION_ARN", ACTION)
    monkeypatch.setenv("HUBRELAY_WEBHOOK_SECRET_ARN", "hubrelay/webhook")
    monkeypatch.setenv("HUBRELAY_OPSCENTER_ENABLED", "true")
    monkeypatch.setenv("HUBRELAY_AUTO_ROUTE", "true")
    monkeypatch.setenv("HUBRELAY_AUTO_ROUTE_DESTINATIONS", "webhook,opscenter")


def run(capsys, *args):
    code = cli.main(["route", *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def test_dry_run_prints_every_payload_and_the_write_back(capsys):
    code, report, err = run(capsys, "--dry-run", str(FIXTURES / "events/custom-action-multi.json"))
    assert code == 0
    assert err.startswith("accepted: custom-action route 'Send to webhook': 5 finding(s)")
    assert len(report["deliveries"]) == 5
    first = report["deliveries"][0]
    assert json.loads(first["payload"]["body"])["findings"][0]["severity"] == "HIGH"
    assert first["headers"]["X-Hubrelay-Signature"].startswith("v2=<")
    (update,) = report["writeBack"]  # same placeholder reference: one request
    assert len(update["request"]["FindingIdentifiers"]) == 5
    assert update["request"]["Workflow"] == {"Status": "NOTIFIED"}


def test_dry_run_of_an_imported_event_shows_the_opsitem_fields(capsys):
    code, report, _ = run(capsys, "--dry-run", str(FIXTURES / "events/imported-inspector.json"))
    assert code == 0
    ops = [d for d in report["deliveries"] if d["destination"] == "opscenter"]
    assert ops[0]["payload"]["Source"] == "SecurityHub"
    assert "/aws/dedup" in ops[0]["payload"]["OperationalData"]


def test_a_foreign_event_is_rejected_with_exit_1(capsys, tmp_path):
    event = json.loads((FIXTURES / "events/custom-action-macie.json").read_text())
    event["resources"] = ["arn:aws:securityhub:us-east-1:999999999999:action/custom/x"]
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    code, report, err = run(capsys, "--dry-run", str(path))
    assert code == 1
    assert report["deliveries"] == []
    assert "do not belong to this stack" in err


def test_an_unreadable_file_exits_2(capsys, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{")
    code, _, err = run(capsys, "--dry-run", str(path))
    assert code == 2
    assert "broken.json" in err


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (
            lambda e: e.replace('"Normalized": 70', '"Normalized": ' + "7" * 401, 1),
            "integer of 401 digits (at most 64) at detail.findings[2].Severity.Normalized",
        ),
        (
            lambda e: e.replace('"findings": [', '"findings": [' + "[" * 100_000, 1),
            "nested too deeply (more than 64 levels)",
        ),
        (lambda e: e.replace('"Normalized": 70', '"Normalized": NaN', 1), "NaN is not a JSON"),
    ],
    ids=["integer-401", "100000-deep", "nan"],
)
@pytest.mark.parametrize(
    "mode", [["--dry-run"], [], ["--send"]], ids=["dry-run", "default", "send"]
)
def test_a_hostile_event_file_exits_2_in_one_line(capsys, tmp_path, edit, reason, mode):
    text = (FIXTURES / "events/custom-action-multi.json").read_text()
    assert '"Normalized": 70' in text
    path = tmp_path / "event.json"
    path.write_text(edit(text))
    with mock_aws():  # nothing may reach AWS, even if the file were read
        code, report, err = run(capsys, *mode, str(path))
    assert code == 2
    assert report is None
    assert err.startswith(f"{path}: {reason}")
    assert err.count("\n") == 1


def test_dry_run_shows_the_destinations_own_skips(capsys, monkeypatch, tmp_path):
    # Given the vendor back-sync action, which covers only this product's findings (defect g)
    vendor = "arn:aws:securityhub:us-east-1:111111111111:action/custom/hubrelayVndr"
    monkeypatch.setenv("HUBRELAY_VENDOR_ACTION_ARN", vendor)
    monkeypatch.setenv("HUBRELAY_VENDOR_BACK_SYNC", "true")
    monkeypatch.setenv("HUBRELAY_VENDOR_SECRET_ARN", "hubrelay/vendor")
    monkeypatch.setenv("HUBRELAY_VENDOR_API_URL", "https://api.vendor.example")
    document = json.loads((FIXTURES / "events/custom-action-multi.json").read_text())
    document["resources"] = [vendor]
    path = tmp_path / "vendor-event.json"
    path.write_text(json.dumps(document))
    code, report, _ = run(capsys, "--dry-run", str(path))
    # Then the findings of other products are listed as skipped, with the reason (and an
    # event none of whose findings is taken is not accepted)
    assert code == (0 if report["deliveries"] else 1)
    whys = [s["why"] for s in report["skipped"]]
    assert len(whys) == 5 - len(report["deliveries"]) > 0
    assert all(why == "vendor: not this product's finding" for why in whys)


# --- Preview by default; the configuration's source, said --------------------------------

MULTI = str(FIXTURES / "events/custom-action-multi.json")


def _no_environment(monkeypatch):
    for name in [n for n in __import__("os").environ if n.startswith("HUBRELAY_")]:
        monkeypatch.delenv(name)


def test_without_a_flag_route_previews_and_sends_nothing(capsys):
    # Given the responder's variables and no AWS at all: a send would need Secrets Manager
    with mock_aws():
        code, report, err = run(capsys, MULTI)
    # Then the payloads are shown, nothing was delivered, and the preview says so
    assert code == 0
    assert len(report["deliveries"]) == 5
    assert "delivered" not in report
    assert "configuration: environment (HUBRELAY_AUTO_ROUTE" in err
    assert err.rstrip().endswith("(preview: nothing sent)")


def test_send_and_dry_run_together_are_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["route", "--send", "--dry-run", MULTI])
    assert exit_.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_template_defaults_with_a_param_accept_the_webhook_action(capsys, monkeypatch):
    # Given no HUBRELAY_* variables, template.yaml (the current directory) and a parameter
    _no_environment(monkeypatch)
    hook = ["--param", "EnableWebhook=true", "--param", "WebhookSecretName=hubrelay/hook"]
    code, report, err = run(capsys, MULTI, *hook)
    # Then the action ARN is the one the template creates in the event's account and Region
    assert code == 0, err
    assert len(report["deliveries"]) == 5
    said = (
        "template.yaml defaults with EnableWebhook=true WebhookSecretName=hubrelay/hook, as "
        "deployed in account "
        "111111111111, us-east-1 (the event's)"
    )
    assert report["configuration"] == said
    assert f"configuration: {said} (preview: nothing sent)" in err


def test_template_defaults_name_the_actions_the_stack_has(capsys, monkeypatch):
    # Given the template's defaults (SNS only): the webhook action is not this stack's
    _no_environment(monkeypatch)
    code, report, err = run(capsys, MULTI)
    assert code == 1
    sns = "arn:aws:securityhub:us-east-1:111111111111:action/custom/hubrelaySns (sns)"
    assert f"do not belong to this stack (its actions: {sns})" in report["reason"]
    assert "configuration: template.yaml defaults, as deployed" in err


def test_a_template_cannot_send(capsys, monkeypatch):
    _no_environment(monkeypatch)
    code, report, err = run(capsys, MULTI, "--send", "--param", "EnableWebhook=true")
    assert code == 2
    assert report is None
    assert err.startswith("--send needs a deployed stack's configuration")
    assert err.count("\n") == 1


def test_an_unknown_template_parameter_is_one_line(capsys, monkeypatch):
    _no_environment(monkeypatch)
    code, _, err = run(capsys, MULTI, "--param", "NoSuchThing=1")
    assert code == 2
    assert err == "template.yaml: unknown parameters: ['NoSuchThing']\n"


def test_without_any_configuration_route_says_what_is_missing(capsys, monkeypatch, tmp_path):
    # Given no variables and no template.yaml where it runs
    _no_environment(monkeypatch)
    monkeypatch.chdir(tmp_path)
    code, report, err = run(capsys, MULTI)
    assert code == 2
    assert report is None
    assert err.startswith("no configuration to route with: pass --stack NAME")
    assert err.count("\n") == 1


def test_empty_configuration_says_no_custom_action_is_configured(capsys, monkeypatch):
    # Given variables that configure no action (the old text blamed the event's ARN)
    _no_environment(monkeypatch)
    monkeypatch.setenv("HUBRELAY_WEBHOOK_MODE", "finding")
    code, report, _ = run(capsys, MULTI)
    assert code == 1
    assert report["reason"].startswith("no custom action is configured (action ARN(s) arn:")
    assert "HUBRELAY_WEBHOOK_ACTION_ARN" in report["reason"]


STACK_TEMPLATE = {
    "Resources": {
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            },
        },
        "ResponderFunction": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Runtime": "python3.13",
                "Handler": "app.handler",
                "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                "Code": {"ZipFile": "def handler(event, context): pass"},
                "Environment": {
                    "Variables": {
                        "HUBRELAY_WEBHOOK_ACTION_ARN": ACTION,
                        "HUBRELAY_WEBHOOK_SECRET_ARN": "hubrelay/webhook",
                        "HUBRELAY_ACCOUNT_ID": "111111111111",
                    }
                },
            },
        },
    }
}


def test_a_deployed_stacks_configuration_is_read_from_its_responder(capsys, monkeypatch):
    # Given a stack whose responder function's environment holds the action ARN
    _no_environment(monkeypatch)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    from hubrelay import aws

    aws.reset()
    with mock_aws():
        import boto3

        boto3.client("cloudformation", region_name="us-east-1").create_stack(
            StackName="relay", TemplateBody=json.dumps(STACK_TEMPLATE)
        )
        code, report, err = run(capsys, MULTI, "--stack", "relay")
        missing, _, missing_err = run(capsys, MULTI, "--stack", "nope")
    aws.reset()
    assert code == 0, err
    assert len(report["deliveries"]) == 5
    assert report["configuration"].startswith("stack relay (")
    assert "us-east-1)" in report["configuration"]
    # And a stack that is not there is one line naming it
    assert missing == 2
    assert missing_err.startswith("stack nope: ValidationError: ")
    assert missing_err.count("\n") == 1


def test_a_stacks_preview_reads_the_findings_state_in_its_region_and_writes_nothing(
    capsys, monkeypatch
):
    # Given a deployed stack with the automatic route, its Region given by --region alone
    # (no AWS_REGION or AWS_DEFAULT_REGION), and every AWS call recorded
    import copy

    import botocore.client

    from hubrelay import aws

    _no_environment(monkeypatch)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    template = copy.deepcopy(STACK_TEMPLATE)
    variables = template["Resources"]["ResponderFunction"]["Properties"]["Environment"]
    variables["Variables"].update(
        {
            "HUBRELAY_AUTO_ROUTE": "true",
            "HUBRELAY_AUTO_ROUTE_DESTINATIONS": "webhook",
            "HUBRELAY_IDEMPOTENCY_TABLE": "relay-idempotency",
        }
    )
    calls: list[str] = []
    real = botocore.client.BaseClient._make_api_call

    def record(self, operation, params):
        calls.append(operation)
        return real(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    aws.reset()
    with mock_aws():
        import boto3

        boto3.client("cloudformation", region_name="us-east-1").create_stack(
            StackName="relay", TemplateBody=json.dumps(template)
        )
        monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
        monkeypatch.delenv("AWS_REGION", raising=False)
        calls.clear()
        event = str(FIXTURES / "events/imported-inspector.json")
        code, report, err = run(capsys, event, "--stack", "relay", "--region", "us-east-1")
    aws.reset()
    # Then the preview read the findings' state (before 7f08768: it read nothing; with it
    # alone: NoRegionError, a traceback) and made no write
    assert code in (0, 1), err
    assert "GetFindings" in calls
    assert [c for c in calls if not c.startswith(("Get", "Describe"))] == []
    assert report["configuration"].endswith("us-east-1)")


def test_an_event_whose_every_finding_is_rejected_is_not_accepted(capsys, tmp_path):
    # Given an Imported event whose only finding was already worked (NOTIFIED): the
    # automatic route takes none of it
    event = json.loads((FIXTURES / "events/imported-inspector.json").read_text())
    event["detail"]["findings"][0]["Workflow"] = {"Status": "NOTIFIED"}
    path = tmp_path / "worked.json"
    path.write_text(json.dumps(event))
    code, report, err = run(capsys, "--dry-run", str(path))
    # Then the verdict is not "accepted" with nothing in it
    assert report["accepted"] is False
    assert report["deliveries"] == []
    assert err.startswith("rejected: 0 accepted, 1 rejected: auto route")
    assert [s["why"] for s in report["skipped"]] == ["Workflow.Status is NOTIFIED, not NEW"]
    assert code == 1


def test_a_signed_preview_reads_the_webhook_secret_in_the_stacks_region(capsys, monkeypatch):
    # Given a stack in eu-west-1 whose webhook secret is there only, and an operator whose
    # default Region is another one
    from hubrelay import aws

    _operator(monkeypatch)
    with mock_aws():
        import boto3

        _deploy("eu-west-1")
        boto3.client("secretsmanager", region_name="eu-west-1").create_secret(
            Name="hubrelay/webhook",
            SecretString=json.dumps(
                {"url": "https://example.com/h", "signing_secret": "s3", "key_id": "k2"}
            ),
        )
        code, report, err = run(
            capsys, MULTI, "--stack", "relay", "--region", "eu-west-1", "--sign"
        )
    aws.reset()
    # Then the payloads are signed with it, under its key id, as a send signs them (before:
    # the secret was looked up in us-east-1, ResourceNotFoundException, a traceback; and
    # the key id shown was "default" whatever the secret's)
    from hubrelay.destinations import webhook

    assert code == 0, err
    (first, *_) = report["deliveries"]
    assert first["headers"]["X-Hubrelay-Key-Id"] == "k2"
    body = first["payload"]["body"].encode()
    assert webhook.verify(first["headers"], body, {"k2": "s3"}) is None
    assert report["configuration"].endswith("eu-west-1)")


@pytest.mark.parametrize(
    ("stored", "said"),
    [
        (None, "cannot be read: An error occurred (ResourceNotFoundException)"),
        ("not json", "its secret is not a JSON object"),
        (json.dumps({"url": "https://example.com/h"}), "lacks 'url' or 'signing_secret'"),
    ],
    ids=["missing", "not-json", "no-signing-secret"],
)
def test_a_signed_preview_whose_secret_cannot_be_used_says_so_in_one_line(
    capsys, monkeypatch, stored, said
):
    # Given a stack whose webhook secret is missing, not JSON, or without its signing secret
    from hubrelay import aws

    _operator(monkeypatch)
    with mock_aws():
        import boto3

        _deploy("us-east-1")
        if stored is not None:
            boto3.client("secretsmanager", region_name="us-east-1").create_secret(
                Name="hubrelay/webhook", SecretString=stored
            )
        code, report, err = run(capsys, MULTI, "--stack", "relay", "--sign")
    aws.reset()
    # Then one line says why, naming the secret and not quoting it; nothing is printed
    assert code == 2
    assert report is None
    assert err.startswith("--sign: the webhook secret hubrelay/webhook")
    assert said in err
    assert err.count("\n") == 1
    assert "not json" not in err


def _operator(monkeypatch):
    """An operator's shell: credentials, a default Region of us-east-1, no HUBRELAY_*."""
    from hubrelay import aws

    _no_environment(monkeypatch)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    aws.reset()


def _deploy(region: str) -> None:
    """The stack `relay` (STACK_TEMPLATE) in `region`, in moto."""
    import boto3

    boto3.client("cloudformation", region_name=region).create_stack(
        StackName="relay", TemplateBody=json.dumps(STACK_TEMPLATE)
    )
