"""What every source shares: records, units of work, the mapping context, time parsing.

A source has two halves with one small interface:

- ``collect(cursor) -> Iterator[Unit]`` reads native records from where the last run
  stopped. A Unit is the smallest step after which the cursor can move: one S3 report, one
  API page, one batch of Health events. It carries the cursor to commit once its findings
  are enqueued, and the scopes it covers completely (a whole scan of an image, a repository).
- ``map(record, ctx) -> list[finding]`` turns one native record into ASFF findings built
  with ``hubrelay.asff``. A finding the source reports as resolved has RecordState ARCHIVED.
  A record that cannot be mapped raises MappingError (or any ValueError) with the reason.

``hubrelay convert`` and the collector call the same ``map`` functions.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from typing import Any, Protocol

from hubrelay import asff
from hubrelay.errors import PermanentError, TransientError
from hubrelay.loading import is_mapping

Cursor = dict[str, Any]
Finding = dict[str, Any]


class MappingError(PermanentError, ValueError):
    """A native record that cannot become a valid finding; the message says why."""


class SourceError(TransientError):
    """The source cannot be read now (unreachable, refusing, out of time): retry next run."""


@dataclass(frozen=True)
class Context:
    """Where findings go: the customer account, the Regions, the product."""

    account_id: str
    regions: tuple[str, ...]
    product_arn: str = ""  # the partner's configured ARN; empty = private default
    now: datetime = field(default_factory=asff.now_utc)

    @property
    def home(self) -> str:
        return self.regions[0]

    def product_arn_in(self, region: str) -> str:
        arns = self._product_arns
        if region not in arns:
            arns[region] = asff.product_arn_for(region, self.account_id, self.product_arn)
        return arns[region]

    def timestamp(self) -> str:
        return self._timestamp

    def epoch(self) -> float:
        """`now` in epoch seconds: one float for the run, which every state it saves keeps
        as its last send (hubrelay.tracking), not one of its own each."""
        return self._epoch

    # Per context (a run's account, product and clock), not per finding: both are the same
    # for every finding of the run. The context is frozen; these only remember.
    @cached_property
    def _timestamp(self) -> str:
        return asff.timestamp(self.now)

    @cached_property
    def _epoch(self) -> float:
        return self.now.timestamp()

    @cached_property
    def _product_arns(self) -> dict[str, str]:
        return {}


# Scanner classes: what one scanner of a tool looks for (Trivy's `--scanners vuln,secret,
# misconfig`, https://trivy.dev/latest/docs/configuration/others/). A report may run some
# and not others, so it is a complete scan of its scope only for the classes it ran: the
# findings of one class are never archived by a scan of another. Findings of sources with
# one kind of scan (SARIF), and Ids from before classes, are UNCLASSED.
VULNERABILITY = "vulnerability"
SECRET = "secret"  # noqa: S105 - a scanner class, no password
MISCONFIGURATION = "misconfiguration"
LICENSE = "license"
CLASSES = (VULNERABILITY, SECRET, MISCONFIGURATION, LICENSE)
UNCLASSED = ""


@dataclass
class Record:
    """One native record and where it came from (for error reports)."""

    native: Any
    position: str
    kind: str  # which mapper reads it: sarif, trivy, grype, asff, vendor, health
    scope: str  # what a complete scan covers; tracking groups findings by it
    context: Any = None  # shared data the mapper needs (a SARIF run, a vendor mapping)
    scan_class: str = UNCLASSED  # the scanner class of its findings (one of CLASSES)
    # How many records of its report before it share what its Id is made of: 0 but where
    # two Trivy or Grype records would collide (hubrelay.sources.vulnscan.Repeats).
    repeat: int = 0


# What reading one report gives: its records, the scopes it scans completely, and
# (position, reason) for each part that could not be read.
Parsed = tuple[list[Record], set[str], list[tuple[str, str]]]
# The same with the classes each complete scope is scanned for (scope -> classes; a scope
# scanned for no class is left out).
Scanned = tuple[list[Record], dict[str, frozenset[str]], list[tuple[str, str]]]


@dataclass
class Unit:
    """A step of collection: its records, and the cursor that is safe once they are sent."""

    # Read as they are needed: a large report's records come one by one from its stream.
    records: Iterable[Record]
    cursor: Cursor
    label: str
    complete_scopes: frozenset[str] = frozenset()
    # The classes a complete scope is scanned for; a complete scope not named here is
    # complete for all of its findings (frozenset({UNCLASSED})).
    complete_classes: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # Problems with the unit as a whole (an unreadable file): (position, reason).
    errors: list[tuple[str, str]] = field(default_factory=list)
    # A unit a run can stop inside (a report): `resume(offset, incomplete)` is the cursor
    # that reads it again from record `offset`, the scanner classes per scope whose
    # records could not be sent so far being `incomplete`. None: it is read whole again.
    resume: Callable[[int, Mapping[str, list[str]]], Cursor] | None = None
    # Where an earlier run stopped inside it: the records before `skip` were sent then
    # (they are read again only for their Ids, which the archive decision needs), and
    # `incomplete` is what that run's `resume` was given.
    skip: int = 0
    incomplete: Mapping[str, list[str]] = field(default_factory=dict)


class Source(Protocol):
    name: str

    def collect(self, cursor: Cursor) -> Iterator[Unit]: ...

    def map(self, record: Record, ctx: Context) -> list[Finding]: ...


def parse_time(value: Any) -> datetime:
    """A UTC datetime from any form sources use.

    Epoch seconds or milliseconds (the Health API as JSON), RFC 3339 / ISO 8601, RFC 1123
    ("Sat, 04 Feb 2023 00:00:00 GMT", Health events in EventBridge), or a datetime.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = value / 1000 if value > 1e11 else value
            moment = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            # NaN, infinities, epochs beyond the years a datetime holds (found by fuzzing)
            raise MappingError(f"unreadable timestamp {str(value)[:64]!r}: {exc}") from exc
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            try:
                moment = email.utils.parsedate_to_datetime(text)
            except (TypeError, ValueError) as exc:
                raise MappingError(f"unreadable timestamp {text[:64]!r}") from exc
    else:
        raise MappingError(f"unreadable timestamp {str(value)[:64]!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:  # "0001-01-01T00:00:00+05:00" is before year 1 in UTC
        raise MappingError(f"unreadable timestamp {str(value)[:64]!r}: {exc}") from exc


def rfc3339(value: Any, default: str) -> str:
    """ASFF timestamp of `value`, or `default` when the value is missing."""
    if value is None or value == "":
        return default
    if type(value) is str:
        return _rfc3339_text(value)
    return asff.timestamp(parse_time(value))


# A report's records share a few timestamps (Trivy's CreatedAt is on every finding of the
# report): each text is parsed once. An unreadable one raises each time (lru_cache keeps
# no exceptions), with the same MappingError.
@lru_cache(maxsize=4096)
def _rfc3339_text(value: str) -> str:
    return asff.timestamp(parse_time(value))


def scan_class(finding_id: str) -> str:
    """The scanner class a hubrelay Id names, `hubrelay/<scanner>/<class>/...` (Trivy and
    Grype Ids, docs/findings.md); UNCLASSED for any other Id, those of earlier releases
    included."""
    parts = finding_id.split("/", 3)
    if len(parts) == 4 and parts[:2] in (["hubrelay", "trivy"], ["hubrelay", "grype"]):
        return parts[2] if parts[2] in CLASSES else UNCLASSED
    return UNCLASSED


# json.dumps(value, sort_keys=True, separators=(",", ":"), default=str), its encoder built
# once: json.dumps builds a new JSONEncoder on every call with other than its defaults,
# a third of the time of dumping the few parts of an Id.
_STABLE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def _c_stable_json() -> Callable[[Any], str] | None:
    """The same dump through the C encoder JSONEncoder.encode makes, made once: encode
    builds it again on every call (a closure, a markers dict, the C object), half the
    time of dumping the parts of an Id. Built as JSONEncoder.iterencode builds it but
    without the circular-reference markers: what is dumped here comes from JSON or is
    built from it, never circular, and one markers dict shared by every call would not
    be safe across threads. None where the C encoder is missing or takes other arguments
    (another Python), so the plain encode is used there."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    try:
        dump = make(
            None,
            _STABLE.default,
            json.encoder.encode_basestring_ascii,
            None,
            _STABLE.key_separator,
            _STABLE.item_separator,
            _STABLE.sort_keys,
            _STABLE.skipkeys,
            _STABLE.allow_nan,
        )
    except TypeError:
        return None

    def stable(value: Any) -> str:
        return "".join(dump(value, 0))

    sample = ("a\u00e9\n", None, 1, 2.5, True, [{"b": 1, "a": [float("nan")]}], datetime.min)
    return stable if stable(sample) == _STABLE.encode(sample) else None


stable_json: Callable[[Any], str] = _c_stable_json() or _STABLE.encode


def stable_hash(*parts: Any, length: int = 32) -> str:
    """A short, stable digest of JSON-able parts (finding Ids that survive re-scans)."""
    return hashlib.sha256(stable_json(parts).encode()).hexdigest()[:length]


def obj(value: Any) -> Mapping[str, Any]:
    """The value when it is a JSON object, else an empty one (optional native fields)."""
    return value if is_mapping(value) else {}


def items(value: Any) -> list[Any]:
    """The value when it is a JSON array, else an empty one (optional native lists)."""
    return value if isinstance(value, list) else []


def string(value: Any) -> str | None:
    """The value when it is a string, else None (optional native texts)."""
    return value if isinstance(value, str) else None


def dig(data: Any, *path: str | int) -> Any:
    """data[path[0]][path[1]]... or None when any step is missing."""
    for step in path:
        if type(data) is dict and type(step) is str:  # what JSON gives, without the ABC
            data = data.get(step)
        elif data is None:  # a missing step, known without the Mapping ABC's isinstance
            return None
        elif isinstance(step, int):
            if not isinstance(data, list) or not -len(data) <= step < len(data):
                return None
            data = data[step]
        elif isinstance(data, Mapping):
            data = data.get(step)
        else:
            return None
    return data
