"""The importer's first step: queue messages in, valid findings out, one per identity.

A message that breaks the queue contract, and a finding the ASFF validator refuses, are
quarantined with the reason; they never reach Security Hub, and they never hold up the
other findings of the batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hubrelay import asff, message
from hubrelay.delivery import Ref, Undelivered, send_of
from hubrelay.quarantine import Quarantine


@dataclass
class Item:
    """A finding in flight, with the SQS messages it came from."""

    finding: dict[str, Any]
    origins: set[str]
    size: int
    last_error: str = ""
    ref: Ref | None = None  # the tracking row it was sent from, when the message says

    def undelivered(self, code: str) -> Undelivered | None:
        """What tracking is told when the finding is quarantined for an outside cause."""
        if self.ref is None:
            return None
        region, account, _ = self.group
        updated_at = str(self.finding.get("UpdatedAt", ""))
        origins = tuple(sorted(self.origins))
        return Undelivered(
            self.ref, account, region, updated_at, code, origins, send_of(self.finding)
        )

    @property
    def finding_id(self) -> str:
        return str(self.finding.get("Id", "?"))

    @property
    def group(self) -> tuple[str, str, str]:
        """(Region of the ProductArn, account, ProductArn): a call goes to that Region's
        endpoint, one account's refusal never fails another's findings, and one product's
        never another's (IAM authorizes BatchImportFindings on the product ARN of every
        finding in the request, so a product the role does not name denies the whole call:
        "Actions, resources, and condition keys for AWS Security Hub",
        https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecurityhub.html)."""
        product = str(self.finding["ProductArn"])
        return (asff.region_of(product) or "", self.finding["AwsAccountId"], product)


def gather(
    records: Iterable[tuple[str, str]], max_finding_bytes: int, quarantine: Quarantine
) -> tuple[list[Item], int]:
    """The valid findings of (message id, body) records, and how many findings were read."""
    latest: dict[tuple[str, str, str], Item] = {}
    received = 0
    for message_id, body in records:
        try:
            findings, refs = message.read(body, what=f"message {message_id}")
        except message.MessageError as exc:
            quarantine.add((message_id,), "-", "MalformedMessage", str(exc), body)
            continue
        for finding, ref in zip(findings, refs, strict=True):
            received += 1
            admit(latest, message_id, finding, ref, max_finding_bytes, quarantine)
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
) -> None:
    """Keep a valid finding (the newest of its identity); quarantine an invalid one."""
    violations = asff.validate_finding(finding, max_finding_bytes=max_finding_bytes)
    if violations:
        reason = "; ".join(str(v) for v in violations)
        fid = violations[0].finding_id
        quarantine.add((origin,), fid, "InvalidFinding", reason, finding)
        return
    size = asff.finding_size(finding)
    _keep_newest(latest, Item(finding, {origin}, size, ref=ref))


def _keep_newest(latest: dict[tuple[str, str, str], Item], item: Item) -> None:
    # The same finding twice in one invocation (a redelivery, a producer's retry) is sent
    # once: the newer version, answering for both messages.
    # A finding is one per (ProductArn, Id) *in an account's hub*: a partner product whose
    # ARN names no account sends the same Id to many customers, and each is its own finding.
    key = (item.finding["ProductArn"], item.finding["AwsAccountId"], item.finding["Id"])
    previous = latest.get(key)
    if previous is not None:
        item.origins |= previous.origins
        if _updated_at(previous.finding) > _updated_at(item.finding):
            previous.origins = item.origins
            return
    latest[key] = item


def _updated_at(finding: dict[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(str(finding.get("UpdatedAt")))
    except ValueError:
        return datetime.min.replace(tzinfo=asff.now_utc().tzinfo)
