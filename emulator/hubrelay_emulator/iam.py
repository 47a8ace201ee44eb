"""Check every AWS call a function makes against that function's IAM role in the template.

moto's own evaluator is not usable here: it checks most services against resource "*"
only (so scoped statements would deny everything), and it turns IAM wildcards into regular
expressions without escaping, so a `?` (as in `secret:name-??????`) breaks it. This
evaluates identity policies the way IAM documents it, for what hubrelay's roles use: Allow
and Deny, Action/NotAction and Resource/NotResource with `*` and `?` wildcards, an explicit
Deny winning, and the condition operators hubrelay's roles use (`Null`, `StringEquals`,
`StringNotEquals`, `StringLike`, `Bool`, each optionally `ForAnyValue:`/`ForAllValues:`),
over the request context keys the emulator can know: Security Hub's
`securityhub:ASFFSyntaxPath/<field>` for BatchUpdateFindings and
`securityhub:OCSFSyntaxPath/<field>` for BatchUpdateFindingsV2. A key not in the context is
absent, as IAM treats it ("IAM JSON policy elements: Condition operators",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html);
an operator this module does not know is an error, never a silent match. The resource ARN
of each call is derived from its parameters, and every call is recorded, so that
statements no call ever needed can be reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlparse

# Operations whose IAM action is not `<service>:<Operation>`.
_ACTION_NAMES = {
    ("sqs", "SendMessageBatch"): "sqs:SendMessage",
    ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "sqs:ChangeMessageVisibility",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("dynamodb", "BatchWriteItem"): "dynamodb:BatchWriteItem",
    # "GetFindings and GetFindingsV2 both use securityhub:GetFindings", "BatchUpdateFindings
    # and BatchUpdateFindingsV2 both use securityhub:BatchUpdateFindings" (the API reference,
    # https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_GetFindingsV2.html and
    # https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchUpdateFindingsV2.html).
    # CreateTicketV2 is securityhub:CreateTicketV2 on a connectorv2 resource ("Actions,
    # resources, and condition keys for AWS Security Hub",
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecurityhub.html).
    ("securityhub", "GetFindingsV2"): "securityhub:GetFindings",
    ("securityhub", "BatchUpdateFindingsV2"): "securityhub:BatchUpdateFindings",
}


# securityhub:GetFindings and securityhub:BatchUpdateFindings take a hub or a hubv2 resource
# (arn:${Partition}:securityhub:${Region}:${Account}:hubv2/${HubV2Id}), the V2 operations the
# new Security Hub's ("Actions, resources, and condition keys for AWS Security Hub",
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecurityhub.html).
# The HubV2Id is made when the new Security Hub is enabled (AWS::SecurityHub::HubV2's Ref,
# https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-securityhub-hubv2.html);
# the emulator's is this one, so a policy naming hub/default alone is denied V2 calls.
_ON_HUB_V2 = frozenset({"GetFindingsV2", "BatchUpdateFindingsV2"})
HUB_V2_ID = "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"


@dataclass(frozen=True)
class Call:
    function: str
    action: str
    resource: str
    allowed: bool


@dataclass
class Checker:
    """Policies per function, and the record of what each function called."""

    policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)

    def check(
        self,
        function: str,
        action: str,
        resources: Iterable[str],
        context: Mapping[str, list[str]] | None = None,
    ) -> list[Call]:
        results = []
        for resource in resources:
            allowed = self.allows(function, action, resource, context or {})
            results.append(Call(function, action, resource, allowed))
        self.calls.extend(results)
        return results

    def allows(
        self,
        function: str,
        action: str,
        resource: str,
        context: Mapping[str, list[str]] | None = None,
    ) -> bool:
        allowed = False
        for document in self.policies.get(function, []):
            for statement in _statements(document):
                if not _applies(statement, action, resource):
                    continue
                if not conditions_hold(statement.get("Condition", {}), context or {}):
                    continue
                if statement.get("Effect") == "Deny":
                    return False
                allowed = allowed or statement.get("Effect") == "Allow"
        return allowed

    def denied(self) -> list[Call]:
        return [c for c in self.calls if not c.allowed]

    def unused_statements(self) -> dict[str, list[str]]:
        """Per function, the allowed actions of its role that no recorded call used (a
        failure path's permission, `FAILURE_PATHS`, is listed by `failure_paths` instead)."""
        report: dict[str, list[str]] = {}
        for function in self.policies:
            paths = FAILURE_PATHS.get(function, {})
            unused = [a for a in self._not_called(function) if a not in paths]
            if unused:
                report[function] = unused
        return report

    def failure_paths(self) -> dict[str, dict[str, str]]:
        """Per function, the permissions only a failure path uses that no recorded call
        used, with the reason each is granted."""
        report: dict[str, dict[str, str]] = {}
        for function in self.policies:
            paths = FAILURE_PATHS.get(function, {})
            kept = {a: paths[a] for a in self._not_called(function) if a in paths}
            if kept:
                report[function] = kept
        return report

    def _not_called(self, function: str) -> list[str]:
        used = {c.action for c in self.calls if c.function == function and c.allowed}
        return sorted(
            {
                action
                for document in self.policies.get(function, [])
                for statement in _statements(document)
                if statement.get("Effect") == "Allow"
                for action in _as_list(statement.get("Action"))
                if action not in used and not action.startswith(("logs:", "xray:"))
            }
        )


# Permissions a role holds for a failure path that a run where everything succeeds never
# takes, by role and action, with the reason (template.yaml says the same next to each).
FAILURE_PATHS: dict[str, dict[str, str]] = {
    "ResponderRole": {
        "dynamodb:DeleteItem": (
            "Powertools Idempotency deletes the in-progress record when the idempotent "
            "function raises, so a failed send can be retried "
            "(https://docs.powertools.aws.dev/lambda/python/latest/utilities/idempotency/)"
        ),
        "sqs:SendMessage": (
            "a delivery that failed after its retries is kept in the responder's dead-letter "
            "queue with its reason (hubrelay.responder)"
        ),
    },
    "StatusSyncRole": {
        "dynamodb:DeleteItem": (
            "a callback whose closures failed releases its delivery id, so that the receiver "
            "can retry it (hubrelay.callback.ReplayGuard.release)"
        ),
    },
}


def action_of(service: str, operation: str) -> str:
    return _ACTION_NAMES.get((service, operation), f"{service}:{operation}")


def resources_of(
    service: str, operation: str, params: Mapping[str, Any], region: str, account: str
) -> list[str]:
    """The resource ARNs IAM evaluates for a call (the subset hubrelay's functions make)."""
    arn = f"arn:aws:{service}:{region}:{account}"
    if service == "sqs" and "QueueUrl" in params:
        return [
            f"arn:aws:sqs:{region}:{account}:{urlparse(params['QueueUrl']).path.rsplit('/', 1)[-1]}"
        ]
    if service == "dynamodb":
        if "TableName" in params:
            return [f"{arn}:table/{params['TableName']}"]
        if "RequestItems" in params:
            return [f"{arn}:table/{name}" for name in params["RequestItems"]]
    if service == "securityhub":
        if operation == "BatchImportFindings":
            return sorted({str(f.get("ProductArn")) for f in params.get("Findings", [])}) or ["*"]
        if operation == "CreateTicketV2":
            return [f"{arn}:connectorv2/{params.get('ConnectorId', '')}"]
        if operation in _ON_HUB_V2:
            return [f"{arn}:hubv2/{HUB_V2_ID}"]
        return [f"{arn}:hub/default"]
    if service == "sns" and "TopicArn" in params:
        return [params["TopicArn"]]
    if service == "secretsmanager" and "SecretId" in params:
        secret = str(params["SecretId"])
        # A secret's ARN ends in "-" and six random characters; a name stands for it.
        return [secret if secret.startswith("arn:") else f"{arn}:secret:{secret}-AbCdEf"]
    if service == "s3" and "Bucket" in params:
        if "Key" in params:
            return [f"arn:aws:s3:::{params['Bucket']}/{params['Key']}"]
        return [f"arn:aws:s3:::{params['Bucket']}"]
    if service == "ssm":
        if operation == "CreateOpsItem":
            return [f"{arn}:opsitem/*"]
        if "Name" in params:
            return [f"{arn}:parameter/{str(params['Name']).lstrip('/')}"]
    if service == "lambda" and "FunctionName" in params:
        name = str(params["FunctionName"])
        return [name if name.startswith("arn:") else f"{arn}:function:{name}"]
    if service == "events":
        return [f"{arn}:event-bus/{params.get('EventBusName', 'default')}"]
    return ["*"]


def _applies(statement: Mapping[str, Any], action: str, resource: str) -> bool:
    # Action names are case-insensitive in IAM; resource ARNs are case-sensitive.
    def any_action(patterns: Any) -> bool:
        return any(fnmatchcase(action.lower(), p.lower()) for p in _as_list(patterns))

    def any_resource(patterns: Any) -> bool:
        return any(fnmatchcase(resource, p) for p in _as_list(patterns))

    if "Action" in statement and not any_action(statement["Action"]):
        return False
    if "NotAction" in statement and any_action(statement["NotAction"]):
        return False
    if "Resource" in statement and not any_resource(statement["Resource"]):
        return False
    return not ("NotResource" in statement and any_resource(statement["NotResource"]))


def _statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    return statements if isinstance(statements, list) else [statements]


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


class PolicyError(ValueError):
    """A policy uses a condition operator this evaluator does not implement."""


def context_of(service: str, operation: str, params: Mapping[str, Any]) -> dict[str, list[str]]:
    """The condition keys a request carries that the emulator can know.

    BatchUpdateFindings carries `securityhub:ASFFSyntaxPath/<field>` for each field it
    updates ("BatchUpdateFindings for customers", Configuring access,
    https://docs.aws.amazon.com/securityhub/latest/userguide/finding-update-batchupdatefindings.html).
    """
    if (service, operation) == ("securityhub", "BatchUpdateFindingsV2"):
        # "securityhub:OCSFSyntaxPath/<fieldName>, where <fieldName> is one of SeverityId,
        # StatusId, or Comment" (the API reference, BatchUpdateFindingsV2).
        return {
            f"securityhub:OCSFSyntaxPath/{name}": [str(params[name])]
            for name in ("SeverityId", "StatusId", "Comment")
            if name in params
        }
    if (service, operation) != ("securityhub", "BatchUpdateFindings"):
        return {}
    context: dict[str, list[str]] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                walk(inner, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list):
            for inner in value:
                walk(inner, path)
        else:
            context.setdefault(f"securityhub:ASFFSyntaxPath/{path}", []).append(str(value))
            # A field that is an object (Note, Workflow) is present as itself too.
            parent = path.split(".")[0]
            context.setdefault(f"securityhub:ASFFSyntaxPath/{parent}", [])

    walk({k: v for k, v in params.items() if k != "FindingIdentifiers"}, "")
    return context


def conditions_hold(block: Mapping[str, Any], context: Mapping[str, list[str]]) -> bool:
    """Whether every condition of a statement holds (they are ANDed)."""
    return all(
        _condition(operator, key, _as_list(expected), context.get(key))
        for operator, keys in block.items()
        for key, expected in keys.items()
    )


def _condition(operator: str, key: str, expected: list[str], values: list[str] | None) -> bool:
    qualifier, _, base = operator.rpartition(":")
    if base == "Null":
        return (values is None) == (str(expected[0]).lower() == "true")
    compare = _OPERATORS.get(base)
    if compare is None or qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise PolicyError(f"condition operator {operator!r} is not implemented")
    negated = base.startswith("StringNot")
    if values is None:
        # A missing key matches nothing, so a negated operator holds (ForAllValues holds
        # over the empty set too).
        return negated or qualifier == "ForAllValues"
    matches = [any(compare(v, e) for e in expected) for v in values]
    if negated:
        matches = [not m for m in matches]
    if qualifier == "ForAllValues":
        return all(matches)
    return any(matches)


_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda value, pattern: value == pattern,
    "StringNotEquals": lambda value, pattern: value == pattern,
    "StringLike": fnmatchcase,
    "Bool": lambda value, pattern: value.lower() == str(pattern).lower(),
}
