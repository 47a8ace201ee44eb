"""Run template.yaml on one machine: moto's server for the services, functions in-process.

`StackEmulator.up()` reads the real template, resolves it for the given parameters, and
creates its resources on a moto server on 127.0.0.1: queues with their redrive policies,
tables, buckets, topics, secrets, IAM roles, Security Hub action targets, insights and
product subscriptions (through the Security Hub contract extension). It then drives the
functions the way AWS would:

- `tick()` fires the schedules (EventBridge Scheduler / schedule rules);
- `drain()` runs every event source mapping: polls its queue with the template's batch
  size, invokes the function, honours ReportBatchItemFailures, and keeps failed messages
  invisible until the simulated clock passes their visibility timeout, so SQS's own redrive
  moves them to the dead-letter queue after maxReceiveCount receives;
- Security Hub's Imported and Custom Action events go through the template's rules, matched
  with the documented EventBridge semantics, to Lambda or SQS targets with retries and DLQs;
- every AWS call a function makes is checked against that function's role (`iam.Checker`).

Functions run with the environment variables, handler path and layers the template gives
them, each with its own copy of the hubrelay modules, as separate Lambda functions would.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import logging
import os
import sys
import threading
import time
import traceback
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import botocore.client
from aws_lambda_powertools.logging.constants import LOGGER_ATTRIBUTE_PRECONFIGURED
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters import base as powertools_parameters_base
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from hubrelay_emulator import cfn, iam
from hubrelay_emulator import securityhub as hub

ROOT = Path(__file__).resolve().parents[2]
# moto serves calls without an account header as 123456789012; the stack lives there so the
# functions' own (unmodified) clients act as the stack's account.
DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"
POWERTOOLS_LAYER = (
    "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-x86_64:1"
)


class StackError(Exception):
    """The template cannot be run as written (a missing folder, handler, resource...)."""


@dataclass
class LambdaFunction:
    logical_id: str
    name: str
    arn: str
    handler: str
    code_dir: Path
    layer_dirs: list[Path]
    environment: dict[str, str]
    timeout: int
    role: str
    module: ModuleType | None = None
    modules: dict[str, ModuleType] = field(default_factory=dict)
    invocations: int = 0
    errors: int = 0
    logs: list[str] = field(default_factory=list)


@dataclass
class QueueMapping:
    logical_id: str
    function: str
    queue_url: str
    queue_arn: str
    batch_size: int
    window: int
    report_failures: bool
    visibility_timeout: int
    enabled: bool = True


@dataclass
class Target:
    arn: str
    retries: int
    max_age: int
    dlq_arn: str | None
    input: str | None


@dataclass
class Rule:
    logical_id: str
    arn: str
    pattern: dict[str, Any] | None
    schedule: str | None
    targets: list[Target]
    matched: int = 0


@dataclass
class Report:
    """What happened, for the demo and for tests to assert on."""

    stages: dict[str, float] = field(default_factory=dict)
    events_matched: dict[str, int] = field(default_factory=dict)
    target_failures: list[dict[str, Any]] = field(default_factory=list)


class FakeContext:
    """The parts of the Lambda context object handlers use, with a real deadline."""

    def __init__(self, function: LambdaFunction, slept: Callable[[], float] = lambda: 0.0) -> None:
        self.function_name = function.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function.arn
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function.name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + function.timeout
        self._slept = slept

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._deadline - time.monotonic() - self._slept()) * 1000), 0)


class _Stdout(io.TextIOBase):
    """stdout that writes into the log of whichever function is running."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.target: list[str] | None = None

    def write(self, text: str) -> int:
        if self.target is None:
            return int(self.real.write(text))
        if text.strip():
            self.target.append(text.rstrip("\n"))
        return len(text)

    def flush(self) -> None:
        self.real.flush()


class StackEmulator:
    def __init__(
        self,
        template: str | Path = ROOT / "template.yaml",
        parameters: Mapping[str, str] | None = None,
        *,
        account: str = DEFAULT_ACCOUNT,
        region: str = DEFAULT_REGION,
        stack_name: str = "hubrelay-local",
        contract: hub.Contract | None = None,
        environment: Mapping[str, str] | None = None,
        setup: Callable[[StackEmulator], None] | None = None,
    ) -> None:
        self.template_path = Path(template)
        self.parameters = dict(parameters or {})
        self.account = account
        self.region = region
        self.stack_name = stack_name
        # Security Hub's rate limiter runs on the stack's time: real time plus the time
        # functions spent in (simulated) backoff sleeps.
        self._started = time.monotonic()
        self.contract = hub.install(contract or hub.Contract(clock=self.now))
        self.extra_environment = dict(environment or {})
        # Runs once the server is up and before any resource exists: what an operator
        # creates before deploying (secrets the parameters name, for instance).
        self.setup = setup
        self.server: ThreadedMotoServer | None = None
        self.endpoint = ""
        self.resolver: cfn.Resolver | None = None
        self.resources: dict[str, dict[str, Any]] = {}
        self.functions: dict[str, LambdaFunction] = {}
        self.mappings: list[QueueMapping] = []
        self.rules: list[Rule] = []
        self.schedules: list[Rule] = []
        self.outputs: dict[str, Any] = {}
        self.checker = iam.Checker()
        self.skipped: list[str] = []
        self.report = Report()
        self.clock = 0.0  # simulated seconds since up()
        self._hidden: list[tuple[float, str, str]] = []  # (visible at, queue url, receipt)
        self._events: list[dict[str, Any]] = []
        self._running: LambdaFunction | None = None
        self._lock = threading.RLock()
        self._stdout = _Stdout(sys.stdout)
        self._unsubscribe: Callable[[], None] | None = None
        self._original_call: Any = None
        self._clients: dict[tuple[str, str, str], Any] = {}
        # Fault injection: called with (function, "service:Operation", params) around every
        # AWS call a function makes; a hook raises to make the call (or the function) fail.
        self.before_call: list[Callable[[LambdaFunction, str, dict[str, Any]], None]] = []
        self.after_call: list[Callable[[LambdaFunction, str, dict[str, Any]], None]] = []

    # --- lifecycle ---------------------------------------------------------------------

    def up(self) -> StackEmulator:
        started = time.perf_counter()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        # moto's backends live in this process and outlive a server: start from nothing, as
        # a new account would (a secret left by an earlier stack must not collide).
        reset = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(reset, timeout=30):
            pass
        # Powertools keeps parameter providers (with clients bound to an endpoint) and their
        # cached values per process; a new stack is a new set of Lambda processes.
        parameters.clear_caches()  # type: ignore[no-untyped-call]
        powertools_parameters_base.DEFAULT_PROVIDERS.clear()  # type: ignore[attr-defined]
        self._patch_botocore()
        self._unsubscribe = self.contract.subscribe(self._events.append)
        # A documented prerequisite of the stack: Security Hub is enabled in its account.
        hub.enable_hub(self.account, self.region)
        if self.setup:
            self.setup(self)
        ssm = self.client("ssm")
        template = cfn.load(self.template_path)
        self.resolver = cfn.Resolver.create(
            template,
            self.parameters,
            region=self.region,
            account=self.account,
            stack_name=self.stack_name,
            resolve_ssm=lambda name: self._ssm_value(ssm, name),
        )
        for logical_id in cfn.creation_order(self.resolver):
            self._create(logical_id, template["Resources"][logical_id])
        self.outputs = {
            name: self.resolver.resolve(spec["Value"])
            for name, spec in template.get("Outputs", {}).items()
            if "Condition" not in spec or self.resolver.condition(spec["Condition"])
        }
        self.report.stages["stack up"] = time.perf_counter() - started
        return self

    def down(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        if self._original_call is not None:
            botocore.client.BaseClient._make_api_call = self._original_call
            self._original_call = None
        if self.server:
            self.server.stop()
            self.server = None

    def __enter__(self) -> StackEmulator:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    def client(self, service: str, account: str | None = None, region: str | None = None) -> Any:
        """A client acting as `account` (the stack's by default) against the local stack."""
        key = (service, account or self.account, region or self.region)
        if key not in self._clients:
            self._clients[key] = hub.client_for(key[1], key[2], service, endpoint_url=self.endpoint)
        return self._clients[key]

    # --- resources ---------------------------------------------------------------------

    def _create(self, logical_id: str, spec: dict[str, Any]) -> None:
        assert self.resolver is not None
        kind = spec["Type"]
        props = self.resolver.resolve(spec.get("Properties", {}))
        creator = getattr(self, "_create_" + kind.replace("::", "_"), None)
        if creator is None:
            # Alarms, dashboards, log groups...: nothing a function can call depends on them.
            self.skipped.append(f"{logical_id} ({kind})")
            attrs: dict[str, Any] = {"Ref": f"{self.stack_name}-{logical_id}"}
            attrs["Arn"] = f"arn:aws:local:{self.region}:{self.account}:{logical_id}"
        else:
            attrs = creator(logical_id, props)
        self.resources[logical_id] = {"Type": kind, "Properties": props, **attrs}
        self.resolver.attributes[logical_id] = attrs

    def _name(self, logical_id: str, max_length: int = 80) -> str:
        return f"{self.stack_name}-{logical_id}-{uuid.uuid4().hex[:8]}"[-max_length:]

    def _create_AWS_SQS_Queue(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        sqs = self.client("sqs")
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
        url = sqs.create_queue(QueueName=self._name(logical_id), Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        return {
            "Ref": url,
            "Arn": arn["QueueArn"],
            "QueueUrl": url,
            "QueueName": url.rsplit("/", 1)[-1],
        }

    def _create_AWS_SQS_QueuePolicy(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        sqs = self.client("sqs")
        for url in props["Queues"]:
            sqs.set_queue_attributes(
                QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])}
            )
        return {"Ref": logical_id}

    def _create_AWS_DynamoDB_Table(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        ddb = self.client("dynamodb")
        name = self._name(logical_id)
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

    def _create_AWS_S3_Bucket(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        name = self._name(logical_id.lower(), 63).lower()
        self.client("s3").create_bucket(Bucket=name)
        return {
            "Ref": name,
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
        }

    def _create_AWS_S3_BucketPolicy(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        # Not applied: moto enforces bucket policies, and the local server speaks plain HTTP
        # on loopback, so the template's TLS-only deny would refuse every call. That deny is
        # checked on the template itself (tests/integration/test_template.py).
        self.skipped.append(f"{logical_id} (bucket policy: TLS-only, not enforceable over HTTP)")
        return {"Ref": logical_id}

    def _create_AWS_SNS_Topic(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        arn = self.client("sns").create_topic(Name=self._name(logical_id))["TopicArn"]
        return {"Ref": arn, "TopicArn": arn, "TopicName": arn.rsplit(":", 1)[-1]}

    def _create_AWS_SNS_Subscription(
        self, logical_id: str, props: dict[str, Any]
    ) -> dict[str, Any]:
        arn = self.client("sns").subscribe(
            TopicArn=props["TopicArn"],
            Protocol=props["Protocol"],
            Endpoint=props["Endpoint"],
            Attributes={"RawMessageDelivery": str(props.get("RawMessageDelivery", False)).lower()},
        )["SubscriptionArn"]
        return {"Ref": arn}

    def _create_AWS_SecretsManager_Secret(
        self, logical_id: str, props: dict[str, Any]
    ) -> dict[str, Any]:
        value = props.get("SecretString") or json.dumps({"local": "generated"})
        arn = self.client("secretsmanager").create_secret(
            Name=self._name(logical_id), SecretString=value
        )["ARN"]
        return {"Ref": arn, "Id": arn}

    def _create_AWS_IAM_Role(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        name = self._name(logical_id, 64)
        documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        self.checker.policies[logical_id] = documents
        arn = f"arn:aws:iam::{self.account}:role/{name}"
        return {"Ref": name, "Arn": arn, "RoleId": name}

    def _create_AWS_IAM_ManagedPolicy(
        self, logical_id: str, props: dict[str, Any]
    ) -> dict[str, Any]:
        for role in props.get("Roles", []):
            role_id = next(k for k, r in self.resources.items() if r.get("Ref") == role)
            self.checker.policies.setdefault(role_id, []).append(props["PolicyDocument"])
        return {"Ref": f"arn:aws:iam::{self.account}:policy/{self._name(logical_id)}"}

    def _create_AWS_Lambda_LayerVersion(
        self, logical_id: str, props: dict[str, Any]
    ) -> dict[str, Any]:
        folder = _folder_for(props["Content"]["S3Key"], "layers")
        if not (folder / "python").is_dir():
            raise StackError(f"{logical_id}: layer folder {folder}/python does not exist")
        return {"Ref": str(folder / "python")}

    def _create_AWS_Lambda_Function(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        folder = _folder_for(props["Code"]["S3Key"], "functions")
        module_name, _, _function_name = props["Handler"].rpartition(".")
        source = folder / f"{module_name}.py"
        if not source.is_file():
            raise StackError(f"{logical_id}: handler file {source} does not exist")
        layers = [Path(p) for p in props.get("Layers", []) if not str(p).startswith("arn:")]
        role_id = next(k for k, r in self.resources.items() if r.get("Arn") == props["Role"])
        name = self._name(logical_id, 64)
        arn = f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"
        env = {k: str(v) for k, v in props.get("Environment", {}).get("Variables", {}).items()}
        self.functions[logical_id] = LambdaFunction(
            logical_id,
            name,
            arn,
            props["Handler"],
            folder,
            layers,
            env,
            int(props.get("Timeout", 3)),
            role_id,
        )
        return {"Ref": name, "Arn": arn}

    def _create_AWS_Lambda_EventSourceMapping(
        self, logical_id: str, props: dict[str, Any]
    ) -> dict[str, Any]:
        function = next(
            f for f in self.functions.values() if props["FunctionName"] in (f.name, f.arn)
        )
        queue = next(r for r in self.resources.values() if r.get("Arn") == props["EventSourceArn"])
        visibility = int(queue["Properties"].get("VisibilityTimeout", 30))
        self.mappings.append(
            QueueMapping(
                logical_id,
                function.logical_id,
                queue["QueueUrl"],
                queue["Arn"],
                int(props.get("BatchSize", 10)),
                int(props.get("MaximumBatchingWindowInSeconds", 0)),
                "ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                visibility,
                bool(props.get("Enabled", True)),
            )
        )
        return {"Ref": str(uuid.uuid4())}

    def _create_AWS_Lambda_Permission(
        self, logical_id: str, props: dict[str, Any]
    ) -> dict[str, Any]:
        return {"Ref": logical_id}

    def _create_AWS_Events_Rule(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        arn = f"arn:aws:events:{self.region}:{self.account}:rule/{self._name(logical_id)}"
        targets = [
            Target(
                t["Arn"],
                int(t.get("RetryPolicy", {}).get("MaximumRetryAttempts", 185)),
                int(t.get("RetryPolicy", {}).get("MaximumEventAgeInSeconds", 86400)),
                t.get("DeadLetterConfig", {}).get("Arn"),
                t.get("Input"),
            )
            for t in props.get("Targets", [])
        ]
        rule = Rule(
            logical_id, arn, props.get("EventPattern"), props.get("ScheduleExpression"), targets
        )
        if props.get("State", "ENABLED") == "ENABLED":
            (self.schedules if rule.schedule else self.rules).append(rule)
        return {"Ref": rule.arn.rsplit("/", 1)[-1], "Arn": arn}

    def _create_AWS_Scheduler_Schedule(
        self, logical_id: str, props: dict[str, Any]
    ) -> dict[str, Any]:
        target = props["Target"]
        name = self._name(logical_id)
        arn = f"arn:aws:scheduler:{self.region}:{self.account}:schedule/default/{name}"
        role_id = next(k for k, r in self.resources.items() if r.get("Arn") == target["RoleArn"])
        retry = target.get("RetryPolicy", {})
        rule = Rule(
            logical_id,
            arn,
            None,
            props["ScheduleExpression"],
            [
                Target(
                    target["Arn"],
                    int(retry.get("MaximumRetryAttempts", 185)),
                    int(retry.get("MaximumEventAgeInSeconds", 86400)),
                    target.get("DeadLetterConfig", {}).get("Arn"),
                    target.get("Input"),
                )
            ],
        )
        self.resources.setdefault(logical_id, {})["SchedulerRole"] = role_id
        if props.get("State", "ENABLED") == "ENABLED":
            self.schedules.append(rule)
        return {"Ref": arn.rsplit("/", 1)[-1], "Arn": arn, "SchedulerRole": role_id}

    def _create_AWS_SecurityHub_ActionTarget(
        self, logical_id: str, props: dict[str, Any]
    ) -> dict[str, Any]:
        arn = self.client("securityhub").create_action_target(
            Name=props["Name"], Description=props["Description"], Id=props["Id"]
        )["ActionTargetArn"]
        return {"Ref": arn, "ActionTargetArn": arn}

    def _create_AWS_SecurityHub_Insight(
        self, logical_id: str, props: dict[str, Any]
    ) -> dict[str, Any]:
        client = self.client("securityhub")
        params = {k: props[k] for k in ("Name", "Filters", "GroupByAttribute")}
        shape = client.meta.service_model.operation_model("CreateInsight").input_shape
        arn = client.create_insight(**coerce(params, shape))["InsightArn"]
        return {"Ref": arn, "InsightArn": arn}

    def _create_AWS_SecurityHub_ProductSubscription(
        self, logical_id: str, props: dict[str, Any]
    ) -> dict[str, Any]:
        arn = self.client("securityhub").enable_import_findings_for_product(
            ProductArn=props["ProductArn"]
        )["ProductSubscriptionArn"]
        return {"Ref": arn, "ProductSubscriptionArn": arn}

    def _ssm_value(self, ssm: Any, name: str) -> str:
        if name.startswith("/aws/service/powertools/"):
            # The public parameter AWS publishes; locally Powertools is the venv's own.
            return POWERTOOLS_LAYER
        return str(ssm.get_parameter(Name=name)["Parameter"]["Value"])

    # --- running functions ---------------------------------------------------------------

    def function(self, logical_id: str) -> LambdaFunction:
        try:
            return self.functions[logical_id]
        except KeyError:
            raise StackError(
                f"no function {logical_id} in the stack (its condition may be off)"
            ) from None

    def invoke(self, logical_id: str, event: Any) -> Any:
        """Run a function's handler in-process, as its Lambda would, and return the result."""
        function = self.function(logical_id)
        with self._function_environment(function):
            handler = getattr(self._load(function), function.handler.rpartition(".")[2])
            function.invocations += 1
            slept = [0.0]

            def simulated_sleep(seconds: Any) -> None:
                # Backoff inside a function passes simulated time: a retry storm costs the
                # invocation its deadline, not the test its minutes.
                slept[0] += seconds
                self.clock += seconds

            real_sleep, time.sleep = time.sleep, simulated_sleep
            try:
                return handler(event, FakeContext(function, lambda: slept[0]))
            except Exception:
                function.errors += 1
                function.logs.append(traceback.format_exc())
                raise
            finally:
                time.sleep = real_sleep

    @contextlib.contextmanager
    def _function_environment(self, function: LambdaFunction) -> Iterator[None]:
        saved_env = dict(os.environ)
        saved_modules = {k: v for k, v in sys.modules.items() if _is_layer_module(k)}
        for key in saved_modules:
            del sys.modules[key]
        sys.modules.update(function.modules)
        os.environ.update(function.environment)
        os.environ.update(self.extra_environment)
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_LAMBDA_FUNCTION_NAME": function.name,
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        os.environ.pop("AWS_SESSION_TOKEN", None)
        self._stdout.target = function.logs
        previous, self._running = self._running, function
        try:
            with contextlib.redirect_stdout(self._stdout):
                yield
        finally:
            self._running = previous
            self._stdout.target = previous.logs if previous else None
            function.modules = {k: v for k, v in sys.modules.items() if _is_layer_module(k)}
            for key in function.modules:
                sys.modules.pop(key, None)
            sys.modules.update(saved_modules)
            os.environ.clear()
            os.environ.update(saved_env)

    def _load(self, function: LambdaFunction) -> ModuleType:
        if function.module is None:
            module_name = function.handler.rpartition(".")[0]
            path = function.code_dir / f"{module_name}.py"
            spec = importlib.util.spec_from_file_location(f"lambda_{function.logical_id}", path)
            assert spec is not None
            assert spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            self._fresh_logger(function)
            added = [str(function.code_dir), *(str(p) for p in function.layer_dirs)]
            sys.path[:0] = added
            try:
                spec.loader.exec_module(module)
            finally:
                del sys.path[: len(added)]
            if not callable(getattr(module, function.handler.rpartition(".")[2], None)):
                raise StackError(f"{function.logical_id}: {function.handler} is not a function")
            function.module = module
        return function.module

    @staticmethod
    def _fresh_logger(function: LambdaFunction) -> None:
        """Forget Powertools' setup of the function's logger, as a new Lambda process would.

        Powertools configures the stdlib logger named after the service once per process;
        a second stack in this process must not find it configured by the first.
        """
        name = function.environment.get("POWERTOOLS_SERVICE_NAME", "service_undefined")
        service_logger = logging.getLogger(name)
        for handler in list(service_logger.handlers):
            service_logger.removeHandler(handler)
        with contextlib.suppress(AttributeError):
            delattr(service_logger, LOGGER_ATTRIBUTE_PRECONFIGURED)

    def _patch_botocore(self) -> None:
        """Attribute every call a function makes to it, and refuse what its role refuses."""
        original = botocore.client.BaseClient._make_api_call
        self._original_call = original
        stack = self

        def checked(client: Any, operation: str, params: dict[str, Any]) -> Any:
            function = stack._running
            if function is not None:
                service = client.meta.service_model.signing_name
                action = iam.action_of(service, operation)
                resources = iam.resources_of(
                    service, operation, params, client.meta.region_name, stack.account
                )
                for call in stack.checker.check(function.role, action, resources):
                    if not call.allowed:
                        raise ClientError(
                            {
                                "Error": {
                                    "Code": "AccessDeniedException",
                                    "Message": f"{function.logical_id} role may not "
                                    f"{action} on {call.resource}",
                                },
                                "ResponseMetadata": {"HTTPStatusCode": 403},
                            },
                            operation,
                        )
                for hook in stack.before_call:
                    hook(function, f"{service}:{operation}", params)
            result = original(client, operation, params)
            if function is not None:
                for hook in stack.after_call:
                    hook(function, f"{client.meta.service_model.signing_name}:{operation}", params)
            return result

        botocore.client.BaseClient._make_api_call = checked

    # --- driving it as AWS would -----------------------------------------------------------

    def now(self) -> float:
        """Seconds since the stack started: real time plus simulated time."""
        return time.monotonic() - self._started + self.clock

    def advance(self, seconds: float) -> None:
        """Move the simulated clock; messages whose visibility timeout passed reappear."""
        self.clock += seconds
        due = [h for h in self._hidden if h[0] <= self.clock]
        self._hidden = [h for h in self._hidden if h[0] > self.clock]
        sqs = self.client("sqs")
        for _, url, receipt in due:
            with contextlib.suppress(ClientError):
                sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0
                )

    def tick(self) -> list[Any]:
        """Fire every schedule once, as EventBridge Scheduler would at its next rate."""
        results = []
        for schedule in self.schedules:
            for target in schedule.targets:
                role = self.resources.get(schedule.logical_id, {}).get("SchedulerRole")
                if role:
                    (call,) = self.checker.check(role, "lambda:InvokeFunction", [target.arn])
                    if not call.allowed:
                        raise StackError(
                            f"{schedule.logical_id}: its role may not invoke {target.arn}"
                        )
                event = json.loads(target.input) if target.input else {}
                results.append(self._deliver(schedule, target, event))
        self.deliver_events()
        return results

    def poll(self, mapping: QueueMapping) -> int:
        """One event source mapping poll: receive a batch, invoke, settle. Returns messages."""
        sqs = self.client("sqs")
        messages: list[dict[str, Any]] = []
        # Lambda polls with the function's execution role: these are the actions AWS
        # documents for an SQS event source mapping.
        role = self.functions[mapping.function].role
        for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
            (call,) = self.checker.check(role, action, [mapping.queue_arn])
            if not call.allowed:
                raise StackError(
                    f"{mapping.function}: its role lacks {action} on {mapping.queue_arn}"
                )
        while len(messages) < mapping.batch_size:
            got = sqs.receive_message(
                QueueUrl=mapping.queue_url,
                MaxNumberOfMessages=min(10, mapping.batch_size - len(messages)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not got:
                break
            messages.extend(got)
        if not messages:
            return 0
        event = {"Records": [_sqs_record(m, mapping.queue_arn, self.region) for m in messages]}
        failed: set[str] = set()
        try:
            response = self.invoke(mapping.function, event)
            if mapping.report_failures and isinstance(response, dict):
                failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        except Exception:
            failed = {m["MessageId"] for m in messages}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            sqs.delete_message_batch(
                QueueUrl=mapping.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + 10])
                ],
            )
        for m in messages:
            if m["MessageId"] in failed:
                self._hidden.append(
                    (self.clock + mapping.visibility_timeout, mapping.queue_url, m["ReceiptHandle"])
                )
        self.deliver_events()
        return len(messages)

    def drain(self, max_polls: int = 10_000, redeliver: bool = True) -> int:
        """Poll every mapping until its queue is empty; failed messages come back after
        their visibility timeout (simulated) until SQS's redrive takes them. Returns polls."""
        polls = 0
        while polls < max_polls:
            progressed = False
            for mapping in self.mappings:
                if mapping.enabled and self.poll(mapping):
                    polls += 1
                    progressed = True
            if not progressed:
                if not (redeliver and self._hidden):
                    break
                self.advance(max(h[0] for h in self._hidden) - self.clock)
        return polls

    def put_event(self, event: dict[str, Any]) -> None:
        self._events.append(event)
        self.deliver_events()

    def deliver_events(self) -> None:
        """Route the events Security Hub emitted through the template's rules."""
        if not self.rules:
            self._events.clear()
            return
        from hubrelay_emulator.eventpattern import matches

        while self._events:
            event = self._events.pop(0)
            if event.get("account") != self.account:
                continue  # another account's default event bus: this stack never sees it
            for rule in self.rules:
                if rule.pattern is not None and matches(rule.pattern, event):
                    rule.matched += 1
                    self.report.events_matched[rule.logical_id] = rule.matched
                    for target in rule.targets:
                        self._deliver(rule, target, event)

    def _deliver(self, rule: Rule, target: Target, event: dict[str, Any]) -> Any:
        function = next((f for f in self.functions.values() if f.arn == target.arn), None)
        if function is not None:
            last_error = ""
            for _attempt in range(min(target.retries, 3) + 1):
                try:
                    return self.invoke(function.logical_id, event)
                except Exception as exc:
                    last_error = f"{type(exc).__name__}: {exc}"
            self._dead_letter(rule, target, event, "Lambda.FunctionError", last_error)
            return None
        queue = next((r for r in self.resources.values() if r.get("Arn") == target.arn), None)
        if queue is not None and "QueueUrl" in queue:
            body = target.input if target.input else json.dumps(event)
            self.client("sqs").send_message(QueueUrl=queue["QueueUrl"], MessageBody=body)
            return None
        raise StackError(f"{rule.logical_id}: target {target.arn} is not in the stack")

    def _dead_letter(
        self, rule: Rule, target: Target, event: dict[str, Any], code: str, message: str
    ) -> None:
        self.report.target_failures.append(
            {"rule": rule.logical_id, "code": code, "message": message}
        )
        if not target.dlq_arn:
            return
        queue = next(r for r in self.resources.values() if r.get("Arn") == target.dlq_arn)
        # EventBridge puts these attributes on events it dead-letters.
        attrs = {
            "ERROR_CODE": code,
            "ERROR_MESSAGE": message[:1000],
            "RULE_ARN": rule.arn,
            "TARGET_ARN": target.arn,
        }
        self.client("sqs").send_message(
            QueueUrl=queue["QueueUrl"],
            MessageBody=json.dumps(event),
            MessageAttributes={
                k: {"DataType": "String", "StringValue": v} for k, v in attrs.items()
            },
        )

    # --- Security Hub side -----------------------------------------------------------------

    def click(
        self,
        action_logical_id: str,
        finding_keys: list[tuple[str, str]],
        account: str | None = None,
    ) -> dict[str, Any]:
        """A person picks findings in the console and chooses a custom action."""
        arn = self.resources[action_logical_id]["ActionTargetArn"]
        event = self.contract.custom_action(account or self.account, self.region, arn, finding_keys)
        self.deliver_events()
        return event

    def queue_depth(self, logical_id: str) -> int:
        """Messages in a queue, visible or not (what CloudWatch's queue metrics add up)."""
        attrs = self.client("sqs").get_queue_attributes(
            QueueUrl=self.resources[logical_id]["QueueUrl"],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )

    def messages(self, logical_id: str) -> list[dict[str, Any]]:
        """Read (and consume) every message of a queue, with its attributes."""
        sqs, out = self.client("sqs"), []
        url = self.resources[logical_id]["QueueUrl"]
        while got := sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        ).get("Messages"):
            out.extend(got)
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
                ],
            )
        return out


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


def _is_layer_module(name: str) -> bool:
    return name == "hubrelay" or name.startswith("hubrelay.")


def _sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            k: {"stringValue": v.get("StringValue"), "dataType": v["DataType"]}
            for k, v in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
