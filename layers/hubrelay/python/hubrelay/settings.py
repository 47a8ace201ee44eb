"""The one settings model, read from environment variables (set by template.yaml)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, Field

# Security Hub limits that are facts of the API, not settings.
MAX_FINDINGS_PER_CALL = 100
# The current API reference refuses a finding over 240 KB. Seed 000 (the older partner
# FAQ) reads the same figure as a per-call limit; we keep it as the default byte budget
# per call (cheap: it costs at most a few extra calls) and make the budget a setting.
MAX_FINDING_BYTES = 240 * 1024
DEFAULT_BATCH_BYTE_BUDGET = 240 * 1024
MAX_REQUEST_BYTES = 6 * 1024 * 1024
# SQS accepted 256 KiB per message for years and 1 MiB since August 2025; the safe figure
# is the default, the queue's real MaximumMessageSize can raise it.
DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024


class Settings(BaseModel):
    """Everything a hubrelay function reads from its environment, with defaults."""

    product_arn: str = Field("", description="Partner product ARN; empty = private default")
    quarantine_queue_url: str = ""
    batch_byte_budget: int = Field(DEFAULT_BATCH_BYTE_BUDGET, ge=1024, le=MAX_REQUEST_BYTES)
    max_finding_bytes: int = Field(MAX_FINDING_BYTES, ge=1024, le=MAX_FINDING_BYTES)
    max_message_bytes: int = Field(DEFAULT_MAX_MESSAGE_BYTES, ge=1024, le=1024 * 1024)
    # Time kept back from the Lambda deadline for reporting, so retries never run into it.
    deadline_margin_ms: int = Field(10_000, ge=0)
    max_retry_backoff_s: float = Field(8.0, gt=0)
    region: str = "us-east-1"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, str] = {}
        for name in cls.model_fields:
            key = f"HUBRELAY_{name.upper()}"
            if key in env and env[key] != "":
                values[name] = env[key]
        if "region" not in values:
            values["region"] = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
        return cls.model_validate(values)

    @classmethod
    def env_names(cls) -> set[str]:
        """Environment variable names this model reads (template.yaml is checked against it)."""
        return {f"HUBRELAY_{name.upper()}" for name in cls.model_fields}
