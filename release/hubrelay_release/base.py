"""What every release step shares: where the tree is, the file names, the one error type."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_NAME = "template.yaml"
PACKAGED_NAME = "packaged.yaml"


class ReleaseError(Exception):
    """A release step cannot go on; the message says why and what to do."""


def shown(path: Path) -> str:
    """A path as the user typed it: relative to the repository when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
