"""The stack's Lambda functions, run in this process as separate Lambda functions would be.

Each function runs with the environment variables, handler path and layers the template
gives it, with its own copy of the hubrelay modules, its output captured into its log, and
every AWS call it makes checked against its role (`iam.Checker`) before it is sent.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import time
import traceback
from collections.abc import Iterator
from datetime import datetime, timedelta
from types import ModuleType
from typing import TYPE_CHECKING, Any

import botocore.client
from aws_lambda_powertools.logging.constants import LOGGER_ATTRIBUTE_PRECONFIGURED
from botocore.exceptions import ClientError

from hubrelay_emulator import iam
from hubrelay_emulator.lambda_runtime import LambdaContext, load_source
from hubrelay_emulator.runner.model import LambdaFunction, StackError

if TYPE_CHECKING:
    from hubrelay_emulator.runner.emulator import StackEmulator


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


def _layer_modules() -> dict[str, ModuleType]:
    """The hubrelay modules in sys.modules (twice per invocation, over thousands of
    modules: the prefix test inline, not a call per module)."""
    return {
        k: v
        for k, v in sys.modules.items()
        if k.startswith("hubrelay") and (len(k) == 8 or k[8] == ".")
    }


class FunctionHost:
    """Loads and invokes the stack's functions; knows which one is running."""

    def __init__(self, stack: StackEmulator) -> None:
        self.stack = stack
        self.running: LambdaFunction | None = None
        self._stdout = _Stdout(sys.stdout)

    def invoke(self, function: LambdaFunction, event: Any) -> Any:
        """Run a function's handler, as its Lambda would, and return the result."""
        with self._environment(function):
            handler = getattr(self._load(function), function.handler.rpartition(".")[2])
            function.invocations += 1
            slept = [0.0]

            def simulated_sleep(seconds: Any) -> None:
                # Backoff inside a function passes simulated time: a retry storm costs the
                # invocation its deadline, not the test its minutes.
                slept[0] += seconds
                self.stack.clock += seconds

            context = LambdaContext.with_deadline(
                function.name, function.arn, function.timeout, lambda: slept[0]
            )
            real_sleep, time.sleep = time.sleep, simulated_sleep
            try:
                return handler(event, context)
            except Exception:
                function.errors += 1
                function.logs.append(traceback.format_exc())
                raise
            finally:
                time.sleep = real_sleep

    @contextlib.contextmanager
    def _environment(self, function: LambdaFunction) -> Iterator[None]:
        saved_env = dict(os.environ)
        saved_modules = _layer_modules()
        for key in saved_modules:
            del sys.modules[key]
        sys.modules.update(function.modules)
        os.environ.update(function.environment)
        os.environ.update(self.stack.extra_environment)
        os.environ.update(self._runtime_variables(function))
        os.environ.pop("AWS_SESSION_TOKEN", None)
        self._stdout.target = function.logs
        previous, self.running = self.running, function
        try:
            with contextlib.redirect_stdout(self._stdout):
                yield
        finally:
            self.running = previous
            self._stdout.target = previous.logs if previous else None
            function.modules = _layer_modules()
            for key in function.modules:
                sys.modules.pop(key, None)
            sys.modules.update(saved_modules)
            os.environ.clear()
            os.environ.update(saved_env)

    def _runtime_variables(self, function: LambdaFunction) -> dict[str, str]:
        """What the Lambda runtime sets, pointed at the emulator's endpoint."""
        endpoint = {"AWS_ENDPOINT_URL": self.stack.endpoint} if self.stack.endpoint else {}
        return {
            **endpoint,
            "AWS_REGION": self.stack.region,
            "AWS_DEFAULT_REGION": self.stack.region,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "POWERTOOLS_TRACE_DISABLED": "true",
        }

    def _load(self, function: LambdaFunction) -> ModuleType:
        if function.module is None:
            module_name = function.handler.rpartition(".")[0]
            self._fresh_logger(function)
            module = load_source(
                function.code_dir / f"{module_name}.py",
                f"lambda_{function.logical_id}",
                [function.code_dir, *function.layer_dirs],
            )
            if not callable(getattr(module, function.handler.rpartition(".")[2], None)):
                raise StackError(f"{function.logical_id}: {function.handler} is not a function")
            self._simulate_clock()
            function.module = module
        return function.module

    def _simulate_clock(self) -> None:
        """The function's clock (hubrelay.asff's `datetime`, behind now_utc and every
        timestamp hubrelay writes) runs with the stack's simulated time, as its sleeps do:
        advancing the stack by five minutes is five minutes later for the functions too."""
        asff = sys.modules.get("hubrelay.asff")
        if asff is None:
            return
        stack = self.stack

        class Simulated(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> Any:
                return datetime.now(tz) + timedelta(seconds=stack.clock)

        asff.datetime = Simulated  # type: ignore[attr-defined]

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


class CallGuard:
    """Attributes every call a function makes to it, and refuses what its role refuses.

    Fault injection hooks (`stack.before_call`, `stack.after_call`) run around each call.
    """

    def __init__(self, stack: StackEmulator) -> None:
        self.stack = stack
        self._original: Any = None

    def install(self) -> None:
        original = botocore.client.BaseClient._make_api_call
        self._original = original
        guard = self

        def checked(client: Any, operation: str, params: dict[str, Any]) -> Any:
            function = guard.stack.host.running
            name = f"{client.meta.service_model.signing_name}:{operation}"
            if function is not None:
                guard._check(function, client, operation, params)
                for hook in guard.stack.before_call:
                    hook(function, name, params)
            result = original(client, operation, params)
            guard.stack.s3_events.observe(original, client, operation, params)
            if function is not None:
                for hook in guard.stack.after_call:
                    hook(function, name, params)
            return result

        botocore.client.BaseClient._make_api_call = checked

    def uninstall(self) -> None:
        if self._original is not None:
            botocore.client.BaseClient._make_api_call = self._original
            self._original = None

    def _check(
        self, function: LambdaFunction, client: Any, operation: str, params: dict[str, Any]
    ) -> None:
        service = client.meta.service_model.signing_name
        action = iam.action_of(service, operation)
        resources = iam.resources_of(
            service, operation, params, client.meta.region_name, self.stack.account
        )
        context = iam.context_of(service, operation, params)
        for call in self.stack.checker.check(function.role, action, resources, context):
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
