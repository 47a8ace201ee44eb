"""The whole pipeline through the real template: source -> Security Hub -> out and back."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest

from hubrelay import message
from hubrelay_emulator import demo, samples
from hubrelay_emulator import securityhub as hub
from hubrelay_emulator.demo import PARTNER_PRODUCT
from hubrelay_emulator.runner import DEFAULT_ACCOUNT, StackEmulator


def test_demo_report_matches_what_happened():
    # When the demo runs (what `make demo` prints)
    summary = demo.run(findings=120, vulnerabilities=40)
    # Then every producer finding is in Security Hub or quarantined with its reason
    assert summary.lost == 0
    assert summary.in_security_hub == {
        samples.SUBSCRIBED[0]: 60,
        samples.SUBSCRIBED[1]: 60,
        samples.UNSUBSCRIBED: 0,
        DEFAULT_ACCOUNT: 40 + 5,  # the report, and the five delivered late
    }
    assert summary.quarantined == {
        "InvalidAccess": 20,
        "InvalidFinding": len(samples.broken()),
        "MalformedMessage": 1,
    }
    # And the collector sent the report once, nothing on the unchanged rerun, and archived
    # the ten vulnerabilities fixed in the rescan
    assert (summary.collected, summary.collected_second_run, summary.archived) == (40, 0, 10)
    # The report reached Security Hub by its S3 Object Created event, before any schedule
    assert summary.collected_by_event
    # And on a Source=health stack, AWS Health events through CollectorHealthRule: the
    # security one is a finding, the EC2 reboot is left out, no error, no denied call
    assert summary.health is not None
    assert (summary.health.events, summary.health.matched, summary.health.findings) == (2, 2, 1)
    assert (summary.health.errors, summary.health.denied) == ([], [])
    # And the five findings refused while Security Hub was off reached it once it was on,
    # with no new report (delivery feedback)
    assert summary.held_back == summary.delivered_late == 5
    # And the custom action, clicked twice, reached the receiver once per finding, signed,
    # and each finding was written back
    assert summary.clicked == 3
    assert summary.webhook_received == summary.webhook_verified == 3
    assert summary.written_back == 3
    # And no function made a call its role does not allow
    assert summary.denied_calls == 0
    assert "ImporterRole" not in summary.unused_permissions
    # The responder's DeleteItem is for a failed send (Powertools deletes its in-progress
    # record), which the demo does not make: listed as such, not as unused
    assert "dynamodb:DeleteItem" not in summary.unused_permissions.get("ResponderRole", [])
    # Permissions only a failure path uses (hubrelay_emulator.iam.FAILURE_PATHS): the
    # idempotency record's deletion and the dead letter of a failed delivery; the status
    # sync's release of a failed callback's delivery id.
    assert summary.failure_path_permissions == {
        "ResponderRole": ["dynamodb:DeleteItem", "sqs:SendMessage"],
        "StatusSyncRole": ["dynamodb:DeleteItem"],
    }


def test_demo_with_the_vendor_api_prints_pure_json_and_ends_clean(capsys):
    # When `make demo ARGS="--source vendor_api --json"` runs
    code = demo.main(["--source", "vendor_api", "--json", "--findings", "60"])
    out, err = capsys.readouterr()
    # Then stdout is the summary alone, as JSON; progress went to stderr
    summary = json.loads(out)
    assert "==> collector run 1: 250 findings from 3 pages of the vendor API" in err
    # And the collector read every page (after a 429 with Retry-After), mapped every record,
    # sent nothing the second time, and archived what the vendor resolved
    assert code == 0, err
    assert summary["source"] == "vendor_api"
    assert (summary["collected"], summary["collected_second_run"]) == (250, 0)
    assert summary["vendor_pages"] == 3
    assert summary["vendor_refusals"] == {"429": 1}
    assert summary["archived"] == 10
    assert summary["in_security_hub"][DEFAULT_ACCOUNT] == 250
    assert '"Id": "vendor/F-' in summary["vendor_sample"]
    # The mapping came from the SSM parameter named by VendorMapping, read with the
    # collector's own, one-parameter permission (no denied call below)
    assert summary["vendor_sample"].endswith("(mapping: /hubrelay-demo/vendor-mapping)")
    assert summary["denied"] == []
    assert summary["denied_calls"] == 0


def test_a_denied_call_is_named_and_fails_the_demo_with_the_reason():
    denied = {"function": "CollectorFunction", "action": "s3:GetObject", "resource": "arn:x"}
    summary = demo.Summary(denied=[denied], denied_calls=1)
    assert "1 denied calls; DENIED s3:GetObject on arn:x by CollectorFunction" in demo.render(
        summary
    )
    assert demo.failures(summary) == ["IAM denied s3:GetObject on arn:x to CollectorFunction"]


def _subscribe(stack: StackEmulator, region: str = "us-east-1") -> None:
    hub.enable_hub(stack.account, region)


def _asff_report(finding: dict[str, Any]) -> bytes:
    return json.dumps({"Findings": [finding]}).encode()


def test_a_resolved_finding_is_archived_in_every_region_it_was_sent_to(make_stack):
    # Given a stack collecting ASFF reports for two Regions, and a finding about a global
    # resource (an IAM role), which belongs in every Region
    stack = make_stack(Source="scanner_reports", Regions="us-east-1,eu-west-1")
    _subscribe(stack, "eu-west-1")
    finding = samples.control_finding(random.Random(1), 1, stack.account)
    finding["Resources"] = [{"Type": "AwsIamRole", "Id": "arn:aws:iam::123456789012:role/admin"}]
    s3, bucket = stack.client("s3"), stack.outputs["CollectorReportsBucket"]
    s3.put_object(Bucket=bucket, Key="reports/iam/findings.json", Body=_asff_report(finding))
    stack.tick()
    stack.drain()
    both = {r: stack.contract.findings(stack.account, r) for r in ("us-east-1", "eu-west-1")}
    assert [len(v) for v in both.values()] == [1, 1]
    # When the source reports it resolved
    stack.advance(301)
    resolved = copy.deepcopy(finding)
    resolved["RecordState"] = "ARCHIVED"
    s3.put_object(Bucket=bucket, Key="reports/iam/findings.json", Body=_asff_report(resolved))
    stack.tick()
    stack.drain()
    # Then it is archived in both Regions, each with that Region's ProductArn
    for region in ("us-east-1", "eu-west-1"):
        (stored,) = stack.contract.findings(stack.account, region)
        assert stored["RecordState"] == "ARCHIVED"
        assert f":securityhub:{region}:" in stored["ProductArn"]


def _notifications(stack: StackEmulator, queue_url: str) -> list[dict[str, Any]]:
    sqs, out = stack.client("sqs"), []
    while got := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
        out.extend(got)
        for m in got:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return out


def test_a_finding_reopened_by_security_hub_is_notified_once_per_reopening(make_stack):
    # Given the automatic route to SNS, with the topic read through an SQS subscription
    stack = make_stack(AutoRoute="true", AutoRouteDestinations="sns", AutoRouteMinSeverity="HIGH")
    sqs = stack.client("sqs")
    inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])
    stack.client("sns").subscribe(
        TopicArn=stack.resources["NotificationTopic"]["Ref"],
        Protocol="sqs",
        Endpoint=inbox_arn["Attributes"]["QueueArn"],
    )
    finding = samples.control_finding(random.Random(2), 7, stack.account, product=PARTNER_PRODUCT)
    finding["Severity"] = finding["FindingProviderFields"]["Severity"] = {"Label": "CRITICAL"}

    def send(state: str, updated: str) -> None:
        body = message.encode([{**finding, "RecordState": state, "UpdatedAt": updated}])
        sqs.send_message(QueueUrl=stack.outputs["FindingsQueueUrl"], MessageBody=body)
        stack.drain()

    # When it is imported, the route notifies once and writes NOTIFIED back
    send("ACTIVE", "2026-11-02T00:00:00.000Z")
    assert len(_notifications(stack, inbox)) == 1
    (stored,) = stack.contract.findings(stack.account, stack.region)
    assert stored["Workflow"]["Status"] == "NOTIFIED"
    # And when the source archives and re-activates it, Security Hub resets it to NEW,
    # which emits an Imported event that matches the rule again
    send("ARCHIVED", "2026-11-03T00:00:00.000Z")
    matched_before = stack.report.events_matched.get("AutoRouteRule", 0)
    send("ACTIVE", "2026-11-04T00:00:00.000Z")
    assert stack.report.events_matched.get("AutoRouteRule", 0) > matched_before
    # Then the reopening is notified once, and the finding is NOTIFIED again
    assert len(_notifications(stack, inbox)) == 1
    (stored,) = stack.contract.findings(stack.account, stack.region)
    assert stored["Workflow"]["Status"] == "NOTIFIED"
    assert stored["UserDefinedFields"]["hubrelay:sns:reopened"] == "1"
    # And a later import of the same state is not matched, so nothing is queued again
    matched_before = stack.report.events_matched.get("AutoRouteRule", 0)
    send("ACTIVE", "2026-11-05T00:00:00.000Z")
    assert stack.report.events_matched.get("AutoRouteRule", 0) == matched_before
    assert _notifications(stack, inbox) == []


@pytest.mark.parametrize(
    ("parameters", "present", "absent"),
    [
        (
            {"EnableSns": "true", "EnableWebhook": "false"},
            {"SnsActionTarget", "SnsActionRule"},
            {"WebhookActionTarget", "WebhookActionRule"},
        ),
        (
            {"EnableSns": "false", "EnableOpsCenter": "true"},
            {"OpsCenterActionTarget"},
            {"SnsActionTarget", "NotificationTopic"},
        ),
        ({"AutoRoute": "false"}, set(), {"AutoRouteRule", "AutoRouteQueue"}),
        ({"AutoRoute": "true"}, {"AutoRouteRule", "AutoRouteQueue"}, set()),
    ],
)
def test_destinations_follow_their_parameters(make_stack, parameters, present, absent):
    stack = make_stack(**parameters)
    assert present <= set(stack.resources)
    assert not absent & set(stack.resources)
    # The responder is told exactly the action ARNs that exist, never a hard-coded one
    env = stack.functions["ResponderFunction"].environment
    for logical_id, variable in (
        ("SnsActionTarget", "HUBRELAY_SNS_ACTION_ARN"),
        ("WebhookActionTarget", "HUBRELAY_WEBHOOK_ACTION_ARN"),
        ("OpsCenterActionTarget", "HUBRELAY_OPSCENTER_ACTION_ARN"),
    ):
        expected = stack.resources.get(logical_id, {}).get("ActionTargetArn", "")
        assert env.get(variable, "") == expected
