"""moto's SSM with OpsCenter OpsItems (moto 5.2.5 has none).

`install()` adds CreateOpsItem, GetOpsItem and DescribeOpsItems to moto's SSM responses,
patched as `hubrelay_emulator.securityhub` is (`hubrelay_emulator.motopatch`): the operations
work under `moto.mock_aws` and on a `ThreadedMotoServer` in this process. SSM is a JSON-protocol
service (one URL, the operation in X-Amz-Target), so only response methods are added.

Deduplication as OpsCenter documents it: OperationalData `/aws/dedup` holds
{"dedupString": "..."}; while an OpsItem with the same string is Open (or InProgress),
CreateOpsItem returns that OpsItem's id instead of creating another one.

    ops = install()
    with mock_aws():
        boto3.client("ssm").create_ops_item(...)
        ops.items("123456789012", "us-east-1")
    uninstall()
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.ssm.responses import SimpleSystemManagerResponse

from hubrelay_emulator.motopatch import MotoPatch

__all__ = ["OpsCenter", "install", "uninstall"]

OpsItem = dict[str, Any]
_OPEN = frozenset({"Open", "InProgress"})
_RESERVED_PREFIXES = ("amazon", "aws", "amzn", "ssm", "/amazon", "/amzn", "/ssm")
_ALLOWED_AWS_KEYS = frozenset({"/aws/dedup", "/aws/resources", "/aws/automations"})


class OpsCenterError(JsonRESTError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)


def _invalid(message: str) -> OpsCenterError:
    return OpsCenterError("ValidationException", message)


@dataclass
class OpsCenter:
    """OpsItems per (account, region), and every CreateOpsItem call seen."""

    _items: dict[tuple[str, str], dict[str, OpsItem]] = field(default_factory=dict)
    create_calls: int = 0
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def items(self, account: str, region: str) -> list[OpsItem]:
        with self._lock:
            return copy.deepcopy(list(self._items.get((account, region), {}).values()))


def _check_create(body: dict[str, Any]) -> None:
    for name, (low, high) in {
        "Title": (1, 1024),
        "Description": (1, 2048),
        "Source": (1, 128),
    }.items():
        value = body.get(name)
        if not isinstance(value, str) or not low <= len(value) <= high or not value.strip():
            raise _invalid(f"{name} must be {low} to {high} characters")
    severity = body.get("Severity")
    if severity is not None and severity not in ("1", "2", "3", "4"):
        raise _invalid("Severity must be 1, 2, 3 or 4")
    data = body.get("OperationalData") or {}
    if not isinstance(data, dict):
        raise _invalid("OperationalData must be a map")
    for key, value in data.items():
        lowered = key.lower()
        if lowered.startswith(_RESERVED_PREFIXES) and lowered not in _ALLOWED_AWS_KEYS:
            raise _invalid(f"OperationalData key {key!r} uses a reserved prefix")
        if lowered.startswith("/aws/") and lowered not in _ALLOWED_AWS_KEYS:
            raise _invalid(f"OperationalData key {key!r} uses a reserved prefix")
        if not isinstance(value, dict) or not isinstance(value.get("Value"), str):
            raise _invalid(f"OperationalData {key!r} needs a Value")
    if len(json.dumps(data)) > 20 * 1024:
        raise _invalid("OperationalData is larger than 20 KB")


def _dedup(data: dict[str, Any]) -> str | None:
    raw = (data.get("/aws/dedup") or {}).get("Value")
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else None
    except ValueError as exc:
        raise _invalid('/aws/dedup must hold JSON {"dedupString": ...}') from exc
    value = parsed.get("dedupString") if isinstance(parsed, dict) else None
    return value if isinstance(value, str) and value else None


def _create(ops: OpsCenter, response: SimpleSystemManagerResponse) -> dict[str, Any]:
    body = json.loads(response.body or "{}")
    _check_create(body)
    scope = (response.current_account, response.region)
    with ops._lock:
        ops.create_calls += 1
        items = ops._items.setdefault(scope, {})
        dedup = _dedup(body.get("OperationalData") or {})
        if dedup is not None:
            for item in items.values():
                if item["Status"] in _OPEN and item.get("_dedup") == dedup:
                    return {"OpsItemId": item["OpsItemId"]}
        ops_item_id = f"oi-{len(items) + 1:012x}"
        now = datetime.now(UTC)
        items[ops_item_id] = {
            "OpsItemId": ops_item_id,
            "OpsItemArn": (
                f"arn:{response.partition}:ssm:{scope[1]}:{scope[0]}:opsitem/{ops_item_id}"
            ),
            "Title": body["Title"],
            "Description": body["Description"],
            "Source": body["Source"],
            "Status": "Open",
            "CreatedTime": now,
            "LastModifiedTime": now,
            "CreatedBy": f"arn:{response.partition}:iam::{scope[0]}:root",
            "OperationalData": copy.deepcopy(body.get("OperationalData") or {}),
            **{k: body[k] for k in ("Severity", "Category", "Priority") if k in body},
            "_dedup": dedup,
        }
        return {"OpsItemId": ops_item_id, "OpsItemArn": items[ops_item_id]["OpsItemArn"]}


def _public(item: OpsItem) -> OpsItem:
    return {k: copy.deepcopy(v) for k, v in item.items() if not k.startswith("_")}


def _get(ops: OpsCenter, response: SimpleSystemManagerResponse) -> dict[str, Any]:
    body = json.loads(response.body or "{}")
    scope = (response.current_account, response.region)
    with ops._lock:
        item = ops._items.get(scope, {}).get(str(body.get("OpsItemId")))
        if item is None:
            raise OpsCenterError(
                "OpsItemNotFoundException", f"OpsItem {body.get('OpsItemId')} not found"
            )
        return {"OpsItem": _public(item)}


def _describe(ops: OpsCenter, response: SimpleSystemManagerResponse) -> dict[str, Any]:
    # Filters supported: OpsItemId, Status, Source, Title (Equal / Contains).
    body = json.loads(response.body or "{}")
    scope = (response.current_account, response.region)
    filters = body.get("OpsItemFilters") or []
    with ops._lock:
        items = list(ops._items.get(scope, {}).values())
    for spec in filters:
        key, values, operator = spec.get("Key"), spec.get("Values") or [], spec.get("Operator")
        if key not in ("OpsItemId", "Status", "Source", "Title"):
            raise _invalid(f"filter key {key} is not supported by hubrelay_emulator")
        if operator == "Contains":
            items = [i for i in items if any(v in str(i.get(key)) for v in values)]
        else:
            items = [i for i in items if str(i.get(key)) in values]
    summaries = [{k: copy.deepcopy(i[k]) for k in _SUMMARY_FIELDS if k in i} for i in items]
    return {"OpsItemSummaries": summaries}


_SUMMARY_FIELDS = (
    *("OpsItemId", "Title", "Source", "Status", "Severity", "Category"),
    *("CreatedTime", "LastModifiedTime", "OperationalData"),
)
_OPERATIONS: dict[str, Callable[[OpsCenter, SimpleSystemManagerResponse], dict[str, Any]]] = {
    "create_ops_item": _create,
    "get_ops_item": _get,
    "describe_ops_items": _describe,
}


def _method(
    operation: Callable[[OpsCenter, SimpleSystemManagerResponse], dict[str, Any]],
) -> Callable[[SimpleSystemManagerResponse], ActionResult]:
    def method(response: SimpleSystemManagerResponse) -> ActionResult:
        ops = _PATCH.active
        if ops is None:
            raise OpsCenterError("InternalServerError", "hubrelay_emulator OpsCenter not installed")
        return ActionResult(operation(ops, response))

    return method


_PATCH: MotoPatch[OpsCenter] = MotoPatch(
    SimpleSystemManagerResponse,
    {name: _method(operation) for name, operation in _OPERATIONS.items()},
)


def install(ops: OpsCenter | None = None) -> OpsCenter:
    """Patch moto's SSM with OpsItems; return the active OpsCenter (idempotent)."""
    return _PATCH.install(ops, OpsCenter)


def uninstall() -> None:
    _PATCH.uninstall()
