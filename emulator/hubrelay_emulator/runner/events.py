"""EventBridge for the stack: schedules, and Security Hub's events through the rules.

Events are matched with the documented EventBridge semantics (`eventpattern`) and
delivered to Lambda or SQS targets, with the target's retries and dead-letter queue.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hubrelay_emulator.eventpattern import matches
from hubrelay_emulator.runner.model import Rule, StackError, Target

if TYPE_CHECKING:
    from hubrelay_emulator.runner.emulator import StackEmulator

# Lambda targets are retried at most this often here (EventBridge's own limit is higher,
# spread over a day the emulator does not wait for).
MAX_LAMBDA_RETRIES = 3


class EventRouter:
    def __init__(self, stack: StackEmulator) -> None:
        self.stack = stack
        self.pending: list[dict[str, Any]] = []  # emitted, not yet routed
        self._unsubscribe: Callable[[], None] | None = None

    def listen(self) -> None:
        """Take in every event the stack's Security Hub contract emits, until stop_listening."""
        self._unsubscribe = self.stack.contract.subscribe(self.pending.append)

    def stop_listening(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()

    def tick(self) -> list[Any]:
        """Fire every schedule once, as EventBridge Scheduler would at its next rate."""
        results = []
        for schedule in self.stack.schedules:
            for target in schedule.targets:
                role = self.stack.resources.get(schedule.logical_id, {}).get("SchedulerRole")
                if role:
                    (call,) = self.stack.checker.check(role, "lambda:InvokeFunction", [target.arn])
                    if not call.allowed:
                        raise StackError(
                            f"{schedule.logical_id}: its role may not invoke {target.arn}"
                        )
                event = json.loads(target.input) if target.input else {}
                results.append(self.deliver(schedule, target, event))
        self.deliver_pending()
        return results

    def deliver_pending(self) -> list[Any]:
        """Route the events Security Hub and S3 emitted through the template's rules; the
        results of the Lambda targets, in order."""
        results: list[Any] = []
        if not self.stack.rules:
            self.pending.clear()
            return results
        while self.pending:
            event = self.pending.pop(0)
            if event.get("account") != self.stack.account:
                continue  # another account's default event bus: this stack never sees it
            for rule in self.stack.rules:
                if rule.pattern is not None and matches(rule.pattern, event):
                    rule.matched += 1
                    self.stack.report.events_matched[rule.logical_id] = rule.matched
                    for target in rule.targets:
                        results.append(self.deliver(rule, target, event))
        return results

    def deliver(self, rule: Rule, target: Target, event: dict[str, Any]) -> Any:
        functions = self.stack.functions.values()
        function = next((f for f in functions if f.arn == target.arn), None)
        if function is not None:
            if rule.pattern is not None and not self._may_invoke(rule, function.name, function.arn):
                self._dead_letter(
                    rule, target, event, "Lambda.AccessDenied", "no permission for the rule"
                )
                return None
            last_error = ""
            for _attempt in range(min(target.retries, MAX_LAMBDA_RETRIES) + 1):
                try:
                    return self.stack.invoke(function.logical_id, event)
                except Exception as exc:
                    last_error = f"{type(exc).__name__}: {exc}"
            self._dead_letter(rule, target, event, "Lambda.FunctionError", last_error)
            return None
        queue = self._resource_with_arn(target.arn)
        if queue is not None and "QueueUrl" in queue:
            body = target.input if target.input else json.dumps(event)
            self.stack.client("sqs").send_message(QueueUrl=queue["QueueUrl"], MessageBody=body)
            return None
        raise StackError(f"{rule.logical_id}: target {target.arn} is not in the stack")

    def _may_invoke(self, rule: Rule, name: str, arn: str) -> bool:
        """Whether the function's resource-based policy lets this rule invoke it. EventBridge
        needs one to invoke a function: a permission for the principal events.amazonaws.com,
        scoped here by SourceArn to the rule ("Using resource-based policies for Amazon
        EventBridge", Lambda permissions,
        https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html)."""
        return any(
            p.get("Action") == "lambda:InvokeFunction"
            and p.get("Principal") == "events.amazonaws.com"
            and p.get("FunctionName") in (name, arn)
            and p.get("SourceArn", rule.arn) == rule.arn
            and p.get("SourceAccount", self.stack.account) == self.stack.account
            for p in self.stack.permissions
        )

    def _resource_with_arn(self, arn: str) -> dict[str, Any] | None:
        return next((r for r in self.stack.resources.values() if r.get("Arn") == arn), None)

    def _dead_letter(
        self, rule: Rule, target: Target, event: dict[str, Any], code: str, message: str
    ) -> None:
        self.stack.report.target_failures.append(
            {"rule": rule.logical_id, "code": code, "message": message}
        )
        if not target.dlq_arn:
            return
        queue = self._resource_with_arn(target.dlq_arn)
        if queue is None:
            raise StackError(f"{rule.logical_id}: dead-letter queue {target.dlq_arn} is missing")
        # EventBridge puts these attributes on events it dead-letters.
        attrs = {
            "ERROR_CODE": code,
            "ERROR_MESSAGE": message[:1000],
            "RULE_ARN": rule.arn,
            "TARGET_ARN": target.arn,
        }
        self.stack.client("sqs").send_message(
            QueueUrl=queue["QueueUrl"],
            MessageBody=json.dumps(event),
            MessageAttributes={
                k: {"DataType": "String", "StringValue": v} for k, v in attrs.items()
            },
        )
