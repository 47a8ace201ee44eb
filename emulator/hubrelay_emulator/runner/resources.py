"""The template's resources, created on moto's server in dependency order.

Each supported type has a creator that makes the resource (a queue, a table, a role's
policies for the IAM checker, a function for the host...) and returns its attributes, the
values Ref and Fn::GetAtt resolve to. Types nothing a function calls depends on (alarms,
dashboards, log groups...) are recorded as skipped.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubrelay_emulator import cfn
from hubrelay_emulator.runner import s3events
from hubrelay_emulator.runner.model import (
    ROOT,
    LambdaFunction,
    QueueMapping,
    Rule,
    StackError,
    Target,
)

if TYPE_CHECKING:
    from hubrelay_emulator.runner.emulator import StackEmulator

POWERTOOLS_LAYER = (
    "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-x86_64:1"
)
# EventBridge's defaults for a target without a RetryPolicy.
DEFAULT_RETRIES = 185
DEFAULT_MAX_EVENT_AGE = 86400

Attributes = dict[str, Any]
Creator = Callable[["StackEmulator", str, dict[str, Any]], Attributes]
CREATORS: dict[str, Creator] = {}


def creates(kind: str) -> Callable[[Creator], Creator]:
    def register(creator: Creator) -> Creator:
        CREATORS[kind] = creator
        return creator

    return register


def deploy(stack: StackEmulator) -> None:
    """Resolve the template for the stack's parameters, create its resources, set outputs."""
    ssm = stack.client("ssm")
    template = cfn.load(stack.template_path)
    resolver = cfn.Resolver.create(
        template,
        stack.parameters,
        region=stack.region,
        account=stack.account,
        stack_name=stack.stack_name,
        resolve_ssm=lambda name: _ssm_value(ssm, name),
    )
    stack.resolver = resolver
    for logical_id in cfn.creation_order(resolver):
        _create(stack, resolver, logical_id, template["Resources"][logical_id])
    stack.outputs = {
        name: resolver.resolve(spec["Value"])
        for name, spec in template.get("Outputs", {}).items()
        if "Condition" not in spec or resolver.condition(spec["Condition"])
    }


# What a stack update changes in place on a resource that stays: a function's
# configuration (a new cold start), a role's policies, a subscription's product.
_UPDATED_IN_PLACE = frozenset(
    {"AWS::Lambda::Function", "AWS::IAM::Role", "AWS::IAM::ManagedPolicy"}
    | {"AWS::SecurityHub::ProductSubscription"}
)


def update(stack: StackEmulator, parameters: dict[str, str]) -> None:
    """A CloudFormation stack update with new parameter values ("Updating stacks directly",
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-direct.html):
    resources the new values bring in are created, functions get their new configuration
    (the next invocation is a cold start, as after UpdateFunctionConfiguration), roles
    their new policies, a product subscription whose ProductArn changed is replaced.
    Resources whose condition no longer holds are left in place (not needed here), and
    queues, tables and buckets keep their contents."""
    ssm = stack.client("ssm")
    template = cfn.load(stack.template_path)
    resolver = cfn.Resolver.create(
        template,
        parameters,
        region=stack.region,
        account=stack.account,
        stack_name=stack.stack_name,
        resolve_ssm=lambda name: _ssm_value(ssm, name),
    )
    stack.parameters, stack.resolver = dict(parameters), resolver
    for logical_id in cfn.creation_order(resolver):
        spec = template["Resources"][logical_id]
        existing = stack.resources.get(logical_id)
        if existing is None:
            _create(stack, resolver, logical_id, spec)
            continue
        attrs = {k: v for k, v in existing.items() if k not in ("Type", "Properties")}
        if spec["Type"] in _UPDATED_IN_PLACE:
            props = resolver.resolve(spec.get("Properties", {}))
            if props != existing["Properties"]:
                attrs = _update_in_place(stack, logical_id, spec["Type"], props, existing)
                stack.resources[logical_id] = {"Type": spec["Type"], "Properties": props, **attrs}
        resolver.attributes[logical_id] = attrs
    stack.outputs = {
        name: resolver.resolve(spec["Value"])
        for name, spec in template.get("Outputs", {}).items()
        if "Condition" not in spec or resolver.condition(spec["Condition"])
    }


def _update_in_place(
    stack: StackEmulator, logical_id: str, kind: str, props: dict[str, Any], old: dict[str, Any]
) -> Attributes:
    attrs = {k: v for k, v in old.items() if k not in ("Type", "Properties")}
    if kind == "AWS::Lambda::Function":
        function = stack.functions[logical_id]
        function.environment = {
            k: str(v) for k, v in props.get("Environment", {}).get("Variables", {}).items()
        }
        function.timeout = int(props.get("Timeout", 3))
        function.module, function.modules = None, {}  # a cold start
    elif kind == "AWS::IAM::Role":
        managed = [
            r["Properties"]["PolicyDocument"]
            for r in stack.resources.values()
            if r["Type"] == "AWS::IAM::ManagedPolicy" and old["Ref"] in r["Properties"]["Roles"]
        ]
        stack.checker.policies[logical_id] = [
            *(p["PolicyDocument"] for p in props.get("Policies", [])),
            *managed,
        ]
    elif kind == "AWS::IAM::ManagedPolicy":
        for role in old["Properties"].get("Roles", []):
            policies = stack.checker.policies.get(_logical_id_with(stack, "Ref", role), [])
            policies[:] = [p for p in policies if p != old["Properties"]["PolicyDocument"]]
        attrs = {**attrs, **_managed_policy(stack, logical_id, props)}
    else:  # a product subscription to another product: a replacement
        hub = stack.client("securityhub")
        hub.disable_import_findings_for_product(ProductSubscriptionArn=old["Ref"])
        attrs = _product_subscription(stack, logical_id, props)
    return attrs


def _create(stack: StackEmulator, resolver: cfn.Resolver, logical_id: str, spec: Any) -> None:
    kind = spec["Type"]
    props = resolver.resolve(spec.get("Properties", {}))
    creator = CREATORS.get(kind)
    if creator is None:
        stack.skipped.append(f"{logical_id} ({kind})")
        attrs: Attributes = {"Ref": f"{stack.stack_name}-{logical_id}"}
        attrs["Arn"] = f"arn:aws:local:{stack.region}:{stack.account}:{logical_id}"
    else:
        attrs = creator(stack, logical_id, props)
    stack.resources[logical_id] = {"Type": kind, "Properties": props, **attrs}
    resolver.attributes[logical_id] = attrs


def _ssm_value(ssm: Any, name: str) -> str:
    if name.startswith("/aws/service/powertools/"):
        # The public parameter AWS publishes; locally Powertools is the venv's own.
        return POWERTOOLS_LAYER
    return str(ssm.get_parameter(Name=name)["Parameter"]["Value"])


def physical_name(stack: StackEmulator, logical_id: str, max_length: int = 80) -> str:
    return f"{stack.stack_name}-{logical_id}-{uuid.uuid4().hex[:8]}"[-max_length:]


def _logical_id_with(stack: StackEmulator, attribute: str, value: Any) -> str:
    return next(k for k, r in stack.resources.items() if r.get(attribute) == value)


def _folder_for(s3_key: str, kind: str) -> Path:
    """`<prefix>functions/<name>.zip` -> functions/<name>/ (the artifact naming convention)."""
    marker = f"{kind}/"
    if marker not in s3_key or not s3_key.endswith(".zip"):
        raise StackError(f"artifact key {s3_key!r} does not follow <prefix>{kind}/<name>.zip")
    name = s3_key.rsplit(marker, 1)[1][: -len(".zip")]
    folder = ROOT / kind / name
    if not folder.is_dir():
        raise StackError(f"artifact key {s3_key!r} maps to {folder}, which does not exist")
    return folder


def coerce(value: Any, shape: Any) -> Any:
    """CloudFormation's typing of properties: "7" becomes 7 where the API wants a number."""
    if shape is None:
        return value
    if shape.type_name == "structure" and isinstance(value, dict):
        return {k: coerce(v, shape.members.get(k)) for k, v in value.items()}
    if shape.type_name == "list" and isinstance(value, list):
        return [coerce(v, shape.member) for v in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: coerce(v, shape.value) for k, v in value.items()}
    if shape.type_name in ("integer", "long") and isinstance(value, str):
        return int(value)
    if shape.type_name in ("double", "float") and isinstance(value, str):
        return float(value)
    if shape.type_name == "boolean" and isinstance(value, str):
        return value.lower() == "true"
    return value


# --- storage and messaging ---------------------------------------------------------------


@creates("AWS::SQS::Queue")
def _queue(stack: StackEmulator, logical_id: str, props: dict[str, Any]) -> Attributes:
    sqs = stack.client("sqs")
    attributes = {
        key: json.dumps(value)
        if isinstance(value, dict)
        else str(value).lower()
        if isinstance(value, bool)
        else str(value)
        for key, value in props.items()
        if key not in ("Tags", "QueueName")
    }
    if "RedrivePolicy" in props:
        policy = props["RedrivePolicy"]
        attributes["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": policy["deadLetterTargetArn"],
                "maxReceiveCount": int(policy["maxReceiveCount"]),
            }
        )
    attributes.pop("SqsManagedSseEnabled", None)  # moto's server ignores it
    name = physical_name(stack, logical_id)
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return {
        "Ref": url,
        "Arn": arn["QueueArn"],
        "QueueUrl": url,
        "QueueName": url.rsplit("/", 1)[-1],
    }


@creates("AWS::SQS::QueuePolicy")
def _queue_policy(stack: StackEmulator, logical_id: str, props: dict[str, Any]) -> Attributes:
    sqs = stack.client("sqs")
    for url in props["Queues"]:
        sqs.set_queue_attributes(
            QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])}
        )
    return {"Ref": logical_id}


@creates("AWS::DynamoDB::Table")
def _table(stack: StackEmulator, logical_id: str, props: dict[str, Any]) -> Attributes:
    ddb = stack.client("dynamodb")
    name = physical_name(stack, logical_id)
    args: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if "GlobalSecondaryIndexes" in props:
        args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    arn = ddb.create_table(**args)["TableDescription"]["TableArn"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        ddb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={
                "Enabled": bool(ttl.get("Enabled", True)),
                "AttributeName": ttl["AttributeName"],
            },
        )
    return {"Ref": name, "Arn": arn, "StreamArn": f"{arn}/stream/local"}


@creates("AWS::S3::Bucket")
def _bucket(stack: StackEmulator, logical_id: str, props: dict[str, Any]) -> Attributes:
    name = physical_name(stack, logical_id.lower(), 63).lower()
    stack.client("s3").create_bucket(Bucket=name)
    if s3events.enabled(props):
        stack.s3_events.buckets.add(name)
    return {
        "Ref": name,
        "Arn": f"arn:aws:s3:::{name}",
        "DomainName": f"{name}.s3.amazonaws.com",
    }


@creates("AWS::S3::BucketPolicy")
def _bucket_policy(stack: StackEmulator, logical_id: str, props: dict[str, Any]) -> Attributes:
    # Not applied: moto enforces bucket policies, and the local server speaks plain HTTP
    # on loopback, so the template's TLS-only deny would refuse every call. That deny is
    # checked on the template itself (tests/integration/test_template.py).
    stack.skipped.append(f"{logical_id} (bucket policy: TLS-only, not enforceable over HTTP)")
    return {"Ref": logical_id}


@creates("AWS::SNS::Topic")
def _topic(stack: StackEmulator, logical_id: str, props: dict[str, Any]) -> Attributes:
    arn = stack.client("sns").create_topic(Name=physical_name(stack, logical_id))["TopicArn"]
    return {"Ref": arn, "TopicArn": arn, "TopicName": arn.rsplit(":", 1)[-1]}


@creates("AWS::SNS::Subscription")
def _subscription(stack: StackEmulator, logical_id: str, props: dict[str, Any]) -> Attributes:
    arn = stack.client("sns").subscribe(
        TopicArn=props["TopicArn"],
        Protocol=props["Protocol"],
        Endpoint=props["Endpoint"],
        Attributes={"RawMessageDelivery": str(props.get("RawMessageDelivery", False)).lower()},
    )["SubscriptionArn"]
    return {"Ref": arn}


@creates("AWS::SecretsManager::Secret")
def _secret(stack: StackEmulator, logical_id: str, props: dict[str, Any]) -> Attributes:
    value = props.get("SecretString") or json.dumps({"local": "generated"})
    arn = stack.client("secretsmanager").create_secret(
        Name=physical_name(stack, logical_id), SecretString=value
    )["ARN"]
    return {"Ref": arn, "Id": arn}


# --- IAM: policies go to the checker, which every call of a function goes through ----------


@creates("AWS::IAM::Role")
def _role(stack: StackEmulator, logical_id: str, props: dict[str, Any]) -> Attributes:
    name = physical_name(stack, logical_id, 64)
    stack.checker.policies[logical_id] = [p["PolicyDocument"] for p in props.get("Policies", [])]
    arn = f"arn:aws:iam::{stack.account}:role/{name}"
    return {"Ref": name, "Arn": arn, "RoleId": name}


@creates("AWS::IAM::ManagedPolicy")
def _managed_policy(stack: StackEmulator, logical_id: str, props: dict[str, Any]) -> Attributes:
    for role in props.get("Roles", []):
        role_id = _logical_id_with(stack, "Ref", role)
        stack.checker.policies.setdefault(role_id, []).append(props["PolicyDocument"])
    return {"Ref": f"arn:aws:iam::{stack.account}:policy/{physical_name(stack, logical_id)}"}


# --- Lambda: functions run from their folders, layers from theirs -------------------------


@creates("AWS::Lambda::LayerVersion")
def _layer(stack: StackEmulator, logical_id: str, props: dict[str, Any]) -> Attributes:
    folder = _folder_for(props["Content"]["S3Key"], "layers")
    if not (folder / "python").is_dir():
        raise StackError(f"{logical_id}: layer folder {folder}/python does not exist")
    return {"Ref": str(folder / "python")}


@creates("AWS::Lambda::Function")
def _function(stack: StackEmulator, logical_id: str, props: dict[str, Any]) -> Attributes:
    folder = _folder_for(props["Code"]["S3Key"], "functions")
    module_name, _, _function_name = props["Handler"].rpartition(".")
    source = folder / f"{module_name}.py"
    if not source.is_file():
        raise StackError(f"{logical_id}: handler file {source} does not exist")
    name = physical_name(stack, logical_id, 64)
    arn = f"arn:aws:lambda:{stack.region}:{stack.account}:function:{name}"
    stack.functions[logical_id] = LambdaFunction(
        logical_id,
        name,
        arn,
        props["Handler"],
        folder,
        [Path(p) for p in props.get("Layers", []) if not str(p).startswith("arn:")],
        {k: str(v) for k, v in props.get("Environment", {}).get("Variables", {}).items()},
        int(props.get("Timeout", 3)),
        _logical_id_with(stack, "Arn", props["Role"]),
    )
    return {"Ref": name, "Arn": arn}


@creates("AWS::Lambda::Url")
def _function_url(stack: StackEmulator, logical_id: str, props: dict[str, Any]) -> Attributes:
    # Served on 127.0.0.1 for as long as the stack is up (runner/urls.py).
    target = props["TargetFunctionArn"]
    function = next((f for f in stack.functions.values() if target in (f.name, f.arn)), None)
    if function is None:
        raise StackError(f"{logical_id}: TargetFunctionArn {target} is not a stack function")
    url = stack.urls.serve(function, str(props.get("AuthType", "")))
    return {"Ref": function.arn, "FunctionArn": function.arn, "FunctionUrl": url}


@creates("AWS::Lambda::EventSourceMapping")
def _event_source_mapping(
    stack: StackEmulator, logical_id: str, props: dict[str, Any]
) -> Attributes:
    function = next(f for f in stack.functions.values() if props["FunctionName"] in (f.name, f.arn))
    queue = stack.resources[_logical_id_with(stack, "Arn", props["EventSourceArn"])]
    stack.mappings.append(
        QueueMapping(
            logical_id,
            function.logical_id,
            queue["QueueUrl"],
            queue["Arn"],
            int(props.get("BatchSize", 10)),
            int(props.get("MaximumBatchingWindowInSeconds", 0)),
            "ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
            int(queue["Properties"].get("VisibilityTimeout", 30)),
            bool(props.get("Enabled", True)),
        )
    )
    return {"Ref": str(uuid.uuid4())}


@creates("AWS::Lambda::Permission")
def _permission(stack: StackEmulator, logical_id: str, props: dict[str, Any]) -> Attributes:
    # The function's resource-based policy: EventBridge may invoke a function only with one
    # (`events.EventRouter.deliver` checks it).
    stack.permissions.append(props)
    return {"Ref": logical_id}


# --- EventBridge rules and schedules ---------------------------------------------------------


def _target(spec: dict[str, Any]) -> Target:
    retry = spec.get("RetryPolicy", {})
    return Target(
        spec["Arn"],
        int(retry.get("MaximumRetryAttempts", DEFAULT_RETRIES)),
        int(retry.get("MaximumEventAgeInSeconds", DEFAULT_MAX_EVENT_AGE)),
        spec.get("DeadLetterConfig", {}).get("Arn"),
        spec.get("Input"),
    )


@creates("AWS::Events::Rule")
def _rule(stack: StackEmulator, logical_id: str, props: dict[str, Any]) -> Attributes:
    name = physical_name(stack, logical_id)
    arn = f"arn:aws:events:{stack.region}:{stack.account}:rule/{name}"
    targets = [_target(t) for t in props.get("Targets", [])]
    rule = Rule(
        logical_id, arn, props.get("EventPattern"), props.get("ScheduleExpression"), targets
    )
    if props.get("State", "ENABLED") == "ENABLED":
        (stack.schedules if rule.schedule else stack.rules).append(rule)
    return {"Ref": rule.arn.rsplit("/", 1)[-1], "Arn": arn}


@creates("AWS::Scheduler::Schedule")
def _schedule(stack: StackEmulator, logical_id: str, props: dict[str, Any]) -> Attributes:
    target = props["Target"]
    name = physical_name(stack, logical_id)
    arn = f"arn:aws:scheduler:{stack.region}:{stack.account}:schedule/default/{name}"
    role_id = _logical_id_with(stack, "Arn", target["RoleArn"])
    rule = Rule(logical_id, arn, None, props["ScheduleExpression"], [_target(target)])
    stack.resources.setdefault(logical_id, {})["SchedulerRole"] = role_id
    if props.get("State", "ENABLED") == "ENABLED":
        stack.schedules.append(rule)
    return {"Ref": arn.rsplit("/", 1)[-1], "Arn": arn, "SchedulerRole": role_id}


# --- Security Hub (through the contract extension) -------------------------------------------


@creates("AWS::SecurityHub::ActionTarget")
def _action_target(stack: StackEmulator, logical_id: str, props: dict[str, Any]) -> Attributes:
    arn = stack.client("securityhub").create_action_target(
        Name=props["Name"], Description=props["Description"], Id=props["Id"]
    )["ActionTargetArn"]
    return {"Ref": arn, "ActionTargetArn": arn}


@creates("AWS::SecurityHub::Insight")
def _insight(stack: StackEmulator, logical_id: str, props: dict[str, Any]) -> Attributes:
    client = stack.client("securityhub")
    params = {k: props[k] for k in ("Name", "Filters", "GroupByAttribute")}
    shape = client.meta.service_model.operation_model("CreateInsight").input_shape
    arn = client.create_insight(**coerce(params, shape))["InsightArn"]
    return {"Ref": arn, "InsightArn": arn}


@creates("AWS::SecurityHub::ProductSubscription")
def _product_subscription(
    stack: StackEmulator, logical_id: str, props: dict[str, Any]
) -> Attributes:
    arn = stack.client("securityhub").enable_import_findings_for_product(
        ProductArn=props["ProductArn"]
    )["ProductSubscriptionArn"]
    return {"Ref": arn, "ProductSubscriptionArn": arn}
