"""Operations added to one of moto's response classes, and taken away again.

The Security Hub and OpsCenter extensions both serve what moto lacks the same way: while a
state object (the Contract, the OpsCenter) is active, their operations are methods of
moto's response class (and, for REST services, paths of its URL map), so they work under
`moto.mock_aws` and on a `ThreadedMotoServer` in this process. `uninstall()` restores
exactly what moto had: its own methods where there were some, nothing where there were not.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, Generic, TypeVar

State = TypeVar("State")
_MISSING = object()


class MotoPatch(Generic[State]):
    def __init__(
        self,
        response_class: type,
        methods: Mapping[str, Callable[..., Any]],
        *,
        url_map: MutableMapping[str, Any] | None = None,
        url_paths: Mapping[str, Any] | None = None,
    ) -> None:
        self._class = response_class
        self._methods = dict(methods)
        self._url_map = url_map
        self._url_paths = dict(url_paths or {})
        self._lock = threading.Lock()
        self._saved: dict[str, Any] = {}
        self._added_paths: list[str] = []
        self.active: State | None = None

    def install(self, state: State | None, default: Callable[[], State]) -> State:
        """Patch moto once; a given `state` replaces the active one, else it is kept."""
        with self._lock:
            if self.active is None:
                for name, method in self._methods.items():
                    self._saved[name] = self._class.__dict__.get(name, _MISSING)
                    setattr(self._class, name, method)
                if self._url_map is not None:
                    for path, handler in self._url_paths.items():
                        if path not in self._url_map:
                            self._url_map[path] = handler
                            self._added_paths.append(path)
            if state is not None or self.active is None:
                self.active = state if state is not None else default()
            return self.active

    def uninstall(self) -> None:
        """Restore moto's own class. Servers already started keep their URL map."""
        with self._lock:
            if self.active is None:
                return
            for name, original in self._saved.items():
                if original is _MISSING:
                    delattr(self._class, name)
                else:
                    setattr(self._class, name, original)
            if self._url_map is not None:
                for path in self._added_paths:
                    self._url_map.pop(path, None)
            self._saved.clear()
            self._added_paths.clear()
            self.active = None
