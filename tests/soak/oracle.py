"""The oracle: from a scenario's source history alone, what Security Hub must hold at the
end and the least number of billable imports that gets it there.

It uses none of hubrelay's code. Its rules are the documented promise (README,
docs/findings.md "Updates and archiving", "Regions", docs/architecture.md):

- a Trivy report is a complete scan of its folder and image for the scanner classes it ran:
  an issue of that class missing from the newest such scan is resolved;
- findings go to the home Region (the stack's Region when `Regions` lists it, else the
  first Region listed) under the configured ProductArn in that Region (the account's
  private default product when ProductArn is empty);
- a resolved issue is ARCHIVED where it was delivered ACTIVE; after a ProductArn or Region
  change it is ARCHIVED under the old product and Region and ACTIVE under the new;
- Security Hub can hold only what was sent while the account had it enabled: an issue that
  lived and died while Security Hub was off need never be sent.

The least billed imports: Security Hub bills every finding ingested, creation or update
(docs/findings.md, "Volume and cost"). For each (place, issue), the state Security Hub must
show changes at most once per tick at which it can be delivered; each change is one import,
but for one case: what Security Hub refused while it was off is re-sent within a day of the
last refusal (docs/operations.md, "InvalidAccess"), so a finding that changes again within
that day may skip the state it had when Security Hub came back.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.soak.world import ACCOUNT, HOME, SECRET, Content, Issue, Scenario

Place = tuple[str, str]  # (ProductArn, Region)
# What the comparison looks at: identity (folder aside: it is only in the Id's hash, so
# two folders' findings are compared as a multiset), content and state.
Observable = tuple[str, ...]


def product_in(product: str, region: str) -> str:
    """The configured ProductArn in `region` (docs/findings.md, "Product ARNs")."""
    if not product:
        return f"arn:aws:securityhub:{region}:{ACCOUNT}:product/{ACCOUNT}/default"
    parts = product.split(":")
    parts[3] = region
    return ":".join(parts)


def home_region(regions: str) -> str:
    listed = [r for r in regions.split(",") if r]
    if not listed or HOME in listed:
        return HOME
    return listed[0]


def observable(issue: Issue, content: Content, state: str) -> Observable:
    if issue.kind == SECRET:
        identity = (issue.kind, issue.name, issue.image, issue.target, "", "")
        return (*identity, content.severity, content.headline, state)
    return (
        issue.kind,
        issue.name,
        issue.image,
        issue.target,
        issue.package,
        issue.version,
        content.severity,
        content.headline,
        state,
    )


@dataclass
class Expectation:
    held: dict[Place, Counter[Observable]] = field(default_factory=dict)
    minimum_imports: int = 0
    issues: int = 0

    def findings(self) -> int:
        return sum(sum(c.values()) for c in self.held.values())


def expect(scenario: Scenario) -> Expectation:
    params = dict(scenario.parameters)
    truth: dict[tuple[str, str, str], dict[Issue, Content]] = {}
    last: dict[Issue, Content] = {}  # every issue ever reported, with its latest content
    at_place: dict[tuple[Place, Issue], Content] = {}  # content while last ACTIVE there
    delivered: set[tuple[Place, Issue]] = set()  # ACTIVE there at a deliverable tick
    shown: dict[tuple[Place, Issue], tuple[Content, str]] = {}  # last state Security Hub had
    imports = 0
    # The collector re-sends a finding Security Hub refused once the (account, Region)'s
    # backoff has passed, at most a day after the last refusal (docs/operations.md,
    # "InvalidAccess"). If the finding changes before then, the new send supersedes the
    # re-send: the state counted when Security Hub came back is never imported, and counting
    # it put the minimum above what the soak billed (unsubscribed, seed 14: billed 1,059,
    # minimum 1,066; 89 changes counted at the tick Security Hub came back, 24 of them
    # superseded so). Such a change is counted instead of the state it supersedes.
    catch_up = 86400 // scenario.tick_seconds
    superseded_by: dict[tuple[Place, Issue], int] = {}  # key -> last tick that supersedes
    was_off, off_at = False, 0
    for t, tick in enumerate(scenario.ticks):
        if tick.update:
            params.update(tick.update)
        for scan in tick.scans:
            for kind in scan.classes:
                truth[(scan.folder, scan.image, kind)] = {
                    i: c for i, c in scan.found.items() if i.kind == kind
                }
            last.update(scan.found)
        region = home_region(params.get("Regions", ""))
        place = (product_in(params.get("ProductArn", ""), region), region)
        active = {i: c for found in truth.values() for i, c in found.items()}
        for issue, content in active.items():
            at_place[(place, issue)] = content
            if tick.hub_enabled:
                delivered.add((place, issue))
        if not tick.hub_enabled:
            was_off, off_at = True, t
            continue
        for key in delivered:
            where, issue = key
            state = "ACTIVE" if where == place and issue in active else "ARCHIVED"
            wanted = (at_place[key], state)
            if shown.get(key) != wanted:
                shown[key] = wanted
                if superseded_by.pop(key, -1) >= t:
                    continue
                imports += 1
                if was_off:
                    superseded_by[key] = off_at + catch_up
        was_off = False
    held: dict[Place, Counter[Observable]] = {}
    for (where, issue), (content, state) in shown.items():
        held.setdefault(where, Counter())[observable(issue, content, state)] += 1
    return Expectation(held, imports, len(last))


def observed(finding: dict[str, Any]) -> Observable:
    """The observable of a finding as Security Hub holds it."""
    kind = str(finding["Id"]).split("/")[2]
    name = str(finding["GeneratorId"]).split("/", 1)[1]
    fields = finding.get("ProductFields", {})
    title = str(finding["Title"])
    state = str(finding["RecordState"])
    severity = str(finding["Severity"]["Label"])
    if kind == SECRET:
        headline = title.split(" exposed in ", 1)[0]
        identity = (kind, name, finding["Resources"][0]["Id"], fields.get("trivy/target", ""))
        return (*identity, "", "", severity, headline, state)
    package = finding["Vulnerabilities"][0]["VulnerablePackages"][0]
    return (
        kind,
        name,
        finding["Resources"][0]["Id"],
        fields.get("trivy/target", ""),
        package["Name"],
        package["Version"],
        severity,
        title.split(": ", 1)[1] if ": " in title else "",
        state,
    )


def mismatches(
    expected: dict[Place, Counter[Observable]], actual: dict[Place, Counter[Observable]]
) -> list[tuple[Place, str, Observable, int]]:
    """Every observable held where it should not be, or missing where it should be."""
    out = []
    for place in sorted(set(expected) | set(actual)):
        want, got = expected.get(place, Counter()), actual.get(place, Counter())
        out += [(place, "missing", o, n) for o, n in (want - got).items()]
        out += [(place, "unexpected", o, n) for o, n in (got - want).items()]
    return out
