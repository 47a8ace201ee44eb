"""The one batching function: findings into BatchImportFindings calls.

Findings are grouped by (Region of the ProductArn, AwsAccountId): a call goes to the
Regional endpoint of its ProductArn, and one account's authorization failure must never
fail another account's findings. Each group is packed with first-fit decreasing by size
into calls of at most 100 findings and at most `byte_budget` bytes of findings, which lands
at or within a call of the lower bound max(ceil(n/100), ceil(bytes/budget)).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from hubrelay.settings import MAX_FINDING_BYTES, MAX_FINDINGS_PER_CALL

T = TypeVar("T")
GroupKey = tuple[str, ...]  # (region, account, product ARN)


@dataclass
class Call(Generic[T]):
    """One BatchImportFindings request: its group, items and their total bytes."""

    group: GroupKey
    items: list[T] = field(default_factory=list)
    size: int = 0
    attempt: int = 0  # how often this call was tried already (the importer's retries)


@dataclass
class ByteBudget:
    """The byte budget per call, halved for the container's life on a 413.

    Security Hub refuses a request over its size limit as a whole (HTTP 413,
    RequestEntityTooLargeException). The call is split and sent again (hubrelay.sending);
    this remembers half the refused request's size, so later invocations of the same
    container pack under it and do not pay the refusal again. Never below `floor` (the
    largest finding Security Hub accepts, which must fit in a call of its own).
    """

    configured: int
    floor: int = MAX_FINDING_BYTES
    learned: int | None = None
    halvings: int = 0

    @property
    def current(self) -> int:
        return self.configured if self.learned is None else self.learned

    def refused(self, request_bytes: int) -> bool:
        """A request of `request_bytes` was too large: whether the budget went down."""
        lower = max(self.floor, min(self.current, request_bytes) // 2)
        if lower >= self.current:
            return False
        self.learned = lower
        self.halvings += 1
        return True


@dataclass(frozen=True)
class Sized(Generic[T]):
    item: T
    group: GroupKey
    size: int


def lower_bound(
    sizes: Sequence[int], byte_budget: int, max_per_call: int = MAX_FINDINGS_PER_CALL
) -> int:
    if not sizes:
        return 0
    return max(math.ceil(len(sizes) / max_per_call), math.ceil(sum(sizes) / byte_budget))


def pack(
    items: Iterable[Sized[T]],
    byte_budget: int,
    max_per_call: int = MAX_FINDINGS_PER_CALL,
) -> list[Call[T]]:
    """Calls covering every item exactly once, never mixing groups, never over a limit.

    An item bigger than the budget gets a call of its own (validation refuses findings
    over 240 KB before they get here; a budget below that is the operator's choice).
    """
    groups: dict[GroupKey, list[Sized[T]]] = defaultdict(list)
    for entry in items:
        groups[entry.group].append(entry)
    calls: list[Call[T]] = []
    for key in sorted(groups):
        entries = sorted(groups[key], key=lambda e: e.size, reverse=True)
        best = _first_fit_decreasing(key, entries, byte_budget, max_per_call)
        bound = lower_bound([e.size for e in entries], byte_budget, max_per_call)
        if len(best) > bound:
            balanced = _balanced(key, entries, bound, byte_budget, max_per_call)
            best = balanced if len(balanced) < len(best) else best
        calls.extend(best)
    return calls


def _first_fit_decreasing(
    key: GroupKey, entries: list[Sized[T]], byte_budget: int, max_per_call: int
) -> list[Call[T]]:
    bins: list[Call[T]] = []
    # Bins that still have room; full ones leave the list so the scan stays short even for
    # thousands of small findings.
    open_bins: list[Call[T]] = []
    for entry in entries:
        target = next(
            (b for b in open_bins if b.size + entry.size <= byte_budget),
            None,
        )
        if target is None:
            target = Call(key)
            bins.append(target)
            open_bins.append(target)
        target.items.append(entry.item)
        target.size += entry.size
        if len(target.items) >= max_per_call or target.size >= byte_budget:
            open_bins.remove(target)
    return bins


def _balanced(
    key: GroupKey, entries: list[Sized[T]], calls: int, byte_budget: int, max_per_call: int
) -> list[Call[T]]:
    """Largest first, each into the call whose fuller dimension stays lowest (opening a new
    call only when none has room), so both limits fill evenly across `calls` calls."""
    bins: list[Call[T]] = [Call(key) for _ in range(max(calls, 1))]
    for entry in entries:
        target: Call[T] | None = None
        best = 0.0
        for candidate in bins:
            if len(candidate.items) < max_per_call and candidate.size + entry.size <= byte_budget:
                load = max(
                    (len(candidate.items) + 1) / max_per_call,
                    (candidate.size + entry.size) / byte_budget,
                )
                if target is None or load < best:
                    target, best = candidate, load
        if target is None:
            target = Call(key)
            bins.append(target)
        target.items.append(entry.item)
        target.size += entry.size
    return [b for b in bins if b.items]
