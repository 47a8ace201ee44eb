"""hubrelay's boto3 clients, counted on the wire against a server on 127.0.0.1.

Where hubrelay retries a call itself (Security Hub: the importer and the write-back),
botocore must make exactly one request; elsewhere botocore's standard mode retries, five
attempts in all. Both are configured in `hubrelay.aws`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import botocore
import botocore.session
import pytest
from botocore.exceptions import ClientError, UnknownServiceError

from hubrelay import aws
from hubrelay_emulator.localhttp import start_server, stop_server


class AlwaysBusy(BaseHTTPRequestHandler):
    """Answers every request with a retryable 503 and counts it."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests += 1  # type: ignore[attr-defined]
        body = b'{"__type": "ServiceUnavailableException", "message": "busy"}'
        self.send_response(503)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def busy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    server = start_server(AlwaysBusy)
    server.requests = 0  # type: ignore[attr-defined]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
    aws.reset()
    yield server
    aws.reset()
    stop_server(server)


def test_security_hub_calls_are_sent_once_because_hubrelay_retries_them_itself(busy, finding):
    # When BatchImportFindings meets a retryable 503
    with pytest.raises(ClientError):
        aws.securityhub("us-east-1").batch_import_findings(Findings=[finding])
    # Then botocore sent it exactly once
    assert busy.requests == 1


def test_other_services_keep_botocores_standard_retries_five_attempts_in_all(busy, monkeypatch):
    # botocore's standard mode sleeps between attempts; the count is what matters here.
    monkeypatch.setattr("time.sleep", lambda _seconds: None)
    with pytest.raises(ClientError):
        aws.client("sqs", "us-east-1").list_queues()
    assert busy.requests == 5


def test_a_lazy_client_is_made_on_first_use_and_is_then_the_cached_client(monkeypatch):
    # Given a function's module that names its clients at import (hubrelay.*.connect)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    aws.reset()
    lazy = aws.lazy_client("sqs")
    # Then no client exists until a request uses one
    assert aws.client.cache_info().currsize == 0
    # And its first use makes the one cached client, whose attributes it passes on
    assert lazy.meta.service_model.service_name == "sqs"
    assert aws.client.cache_info().currsize == 1
    assert lazy.meta is aws.client("sqs").meta
    aws.reset()


SERVICES = ("s3", "sqs", "dynamodb", "securityhub", "sns", "ssm", "secretsmanager")


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    aws.reset()
    yield
    aws.reset()


def test_a_client_and_its_paginators_are_made_without_listing_every_service(fresh, monkeypatch):
    # botocore lists all of its ~400 services once per kind of model file before it reads
    # one (a directory read and a file check each): a cold start's cost that finding one
    # service's model does not need.
    def listing(self: Any, type_name: str) -> list[str]:
        raise AssertionError(f"every service listed to find one {type_name}")

    monkeypatch.setattr("botocore.loaders.Loader.list_available_services", listing)
    for service in SERVICES:
        client = aws.client(service)
        assert client.meta.service_model.service_name == service
    aws.client("s3").get_paginator("list_objects_v2")
    aws.client("dynamodb").get_paginator("query")


DOCUMENTATION = {"documentation", "documentationUrl"}


def _differences(mine: Any, theirs: Any, where: str = "") -> list[str]:
    """Where `mine` differs from `theirs`, but for documentation text that `theirs` has in
    a definition (not a `members` map, whose keys are member names) and `mine` lacks."""
    if isinstance(theirs, dict) and isinstance(mine, dict):
        missing = [key for key in theirs if key not in mine]
        found = [
            f"{where}/{key} dropped"
            for key in missing
            if key not in DOCUMENTATION or where.endswith("/members")
        ]
        found += [f"{where}/{key} added" for key in mine if key not in theirs]
        if [key for key in theirs if key in mine] != list(mine):
            found.append(f"{where}: keys in another order")
        for key in mine:
            if key in theirs:
                found += _differences(mine[key], theirs[key], f"{where}/{key}")
        return found
    if isinstance(theirs, list) and isinstance(mine, list) and len(mine) == len(theirs):
        return [
            d
            for i, pair in enumerate(zip(mine, theirs, strict=True))
            for d in _differences(*pair, f"{where}[{i}]")
        ]
    return [] if mine == theirs and type(mine) is type(theirs) else [f"{where}: {mine!r:.60}"]


@pytest.mark.parametrize("kind", ["service-2", "paginators-1", "endpoint-rule-set-1"])
def test_the_models_read_are_botocores_own_extras_included(fresh, kind):
    # The same files from the same search paths, with the *.sdk-extras.json merged in
    # (sqs and dynamodb have service-2 extras, s3 and sqs paginators-1 extras).
    mine = aws._session().get_component("data_loader")
    theirs = botocore.session.get_session().get_component("data_loader")
    for service in SERVICES:
        try:
            expected = theirs.load_service_model(service, kind)
        except UnknownServiceError as error:  # a service without this kind of file
            with pytest.raises(UnknownServiceError, match=str(error)[:60]):
                mine.load_service_model(service, kind)
            continue
        model = mine.load_service_model(service, kind)
        if kind != "service-2":
            # The same content in the same order (json.dumps keeps each object's order).
            assert json.dumps(model) == json.dumps(expected), service
            continue
        if service in aws.OPERATIONS:
            expected = _only_kept(expected, model, aws.OPERATIONS[service])
        # Then a service model is botocore's but for the documentation of its operations
        # and shapes, all of it (s3's is half of its model), and the rest is kept: the
        # client context parameters' documentation, which botocore requires.
        assert _differences(model, expected) == [], service
        docs = json.dumps(model["operations"]) + json.dumps(model["shapes"])
        assert '"documentation"' not in docs, service
        assert len(json.dumps(model)) < len(json.dumps(expected)), service
    assert (
        "documentation"
        in mine.load_service_model("s3", "service-2")["clientContextParams"]["Accelerate"]
    )
    # An API version asked for by name is read as botocore reads it.
    named = ("sqs", "paginators-1", "2012-11-05")
    assert json.dumps(mine.load_service_model(*named)) == json.dumps(
        theirs.load_service_model(*named)
    )


def _only_kept(expected: Any, model: Any, kept: frozenset[str]) -> Any:
    """botocore's model of a service hubrelay keeps some operations of (aws.OPERATIONS),
    cut to them and to the shapes `model` kept, once these are shown to be all it needs:
    every shape a kept operation or shape names, and every error shape (botocore makes a
    client's `exceptions` of them all)."""
    shapes = model["shapes"]
    assert list(model["operations"]) == [name for name in expected["operations"] if name in kept]
    named = [
        ref["shape"]
        for op in model["operations"].values()
        for ref in [op.get("input"), op.get("output"), *op.get("errors", [])]
        if ref
    ]
    for shape in shapes.values():
        named += [member["shape"] for member in shape.get("members", {}).values()]
        named += [shape[key]["shape"] for key in ("member", "key", "value") if key in shape]
    assert set(named) <= set(shapes), set(named) - set(shapes)
    errors = {name for name, shape in expected["shapes"].items() if shape.get("exception")}
    assert errors <= set(shapes)
    assert len(shapes) < len(expected["shapes"])
    return {
        **expected,
        "operations": {k: v for k, v in expected["operations"].items() if k in kept},
        "shapes": {k: v for k, v in expected["shapes"].items() if k in shapes},
    }


def test_a_client_of_a_service_cut_to_its_operations_calls_them_and_names_every_error(fresh):
    # Given clients of the services whose models are cut to the operations hubrelay calls
    plain = botocore.session.get_session()
    for service, kept in aws.OPERATIONS.items():
        ours = aws.client(service)
        theirs = plain.create_client(service, region_name="us-east-1")
        # Then each has those operations, named as botocore's client names them, and no
        # other (their definitions are botocore's: the test of the models read, above)
        assert set(ours.meta.method_to_api_mapping.values()) == kept, service
        for method, operation in ours.meta.method_to_api_mapping.items():
            assert theirs.meta.method_to_api_mapping[method] == operation
            assert callable(getattr(ours, method))
        cut = next(m for m, op in theirs.meta.method_to_api_mapping.items() if op not in kept)
        assert not hasattr(ours, cut), (service, cut)
        # And every error botocore's client names, to catch it by
        assert sorted(ours.exceptions._code_to_exception) == sorted(
            theirs.exceptions._code_to_exception
        ), service


def test_a_member_named_documentation_is_kept(fresh):
    # Given a model whose shape has a member called `documentation`
    model = {
        "operations": {"Get": {"name": "Get", "documentation": "<p>Gets.</p>"}},
        "shapes": {
            "Doc": {
                "type": "structure",
                "documentation": "<p>A document.</p>",
                "members": {
                    "documentation": {"shape": "String", "documentation": "<p>Its text.</p>"}
                },
            }
        },
    }
    # When its documentation is dropped
    aws._without_documentation(model)
    # Then the member stays, without its own documentation
    assert model["shapes"]["Doc"] == {
        "type": "structure",
        "members": {"documentation": {"shape": "String"}},
    }
    assert model["operations"]["Get"] == {"name": "Get"}


def test_model_files_are_read_into_plain_dicts_the_same_as_botocores(fresh):
    # botocore's OrderedDict per JSON object cost the endpoints file (1.2 MB) 117 million
    # instructions against 68 for plain dicts, which keep the order too.
    mine = aws._session().get_component("data_loader")
    theirs = botocore.session.get_session().get_component("data_loader")
    for name in ("sdk-default-configuration", "_retry", "partitions"):
        data, path = mine.load_data_with_path(name)
        assert type(data) is dict
        assert (json.dumps(data), path) == (
            json.dumps(theirs.load_data_with_path(name)[0]),
            theirs.load_data_with_path(name)[1],
        )
    model = mine.load_service_model("securityhub", "service-2")
    assert type(model) is dict
    assert type(model["shapes"]["AwsSecurityFinding"]) is dict
    assert mine.file_loader.load_file("/no/such/file") is None


def test_the_endpoints_kept_are_botocores_for_the_services_hubrelay_uses(fresh):
    mine, path = aws._session().get_component("data_loader").load_data_with_path("endpoints")
    theirs, their_path = (
        botocore.session.get_session().get_component("data_loader").load_data_with_path("endpoints")
    )
    assert (type(mine), path) == (dict, their_path)
    # Every partition, with all of its data but the entries of other services
    assert len(mine["partitions"]) == len(theirs["partitions"]) > 1
    for partition, expected in zip(mine["partitions"], theirs["partitions"], strict=True):
        others = {key: value for key, value in expected.items() if key != "services"}
        assert {key: value for key, value in partition.items() if key != "services"} == others
        kept = {n: e for n, e in expected["services"].items() if n in aws.ENDPOINTS_KEPT}
        assert json.dumps(partition["services"]) == json.dumps(kept)
    # And another service's entries are added, botocore's own, when botocore first looks
    # one of them up (compared before a client resolves an endpoint, which botocore writes
    # into the entry it resolves)
    assert "kms" in mine["partitions"][0]["services"]
    for partition, expected in zip(mine["partitions"], theirs["partitions"], strict=True):
        assert dict.get(partition["services"], "kms") == expected["services"].get("kms")
    assert "no-such-service" not in mine["partitions"][0]["services"]
    assert len(json.dumps(mine)) < len(json.dumps(theirs)) / 5


ENDPOINTS_LIKE = {
    "version": 3,
    "partitions": [
        {"partition": "aws", "services": {"s3": {"endpoints": {"us-east-1": {}}}, "kms": {}}},
        {"partition": "aws-cn", "regions": {}, "services": {}},
        {"services": {"sqs": {"defaults": {"protocols": ["https"]}}, "iam": [1, "}"]}},
    ],
    "extra": [],
}


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(ENDPOINTS_LIKE, indent=2),
        json.dumps(ENDPOINTS_LIKE, separators=(",", ":")),
        json.dumps(ENDPOINTS_LIKE, indent="\t").replace("\n", "\r\n"),
        # json.loads keeps the last of two copies of a name
        '{"partitions": [{"services": {"s3": 1, "s3": {"x": 2}}}], "version": 1, "version": 3}',
    ],
    ids=["indented", "compact", "tabs-crlf", "duplicate-names"],
)
def test_the_endpoints_file_read_with_some_services_is_json_loads_of_it_without_the_others(
    tmp_path: Path, text: str
) -> None:
    (tmp_path / "endpoints.json").write_text(text)
    kept = {"s3", "sqs"}
    expected = json.loads(text)
    for partition in expected["partitions"]:
        partition["services"] = {n: e for n, e in partition["services"].items() if n in kept}
    read = aws._read_endpoints(str(tmp_path / "endpoints"), kept)
    assert json.dumps(read) == json.dumps(expected)


@pytest.mark.parametrize(
    "text",
    ['{"partitions": {"aws": {}}}', '{"partitions": [{"services": []}]}', "[1, 2]"],
    ids=["partitions-an-object", "services-a-list", "not-an-object"],
)
def test_an_endpoints_file_of_another_layout_is_read_whole(tmp_path: Path, text: str) -> None:
    # (botocore's EndpointResolver then refuses it or reads it as it would have)
    (tmp_path / "endpoints.json").write_text(text)
    assert aws._read_endpoints(str(tmp_path / "endpoints"), {"s3"}) == json.loads(text)


@pytest.mark.parametrize(
    "text",
    ['{"partitions": [{"services": {"s3": {]}}', '{"partitions": []} {}', '{"partitions": []'],
    ids=["broken", "text-after-it", "cut-short"],
)
def test_an_endpoints_file_that_is_not_json_fails_as_json_loads_does(
    tmp_path: Path, text: str
) -> None:
    (tmp_path / "endpoints.json").write_text(text)
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as read:
        aws._read_endpoints(str(tmp_path / "endpoints"), {"s3"})
    assert str(read.value) == str(expected.value)


def test_no_endpoints_file_is_none(tmp_path: Path) -> None:
    assert aws._read_endpoints(str(tmp_path / "none"), {"s3"}) is None


def test_the_services_kept_are_keyed_as_botocore_looks_them_up(fresh):
    # botocore looks a service's endpoints up by its model's endpointPrefix
    # (cloudwatch's is "monitoring"): each kept service is keyed so
    plain = botocore.session.get_session()
    for service in aws.ENDPOINTS_KEPT:
        assert plain.get_service_model(service).endpoint_prefix == service


class Sent(Exception):
    """Raised by the capture of a request, once signed, instead of sending it."""


def _where_sent(client: Any, call: str) -> tuple[str, str]:
    # The URL and the credential scope (date/Region/service) of the request's signature
    # (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv4-create-signed-request.html)
    def capture(request: Any, **_: Any) -> None:
        scope = request.headers["Authorization"].decode().split("Credential=")[1].split(",")[0]
        raise Sent(request.url.split("?")[0], scope.split("/", 2)[2])

    client.meta.events.register("before-send", capture)
    with pytest.raises(Sent) as sent:
        getattr(client, call)(**ARGUMENTS.get(call, {}))
    return sent.value.args


# Calls hubrelay's clients have (aws.OPERATIONS: s3 and securityhub are cut to them)
CALLS = {"iam": "list_users", "sts": "get_caller_identity", "s3": "head_object"}
CALLS |= {"kms": "list_keys", "securityhub": "get_findings", "sqs": "list_queues"}
ARGUMENTS = {"head_object": {"Bucket": "hubrelay-reports", "Key": "trivy/report.json"}}
# Endpoints keyed by a prefix other than the name: monitoring, tax (global, signed for
# us-east-1), data-ats.iot (data.ats.iot in China)
CALLS |= {"cloudwatch": "describe_alarms", "taxsettings": "get_tax_inheritance"}
CALLS |= {"iot-data": "list_retained_messages"}


@pytest.fixture
def signed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Credentials and no endpoint set for the local stack, nor a Region."""
    for name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    aws.reset()
    yield
    aws.reset()


def _same_as_botocore(region: str, services: dict[str, str]) -> None:
    plain = botocore.session.get_session()
    for service, call in services.items():
        # When our client and a plain botocore client make the same call
        theirs = plain.create_client(service, region_name=region)
        ours = aws.client(service, region)
        # Then both go to the same URL, signed for the same Region and service (global
        # services such as IAM resolve to their partition's endpoint and signing Region)
        assert _where_sent(ours, call) == _where_sent(theirs, call), (service, region)
        assert ours.meta.endpoint_url == theirs.meta.endpoint_url, (service, region)
        assert ours.meta.region_name == theirs.meta.region_name, (service, region)


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"])
def test_clients_send_where_botocores_own_send_in_every_partition(signed, region):
    _same_as_botocore(region, CALLS)


def test_a_global_service_without_a_region_resolves_as_botocores_does(signed):
    # Given no Region at all: botocore takes the partition endpoint's (aws-global, us-east-1)
    plain = botocore.session.get_session().create_client("taxsettings")
    ours = aws.client("taxsettings")
    assert (ours.meta.region_name, ours.meta.endpoint_url) == (
        plain.meta.region_name,
        plain.meta.endpoint_url,
    )
    assert _where_sent(ours, "get_tax_inheritance") == _where_sent(plain, "get_tax_inheritance")


def test_an_endpoints_file_of_the_data_path_is_read_as_botocore_reads_it(
    signed, monkeypatch, tmp_path
):
    # Given an endpoints file in AWS_DATA_PATH, whose endpoints botocore then sends to
    # (botocore.args: endpoints not of its own data)
    botocore_data = Path(botocore.__file__).parent / "data" / "endpoints.json"
    (tmp_path / "endpoints.json").write_bytes(botocore_data.read_bytes())
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    aws.reset()
    # Then our clients, kept services or not, still send where botocore's do
    for region in ("eu-west-1", "cn-north-1"):
        _same_as_botocore(region, CALLS)


def test_an_unknown_service_gets_botocores_own_error_naming_the_known_ones(fresh):
    with pytest.raises(UnknownServiceError) as mine:
        aws.client("no-such-service")
    with pytest.raises(UnknownServiceError) as theirs:
        botocore.session.get_session().create_client("no-such-service", region_name="us-east-1")
    assert str(mine.value) == str(theirs.value)
    assert "securityhub" in str(mine.value)


ROOT = Path(__file__).resolve().parents[2]
# A handler imported as Lambda imports it, then every client the collector and the importer
# use on a request: which of boto3 and s3transfer came in.
CLIENTS_OF_A_HANDLER = (
    "import sys\nsys.path[:0] = sys.argv[1:]\nimport app\nfrom hubrelay import aws\n"
    "for service in ('s3', 'sqs', 'dynamodb', 'securityhub'):\n"
    "    aws.client(service).meta.service_model\n"
    "print(sorted({'boto3', 's3transfer'} & set(sys.modules)))\n"
)


@pytest.mark.parametrize("function", ["collector", "importer"])
def test_a_function_that_needs_no_boto3_makes_its_clients_without_importing_it(function):
    # boto3 (and the s3transfer it adds to every S3 client) is a cold start's cost that
    # only the functions whose Powertools utilities need it pay (docs/operations.md).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS", "AWS_"))}
    env.update({"AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true"})
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            CLIENTS_OF_A_HANDLER,
            str(ROOT / "functions" / function),
            str(ROOT / "layers" / "hubrelay" / "python"),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_secret_is_read_in_its_arns_region_or_else_the_one_given(monkeypatch):
    # Given secrets in two Regions, and a default Region that is neither
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    aws.reset()
    with mock_aws():
        import boto3

        west = boto3.client("secretsmanager", region_name="eu-west-1")
        arn = west.create_secret(Name="vendor/token", SecretString="west")["ARN"]
        boto3.client("secretsmanager", region_name="us-east-2").create_secret(
            Name="vendor/token", SecretString="east"
        )
        # When each is read by name and by ARN with us-east-2 as the Region given
        by_arn = aws.secret(arn, "us-east-2", 300)
        by_name = aws.secret("vendor/token", "us-east-2", 300)
        # And read again after a rotation, within max_age
        west.put_secret_value(SecretId=arn, SecretString="rotated")
        cached = aws.secret(arn, "us-east-2", 300)
    aws.reset()
    # Then the ARN's Region wins over the one given, a name is read in the one given, and
    # the value is Powertools' cached one until max_age passes
    assert (by_arn, by_name, cached) == ("west", "east", "west")
