"""One delivery per (finding Id + ProductArn, destination, action) within a window.

Powertools' Idempotency with its DynamoDB persistence layer
(https://docs.powertools.aws.dev/lambda/python/latest/utilities/idempotency/): a redelivered
event, a double click on a custom action, or a finding that Security Hub resets to NEW and
the automatic route sees again within `idempotency_window_minutes`, returns the recorded
reference instead of sending again. A send that fails deletes its in-progress record, so
the next attempt can deliver. The idempotent function is configured once per ledger (once
per Lambda process); a replay is recognised by the documented `response_hook`, which
Powertools calls only when it returns a stored response.
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
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from hubrelay.errors import TransientError

KEY_PREFIX = "hubrelay-route"
_REPLAYED = "__hubrelay_replayed"


class InProgress(TransientError):
    """Another invocation is delivering the same thing right now."""


@dataclass(frozen=True)
class Once:
    result: dict[str, Any]
    fresh: bool  # False when a previous delivery's result was returned


def _mark_replay(response: Any, idempotent_data: DataRecord) -> Any:
    return {**response, _REPLAYED: True} if isinstance(response, dict) else response


def _deliver(delivery: dict[str, str], send: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    # `delivery` is only the idempotency key (Powertools hashes it); `send` does the work.
    return send()


class Ledger:
    """Deliveries remembered for `window_minutes`; the automatic route's for
    `automatic_minutes` (settings.auto_route_window_minutes: its queue retries for longer).
    Both write the same items (the key prefix is one), each with its own expiry."""

    def __init__(
        self,
        table_name: str,
        window_minutes: int,
        client: Any = None,
        automatic_minutes: int | None = None,
    ) -> None:
        self.configs = [
            IdempotencyConfig(
                expires_after_seconds=minutes * 60,
                raise_on_no_idempotency_key=True,
                response_hook=_mark_replay,
            )
            for minutes in (window_minutes, automatic_minutes or window_minutes)
        ]
        self._once, self._once_automatic = (
            idempotent_function(
                _deliver,
                data_keyword_argument="delivery",
                # One persistence layer each: a layer takes the expiry of the first config
                # it is used with (BasePersistenceLayer.configure) and keeps it.
                persistence_store=DynamoDBPersistenceLayer(
                    table_name=table_name, boto3_client=client
                ),
                config=config,
                key_prefix=KEY_PREFIX,
            )
            for config in self.configs
        )

    def register_lambda_context(self, context: Any) -> None:
        # Lets an in-progress record expire with the invocation that wrote it.
        for config in self.configs:
            config.register_lambda_context(context)

    def once(
        self, key: dict[str, str], send: Callable[[], dict[str, Any]], automatic: bool = False
    ) -> Once:
        """`send()` unless the ledger holds `key`'s delivery (within the automatic route's
        window when `automatic`)."""
        deliver = self._once_automatic if automatic else self._once
        try:
            with warnings.catch_warnings():
                # Outside Lambda (CLI, tests) there is no remaining time to record.
                warnings.filterwarnings("ignore", message="Couldn't determine the remaining time")
                result = dict(deliver(delivery=key, send=send))
        except IdempotencyAlreadyInProgressError as error:
            raise InProgress(str(error)) from None
        replayed = bool(result.pop(_REPLAYED, False))
        return Once(result, fresh=not replayed)


class NoLedger:
    """No table configured (dry runs, `hubrelay route` without a stack): always send."""

    def register_lambda_context(self, context: Any) -> None:
        return None

    def once(
        self, key: dict[str, str], send: Callable[[], dict[str, Any]], automatic: bool = False
    ) -> Once:
        return Once(send(), True)
