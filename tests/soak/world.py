"""The soak's world: what the sources hold at each collector tick of a simulated month.

A scenario is a list of ticks. At each tick scanners may upload Trivy reports (each a
complete scan of one folder and image for the scanner classes it ran), the account may
turn Security Hub off or on, the operator may update the stack's parameters, and faults
may be armed for the tick. Nothing here knows how hubrelay works: the oracle reads these
objects, the driver renders them as Trivy JSON and drives the stack with them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "123456789012"  # the stack emulator's account
HOME = "us-east-1"  # the stack emulator's Region
OTHER_REGION = "eu-west-1"
PARTNER_PRODUCT = f"arn:aws:securityhub:{HOME}:{ACCOUNT}:product/hubrelay/demo"
VULNERABILITY, SECRET = "vulnerability", "secret"
LABELS = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
# Quiet runs at the end of a scenario (a day and a quarter at 3 hours).
SETTLE = 10
FAULTS = ("throttle", "redeliver", "importer-crash", "collector-crash")


@dataclass(frozen=True)
class Issue:
    """One real-world finding at the source: what identifies it across scans."""

    folder: str
    image: str
    kind: str  # VULNERABILITY or SECRET
    name: str  # the CVE id, or the secret's RuleID
    target: str  # Trivy's result Target (the OS for packages, the file for secrets)
    package: str = ""  # vulnerabilities: the package name
    version: str = ""  # vulnerabilities: the installed version
    line: int = 0  # secrets: the start line


@dataclass(frozen=True)
class Content:
    """What a customer sees change about an issue."""

    severity: str
    headline: str


@dataclass(frozen=True)
class Scan:
    """One Trivy report: a complete scan of `folder`/`image` for `classes`."""

    folder: str
    image: str
    classes: frozenset[str]
    found: dict[Issue, Content]
    trivy_version: str
    clean: bool = False  # rendered without `Results` (Trivy omits it when empty)


@dataclass
class Tick:
    scans: list[Scan] = field(default_factory=list)
    hub_enabled: bool = True
    update: dict[str, str] | None = None  # new stack parameters, from this tick on
    faults: list[str] = field(default_factory=list)


@dataclass
class Scenario:
    name: str
    parameters: dict[str, str]
    ticks: list[Tick]
    regions: tuple[str, ...] = (HOME,)  # where the account has Security Hub enabled
    tick_seconds: int = 3 * 3600


class _Images:
    """The evolving truth of a set of scanned images, one random stream per scenario."""

    def __init__(self, rng: random.Random, name: str) -> None:
        self.rng, self.name = rng, name
        self.serial = 0
        self.live: dict[tuple[str, str], dict[Issue, Content]] = {}
        self.gone: dict[tuple[str, str], dict[Issue, Content]] = {}
        self.version = 50

    def _content(self) -> Content:
        self.serial += 1
        return Content(self.rng.choice(LABELS), f"{self.name} headline {self.serial}")

    def new_vulnerability(self, folder: str, image: str) -> Issue:
        self.serial += 1
        n = self.serial
        return Issue(
            folder,
            image,
            VULNERABILITY,
            f"CVE-2026-{10000 + n}",
            "debian 12",
            f"pkg{n % 17}",
            f"1.{n}",
        )

    def new_secret(self, folder: str, image: str) -> Issue:
        self.serial += 1
        rule = self.rng.choice(("aws-access-key-id", "github-pat", "private-key"))
        return Issue(folder, image, SECRET, rule, f"/app/config{self.serial}.env", line=3)

    def seed(self, folder: str, image: str, vulnerabilities: int, secrets: int = 0) -> None:
        found = {
            self.new_vulnerability(folder, image): self._content() for _ in range(vulnerabilities)
        }
        found |= {self.new_secret(folder, image): self._content() for _ in range(secrets)}
        self.live[(folder, image)] = found
        self.gone[(folder, image)] = {}

    def evolve(self, folder: str, image: str, kind: str) -> None:
        """Findings of `kind` resolve, change, come back and appear, as between two scans."""
        live, gone, rng = self.live[(folder, image)], self.gone[(folder, image)], self.rng
        of_kind = [i for i in live if i.kind == kind]
        for issue in of_kind:
            roll = rng.random()
            if roll < 0.06 and len(of_kind) > 1:
                gone[issue] = live.pop(issue)  # fixed
            elif roll < 0.12:
                old = live[issue]
                live[issue] = (
                    Content(rng.choice(LABELS), old.headline)
                    if rng.random() < 0.5
                    else Content(old.severity, f"{old.headline}+")
                )
        for issue in [i for i in gone if i.kind == kind]:
            if rng.random() < 0.1:
                live[issue] = gone.pop(issue)  # comes back
        for _ in range(rng.choice((0, 0, 1, 2))):
            new = (self.new_vulnerability if kind == VULNERABILITY else self.new_secret)(
                folder, image
            )
            live[new] = self._content()

    def scan(self, folder: str, image: str, classes: frozenset[str]) -> Scan:
        if self.rng.random() < 0.03:
            self.version += 1  # a scanner upgrade: no customer-visible change
        found = {i: c for i, c in self.live[(folder, image)].items() if i.kind in classes}
        return Scan(folder, image, classes, found, f"0.{self.version}.0")

    def clean(self, folder: str, image: str) -> Scan:
        """Every vulnerability of the image fixed: a report without Results."""
        live = self.live[(folder, image)]
        for issue in [i for i in live if i.kind == VULNERABILITY]:
            self.gone[(folder, image)][issue] = live.pop(issue)
        return Scan(folder, image, frozenset({VULNERABILITY}), {}, f"0.{self.version}.0", True)


def _month(days: int, tick_seconds: int) -> int:
    return days * 86400 // tick_seconds


def _rescans(images: _Images, ticks: list[Tick], scopes: list[tuple[str, str]], every: int) -> None:
    """Each scope is rescanned (vulnerabilities) about every `every` ticks."""
    rng = images.rng
    for t, tick in enumerate(ticks):
        for folder, image in scopes:
            if t == 0 or rng.random() < 1 / every:
                if t:
                    images.evolve(folder, image, VULNERABILITY)
                tick.scans.append(images.scan(folder, image, frozenset({VULNERABILITY})))


def _settle(ticks: list[Tick], count: int) -> None:
    """Quiet ticks at the end: what the month left undelivered gets delivered."""
    ticks.extend(Tick() for _ in range(count))


def lifecycle(seed: int, days: int, tick_seconds: int, name: str = "lifecycle") -> Scenario:
    rng = random.Random(seed)
    images = _Images(rng, name)
    scopes = [(f"reports/app{n}/", f"registry.example.com/app{n}:1") for n in range(3)]
    for folder, image in scopes:
        images.seed(folder, image, 30)
    ticks = [Tick() for _ in range(_month(days, tick_seconds))]
    _rescans(images, ticks, scopes, every=4)
    # A release fixes every vulnerability of one image, then a regression brings some back
    clean_at = len(ticks) // 2
    ticks[clean_at].scans = [s for s in ticks[clean_at].scans if s.folder != scopes[0][0]]
    ticks[clean_at].scans.append(images.clean(*scopes[0]))
    _settle(ticks, SETTLE)
    return Scenario(name, {}, ticks, tick_seconds=tick_seconds)


def two_prefixes(seed: int, days: int, tick_seconds: int) -> Scenario:
    """The same image under reports/prod/ and reports/staging/: two sets of findings."""
    rng = random.Random(seed)
    images = _Images(rng, "two-prefixes")
    image = "registry.example.com/shop/api:2"
    scopes = [("reports/prod/", image), ("reports/staging/", image)]
    for folder, _ in scopes:
        images.seed(folder, image, 35)
    ticks = [Tick() for _ in range(_month(days, tick_seconds))]
    _rescans(images, ticks, scopes, every=3)
    for t in range(len(ticks) // 3, len(ticks), max(1, len(ticks) // 4)):
        ticks[t].scans = [s for s in ticks[t].scans if s.folder != "reports/staging/"]
        ticks[t].scans.append(images.clean("reports/staging/", image))
    _settle(ticks, SETTLE)
    return Scenario("two-prefixes", {}, ticks, tick_seconds=tick_seconds)


def scanner_classes(seed: int, days: int, tick_seconds: int) -> Scenario:
    """Vulnerability-only and secret-only scans of one image, in one folder; clean reports."""
    rng = random.Random(seed)
    images = _Images(rng, "scanner-classes")
    scope = ("reports/web/", "registry.example.com/web:3")
    images.seed(*scope, vulnerabilities=40, secrets=12)
    ticks = [Tick() for _ in range(_month(days, tick_seconds))]
    for t, tick in enumerate(ticks):
        roll = rng.random()
        if t == 0 or roll < 0.2:
            if t:
                images.evolve(*scope, VULNERABILITY)
            tick.scans.append(images.scan(*scope, frozenset({VULNERABILITY})))
        elif roll < 0.4:
            images.evolve(*scope, SECRET)
            # A secret scan that finds nothing cannot be told from a clean vulnerability
            # scan (docs/findings.md): the world keeps one secret, as a real image would.
            tick.scans.append(images.scan(*scope, frozenset({SECRET})))
        elif roll < 0.43:
            tick.scans.append(images.clean(*scope))
    _settle(ticks, SETTLE)
    return Scenario("scanner-classes", {}, ticks, tick_seconds=tick_seconds)


def unsubscribed(seed: int, days: int, tick_seconds: int) -> Scenario:
    """The account turns Security Hub off for a week, then on again."""
    scenario = lifecycle(seed, days, tick_seconds, name="unsubscribed")
    per_day = 86400 // tick_seconds
    start = len(scenario.ticks) // 4
    for tick in scenario.ticks[start : start + 7 * per_day]:
        tick.hub_enabled = False
    return scenario


def _change(tick: Tick, parameters: dict[str, str]) -> None:
    """An operator's stack update, at a tick no scanner uploads at (so what moves where is
    the source's state before the update, without a race the world would have to rule on)."""
    tick.update, tick.scans = parameters, []


def regions(seed: int, days: int, tick_seconds: int) -> Scenario:
    """A Region added, then the stack's own Region removed: the findings move."""
    scenario = lifecycle(seed, days, tick_seconds, name="regions")
    ticks = scenario.ticks
    _change(ticks[len(ticks) // 3], {"Regions": f"{HOME},{OTHER_REGION}"})
    _change(ticks[2 * len(ticks) // 3], {"Regions": OTHER_REGION})
    scenario.regions = (HOME, OTHER_REGION)
    return scenario


def product_switch(seed: int, days: int, tick_seconds: int) -> Scenario:
    """ProductArn from the account's private default product to a partner's, mid-month."""
    scenario = lifecycle(seed, days, tick_seconds, name="product-switch")
    _change(scenario.ticks[len(scenario.ticks) // 2], {"ProductArn": PARTNER_PRODUCT})
    return scenario


def faults(seed: int, days: int, tick_seconds: int, name: str = "faults") -> Scenario:
    """Throttling storms, redeliveries, crashes mid-batch of the importer and collector."""
    scenario = lifecycle(seed, days, tick_seconds, name=name)
    rng = random.Random(seed + 1)
    for tick in scenario.ticks[:-SETTLE]:
        if tick.scans and rng.random() < 0.5:
            tick.faults.append(rng.choice(FAULTS))
    return scenario


SCENARIOS: dict[str, Any] = {
    "lifecycle": lifecycle,
    "two-prefixes": two_prefixes,
    "scanner-classes": scanner_classes,
    "unsubscribed": unsubscribed,
    "regions": regions,
    "product-switch": product_switch,
    "faults": faults,
    "faults-2": lambda seed, days, tick: faults(seed, days, tick, name="faults-2"),
}


def build(name: str, seed: int, days: int, tick_seconds: int) -> Scenario:
    scenario: Scenario = SCENARIOS[name](seed, days, tick_seconds)
    return scenario
