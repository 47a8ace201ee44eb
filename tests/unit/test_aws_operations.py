"""The operations hubrelay's clients keep of a few large services (hubrelay.aws.OPERATIONS)
are every one its code calls: a call of one cut would fail with AttributeError.

The calls are read from the source of what ships and releases (layers, functions,
release) and of Powertools' idempotency store, which is given hubrelay's DynamoDB client:
every attribute of any object, called or passed on (the retry helper is given
`dynamodb.batch_get_item`), and every paginator asked for by name, that is an operation of
such a service. An attribute of another object named like one only keeps an operation more."""

from __future__ import annotations

import ast
from pathlib import Path

import botocore.session
import botocore.utils
from aws_lambda_powertools.utilities.idempotency.persistence import (
    dynamodb as powertools_dynamodb,
)
from botocore import xform_name

from hubrelay import aws

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("layers", "functions", "release")


def _sources() -> list[Path]:
    # Ours, and Powertools' idempotency store, which calls the DynamoDB client hubrelay
    # gives it (hubrelay.idempotency)
    return [
        *(path for folder in SHIPPED for path in (ROOT / folder).rglob("*.py")),
        Path(powertools_dynamodb.__file__),
    ]


def _called_names() -> set[str]:
    names: set[str] = set()
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            # Any attribute, called or not: a bound method is passed to the retry helper
            if isinstance(node, ast.Attribute):
                names.add(node.attr)
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            first = node.args[0] if node.args else None
            if node.func.attr == "get_paginator" and isinstance(first, ast.Constant):
                names.add(str(first.value))
    return names


def test_every_operation_the_code_calls_of_a_cut_service_is_kept():
    called = _called_names()
    # Given the calls this test finds (the test itself can fail: these are among them)
    assert {"batch_import_findings", "put_item", "get_object", "list_objects_v2"} <= called
    models = botocore.session.get_session()
    for service, kept in aws.OPERATIONS.items():
        operations = models.get_service_model(service).operation_names
        by_method = {xform_name(name): name for name in operations}
        # Then each operation called is kept, and each kept is an operation of the service
        needed = {by_method[name] for name in called if name in by_method}
        assert needed <= kept, (service, sorted(needed - kept))
        assert kept <= set(operations), (service, sorted(kept - set(operations)))


def test_the_operations_botocore_calls_itself_are_kept():
    # botocore's own calls on a client it is given (S3's region redirect asks HeadBucket,
    # a directory bucket CreateSession: botocore.utils)
    source = Path(botocore.utils.__file__).read_text()
    tree = ast.parse(source)
    own = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Attribute)
        and node.func.value.attr == "_client"
    }
    assert {"head_bucket", "create_session"} <= own
    models = botocore.session.get_session()
    for service, kept in aws.OPERATIONS.items():
        by_method = {xform_name(n): n for n in models.get_service_model(service).operation_names}
        assert {by_method[name] for name in own if name in by_method} <= kept, service


def test_the_endpoint_discovery_operation_of_a_cut_service_is_kept():
    # botocore attaches endpoint discovery, when a user turns it on, only to a client whose
    # model has the operation (botocore.client.ClientCreator._register_endpoint_discovery)
    models = botocore.session.get_session()
    for service, kept in aws.OPERATIONS.items():
        operation = models.get_service_model(service).endpoint_discovery_operation
        if operation is not None:
            assert operation.name in kept, service
