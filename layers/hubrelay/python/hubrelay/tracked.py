"""One tracked finding's state (`Tracked`) and how long it is kept: what the tracking table
holds (hubrelay.tracking) and its packed items encode (hubrelay.packed), apart from both
so that neither imports the other for it."""

from __future__ import annotations

from dataclasses import dataclass

from hubrelay.sources import Context, Finding

AGE_OFF_DAYS = 90
# Tracking outlives the age-off a little: after it nothing of the finding remains to update.
EXPIRY_DAYS = AGE_OFF_DAYS + 10


# Slots: a run holds the state of every finding of the scopes it reads (tens of thousands
# for a large scan), and an instance without them carries a dict of its own.
@dataclass(frozen=True, slots=True)
class Tracked:
    scope: str
    key: str  # the finding's base Id (generation 0)
    hash: int  # 64 bits of the content (tracking.content_hash)
    created_at: str
    updated_at: str
    regions: frozenset[str]
    last_sent: float  # epoch seconds
    generation: int = 0
    state: str = "ACTIVE"
    body: Finding | None = None
    # The configured product ARN it was sent under ("" = the private default); None for
    # state recorded before hubrelay kept it: taken to be the current one.
    product: str | None = None
    # Regions the importer could not deliver the last send to, for a cause outside the
    # finding (hubrelay.delivery); read only, a save clears it.
    undelivered: frozenset[str] = frozenset()
    # The exact sends lost ("<ProductArn> <Id> <RecordState>", hubrelay.delivery.send_of);
    # read only, a save clears it. Empty for marks an earlier release made.
    undelivered_sends: frozenset[str] = frozenset()
    # The S3 object holding the body as last saved (hubrelay.bodies), "" for a body kept
    # in the row or none; `body` is None until `Store.resolve` reads it.
    body_ref: str = ""

    def product_in(self, ctx: Context) -> str:
        return ctx.product_arn if self.product is None else self.product
