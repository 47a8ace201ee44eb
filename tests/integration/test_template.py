"""Static checks of template.yaml, the one CloudFormation stack hubrelay deploys.

The template is read with cfn-lint's own decoder (what CloudFormation would see, short
tags included) and checked for: a clean cfn-lint run, least-privilege IAM, the artifact
key convention the local runner relies on, encrypted TLS-only queues, constrained
parameters and generated physical names.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_file
from cfnlint.config import ManualArgs
from cfnlint.decode import decode_str

from hubrelay.settings import AUTO_ROUTE_VISIBILITY_S, Settings
from hubrelay_emulator import cfn

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"

# One Region per partition we may be deployed to, plus a few commercial ones.
LINT_REGIONS = [
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "ap-southeast-2",
    "us-gov-west-1",
    "cn-north-1",
]

# The values CloudFormation accepts for AWS::Logs::LogGroup RetentionInDays.
CLOUDWATCH_RETENTION_DAYS = {
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545,
    731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
}  # fmt: skip

FUNCTION_KEY = re.compile(r"^\$\{ArtifactKeyPrefix\}functions/(?P<name>[a-z0-9][a-z0-9_-]*)\.zip$")
LAYER_KEY = re.compile(r"^\$\{ArtifactKeyPrefix\}layers/(?P<name>[a-z0-9][a-z0-9_-]*)\.zip$")
ARTIFACT_BUCKET = {"Fn::Sub": "${ArtifactBucketPrefix}-${AWS::Region}"}

# Properties that give a resource a physical name. A constant there breaks a second stack
# in the same account and Region. "<Type suffix>Name" (QueueName, FunctionName, RoleName,
# TableName, TopicName, LogGroupName, BucketName, AlarmName...) is checked for every type;
# these are the irregular ones.
EXTRA_NAME_PROPERTIES = {
    "AWS::Lambda::LayerVersion": ["LayerName"],
    "AWS::IAM::ManagedPolicy": ["ManagedPolicyName"],
    "AWS::IAM::InstanceProfile": ["InstanceProfileName"],
    "AWS::Events::Rule": ["Name"],
    "AWS::Events::EventBus": ["Name"],
    "AWS::Scheduler::Schedule": ["Name"],
    "AWS::SSM::Parameter": ["Name"],
    "AWS::SecretsManager::Secret": ["Name"],
    "AWS::SecurityHub::ActionTarget": ["Id"],
    "AWS::CloudWatch::Dashboard": ["DashboardName"],
    "AWS::SQS::Queue": ["QueueName"],
    "AWS::Lambda::Function": ["FunctionName"],
    "AWS::IAM::Role": ["RoleName"],
    "AWS::DynamoDB::Table": ["TableName"],
    "AWS::SNS::Topic": ["TopicName"],
    "AWS::Logs::LogGroup": ["LogGroupName"],
}

FAKE_ACCOUNT = "111122223333"


# ------------------------------------------------------------------------------------
# Loading and walking the template
# ------------------------------------------------------------------------------------
@cache
def _load() -> dict[str, Any]:
    template, matches = decode_str(TEMPLATE_PATH.read_text(encoding="utf-8"))
    problems = "\n".join(str(m) for m in matches)
    assert not matches, f"template.yaml does not decode:\n{problems}"
    assert isinstance(template, dict), "template.yaml decoded to nothing"
    return template


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return _load()


def resources_of(template: dict[str, Any], *types: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if not types or resource.get("Type") in types
    }


def props(resource: dict[str, Any]) -> dict[str, Any]:
    return resource.get("Properties") or {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def leaves(value: Any) -> Iterator[str]:
    """Every string inside value, intrinsic functions included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item)


def policy_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, statement) for every policy document anywhere in the template."""

    def walk(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
        if isinstance(node, dict):
            if "Statement" in node:
                for index, entry in enumerate(as_list(node["Statement"])):
                    # Conditional statements (Fn::If) are checked in both branches.
                    for statement in _branches(entry):
                        where = f"{path}/Statement[{index}]"
                        sid = statement.get("Sid")
                        yield (f"{where} ({sid})" if sid else where), statement
            for key, item in node.items():
                if key != "Statement":
                    yield from walk(item, f"{path}/{key}")
        elif isinstance(node, list):
            for index, item in enumerate(node):
                yield from walk(item, f"{path}[{index}]")

    yield from walk(template.get("Resources", {}), "Resources")


def _branches(entry: Any) -> list[dict[str, Any]]:
    if isinstance(entry, dict) and set(entry) == {"Fn::If"}:
        _, when_true, when_false = entry["Fn::If"]
        return [*_branches(when_true), *_branches(when_false)]
    if isinstance(entry, dict) and entry != {"Ref": "AWS::NoValue"}:
        return [entry]
    return []


def references(value: Any) -> set[str]:
    """Names a value depends on: Ref targets, GetAtt resources and ${...} in Fn::Sub."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                found.add(item)
            elif key == "Fn::GetAtt":
                target = item[0] if isinstance(item, list) else str(item).split(".")[0]
                found.add(str(target))
            elif key == "Fn::Sub":
                text, variables = (item[0], item[1]) if isinstance(item, list) else (item, {})
                names = re.findall(r"\$\{([^!}][^}]*)\}", str(text))
                found |= {name.split(".")[0] for name in names if name not in variables}
                found |= references(variables)
            else:
                found |= references(item)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


# ------------------------------------------------------------------------------------
# The emulator's evaluator of intrinsic functions, for a stack that is never created: a
# resource stands for itself (<Name>, <Name.Attribute>), so what the IAM statements and
# the environment resolve to can be checked on the template alone.
# ------------------------------------------------------------------------------------
class Resolver(cfn.Resolver):
    def __init__(self, template: dict[str, Any], parameters: dict[str, str], **pseudo: str):
        region = pseudo.get("Region", "us-east-1")
        names = cfn.pseudo_parameters(region, FAKE_ACCOUNT, "hubrelay-test")
        names.update({f"AWS::{key}": value for key, value in pseudo.items()})
        # SSM-typed parameters keep their parameter name: nothing is read from SSM.
        values = cfn.parameter_values(template, parameters, resolve_ssm=lambda name: name)
        super().__init__(template, values, names)

    def ref(self, name: str) -> Any:
        if name.split(".")[0] in self.template["Resources"]:
            return f"<{name}>"
        return super().ref(name)

    def get_att(self, name: str, attribute: str) -> Any:
        return f"<{name}.{attribute}>"


# ------------------------------------------------------------------------------------
# Lint and shape
# ------------------------------------------------------------------------------------
def test_cfn_lint_reports_nothing() -> None:
    config = ManualArgs(regions=LINT_REGIONS)
    matches = lint_file(TEMPLATE_PATH, config=config)
    report = "\n".join(f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches)
    assert not matches, f"cfn-lint (errors and warnings) reports:\n{report}"


def test_plain_cloudformation_without_transform(template: dict[str, Any]) -> None:
    assert "Transform" not in template, "template.yaml must stay plain CloudFormation (no SAM)"
    assert "Description" in template, "template.yaml needs a Description for the console"


# ------------------------------------------------------------------------------------
# IAM
# ------------------------------------------------------------------------------------
def test_no_iam_action_has_a_wildcard(template: dict[str, Any]) -> None:
    offenders = []
    for where, statement in policy_statements(template):
        for action in leaves(statement.get("Action", [])):
            if "*" in action:
                offenders.append(f"{where}: Action {action!r}")
        if "NotAction" in statement and statement.get("Effect") == "Allow":
            offenders.append(f"{where}: Allow with NotAction grants everything else")
    for logical_id, resource in resources_of(template, "AWS::Lambda::Permission").items():
        action = props(resource).get("Action", "")
        if "*" in str(action):
            offenders.append(f"{logical_id}: Lambda permission Action {action!r}")
    assert not offenders, "IAM actions must be listed explicitly, no '*':\n" + "\n".join(offenders)


# Actions whose service authorization reference allows no resource-level permission, so
# Resource "*" is the only possible form.
RESOURCELESS_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "health:DescribeEvents",
    "health:DescribeEventDetails",
    "health:DescribeAffectedEntities",
    "health:DescribeEventsForOrganization",
    "health:DescribeEventDetailsForOrganization",
    "health:DescribeAffectedEntitiesForOrganization",
    "ssm:CreateOpsItem",
}


def test_only_actions_without_resource_level_permissions_use_every_resource(
    template: dict[str, Any],
) -> None:
    offenders = []
    for where, statement in policy_statements(template):
        if statement.get("Effect") != "Allow" or "*" not in as_list(statement.get("Resource")):
            continue
        for action in leaves(statement.get("Action", [])):
            if action not in RESOURCELESS_ACTIONS:
                offenders.append(f"{where}: {action} on Resource '*'")
    assert not offenders, "Resource '*' only where IAM allows nothing else:\n" + "\n".join(
        offenders
    )


def _grants_batch_import(statement: dict[str, Any]) -> bool:
    return any(
        action.lower() == "securityhub:batchimportfindings"
        for action in leaves(statement.get("Action", []))
    )


def test_batch_import_findings_is_never_granted_on_every_resource(
    template: dict[str, Any],
) -> None:
    statements = [(where, s) for where, s in policy_statements(template) if _grants_batch_import(s)]
    assert statements, "no IAM statement grants securityhub:BatchImportFindings"
    offenders = []
    for where, statement in statements:
        if "NotResource" in statement or "Resource" not in statement:
            offenders.append(f"{where}: must use an explicit Resource list")
            continue
        for entry in as_list(statement["Resource"]):
            if entry == "*" or "*" in as_list(entry):
                offenders.append(f"{where}: Resource '*'")
            elif not any(":securityhub:" in leaf for leaf in leaves(entry)):
                offenders.append(f"{where}: {entry!r} is not a Security Hub ARN")
    assert not offenders, "BatchImportFindings must be scoped to product ARNs:\n" + "\n".join(
        offenders
    )


PRIVATE = f"product/{FAKE_ACCOUNT}/default"
# Granted whatever ProductArn is: a switch from the private default to a partner product
# archives what was sent under the default (template.yaml, ImportFindingsForOurProduct).
OWN_DEFAULT = (
    f"arn:aws:securityhub:*:{FAKE_ACCOUNT}:{PRIVATE}",
    f"arn:aws:securityhub:*:{FAKE_ACCOUNT}:product-subscription/{FAKE_ACCOUNT}/default",
)
PARTNER_ARN = "arn:aws:securityhub:us-west-2:222222222222:product/generico/secure-pro"
TRIVY_ARN = "arn:aws:securityhub:us-west-2::product/aquasecurity/aquasecurity"


@pytest.mark.parametrize(
    ("product_arn", "pseudo", "expected_resources", "expected_product_arn"),
    [
        pytest.param(
            "",
            {},
            {
                f"arn:aws:securityhub:*:{FAKE_ACCOUNT}:{PRIVATE}",
                f"arn:aws:securityhub:*:{FAKE_ACCOUNT}:product-subscription/{FAKE_ACCOUNT}/default",
            },
            f"arn:aws:securityhub:us-east-1:{FAKE_ACCOUNT}:{PRIVATE}",
            id="private-default",
        ),
        pytest.param(
            "",
            {"Partition": "aws-us-gov", "Region": "us-gov-west-1"},
            {
                f"arn:aws-us-gov:securityhub:*:{FAKE_ACCOUNT}:{PRIVATE}",
                f"arn:aws-us-gov:securityhub:*:{FAKE_ACCOUNT}:product-subscription/{FAKE_ACCOUNT}/default",
            },
            f"arn:aws-us-gov:securityhub:us-gov-west-1:{FAKE_ACCOUNT}:{PRIVATE}",
            id="private-default-govcloud",
        ),
        pytest.param(
            PARTNER_ARN,
            {},
            {
                "arn:aws:securityhub:*:222222222222:product/generico/secure-pro",
                "arn:aws:securityhub:*:*:product-subscription/generico/secure-pro",
                # the account's own default product, for what a switch leaves behind
                *OWN_DEFAULT,
            },
            PARTNER_ARN,
            id="partner-product",
        ),
        pytest.param(
            TRIVY_ARN,
            {},
            {
                "arn:aws:securityhub:*::product/aquasecurity/aquasecurity",
                "arn:aws:securityhub:*:*:product-subscription/aquasecurity/aquasecurity",
                # the account's own default product, for what a switch leaves behind
                *OWN_DEFAULT,
            },
            TRIVY_ARN,
            id="partner-product-without-an-account",
        ),
    ],
)
def test_importer_product_arn_and_permissions_resolve(
    template: dict[str, Any],
    product_arn: str,
    pseudo: dict[str, str],
    expected_resources: set[str],
    expected_product_arn: str,
) -> None:
    resolver = Resolver(template, {"ProductArn": product_arn}, **pseudo)
    role = resolver.resolve(props(template["Resources"]["ImporterRole"]))
    granted = {
        resource
        for policy in role.get("Policies", [])
        for statement in as_list(policy["PolicyDocument"]["Statement"])
        if _grants_batch_import(statement)
        for resource in as_list(statement["Resource"])
    }
    assert granted == expected_resources, (
        f"BatchImportFindings resources for ProductArn={product_arn!r}: got {sorted(granted)}, "
        f"expected {sorted(expected_resources)}"
    )
    function = resolver.resolve(props(template["Resources"]["ImporterFunction"]))
    assert function["Environment"]["Variables"]["HUBRELAY_PRODUCT_ARN"] == expected_product_arn
    output = resolver.resolve(template["Outputs"]["ResolvedProductArn"]["Value"])
    assert output == expected_product_arn


# ------------------------------------------------------------------------------------
# Artifacts: S3 keys map back to the source folders (the local runner relies on it)
# ------------------------------------------------------------------------------------
def _sub_text(value: Any) -> str | None:
    if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        return str(value["Fn::Sub"])
    return None


def _top_level_callables(source: Path) -> set[str]:
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _artifacts(
    resources: dict[str, dict[str, Any]], where: str, problems: list[str]
) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(logical id, resource, name) for each function (`where` Code) or layer (Content)
    that reads its zip from the artifact bucket at ${ArtifactKeyPrefix}functions/<name>.zip
    or .../layers/<name>.zip; what is wrong with the others goes to `problems`."""
    folder, pattern = ("functions", FUNCTION_KEY) if where == "Code" else ("layers", LAYER_KEY)
    for logical_id, resource in resources.items():
        location = props(resource).get(where, {})
        if location.get("S3Bucket") != ARTIFACT_BUCKET:
            problems.append(
                f"{logical_id}: {where}.S3Bucket must be !Sub {ARTIFACT_BUCKET['Fn::Sub']!r}"
            )
        match = pattern.match(_sub_text(location.get("S3Key")) or "")
        if match:
            yield logical_id, resource, str(match["name"])
        else:
            problems.append(
                f"{logical_id}: {where}.S3Key {location.get('S3Key')!r} is not "
                f'!Sub "${{ArtifactKeyPrefix}}{folder}/<name>.zip"'
            )


def test_function_code_keys_map_to_function_folders(template: dict[str, Any]) -> None:
    functions = resources_of(template, "AWS::Lambda::Function")
    assert functions, "template.yaml defines no Lambda function"
    problems = []
    for logical_id, resource, name in _artifacts(functions, "Code", problems):
        folder = ROOT / "functions" / name
        module, _, attribute = str(props(resource).get("Handler", "")).rpartition(".")
        source = folder / f"{module.replace('.', '/')}.py"
        if not folder.is_dir():
            problems.append(f"{logical_id}: folder {folder.relative_to(ROOT)}/ does not exist")
        elif not module or not source.is_file():
            problems.append(
                f"{logical_id}: handler {props(resource).get('Handler')!r} needs "
                f"{source.relative_to(ROOT)}, which does not exist (yet)"
            )
        elif attribute not in _top_level_callables(source):
            problems.append(
                f"{logical_id}: {source.relative_to(ROOT)} defines no top-level {attribute!r}"
            )
    assert not problems, "function code layout:\n" + "\n".join(problems)


def test_layer_keys_map_to_layer_packages(template: dict[str, Any]) -> None:
    layers = resources_of(template, "AWS::Lambda::LayerVersion")
    assert layers, "template.yaml defines no layer (expected HubrelayLayer)"
    problems = []
    for logical_id, _, name in _artifacts(layers, "Content", problems):
        package = ROOT / "layers" / name / "python" / name
        if not (package / "__init__.py").is_file():
            problems.append(f"{logical_id}: {package.relative_to(ROOT)}/__init__.py is missing")
    assert not problems, "layer layout:\n" + "\n".join(problems)


def test_functions_match_their_layers(template: dict[str, Any]) -> None:
    layers = resources_of(template, "AWS::Lambda::LayerVersion")
    problems = []
    for logical_id, resource in resources_of(template, "AWS::Lambda::Function").items():
        runtime = props(resource).get("Runtime")
        architectures = props(resource).get("Architectures", ["x86_64"])
        for layer in props(resource).get("Layers", []):
            layer_id = layer.get("Ref") if isinstance(layer, dict) else None
            if layer_id not in layers:
                continue
            layer_props = props(layers[layer_id])
            if runtime not in layer_props.get("CompatibleRuntimes", []):
                problems.append(f"{logical_id}: {layer_id} is not built for {runtime}")
            if not set(architectures) <= set(layer_props.get("CompatibleArchitectures", [])):
                problems.append(f"{logical_id}: {layer_id} is not built for {architectures}")
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------------
# Queues
# ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kms_key_arn",
    ["", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"],
)
def test_every_queue_is_encrypted(template: dict[str, Any], kms_key_arn: str) -> None:
    queues = resources_of(template, "AWS::SQS::Queue")
    assert queues, "template.yaml defines no SQS queue"
    resolver = Resolver(template, {"KmsKeyArn": kms_key_arn, "AutoRoute": "true"})
    resolved = {logical_id: resolver.resolve(props(r)) for logical_id, r in queues.items()}
    unencrypted = [
        logical_id
        for logical_id, queue in resolved.items()
        if queue.get("SqsManagedSseEnabled") is not True and not queue.get("KmsMasterKeyId")
    ]
    assert not unencrypted, f"queues without server-side encryption: {unencrypted}"


def _denies_insecure_transport(statement: dict[str, Any], queue_id: str) -> bool:
    condition = statement.get("Condition", {}).get("Bool", {})
    secure = condition.get("aws:SecureTransport")
    principal = statement.get("Principal")
    actions = {action.lower() for action in leaves(statement.get("Action", []))}
    return (
        statement.get("Effect") == "Deny"
        and principal in ("*", {"AWS": "*"})
        and str(secure).lower() == "false"
        and queue_id in references(statement.get("Resource"))
        and bool(actions)
        and all(action.startswith("sqs:") for action in actions)
    )


def test_every_queue_policy_denies_insecure_transport(template: dict[str, Any]) -> None:
    policies = resources_of(template, "AWS::SQS::QueuePolicy")
    problems = []
    for queue_id in resources_of(template, "AWS::SQS::Queue"):
        covering = [
            resource
            for resource in policies.values()
            if {"Ref": queue_id} in as_list(props(resource).get("Queues", []))
        ]
        if not covering:
            problems.append(f"{queue_id}: no AWS::SQS::QueuePolicy")
            continue
        denied: set[str] = set()
        for resource in covering:
            for statement in as_list(props(resource)["PolicyDocument"]["Statement"]):
                if _denies_insecure_transport(statement, queue_id):
                    denied |= {a.lower() for a in leaves(statement["Action"])}
        required = {
            "sqs:sendmessage",
            "sqs:receivemessage",
            "sqs:deletemessage",
            "sqs:changemessagevisibility",
            "sqs:getqueueattributes",
            "sqs:purgequeue",
        }
        if missing := required - denied:
            problems.append(f"{queue_id}: non-TLS access not denied for {sorted(missing)}")
    assert not problems, "queue policies must deny aws:SecureTransport=false:\n" + "\n".join(
        problems
    )


def test_queue_policy_statements_respect_the_sqs_action_quota(template: dict[str, Any]) -> None:
    # Amazon SQS policy quotas: at most 7 actions per statement.
    problems = [
        f"{logical_id}: statement {index} lists {len(as_list(statement.get('Action', [])))} actions"
        for logical_id, resource in resources_of(template, "AWS::SQS::QueuePolicy").items()
        for index, statement in enumerate(as_list(props(resource)["PolicyDocument"]["Statement"]))
        if len(as_list(statement.get("Action", []))) > 7
    ]
    assert not problems, "\n".join(problems)


def test_sqs_event_sources_are_safe(template: dict[str, Any]) -> None:
    queues = resources_of(template, "AWS::SQS::Queue")
    functions = resources_of(template, "AWS::Lambda::Function")
    parameters = template.get("Parameters", {})
    problems = []
    for logical_id, resource in resources_of(template, "AWS::Lambda::EventSourceMapping").items():
        mapping = props(resource)
        queue_ids = references(mapping.get("EventSourceArn")) & set(queues)
        if not queue_ids:
            continue
        queue = props(queues[queue_ids.pop()])
        function = props(functions[references(mapping["FunctionName"]).pop()])
        window = mapping.get("MaximumBatchingWindowInSeconds", 0)
        if isinstance(window, dict):
            window = parameters[window["Ref"]]["MaxValue"]
        needed = 6 * int(function.get("Timeout", 3)) + int(window)
        if int(queue.get("VisibilityTimeout", 30)) < needed:
            problems.append(
                f"{logical_id}: queue VisibilityTimeout {queue.get('VisibilityTimeout')} < "
                f"6 x function timeout + largest batching window = {needed}"
            )
        if "RedrivePolicy" not in queue:
            problems.append(f"{logical_id}: source queue has no dead-letter queue")
        if "ReportBatchItemFailures" not in mapping.get("FunctionResponseTypes", []):
            problems.append(f"{logical_id}: FunctionResponseTypes lacks ReportBatchItemFailures")
        if "MaximumConcurrency" not in mapping.get("ScalingConfig", {}):
            problems.append(f"{logical_id}: no ScalingConfig.MaximumConcurrency")
    assert not problems, "\n".join(problems)


def test_importer_environment_is_the_agreed_contract(template: dict[str, Any]) -> None:
    variables = props(template["Resources"]["ImporterFunction"])["Environment"]["Variables"]
    assert set(variables) == {
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
        "HUBRELAY_QUARANTINE_QUEUE_URL",
        "HUBRELAY_BATCH_BYTE_BUDGET",
        "HUBRELAY_MAX_RECEIVE_COUNT",
        "HUBRELAY_PRODUCT_ARN",
        # Delivery feedback to change tracking, only with a collector (hubrelay.delivery).
        "HUBRELAY_TRACKING_TABLE",
        "MALLOC_MMAP_THRESHOLD_",
    }
    assert variables["HUBRELAY_TRACKING_TABLE"] == {
        "Fn::If": ["CollectorEnabled", {"Ref": "TrackingTable"}, {"Ref": "AWS::NoValue"}]
    }
    assert variables["POWERTOOLS_SERVICE_NAME"] == "hubrelay-importer"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "hubrelay"
    assert variables["HUBRELAY_QUARANTINE_QUEUE_URL"] == {"Ref": "FindingsDeadLetterQueue"}
    assert variables["HUBRELAY_BATCH_BYTE_BUDGET"] == {"Ref": "BatchByteBudget"}
    assert variables["HUBRELAY_MAX_RECEIVE_COUNT"] == {"Ref": "MaxReceiveCount"}


def test_the_functions_that_hold_many_findings_fix_glibcs_mmap_threshold(
    template: dict[str, Any],
) -> None:
    # A fixed threshold turns glibc's dynamic one off, so large buffers freed go back to the
    # system (bench/memory.py measures the peak with it, as the functions run).
    for name in ("ImporterFunction", "CollectorFunction"):
        variables = props(template["Resources"][name])["Environment"]["Variables"]
        assert variables["MALLOC_MMAP_THRESHOLD_"] == "131072", name


def test_hubrelay_variables_are_settings_the_code_reads(template: dict[str, Any]) -> None:
    known = Settings.env_names()
    problems = []
    for logical_id, resource in resources_of(template, "AWS::Lambda::Function").items():
        variables = props(resource).get("Environment", {}).get("Variables", {})
        unknown = {name for name in variables if name.startswith("HUBRELAY_")} - known
        if unknown:
            problems.append(f"{logical_id}: {sorted(unknown)} not read by hubrelay.settings")
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------------
# Parameters
# ------------------------------------------------------------------------------------
def test_every_parameter_is_described_and_constrained(template: dict[str, Any]) -> None:
    problems = []
    for name, spec in template.get("Parameters", {}).items():
        if not str(spec.get("Description", "")).strip():
            problems.append(f"{name}: no Description")
        aws_typed = str(spec.get("Type", "")).startswith(("AWS::", "List<AWS::"))
        constraints = {"AllowedValues", "AllowedPattern", "MinValue", "MaxValue"} & set(spec)
        if not (constraints or aws_typed):
            problems.append(
                f"{name}: no AllowedValues/AllowedPattern/MinValue/MaxValue or AWS-specific type"
            )
    assert not problems, "\n".join(problems)


def test_parameter_defaults_satisfy_their_constraints(template: dict[str, Any]) -> None:
    problems = []
    for name, spec in template.get("Parameters", {}).items():
        if "Default" not in spec:
            continue
        default = spec["Default"]
        if "AllowedValues" in spec and default not in spec["AllowedValues"]:
            problems.append(f"{name}: default {default!r} not in AllowedValues")
        pattern = spec.get("AllowedPattern")
        if pattern and not re.fullmatch(pattern, str(default)):
            problems.append(f"{name}: default {default!r} does not match {pattern}")
        if "MinValue" in spec and float(default) < float(spec["MinValue"]):
            problems.append(f"{name}: default {default} below MinValue")
        if "MaxValue" in spec and float(default) > float(spec["MaxValue"]):
            problems.append(f"{name}: default {default} above MaxValue")
        if "MaxLength" in spec and len(str(default)) > int(spec["MaxLength"]):
            problems.append(f"{name}: default longer than MaxLength")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("", True),
        (PARTNER_ARN, True),
        (f"arn:aws:securityhub:eu-west-1:{FAKE_ACCOUNT}:product/{FAKE_ACCOUNT}/default", True),
        ("arn:aws-us-gov:securityhub:us-gov-west-1:123456789012:product/acme/scanner.v2", True),
        ("arn:aws:securityhub:us-east-1::product/aquasecurity/aquasecurity", True),
        ("arn:aws-cn:securityhub:cn-north-1::product/prowler/prowler", True),
        ("arn:aws:securityhub:us-east-1:12345678901:product/acme/scanner", False),
        ("arn:aws:securityhub:us-east-1::product/aquasecurity", False),
        ("arn:aws:securityhub:us-east-1:12345:product/acme/scanner", False),
        ("arn:aws:securityhub:us-east-1:123456789012:product/acme", False),
        ("arn:aws:securityhub:us-east-1:123456789012:hub/default", False),
        ("arn:aws:securityhub:us-east-1::product/aws/guardduty", False),
        ("arn:aws:securityhub:us-east-1::product/awsome/scanner", True),
        ("*", False),
    ],
)
def test_product_arn_pattern(template: dict[str, Any], value: str, accepted: bool) -> None:
    pattern = template["Parameters"]["ProductArn"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is accepted, f"{value!r} vs {pattern}"


def test_log_retention_values_are_accepted_by_cloudwatch(template: dict[str, Any]) -> None:
    allowed = {int(v) for v in template["Parameters"]["LogRetentionDays"]["AllowedValues"]}
    assert allowed <= CLOUDWATCH_RETENTION_DAYS, sorted(allowed - CLOUDWATCH_RETENTION_DAYS)


def test_batch_byte_budget_bounds(template: dict[str, Any]) -> None:
    spec = template["Parameters"]["BatchByteBudget"]
    # "up to 100 findings per batch, up to 240 KB per finding, and up to 6 MB per batch"
    # (https://docs.aws.amazon.com/securityhub/latest/partnerguide/guidelines-batchimportfindings.html)
    assert spec["Default"] == 6 * 1024 * 1024, "default is the partner guide's 6 MB per batch"
    assert spec["MaxValue"] == 6 * 1024 * 1024, "maximum is the partner guide's 6 MB request"
    assert spec["MinValue"] >= 240 * 1024, "a budget below 240 KB cannot hold a maximal finding"


# ------------------------------------------------------------------------------------
# Names: two stacks in one account and Region
# ------------------------------------------------------------------------------------
def _name_properties(resource_type: str) -> set[str]:
    suffix = resource_type.rsplit("::", 1)[-1]
    return {f"{suffix}Name", *EXTRA_NAME_PROPERTIES.get(resource_type, [])}


def test_no_resource_has_a_fixed_physical_name(template: dict[str, Any]) -> None:
    # A name is acceptable only when it varies per stack: it must depend on the stack name,
    # a parameter, or another (generated) resource. Constants and Region/account-only Subs
    # collide when the template is deployed twice in one account and Region.
    varying = {"AWS::StackName", "AWS::StackId"} | set(template.get("Parameters", {}))
    varying |= set(template["Resources"])
    problems = []
    for logical_id, resource in template["Resources"].items():
        for prop in _name_properties(str(resource.get("Type"))) & set(props(resource)):
            value = props(resource)[prop]
            if not references(value) & varying:
                problems.append(f"{logical_id}.{prop} = {value!r}")
    assert not problems, "fixed physical names (let CloudFormation generate them):\n" + "\n".join(
        problems
    )


def test_the_default_renewal_is_a_new_finding_every_renewal_in_the_template_too(
    template: dict[str, Any],
) -> None:
    # The partner FAQ: create new findings every 90 days, do not update findings forever
    # (issue 11, "Why" 7). A deployment with default parameters gets what Settings defaults to.
    spec = template["Parameters"]["RenewalMode"]
    assert spec["Default"] == Settings().renewal_mode == "new-generation"


def test_the_automatic_routes_ledger_window_is_reckoned_with_its_queues_visibility(template):
    # settings.auto_route_window_minutes multiplies the responder's
    # HUBRELAY_AUTO_ROUTE_MAX_RECEIVES by this constant: it must be the queue's own timeout,
    # and the variable the queue's MaxReceiveCount
    queue = props(template["Resources"]["AutoRouteQueue"])
    assert int(queue["VisibilityTimeout"]) == AUTO_ROUTE_VISIBILITY_S
    assert queue["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}
    variables = props(template["Resources"]["ResponderFunction"])["Environment"]["Variables"]
    assert variables["HUBRELAY_AUTO_ROUTE_MAX_RECEIVES"] == {"Ref": "MaxReceiveCount"}
