"""The vendor's own REST API: JSON pages, an incremental watermark, a declarative mapping.

Pages are read with `hubrelay.http.Client` (timeouts; retries with backoff on 429 and 5xx
honouring Retry-After). The first request asks for records updated since the watermark;
later pages follow the page's next link (or next-page token). Each page is a unit: its
cursor keeps the next link, so a run that stops mid-listing resumes at the next page. When
the listing is finished the watermark moves, but never past the time the listing started
less an overlap (`vendor_watermark_overlap_s`): a record that changes while the listing is
under way (perhaps across several runs) is on a page already read, and must be asked for
again. What the overlap reads twice is unchanged, and change tracking sends none of it.

The field mapping is a JSON file of JMESPath expressions (docs/vendor-mapping.md); the
default, mapping/vendor_default.json, reads the documented sample vendor format.
The API key or token comes from Secrets Manager (see `auth_headers`) and is never logged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from importlib import resources
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult

from hubrelay import asff
from hubrelay.http import Client, HttpError
from hubrelay.loading import LoadError, is_mapping, load_json
from hubrelay.sources import (
    Context,
    Cursor,
    Finding,
    MappingError,
    Record,
    SourceError,
    Unit,
    jmes,
    parse_time,
    rfc3339,
)

SCOPE = "vendor"
FINDING_FIELDS = (
    "id",
    "updated_at",
    "generator_id",
    "title",
    "description",
    "severity_label",
    "cvss_score",
    "types",
    "created_at",
    "first_observed_at",
    "last_observed_at",
    "resolved",
    "account_id",
    "resources",
    "source_url",
    "remediation_text",
    "remediation_url",
    "product_fields",
    "extra",
)
REQUIRED_FIELDS = ("id", "title", "resources")


@dataclass
class VendorMapping:
    """A parsed mapping file: where records, links and finding fields are in the JSON."""

    spec: Mapping[str, Any]
    _compiled: dict[str, ParsedResult] = field(default_factory=dict)
    _searches: dict[str, Callable[[Any], Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str = "") -> VendorMapping:
        """The mapping in a file, or the built-in one."""
        if path:
            with open(path, "rb") as handle:
                return cls.parse(handle.read(), path)
        text = resources.files("hubrelay").joinpath("mapping/vendor_default.json")
        return cls.parse(text.read_text(encoding="utf-8"), "built-in")

    @classmethod
    def parse(cls, text: str | bytes, where: str) -> VendorMapping:
        """A mapping from its JSON text; ValueError names `where` and the field at fault."""
        spec = load_json(text, what=f"vendor mapping {where}")
        if not isinstance(spec, Mapping):
            raise ValueError(f"vendor mapping {where}: not a JSON object")
        mapping = cls(spec)
        try:
            mapping.check()
        except ValueError as exc:
            raise ValueError(f"vendor mapping {where}: {exc}") from None
        return mapping

    def check(self) -> None:
        """Fail early on a mapping that could never work (unknown fields, bad JMESPath),
        naming the field."""
        fields = self.spec.get("finding")
        if not isinstance(fields, Mapping):
            raise ValueError("finding: missing, or not an object of JMESPath expressions")
        unknown = set(fields) - set(FINDING_FIELDS)
        missing = set(REQUIRED_FIELDS) - set(fields)
        if unknown or missing:
            raise ValueError(
                f"finding: fields unknown {sorted(unknown)}, missing {sorted(missing)}"
            )
        for part, expressions in (("finding", fields), ("page", self.page)):
            for name, expression in expressions.items():
                if name == "next_param" or expression is None:
                    continue
                if not isinstance(expression, str):
                    raise ValueError(f"{part}.{name}: not a JMESPath string")
                try:
                    self._expression(expression)
                except ValueError as exc:
                    raise ValueError(f"{part}.{name}: {exc}") from None

    # The spec's settings a record's mapping reads, looked up once.
    @cached_property
    def id_prefix(self) -> Any:
        return self.spec.get("id_prefix", "")

    @cached_property
    def severity_default(self) -> Any:
        return self.spec.get("severity_default", "INFORMATIONAL")

    @cached_property
    def resource_types(self) -> Mapping[str, str]:
        return self.spec.get("resource_types") or {}

    @cached_property
    def page(self) -> dict[str, Any]:
        return dict(self.spec.get("page") or {"records": "@", "next": "null"})

    def _expression(self, text: str) -> ParsedResult:
        if text not in self._compiled:
            try:
                self._compiled[text] = jmespath.compile(text)
            except JMESPathError as exc:
                raise ValueError(f"bad JMESPath {text!r}: {exc}") from exc
        return self._compiled[text]

    def get(self, name: str, record: Any) -> Any:
        """One finding field of a record. Each field's search is compiled when first
        asked for (collecting reads two of them, mapping reads all through `read`)."""
        if name not in self._searches:
            if name not in FINDING_FIELDS:
                raise KeyError(name)
            node = self._node(name)
            self._searches[name] = jmes.compile_node(node) if node else _nothing
        return self._searches[name](record)

    def _node(self, name: str) -> dict[str, Any] | None:
        text = self.spec["finding"].get(name)
        return self._expression(text).parsed if text else None

    @cached_property
    def read(self) -> Callable[[Any], dict[str, Any]]:
        """Every finding field of a record, by name: one call per record, compiled once per
        mapping."""
        return jmes.compile_fields({name: self._node(name) for name in FINDING_FIELDS})

    def records(self, page: Any) -> list[Any]:
        found = self._expression(self.page["records"]).search(page)
        if not isinstance(found, list):
            raise MappingError(f"page has no record list at {self.page['records']!r}")
        return found

    def next_link(self, page: Any) -> str | None:
        found = self._expression(self.page.get("next") or "null").search(page)
        return str(found) if found not in (None, "") else None


def _nothing(record: Any) -> None:
    return None


# What a required field may not be, and what pruning drops: built once (a tuple display
# holding [] or {} is built again at each use).
_MISSING: tuple[Any, ...] = (None, "", [])
_EMPTY: tuple[Any, ...] = (None, "", {}, [])


def map_record(record: Record, ctx: Context) -> list[Finding]:
    """One vendor record to one finding, by the mapping's expressions."""
    mapping, item = record.context, record.native
    assert isinstance(mapping, VendorMapping)
    values = mapping.read(item)
    for name in REQUIRED_FIELDS:
        if values[name] in _MISSING:
            raise MappingError(f"mapping field {name!r} is empty for this record")
    resources = values["resources"]
    if is_mapping(resources):
        resources = [resources]
    if not _are_resources(resources):
        raise MappingError("'resources' must give objects with at least an Id")
    types = values["types"] or []
    now = ctx.timestamp()
    extra: dict[str, Any] = {}
    first_seen, first_again = values["first_observed_at"], None
    if first_seen:
        extra["FirstObservedAt"] = rfc3339(first_seen, "")
        # The default mapping reads CreatedAt from the same field: an epoch number (which
        # rfc3339 does not remember) parsed once.
        first_again = extra["FirstObservedAt"] if values["created_at"] is first_seen else None
    if values["last_observed_at"]:
        extra["LastObservedAt"] = rfc3339(values["last_observed_at"], "")
    if is_mapping(values["extra"]):
        extra.update(_prune(values["extra"]))
    product_fields = values["product_fields"]
    account = str(values["account_id"] or ctx.account_id)
    finding = asff.build_finding(
        finding_id=f"{mapping.id_prefix}{values['id']}",
        product_arn=ctx.product_arn_in(ctx.home),
        generator_id=str(values["generator_id"] or values["id"]),
        account_id=account,
        title=str(values["title"]),
        description=str(values["description"] or values["title"]),
        resources=[_resource(r, mapping.resource_types) for r in resources],
        severity=_severity(values["severity_label"], values["cvss_score"], mapping),
        types=[types] if isinstance(types, str) else [str(t) for t in types],
        created_at=first_again or rfc3339(values["created_at"], now),
        updated_at=rfc3339(values["updated_at"], now),
        product_fields=product_fields if is_mapping(product_fields) else None,
        remediation_text=_text(values["remediation_text"]),
        remediation_url=_text(values["remediation_url"]),
        source_url=_text(values["source_url"]),
        record_state="ARCHIVED" if values["resolved"] is True else "ACTIVE",
        extra=extra,
    )
    return [finding]


def _are_resources(resources: Any) -> bool:
    """A list of objects, each with an Id."""
    if not isinstance(resources, list):
        return False
    return all(is_mapping(resource) and resource.get("Id") for resource in resources)


def _resource(resource: Mapping[str, Any], types: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = _prune(resource)
    details = out.get("Details")
    other = details.get("Other") if is_mapping(details) else None
    if is_mapping(other):
        out["Details"]["Other"] = asff.clip_map(other, value_max=1023)
    vendor_type = str(out.get("Type") or "")
    out["Type"] = types.get(vendor_type, vendor_type if vendor_type[:3] == "Aws" else "Other")
    # The Id as given (checked non-empty by the caller): pruning may have emptied it.
    out["Id"] = str(resource["Id"])[:512]
    return out


def _severity(label: Any, score: Any, mapping: VendorMapping) -> dict[str, Any]:
    kind = type(score)
    if kind is float or kind is int or (kind is not bool and isinstance(score, int | float)):
        return asff.severity_from_cvss(float(score))
    return asff.severity_from_label(str(label or "UNKNOWN"), default=mapping.severity_default)


def _prune(value: Any) -> Any:
    """The value without nulls and empty containers (JMESPath yields null for gaps)."""
    kind = type(value)
    if kind is dict:
        return _prune_mapping(value)
    if kind is list:
        return _prune_list(value)
    if kind is str or value is None:
        return value
    if isinstance(value, Mapping):
        return _prune_mapping(value)
    if isinstance(value, list):
        return _prune_list(value)
    return value


# The two below keep what _prune keeps (`v not in _EMPTY`), testing the common scalars by
# type first and recursing only into what may hold something to prune.


def _prune_mapping(value: Mapping[Any, Any]) -> dict[Any, Any]:
    pruned = {}
    for key, item in value.items():
        kind = type(item)
        if kind is str:
            if item:
                pruned[key] = item
        elif kind is int or kind is float or kind is bool:
            pruned[key] = item
        elif item is not None:
            item = _prune(item)
            if item not in _EMPTY:
                pruned[key] = item
    return pruned


def _prune_list(value: list[Any]) -> list[Any]:
    pruned = []
    for item in value:
        kind = type(item)
        if kind is str:
            if item:
                pruned.append(item)
        elif kind is int or kind is float or kind is bool:
            pruned.append(item)
        elif item is not None:
            item = _prune(item)
            if item not in _EMPTY:
                pruned.append(item)
    return pruned


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def auth_headers(secret: Any) -> dict[str, str]:
    """Request headers from the secret's value.

    A plain string is a bearer token. A JSON object is either {"token": "..."} (bearer) or
    {"api_key": "...", "header": "X-Api-Key"} (the header defaults to X-Api-Key).
    """
    value: Any = secret.decode() if isinstance(secret, bytes) else secret
    if isinstance(value, str) and value.strip().startswith("{"):
        value = json.loads(value)
    if isinstance(value, str) and value.strip():
        return {"Authorization": f"Bearer {value.strip()}"}
    if isinstance(value, Mapping) and value.get("token"):
        return {"Authorization": f"Bearer {value['token']}"}
    if isinstance(value, Mapping) and value.get("api_key"):
        return {str(value.get("header") or "X-Api-Key"): str(value["api_key"])}
    raise SourceError("vendor secret holds neither a token nor an api_key")


class VendorApiSource:
    name = "vendor_api"

    def __init__(
        self,
        base_url: str,
        mapping: VendorMapping,
        client: Client,
        headers: Mapping[str, str],
        overlap_s: float = 300.0,
        now: Callable[[], datetime] = asff.now_utc,
    ) -> None:
        self.base_url = base_url
        self.mapping = mapping
        self.client = client
        self.headers = {"Accept": "application/json", **headers}
        self.overlap = timedelta(seconds=overlap_s)
        self.now = now

    def map(self, record: Record, ctx: Context) -> list[Finding]:
        return map_record(record, ctx)

    def collect(self, cursor: Cursor) -> Iterator[Unit]:
        since: str | None = cursor.get("since")
        newest: str | None = cursor.get("newest") or since
        # When this listing began: kept across runs until it is finished.
        started: str = cursor.get("started") or asff.timestamp(self.now())
        url: str | None = cursor.get("next") or self._first_url(since)
        while url:
            try:
                page = self._get(url)
            except LoadError as exc:
                # No retry reads it differently, and the link to the next page is inside
                # it: reported, and the listing ends here. The watermark stays at the
                # newest record read, so the next run asks for this page's records again.
                ended: Cursor = {"since": newest, "next": None}
                yield Unit([], ended, _public(url), errors=[(_public(url), str(exc))])
                return
            try:
                items = self.mapping.records(page)
            except MappingError as exc:
                raise SourceError(f"{_public(url)}: {exc}") from exc
            records = [
                Record(item, self._position(url, i, item), "vendor", SCOPE, self.mapping)
                for i, item in enumerate(items)
            ]
            newest = _newest(newest, (self.mapping.get("updated_at", i) for i in items))
            url = self._next_url(page, url, since)
            done: Cursor = {"since": self._watermark(newest, started), "next": None}
            going = {"since": since, "next": url, "newest": newest, "started": started}
            yield Unit(records, going if url else done, _public(url or self.base_url))

    def _watermark(self, newest: str | None, started: str) -> str:
        """The next listing's `since`: the newest record seen, but no later than the start of
        this listing less the overlap."""
        bound = parse_time(started) - self.overlap
        if newest is None:
            return asff.timestamp(bound)
        return asff.timestamp(min(parse_time(newest), bound))

    def _position(self, url: str, index: int, item: Any) -> str:
        try:
            record_id = self.mapping.get("id", item)
        except (JMESPathError, TypeError, ValueError):
            record_id = None
        return f"{_public(url)}#[{index}] id={record_id}"

    def _get(self, url: str) -> Any:
        """The page at `url`: SourceError when it cannot be had now (retried next run),
        LoadError when the loading policy refuses what the API answered."""
        try:
            reply = self.client.request("GET", url, headers=self.headers)
        except (HttpError, ValueError) as exc:  # ValueError: a URL the client refuses
            raise SourceError(f"vendor API {_public(url)}: {exc}") from exc
        try:
            return load_json(reply.body or b"null", what=f"vendor API page {_public(url)}")
        except LoadError as exc:
            if exc.kind != "syntax":
                raise
            # Not JSON at all (an error page, a cut reply): most likely the API's or a
            # proxy's passing trouble, so the page is asked for again next run.
            raise SourceError(f"vendor API {_public(url)}: {exc.reason}") from exc

    def _first_url(self, since: str | None, token: str | None = None) -> str:
        request = self.mapping.spec.get("request") or {}
        query: dict[str, str] = {}
        if request.get("page_size_param"):
            query[request["page_size_param"]] = str(request.get("page_size", 100))
        if since and request.get("since_param"):
            query[request["since_param"]] = since
        if token is not None:
            query[str(self.mapping.page.get("next_param"))] = token
        parts = urlsplit(self.base_url)
        joined = "&".join(filter(None, [parts.query, urlencode(query)]))
        return urlunsplit(parts._replace(query=joined))

    def _next_url(self, page: Any, current: str, since: str | None) -> str | None:
        link = self.mapping.next_link(page)
        if link is None:
            return None
        if self.mapping.page.get("next_param"):
            return self._first_url(since, token=link)
        try:
            absolute = urljoin(current, link)
            origin = urlsplit(absolute)[:2]
        except ValueError as exc:  # "http://[" and other links that are no URL
            raise SourceError(f"next link {link[:120]!r} is not a URL: {exc}") from exc
        # The credentials go with every request: never follow a link to another server.
        if origin != urlsplit(self.base_url)[:2]:
            raise SourceError(f"next link {_public(absolute)} leaves the vendor API's origin")
        return absolute


def _newest(current: str | None, values: Iterator[Any]) -> str | None:
    best = parse_time(current) if current else None
    for value in values:
        try:
            moment = parse_time(value)
        except MappingError:
            continue
        best = moment if best is None or moment > best else best
    return asff.timestamp(best) if best else None


def _public(url: str) -> str:
    """The URL without its query string (which may carry tokens) for logs and reports."""
    return urlunsplit(urlsplit(url)._replace(query="", fragment=""))
