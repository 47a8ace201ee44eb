"""Where findings go: one module per destination.

Each module has a pure `render(...)` (the exact payload, shared with `hubrelay route`) and
a `send(...)` that delivers a rendered payload and returns the machine-readable reference
written back to the finding (message id, OpsItem id, ticket key). `send` raises
`DeliveryError` when the destination could not take the payload after its retries.
"""

from __future__ import annotations


class DeliveryError(Exception):
    """A destination did not accept a payload; the message is the reason (no secrets)."""
