"""One delivery per (finding Id + ProductArn, destination, action) within a window.

Powertools' Idempotency with its DynamoDB persistence layer: a redelivered event, a
double click on a custom action, or a finding that Security Hub resets to NEW and the
automatic route sees again within `idempotency_window_minutes`, returns the recorded
reference instead of sending again. A send that fails deletes its in-progress record, so
the next attempt can deliver.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)

KEY_PREFIX = "hubrelay-route"


class InProgress(Exception):
    """Another invocation is delivering the same thing right now."""


@dataclass(frozen=True)
class Once:
    result: dict[str, Any]
    fresh: bool  # False when a previous delivery's result was returned


class Ledger:
    def __init__(self, table_name: str, window_minutes: int, client: Any = None) -> None:
        self.store = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client)
        self.config = IdempotencyConfig(
            expires_after_seconds=window_minutes * 60, raise_on_no_idempotency_key=True
        )

    def register_lambda_context(self, context: Any) -> None:
        # Lets an in-progress record expire with the invocation that wrote it.
        self.config.register_lambda_context(context)

    def once(self, key: dict[str, str], send: Callable[[], dict[str, Any]]) -> Once:
        fresh = False

        def deliver(delivery: dict[str, str]) -> dict[str, Any]:
            nonlocal fresh
            fresh = True
            return send()

        wrapped = idempotent_function(
            deliver,
            data_keyword_argument="delivery",
            persistence_store=self.store,
            config=self.config,
            key_prefix=KEY_PREFIX,
        )
        try:
            with warnings.catch_warnings():
                # Outside Lambda (CLI, tests) there is no remaining time to record.
                warnings.filterwarnings("ignore", message="Couldn't determine the remaining time")
                result = wrapped(delivery=key)
        except IdempotencyAlreadyInProgressError as error:
            raise InProgress(str(error)) from None
        return Once(dict(result), fresh)


class NoLedger:
    """No table configured (dry runs, `hubrelay route` without a stack): always send."""

    def register_lambda_context(self, context: Any) -> None:
        return None

    def once(self, key: dict[str, str], send: Callable[[], dict[str, Any]]) -> Once:
        return Once(send(), True)
