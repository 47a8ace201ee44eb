"""The one ASFF builder and validator.

Validation has two layers. botocore's own ParamValidator checks what the client would
check (required members, types, minimums). A walk over botocore's Security Hub model then
checks what the client does not (enums, the "not blank" pattern, model lengths), and a table
of the documented limits that are only in the API reference (Title 256, Description 1024,
map sizes, counts, 240 KB per finding, ...). Every violation names the finding Id, the
field path, the limit and the size of the value.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape
from botocore.validate import ParamValidator

from hubrelay import asff_model, loading
from hubrelay.errors import PermanentError
from hubrelay.settings import MAX_FINDING_BYTES

SCHEMA_VERSION = "2018-10-08"
NAMESPACES = (
    "Software and Configuration Checks",
    "TTPs",
    "Effects",
    "Unusual Behaviors",
    "Sensitive Data Identifications",
)
SEVERITY_LABELS = ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL")
# A finding's identity in Security Hub CSPM: (ProductArn, Id), the AwsSecurityFindingIdentifier
# of https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_AwsSecurityFindingIdentifier.html
FindingKey = tuple[str, str]
TRUNCATION_MARKER = "(truncated)"
MAX_STRING_CHARS = 32_768

# Documented limits that botocore's model does not carry. Paths use `[]` for list items
# and `{}` for map values, so one entry covers every index and key.
# Every one of them is at least one character long, like any non-blank ASFF string.
MAX_LENGTHS: dict[str, int] = {
    "Id": 512,
    "GeneratorId": 512,
    "Title": 256,
    "Description": 1024,
    "Severity.Original": 64,
    "FindingProviderFields.Severity.Original": 64,
    "Remediation.Recommendation.Text": 512,
    "Note.Text": 512,
    "Resources[].Type": 256,
    "Resources[].Region": 16,
    "ProductFields{}": 2048,
    "UserDefinedFields{}": 1024,
    # The reference says "under 1024 characters" for Details.Other values.
    "Resources[].Details.Other{}": 1023,
}
MAP_KEY_LENGTHS: dict[str, int] = {
    "ProductFields": 128,
    "UserDefinedFields": 128,
    "Resources[].Details.Other": 128,
}
# Documented item counts: at most the key, at least none (Resources: at least one).
_MAX_ITEMS = {
    50: "Types FindingProviderFields.Types ProductFields UserDefinedFields"
    " Resources[].Details.Other",
    32: "Resources Threats Compliance.RelatedRequirements",
    10: "RelatedFindings FindingProviderFields.RelatedFindings",
    5: "Malware ThreatIntelIndicators",
}
COUNTS: dict[str, tuple[int, int]] = {
    path: (int(path == "Resources"), limit)
    for limit, paths in _MAX_ITEMS.items()
    for path in paths.split()
}
# Integers from 0 to 100.
PERCENT_FIELDS = frozenset(
    {"Confidence", "Criticality", "Severity.Normalized"}
    | {"FindingProviderFields.Confidence", "FindingProviderFields.Criticality"}
)
PARTITIONS = ("aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f")
# A product ARN is arn:<partition>:securityhub:<region>:<account>:product/<company>/<product>,
# and the account is either 12 digits or empty. Empty is how Security Hub names every AWS
# service product (arn:aws:securityhub:us-east-1::product/aws/guardduty) and many partner
# products, Trivy's among them (arn:aws:securityhub:<REGION>::product/aquasecurity/aquasecurity,
# "Available third-party partner product integrations",
# https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-partner-providers.html).
# Other partner products carry the partner's account, and the private default product of a
# custom integration always carries the customer's: product/<account>/default ("Integrating
# Security Hub CSPM with custom products",
# https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-custom-providers.html).
# Use parse_product_arn; the pattern stays public for callers that match on it.
PRODUCT_ARN_RE = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):securityhub:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+):"
    r"(?P<account>(?:\d{12})?):product/(?P<company>[A-Za-z0-9_.-]+)/(?P<product>[A-Za-z0-9_.-]+)"
)
# The company of every AWS service's product (GuardDuty, Inspector, Security Hub itself...).
AWS_COMPANY = "aws"
ACCOUNT_RE = re.compile(r"\d{12}")
TIMESTAMP_RE = re.compile(
    # Seconds 00-59 (a leap second cannot be compared, so it is refused) and an offset of
    # at most +/-18:00.
    r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(\.\d{1,9})?(Z|[+-]((0\d|1[0-7])(:?[0-5]\d)?|18(:?00)?))"
)
NOT_BLANK_RE = re.compile(r".*\S.*", re.DOTALL)


@dataclass(frozen=True)
class Violation:
    """One broken rule in one finding."""

    finding_id: str
    path: str
    reason: str
    limit: str = ""
    size: int | None = None

    def __str__(self) -> str:
        detail = f"limit {self.limit}" if self.limit else ""
        if self.size is not None:
            detail = f"{detail}, got {self.size}" if detail else f"got {self.size}"
        return f"finding {self.finding_id!r}: {self.path}: {self.reason}" + (
            f" ({detail})" if detail else ""
        )


class InvalidFindingError(PermanentError, ValueError):
    """A finding Security Hub would refuse; `violations` says every way it breaks ASFF."""

    def __init__(self, violations: list[Violation]) -> None:
        super().__init__("; ".join(str(v) for v in violations))
        self.violations = violations


# json.dumps' own encoder but for its check for circular references: a dict of the id of
# every container it is inside, a tenth of the time of dumping a finding. A structure that
# does contain itself recurses instead, to RecursionError, and is then dumped by json.dumps
# itself, which says what it always said (ValueError: Circular reference detected).
_dump_acyclic = json.JSONEncoder(check_circular=False).encode


def finding_json(finding: Any) -> str:
    """json.dumps(finding), the same text and the same errors, a tenth faster."""
    try:
        return _dump_acyclic(finding)
    except RecursionError:
        return json.dumps(finding)


def finding_size(finding: Mapping[str, Any]) -> int:
    """Bytes of the finding as botocore puts it on the wire (json.dumps, ASCII-escaped)."""
    return len(finding_json(finding))


@cache
def finding_shape() -> StructureShape:
    """botocore's model of AwsSecurityFinding (read once per process, hubrelay.asff_model)."""
    shape = asff_model.shape("AwsSecurityFinding")
    assert isinstance(shape, StructureShape)
    return shape


@cache
def _request_shape() -> Shape:
    return asff_model.shape(asff_model.ROOT_SHAPE)


_MISSING_RE = re.compile(r'Missing required parameter in Findings\[0\]\.?(\S*): "(\w+)"')
_PARAM_RE = re.compile(r"parameter Findings\[0\]\.?([^,\s]*)")


def _botocore_violations(finding: Mapping[str, Any], fid: str) -> list[Violation]:
    report = ParamValidator().validate({"Findings": [finding]}, _request_shape())
    if not report.has_errors():
        return []
    out = []
    for line in report.generate_report().splitlines():
        if missing := _MISSING_RE.search(line):
            parent, member = missing.groups()
            out.append(Violation(fid, f"{parent}.{member}" if parent else member, "required"))
            continue
        match = _PARAM_RE.search(line)
        path = (match.group(1) if match else "") or "(finding)"
        out.append(Violation(fid, path, f"botocore: {line.strip()}"))
    return out


def validate_finding(
    finding: Any,
    *,
    max_finding_bytes: int = MAX_FINDING_BYTES,
    expected_region: str | None = None,
) -> list[Violation]:
    """Every way `finding` breaks the ASFF contract; an empty list means it may be sent."""
    if not loading.is_mapping(finding):
        return [Violation("?", "(finding)", f"not a JSON object but {type(finding).__name__}")]
    fid = finding.get("Id")
    fid = fid[:120] if isinstance(fid, str) else "?"
    out: list[Violation] = []
    # The compiled check accepts nothing structure_problem refuses, and recurses no deeper
    # than loading.MAX_DEPTH containers, so it may run first.
    bound = _accepts()(finding)
    if not bound:
        if unreadable := loading.structure_problem(finding):
            # A finding built in code may hold what the loader refuses (hubrelay.loading):
            # nesting deeper than anything below can recurse through, an integer float() or
            # str() cannot convert. It is reported alone, before any of them runs.
            reason, path = unreadable
            return [Violation(fid, path, reason)]
        # Only a finding the compiled check does not accept pays for the model walks, which
        # say exactly what is wrong (the compiled check only says whether).
        out = _botocore_violations(finding, fid)
        _walk(finding, finding_shape(), "", "", fid, out)
    out.extend(_rules(finding, fid, expected_region))
    # The exact size only when the compiled check's bound does not already say it is under.
    if not bound or bound > max_finding_bytes:
        size = finding_size(finding)
        if size > max_finding_bytes:
            limit = f"{max_finding_bytes} B"
            out.append(Violation(fid, "(finding)", "finding too large", limit, size))
    return out


def check_finding(finding: Any, **kwargs: Any) -> None:
    """Raise InvalidFindingError when the finding is not valid."""
    violations = validate_finding(finding, **kwargs)
    if violations:
        raise InvalidFindingError(violations)


def _walk(value: Any, shape: Shape, path: str, spath: str, fid: str, out: list[Violation]) -> None:
    # Type errors are botocore's to report; here we only look inside well-typed values.
    if isinstance(shape, StructureShape):
        if isinstance(value, Mapping):
            for key, member_value in value.items():
                member = shape.members.get(key)
                if member is not None:
                    sub = f"{path}.{key}" if path else key
                    _walk(member_value, member, sub, f"{spath}.{key}" if spath else key, fid, out)
        return
    if isinstance(shape, ListShape):
        if isinstance(value, list):
            _count(value, spath, path, fid, out)
            for i, item in enumerate(value):
                _walk(item, shape.member, f"{path}[{i}]", f"{spath}[]", fid, out)
        return
    if isinstance(shape, MapShape):
        if isinstance(value, Mapping):
            _count(value, spath, path, fid, out)
            key_max = MAP_KEY_LENGTHS.get(spath)
            for key, item in value.items():
                if key_max is not None and isinstance(key, str) and len(key) > key_max:
                    out.append(
                        Violation(
                            fid, f"{path}[{key[:40]!r}]", "key too long", str(key_max), len(key)
                        )
                    )
                if isinstance(key, str) and not NOT_BLANK_RE.fullmatch(key):
                    out.append(Violation(fid, f"{path}[{key!r}]", "blank key"))
                _walk(item, shape.value, f"{path}[{str(key)[:40]!r}]", f"{spath}{{}}", fid, out)
        return
    if shape.type_name == "string" and isinstance(value, str):
        _string(value, shape, path, spath, fid, out)
    elif shape.type_name in ("integer", "long", "double", "float") and isinstance(
        value, int | float
    ):
        if isinstance(value, float) and not math.isfinite(value):
            # NaN or Infinity (a finding built in code: the loader refuses them); botocore
            # cannot send either. An int is always finite, and isfinite() of one too large
            # for a float raises OverflowError.
            out.append(Violation(fid, path, "not a finite number"))
            return
        if spath in PERCENT_FIELDS:
            low, high = 0, 100
        else:
            low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if (low is not None and value < low) or (high is not None and value > high):
            out.append(Violation(fid, path, "out of range", f"{low}..{high}", int(value)))


def _count(value: Any, spath: str, path: str, fid: str, out: list[Violation]) -> None:
    low, high = COUNTS.get(spath, (0, 0))
    if len(value) < low or (high and len(value) > high):
        limit = f"{low}..{high} items" if high else f">= {low} items"
        out.append(Violation(fid, path, "wrong number of items", limit, len(value)))


def _string(
    value: str, shape: Shape, path: str, spath: str, fid: str, out: list[Violation]
) -> None:
    size = len(value)
    enum = shape.enum
    if enum and value not in enum:
        out.append(Violation(fid, path, f"not one of {', '.join(enum)}", size=size))
        return
    if shape.metadata.get("pattern") and not NOT_BLANK_RE.fullmatch(value):
        out.append(Violation(fid, path, "blank string", "not blank", size))
        return
    if spath in MAX_LENGTHS:
        low, high = 1, MAX_LENGTHS[spath]
    else:
        low, high = shape.metadata.get("min", 0), shape.metadata.get("max")
    if size < low or (high is not None and size > high):
        out.append(Violation(fid, path, "wrong length", f"{low}..{high} characters", size))
    elif size > MAX_STRING_CHARS:
        out.append(Violation(fid, path, "field too long", f"{MAX_STRING_CHARS} characters", size))
    if spath.rsplit(".", 1)[-1].endswith("At") and not TIMESTAMP_RE.fullmatch(value):
        out.append(Violation(fid, path, "not an RFC 3339 timestamp", size=size))


def _rules(finding: Mapping[str, Any], fid: str, expected_region: str | None) -> list[Violation]:
    out: list[Violation] = []
    if finding.get("SchemaVersion") not in (None, SCHEMA_VERSION):
        out.append(Violation(fid, "SchemaVersion", f"must be {SCHEMA_VERSION}"))
    account = finding.get("AwsAccountId")
    if isinstance(account, str) and not ACCOUNT_RE.fullmatch(account):
        out.append(
            Violation(fid, "AwsAccountId", "not a 12-digit account id", "12 digits", len(account))
        )
    arn = finding.get("ProductArn")
    if isinstance(arn, str):
        parsed = _parsed_product_arn(arn)
        if parsed is None:
            out.append(
                # The value itself (an ARN holds no secret): its length told nothing.
                Violation(
                    fid,
                    "ProductArn",
                    f"{arn[:200]!r} is not arn:<partition>:securityhub:<region>:"
                    "<12-digit account or none>:product/<co>/<product>",
                )
            )
        elif expected_region and parsed.region != expected_region:
            out.append(Violation(fid, "ProductArn", f"Region is not {expected_region}"))
    provider = finding.get("FindingProviderFields")
    if not loading.is_mapping(provider):
        provider = {}
    if not (_has_label(finding.get("Severity")) or _has_label(provider.get("Severity"))):
        out.append(Violation(fid, "Severity", "missing Severity.Label (or Normalized)"))
    provider_types = ("FindingProviderFields.Types", provider.get("Types"))
    for field, types in (("Types", finding.get("Types")), provider_types):
        if isinstance(types, list):
            for i, value in enumerate(types):
                if isinstance(value, str) and not _valid_type(value):
                    out.append(
                        Violation(
                            fid,
                            f"{field}[{i}]",
                            "not namespace/category/classifier with a known namespace",
                            size=len(value),
                        )
                    )
    return out


def _has_label(severity: Any) -> bool:
    return loading.is_mapping(severity) and ("Label" in severity or "Normalized" in severity)


# A run's findings share a few product ARNs and Types: each is read once (frozen results).
@lru_cache(maxsize=1024)
def _parsed_product_arn(arn: str) -> ProductArn | None:
    return parse_product_arn(arn)


@lru_cache(maxsize=4096)
def _valid_type(value: str) -> bool:
    return is_valid_type(value)


# --- the compiled validator: the same rules, generated once from the model ---------------
#
# botocore's ParamValidator and _walk re-read the model for every value of every finding.
# `_accepts` is the same rules compiled into closures, one per (shape, path), each built the
# first time a value reaches it (the model has thousands of shapes; a finding uses a few
# dozen) and then put in its parent's slot, so a value costs one call. It only says whether
# a finding passes both; a finding it does not accept goes through ParamValidator and _walk
# as before, so every message is theirs. It accepts strictly less than they do (any type
# botocore could coerce, a tuple for a list, a document member: not accepted), never more:
# tests/unit/test_asff_compiled.py. It also accepts nothing that hubrelay.loading's
# structure_problem refuses (containers nested deeper than loading.MAX_DEPTH, integers
# outside loading's bound), so a finding it accepts needs no walk of its own for that.
#
# What a check returns is 0 for a value it does not accept and otherwise an upper bound of
# the bytes of the value in json.dumps (finding_size's form): so a finding well under
# max_finding_bytes is not serialized only to be measured. The bounds: a string at most 12
# bytes a character (an astral character is a \\uXXXX\\uXXXX pair; ensure_ascii) and its
# quotes, an integer within loading's bound 65, a float's repr 24 (32 here), a member or
# key its quoted name, ": " and ", ". A member's name is in its own check's bound (the
# `extra` it is compiled with), so a structure adds up its members and counts nothing
# else: summing its keys' lengths was a fifth of the check.

Check = Callable[[Any], int]
_INT_BYTES = loading.MAX_INT_DIGITS + 1  # a sign and 64 digits
_FLOAT_BYTES = 32  # repr of a float is at most 24 characters (-2.2250738585072014e-308)


def _has_text(value: str) -> bool:
    """The same as NOT_BLANK_RE.fullmatch (DOTALL): a character that is not whitespace.
    str.isspace and the regex's \\s are the same test (Py_UNICODE_ISSPACE), so this is
    exact; it costs a third of a regex search on the strings of every finding."""
    return bool(value) and not value.isspace()


_INT_BOUND = 10**loading.MAX_INT_DIGITS  # loading refuses an integer this large or larger


def _never(value: Any) -> int:
    return 0


def _boolean(extra: int) -> Check:
    size = 5 + extra  # false

    def check(value: Any) -> int:
        return size if type(value) is bool else 0

    return check


def _lazy(shape: Shape, spath: str, depth: int, slots: Any, slot: Any, extra: int = 0) -> Check:
    """A check compiled on its first call (shapes may be recursive; most are never
    reached), which then replaces itself in `slots[slot]`: later values skip this step."""

    def first(value: Any) -> int:
        built = _compile(shape, spath, depth, extra)
        slots[slot] = built
        return built(value)

    return first


def _compile(shape: Shape, spath: str, depth: int, extra: int = 0) -> Check:
    """The check of a value of `shape` at `spath`, a container there being at `depth`
    (the finding itself is at 1, as in loading's walk). `extra`: bytes its bound carries
    for what surrounds the value in its parent (a member's quoted name, ": " and ", "),
    so that a structure adds no count of its own."""
    if getattr(shape, "is_document_type", False):
        return _never
    if isinstance(shape, StructureShape | ListShape | MapShape) and depth > loading.MAX_DEPTH:
        return _never  # loading.structure_problem refuses it: the slow path reports it
    if isinstance(shape, StructureShape):
        return _compile_structure(shape, spath, depth, extra)
    if isinstance(shape, ListShape):
        return _compile_list(shape, spath, depth, extra)
    if isinstance(shape, MapShape):
        return _compile_map(shape, spath, depth, extra)
    if shape.type_name == "string":
        return _compile_string(shape, spath, extra)
    if shape.type_name in ("integer", "long", "double", "float"):
        return _compile_number(shape, spath, extra)
    if shape.type_name == "boolean":
        return _boolean(extra)
    return _never  # blob, timestamp: none in a finding that passes quickly


def _compile_structure(shape: StructureShape, spath: str, depth: int, extra: int) -> Check:
    members: dict[str, Check] = {}
    for name, member in shape.members.items():
        sub = f"{spath}.{name}" if spath else name
        # Every key is a member name (ASCII): "key": ..., for each, in the member's bound.
        members[name] = _lazy(member, sub, depth + 1, members, name, len(name) + 6)
    required = frozenset(shape.required_members)
    get = members.get

    def check(value: Any) -> int:
        if type(value) is not dict or (required and not value.keys() >= required):
            return 0
        total = 2 + extra
        for key, item in value.items():
            member = get(key)
            if member is None:
                return 0
            size = member(item)
            if not size:
                return 0
            total += size
        return total

    return check


def _compile_list(shape: ListShape, spath: str, depth: int, extra: int) -> Check:
    cell: list[Check] = []
    cell.append(_lazy(shape.member, f"{spath}[]", depth + 1, cell, 0))
    low, high = COUNTS.get(spath, (0, 0))
    low = max(low, int(shape.metadata.get("min", 0)))
    high = high or sys.maxsize

    def check(value: Any) -> int:
        if type(value) is not list or not low <= len(value) <= high:
            return 0
        item_check, total = cell[0], 2 + extra
        for item in value:
            size = item_check(item)
            if not size:
                return 0
            total += size
        return total + 2 * len(value)

    return check


def _compile_map(shape: MapShape, spath: str, depth: int, extra: int) -> Check:
    cell: list[Check] = []
    cell.append(_lazy(shape.value, f"{spath}{{}}", depth + 1, cell, 0))
    low, high = COUNTS.get(spath, (0, 0))
    low = max(low, int(shape.metadata.get("min", 0)))
    high = high or sys.maxsize
    key_max = MAP_KEY_LENGTHS.get(spath, sys.maxsize)
    key_min = int(shape.key.metadata.get("min", 0))

    def check(value: Any) -> int:
        if type(value) is not dict or not low <= len(value) <= high:
            return 0
        value_check, total = cell[0], 2 + extra
        for key, item in value.items():
            # Not blank: _has_text, inlined (as in the string checks below).
            if type(key) is not str or not key_min <= len(key) <= key_max or not key:
                return 0
            if key.isspace():
                return 0
            size = value_check(item)
            if not size:
                return 0
            total += size
        return total + 12 * sum(map(len, value)) + 6 * len(value)

    return check


def _compile_string(shape: Shape, spath: str, extra: int) -> Check:
    enum = frozenset(shape.enum or ())
    not_blank = bool(shape.metadata.get("pattern"))
    model_min = int(shape.metadata.get("min", 0))
    if spath in MAX_LENGTHS:
        low, high = 1, MAX_LENGTHS[spath]
    else:
        low, high = model_min, shape.metadata.get("max")
    low = max(low, model_min)  # botocore's own check of the model's minimum
    high = min(MAX_STRING_CHARS, high) if high is not None else MAX_STRING_CHARS
    timestamp_field = spath.rsplit(".", 1)[-1].endswith("At")
    if enum:
        # Every enum value non-blank and within the lengths: membership says it all.
        if not timestamp_field and all(low <= len(v) <= high and _has_text(v) for v in enum):
            quoted = 2 + extra
            return lambda value: (
                12 * len(value) + quoted if type(value) is str and value in enum else 0
            )
        rules = _compile_string_rules(low, high, not_blank, timestamp_field, extra)
        return lambda value: rules(value) if type(value) is str and value in enum else 0
    return _compile_string_rules(low, high, not_blank, timestamp_field, extra)


def _compile_string_rules(
    low: int, high: int, not_blank: bool, timestamp_field: bool, extra: int
) -> Check:
    """Type, length, "not blank" and timestamp form, specialised to the rules that apply.
    "Not blank" is _has_text inlined: a character, and not all of them whitespace."""
    stamp = TIMESTAMP_RE.fullmatch
    quoted = 2 + extra
    if timestamp_field:

        def stamped(value: Any) -> int:
            if type(value) is not str:
                return 0
            size = len(value)
            if not low <= size <= high:
                return 0
            if (not_blank and (not size or value.isspace())) or stamp(value) is None:
                return 0
            return 12 * size + quoted

        return stamped
    if not_blank:

        def text(value: Any) -> int:
            if type(value) is not str:
                return 0
            size = len(value)
            if not low <= size <= high or not size or value.isspace():
                return 0
            return 12 * size + quoted

        return text

    def sized(value: Any) -> int:
        if type(value) is not str:
            return 0
        size = len(value)
        return 12 * size + quoted if low <= size <= high else 0

    return sized


def _compile_number(shape: Shape, spath: str, extra: int) -> Check:
    integral = shape.type_name in ("integer", "long")
    if spath in PERCENT_FIELDS:
        low, high = 0, 100
    else:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
    model_min = shape.metadata.get("min")
    # loading's bound on integers (structure_problem refuses those outside it).
    int_low, int_high = 1 - _INT_BOUND, _INT_BOUND - 1
    for bound in (low, model_min):
        if bound is not None:
            int_low = max(int_low, bound)
    if high is not None:
        int_high = min(int_high, high)
    float_low = -math.inf if low is None else low
    float_low = float_low if model_min is None else max(float_low, model_min)
    float_high = math.inf if high is None else high
    int_bytes, float_bytes = _INT_BYTES + extra, _FLOAT_BYTES + extra

    def check(value: Any) -> int:
        kind = type(value)
        if kind is int:
            return int_bytes if int_low <= value <= int_high else 0
        if kind is not float or integral:
            return 0
        # NaN fails the comparisons; an infinity within infinite bounds fails isfinite.
        ok = float_low <= value <= float_high and math.isfinite(value)
        return float_bytes if ok else 0

    return check


@cache
def _accepts() -> Check:
    """The compiled check of a whole finding, as the one element of Findings."""
    return _compile(finding_shape(), "", 1)


# --- helpers that mappers use so they never build an invalid finding -----------------


def is_valid_type(value: str) -> bool:
    parts = value.split("/")
    return (
        1 <= len(parts) <= 3
        and parts[0] in NAMESPACES
        and all(NOT_BLANK_RE.fullmatch(p) for p in parts)
    )


def normalize_type(raw: str, fallback: str = "Software and Configuration Checks") -> str:
    """Turn any classifier into a valid `namespace/category/classifier`.

    A value that already starts with a namespace keeps it; extra levels are joined into the
    classifier. Anything else goes under `fallback` ("namespace" or "namespace/category"):
    Macie's `Policy:IAMUser/S3BucketPublic` with fallback "Effects/Data Exposure" becomes
    `Effects/Data Exposure/Policy:IAMUser-S3BucketPublic`.
    """
    parts = [p.strip() for p in raw.split("/") if p.strip()]
    if parts and parts[0] in NAMESPACES:
        return "/".join(parts[:2] + (["-".join(parts[2:])] if len(parts) > 2 else []))
    head = [p for p in fallback.split("/") if p][:2]
    if not head or head[0] not in NAMESPACES:
        raise ValueError(f"fallback {fallback!r} does not start with an ASFF namespace")
    if not parts:
        return "/".join(head)
    return "/".join([*head, "-".join(parts)])


def truncate(text: str, limit: int) -> str:
    """Cut text to `limit` characters, ending in "(truncated)" when cut, as AWS Health does."""
    if len(text) <= limit:
        return text
    keep = max(limit - len(TRUNCATION_MARKER) - 1, 0)
    return (text[:keep].rstrip() + " " + TRUNCATION_MARKER)[-limit:]


def text_or(value: Any, fallback: str) -> str:
    """A non-blank string: blank or missing values are refused by Security Hub."""
    if isinstance(value, str) and _has_text(value):
        return value
    if value is not None and not isinstance(value, str | dict | list):
        return str(value)
    return fallback


_LABEL_SYNONYMS = {
    "INFO": "INFORMATIONAL",
    "INFORMATION": "INFORMATIONAL",
    "INFORMATIONAL": "INFORMATIONAL",
    "NONE": "INFORMATIONAL",
    "NEGLIGIBLE": "INFORMATIONAL",
    "LOW": "LOW",
    "MINOR": "LOW",
    "MEDIUM": "MEDIUM",
    "MODERATE": "MEDIUM",
    "HIGH": "HIGH",
    "IMPORTANT": "HIGH",
    "MAJOR": "HIGH",
    "CRITICAL": "CRITICAL",
    "URGENT": "CRITICAL",
}


def severity_from_label(label: str, default: str | None = None) -> dict[str, Any]:
    """ASFF Severity from a vendor's label; unknown labels raise unless a default is given."""
    found = _LABEL_SYNONYMS.get(label.strip().upper()) if isinstance(label, str) else None
    if found is None:
        if default is None:
            raise ValueError(f"unknown severity label {label!r}")
        found = default
    return {"Label": found, "Original": truncate(str(label), 64) if str(label).strip() else found}


# Severity.Normalized bands of the ASFF reference: each label applies below its bound,
# CRITICAL above the last.
NORMALIZED_BANDS = ((1.0, "INFORMATIONAL"), (40.0, "LOW"), (70.0, "MEDIUM"), (90.0, "HIGH"))
# CVSS qualitative bands (v2, v3 and v4 share them): Low 0.1-3.9, Medium 4.0-6.9, High
# 7.0-8.9, Critical 9.0-10.0; only 0.0 is "None".
CVSS_BANDS = ((4.0, "LOW"), (7.0, "MEDIUM"), (9.0, "HIGH"))


def _band(score: float, bands: Iterable[tuple[float, str]]) -> str:
    return next((label for below, label in bands if score < below), "CRITICAL")


def severity_from_score(score: float) -> dict[str, Any]:
    """ASFF Severity from a 0-100 score, by the Normalized bands of the ASFF docs."""
    if not 0 <= score <= 100:
        raise ValueError(f"score {score} is not within 0..100")
    return {"Label": _band(score, NORMALIZED_BANDS), "Original": f"{score:g}"}


def severity_from_cvss(score: float) -> dict[str, Any]:
    """ASFF Severity from a CVSS base score (v2, v3 or v4 qualitative bands)."""
    if not 0 <= score <= 10:
        raise ValueError(f"CVSS score {score} is not within 0..10")
    label = _band(score, CVSS_BANDS) if score > 0 else "INFORMATIONAL"
    return {"Label": label, "Original": f"{score:g}"}


# The Region prefixes of botocore's partitions.json (regionRegex of each partition), the
# longest first where one prefix starts another.
_PARTITION_PREFIXES = (
    ("cn-", "aws-cn"),
    ("us-gov-", "aws-us-gov"),
    ("us-isob-", "aws-iso-b"),
    ("us-isof-", "aws-iso-f"),
    ("eu-isoe-", "aws-iso-e"),
    ("us-iso-", "aws-iso"),
)


def partition_for(region: str) -> str:
    return next((p for prefix, p in _PARTITION_PREFIXES if region.startswith(prefix)), "aws")


@dataclass(frozen=True)
class ProductArn:
    """The parts of a Security Hub product ARN; `account` is "" when the ARN has none."""

    partition: str
    region: str
    account: str
    company: str
    product: str

    @property
    def is_aws_service(self) -> bool:
        """An AWS service's product: the service sends its findings, never hubrelay."""
        return self.company == AWS_COMPANY

    @property
    def is_private_default(self) -> bool:
        """An account's own product/<account>/default, in that same account."""
        return bool(self.account) and (self.company, self.product) == (self.account, "default")

    def in_region(self, region: str) -> ProductArn:
        """The same product in `region` (and that Region's partition), its account kept."""
        return ProductArn(partition_for(region), region, self.account, self.company, self.product)

    def __str__(self) -> str:
        return (
            f"arn:{self.partition}:securityhub:{self.region}:{self.account}:"
            f"product/{self.company}/{self.product}"
        )


def parse_product_arn(arn: str) -> ProductArn | None:
    """The parts of `arn`, or None when it is not a product ARN (any account form)."""
    match = PRODUCT_ARN_RE.fullmatch(arn)
    if match is None:
        return None
    return ProductArn(
        match["partition"], match["region"], match["account"], match["company"], match["product"]
    )


def product_arn_for(region: str, account_id: str, configured: str = "") -> str:
    """The ProductArn for findings sent to `region`.

    A partner's product ARN is the same in every Region but for the Region ("AWS Security Hub
    partner FAQ", https://docs.aws.amazon.com/securityhub/latest/partnerguide/partner-faq.html):
    its account, the partner's or none at all
    (https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-partner-providers.html),
    is kept as configured. Without one, the account's private default product is used.
    """
    if configured:
        parsed = parse_product_arn(configured)
        if parsed is None:
            raise ValueError(f"configured product ARN {configured!r} is malformed")
        if parsed.is_aws_service:
            # AWS services send their own findings; BatchImportFindings is for the account's
            # own product and subscribed partner products ("BatchImportFindings",
            # https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_BatchImportFindings.html).
            raise ValueError(
                f"configured product ARN {configured!r} is an AWS service's product, "
                "whose findings only that service sends"
            )
        return str(parsed.in_region(region))
    return (
        f"arn:{partition_for(region)}:securityhub:{region}:{account_id}:"
        f"product/{account_id}/default"
    )


def region_of(product_arn: str) -> str | None:
    parsed = _parsed_product_arn(product_arn)  # the importer asks once per finding
    return parsed.region if parsed else None


def timestamp(moment: datetime | None = None) -> str:
    """RFC 3339 in UTC with milliseconds, the form AWS services use."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    if moment.year >= 1000:  # isoformat pads years to 4 digits, strftime does not
        return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def clip_map(
    values: Mapping[str, Any], *, max_pairs: int = 50, key_max: int = 128, value_max: int = 2048
) -> dict[str, str]:
    """A string map within ASFF limits: keys cut, values truncated, blanks dropped.

    When pairs must be dropped, the last slot says how many, so nothing disappears silently.
    """
    items = []
    for k, v in values.items():
        if v is None:
            continue
        key = k if type(k) is str else str(k)
        # An int as _as_text gives it (its repr), without the call: line numbers, counts.
        text = v if type(v) is str else repr(v) if type(v) is int else _as_text(v)
        if len(text) > value_max:
            text = truncate(text, value_max)
        # A key is checked before it is cut, a value after (a cut value ends in a marker).
        if key and text and not key.isspace() and not text.isspace():
            items.append((key[:key_max], text))
    if len(items) > max_pairs:
        items = [
            *items[: max_pairs - 1],
            ("hubrelay/omittedFields", str(len(items) - max_pairs + 1)),
        ]
    return dict(items)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    # json.dumps of an int is its repr (a bool is not an int here: it dumps as true/false).
    return repr(value) if type(value) is int else json.dumps(value)


def build_finding(
    *,
    finding_id: str,
    product_arn: str,
    generator_id: str,
    account_id: str,
    title: str,
    description: str,
    resources: Iterable[Mapping[str, Any]],
    severity: Mapping[str, Any],
    types: Iterable[str],
    created_at: str,
    updated_at: str | None = None,
    type_fallback: str = "Software and Configuration Checks",
    product_fields: Mapping[str, Any] | None = None,
    remediation_text: str | None = None,
    remediation_url: str | None = None,
    source_url: str | None = None,
    record_state: str = "ACTIVE",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A complete ASFF finding with every documented limit applied.

    Provider-owned values (Severity, Types) go to FindingProviderFields too, so a customer's
    BatchUpdateFindings changes survive our later updates.
    """
    normalized_types = _types(types, type_fallback)
    resource_list, fields = _resources(resources, product_fields)
    finding: dict[str, Any] = {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id[:512],
        "ProductArn": product_arn,
        "GeneratorId": truncate(text_or(generator_id, "hubrelay"), 512),
        "AwsAccountId": account_id,
        "Types": normalized_types,
        "CreatedAt": created_at,
        "UpdatedAt": updated_at or created_at,
        "Severity": dict(severity),
        "Title": truncate(text_or(title, "Untitled finding"), 256),
        "Description": truncate(text_or(description, title or "No description"), 1024),
        "Resources": resource_list,
        "RecordState": record_state,
        "FindingProviderFields": {"Severity": dict(severity), "Types": normalized_types},
    }
    if fields:
        finding["ProductFields"] = clip_map(fields)
    remediation = _remediation(remediation_text, remediation_url)
    if remediation:
        finding["Remediation"] = remediation
    if source_url:
        finding["SourceUrl"] = source_url
    if extra:
        finding.update(extra)
    return finding


def _types(types: Iterable[str], fallback: str) -> list[str]:
    """Distinct valid Types within the count limit; never none, which ASFF refuses."""
    normalized = list(dict.fromkeys(_normalized_type(t, fallback) for t in types))
    return normalized[: COUNTS["Types"][1]] or [_normalized_type("", fallback)]


# A source's findings share a few Types: each is normalized once (a bad fallback raises,
# and is never remembered).
_normalized_type = lru_cache(maxsize=4096)(normalize_type)


def _resources(
    resources: Iterable[Mapping[str, Any]], product_fields: Mapping[str, Any] | None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The resources within the count limit, and the ProductFields that say how many were
    left out: that marker goes first, so clipping the map never drops it."""
    resource_list = [dict(r) for r in resources]
    limit = COUNTS["Resources"][1]
    fields: dict[str, Any] = {}
    if len(resource_list) > limit:
        fields["hubrelay/omittedResources"] = str(len(resource_list) - limit)
    fields.update(product_fields or {})
    return resource_list[:limit], fields


def _remediation(text: str | None, url: str | None) -> dict[str, Any] | None:
    recommendation: dict[str, str] = {}
    if text and _has_text(text):
        recommendation["Text"] = truncate(text, 512)
    if url:
        recommendation["Url"] = url
    return {"Recommendation": recommendation} if recommendation else None


def now_utc() -> datetime:
    return datetime.now(UTC)
