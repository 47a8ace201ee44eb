"""Operations and security parts of template.yaml agree with the code and with each other.

Alarms and the dashboard must name metrics exactly as hubrelay/observability.py records
them (namespace, metric name, the full dimension set: CloudWatch matches all of it), log
groups and tracing follow their parameters, and a customer managed key (KmsKeyArn), when
given, encrypts every queue, topic, table and log group and is usable by the roles that need
it, only through the services that hold the data.
"""

from __future__ import annotations

import ast
import json
import re
from functools import cache
from typing import Any

import pytest

from hubrelay.links import console_host
from hubrelay_devtools.scan import ALL_OPTIONS
from tests.integration.test_template import (
    FUNCTION_KEY,
    ROOT,
    Resolver,
    _load,
    _sub_text,
    as_list,
    leaves,
    policy_statements,
    props,
    references,
    resources_of,
)

KEY = ALL_OPTIONS["KmsKeyArn"]
TOPIC = ALL_OPTIONS["AlarmTopicArn"]
# Every optional part on, so that every resource exists; the tests choose the key.
EVERYTHING = {**ALL_OPTIONS, "KmsKeyArn": ""}
OBSERVABILITY = ROOT / "layers" / "hubrelay" / "python" / "hubrelay" / "observability.py"
# Dimensions observability.py adds beside "service", and the environment variable of the
# function that holds the value it records.
EXTRA_DIMENSION_ENV = {"Source": "HUBRELAY_SOURCE"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return _load()


def existing(template: dict[str, Any], resolver: Resolver, *types: str) -> dict[str, Any]:
    """The resources of `types` a stack with the resolver's parameters has."""
    return {
        logical_id: resource
        for logical_id, resource in resources_of(template, *types).items()
        if "Condition" not in resource or resolver.condition(resource["Condition"])
    }


# ------------------------------------------------------------------------------------
# What the code records: metric -> (service, dimension names), from observability.py and
# the handlers that call its record_* functions.
# ------------------------------------------------------------------------------------
@cache
def _record_functions() -> dict[str, tuple[list[str], frozenset[str]]]:
    """record_* function -> (metric names it adds, dimensions it adds besides service)."""
    # Read, not imported: Powertools reads its environment when the module is imported.
    tree = ast.parse(OBSERVABILITY.read_text(encoding="utf-8"))
    found: dict[str, tuple[list[str], frozenset[str]]] = {}
    for function in tree.body:
        if not (isinstance(function, ast.FunctionDef) and function.name.startswith("record_")):
            continue
        names: list[str] = []
        dimensions: set[str] = set()
        for node in ast.walk(function):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "metrics"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                continue
            if node.func.attr == "add_metric":
                names.append(str(node.args[0].value))
            elif node.func.attr == "add_dimension":
                dimensions.add(str(node.args[0].value))
        found[function.name] = (names, frozenset(dimensions))
    return found


def _recorders_by_function(template: dict[str, Any]) -> dict[str, str]:
    """record_* function -> logical id of the Lambda function whose handler calls it."""
    by_folder: dict[str, str] = {}
    for logical_id, resource in resources_of(template, "AWS::Lambda::Function").items():
        match = FUNCTION_KEY.match(_sub_text(props(resource)["Code"]["S3Key"]) or "")
        assert match, logical_id
        by_folder[match["name"]] = logical_id
    recorders: dict[str, str] = {}
    for folder, logical_id in by_folder.items():
        source = (ROOT / "functions" / folder / "app.py").read_text(encoding="utf-8")
        for name in re.findall(r"\brecord_\w+", source):
            recorders[name] = logical_id
    return recorders


def recorded_metrics(template: dict[str, Any]) -> dict[str, tuple[str, frozenset[str]]]:
    """metric name -> (recording function's logical id, full dimension set)."""
    recorders = _recorders_by_function(template)
    metrics: dict[str, tuple[str, frozenset[str]]] = {}
    for record, (names, extra) in _record_functions().items():
        assert record in recorders, f"{record} is called by no function handler"
        assert extra <= set(EXTRA_DIMENSION_ENV), f"unknown dimensions {extra}: extend the test"
        for name in names:
            metrics[name] = (recorders[record], frozenset({"service"} | extra))
    return metrics


def test_the_metric_table_is_read_from_the_code(template: dict[str, Any]) -> None:
    metrics = recorded_metrics(template)
    # A spot check that parsing works: names the docs and alarms rely on.
    assert metrics["FindingsQuarantined"] == ("ImporterFunction", frozenset({"service"}))
    assert metrics["CollectArchived"] == ("CollectorFunction", frozenset({"service", "Source"}))
    assert metrics["RouteDeliveries"] == ("ResponderFunction", frozenset({"service"}))


def check_custom_metric(
    template: dict[str, Any],
    resolver: Resolver,
    where: str,
    name: str,
    dimensions: dict[str, Any],
) -> list[str]:
    """Problems with a namespace-hubrelay metric reference (alarm or dashboard line)."""
    metrics = recorded_metrics(template)
    if name not in metrics:
        return [f"{where}: {name} is not recorded by hubrelay/observability.py"]
    function_id, expected = metrics[name]
    if set(dimensions) != expected:
        return [f"{where}: {name} dimensions {sorted(dimensions)} != recorded {sorted(expected)}"]
    function = props(template["Resources"][function_id])
    variables = resolver.resolve(function["Environment"]["Variables"])
    wanted = {"service": variables["POWERTOOLS_SERVICE_NAME"]}
    wanted |= {d: variables[env] for d, env in EXTRA_DIMENSION_ENV.items() if d in expected}
    if resolver.resolve(dimensions) != wanted:
        return [f"{where}: {name} dimensions {dimensions} != what {function_id} records {wanted}"]
    return []


# ------------------------------------------------------------------------------------
# Alarms
# ------------------------------------------------------------------------------------
def test_alarms_exist_only_with_an_alarm_topic(template: dict[str, Any]) -> None:
    alarms = resources_of(template, "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 9
    without = Resolver(template, {**EVERYTHING, "AlarmTopicArn": ""})
    assert existing(template, without, "AWS::CloudWatch::Alarm") == {}
    assert existing(template, Resolver(template, EVERYTHING), "AWS::CloudWatch::Alarm") == alarms
    for logical_id, alarm in alarms.items():
        assert props(alarm)["AlarmActions"] == [{"Ref": "AlarmTopicArn"}], logical_id
        assert props(alarm)["OKActions"] == [{"Ref": "AlarmTopicArn"}], logical_id
        assert "TreatMissingData" in props(alarm), f"{logical_id}: say how missing data counts"


def test_alarm_topic_parameter_accepts_only_topic_arns(template: dict[str, Any]) -> None:
    pattern = template["Parameters"]["AlarmTopicArn"]["AllowedPattern"]
    assert re.fullmatch(pattern, "")
    assert re.fullmatch(pattern, TOPIC)
    assert re.fullmatch(pattern, "arn:aws-us-gov:sns:us-gov-west-1:111122223333:a_b-c")
    assert not re.fullmatch(pattern, "ops-alarms")
    assert not re.fullmatch(pattern, "arn:aws:sqs:us-east-1:111122223333:ops-alarms")


def test_hubrelay_alarm_metrics_are_recorded_by_the_code(template: dict[str, Any]) -> None:
    resolver = Resolver(template, EVERYTHING)
    problems: list[str] = []
    custom = {}
    for logical_id, alarm in resources_of(template, "AWS::CloudWatch::Alarm").items():
        spec = props(alarm)
        if spec["Namespace"] != "hubrelay":
            continue
        custom[spec["MetricName"]] = logical_id
        dimensions = {d["Name"]: d["Value"] for d in spec.get("Dimensions", [])}
        problems += check_custom_metric(
            template, resolver, logical_id, spec["MetricName"], dimensions
        )
    assert not problems, "\n".join(problems)
    assert {"FindingsQuarantined", "FindingsFailed", "ImportThrottles", "CollectErrors"} <= set(
        custom
    )


def _alarms_on(template: dict[str, Any], namespace: str, metric: str) -> dict[str, Any]:
    return {
        logical_id: props(alarm)
        for logical_id, alarm in resources_of(template, "AWS::CloudWatch::Alarm").items()
        if props(alarm)["Namespace"] == namespace and props(alarm)["MetricName"] == metric
    }


def test_every_function_has_an_errors_alarm(template: dict[str, Any]) -> None:
    alarms = _alarms_on(template, "AWS/Lambda", "Errors")
    watched = {
        d["Value"]["Ref"]
        for spec in alarms.values()
        for d in spec["Dimensions"]
        if d["Name"] == "FunctionName"
    }
    assert watched == set(resources_of(template, "AWS::Lambda::Function"))
    for logical_id, spec in alarms.items():
        assert (spec["Statistic"], spec["Threshold"]) == ("Sum", 0), logical_id
        assert spec["ComparisonOperator"] == "GreaterThanThreshold", logical_id


def _dead_letter_queues(template: dict[str, Any]) -> set[str]:
    return {
        target
        for resource in resources_of(template, "AWS::SQS::Queue").values()
        if "RedrivePolicy" in props(resource)
        for target in references(props(resource)["RedrivePolicy"]["deadLetterTargetArn"])
    }


def test_every_dead_letter_queue_alarms_on_its_first_message(template: dict[str, Any]) -> None:
    dlqs = _dead_letter_queues(template)
    assert dlqs == {"FindingsDeadLetterQueue", "ResponderDeadLetterQueue"}
    alarms = _alarms_on(template, "AWS/SQS", "ApproximateNumberOfMessagesVisible")
    watched = {}
    for logical_id, spec in alarms.items():
        (dimension,) = spec["Dimensions"]
        assert dimension["Name"] == "QueueName"
        watched[dimension["Value"]["Fn::GetAtt"][0]] = logical_id
        assert (spec["Threshold"], spec["ComparisonOperator"]) == (0, "GreaterThanThreshold")
        # SQS may stop reporting a queue nobody touches: a DLQ still holding messages must
        # not fall back to OK for lack of data.
        assert spec["TreatMissingData"] == "ignore", logical_id
    assert set(watched) == dlqs


def test_latency_alarm_watches_the_findings_queue_against_the_goal(
    template: dict[str, Any],
) -> None:
    (spec,) = _alarms_on(template, "AWS/SQS", "ApproximateAgeOfOldestMessage").values()
    assert spec["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["FindingsQueue", "QueueName"]}}
    ]
    assert spec["Threshold"] == {"Ref": "LatencyGoalSeconds"}
    assert spec["Statistic"] == "Maximum"
    # Findings in Security Hub within five minutes, as the AWS Security Hub partner FAQ asks:
    # https://docs.aws.amazon.com/securityhub/latest/partnerguide/partner-faq.html
    assert template["Parameters"]["LatencyGoalSeconds"]["Default"] == 300
    (throttles,) = _alarms_on(template, "hubrelay", "ImportThrottles").values()
    assert throttles["Threshold"] == {"Ref": "ThrottleAlarmThreshold"}


# ------------------------------------------------------------------------------------
# Dashboard and its link
# ------------------------------------------------------------------------------------
def dashboard(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    resolver = Resolver(template, parameters)
    ((_, resource),) = resources_of(template, "AWS::CloudWatch::Dashboard").items()
    body = resolver.resolve(props(resource)["DashboardBody"])
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def metric_lines(body: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    """(widget title, metric line) for every line; "..." shorthand is not used here."""
    return [
        (widget["properties"]["title"], line)
        for widget in body["widgets"]
        if widget["type"] == "metric"
        for line in widget["properties"]["metrics"]
    ]


@pytest.mark.parametrize("source", ["none", "vendor_api", "scanner_reports", "health"])
def test_dashboard_body_is_json_naming_recorded_metrics(
    template: dict[str, Any], source: str
) -> None:
    parameters = {**EVERYTHING, "Source": source}
    body = dashboard(template, parameters)
    resolver = Resolver(template, parameters)
    problems: list[str] = []
    lambda_lines: dict[str, set[str]] = {}
    names: set[str] = set()
    for title, line in metric_lines(body):
        options = line[-1] if isinstance(line[-1], dict) else {}
        namespace, name, *pairs = line[:-1] if options else line
        dimensions = dict(zip(pairs[::2], pairs[1::2], strict=True))
        names.add(name)
        if namespace == "hubrelay":
            problems += check_custom_metric(template, resolver, title, name, dimensions)
        elif namespace == "AWS/Lambda":
            lambda_lines.setdefault(dimensions["FunctionName"], set()).add(name)
    assert not problems, "\n".join(problems)
    functions = existing(template, resolver, "AWS::Lambda::Function")
    assert lambda_lines == {f"<{f}>": {"Duration", "Errors"} for f in functions}
    # What the issue asks the dashboard to show.
    wanted = {
        "FindingsImported",
        "FindingsQuarantined",
        "RouteDeliveries",
        "ApproximateAgeOfOldestMessage",
        "ImportThrottles",
    }
    if source != "none":
        wanted |= {"CollectFindings", "CollectArchived"}
    else:
        assert not {n for n in names if n.startswith("Collect")}
    assert wanted <= names
    assert all(w["properties"].get("region", "us-east-1") == "us-east-1" for w in body["widgets"])


@pytest.mark.parametrize(
    ("partition", "region"),
    [("aws", "eu-west-1"), ("aws-cn", "cn-north-1"), ("aws-us-gov", "us-gov-west-1")],
)
def test_dashboard_url_uses_the_partitions_console(
    template: dict[str, Any], partition: str, region: str
) -> None:
    resolver = Resolver(template, {}, Partition=partition, Region=region)
    url = resolver.resolve(template["Outputs"]["DashboardUrl"]["Value"])
    assert url == (
        f"https://{console_host(region)}/cloudwatch/home?region={region}"
        "#dashboards:name=<OperationsDashboard>"
    )


# ------------------------------------------------------------------------------------
# Logs and tracing
# ------------------------------------------------------------------------------------
def test_every_function_logs_to_its_own_group_kept_for_the_retention_parameter(
    template: dict[str, Any],
) -> None:
    groups = resources_of(template, "AWS::Logs::LogGroup")
    used = []
    for logical_id, resource in resources_of(template, "AWS::Lambda::Function").items():
        config = props(resource).get("LoggingConfig", {})
        group_id = config.get("LogGroup", {}).get("Ref")
        assert group_id in groups, f"{logical_id}: LoggingConfig.LogGroup is not a stack log group"
        group = groups[group_id]
        assert props(group)["RetentionInDays"] == {"Ref": "LogRetentionDays"}, group_id
        assert group.get("Condition") == resource.get("Condition"), group_id
        # The function's role may write exactly there.
        role = template["Resources"][props(resource)["Role"]["Fn::GetAtt"][0]]
        writes = [
            statement
            for _, statement in policy_statements({"Resources": {"role": role}})
            if "logs:PutLogEvents" in leaves(statement.get("Action", []))
        ]
        assert [s["Resource"] for s in writes] == [{"Fn::GetAtt": [group_id, "Arn"]}]
        used.append(group_id)
    assert sorted(used) == sorted(groups), "one log group per function, none unused"


def test_every_function_traces_as_the_tracing_parameter_says(template: dict[str, Any]) -> None:
    assert set(template["Parameters"]["Tracing"]["AllowedValues"]) == {"Active", "PassThrough"}
    for logical_id, resource in resources_of(template, "AWS::Lambda::Function").items():
        assert props(resource)["TracingConfig"] == {"Mode": {"Ref": "Tracing"}}, logical_id


# ------------------------------------------------------------------------------------
# Encryption at rest
# ------------------------------------------------------------------------------------
ENCRYPTED_TYPES = (
    "AWS::SQS::Queue",
    "AWS::SNS::Topic",
    "AWS::DynamoDB::Table",
    "AWS::Logs::LogGroup",
)


def encryption(resource_type: str, spec: dict[str, Any]) -> tuple[str, str | None]:
    """(kind, key) of a resolved resource's encryption at rest."""
    if resource_type == "AWS::SQS::Queue":
        if spec.get("KmsMasterKeyId"):
            assert "SqsManagedSseEnabled" not in spec, "both SSE-SQS and SSE-KMS"
            return "kms", spec["KmsMasterKeyId"]
        return ("aws-managed", None) if spec.get("SqsManagedSseEnabled") is True else ("none", None)
    if resource_type == "AWS::SNS::Topic":
        key = spec.get("KmsMasterKeyId")
        return ("aws-managed", None) if key == "alias/aws/sns" else ("kms", key)
    if resource_type == "AWS::DynamoDB::Table":
        sse = spec.get("SSESpecification", {})
        if sse.get("SSEEnabled") is not True:
            return "none", None
        key = sse.get("KMSMasterKeyId")
        return ("kms", key) if key else ("aws-managed", None)
    key = spec.get("KmsKeyId")  # log groups: CloudWatch Logs always encrypts
    return ("kms", key) if key else ("aws-managed", None)


@pytest.mark.parametrize(("key", "expected"), [("", ("aws-managed", None)), (KEY, ("kms", KEY))])
def test_queues_topics_tables_and_log_groups_use_the_key_parameter(
    template: dict[str, Any], key: str, expected: tuple[str, str | None]
) -> None:
    resolver = Resolver(template, {**EVERYTHING, "KmsKeyArn": key})
    found = existing(template, resolver, *ENCRYPTED_TYPES)
    assert {r["Type"] for r in found.values()} == set(ENCRYPTED_TYPES)
    wrong = {
        logical_id: encryption(resource["Type"], resolver.resolve(props(resource)))
        for logical_id, resource in found.items()
    }
    wrong = {logical_id: got for logical_id, got in wrong.items() if got != expected}
    assert not wrong, f"with KmsKeyArn={key!r}, expected {expected} everywhere: {wrong}"


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("", True),
        (KEY, True),
        ("arn:aws-cn:kms:cn-north-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab", True),
        ("arn:aws:kms:us-east-1:111122223333:alias/hubrelay", False),
        ("1234abcd-12ab-34cd-56ef-1234567890ab", False),
        ("*", False),
    ],
)
def test_key_parameter_accepts_key_arns_only(
    template: dict[str, Any], value: str, accepted: bool
) -> None:
    # A key ARN, never an alias: IAM policies and grants are written for the key's ARN.
    pattern = template["Parameters"]["KmsKeyArn"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is accepted


# Where a role's statement touches data of the stack: the service that encrypts it.
SERVICE_OF = {
    "AWS::SQS::Queue": "sqs",
    "AWS::SNS::Topic": "sns",
    "AWS::DynamoDB::Table": "dynamodb",
}


def _role_statements(resolver: Resolver, role: dict[str, Any]) -> list[dict[str, Any]]:
    resolved = resolver.resolve(props(role))
    return [
        statement
        for policy in resolved.get("Policies", [])
        for statement in as_list(policy["PolicyDocument"]["Statement"])
    ]


def test_roles_get_the_key_only_when_given_and_only_through_their_services(
    template: dict[str, Any],
) -> None:
    with_key = Resolver(template, {**EVERYTHING, "KmsKeyArn": KEY})
    without = Resolver(template, EVERYTHING)
    roles = existing(template, with_key, "AWS::IAM::Role")
    problems = []
    for logical_id, role in roles.items():
        # The services whose encrypted resources this role's statements name.
        touched = {
            SERVICE_OF[template["Resources"][ref]["Type"]]
            for _, statement in policy_statements({"Resources": {logical_id: role}})
            for ref in references(statement.get("Resource"))
            if ref in template["Resources"] and template["Resources"][ref]["Type"] in SERVICE_OF
        }
        grants = [s for s in _role_statements(with_key, role) if s.get("Resource") == KEY]
        if not touched:
            if grants:
                problems.append(f"{logical_id}: uses no encrypted resource but gets the key")
            continue
        if len(grants) != 1:
            problems.append(f"{logical_id}: expected one statement on the key, got {grants}")
            continue
        (grant,) = grants
        if set(as_list(grant["Action"])) != {"kms:Decrypt", "kms:GenerateDataKey"}:
            problems.append(f"{logical_id}: key actions {grant['Action']}")
        via = set(as_list(grant["Condition"]["StringEquals"]["kms:ViaService"]))
        if via != {f"{service}.us-east-1.amazonaws.com" for service in touched}:
            problems.append(f"{logical_id}: kms:ViaService {sorted(via)} for {sorted(touched)}")
        if any(s.get("Resource") == "" for s in _role_statements(without, role)):
            problems.append(f"{logical_id}: a statement on an empty key without KmsKeyArn")
        if [s for s in _role_statements(without, role) if "kms:GenerateDataKey" in s["Action"]]:
            problems.append(f"{logical_id}: kms:GenerateDataKey without KmsKeyArn")
    assert not problems, "\n".join(problems)


def test_kms_permissions_are_always_scoped_to_a_service(template: dict[str, Any]) -> None:
    problems = []
    for where, statement in policy_statements(template):
        actions = [a for a in leaves(statement.get("Action", [])) if a.startswith("kms:")]
        if actions and statement.get("Effect") == "Allow":
            via = statement.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService")
            if not via:
                problems.append(f"{where}: {actions} without a kms:ViaService condition")
            if statement.get("Resource") == "*":
                problems.append(f"{where}: {actions} on every key")
    assert not problems, "\n".join(problems)


def test_no_role_may_pass_roles(template: dict[str, Any]) -> None:
    # EventBridge Scheduler assumes its role itself: passing it is the deployer's business.
    passing = [
        where
        for where, statement in policy_statements(template)
        if any(a.lower() == "iam:passrole" for a in leaves(statement.get("Action", [])))
    ]
    assert passing == []


def test_every_topic_policy_denies_insecure_transport(template: dict[str, Any]) -> None:
    policies = resources_of(template, "AWS::SNS::TopicPolicy")
    for topic_id, topic in resources_of(template, "AWS::SNS::Topic").items():
        covering = [
            p for p in policies.values() if {"Ref": topic_id} in as_list(props(p)["Topics"])
        ]
        assert covering, f"{topic_id}: no AWS::SNS::TopicPolicy"
        assert all(p.get("Condition") == topic.get("Condition") for p in covering)
        denies = [
            s
            for p in covering
            for s in as_list(props(p)["PolicyDocument"]["Statement"])
            if s["Effect"] == "Deny"
            and s["Principal"] == "*"
            and s["Condition"]["Bool"]["aws:SecureTransport"] == "false"
        ]
        actions = {a for s in denies for a in as_list(s["Action"])}
        assert {"sns:Publish", "sns:Subscribe"} <= actions, topic_id


def test_setup_guide_gives_the_key_policy_the_stack_needs() -> None:
    # docs/setup.md shows the key policy as one JSON document: it must parse, and name the
    # service principals that write with the key on their own (not through our roles).
    text = (ROOT / "docs" / "setup.md").read_text(encoding="utf-8")
    section = text.split("## Encryption with your own KMS key", 1)[1].split("\n## ", 1)[0]
    (policy_text,) = re.findall(r"<!-- key policy -->\n```json\n(.*?)```", section, re.S)
    policy = json.loads(policy_text)
    principals: dict[str, dict[str, Any]] = {}
    for statement in policy["Statement"]:
        service = statement.get("Principal", {}).get("Service")
        if service:
            principals[service] = statement
            assert statement.get("Condition"), f"{service}: a service principal needs conditions"
    assert {"events.amazonaws.com", "logs.<region>.amazonaws.com"} <= set(principals)
    events = principals["events.amazonaws.com"]
    assert set(events["Action"]) == {"kms:GenerateDataKey", "kms:Decrypt"}
    assert events["Condition"]["StringEquals"]["aws:SourceAccount"] == "<account>"
