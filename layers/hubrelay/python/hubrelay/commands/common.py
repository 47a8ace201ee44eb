"""What every subcommand shares: reading a file under the loading policy, one-line errors,
progress on stderr."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from typing import Any

from hubrelay import loading


class CommandError(Exception):
    """A reason the command cannot go on, said in one line (exit code 2)."""


def positive_int(text: str) -> int:
    """argparse's type for a size or a count: a whole number above 0 (argparse says
    which option in its one line, see hubrelay.cli)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {value}")
    return value


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


# Enough to tell a file of whitespace from one that holds JSON, without reading a large one.
_BLANK_PROBE = 4096


def read_json(path: str) -> Any:
    """The JSON of a file, read under the loading policy; LoadError names the file."""
    with open(path, "rb") as handle:
        data = handle.read()
    if not data or data.isspace():
        raise CommandError(_empty(path, data))
    return loading.load_json(data, what=path)


def refuse_empty(path: str) -> None:
    """CommandError for a file with nothing in it, which JSON's parser would only call
    "Expecting value: line 1 column 1 (char 0)"; OSError when it cannot be opened."""
    with open(path, "rb") as handle:
        head = handle.read(_BLANK_PROBE + 1)
    if len(head) <= _BLANK_PROBE and (not head or head.isspace()):
        raise CommandError(_empty(path, head))


def _empty(path: str, data: bytes) -> str:
    what = "0 bytes" if not data else "only whitespace"
    return f"{path}: the file is empty ({what}), expected JSON"


def refused(path: str, error: Exception) -> int:
    """One line on stderr naming the file and why it cannot be used; exit code 2."""
    if isinstance(error, loading.LoadError | CommandError):
        text = str(error)
    elif isinstance(error, OSError) and error.strerror:
        # "missing.json: No such file or directory", not "[Errno 2] No such file or
        # directory: 'missing.json'": the file the system names (a mapping, say) first.
        text = f"{error.filename or path}: {error.strerror}"
    else:
        text = f"{path}: {error}" if path else str(error)
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
