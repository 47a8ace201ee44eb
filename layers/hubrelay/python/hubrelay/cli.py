"""The `hubrelay` command: pre-flight checks, conversions and sends for partners and
operators. Each subcommand lives in its own module under `hubrelay.commands`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from hubrelay.commands import convert, enqueue, route, send, validate

# What `hubrelay --help` tells a user (the module's docstring is for whoever reads the code).
DESCRIPTION = (
    "Check, convert and send findings for AWS Security Hub, and preview how a hubrelay stack "
    "routes a Security Hub event. `hubrelay COMMAND --help` describes each command."
)


class _Parser(argparse.ArgumentParser):
    """Command-line mistakes in one line (argparse prints the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {' '.join(message.split())} (see {self.prog} --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(prog="hubrelay", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True)
    for command in (validate, convert, send, enqueue, route):
        command.add_parser(commands)
    args = parser.parse_args(argv)
    from hubrelay.observability import log_for_the_command_line

    # Each command says what happened in its own lines; the library's log is for debugging.
    with log_for_the_command_line(os.environ.get("POWERTOOLS_LOG_LEVEL") or "ERROR"):
        code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
