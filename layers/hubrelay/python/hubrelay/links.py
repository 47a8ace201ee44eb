"""Console links for a finding: Security Hub (every finding) and Detective (GuardDuty).

GuardDuty findings can be investigated in Amazon Detective ("Available AWS service
integrations",
https://docs.aws.amazon.com/securityhub/latest/userguide/securityhub-internal-providers.html),
so messages about a GuardDuty finding carry the Detective pivot next to the Security Hub link.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from hubrelay.asff import partition_for

_CONSOLE_HOSTS = {
    "aws": "console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}
# GuardDuty's ASFF Id is the finding ARN: arn:<p>:guardduty:<r>:<acct>:detector/<d>/finding/<id>
_GUARDDUTY_ID = re.compile(
    r"^arn:aws[a-z-]*:guardduty:[a-z0-9-]+:\d{12}:detector/[^/]+/finding/(?P<id>[^/]+)$"
)


def console_host(region: str) -> str | None:
    """The management console host of `region`'s partition (None for isolated partitions)."""
    return _CONSOLE_HOSTS.get(partition_for(region))


def securityhub_finding_url(finding_id: str, region: str) -> str | None:
    """A Security Hub console link that opens the findings list filtered on this Id.

    The console reads `search=Id=\\operator\\:EQUALS\\:<id>` with the filter value encoded
    twice (that is what the console itself writes when you filter on Id).
    """
    host = console_host(region)
    if host is None:
        return None
    inner = quote("\\operator\\:EQUALS\\:" + finding_id, safe="")
    search = quote(f"Id={inner}", safe="")
    return f"https://{host}/securityhub/home?region={region}#/findings?search={search}"


def guardduty_finding_id(finding_id: str, product_name: str | None) -> str | None:
    """GuardDuty's own finding id (last part of the finding ARN), or None if not GuardDuty."""
    match = _GUARDDUTY_ID.match(finding_id)
    if match is None:
        return None
    if product_name is not None and product_name != "GuardDuty":
        return None
    return match["id"]


def detective_finding_url(finding_id: str, region: str, product_name: str | None) -> str | None:
    """The Detective pivot for a GuardDuty finding (None for any other product)."""
    guardduty_id = guardduty_finding_id(finding_id, product_name)
    host = console_host(region)
    if guardduty_id is None or host is None:
        return None
    return f"https://{host}/detective/home?region={region}#findings/GuardDuty/{guardduty_id}"


def securityhub_v2_finding_url(metadata_uid: str, region: str) -> str | None:
    """A link to a finding in the new (OCSF-based) Security Hub's console.

    AWS documents no URL format for the new console's finding pages (the user guide and
    the API reference describe none), so this is the console's findings page in `region`
    with the finding's metadata.uid as the search text: if AWS changes the console's
    routes the link still lands in the new Security Hub, and every message names the
    metadata.uid as well (`id` in the summary), which the console's search finds.
    """
    host = console_host(region)
    if host is None:
        return None
    search = quote(f"metadata.uid={metadata_uid}", safe="")
    return f"https://{host}/securityhub/v2/home?region={region}#/findings?search={search}"


def finding_links(
    finding_id: str,
    region: str,
    product_name: str | None,
    provider_id: str | None = None,
) -> dict[str, str]:
    """Every link that applies to a finding, by name ("securityHub", "detective").

    `provider_id` marks a finding of the new Security Hub: `finding_id` is then its
    metadata.uid and `provider_id` its finding_info.uid (GuardDuty's finding ARN there)."""
    if provider_id is None:
        hub = securityhub_finding_url(finding_id, region)
    else:
        hub = securityhub_v2_finding_url(finding_id, region)
    links = {
        "securityHub": hub,
        "detective": detective_finding_url(provider_id or finding_id, region, product_name),
    }
    return {name: url for name, url in links.items() if url}
