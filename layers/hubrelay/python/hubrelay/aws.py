"""AWS clients, one per (service, Region), created on first use and reused across invocations.

They are botocore's clients, made by one botocore session, not through boto3: a boto3
client is that same botocore client (boto3.session.Session.client calls the botocore
session's create_client:
https://boto3.amazonaws.com/v1/documentation/api/latest/reference/core/session.html), and
hubrelay uses nothing boto3 adds to it (resources, S3's managed transfers), so a function
whose other imports need no boto3 (the importer; the collector, but for the vendor_api
source) does not import it, nor s3transfer, which boto3 adds to every S3 client: about 75
million instructions of a cold start (docs/operations.md, "Cold starts"). Powertools'
utilities import boto3 whatever the clients are: the responder's Idempotency (its DynamoDB
persistence, at import), and Parameters, whose cache serves every secret (`secret`, on the
first read of one).
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Collection, Iterator
from functools import cache
from typing import Any

import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import DataNotFoundError

# Security Hub retries are ours (hubrelay.importer, hubrelay.writeback) because they must
# respect the invocation's remaining time and report failures per finding: botocore makes
# exactly one attempt. `total_max_attempts` counts attempts; `max_attempts` would count
# *retries* (https://botocore.amazonaws.com/v1/documentation/api/latest/reference/config.html),
# so `max_attempts: 1` meant two requests per call. Other services keep botocore's standard
# retries, five attempts in all.
_CONFIGS = {
    "securityhub": Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        # Together under the importer's deadline margin (10 s): a call it starts before the
        # margin always ends before the Lambda deadline.
        connect_timeout=2,
        read_timeout=7,
        user_agent_extra="hubrelay/0.1",
    ),
}
_DEFAULT = Config(
    retries={"mode": "standard", "total_max_attempts": 5},
    connect_timeout=5,
    read_timeout=30,
    user_agent_extra="hubrelay/0.1",
)


# The services whose endpoints are kept when botocore's endpoints file is first read: those
# hubrelay makes clients for, by the key botocore looks them up by, a service model's
# endpointPrefix (botocore.args: `service_model.endpoint_prefix`; the same as the service's
# name for all of these). The file describes over 300 services in each of 8 partitions,
# 3.9 MB of every process's memory once parsed (0.35 MB kept), and an endpoint is looked up
# in its own service's entries only (botocore.regions.EndpointResolver). Any other service
# is added from the file on its first lookup (_Services), whoever looks it up: hubrelay's
# clients or those botocore makes itself (SSO's credential provider).
ENDPOINTS_KEPT = frozenset(
    {"cloudformation", "dynamodb", "health", "lambda", "s3", "securityhub", "sns", "sqs"}
    | {"secretsmanager", "ssm", "sts"}
)
_ENDPOINTS = "endpoints"  # botocore's data file of the partitions and their endpoints


def _read_text(file_path: str) -> str | None:
    for extension, opener in ((".json", open), (".json.gz", gzip.open)):
        full_path = file_path + extension
        if os.path.isfile(full_path):
            with opener(full_path, "rb") as stream:
                return str(stream.read().decode("utf-8"))
    return None


def _read_json(file_path: str) -> Any:
    text = _read_text(file_path)
    return None if text is None else json.loads(text)


def _read_endpoints(file_path: str, kept: Collection[str]) -> Any:
    """The endpoints file with only the `kept` services of each partition: the others are
    parsed one at a time and dropped. Parsed whole, the file was 3.9 MB of objects at
    once, on top of everything a process held at its first client (the importer: the
    findings of its batch), and left the heap 3.8 MB larger for the 0.35 MB kept; this
    way 0.4 MB. A file of another layout (AWS_DATA_PATH) is read whole."""
    text = _read_text(file_path)
    if text is None:
        return None
    try:
        return _with_services(_JSONText(text), kept)
    except (ValueError, IndexError):  # json.JSONDecodeError is a ValueError
        return json.loads(text)  # botocore's data as it is, or json's own error


def _with_services(reader: _JSONText, kept: Collection[str]) -> dict[str, Any]:
    """{"partitions": [{..., "services": {name: entries}}], ...} with only `kept` names."""
    data: dict[str, Any] = {}
    for key in reader.members():
        if key != "partitions":
            data[key] = reader.value()
            continue
        data[key] = partitions = []
        for _ in reader.items():
            partition: dict[str, Any] = {}
            for name in reader.members():
                if name != "services":
                    partition[name] = reader.value()
                    continue
                partition[name] = services = {}
                for service in reader.members():
                    entries = reader.value()
                    if service in kept:
                        services[service] = entries
            partitions.append(partition)
    reader.end()
    return data


class _JSONText:
    """A JSON text read a value at a time by json's own scanner (plain dicts, as
    _JSONFiles reads), with the objects and arrays around those values walked here: a
    value is read by `value()` for each key `members` yields and each step of `items`."""

    _SPACE = re.compile(r"[ \t\n\r]*")
    _DECODER = json.JSONDecoder()

    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def value(self) -> Any:
        self._skip()
        found, self.pos = self._DECODER.raw_decode(self.text, self.pos)
        return found

    def members(self) -> Iterator[str]:
        for _ in self._each("{", "}"):
            key = self.value()
            if not isinstance(key, str):
                raise ValueError(f"a key that is not a string at {self.pos}")
            self._take(":")
            yield key

    def items(self) -> Iterator[None]:
        yield from self._each("[", "]")

    def _each(self, opening: str, closing: str) -> Iterator[None]:
        self._take(opening)
        self._skip()
        if self.text[self.pos] == closing:
            self.pos += 1
            return
        while True:
            yield
            self._skip()
            self.pos += 1
            if self.text[self.pos - 1] == closing:
                return
            if self.text[self.pos - 1] != ",":
                raise ValueError(f"expected ',' or {closing!r} at {self.pos - 1}")

    def end(self) -> None:
        """Nothing but whitespace after the value read (json.loads refuses anything else)."""
        self._skip()
        if self.pos != len(self.text):
            raise ValueError(f"text after the JSON value at {self.pos}")

    def _skip(self) -> None:
        found = self._SPACE.match(self.text, self.pos)
        self.pos = found.end() if found else self.pos

    def _take(self, char: str) -> None:
        self._skip()
        if self.text[self.pos] != char:
            raise ValueError(f"expected {char!r} at {self.pos}")
        self.pos += 1


class _JSONFiles(botocore.loaders.JSONFileLoader):  # type: ignore[misc]  # botocore has no types
    """botocore's model files (`name.json`, else `name.json.gz`), read into plain dicts.

    botocore reads them with `object_pairs_hook=OrderedDict`, a Python call per JSON object
    that a plain dict (ordered too, https://docs.python.org/3/library/stdtypes.html#dict)
    does not need: the endpoints file (1.2 MB) took 117 million instructions that way, 68
    without; nothing botocore does with a model needs more of it than a dict's."""

    def load_file(self, file_path: str) -> Any:
        if os.path.basename(file_path) != _ENDPOINTS:
            return _read_json(file_path)
        data = _read_endpoints(file_path, ENDPOINTS_KEPT)
        if data is not None:
            _EndpointsFile(file_path).keep(data, ENDPOINTS_KEPT)
        return data


class _EndpointsFile:
    """An endpoints file whose data is kept to some services, and adds the entries of
    others to it from the file, read again, on their first lookup."""

    def __init__(self, file_path: str) -> None:
        self.file_path = file_path
        self.services: list[_Services] = []  # each partition's, in the file's order
        self.looked_up: set[str] = set()

    def keep(self, endpoints: Any, kept: frozenset[str]) -> None:
        for partition in endpoints.get("partitions", []):
            if isinstance(partition.get("services"), dict):
                entries = {k: v for k, v in partition["services"].items() if k in kept}
                partition["services"] = _Services(entries, self)
                self.services.append(partition["services"])
        self.looked_up |= kept

    def add(self, name: str) -> None:
        self.looked_up.add(name)
        full = _read_endpoints(self.file_path, {name})
        partitions = [p for p in full["partitions"] if isinstance(p.get("services"), dict)]
        for services, partition in zip(self.services, partitions, strict=True):
            if name in partition["services"]:
                dict.__setitem__(services, name, partition["services"][name])


class _Services(dict[str, Any]):
    """A partition's services in the endpoints data, as botocore reads them (`in`, `[]`,
    `.get`: botocore.regions.EndpointResolver), with a service not kept read from the file
    first. What is already here is botocore's own."""

    def __init__(self, entries: dict[str, Any], source: _EndpointsFile) -> None:
        super().__init__(entries)
        self._source = source

    def _look_up(self, name: object) -> None:
        if isinstance(name, str) and name not in self._source.looked_up:
            self._source.add(name)

    def __contains__(self, name: object) -> bool:
        self._look_up(name)
        return super().__contains__(name)

    def __getitem__(self, name: str) -> Any:
        self._look_up(name)
        return super().__getitem__(name)

    def get(self, name: str, default: Any = None) -> Any:
        self._look_up(name)
        return super().get(name, default)


# What botocore reads of a service model's operations and shapes only to write docstrings
# (botocore.model: Shape.documentation and OperationModel.documentation default to ""):
# the text of the API reference, half of S3's model (1.2 MB once parsed).
_DOCUMENTATION = ("documentation", "documentationUrl")


def _without_documentation(model: Any) -> None:
    """A service model's operations and shapes without their documentation. Only there:
    botocore requires it of the client context parameters
    (botocore.model.ServiceModel.client_context_parameters), and a member may be named
    `documentation` (the keys of `members` are names, not attributes)."""
    for operation in model.get("operations", {}).values():
        _drop_documentation(operation)
        for key in ("input", "output"):
            _drop_documentation(operation.get(key))
        for error in operation.get("errors", []):
            _drop_documentation(error)
    for shape in model.get("shapes", {}).values():
        _drop_documentation(shape)
        for member in shape.get("members", {}).values():
            _drop_documentation(member)
        for key in ("member", "key", "value"):
            _drop_documentation(shape.get(key))


def _drop_documentation(definition: Any) -> None:
    if isinstance(definition, dict):
        for key in _DOCUMENTATION:
            definition.pop(key, None)


# The operations hubrelay calls of the services whose models are large (and Powertools'
# idempotency on the DynamoDB client hubrelay gives it), with those botocore calls itself
# (S3's HeadBucket to learn a bucket's Region after a redirect, CreateSession for a
# directory bucket: botocore.utils; DynamoDB's DescribeEndpoints, should a user turn
# endpoint discovery on: botocore.discovery). botocore's helpers of other operations are
# not there (the waiters; S3's generate_presigned_post, which reads CreateBucket's model).
# Every client holds its service's model, parsed, for the life of the process, and a
# function uses a handful of operations of a hundred: S3's model is 1.2 MB of a collector's
# memory without its documentation, Security Hub's 3.3 MB of an importer's, SSM's 2.5 MB
# of a responder's; with only these operations (and the shapes they reach) 0.3, 2.1 and
# 0.7 MB. Any other service's model is kept whole. tests/unit/test_aws_operations.py
# checks that every call hubrelay's code makes is kept.
OPERATIONS = {
    "dynamodb": frozenset(
        {"BatchGetItem", "BatchWriteItem", "DeleteItem", "GetItem", "PutItem", "Query", "Scan"}
        | {"UpdateItem", "DescribeEndpoints"}
    ),
    "s3": frozenset(
        {"GetBucketLocation", "GetObject", "HeadObject", "ListObjectsV2", "PutObject"}
        | {"CreateSession", "HeadBucket"}
    ),
    "securityhub": frozenset(
        {"BatchImportFindings", "BatchUpdateFindings", "GetFindings"}
        | {"BatchUpdateFindingsV2", "CreateTicketV2", "GetFindingsV2"}
    ),
    "ssm": frozenset({"CreateOpsItem", "GetParameter"}),
}


def _only_operations(model: Any, kept: frozenset[str]) -> None:
    """A service model with only the `kept` operations and the shapes they reach (input,
    output, errors, and what those are made of), and every error shape: botocore makes a
    client's `exceptions` from all of them (botocore.errorfactory), whatever the call."""
    operations = {name: op for name, op in model.get("operations", {}).items() if name in kept}
    shapes = model.get("shapes", {})
    wanted = [name for name, shape in shapes.items() if shape.get("exception")]
    for operation in operations.values():
        wanted += [operation[key]["shape"] for key in ("input", "output") if key in operation]
        wanted += [error["shape"] for error in operation.get("errors", [])]
    reached: set[str] = set()
    while wanted:
        name = wanted.pop()
        if name in reached or name not in shapes:
            continue
        reached.add(name)
        shape = shapes[name]
        wanted += [member["shape"] for member in shape.get("members", {}).values()]
        wanted += [shape[key]["shape"] for key in ("member", "key", "value") if key in shape]
    model["operations"] = operations
    model["shapes"] = {name: shape for name, shape in shapes.items() if name in reached}


class _Loader(botocore.loaders.Loader):  # type: ignore[misc]  # botocore has no types
    """botocore's loader of service models, which finds a known service's model without
    listing every service first.

    Before reading `s3/2006-03-01/service-2`, botocore's `load_service_model` lists which of
    its over 400 services have a model of that kind (a directory read and a file check each:
    `list_available_services`), once per kind (service-2, endpoint-rule-set-1,
    paginators-1, waiters-2), only to tell that the one asked for is among them. Here that
    is told from the service's own folders (`list_api_versions`, which botocore reads next
    anyway); an unknown service still gets botocore's own answer, UnknownServiceError
    naming the known ones. The model read is the same: the same files, in the same search
    paths (AWS_DATA_PATH too), with the same extras (`*.sdk-extras.json`) merged in
    (https://botocore.amazonaws.com/v1/documentation/api/latest/reference/loaders.html),
    but for the documentation of operations and shapes (_without_documentation) and the
    operations hubrelay does not call of a few large services (OPERATIONS)."""

    @botocore.loaders.instance_cache  # type: ignore[untyped-decorator]
    def load_service_model(
        self, service_name: str, type_name: str, api_version: str | None = None
    ) -> Any:
        try:
            versions = self.list_api_versions(service_name, type_name)
        except DataNotFoundError:
            versions = []
        if not versions:
            return super().load_service_model(service_name, type_name, api_version)
        version = api_version or max(versions)
        model = self.load_data(os.path.join(service_name, version, type_name))
        for extras_type in self.extras_types:
            try:
                extras = self.load_data(
                    os.path.join(service_name, version, f"{type_name}.{extras_type}-extras")
                )
            except DataNotFoundError:
                continue
            botocore.loaders.ExtrasProcessor().process(model, [extras])
        if type_name == "service-2":
            _without_documentation(model)
            if service_name in OPERATIONS:
                _only_operations(model, OPERATIONS[service_name])
        return model


@cache
def _session() -> botocore.session.Session:
    # One session per process: its loader caches service models, so a client per Region
    # costs no second read of the (large) Security Hub model.
    session = botocore.session.get_session()
    loader = botocore.loaders.create_loader(session.get_config_variable("data_path"))
    paths = loader.search_paths  # botocore's own: AWS_DATA_PATH, ~/.aws/models, its data
    session.register_component(
        "data_loader",
        _Loader(
            extra_search_paths=paths, file_loader=_JSONFiles(), include_default_search_paths=False
        ),
    )
    return session


@cache
def client(service: str, region: str | None = None) -> Any:
    """A client for `service` in `region` (the function's own Region when None).

    AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE> are honoured by botocore itself, which is
    how the local stack points every function at moto's server.
    """
    config = _CONFIGS.get(service, _DEFAULT)
    return _session().create_client(service, region_name=region, config=config)


def securityhub(region: str) -> Any:
    return client("securityhub", region)


class LazyClient:
    """`client(service, region)`, made on first use rather than when a function's module is
    imported: a cold start pays for the clients a request needs, when it needs them. Every
    attribute is the real client's (reset() is honoured: the next use makes a new one)."""

    def __init__(self, service: str, region: str | None = None) -> None:
        self._service = service
        self._region = region

    def __getattr__(self, name: str) -> Any:
        # The same call as the eager code made (client("sqs"), not client("sqs", None)):
        # functools.cache keys on the arguments as given, so both would be cached apart.
        made = (
            client(self._service) if self._region is None else client(self._service, self._region)
        )
        return getattr(made, name)

    def __repr__(self) -> str:
        return f"LazyClient({self._service!r}, {self._region!r})"


def lazy_client(service: str, region: str | None = None) -> Any:
    return LazyClient(service, region)


@cache
def _secrets(region: str | None) -> Any:
    # Powertools' Parameters (its cache, max_age and errors) over our client in `region`:
    # its own default provider is made in the default Region, which is not the stack's
    # when `hubrelay route --stack NAME --region R` runs on an operator's machine.
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=client("secretsmanager", region))


def secret(name: str, region: str | None, max_age: int) -> str:
    """The text of a Secrets Manager secret (name or ARN), cached `max_age` seconds, read
    in its ARN's Region, else in `region` (GetSecretValue takes an ARN of its own Region:
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html)."""
    parts = name.split(":")
    where = parts[3] if name.startswith("arn:") and len(parts) > 6 and parts[3] else region
    value = _secrets(where).get(name, max_age=max_age)
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def reset() -> None:
    """Forget cached clients (tests switch endpoints and credentials between cases)."""
    client.cache_clear()
    _session.cache_clear()
    _secrets.cache_clear()
