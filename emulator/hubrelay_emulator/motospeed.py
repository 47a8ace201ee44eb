"""moto's response serializer with its member lookups remembered: the same bytes, faster.

moto (5.2) turns a backend's result into the wire response by walking the operation's
output shape, and finds each member of each structure by trying up to a dozen aliases
(AttributePicker: the member name, its snake_case form, shape and class prefixes, the
model's serialization name). For a DynamoDB Query that is every one of the ten members of
every AttributeValue of every item: in the soak, over a third of all CPU time went there.

For a plain `dict`, which alias finds a member depends only on the structure shape and the
dict's set of keys (the aliases read the shape, its parent, the object's class name and
whether it has a `Meta`, never the values). So `install()` remembers, per (shape, key
set), which key of the dict each member comes from, and serializes only those members, in
the shape's order, through moto's own `_serialize`. Everything else (objects, dict
subclasses, services with response transformers, a custom value picker, aliases with a
dot, which moto reads as a path) takes moto's own path. tests/integration/test_motospeed.py
holds the two paths to the same bytes.

`install()` also shares botocore's loaded models across sessions. Each function of each
stack makes its own botocore session (a new Lambda process would), and each session's
loader parses the service models again (several MB of JSON per stack). A loader's results
depend only on its search paths, its extras types and the files, which do not change during
a run, and botocore already hands one loader's cached dict to every client of a session:
the process-wide cache hands it to every session.

And moto's SQS SendMessage reads one attribute of the queue, ContentBasedDeduplication,
through `Queue.attributes`, which computes all of them, counting every message in the queue
three times: a dead-letter queue holding thousands of quarantined findings made each send
to it cost milliseconds, and the unsubscribed week of the soak quadratic. While
SendMessage runs, `install()` has `Queue.attributes` compute only that attribute, the
same way (moto reads nothing else of it there).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from botocore import loaders
from moto.core.serialize import (
    DEFAULT_ALIAS_PROVIDERS,
    AttributePickerContext,
    ResponseSerializer,
    XFormedAttributePicker,
)
from moto.core.utils import camelcase_to_underscores
from moto.sqs.models import Queue, SQSBackend

# (structure shape, the dict's keys) -> [(member key, member shape, the dict's key)], or
# None where the lookup cannot be remembered. Shapes are hashed by identity, and held here,
# so an id is never reused. Bounded: cleared when it reaches _MAX_PLANS.
_Plan = list[tuple[str, Any, str]] | None
_plans: dict[tuple[Any, frozenset[str]], _Plan] = {}
_MAX_PLANS = 50_000
_original: Any = None
# botocore's Loader methods with a per-instance cache, shared per (search paths, extras).
_LOADER_METHODS = (
    "list_available_services",
    "determine_latest_version",
    "list_api_versions",
    "load_service_model",
    "load_data_with_path",
)
_loaded: dict[tuple[Any, ...], Any] = {}
_loader_originals: dict[str, Callable[..., Any]] = {}


def _plan(serializer: Any, value: dict[str, Any], shape: Any) -> _Plan:
    members: list[tuple[str, Any, str]] = []
    picker = serializer._value_picker
    for member_key, member_shape in shape.members.items():
        member_shape.parent = shape  # as moto's own walk sets it, before any lookup
        context = AttributePickerContext(
            obj=value,
            key=member_key,
            shape=member_shape,
            operation_model=serializer.operation_model,
            service_model=serializer.operation_model.service_model,
        )
        for candidate in picker.get_possible_keys(context):
            if "." in candidate:
                return None  # moto reads it as a path into the value
            if candidate in value:
                members.append((member_key, member_shape, candidate))
                break
    return members


def _fast_path(serializer: Any, value: Any) -> bool:
    picker = serializer._value_picker
    return (
        type(value) is dict
        and type(picker) is XFormedAttributePicker
        and picker.alias_providers is DEFAULT_ALIAS_PROVIDERS
        and not picker.response_transformers
        and type(serializer).get_value is ResponseSerializer.get_value
        and type(serializer)._serialize_structure_member
        is ResponseSerializer._serialize_structure_member
    )


def _serialize_type_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
    if value is None or not _fast_path(self, value):
        _original(self, serialized, value, shape, key)
        return
    cache_key = (shape, frozenset(value))
    if cache_key in _plans:
        plan = _plans[cache_key]
    else:
        if len(_plans) >= _MAX_PLANS:
            _plans.clear()
        plan = _plans[cache_key] = _plan(self, value, shape)
    if plan is None:
        _original(self, serialized, value, shape, key)
        return
    wrapper: Any = self.MAP_TYPE() if key else serialized
    for member_key, member_shape, source in plan:
        member_value = value[source]
        if member_value is not None:
            self._serialize(wrapper, member_value, member_shape, member_key)
    if key:
        self._default_serialize(serialized, wrapper, shape, key)


def _shared(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    def cached(self: Any, *args: Any, **kwargs: Any) -> Any:
        key: tuple[Any, ...] = (name, tuple(self.search_paths), tuple(self.extras_types))
        key += (args, tuple(sorted(kwargs.items())))
        if key not in _loaded:
            _loaded[key] = method(self, *args, **kwargs)
        return _loaded[key]

    return cached


_sending = threading.local()
_queue_attributes: Any = None
_send_message: Any = None


def _attributes(queue: Any) -> Any:
    if not getattr(_sending, "active", False):
        return _queue_attributes.fget(queue)
    if not queue.fifo_queue:
        return {}  # moto's own dict has no FIFO attributes for a standard queue
    value = getattr(queue, camelcase_to_underscores("ContentBasedDeduplication"))
    return {"ContentBasedDeduplication": str(value).lower() if isinstance(value, bool) else value}


def _send(self: Any, *args: Any, **kwargs: Any) -> Any:
    outer = getattr(_sending, "active", False)
    _sending.active = True
    try:
        return _send_message(self, *args, **kwargs)
    finally:
        _sending.active = outer


def _install_sqs() -> None:
    global _queue_attributes, _send_message
    _queue_attributes, _send_message = Queue.__dict__["attributes"], SQSBackend.send_message
    Queue.attributes = property(_attributes)  # type: ignore[assignment,method-assign]
    SQSBackend.send_message = _send  # type: ignore[method-assign]


def _uninstall_sqs() -> None:
    global _queue_attributes, _send_message
    Queue.attributes = _queue_attributes  # type: ignore[method-assign]
    SQSBackend.send_message = _send_message  # type: ignore[method-assign]
    _queue_attributes = _send_message = None


def install() -> None:
    """Serialize moto's responses through the remembered lookups, and share botocore's
    loaded models (idempotent)."""
    global _original
    if _original is None:
        _original = ResponseSerializer._serialize_type_structure
        ResponseSerializer._serialize_type_structure = _serialize_type_structure  # type: ignore[method-assign]
        for name in _LOADER_METHODS:
            _loader_originals[name] = getattr(loaders.Loader, name)
            setattr(loaders.Loader, name, _shared(name, _loader_originals[name]))
        _install_sqs()


def uninstall() -> None:
    """moto's own serializer and botocore's own loaders again."""
    global _original
    if _original is not None:
        ResponseSerializer._serialize_type_structure = _original  # type: ignore[method-assign]
        _original = None
        _plans.clear()
        for name, method in _loader_originals.items():
            setattr(loaders.Loader, name, method)
        _loader_originals.clear()
        _loaded.clear()
        _uninstall_sqs()
