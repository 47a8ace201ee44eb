"""What the emulator holds for a stack: its functions, queue mappings, rules and a report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[3]


class StackError(Exception):
    """The template cannot be run as written (a missing folder, handler, resource...)."""


@dataclass
class LambdaFunction:
    logical_id: str
    name: str
    arn: str
    handler: str
    code_dir: Path
    layer_dirs: list[Path]
    environment: dict[str, str]
    timeout: int
    role: str
    module: ModuleType | None = None
    modules: dict[str, ModuleType] = field(default_factory=dict)
    invocations: int = 0
    errors: int = 0
    logs: list[str] = field(default_factory=list)


@dataclass
class QueueMapping:
    logical_id: str
    function: str
    queue_url: str
    queue_arn: str
    batch_size: int
    window: int
    report_failures: bool
    visibility_timeout: int
    enabled: bool = True


@dataclass
class Target:
    arn: str
    retries: int
    max_age: int
    dlq_arn: str | None
    input: str | None


@dataclass
class Rule:
    logical_id: str
    arn: str
    pattern: dict[str, Any] | None
    schedule: str | None
    targets: list[Target]
    matched: int = 0


@dataclass
class Report:
    """What happened, for the demo and for tests to assert on."""

    stages: dict[str, float] = field(default_factory=dict)
    events_matched: dict[str, int] = field(default_factory=dict)
    target_failures: list[dict[str, Any]] = field(default_factory=list)
