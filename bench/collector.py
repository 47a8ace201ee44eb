"""Collector figures for `make bench`.

- CPU per native record for each source's mapper (map + validate; and + packing what they
  give into queue messages and into calls), next to json.dumps of the same native record,
  so the figure is a ratio on any machine.
- Imports per run when a source re-reports 10,000 unchanged findings: change tracking
  (target 0) next to a naive collector that resends everything (10,000). Tracking and the
  queue are in-memory fakes with the real Collector, plan and packing code.
"""

from __future__ import annotations

import copy
import gzip
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from hubrelay import asff, message
from hubrelay.bodies import BodyStore
from hubrelay.collector import Collector, FindingQueue
from hubrelay.error_report import ErrorReport
from hubrelay.gathering import Item, gather
from hubrelay.importer import plan_calls
from hubrelay.quarantine import Quarantine
from hubrelay.settings import MAX_FINDING_BYTES, Settings
from hubrelay.sources import (
    Context,
    Cursor,
    Record,
    Unit,
    files,
    health,
    scanner_reports,
    vendor_api,
)
from hubrelay.tracking import (
    DUE_SCOPE,
    MARKER,
    Store,
    Tracked,
    _to_item,
    item_size,
    oldest_active,
)

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "sources"
SAMPLES = {
    "sarif": ("sarif_multi_run.sarif.json", None),
    "trivy": ("trivy_image.json", None),
    "grype": ("grype_image.json", None),
    "health": ("health_eventbridge.json", None),
    "vendor": ("vendor_findings.json", "vendor"),
}
CTX = Context("123456789012", ("us-east-1",), "", datetime(2026, 11, 1, tzinfo=UTC))
SQS_BILLING_CHUNK = 64 * 1024  # SQS bills each 64 KB chunk of a request's payload
_SETTINGS = Settings()  # the importer's defaults: the 6 MB byte budget
_DROP = Quarantine(2**20)  # the samples' findings are valid: nothing is quarantined


def _map_repeatedly(records: list[Record], repeat: int) -> None:
    for _ in range(repeat):
        for record in records:
            _map_only(record)


def _map_and_validate_repeatedly(records: list[Record], repeat: int) -> None:
    for _ in range(repeat):
        files.map_records(records, CTX)


def _map_validate_pack_repeatedly(records: list[Record], repeat: int) -> None:
    """Map + validate, then pack what they give into queue messages (the collector)."""
    for _ in range(repeat):
        findings, _ = files.map_records(records, CTX)
        list(message.pack_messages(findings))


def _items_of(records: list[Record]) -> list[Item]:
    """The importer's items of the messages the collector packs from `records`: each with
    the size it reads off its message (hubrelay.message.read_texts)."""
    findings, _ = files.map_records(records, CTX)
    bodies = message.pack_messages(findings)
    items, _ = gather(((f"m{i}", b) for i, b in enumerate(bodies)), MAX_FINDING_BYTES, _DROP)
    return items


def _size_repeatedly(items: list[Item], repeat: int) -> None:
    """A json.dumps of each finding, as the importer sized them until 2026-12-07."""
    for _ in range(repeat):
        for item in items:
            asff.finding_json(item.finding)


def _parse_repeatedly(items: list[Item], repeat: int) -> None:
    for _ in range(repeat):
        for item in items:
            item.finding  # noqa: B018 (the parse is the work timed)


def _plan_calls_repeatedly(items: list[Item], repeat: int) -> None:
    """The importer's packing of those items into calls (its one batching function)."""
    for _ in range(repeat):
        plan_calls(items, _SETTINGS)


def _dump_each(natives: list[Any]) -> None:
    for native in natives:
        json.dumps(native)


def _map_only(record: Record) -> list[dict[str, Any]]:
    """The mapper alone (the samples hold deliberately unmappable records too)."""
    try:
        if record.kind == "health":
            return health.map_event(record, CTX)
        if record.kind == "vendor":
            return vendor_api.map_record(record, CTX)
        return scanner_reports.map_record(record, CTX)
    except ValueError:
        return []


def _value_caches() -> list[Any]:
    """The bounded lru_caches of hubrelay's modules: those a report's values warm (dates,
    labels, scores, Types, message templates); not the unbounded ones built once per
    process (the compiled validator, the model)."""
    found = []
    for name, module in list(sys.modules.items()):
        if name == "hubrelay" or name.startswith("hubrelay."):
            for value in vars(module).values():
                info = getattr(value, "cache_info", None)
                if info is not None and info().maxsize is not None:
                    found.append(value)
    return found


def _first_sight_repeatedly(passes: list[list[Record]], caches: list[Any]) -> None:
    """Map + validate + pack as a report met for the first time: each pass's records read
    afresh (a SARIF run's rule facts start empty) and every value cache emptied first."""
    for records in passes:
        for cache in caches:
            cache.cache_clear()
        findings, _ = files.map_records(records, CTX)
        list(message.pack_messages(findings))


def _clear_repeatedly(passes: list[list[Record]], caches: list[Any]) -> None:
    for _ in passes:
        for cache in caches:
            cache.cache_clear()


def _first_sight(name: str, fmt: str | None, repeat: int, items: list[Item]) -> float:
    """CPU seconds of `repeat` first-sight passes over a sample, with the importer's
    packing of its calls, without the emptying of the caches itself."""
    passes = [
        files.read_records(json.loads((FIXTURES / name).read_text()), fmt, name)[0]
        for _ in range(repeat)
    ]
    caches = _value_caches()
    spent = _best(partial(_first_sight_repeatedly, passes, caches))
    spent -= _best(partial(_clear_repeatedly, passes, caches))
    return spent + _best(partial(_plan_calls_repeatedly, items, repeat))


def _best(work: Callable[[], object]) -> float:
    """CPU seconds of the fastest of 3 runs (the others met more noise)."""
    times = []
    for _ in range(3):
        started = time.process_time()
        work()
        times.append(time.process_time() - started)
    return min(times)


def cpu_per_record(repeat: int = 200) -> list[dict[str, Any]]:
    """Mapping alone, and mapping + validation, per native record (best of 3 passes)."""
    rows = []
    for source, (name, fmt) in SAMPLES.items():
        document = json.loads((FIXTURES / name).read_text())
        records, _ = files.read_records(document, fmt, name)
        natives = [r.native for r in records] * repeat
        count = len(natives)
        mapped = _best(partial(_map_repeatedly, records, repeat))
        both = _best(partial(_map_and_validate_repeatedly, records, repeat))
        # Packing is the collector's into messages and the importer's into calls. Neither
        # side's reading of its input is in the figure (the records here are read already;
        # the importer's sizes come with its reading of each message, so that is left out
        # too): only the work after it. Until 2026-12-07 the importer serialized every
        # finding again to size it, and this figure had that json.dumps in it.
        items = _items_of(records)
        packed = _best(partial(_map_validate_pack_repeatedly, records, repeat)) + _best(
            partial(_plan_calls_repeatedly, items, repeat)
        )
        # The same samples mapped again and again keep every value cache warm, as a warm
        # container re-reading a scan does; met for the first time, a report's distinct
        # dates and scores miss. Both are printed; the headline is the warm figure.
        cold = _first_sight(name, fmt, repeat, items)
        # The figure as defined until 2026-12-07: with that json.dumps per finding. Its
        # items' parsing is timed with it and taken off.
        sizing = _best(partial(_size_repeatedly, items, repeat)) - _best(
            partial(_parse_repeatedly, items, repeat)
        )
        baseline = _best(partial(_dump_each, natives))
        rows.append(
            {
                "source": source,
                "records": count,
                "map_us": round(mapped / count * 1e6, 1),
                "map_validate_us": round(both / count * 1e6, 1),
                "map_validate_pack_us": round(packed / count * 1e6, 1),
                "first_sight_us": round(cold / count * 1e6, 1),
                "with_sizing_dumps_us": round((packed + sizing) / count * 1e6, 1),
                "json_dumps_us": round(baseline / count * 1e6, 1),
                "map_ratio": round(mapped / max(baseline, 1e-9), 1),
                "ratio": round(both / max(baseline, 1e-9), 1),
            }
        )
    return rows


# The tracking table's indexes (template.yaml, both KEYS_ONLY) and their key attributes.
INDEXES = {"renewal": ("due", "ls"), "retry": ("ur", "nr")}
TABLE_KEYS = ("pk", "sk")
# DynamoDB stores 100 bytes of overhead per item, in the table and in each index: "Item
# sizes and formats" and "Storage considerations for Global Secondary Indexes"
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html).
ITEM_OVERHEAD = 100
# The `bo` of a row: the key of the object holding its body (hubrelay.bodies), this long.
BODY_REF = "errors/tracking/2026/11/01/" + "0" * 32 + ".json.gz"


def index_writes(old: dict[str, Any] | None, new: dict[str, Any]) -> int:
    """Write units the indexes take for a put that replaces `old` by `new`, by the rules of
    "Write considerations for Global Secondary Indexes" (docs above): a new entry 1 write
    per started KB, a changed index key 2 (delete + put), a removed one 1; a KEYS_ONLY index
    whose keys stay the same, nothing."""
    units = 0
    for keys in INDEXES.values():
        before = _index_entry(old, keys)
        after = _index_entry(new, keys)
        if before == after:
            continue
        units += sum(math.ceil(item_size(e) / 1024) for e in (before, after) if e is not None)
    return units


def _index_entry(item: dict[str, Any] | None, keys: tuple[str, ...]) -> dict[str, Any] | None:
    if item is None or any(k not in item for k in keys):
        return None
    return {k: item[k] for k in (*TABLE_KEYS, *keys)}


def storage_bytes(item: dict[str, Any]) -> tuple[int, int]:
    """(table bytes, index bytes) DynamoDB bills for storing `item`."""
    index = sum(
        item_size(e) + ITEM_OVERHEAD
        for e in (_index_entry(item, keys) for keys in INDEXES.values())
        if e is not None
    )
    return item_size(item) + ITEM_OVERHEAD, index


class MemoryStore(Store):
    """The tracking table in memory, billed by DynamoDB's rules on the items
    hubrelay.tracking really writes (`_to_item`, sized by `tracking.item_size`)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Tracked] = {}
        self.raw: dict[tuple[str, str], dict[str, Any]] = {}
        self.cursors: dict[str, Cursor] = {}
        self.saved = 0
        self.write_units = 0  # DynamoDB on-demand: 1 per started KB of each item written
        self.index_write_units = 0
        self.keys_read = 0
        self.read_units = 0  # strongly consistent: 1 per started 4 KB (a Query sums items)
        self.markers: dict[str, dict[str, Any]] = {}  # renewal markers, by scope
        self.s3_puts = 0  # the bodies' objects (hubrelay.bodies)
        self.s3_bytes = 0
        self._legacy = False  # no rows of earlier releases to migrate

    def flush(self) -> None:
        """Nothing is pending: `save` bills and keeps each state at once. (The collector
        flushes the store at the end of a run since tracking defers its writes; this model
        still bills rows, not hubrelay.packed's buckets.)"""

    def cursor(self, source: str) -> Cursor:
        return dict(self.cursors.get(source, {}))

    def commit(self, source: str, cursor: Cursor) -> None:
        self.cursors[source] = cursor

    def load(self, scope: str, keys: Any) -> dict[str, Tracked]:
        keys = list(keys)
        found = {k: self.items[(scope, k)] for k in keys if (scope, k) in self.items}
        self.keys_read += len(keys)
        # BatchGetItem: each key costs at least one unit, found or not.
        self.read_units += len(keys) - len(found)
        self.read_units += sum(math.ceil(item_size(self.raw[(scope, k)]) / 4096) for k in found)
        return found

    def load_scope(self, scope: str) -> dict[str, Tracked]:
        found = {k: t for (s, k), t in self.items.items() if s == scope}
        self.keys_read += len(found)
        size = sum(item_size(self.raw[(scope, k)]) for k in found)
        self.read_units += max(1, math.ceil(size / 4096))
        return found

    def save(self, states: Any) -> None:
        states = list(states)
        bodies = [s.body for s in states if s.body is not None]
        if bodies:
            # One object per save, as hubrelay.bodies writes it. Its bytes are counted as
            # each body compressed alone: the bench's findings differ only in their CVE, so
            # the object itself would compress far better than real reports do.
            self.s3_puts += 1
            self.s3_bytes += sum(
                len(gzip.compress(json.dumps(b, separators=(",", ":")).encode(), mtime=0))
                for b in bodies
            )
        self._lower_markers(states)
        for state in states:
            item = _to_item(replace(state, body=None, body_ref=state.body_ref or BODY_REF))
            key = (state.scope, state.key)
            self.saved += 1
            self.write_units += math.ceil(item_size(item) / 1024)
            self.index_write_units += index_writes(self.raw.get(key), item)
            self.items[key] = state
            self.raw[key] = item

    def _lower_markers(self, states: list[Tracked]) -> None:
        """tracking._lower_markers: one conditional put per scope saved; a put whose
        condition fails still consumes a write unit."""
        for scope, last_sent in oldest_active(states).items():
            old = self.markers.get(scope)
            self.write_units += 1
            if old is not None and float(old["ls"]["N"]) <= last_sent:
                continue
            item = {
                "pk": {"S": MARKER},
                "sk": {"S": scope},
                "due": {"S": DUE_SCOPE},
                "ls": {"N": repr(last_sent)},
            }
            self.index_write_units += index_writes(old, item)
            self.markers[scope] = item

    def storage(self) -> tuple[int, int]:
        """(table bytes, index bytes) stored now."""
        items = [*self.raw.values(), *self.markers.values()]
        sizes = [storage_bytes(item) for item in items]
        return sum(t for t, _ in sizes), sum(i for _, i in sizes)

    def due(self, last_sent_before: float, limit: int) -> list[tuple[str, str]]:
        return []

    def active_page(self, start: Any, limit: int) -> tuple[list[Tracked], None]:
        """Every active row at once (the placement sweep after a settings change)."""
        active = [t for t in self.items.values() if t.state == "ACTIVE"]
        self.keys_read += len(active)
        return active, None

    def undelivered(self, now: float, limit: int) -> list[tuple[str, str]]:
        return []  # nothing is ever marked undelivered here (no importer feedback)


class NullStore(MemoryStore):
    """Tracking that remembers nothing: every run is a first run (for memory figures)."""

    def save(self, states: Any) -> None:
        self.saved += len(list(states))


class CountingQueue:
    """SQS as far as the bill goes: requests, messages, and 64 KB chunks (each billed)."""

    def __init__(self) -> None:
        self.findings = 0
        self.requests = 0
        self.messages = 0
        self.billed_requests = 0
        self.bytes = 0

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        self.findings += sum(len(message.decode(e["MessageBody"])) for e in Entries)
        size = sum(len(e["MessageBody"].encode()) for e in Entries)
        self.requests += 1
        self.messages += len(Entries)
        self.bytes += size
        self.billed_requests += max(1, math.ceil(size / SQS_BILLING_CHUNK))
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}


class RepeatingReport:
    """A scanner that re-reports the same Trivy report (n vulnerabilities) every run."""

    name = "bench"

    def __init__(self, count: int) -> None:
        report = json.loads((FIXTURES / "trivy_image.json").read_text())
        template = report["Results"][0]["Vulnerabilities"][0]
        report["Results"] = [
            {
                "Target": "bench",
                "Type": "alpine",
                "Vulnerabilities": [
                    {**copy.deepcopy(template), "VulnerabilityID": f"CVE-2026-{n:05d}"}
                    for n in range(count)
                ],
            }
        ]
        self.report = report

    def collect(self, cursor: Cursor) -> Iterator[Unit]:
        records, complete, _ = scanner_reports.parse_report(self.report, "bench", "bench")
        yield Unit(records, {}, "bench", frozenset(complete))

    def map(self, record: Record, ctx: Context) -> list[dict[str, Any]]:
        return scanner_reports.map_record(record, ctx)


def unchanged_resend(count: int = 10_000) -> dict[str, Any]:
    """Two runs over the same report, through hubrelay.tracking.Store on moto's DynamoDB
    (bench.billed) and the bodies in S3; what each run sends, costs and takes."""
    from bench.billed import tracking_table

    source = RepeatingReport(count)
    runs = []
    with tracking_table() as (dynamodb, s3):
        for _ in range(2):
            bodies = _CountingBodies(s3, "reports", "errors/")
            store = Store(dynamodb, "tracking", bodies=bodies, defer=True)
            runs.append(_one_run(source, store, dynamodb, bodies))
    return {
        "findings": count,
        "first_run_imports": runs[0]["imports"],
        "second_run_imports": runs[1]["imports"],
        "naive_second_run_imports": count,
        "runs": runs,
    }


class _CountingBodies(BodyStore):
    """hubrelay.bodies in moto's S3, its objects counted by BodyStore. Their bytes are counted as
    each body compressed alone: the bench's findings differ only in their CVE, so the
    object itself would compress far better than real reports do."""

    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        super().__init__(s3, bucket, prefix)
        self.bytes = 0

    def put(self, bodies: Any, now: datetime) -> str:
        # The objects written are counted by BodyStore itself (`puts`, at each flush).
        self.bytes += sum(
            len(gzip.compress(json.dumps(b, separators=(",", ":")).encode(), mtime=0))
            for found in bodies.values()
            for b in found.values()
        )
        return super().put(bodies, now)


def _one_run(source: RepeatingReport, store: Store, dynamodb: Any, bodies: Any) -> dict[str, Any]:
    queue = CountingQueue()
    before = dict(vars(dynamodb))
    aside = dynamodb.aside.seconds
    started = time.process_time()
    Collector(
        source=source,
        ctx=CTX,
        store=store,
        queue=FindingQueue(queue, "q"),
        errors=ErrorReport(None, "", "", "bench"),
    ).run()
    # The collector's own CPU: without moto's answers (DynamoDB's and S3's work) and the
    # bench's billing reads (bench.billed.Aside).
    moto_s = dynamodb.aside.seconds - aside
    cpu_s = round(time.process_time() - started - moto_s, 3)
    table_bytes, index_bytes = dynamodb.storage()
    return {
        "imports": queue.findings,
        "cpu_s": cpu_s,
        "moto_and_billing_cpu_s": round(moto_s, 3),
        "sqs_requests": queue.requests,
        "sqs_billed_requests": queue.billed_requests,
        "sqs_messages": queue.messages,
        "sqs_bytes": queue.bytes,
        "dynamodb_items_written": dynamodb.items_written - before["items_written"],
        "dynamodb_write_units": dynamodb.write_units - before["write_units"],
        "dynamodb_index_write_units": dynamodb.index_write_units - before["index_write_units"],
        "dynamodb_table_bytes": table_bytes,
        "dynamodb_index_bytes": index_bytes,
        "s3_body_puts": bodies.puts,
        "s3_body_bytes": bodies.bytes,
        "dynamodb_items_read": dynamodb.items_read - before["items_read"],
        "dynamodb_read_units": dynamodb.read_units - before["read_units"],
    }


def run(repeat: int = 200) -> dict[str, Any]:
    return {"cpu_per_record": cpu_per_record(repeat), "unchanged": unchanged_resend()}


def render_cpu(rows: list[dict[str, Any]]) -> list[str]:
    """cpu_per_record's rows: map, map + validate and map + validate + pack (the headline's
    cpu_us_per_finding, weighted by records in the last line), each against json.dumps."""
    lines = [
        "",
        "Collector CPU per native record, against json.dumps of the same record (first sight:"
        " + pack, each pass's records read afresh and the value caches emptied first):",
        f"  {'source':8} {'records':>7} {'map':>8} {'x':>6} {'map+validate':>13} {'x':>6} "
        f"{'+pack':>9} {'x':>6} {'first sight':>12} {'json.dumps':>11}",
    ]
    for row in [*rows, _weighted(rows)]:
        pack_ratio = round(row["map_validate_pack_us"] / max(row["json_dumps_us"], 1e-9), 1)
        lines.append(
            f"  {row['source']:8} {row['records']:>7} {row['map_us']:>6} us "
            f"{row['map_ratio']:>5}x {row['map_validate_us']:>10} us {row['ratio']:>5}x "
            f"{row['map_validate_pack_us']:>6} us {pack_ratio:>5}x "
            f"{row.get('first_sight_us', '-'):>9} us {row['json_dumps_us']:>8} us"
        )
    return lines


def _weighted(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """All sources together, each weighted by its records (as bench/headline.py reads them)."""
    records = sum(int(r["records"]) for r in rows)

    def mean(key: str) -> float:
        return round(sum(float(r[key]) * int(r["records"]) for r in rows) / max(records, 1), 1)

    row: dict[str, Any] = {"source": "all", "records": records}
    keys = ["map_us", "map_validate_us", "map_validate_pack_us", "json_dumps_us"]
    for key in keys + (["first_sight_us"] if all("first_sight_us" in r for r in rows) else []):
        row[key] = mean(key)
    dumps = max(row["json_dumps_us"], 1e-9)
    row["map_ratio"] = round(row["map_us"] / dumps, 1)
    row["ratio"] = round(row["map_validate_us"] / dumps, 1)
    return row


def render(results: dict[str, Any]) -> str:
    lines = render_cpu(results["cpu_per_record"])
    u = results["unchanged"]
    lines += [
        "",
        f"Imports when a source re-reports {u['findings']} unchanged findings:",
        f"  first run {u['first_run_imports']}, second run {u['second_run_imports']} "
        f"(target 0); naive resend {u['naive_second_run_imports']}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(run()))
