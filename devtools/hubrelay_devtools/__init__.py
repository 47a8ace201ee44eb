"""Developer tools, never shipped: the generated parts of the docs, the checkov scan and the
check that uv.lock is the lock of pyproject.toml's pins."""
