"""What the Trivy and Grype mappers (hubrelay.sources.trivy, hubrelay.sources.grype) share.

Both give one finding per (scope, package, vulnerability), with a stable Id from those (the
scope is the report's folder and scanned artifact, so one image in two folders is two
findings), CVSS-based severity where the report has a score (v3 preferred over v2, the
report's own severity source first), the vendor label otherwise (unknown labels become
INFORMATIONAL with the original kept), the artifact and package in Resources, and the native
details in the ASFF `Vulnerabilities` field and ProductFields. Here: what each Id is made of
(docs/findings.md, "what the <hash> covers") and how many records of one report before each
share it (`Repeats`), the finding of a vulnerable package (`PackageVulnerability`,
`package_finding`), CVSS entries and severity, the artifact's resource, and what a document
that is neither report is instead (`what_instead`). Each Id names its scanner and class,
`hubrelay/<scanner>/<class>/...`, so that a scan of one class archives nothing of another.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from hubrelay import asff
from hubrelay.sources import (
    VULNERABILITY,
    Context,
    Finding,
    MappingError,
    Record,
    dig,
    items,
    obj,
    rfc3339,
    stable_hash,
    stable_json,
)

VULNERABILITY_TYPE = "Software and Configuration Checks/Vulnerabilities/CVE"


def what_instead(document: Any) -> str:
    """What a document that is no report hubrelay reads is, when it says so: an SBOM is
    the one a scanner's user most often uploads by mistake (`trivy --format cyclonedx`,
    `grype -o cyclonedx-json`), and a bare refusal would not say what to do instead."""
    if isinstance(document, Mapping) and (
        document.get("bomFormat") == "CycloneDX" or "spdxVersion" in document
    ):
        kind = "CycloneDX" if "bomFormat" in document else "SPDX"
        return (
            f" (this is a {kind} SBOM, which hubrelay does not read: scan with Trivy's"
            " --format json or sarif, or Grype's -o json or sarif)"
        )
    if compliance_report(document):
        return (
            " (this is a Trivy compliance report, --compliance: it names no scanned artifact"
            " and repeats a finding under each control that checks it; scan without"
            " --compliance, with --format json, for findings)"
        )
    return ""


def compliance_report(document: Any) -> bool:
    """Whether a document is a report of `trivy ... --compliance` (pkg/compliance/report:
    ComplianceReport {ID, Title, Description, Version, RelatedResources, Results of
    controls} with `--report all`, SummaryReport {ID, Title, SummaryControls} with
    `--report summary`, https://github.com/aquasecurity/trivy/blob/main/pkg/compliance/report/report.go)."""
    return isinstance(document, Mapping) and (
        "SummaryControls" in document
        or (
            "RelatedResources" in document
            and "Title" in document
            and "ArtifactName" not in document
        )
    )


# What a Trivy or Grype finding's Id is made of (docs/findings.md, "what the <hash>
# covers"), from its record's native entry, scope and context: what identifies it across
# scans. Each reads the entry as its mapper does, but never refuses it (Repeats reads
# every record, mappable or not).
Identity = Callable[[Mapping[str, Any], str, Any], tuple[Any, ...]]


def _located(context: Mapping[str, Any]) -> Any:
    """Where a finding is, for its Id: the result's Target, with the k8s resource in a
    `trivy k8s` report (one image in two Deployments is two findings; the Ids of other
    reports are as they were before k8s reports were read)."""
    resource = context.get("resource")
    return context.get("target") if resource is None else [resource, context.get("target")]


def vulnerability_identity(vuln: Mapping[str, Any], scope: str, context: Any) -> tuple[Any, ...]:
    installed = str(vuln.get("InstalledVersion") or "")
    package = vuln.get("PkgID") or f"{vuln.get('PkgName')}@{installed}"
    return (scope, _located(context), package, vuln.get("PkgPath"), vuln.get("VulnerabilityID"))


def misconfiguration_identity(item: Mapping[str, Any], scope: str, context: Any) -> tuple[Any, ...]:
    cause = obj(item.get("CauseMetadata"))
    check = item.get("AVDID") or item.get("ID")
    return (scope, _located(context), check, cause.get("Resource"), cause.get("StartLine"))


def secret_identity(item: Mapping[str, Any], scope: str, context: Any) -> tuple[Any, ...]:
    layer = dig(item, "Layer", "DiffID")
    return (scope, _located(context), item.get("RuleID"), item.get("StartLine"), layer)


def grype_identity(match: Mapping[str, Any], scope: str, context: Any) -> tuple[Any, ...]:
    package = obj(match.get("artifact"))
    version = str(package.get("version") or "")
    name = package.get("purl") or f"{package.get('name')}@{version}"
    path = dig(package, "locations", 0, "path")
    return (scope, name, path, dig(match, "vulnerability", "id"))


def license_identity(item: Mapping[str, Any], scope: str, context: Any) -> tuple[Any, ...]:
    return (scope, _located(context), item.get("PkgName"), item.get("FilePath"), item.get("Name"))


_IDENTITIES: dict[str, Identity] = {
    "trivy": vulnerability_identity,
    "trivy-misconfig": misconfiguration_identity,
    "trivy-secret": secret_identity,
    "trivy-license": license_identity,
    "grype": grype_identity,
}


def record_identity(record: Record, identity: Identity) -> tuple[Any, ...]:
    """What the record's Id is made of: its identity, and its repeat when it has one."""
    parts = identity(record.native, record.scope, record.context)
    return (*parts, record.repeat) if record.repeat else parts


class Repeats:
    """How many records of a report before each share its identity (Record.repeat).

    Two records of one report can share what a Trivy or Grype Id is made of: two matches of
    one secret rule on one line (a minified file), one package at one path in two image
    layers (Grype's `--scope all-layers`), a check that passes twice in one file. The
    collector keeps the first finding of an Id and drops the others, so the nth record of
    an identity has n in its Id's hash and the first has none: the Id of every record that
    collided with none is what it was before repeats were counted.

    Each identity is kept as a 64-bit digest in an open-addressing table of an array (8
    bytes a slot, at most two thirds full: 0.5 MB for the 39,420 records of a 50 MB Trivy
    report, where a set of ints took 3.5 MB, and the collector's peak is a goal of its
    own). A collision of two digests, about 1 in 10^10 for 100,000 records, would give a
    record a new Id.
    """

    def __init__(self) -> None:
        self._table = array("Q", bytes(8 * 1024))  # 0: an empty slot
        self._used = 0
        self._counts: dict[int, int] = {}  # of the identities seen again

    def mark(self, record: Record) -> Record:
        """The record, its `repeat` set (records of other kinds as they are)."""
        identity = _IDENTITIES.get(record.kind)
        if identity is None or not isinstance(record.native, Mapping):
            return record
        text = stable_json(identity(record.native, record.scope, record.context))
        key = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest()) or 1
        if self._add(key):
            return record
        record.repeat = self._counts.get(key, 1)
        self._counts[key] = record.repeat + 1
        return record

    def _add(self, key: int) -> bool:
        """Put a digest in the table; False when it was there already."""
        table = self._table
        mask = len(table) - 1
        i = key & mask
        while table[i]:
            if table[i] == key:
                return False
            i = (i + 1) & mask
        table[i] = key
        self._used += 1
        if self._used * 3 > len(table) * 2:
            self._table = array("Q", bytes(16 * len(table)))
            self._used = 0
            for old in table:
                if old:
                    self._add(old)
        return True


@dataclass(slots=True)
class PackageVulnerability:
    """One vulnerability of one installed package, in the terms Trivy and Grype share.

    Package, fixed version, package manager and path are the report's own values (not
    necessarily strings): the finding keeps them as the report gives them.

    Not frozen, though nothing changes it once built: a frozen dataclass sets each of
    these 24 fields through object.__setattr__, four times the cost of building it, and
    one is built for every vulnerability of every report.
    """

    scanner: str  # "trivy" or "grype": the prefix of the finding's Id and GeneratorId
    identity: tuple[Any, ...]  # what keeps the finding Id stable across scans
    vid: str
    package: Any
    version: str
    fixed: Any
    manager: Any
    path: Any
    cvss: list[dict[str, Any]]
    label: Any  # the scanner's own severity
    vendor: str
    headline: Any = None  # a title of its own, after "<id> in <package> <version>"
    description: Any = None
    url: Any = None
    references: Any = None
    published: Any = None
    modified: Any = None
    fix_state: Any = None
    related: tuple[str, ...] = ()
    epss: float | None = None  # ASFF EpssScore
    exploited: bool = False  # in CISA's Known Exploited Vulnerabilities: ExploitAvailable YES
    remediation_url: str | None = None
    product_fields: Mapping[str, Any] = field(default_factory=dict)
    record_state: str = "ACTIVE"


def package_finding(
    found: PackageVulnerability, context: Mapping[str, Any], ctx: Context
) -> Finding:
    """The finding for a vulnerable package of the report's artifact, whichever scanner."""
    title = f"{found.vid} in {found.package} {found.version}".strip()
    resource = artifact_resource(context, found.package, found.version, found.fixed, found.path)
    return asff.build_finding(
        finding_id=f"hubrelay/{found.scanner}/{VULNERABILITY}/{found.vid}/"
        + stable_hash(*found.identity),
        product_arn=ctx.product_arn_in(ctx.home),
        generator_id=f"{found.scanner}/{found.vid}",
        account_id=ctx.account_id,
        title=f"{title}: {found.headline}" if found.headline else title,
        description=str(found.description or found.headline or title),
        resources=[resource],
        severity=finding_severity(found.cvss, found.label),
        types=[vulnerability_type(found.vid)],
        created_at=rfc3339(context.get("createdAt"), ctx.timestamp()),
        product_fields=found.product_fields,
        remediation_text=f"Upgrade {found.package} to {found.fixed}." if found.fixed else None,
        remediation_url=found.remediation_url,
        record_state=found.record_state,
        extra={"Vulnerabilities": [_vulnerability(found)]},
    )


def expect_object(value: Any) -> Mapping[str, Any]:
    if type(value) is not dict and not isinstance(value, Mapping):  # the ABC is dearer
        raise MappingError(f"expected a JSON object, got {type(value).__name__}")
    return value


def cvss_entry(version: str, score: float, vector: Any, source: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"Version": version, "BaseScore": float(score), "Source": source}
    if isinstance(vector, str) and vector:
        entry["BaseVector"] = vector
    return entry


def finding_severity(cvss: list[dict[str, Any]], label: Any) -> dict[str, Any]:
    if cvss:
        # The first v3 or v4 score, else the first of any version.
        chosen = next((c for c in cvss if c["Version"].startswith(("3", "4"))), cvss[0])
        return asff.severity_from_cvss(chosen["BaseScore"])
    text = str(label or "UNKNOWN")
    if len(text) > 64:  # no label of a scanner: not worth remembering
        return asff.severity_from_label(text, default="INFORMATIONAL")
    return dict(_label_severity(text))


# A report's findings share a few labels ("HIGH", "Medium"): each is read once, and a copy
# is handed out.
@lru_cache(maxsize=256)
def _label_severity(label: str) -> dict[str, Any]:
    return asff.severity_from_label(label, default="INFORMATIONAL")


def artifact_resource(
    context: Mapping[str, Any],
    package: Any,
    version: str,
    fixed: Any,
    path: Any,
    location: str | None = None,
) -> dict[str, Any]:
    details: dict[str, Any] = {
        "Other": asff.clip_map(
            {
                "target": context.get("target"),
                "location": location,
                "package": package,
                "installedVersion": version or None,
                "fixedVersion": fixed,
                "path": path,
            },
            value_max=1023,
        )
    }
    image = context.get("artifactType") == "container_image" or context.get("sourceType") == "image"
    if image:
        container = {"ImageName": context["artifact"]}
        if context.get("imageId"):
            container["ImageId"] = str(context["imageId"])
        details["Container"] = container
    return {
        "Type": "Container" if image else "Other",
        "Id": str(context["artifact"])[:512],
        "Details": details,
    }


def _vulnerability(found: PackageVulnerability) -> dict[str, Any]:
    """The ASFF `Vulnerabilities` entry."""
    # Each string map holds the values that are not empty, as text; one `if` a member is
    # a third of the time of building the map whole and filtering it.
    software: dict[str, str] = {}
    if found.package:
        software["Name"] = str(found.package)
    if found.version:
        software["Version"] = found.version
    if found.fixed:
        software["FixedInVersion"] = str(found.fixed)
    if found.manager:
        software["PackageManager"] = str(found.manager)
    if found.path:
        software["FilePath"] = str(found.path)
    vendor_info = {"Name": found.vendor[:128]} if found.vendor else {}
    if found.url:
        vendor_info["Url"] = str(found.url)
    if found.label:
        vendor_info["VendorSeverity"] = str(found.label)
    if created := rfc3339(found.published, ""):
        vendor_info["VendorCreatedAt"] = created
    if updated := rfc3339(found.modified, ""):
        vendor_info["VendorUpdatedAt"] = updated
    if found.fix_state is None:
        available: str | None = "YES" if found.fixed else "NO"
    else:
        available = _FIX_AVAILABLE.get(str(found.fix_state))
    entry: dict[str, Any] = {
        "Id": found.vid,
        "VulnerablePackages": [software],
        "Vendor": vendor_info,
    }
    # Empty lists are left out (the entry and the two maps never are).
    if found.cvss:
        entry["Cvss"] = found.cvss[:10]
    urls = [u for u in items(found.references) if isinstance(u, str)][:20]
    if urls:
        entry["ReferenceUrls"] = urls
    if found.related:
        entry["RelatedVulnerabilities"] = list(found.related[:20])
    if available:
        entry["FixAvailable"] = available
    if found.epss is not None:
        entry["EpssScore"] = found.epss
    if found.exploited:  # no entry says no more than that none is known
        entry["ExploitAvailable"] = "YES"
    return entry


_FIX_AVAILABLE = {"fixed": "YES", "not-fixed": "NO", "wont-fix": "NO"}


def vulnerability_type(vulnerability_id: Any) -> str:
    if str(vulnerability_id).startswith("CVE-"):
        return VULNERABILITY_TYPE
    return "Software and Configuration Checks/Vulnerabilities"
