"""Imports as in a Lambda function's process, for the benches that measure one
(bench/memory.py, bench/startup.py's timed child).

hubrelay's zips carry no bytecode (hubrelay_release.zips leaves `__pycache__` out) and a
function can write none beside them (its one writable directory is /tmp:
https://docs.aws.amazon.com/whitepapers/latest/security-overview-aws-lambda/lambda-isolation-technologies.html),
so Python compiles the function's and the layer's modules from source on every cold start;
the runtime's packages (boto3, botocore) and the public Powertools layer come with theirs.
This module imports nothing but importlib.machinery: the timed child loads it before its
clock starts, and anything more would be imported outside the figure.
"""

from __future__ import annotations

from importlib.machinery import SourceFileLoader

# What the Lambda runtime (boto3) and the public Powertools layer bring, with their
# bytecode: hubrelay_release.zips refuses to bundle them.
RUNTIME_PACKAGES = (
    *("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six", "certifi"),
    *("aws_lambda_powertools", "pydantic", "pydantic_core", "typing_extensions"),
)


def compile_from_source(*folders: str) -> None:
    """Every module below `folders` compiled from its source from now on, in this process,
    whatever bytecode is beside it; every other module as Python finds it."""
    with_bytecode = SourceFileLoader.get_code

    def get_code(self: SourceFileLoader, fullname: str) -> object:
        if self.path.startswith(folders):
            return self.source_to_code(self.get_data(self.path), self.path)
        return with_bytecode(self, fullname)

    SourceFileLoader.get_code = get_code  # type: ignore[method-assign,assignment]


def compile_runtime_packages() -> None:
    """Bytecode for the runtime's packages in this environment, written where it is not
    yet (py_compile writes whatever PYTHONDONTWRITEBYTECODE says). Where it cannot be (a
    read-only environment), the figures would hold their compiling: said, not hidden."""
    import compileall
    import importlib.util

    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        done = True
        if spec is not None and spec.submodule_search_locations:
            for folder in spec.submodule_search_locations:
                done = bool(compileall.compile_dir(folder, quiet=2)) and done
        elif spec is not None and spec.origin and spec.origin.endswith(".py"):
            done = bool(compileall.compile_file(spec.origin, quiet=2))
        if not done:
            print(f"bench: no bytecode could be written for {name}: its figures hold its compiling")
