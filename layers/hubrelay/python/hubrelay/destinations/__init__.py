"""Where findings go: the registry of destinations, one module per destination.

Each module defines `DESTINATION` (a `hubrelay.route_types.Destination`): its name, whether
the settings enable it, the custom action that sends to it, a pure `render` (the exact
payloads, shared with `hubrelay route`) and a `send` that returns the machine-readable
reference written back to the finding (message id, OpsItem id, ticket key) or raises
`hubrelay.errors.DeliveryError`. Routing, the responder and the write-back know the
destinations only through `REGISTRY`: adding one is a new module here, its line below, its
settings and its template resources.
"""

from __future__ import annotations

from hubrelay.destinations import opscenter, sns, ticket, vendor, webhook
from hubrelay.route_types import Destination

# In this order: the automatic route sends to its destinations in it.
REGISTRY: dict[str, Destination] = {
    d.name: d
    for d in (
        webhook.DESTINATION,
        sns.DESTINATION,
        opscenter.DESTINATION,
        vendor.DESTINATION,
        ticket.DESTINATION,
    )
}
NAMES: tuple[str, ...] = tuple(REGISTRY)
