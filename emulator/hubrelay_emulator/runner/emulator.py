"""Run template.yaml on one machine: moto's server for the services, functions in-process.

`StackEmulator.up()` reads the real template, resolves it for the given parameters, and
creates its resources on a moto server on 127.0.0.1 (`resources`): queues with their
redrive policies, tables, buckets, topics, secrets, IAM roles, Security Hub action targets,
insights and product subscriptions (through the Security Hub contract extension). It then
drives the functions the way AWS would:

- `tick()` fires the schedules (EventBridge Scheduler / schedule rules; `events`);
- `drain()` runs every event source mapping (`queues`), with simulated visibility timeouts
  so SQS's own redrive moves failing messages to the dead-letter queue;
- Security Hub's Imported and Custom Action events, and S3's Object Created events of the
  buckets whose EventBridge notifications are on (`s3events`), go through the template's
  rules to Lambda or SQS targets with retries and DLQs (`events`);
- every AWS call a function makes is checked against that function's role (`functions`).
"""

from __future__ import annotations

import logging
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters import base as powertools_parameters_base
from moto import mock_aws
from moto.server import ThreadedMotoServer

from hubrelay.asff import FindingKey
from hubrelay_emulator import cfn, iam
from hubrelay_emulator import securityhub as hub
from hubrelay_emulator.lambda_runtime import ACCOUNT, REGION
from hubrelay_emulator.runner import resources
from hubrelay_emulator.runner.events import EventRouter
from hubrelay_emulator.runner.functions import CallGuard, FunctionHost
from hubrelay_emulator.runner.model import (
    ROOT,
    LambdaFunction,
    QueueMapping,
    Report,
    Rule,
    StackError,
)
from hubrelay_emulator.runner.queues import QueuePoller
from hubrelay_emulator.runner.s3events import S3Events
from hubrelay_emulator.runner.urls import FunctionUrls

# moto serves calls without an account header as 123456789012; the stack lives there so the
# functions' own (unmodified) clients act as the stack's account.
DEFAULT_ACCOUNT = ACCOUNT
DEFAULT_REGION = REGION

CallHook = Callable[[LambdaFunction, str, dict[str, Any]], None]


def start_server() -> tuple[ThreadedMotoServer, str]:
    """A moto server on 127.0.0.1 with nothing in it, and its endpoint URL."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto's backends live in this process and outlive a server: start from nothing, as
    # a new account would (a secret left by an earlier stack must not collide).
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(reset, timeout=30):
        pass
    _clear_parameter_caches()
    return server, endpoint


def _clear_parameter_caches() -> None:
    # Powertools keeps parameter providers (with clients bound to an endpoint) and their
    # cached values per process; a new stack is a new set of Lambda processes.
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    powertools_parameters_base.DEFAULT_PROVIDERS.clear()  # type: ignore[attr-defined]


@dataclass
class _Moto:
    """moto for one stack: its server on 127.0.0.1, or in this process (mock_aws), and the
    clients made against it."""

    # moto in this process (mock_aws) instead of its server on 127.0.0.1: the same
    # backends, the contract and the role checks, without an HTTP round trip per call
    # (the soak's many runs). The functions' clients find moto the same way.
    in_process: bool
    endpoint: str = ""  # the server's URL; none in process
    server: ThreadedMotoServer | None = None
    mock: Any = None
    clients: dict[tuple[str, str, str], Any] = field(default_factory=dict)

    def start(self) -> str:
        """Start moto; the endpoint URL."""
        if self.in_process:
            self.mock = mock_aws()
            self.mock.start()
            _clear_parameter_caches()
        else:
            self.server, self.endpoint = start_server()
        return self.endpoint

    def stop(self) -> None:
        if self.server:
            self.server.stop()
            self.server = None
        if self.mock is not None:
            self.mock.stop()
            self.mock = None

    def client(self, service: str, account: str, region: str) -> Any:
        key = (service, account, region)
        if key not in self.clients:
            endpoint = self.endpoint or None
            self.clients[key] = hub.client_for(account, region, service, endpoint_url=endpoint)
        return self.clients[key]


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
        in_process: bool = False,
    ) -> None:
        self.template_path = Path(template)
        self.parameters = dict(parameters or {})
        self.account, self.region, self.stack_name = account, region, stack_name
        # Security Hub's rate limiter runs on the stack's time: real time plus the time
        # functions spent in (simulated) backoff sleeps.
        self._started = time.monotonic()
        self.clock = 0.0  # simulated seconds since up()
        self.contract = hub.install(contract or hub.Contract(clock=self.now))
        self.extra_environment = dict(environment or {})
        # Runs once the server is up and before any resource exists: what an operator
        # creates before deploying (secrets the parameters name, for instance).
        self.setup = setup
        self.endpoint = ""
        self.moto = _Moto(in_process)
        self.resolver: cfn.Resolver | None = None
        self.resources: dict[str, dict[str, Any]] = {}
        self.functions: dict[str, LambdaFunction] = {}
        self.mappings: list[QueueMapping] = []
        self.rules: list[Rule] = []
        self.schedules: list[Rule] = []
        self.permissions: list[dict[str, Any]] = []  # AWS::Lambda::Permission properties
        self.outputs: dict[str, Any] = {}
        self.checker = iam.Checker()
        self.skipped: list[str] = []
        self.report = Report()
        # Fault injection: called with (function, "service:Operation", params) around every
        # AWS call a function makes; a hook raises to make the call (or the function) fail.
        self.before_call: list[CallHook] = []
        self.after_call: list[CallHook] = []
        self.host = FunctionHost(self)
        self.guard = CallGuard(self)
        self.queues = QueuePoller(self)
        self.events = EventRouter(self)
        self.s3_events = S3Events(self)
        self.urls = FunctionUrls(self)  # AWS::Lambda::Url, each on a port of 127.0.0.1

    # --- lifecycle -------------------------------------------------------------------------

    def up(self) -> StackEmulator:
        started = time.perf_counter()
        self.endpoint = self.moto.start()
        self.guard.install()
        self.events.listen()
        # A documented prerequisite of the stack: Security Hub is enabled in its account.
        hub.enable_hub(self.account, self.region)
        if self.setup:
            self.setup(self)
        resources.deploy(self)
        self.report.stages["stack up"] = time.perf_counter() - started
        return self

    def update(self, parameters: Mapping[str, str]) -> StackEmulator:
        """A stack update: the template again with these parameter values over the current
        ones (`resources.update`)."""
        resources.update(self, {**self.parameters, **parameters})
        return self

    def down(self) -> None:
        self.urls.stop()
        self.events.stop_listening()
        self.guard.uninstall()
        self.moto.stop()

    def __enter__(self) -> StackEmulator:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    def client(self, service: str, account: str | None = None, region: str | None = None) -> Any:
        """A client acting as `account` (the stack's by default) against the stack emulator."""
        return self.moto.client(service, account or self.account, region or self.region)

    def now(self) -> float:
        """Seconds since the stack started: real time plus simulated time."""
        return time.monotonic() - self._started + self.clock

    # --- driving it as AWS would -----------------------------------------------------------

    def function(self, logical_id: str) -> LambdaFunction:
        if logical_id not in self.functions:
            raise StackError(f"no function {logical_id} in the stack (its condition may be off)")
        return self.functions[logical_id]

    def invoke(self, logical_id: str, event: Any) -> Any:
        """Run a function's handler in-process, as its Lambda would, and return the result."""
        return self.host.invoke(self.function(logical_id), event)

    def advance(self, seconds: float) -> None:
        """Move the simulated clock; messages whose visibility timeout passed reappear."""
        self.queues.advance(seconds)

    def poll(self, mapping: QueueMapping) -> int:
        """One event source mapping poll: receive a batch, invoke, settle. Returns messages."""
        return self.queues.poll(mapping)

    def drain(self, max_polls: int = 10_000, redeliver: bool = True) -> int:
        """Poll every mapping until its queue is empty (failed messages come back after
        their simulated visibility timeout until SQS's redrive takes them). Returns polls."""
        return self.queues.drain(max_polls, redeliver)

    def tick(self) -> list[Any]:
        """Fire every schedule once, as EventBridge Scheduler would at its next rate."""
        return self.events.tick()

    def put_event(self, event: dict[str, Any]) -> None:
        self.events.pending.append(event)
        self.deliver_events()

    def deliver_events(self) -> list[Any]:
        """Route the events Security Hub and S3 emitted through the template's rules; what
        each Lambda target returned."""
        return self.events.deliver_pending()

    # --- Security Hub and SQS, as a person or a dashboard sees them --------------------------

    def click(
        self, action_logical_id: str, finding_keys: list[FindingKey], account: str | None = None
    ) -> list[dict[str, Any]]:
        """A person picks findings in the console and chooses a custom action (one event
        per finding, as Security Hub sends them)."""
        arn = self.resources[action_logical_id]["ActionTargetArn"]
        events = self.contract.custom_action(
            account or self.account, self.region, arn, finding_keys
        )
        self.deliver_events()
        return events

    def queue_depth(self, logical_id: str) -> int:
        """Messages in a queue, visible or not (what CloudWatch's queue metrics add up)."""
        return self.queues.depth(self.resources[logical_id]["QueueUrl"])

    def messages(self, logical_id: str) -> list[dict[str, Any]]:
        """Read (and consume) every message of a queue, with its attributes."""
        return self.queues.consume(self.resources[logical_id]["QueueUrl"])
