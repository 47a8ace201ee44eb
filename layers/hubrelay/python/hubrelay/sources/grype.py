"""Grype JSON reports (`grype -o json`) to ASFF: one finding per match, a vulnerability of a
package of the scanned target, built as Trivy's are (hubrelay.sources.vulnscan), with the CVSS
of its related records (NVD's of a distro's CVE) and, from newer Grype, EPSS and CISA KEV
(grype/presenter/models,
https://github.com/anchore/grype/blob/main/grype/presenter/models/vulnerability_metadata.go).
A report is a complete scan of its target for vulnerabilities (Grype finds nothing else).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hubrelay.sources import (
    VULNERABILITY,
    Context,
    Finding,
    MappingError,
    Record,
    Scanned,
    dig,
    items,
    string,
)
from hubrelay.sources.vulnscan import (
    PackageVulnerability,
    cvss_entry,
    expect_object,
    grype_identity,
    package_finding,
    record_identity,
    what_instead,
)


def grype_records(document: Any, origin: str, folder: str) -> Scanned:
    """Records of a Grype JSON report: a complete scan of its target for vulnerabilities
    (Grype finds nothing else)."""
    scope, context = grype_scan(document, folder)
    matches = enumerate(document["matches"] or [])
    out = [grype_record(origin, scope, context, i, m) for i, m in matches]
    return out, {scope: frozenset({VULNERABILITY})}, []


def grype_scan(document: Any, folder: str) -> tuple[str, dict[str, Any]]:
    """(scope, context of every match) of a Grype report or its skeleton."""
    # `"matches": null` is a clean scan of an early Grype, which left the array nil.
    if not isinstance(document, Mapping) or not isinstance(document.get("matches", 0), list | None):
        raise MappingError(f"not a Grype JSON report (no 'matches' array){what_instead(document)}")
    target = dig(document, "source", "target")
    name = str(
        (target.get("userInput") or target.get("imageID"))
        if isinstance(target, Mapping)
        else target or "unknown-target"
    )
    scope = f"grype:{folder}:{name}"
    context = {
        "artifact": name,
        "sourceType": dig(document, "source", "type"),
        "imageId": dig(document, "source", "target", "imageID"),
        "createdAt": dig(document, "descriptor", "timestamp"),
        "scanner": f"grype {dig(document, 'descriptor', 'version') or ''}".strip(),
    }
    return scope, context


def grype_record(origin: str, scope: str, context: dict[str, Any], i: int, match: Any) -> Record:
    return Record(match, f"{origin}#matches[{i}]", "grype", scope, context, VULNERABILITY)


def map_grype(record: Record, ctx: Context) -> list[Finding]:
    match, context = expect_object(record.native), record.context
    vuln = expect_object(match.get("vulnerability"))
    package = expect_object(match.get("artifact"))
    vid, name = vuln.get("id"), package.get("name")
    if not vid or not name:
        raise MappingError("match without vulnerability.id or artifact.name")
    version = str(package.get("version") or "")
    fixes = items(dig(vuln, "fix", "versions"))
    fixed = ", ".join([str(v) for v in fixes]) or None
    path = dig(package, "locations", 0, "path")
    related = [r for r in items(match.get("relatedVulnerabilities")) if isinstance(r, Mapping)]
    cvss = _grype_cvss(vuln.get("cvss"), vuln.get("namespace"))
    for other in related:
        cvss += _grype_cvss(other.get("cvss"), other.get("namespace"))
    description = vuln.get("description")
    if not description and related:
        description = next((r["description"] for r in related if r.get("description")), None)
    state = dig(vuln, "fix", "state")
    # A related entry of the match's own id (Grype relates a distro's record to NVD's of
    # the same CVE) gives its scores, but is not another vulnerability.
    others = [str(r["id"]) for r in related if r.get("id") and r["id"] != vid]
    found = PackageVulnerability(
        scanner="grype",
        identity=record_identity(record, grype_identity),
        vid=str(vid),
        package=name,
        version=version,
        fixed=fixed,
        manager=package.get("type"),
        path=path,
        cvss=cvss,
        label=vuln.get("severity"),
        vendor=str(vuln.get("namespace") or "grype"),
        description=description,
        url=vuln.get("dataSource"),
        references=vuln.get("urls"),
        fix_state=state,
        related=tuple(others),
        epss=_grype_epss(vuln, *related),
        exploited=any(items(v.get("knownExploited")) for v in (vuln, *related)),
        remediation_url=string(dig(vuln, "urls", 0)) or string(vuln.get("dataSource")),
        product_fields={
            "grype/artifact": context["artifact"],
            "grype/scanner": context.get("scanner"),
            "grype/severity": vuln.get("severity"),
            "grype/namespace": vuln.get("namespace"),
            "grype/fixState": state,
            "grype/purl": package.get("purl"),
            "grype/related": ",".join(others) or None,
            "grype/risk": vuln.get("risk"),
        },
    )
    return [package_finding(found, context, ctx)]


def _grype_epss(*vulnerabilities: Mapping[str, Any]) -> float | None:
    """The first EPSS probability of the vulnerability or a related one: newer Grype (its
    database v6) gives `epss` [{cve, epss, percentile, date}] and `knownExploited` (CISA
    KEV entries) with each (grype/presenter/models/vulnerability_metadata.go,
    https://github.com/anchore/grype/blob/main/grype/presenter/models/vulnerability_metadata.go)."""
    for vulnerability in vulnerabilities:
        for entry in items(vulnerability.get("epss")):
            score = dig(entry, "epss")
            if isinstance(score, int | float) and not isinstance(score, bool) and 0 <= score <= 1:
                return float(score)
    return None


def _grype_cvss(entries: Any, source: Any) -> list[dict[str, Any]]:
    if not entries or not isinstance(entries, list):
        return []
    out = []
    for entry in entries:
        score = dig(entry, "metrics", "baseScore")
        if isinstance(score, (int, float)) and 0 <= score <= 10:
            out.append(
                cvss_entry(
                    str(entry.get("version") or "?"),
                    score,
                    entry.get("vector"),
                    str(entry.get("source") or source or "grype"),
                )
            )
    # Newest CVSS version first: 3.1 over 3.0 over 2.0.
    return sorted(out, key=_version, reverse=True) if len(out) > 1 else out


def _version(cvss: Mapping[str, Any]) -> str:
    version: str = cvss["Version"]
    return version
