"""The fuzz harness: one target per parser of outside input, the inputs, the properties.

A target takes one input and runs it through a parser the way production code does. The
property every target checks: no crash (only the parser's documented error types escape),
no hang (the long run bounds each input's time), and every rejection a clear error (a
non-empty message naming the record or field). Targets are plain functions, so the
hypothesis tests (test_parsers.py) and the regression replays (test_regressions.py) share
them.

Inputs come from three generators: any JSON value (numbers include NaN and Infinity,
which Python's json module reads; object keys are often field names the parsers know);
structure-aware mutations of the real samples under tests/fixtures (a few subtrees of a
valid document replaced by any JSON value, deleted, or given a known field); and, for ASFF,
the valid sample finding with fields of the botocore model set to values that break their
type or limits. Queue messages are also fuzzed as text (edits of a valid body).

Every parser of outside text also gets the inputs of tests/fuzz/hostile.py: documents as
bytes with huge integers, deep nesting, NaN or Infinity, or broken UTF-8 in them (a `Raw`,
read through hubrelay.loading as production reads it), and, where Python's json parsed the
input before hubrelay sees it (Lambda's events, findings built in code, botocore's Health
replies), values with what that parser lets through.

Runs: `make test` runs a short pass (FUZZ_EXAMPLES, default 150 inputs per parser);
`make fuzz` sets HUBRELAY_FUZZ=long for 10,000 inputs per parser, each bounded to
HANG_SECONDS by a timer signal.
"""

from __future__ import annotations

import copy
import json
import os
import signal
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import botocore.session
from botocore.awsrequest import AWSResponse
from botocore.model import ListShape
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from hubrelay import asff, http, loading, message, routing
from hubrelay.importer import Services as ImporterServices
from hubrelay.importer import import_records
from hubrelay.retry import Retry
from hubrelay.settings import Settings
from hubrelay.sources import (
    Context,
    MappingError,
    Record,
    SourceError,
    files,
    health,
    scanner_reports,
    vendor_api,
)
from tests.fuzz import hostile
from tests.fuzz.hostile import Raw
from tests.support import FIXTURES, load_fixture

LONG = os.environ.get("HUBRELAY_FUZZ", "") == "long"
EXAMPLES = 10_000 if LONG else int(os.environ.get("FUZZ_EXAMPLES", "150"))
HANG_SECONDS = 5.0

# Shared by every fuzz test: no deadline (timing is the hang guard's job, and only in the
# long run), and the health checks that flag big or slow-to-generate inputs are off.
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)

CTX = Context("123456789012", ("us-east-1", "eu-west-1"), "", datetime(2026, 11, 1, tzinfo=UTC))


class Stats:
    """Inputs run per target, the slowest one, and how many the loading policy refused by
    rule (so a run shows the hostile inputs were made), printed after the run (conftest.py)."""

    def __init__(self) -> None:
        self.inputs: dict[str, int] = {}
        self.slowest: dict[str, float] = {}
        self.refused: dict[str, Counter[str]] = {}
        self._refusals: Counter[str] = Counter()  # of the input running now

    def refusal(self, error: loading.LoadError) -> None:
        self._refusals[error.kind] += 1

    def record(self, name: str, seconds: float) -> None:
        self.inputs[name] = self.inputs.get(name, 0) + 1
        self.slowest[name] = max(self.slowest.get(name, 0.0), seconds)
        self.refused.setdefault(name, Counter()).update(set(self._refusals))
        self._refusals.clear()

    def lines(self) -> list[str]:
        out = []
        for name, count in sorted(self.inputs.items()):
            refused = ", ".join(f"{k} {n}" for k, n in sorted(self.refused[name].items()))
            out.append(
                f"{name:20} {count:>7} inputs, slowest {self.slowest[name] * 1000:8.1f} ms"
                + (f"; refused on loading: {refused}" if refused else "")
            )
        return out


STATS = Stats()


class Hang(BaseException):
    """An input took longer than HANG_SECONDS (BaseException: no parser may swallow it)."""


@contextmanager
def bounded() -> Iterator[None]:
    """In the long run, fail an input that runs longer than HANG_SECONDS."""
    if not LONG:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise Hang(f"input still running after {HANG_SECONDS} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def keep_failing_input(name: str, value: Any) -> Iterator[None]:
    """With HUBRELAY_FUZZ_SAVE=<folder>, write each failing input there as <name>.json.

    Hypothesis runs the shrunk example last, so the file left is the minimal failing input:
    the start of a regression fixture under tests/fixtures/fuzz/.
    """
    try:
        yield
    except BaseException:
        folder = os.environ.get("HUBRELAY_FUZZ_SAVE")
        if folder:
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"{name}.json"), "w", encoding="utf-8") as out:
                json.dump({"target": name, "input": value}, out, indent=1, default=hostile.saved)
        raise


def assert_clear(error: BaseException, allowed: tuple[type[BaseException], ...]) -> None:
    """The rejection is one of the documented error types and says what is wrong."""
    assert isinstance(error, allowed), f"undocumented {type(error).__name__}: {error!r}"
    text = str(error).strip()
    assert text, f"{type(error).__name__} with an empty message"


# --- inputs ------------------------------------------------------------------------------

SAMPLES = {
    "sarif": "sources/sarif_multi_run.sarif.json",
    "trivy": "sources/trivy_image.json",
    "trivy-k8s": "sources/trivy_k8s_all.json",  # resources, their results, an Error
    "grype": "sources/grype_image.json",
    "asff": "findings/valid.json",
    "vendor": "sources/vendor_findings.json",
    "health": "sources/health_eventbridge.json",
}
EVENTS = sorted(p.name for p in (FIXTURES / "events").glob("*.json"))


def _keys(value: Any, into: set[str]) -> set[str]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            into.add(key)
            _keys(item, into)
    elif isinstance(value, list):
        for item in value:
            _keys(item, into)
    return into


def _asff_members(depth: int = 2) -> set[str]:
    """Member names of the ASFF model, two levels down (Severity.Normalized, ...)."""
    model = botocore.session.get_session().get_service_model("securityhub")
    names: set[str] = set()
    level = [model.shape_for("AwsSecurityFinding")]
    for _ in range(depth):
        below = []
        for shape in level:
            if isinstance(shape, ListShape):
                shape = shape.member
            for name, member in getattr(shape, "members", {}).items():
                names.add(name)
                below.append(member)
        level = below
    return names


# Field names the parsers look for, so that random objects often hit real code paths.
KEYS = sorted(
    _keys([load_fixture(p) for p in SAMPLES.values()], set())
    | _keys([load_fixture(f"events/{e}") for e in EVENTS], set())
    | _asff_members()
)
ODD_SCALARS = [
    "",
    " ",
    "\x00",
    "\ud800",  # a lone surrogate: JSON can carry it, UTF-8 cannot encode it
    "{0}{1}{99999999999999999999}",
    "2026-13-45T99:99:99Z",
    "Thu, 99 Oct 2026 08:15:00 GMT",
    "arn:aws:health:global::event/X/Y/Z",
    "CVE-2026-0001",
    10**30,
    -(10**30),
    2**63,
    -1,
    0,
    1e308,
    -0.0,
    float("nan"),
    float("inf"),
    float("-inf"),
    True,
    False,
    None,
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(ODD_SCALARS),
    st.integers(256, 6000).map(lambda n: "x" * n),  # over the ASFF length limits
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.dictionaries(
            st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), children, max_size=6
        ),
    ),
    max_leaves=25,
)


def _paths(value: Any, here: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield here
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _paths(item, (*here, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*here, index))


@st.composite
def mutated(draw: st.DrawFn, base: Any, max_changes: int = 4) -> Any:
    """`base` with 1..max_changes edits: a subtree replaced by any JSON value, deleted, or
    a known field name added to an object with any JSON value."""
    document = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, max_changes))):
        path = draw(st.sampled_from(list(_paths(document))))
        kind = draw(st.integers(0, 5))
        if not path and kind != 5:
            return draw(json_values)
        node = document
        for step in path[:-1] if path else ():
            node = node[step]
        if kind == 5:
            target = node[path[-1]] if path else node
            if isinstance(target, dict):
                target[draw(st.sampled_from(KEYS))] = copy.deepcopy(draw(json_values))
        elif kind == 0:
            del node[path[-1]]
        else:
            node[path[-1]] = copy.deepcopy(draw(json_values))
    return document


def _asff_paths(depth: int = 3) -> list[tuple[tuple[str | int, ...], str]]:
    """(path, botocore type) of ASFF fields, lists entered at their first item."""
    model = botocore.session.get_session().get_service_model("securityhub")
    out: list[tuple[tuple[str | int, ...], str]] = []
    level: list[tuple[tuple[str | int, ...], Any]] = [((), model.shape_for("AwsSecurityFinding"))]
    for _ in range(depth):
        below = []
        for path, shape in level:
            if isinstance(shape, ListShape):
                path, shape = (*path, 0), shape.member
            for name, member in getattr(shape, "members", {}).items():
                out.append(((*path, name), member.type_name))
                below.append(((*path, name), member))
        level = below
    return out


ASFF_PATHS = _asff_paths()
_NUMBERS = [float("inf"), float("-inf"), float("nan"), 10**30, -1, 2**63, 1.5, True, "7"]
ADVERSARIAL: dict[str, st.SearchStrategy[Any]] = {
    "integer": st.one_of(st.sampled_from(_NUMBERS), st.integers()),
    "long": st.one_of(st.sampled_from(_NUMBERS), st.integers()),
    "double": st.one_of(st.sampled_from(_NUMBERS), st.floats()),
    "float": st.one_of(st.sampled_from(_NUMBERS), st.floats()),
    "string": st.one_of(
        st.sampled_from(["", " ", "\ud800", "2026-13-45T99:99:99Z", 5, None, [], {}]),
        st.integers(0, 40000).map(lambda n: "x" * n),
        st.text(max_size=20),
    ),
    "boolean": st.sampled_from([True, False, "true", 1, None]),
    "list": st.one_of(
        st.sampled_from([[], "x", {}, None]),
        st.integers(2, 120).map(lambda n: ["Software and Configuration Checks"] * n),
        st.lists(json_values, max_size=4),
    ),
    "structure": st.one_of(st.sampled_from([{}, [], "x", None]), json_values),
    "map": st.one_of(
        st.sampled_from([{}, [], "x"]),
        st.integers(40, 80).map(lambda n: {f"k{i}": "v" for i in range(n)}),
        st.dictionaries(st.text(max_size=200), json_values, max_size=4),
    ),
}


@st.composite
def asff_findings(draw: st.DrawFn, max_changes: int = 3) -> Any:
    """The valid sample finding with a few ASFF fields set to values that break their type
    or limits (NaN and Infinity in numbers, blank or huge strings, long lists...)."""
    finding = copy.deepcopy(load_fixture(SAMPLES["asff"]))
    for _ in range(draw(st.integers(1, max_changes))):
        path, kind = draw(st.sampled_from(ASFF_PATHS))
        node: Any = finding
        for step in path[:-1]:
            if isinstance(step, int):
                if not isinstance(node, list) or not node:
                    break
                node = node[0]
            else:
                if not isinstance(node, dict):
                    break
                node = node.setdefault(step, [{}] if kind == "list" else {})
        else:
            if isinstance(node, dict):
                # A copy: sampled_from hands out the same {} or [] object every time, and
                # outside JSON never holds one object twice (nor a cycle).
                node[path[-1]] = copy.deepcopy(draw(ADVERSARIAL.get(kind, json_values)))
    return finding


def documents(sample: str) -> st.SearchStrategy[Any]:
    """Any JSON value, mutations of the sample, and either as hostile bytes."""
    parsed = st.one_of(json_values, mutated(load_fixture(SAMPLES[sample])))
    return st.one_of(parsed, hostile.raw(st.one_of(parsed, _fresh(SAMPLES[sample]))))


def _fresh(fixture: str) -> st.SearchStrategy[Any]:
    """A new copy of a fixture each time (hostile.raw changes what it is given)."""
    return st.builds(load_fixture, st.just(fixture))


@st.composite
def text_edits(draw: st.DrawFn, text: str, max_edits: int = 4) -> str:
    """`text` with a few characters inserted, deleted or replaced."""
    for _ in range(draw(st.integers(1, max_edits))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.integers(0, 2))
        piece = draw(st.text(max_size=3))
        if kind == 0:
            text = text[:at] + piece + text[at:]
        elif kind == 1:
            text = text[:at] + text[at + draw(st.integers(1, 20)) :]
        else:
            text = text[:at] + piece + text[at + len(piece) :]
    return text


VALID_BODY = message.encode([load_fixture("findings/valid.json")])
_envelopes = st.builds(
    lambda findings: {"version": 1, "findings": findings},
    st.lists(st.one_of(_fresh("findings/valid.json"), asff_findings()), min_size=1, max_size=3),
)
message_bodies = st.one_of(
    hostile.texts(_envelopes),
    st.text(max_size=200),
    json_values.map(lambda v: json.dumps(v)),
    st.builds(
        lambda findings: json.dumps({"version": 1, "findings": findings}),
        st.lists(
            st.one_of(json_values, mutated(load_fixture("findings/valid.json")), asff_findings()),
            max_size=4,
        ),
    ),
    text_edits(VALID_BODY),
)


# --- targets -----------------------------------------------------------------------------

# No RecursionError: what reaches a parser went through hubrelay.loading (depth 64).
PARSE_ERRORS = (MappingError, ValueError)
MAP_ERRORS = (ValueError,)  # sources/__init__.py: MappingError "or any ValueError"


def read(value: Any) -> tuple[bool, Any]:
    """(True, the document) as production reads `value`: a Raw through hubrelay.loading,
    a parsed value as it is; (False, None) when the loading policy refused it, clearly."""
    if not isinstance(value, Raw):
        return True, value
    try:
        return True, hostile.load(value)
    except loading.LoadError as error:
        _refused_clearly(error)
        return False, None


def _refused_clearly(error: loading.LoadError) -> None:
    STATS.refusal(error)
    assert_clear(error, (loading.LoadError,))
    assert str(error).startswith(f"{hostile.WHAT}: "), error  # names the record


def queue_message(body: str) -> None:
    try:
        findings = message.decode(body)
    except message.MessageError as error:
        if isinstance(error.__cause__, loading.LoadError):
            STATS.refusal(error.__cause__)
        assert_clear(error, (message.MessageError,))
        return
    assert findings
    assert all(isinstance(f, dict) for f in findings)


class _Quarantine:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.entries += Entries
        return {"Successful": [{"Id": e["Id"]} for e in Entries], "Failed": []}


def _securityhub() -> Any:
    """A real botocore client (so its parameter validation runs) answering every
    BatchImportFindings with success, without any network."""
    from hubrelay_emulator.securityhub import client_for

    client = client_for("123456789012", "us-east-1")

    def accept(params: Mapping[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        # `params` is the serialized request: botocore validated it on the way.
        count = len(json.loads(params["body"])["Findings"])
        parsed = {"FailedCount": 0, "SuccessCount": count, "FailedFindings": []}
        return AWSResponse("https://securityhub.local", 200, {}, None), parsed

    client.meta.events.register("before-call.securityhub.BatchImportFindings", accept)
    return client


_CLIENT: list[Any] = []


def importer(bodies: list[str]) -> None:
    """Queue messages through the importer: every finding imported or quarantined with a
    code and a reason; nothing raised, nothing left unresolved."""
    if not _CLIENT:
        _CLIENT.append(_securityhub())
    quarantine = _Quarantine()
    records = [(f"m{i}", body, 1) for i, body in enumerate(bodies)]
    outcome = import_records(
        records,
        Settings(quarantine_queue_url="https://sqs.local/q"),
        ImporterServices(securityhub=lambda region: _CLIENT[0], sqs=quarantine),
        retry=Retry(max_attempts=8, sleep=lambda seconds: None),
    )
    assert not outcome.unresolved
    assert not outcome.failed_messages
    for q in outcome.quarantined:
        assert q.code.strip(), q
        assert q.reason.strip(), q
        # Named by its Id; a finding whose Id is blank is named by the reason that says so.
        assert q.finding_id.strip() or "Id" in q.reason, q
        if q.code == "InvalidFinding":
            assert q.reason.startswith("finding "), q.reason  # names the finding and field
    assert len(quarantine.entries) == len(outcome.quarantined)


def _mapper(kind: str) -> Callable[[Record, Context], list[dict[str, Any]]]:
    if kind == "health":
        return health.map_event
    if kind == "vendor":
        return vendor_api.map_record
    return scanner_reports.MAPPERS[kind]


def _map_all(records: list[Record]) -> None:
    """Each record mapped as the collector maps it; every finding run through validation."""
    for record in records:
        try:
            mapped = _mapper(record.kind)(record, CTX)
        except Exception as error:
            assert_clear(error, MAP_ERRORS)
            continue
        for finding in mapped:
            for violation in asff.validate_finding(finding):
                assert violation.path
                assert violation.reason


def scanner_report(fmt: str) -> Callable[[Any], None]:
    def target(value: Any) -> None:
        readable, document = read(value)
        if not readable:
            return
        try:
            records, _, errors = scanner_reports.parse_report(document, "fuzz", "f", fmt)
        except Exception as error:
            assert_clear(error, PARSE_ERRORS)
            return
        assert all(position and reason for position, reason in errors)
        _map_all(records)

    target.__name__ = fmt
    return target


def asff_passthrough(value: Any) -> None:
    """Format detection, then ASFF findings as a report, re-stamped and validated."""
    readable, document = read(value)
    if not readable:
        return
    try:
        _records, errors = files.read_records(document, None, "fuzz")
    except Exception as error:
        assert_clear(error, PARSE_ERRORS)
    else:
        assert all(position and reason for position, reason in errors)
    scanner_report("asff")(document)
    # The validator itself takes outside input in the importer: it must only report.
    for violation in asff.validate_finding(document):
        assert violation.path
        assert violation.reason


_MAPPING: list[vendor_api.VendorMapping] = []


class _Pages:
    """The vendor API: answers the fuzzed page once, then an empty last page."""

    def __init__(self, body: bytes) -> None:
        self.bodies = [body]

    def request(self, method: str, url: str, **_: Any) -> http.Response:
        body = self.bodies.pop() if self.bodies else b'{"findings": []}'
        return http.Response(200, {}, body)


def vendor_page(page: Any) -> None:
    if not _MAPPING:
        _MAPPING.append(vendor_api.VendorMapping.load())
    # As served: ASCII-escaped JSON (lone surrogates and NaN included), or hostile bytes.
    body = page.data if isinstance(page, Raw) else json.dumps(page).encode()
    source = vendor_api.VendorApiSource(
        "https://vendor.example/api/findings",
        _MAPPING[0],
        _Pages(body),
        {},  # type: ignore[arg-type]
    )
    units = []
    try:
        for unit in source.collect({}):
            units.append(unit)
            if len(units) >= 3:  # the fake API ends after two pages; a bug might not
                break
    except Exception as error:
        assert_clear(error, (SourceError,))
    for unit in units:
        assert unit.label
        assert all(position and reason for position, reason in unit.errors)
        if unit.errors and not unit.records:  # the page the loading policy refused
            STATS.refusal(loading.LoadError("vendor page", "refused", kind="page"))
        _map_all(unit.records)


def health_eventbridge(value: Any) -> None:
    readable, event = read(value)
    if not readable:
        return
    try:
        records, _ = files.read_records(event, "health", "fuzz")
    except Exception as error:
        assert_clear(error, MAP_ERRORS)
        return
    _map_all(records)


def health_api(pair: list[Any]) -> None:
    """[DescribeEventDetails item, its DescribeAffectedEntities entities], as the collector
    reads them (boto3 gives an object and a list; the contents are the event's)."""
    detail, entities = pair
    if not isinstance(detail, Mapping) or not isinstance(entities, list):
        return  # boto3 parses these shapes itself: not outside input
    try:
        native = health.from_api(detail, entities, "123456789012")
    except Exception as error:
        assert_clear(error, MAP_ERRORS)
        return
    _map_all([Record(native, "health:fuzz", "health", health.SCOPE)])


ROUTE_CONFIG = routing.RouteConfig.from_settings(
    Settings(
        webhook_action_arn="arn:aws:securityhub:us-east-1:111111111111:action/custom/hubrelayHook",
        sns_action_arn="arn:aws:securityhub:us-east-1:111111111111:action/custom/hubrelaySns",
        webhook_secret_arn="hubrelay/webhook",
        sns_topic_arn="arn:aws:sns:us-east-1:111111111111:t",
        opscenter_enabled=True,
        vendor_back_sync=True,
        vendor_secret_arn="hubrelay/vendor",
        auto_route=True,
        auto_route_destinations="sns,opscenter,webhook,vendor,ticket",
        auto_route_min_severity="LOW",
        # Both Security Hubs: the OCSF reader of Findings Imported V2 is fuzzed too.
        securityhubs="Both",
        ticket_connector_id="4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
    )
)


def eventbridge_event(value: Any) -> None:
    """Custom-action, Imported and Findings Imported V2 events: decide() rejects with a
    reason, never raises.
    A Raw is a queued event of the automatic route, read as the responder reads it."""
    readable, event = read(value)
    if not readable:
        return
    decision = routing.decide(event, ROUTE_CONFIG)
    assert decision.reason.strip()
    assert all(why.strip() for _, why in decision.rejected)
    assert all(why.strip() for _, why in decision.skipped)
    for delivery in routing.plan_deliveries(decision, ROUTE_CONFIG):
        assert delivery.findings
        assert delivery.payload


_events = st.one_of(
    json_values,
    st.sampled_from(EVENTS).flatmap(lambda name: mutated(load_fixture(f"events/{name}"))),
)
# Lambda's runtime parses a direct event with Python's json; a queued one is text.
events = st.one_of(_events, hostile.with_values(_events), hostile.raw(_events))
_health_events = st.one_of(
    json_values,
    st.sampled_from(load_fixture(SAMPLES["health"])).flatmap(lambda e: mutated(e)),
)
health_events = st.one_of(_health_events, hostile.raw(_health_events))
_vendor_pages = st.one_of(
    json_values,
    mutated({"findings": load_fixture(SAMPLES["vendor"]), "next": None}),
)
vendor_pages = st.one_of(_vendor_pages, hostile.raw(_vendor_pages))
health_details = st.tuples(
    st.one_of(
        st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4),
        st.sampled_from(load_fixture(SAMPLES["health"])).flatmap(
            lambda e: mutated(
                {
                    "event": health.from_eventbridge(e)["event"],
                    "eventDescription": {"latestDescription": "An event."},
                }
            )
        ),
    ),
    st.lists(
        st.one_of(json_values, st.dictionaries(st.sampled_from(KEYS), json_values)), max_size=3
    ),
).map(list)

# name -> (target, inputs): what test_parsers.py fuzzes and test_regressions.py replays.
TARGETS: dict[str, tuple[Callable[[Any], None], st.SearchStrategy[Any]]] = {
    "queue-message": (queue_message, message_bodies),
    "importer": (importer, st.lists(message_bodies, min_size=1, max_size=4)),
    "sarif": (scanner_report("sarif"), documents("sarif")),
    "trivy": (scanner_report("trivy"), documents("trivy")),
    "trivy-k8s": (scanner_report("trivy"), documents("trivy-k8s")),
    "grype": (scanner_report("grype"), documents("grype")),
    "asff": (
        asff_passthrough,
        st.one_of(
            documents("asff"),
            asff_findings(),
            hostile.with_values(asff_findings()),  # findings built in code
            st.lists(asff_findings(), min_size=1, max_size=3).map(lambda f: {"Findings": f}),
        ),
    ),
    "vendor-page": (vendor_page, vendor_pages),
    "health-eventbridge": (health_eventbridge, health_events),
    "health-api": (health_api, st.one_of(health_details, hostile.with_values(health_details))),
    "eventbridge-event": (eventbridge_event, events),
}
