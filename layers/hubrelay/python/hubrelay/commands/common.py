"""What every subcommand shares: reading a file under the loading policy, one-line errors,
progress on stderr."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import Any

from hubrelay import loading


class CommandError(Exception):
    """A reason the command cannot go on, said in one line (exit code 2)."""


def parse_params(pairs: Iterable[str], flag: str = "--param") -> dict[str, str]:
    """NAME=VALUE items -> {NAME: VALUE} (a value may hold "="); the one parser of
    template parameter overrides (`hubrelay route --param`, `make deploy ARGS=--params`)."""
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CommandError(f"{flag} {pair!r}: expected NAME=VALUE")
        values[name] = value
    return values


def read_json(path: str) -> Any:
    """The JSON of a file, read under the loading policy; LoadError names the file."""
    with open(path, "rb") as handle:
        return loading.load_json(handle.read(), what=path)


def refused(path: str, error: Exception) -> int:
    """One line on stderr naming the file and why it cannot be used; exit code 2."""
    known = isinstance(error, loading.LoadError | CommandError)
    text = str(error) if known or not path else f"{path}: {error}"
    print(" ".join(text.split()), file=sys.stderr)
    return 2


def say(text: str) -> None:
    """A line for the person at the terminal (stderr: stdout is for the command's output)."""
    print(text, file=sys.stderr, flush=True)


class Progress:
    """`what: done/total` on stderr about once a second, for inputs long enough to wait on;
    quiet for short ones. A total not known beforehand (None: a file read as a stream,
    which is large) shows `what: done`."""

    every_s = 1.0

    def __init__(self, what: str, total: int | None, *, quiet_below: int = 1000) -> None:
        self.what = what
        self.total = total
        self.enabled = total is None or total >= quiet_below
        self._last = time.monotonic()
        self._shown = False

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self._shown = True
            say(f"{self.what}: {done}" + ("" if self.total is None else f"/{self.total}"))

    def finish(self, done: int | None = None) -> None:
        """Say the last count, if any was said: `done` when the total was not known."""
        if self._shown:
            final = self.total if self.total is not None else done
            say(f"{self.what}: {final}/{final}")
