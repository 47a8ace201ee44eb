"""The `hubrelay` console script: the CLI, or one line on what to install when its extra is
missing.

The package declares no dependencies (in Lambda the runtime brings boto3 and the public
Powertools layer the rest), so a wheel installed without its `cli` extra would otherwise end
in an ImportError traceback at the first command.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

# The distributions of pyproject.toml's `cli` extra, by the module a missing one leaves out.
CLI_MODULES = frozenset({"boto3", "botocore", "aws_lambda_powertools", "pydantic", "pydantic_core"})


def main(argv: Sequence[str] | None = None) -> int:
    try:
        from hubrelay import cli
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in CLI_MODULES:
            raise
        print(
            f"hubrelay: {error.name} is missing: install the command with its cli extra, "
            "e.g. pipx install 'hubrelay-<version>-py3-none-any.whl[cli]' (see docs/setup.md)",
            file=sys.stderr,
        )
        return 2
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
