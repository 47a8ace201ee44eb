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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore import loaders
from moto.core.serialize import (
    DEFAULT_ALIAS_PROVIDERS,
    AttributePickerContext,
    ResponseSerializer,
    XFormedAttributePicker,
)

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
