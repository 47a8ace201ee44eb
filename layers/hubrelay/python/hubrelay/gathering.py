"""The importer's first step: queue messages in, valid findings out, one per identity.

A message that breaks the queue contract, and a finding the ASFF validator refuses, are
quarantined with the reason; they never reach Security Hub, and they never hold up the
other findings of the batch.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hubrelay import asff, message
from hubrelay.delivery import Ref, Undelivered, send_of
from hubrelay.quarantine import Quarantine


@dataclass
class Item:
    """A finding in flight, with the SQS messages it came from.

    The finding is kept as JSON text and parsed again when a call, the dead-letter queue
    or tracking needs it: a parsed finding takes several times its text's memory, and an
    invocation holds up to 10,000 of them between validation and sending (bench/memory.py
    measures it). The text is the message body itself when the message holds this one
    finding (`index` 0: the body is in the event already, so it costs nothing more),
    otherwise the finding's own. What packing and de-duplication read of it is kept
    beside the text.
    """

    text: str
    origins: set[str]
    size: int
    product: str
    account: str
    finding_id: str
    updated_at: str
    last_error: str = ""
    ref: Ref | None = None  # the tracking row it was sent from, when the message says
    index: int | None = None  # text is a message body: the finding is findings[index]

    @classmethod
    def of(
        cls,
        finding: dict[str, Any],
        origins: set[str],
        ref: Ref | None = None,
        body: str | None = None,
        text: str | None = None,
    ) -> Item:
        """The Item of a valid finding (ProductArn and AwsAccountId present); `body`: the
        message body that holds this finding alone, kept instead of a text of its own;
        `text`: the finding's text as its message holds it (hubrelay.message.read_texts).

        The size is the text's length: botocore's json.dumps of the finding, as the body was
        written by json.dumps (message.read_texts gives texts only when its first finding's
        is). A text with characters json.dumps would escape is serialized again, as is a
        finding without a text, so that those are exact. A body whose first finding is
        json.dumps' but whose later ones are not moves a call's size by their difference: a
        call over Security Hub's limit is then refused with a 413, split and sent again,
        and the budget halves for the container (hubrelay.sending)."""
        if text is None or not text.isascii():
            text = asff.finding_json(finding)  # as botocore puts it on the wire: its size
        return cls(
            text if body is None else body,
            origins,
            len(text),
            # One object per product and account, however many findings share them.
            sys.intern(str(finding["ProductArn"])),
            sys.intern(str(finding["AwsAccountId"])),
            str(finding.get("Id", "?")),
            str(finding.get("UpdatedAt", "")),
            ref=ref,
            index=None if body is None else 0,
        )

    @property
    def finding(self) -> dict[str, Any]:
        """The finding, parsed afresh (a call's request, a DLQ message, tracking)."""
        parsed = json.loads(self.text)
        finding: dict[str, Any] = parsed if self.index is None else parsed["findings"][self.index]
        return finding

    def undelivered(self, code: str) -> Undelivered | None:
        """What tracking is told when the finding is quarantined for an outside cause."""
        if self.ref is None:
            return None
        region, account, _ = self.group
        origins = tuple(sorted(self.origins))
        return Undelivered(
            self.ref, account, region, self.updated_at, code, origins, send_of(self.finding)
        )

    @property
    def group(self) -> tuple[str, str, str]:
        """(Region of the ProductArn, account, ProductArn): a call goes to that Region's
        endpoint, one account's refusal never fails another's findings, and one product's
        never another's (IAM authorizes BatchImportFindings on the product ARN of every
        finding in the request, so a product the role does not name denies the whole call:
        "Actions, resources, and condition keys for AWS Security Hub",
        https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecurityhub.html)."""
        return (asff.region_of(self.product) or "", self.account, self.product)


def gather(
    records: Iterable[tuple[str, str]], max_finding_bytes: int, quarantine: Quarantine
) -> tuple[list[Item], int]:
    """The valid findings of (message id, body) records, and how many findings were read."""
    latest: dict[tuple[str, str, str], Item] = {}
    received = 0
    for message_id, body in records:
        try:
            findings, texts, refs = message.read_texts(body, what=f"message {message_id}")
        except message.MessageError as exc:
            quarantine.add((message_id,), "-", "MalformedMessage", str(exc), body)
            continue
        alone = body if len(findings) == 1 else None
        for i, (finding, ref) in enumerate(zip(findings, refs, strict=True)):
            received += 1
            text = texts[i] if texts is not None else None
            admit(latest, message_id, finding, ref, max_finding_bytes, quarantine, alone, text)
    return list(latest.values()), received


def gather_findings(
    findings: Iterable[tuple[str, Any]], max_finding_bytes: int, quarantine: Quarantine
) -> list[Item]:
    """The valid findings of (origin, finding) pairs read from elsewhere than a queue
    (`hubrelay send`): the importer's validation and one finding per identity."""
    latest: dict[tuple[str, str, str], Item] = {}
    for origin, finding in findings:
        admit(latest, origin, finding, None, max_finding_bytes, quarantine)
    return list(latest.values())


def admit(
    latest: dict[tuple[str, str, str], Item],
    origin: str,
    finding: Any,
    ref: Ref | None,
    max_finding_bytes: int,
    quarantine: Quarantine,
    body: str | None = None,
    text: str | None = None,
) -> None:
    """Keep a valid finding (the newest of its identity); quarantine an invalid one.
    `body`: the message body when it holds this finding alone, `text`: the finding's
    text in its message (Item.of)."""
    violations = asff.validate_finding(finding, max_finding_bytes=max_finding_bytes)
    if violations:
        reason = "; ".join(str(v) for v in violations)
        fid = violations[0].finding_id
        quarantine.add((origin,), fid, "InvalidFinding", reason, finding)
        return
    _keep_newest(latest, Item.of(finding, {origin}, ref=ref, body=body, text=text))


def _keep_newest(latest: dict[tuple[str, str, str], Item], item: Item) -> None:
    # The same finding twice in one invocation (a redelivery, a producer's retry) is sent
    # once: the newer version, answering for both messages.
    # A finding is one per (ProductArn, Id) *in an account's hub*: a partner product whose
    # ARN names no account sends the same Id to many customers, and each is its own finding.
    key = (item.product, item.account, item.finding_id)
    previous = latest.get(key)
    if previous is not None:
        item.origins |= previous.origins
        if _updated_at(previous.updated_at) > _updated_at(item.updated_at):
            previous.origins = item.origins
            return
    latest[key] = item


def _updated_at(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return datetime.min.replace(tzinfo=asff.now_utc().tzinfo)
