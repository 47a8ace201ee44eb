"""Trivy JSON and Grype JSON vulnerability reports to ASFF.

One finding per (scope, package, vulnerability), with a stable Id from those (the scope is
the report's folder and scanned artifact, so one image in two folders is two findings),
CVSS-based severity where the report has a score (v3 preferred over v2, the report's own
severity source first), the vendor label otherwise (unknown labels become INFORMATIONAL
with the original kept), the artifact and package in Resources, and the native details in
the ASFF `Vulnerabilities` field and ProductFields. Trivy misconfigurations that failed
become findings too, and so do Trivy's exposed secrets (without the matched text) and the
licenses its license scanner rates. A report is a complete scan of its artifact for the
scanner classes it ran (`trivy_records`), and each Id names its class,
`hubrelay/<scanner>/<class>/...`, so that a scan of one class archives nothing of another.
"""

from __future__ import annotations

import hashlib
import re
from array import array
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from hubrelay import asff
from hubrelay.sources import (
    CLASSES,
    LICENSE,
    MISCONFIGURATION,
    SECRET,
    VULNERABILITY,
    Context,
    Finding,
    MappingError,
    Record,
    Scanned,
    dig,
    items,
    obj,
    rfc3339,
    stable_hash,
    stable_json,
    string,
)

VULNERABILITY_TYPE = "Software and Configuration Checks/Vulnerabilities/CVE"


# --- Trivy -----------------------------------------------------------------------------


# Trivy's result classes (types.ResultClass: os-pkgs, lang-pkgs, config, secret, license,
# license-file, custom; the "Class" of each entry of the JSON report's Results,
# https://trivy.dev/latest/docs/configuration/reporting/#json) and the scanner class each
# is the output of. A license or license-file result says it by its Licenses only: its
# Class alone (a license-file result without them) says nothing of the packages' licenses.
TRIVY_RESULT_CLASSES = {
    "os-pkgs": VULNERABILITY,
    "lang-pkgs": VULNERABILITY,
    "config": MISCONFIGURATION,
    "secret": SECRET,
}
# The list of a result that holds each class's findings, and the mapper of its entries.
TRIVY_LISTS = (
    ("Vulnerabilities", VULNERABILITY, "trivy"),
    ("Misconfigurations", MISCONFIGURATION, "trivy-misconfig"),
    ("Secrets", SECRET, "trivy-secret"),
    ("Licenses", LICENSE, "trivy-license"),
)


def trivy_records(document: Any, origin: str, folder: str) -> Scanned:
    """Records of a Trivy JSON report, the classes it scans its artifact for, and errors.

    Trivy's JSON report names no scanners (`--scanners`): the classes scanned are inferred
    from the Results, each result's Class and the lists it holds. A report without Results
    (Trivy leaves the key out when nothing was found: `json:",omitempty"`) or with an empty
    array is a clean scan, of vulnerabilities: nothing in it says what else ran.
    """
    scan = trivy_scan(document, origin, folder)
    out = [found for at, result in trivy_results(document) for found in scan.records(at, result)]
    return out, scan.complete, scan.errors


# Where a result is in its report: ("Results", r) in a report of SchemaVersion 2, (r,) in
# one of Trivy before 0.20, (list, i, "Results", r) in a `trivy k8s` report.
ResultPath = tuple[str | int, ...]


@dataclass
class TrivyScan:
    """What a Trivy report says besides its records: its scope, the context of each result
    that is an object (by its path), the classes it scans completely, and its errors."""

    origin: str
    scope: str
    contexts: dict[ResultPath, dict[str, Any]]
    complete: dict[str, frozenset[str]]
    errors: list[tuple[str, str]]

    def record(self, path: ResultPath, item: Any) -> Record:
        """The record of an element of list `key` of the result at `at`: path (*at, key, i)."""
        *at, key, _ = path
        scan_class, kind = _TRIVY_LIST_KINDS[str(key)]
        position = f"{self.origin}#{path_text(path)}"
        return Record(item, position, kind, self.scope, self.contexts[tuple(at)], scan_class)

    def records(self, at: ResultPath, result: Any) -> list[Record]:
        """The records of the result at `at` (none unless it is one of the scan's)."""
        if at not in self.contexts:
            return []
        return [
            self.record((*at, key, i), item)
            for key, _, _ in TRIVY_LISTS
            if isinstance(result.get(key), list)
            for i, item in enumerate(result[key])
        ]

    def streamed(self, path: ResultPath, item: Any) -> list[Record]:
        """The records of what the second pass over a report read as a stream gives at
        `path`: an element of a result's list, or a whole result (a report before Trivy
        0.20) or k8s resource (`--report summary`), which the first pass outlined."""
        if len(path) >= 3 and path[-2] in _TRIVY_LIST_KINDS:
            return [self.record(path, item)] if path[:-2] in self.contexts else []
        if len(path) == 2 and path[0] == "Findings" and isinstance(item, Mapping):
            results = enumerate(items(item.get("Results")))
            return [f for r, one in results for f in self.records((*path, "Results", r), one)]
        return self.records(path, item) if path in self.contexts else []


_TRIVY_LIST_KINDS = {key: (scan_class, kind) for key, scan_class, kind in TRIVY_LISTS}


def path_text(path: ResultPath) -> str:
    """("Results", 0, "Secrets", 2) as "Results[0].Secrets[2]"; (3,) as "[3]"."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else f".{step}" if text else step
    return text


def trivy_scan(document: Any, origin: str, folder: str) -> TrivyScan:
    """A Trivy report's TrivyScan, from the document or from its skeleton (the document with
    its lists left empty: hubrelay.sources.streamjson), which say the same."""
    artifact = trivy_artifact(document)
    scope = f"trivy:{folder}:{artifact}"
    contexts: dict[ResultPath, dict[str, Any]] = {}
    errors: list[tuple[str, str]] = []
    scanned: set[str] = set()
    unreadable: set[str] = set()
    for at, result, resource in _trivy_units(document):
        where = f"{origin}#{path_text(at)}"
        if isinstance(result, _Unread):
            # A k8s resource Trivy could not scan (an image it could not pull), or one we
            # cannot read: what it holds is not known, so no class is complete.
            errors.append((where, result.reason))
            unreadable.update(CLASSES)
        elif not isinstance(result, Mapping):
            # Not a result we can read: it may have held any class, so no class is complete.
            errors.append((where, f"result is not a JSON object ({type(result).__name__})"))
            unreadable.update(CLASSES)
        else:
            scanned.update(_trivy_classes(result))
            contexts[at] = {
                **_trivy_shared(document, artifact, resource),
                **{k.lower(): result.get(k) for k in ("Target", "Class", "Type")},
            }
            unreadable.update(_unreadable_lists(result, where, errors))
    if not contexts and not errors:
        scanned.add(VULNERABILITY)  # no results: a clean scan (trivy_records)
    complete = frozenset(scanned - unreadable)
    return TrivyScan(origin, scope, contexts, {scope: complete} if complete else {}, errors)


# The lists of resources of a `trivy k8s --format json` report (pkg/k8s/report/report.go,
# https://github.com/aquasecurity/trivy/blob/main/pkg/k8s/report/report.go): Resources
# with `--report all`, Findings with `--report summary`, and in earlier releases
# Vulnerabilities and Misconfigurations. Each resource is {Namespace, Kind, Name,
# Metadata, Results, Error}: its Results are those of a report of one artifact.
K8S_LISTS = ("Resources", "Findings", "Vulnerabilities", "Misconfigurations")


def trivy_form(document: Any, results_list: bool | None = None) -> str | None:
    """Which of Trivy's JSON reports a document (or its skeleton) is: "report" (SchemaVersion
    2, Trivy 0.20 on), "k8s" (`trivy k8s`), "legacy" (before 0.20: a bare array of results;
    `results_list` says whether every element of a skeleton's array is one) or None."""
    if isinstance(document, Mapping):
        if isinstance(document.get("ClusterName"), str) and "Results" not in document:
            return "k8s"
        if "Results" in document and ("SchemaVersion" in document or "ArtifactName" in document):
            return "report"
        # A clean Trivy report: Trivy leaves Results out when it is empty (`json:",omitempty"`
        # on types.Report.Results), so its SchemaVersion and ArtifactName are all it holds.
        if "SchemaVersion" in document and "ArtifactName" in document:
            return "report"
        return None
    if isinstance(document, list) and (
        all(legacy_result(r) for r in document) if results_list is None else results_list
    ):
        return "legacy" if document or results_list else None
    return None


def legacy_result(value: Any) -> bool:
    """Whether a value is a result of Trivy before 0.20 (types.Result then: Target, Type,
    Vulnerabilities; the report was a JSON array of them), not an ASFF finding."""
    return isinstance(value, Mapping) and "Target" in value and "SchemaVersion" not in value


def trivy_artifact(document: Any) -> str:
    """The artifact a Trivy report scans: its ArtifactName, a k8s report's ClusterName, or,
    before Trivy 0.20 (no ArtifactName), the first result's Target without the "(alpine
    3.10.2)" that Trivy appends to an image's OS result, so that two images scanned into
    one folder are two scopes, not one archiving the other."""
    form = "legacy" if isinstance(document, list) else trivy_form(document)
    if form == "k8s":
        return str(document["ClusterName"] or "unknown-cluster")
    if form == "legacy":
        if not all(legacy_result(r) for r in document):
            raise MappingError(NOT_TRIVY)
        target = dig(document, 0, "Target")
        return _OS_SUFFIX.sub("", target) if isinstance(target, str) and target else _UNKNOWN
    if not isinstance(document, Mapping) or not isinstance(document.get("Results"), list | None):
        raise MappingError(f"{NOT_TRIVY}{what_instead(document)}")
    if not any(key in document for key in ("Results", "SchemaVersion", "ArtifactName")):
        raise MappingError(f"{NOT_TRIVY}{what_instead(document)}")
    if _compliance(document):  # its Results are controls, each with results of its own
        raise MappingError(f"not a Trivy scan report{what_instead(document)}")
    return _USERINFO.sub(r"\1", str(document.get("ArtifactName") or _UNKNOWN))


_UNKNOWN = "unknown-artifact"
# The user and password of a URL (RFC 3986, 3.2.1: "userinfo@"): `trivy repo
# https://oauth2:<token>@gitlab.example.com/group/app` names the repository with its token.
# Left out, the token reaches no finding nor the scope, which stays the same when a CI job
# token changes with every run.
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@\s]*@")
NOT_TRIVY = "not a Trivy JSON report (no 'Results' array)"
_OS_SUFFIX = re.compile(r" \([^()]*\)$")


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
    if _compliance(document):
        return (
            " (this is a Trivy compliance report, --compliance: it names no scanned artifact"
            " and repeats a finding under each control that checks it; scan without"
            " --compliance, with --format json, for findings)"
        )
    return ""


def _compliance(document: Any) -> bool:
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


@dataclass(frozen=True)
class _Unread:
    """What stands for the results of a k8s resource that cannot be read, and why."""

    reason: str


def _trivy_units(document: Any) -> Iterator[tuple[ResultPath, Any, Any]]:
    """(path, result, its k8s resource or None) of each result of a Trivy report; a k8s
    resource that cannot be read, or with an Error, is also given alone, with an _Unread
    for its result."""
    if isinstance(document, list):
        for r, result in enumerate(document):
            yield (r,), result, None
        return
    if trivy_form(document) != "k8s":
        for r, result in enumerate(document.get("Results") or []):
            yield ("Results", r), result, None
        return
    for key in [k for k in document if k in K8S_LISTS]:  # in the report's order, as streamed
        if not isinstance(document[key], list | None):
            yield (key,), _Unread(f"{key} is not an array"), None
        for i, resource in enumerate(items(document[key])):
            if not isinstance(resource, Mapping):
                kind = type(resource).__name__
                yield (key, i), _Unread(f"resource is not a JSON object ({kind})"), None
                continue
            if resource.get("Error"):
                error = str(resource["Error"])[:500]
                yield (key, i), _Unread(f"Trivy could not scan it: {error}"), resource
            if not isinstance(resource.get("Results"), list | None):
                yield (key, i, "Results"), _Unread("Results is not an array"), resource
            for r, result in enumerate(items(resource.get("Results"))):
                yield (key, i, "Results", r), result, resource


def trivy_results(document: Any) -> Iterator[tuple[ResultPath, Mapping[str, Any]]]:
    """(path, result) of each result of a Trivy report that is an object."""
    for at, result, _ in _trivy_units(document):
        if isinstance(result, Mapping):
            yield at, result


@dataclass
class Outlines:
    """What the first pass over a report read as a stream keeps of the records that are
    whole Trivy results (a report before Trivy 0.20, a bare array of them) or k8s
    resources (the Findings of `trivy k8s --report summary`): each without its findings,
    so that `trivy_scan` reads the skeleton they `fill` as it reads the whole report, and
    a large report is still never held. `all_results`: every element of a top-level
    array is such a result (what the skeleton, its elements left out, cannot say)."""

    found: dict[ResultPath, Any] = field(default_factory=dict)
    all_results: bool = True

    def see(self, path: ResultPath, item: Any) -> None:
        if len(path) == 1 and self.all_results:
            self.all_results = legacy_result(item)
            if self.all_results:
                self.found[path] = _outline(item)
            else:
                self.found.clear()  # an ASFF list: nothing of it is kept
        elif len(path) == 2 and path[0] == "Findings" and not isinstance(item, Mapping):
            self.found[path] = [] if isinstance(item, list) else item  # what it is not
        elif len(path) == 2 and path[0] == "Findings" and _k8s_resource(item):
            results = item.get("Results")
            kept = {k: item[k] for k in ("Namespace", "Kind", "Name", "Error") if k in item}
            kept["Metadata"] = {"ImageID": dig(item, "Metadata", "ImageID")}
            kept["Results"] = (
                [_outline(r) for r in results] if isinstance(results, list) else results
            )
            self.found[path] = kept

    def fill(self, skeleton: Any) -> Any:
        """The skeleton with the outlines where its elided records are."""
        if isinstance(skeleton, list):
            if not self.all_results:
                raise MappingError(NOT_TRIVY)
            return [self.found.get((i,)) for i in range(getattr(skeleton, "length", 0))]
        if trivy_form(skeleton) == "k8s" and isinstance(skeleton.get("Findings"), list):
            length = getattr(skeleton["Findings"], "length", 0)
            return {
                **skeleton,
                "Findings": [self.found.get(("Findings", i), {}) for i in range(length)],
            }
        return skeleton


def _k8s_resource(value: Any) -> bool:
    """Whether an object is a resource of a `trivy k8s` report, not an ASFF finding (an
    object of neither, outlined as {}, holds nothing `trivy_scan` reads)."""
    return any(k in value for k in ("Kind", "Results", "Error")) and "SchemaVersion" not in value


def _outline(result: Any) -> Any:
    """A Trivy result without its findings: what `trivy_scan` reads of it."""
    if not isinstance(result, Mapping):
        return result if not isinstance(result, list) else []
    out = {k: result[k] for k in ("Target", "Class", "Type") if k in result}
    for key in _TRIVY_LIST_KINDS:
        if key in result:
            out[key] = [] if isinstance(result[key], list) else result[key]
    return out


def _trivy_shared(document: Any, artifact: str, resource: Any) -> dict[str, Any]:
    """What every finding of a result shares: its artifact (for a k8s report, the resource:
    cluster/namespace/kind/name, which its Ids then name too), type, image and time."""
    if resource is None:
        return {
            "artifact": artifact,
            "artifactType": dig(document, "ArtifactType"),
            "imageId": dig(document, "Metadata", "ImageID"),
            "createdAt": dig(document, "CreatedAt"),
        }
    name = "/".join(str(resource.get(k)) for k in ("Namespace", "Kind", "Name") if resource.get(k))
    return {
        "artifact": f"{artifact}/{name}",
        "resource": name,
        "artifactType": None,
        "imageId": dig(resource, "Metadata", "ImageID"),
        "createdAt": None,
    }


def _unreadable_lists(
    result: Mapping[str, Any], where: str, errors: list[tuple[str, str]]
) -> set[str]:
    """The classes of a result's lists that are not arrays, each said in `errors`."""
    unreadable = set()
    for key, scan_class, _ in TRIVY_LISTS:
        found = result.get(key)
        if found is not None and not isinstance(found, list):
            # Not a scan result we can read: say so, and archive nothing of its class.
            errors.append((f"{where}.{key}", f"{key} is not an array"))
            unreadable.add(scan_class)
    return unreadable


def _trivy_classes(result: Mapping[str, Any]) -> set[str]:
    """The scanner classes a Trivy result is the output of: its Class, and the lists it
    holds (results written before Class existed have only those)."""
    found = {scan_class for key, scan_class, _ in TRIVY_LISTS if key in result}
    if (named := TRIVY_RESULT_CLASSES.get(str(result.get("Class")))) is not None:
        found.add(named)
    return found


def map_trivy(record: Record, ctx: Context) -> list[Finding]:
    vuln, context = _object(record.native), record.context
    vid, package = vuln.get("VulnerabilityID"), vuln.get("PkgName")
    if not vid or not package:
        raise MappingError("vulnerability without VulnerabilityID or PkgName")
    installed = str(vuln.get("InstalledVersion") or "")
    cwes = ",".join([c for c in items(vuln.get("CweIDs")) if isinstance(c, str)])
    found = _PackageVulnerability(
        scanner="trivy",
        identity=_identity(record, _vulnerability_identity),
        vid=str(vid),
        package=package,
        version=installed,
        fixed=vuln.get("FixedVersion"),
        manager=context.get("type"),
        path=vuln.get("PkgPath"),
        cvss=_trivy_cvss(vuln),
        label=vuln.get("Severity"),
        vendor="Trivy",
        headline=vuln.get("Title"),
        description=vuln.get("Description"),
        url=vuln.get("PrimaryURL"),
        references=vuln.get("References"),
        published=vuln.get("PublishedDate"),
        modified=vuln.get("LastModifiedDate"),
        remediation_url=string(vuln.get("PrimaryURL")),
        product_fields={
            "trivy/artifact": context["artifact"],
            "trivy/target": context.get("target"),
            "trivy/class": context.get("class"),
            "trivy/severity": vuln.get("Severity"),
            "trivy/severitySource": vuln.get("SeveritySource"),
            "trivy/status": vuln.get("Status"),
            "trivy/cwe": cwes or None,
        },
        record_state="ARCHIVED" if vuln.get("Status") == "not_affected" else "ACTIVE",
    )
    return [_finding(found, context, ctx)]


def map_trivy_misconfig(record: Record, ctx: Context) -> list[Finding]:
    item, context = _object(record.native), record.context
    check = item.get("AVDID") or item.get("ID")
    if not check:
        raise MappingError("misconfiguration without ID")
    cause = obj(item.get("CauseMetadata"))
    where = f"{context.get('target')}:{cause.get('StartLine')}" if cause.get("StartLine") else None
    finding = asff.build_finding(
        finding_id=f"hubrelay/trivy/{MISCONFIGURATION}/{check}/"
        + stable_hash(*_identity(record, _misconfiguration_identity)),
        product_arn=ctx.product_arn_in(ctx.home),
        generator_id=f"trivy/{check}",
        account_id=ctx.account_id,
        title=str(item.get("Title") or check),
        description=str(item.get("Message") or item.get("Description") or check),
        resources=[
            {
                "Type": "Other",
                "Id": str(cause.get("Resource") or _config_of(context))[:512],
                "Details": {
                    "Other": asff.clip_map(
                        {
                            "target": context.get("target"),
                            "location": where,
                            "provider": cause.get("Provider"),
                            "service": cause.get("Service"),
                        },
                        value_max=1023,
                    )
                },
            }
        ],
        severity=_severity([], item.get("Severity")),
        types=["Software and Configuration Checks/Industry and Regulatory Standards"],
        created_at=rfc3339(context.get("createdAt"), ctx.timestamp()),
        product_fields={
            "trivy/artifact": context["artifact"],
            "trivy/target": context.get("target"),
            "trivy/type": item.get("Type"),
            "trivy/namespace": item.get("Namespace"),
        },
        remediation_text=string(item.get("Resolution")),
        remediation_url=string(item.get("PrimaryURL")),
        # PASS with --include-non-failures; EXCEPTION, a violation the user allowed by a
        # policy exception (https://trivy.dev/v0.23.0/misconfiguration/policy/exceptions):
        # both resolved, as SARIF's suppressed results are.
        record_state="ARCHIVED" if item.get("Status") in ("PASS", "EXCEPTION") else "ACTIVE",
    )
    return [finding]


def map_trivy_secret(record: Record, ctx: Context) -> list[Finding]:
    """An exposed secret Trivy found (types.DetectedSecret: RuleID, Category, Severity,
    Title, StartLine, EndLine, Code, Match, Layer; https://trivy.dev/latest/docs/scanner/secret/).

    The finding names the rule, the file and the lines, never the text: Trivy masks the
    secret in Match and Code, but the rest of the line (a key Id next to its key, a user
    next to a password) is as sensitive, and a finding is seen by everyone who can read
    Security Hub. Match and Code are therefore left out, and out of the Id's hash too.
    """
    item, context = _object(record.native), record.context
    rule = item.get("RuleID")
    if not isinstance(rule, str) or not rule:
        raise MappingError("secret without RuleID")
    lines = _lines(item.get("StartLine"), item.get("EndLine"))
    layer = dig(item, "Layer", "DiffID")
    where = f"{context.get('target')}{f' ({lines})' if lines else ''}"
    return [
        asff.build_finding(
            finding_id=f"hubrelay/trivy/{SECRET}/{rule}/"
            + stable_hash(*_identity(record, _secret_identity)),
            product_arn=ctx.product_arn_in(ctx.home),
            generator_id=f"trivy/{rule}",
            account_id=ctx.account_id,
            title=f"{item.get('Title') or rule} exposed in {where}",
            description=f"Trivy's secret rule {rule} ({item.get('Category') or 'uncategorised'})"
            f" matched {where} in {context['artifact']}. The matched text is not copied here.",
            resources=[_artifact_resource(context, None, "", None, None, location=lines)],
            severity=_severity([], item.get("Severity")),
            types=[_secret_type(rule, item.get("Category"), item.get("Title"))],
            created_at=rfc3339(context.get("createdAt"), ctx.timestamp()),
            product_fields={
                "trivy/artifact": context["artifact"],
                "trivy/target": context.get("target"),
                "trivy/class": context.get("class"),
                "trivy/ruleId": rule,
                "trivy/category": item.get("Category"),
                "trivy/severity": item.get("Severity"),
                "trivy/lines": lines,
                "trivy/layer": layer,
            },
            remediation_text="Revoke the secret, issue a new one, and remove it from the file"
            " and from every image layer or commit that holds it.",
        )
    ]


def _config_of(context: Mapping[str, Any]) -> Any:
    """What a misconfiguration without a CauseMetadata.Resource is of: the file (Target), or
    in a k8s report the resource (cluster/namespace/kind/name; its Target is kind/name)."""
    return (None if context.get("resource") else context.get("target")) or context["artifact"]


def map_trivy_license(record: Record, ctx: Context) -> list[Finding]:
    """A license Trivy's license scanner found (types.DetectedLicense: Severity, Category,
    PkgName, FilePath, Name, Confidence, Link; https://trivy.dev/latest/docs/scanner/license/):
    a package's license, or a license file's, rated by the category Trivy's policy puts it
    in (forbidden CRITICAL, restricted HIGH, reciprocal MEDIUM, notice and the rest LOW by
    default, or as `--license-*` flags say)."""
    item, context = _object(record.native), record.context
    name = item.get("Name")
    if not isinstance(name, str) or not name:
        raise MappingError("license without Name")
    package, path = item.get("PkgName") or None, item.get("FilePath") or None
    category = item.get("Category") or "unknown"
    subject = package or path or context.get("target")
    return [
        asff.build_finding(
            finding_id=f"hubrelay/trivy/{LICENSE}/{name}/"
            + stable_hash(*_identity(record, _license_identity)),
            product_arn=ctx.product_arn_in(ctx.home),
            generator_id=f"trivy/license/{name}",
            account_id=ctx.account_id,
            title=f"{name} license ({category}) in {subject}",
            description=f"Trivy's license scanner found the {name} license, of category"
            f" {category}, in {subject} of {context['artifact']}.",
            resources=[_artifact_resource(context, package, "", None, path)],
            severity=_severity([], item.get("Severity")),
            types=["Software and Configuration Checks/Industry and Regulatory Standards"],
            created_at=rfc3339(context.get("createdAt"), ctx.timestamp()),
            product_fields={
                "trivy/artifact": context["artifact"],
                "trivy/target": context.get("target"),
                "trivy/class": context.get("class"),
                "trivy/license": name,
                "trivy/category": category,
                "trivy/severity": item.get("Severity"),
                "trivy/confidence": item.get("Confidence"),
            },
            remediation_url=string(item.get("Link")) or None,
        )
    ]


def _located(context: Mapping[str, Any]) -> Any:
    """Where a finding is, for its Id: the result's Target, with the k8s resource in a
    `trivy k8s` report (one image in two Deployments is two findings; the Ids of other
    reports are as they were before k8s reports were read)."""
    resource = context.get("resource")
    return context.get("target") if resource is None else [resource, context.get("target")]


def _lines(start: Any, end: Any) -> str | None:
    """ "lines 3-4" of a secret's StartLine and EndLine (integers when Trivy writes them)."""
    if not isinstance(start, int) or isinstance(start, bool):
        return None
    if isinstance(end, int) and not isinstance(end, bool) and end > start:
        return f"lines {start}-{end}"
    return f"line {start}"


def _secret_type(*labels: Any) -> str:
    """The ASFF type of an exposed secret: "Sensitive Data Identifications/Passwords" for a
    password rule, else ".../Security" (keys, tokens, certificates), the two categories of
    the namespace that fit ("Types taxonomy for ASFF",
    https://docs.aws.amazon.com/securityhub/latest/userguide/asff-required-attributes.html#Types)."""
    text = " ".join(str(label) for label in labels if label).lower()
    category = "Passwords" if "password" in text else "Security"
    return f"Sensitive Data Identifications/{category}"


def _trivy_cvss(vuln: Mapping[str, Any]) -> list[dict[str, Any]]:
    sources = obj(vuln.get("CVSS"))
    if not sources:
        return []
    # The report's own severity source first, then NVD, then the others by name.
    first = vuln.get("SeveritySource")
    preferred = (
        sorted(sources, key=lambda s: (s != first, s != "nvd", s)) if len(sources) > 1 else sources
    )
    out = []
    for source in preferred:
        scores = obj(sources[source])
        # v3 first, then v4 (V40Score and V40Vector of trivy-db's types.CVSS,
        # https://github.com/aquasecurity/trivy-db/blob/main/pkg/types/types.go): a finding's
        # severity is that of the first v3 or v4 score, so a source with both keeps its v3's.
        for key, default in (("V3", "3.x"), ("V40", "4.0")):
            score = scores.get(f"{key}Score")
            if isinstance(score, (int, float)) and 0 <= score <= 10:
                vector = scores.get(f"{key}Vector")
                version = default
                if isinstance(vector, str) and vector.startswith("CVSS:"):
                    version = vector.split("/", 1)[0][5:]
                out.append(_cvss(version, score, vector, source))
        score = scores.get("V2Score")
        if isinstance(score, (int, float)) and 0 <= score <= 10:
            out.append(_cvss("2.0", score, scores.get("V2Vector"), source))
    return out


# --- Grype -----------------------------------------------------------------------------


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
    match, context = _object(record.native), record.context
    vuln = _object(match.get("vulnerability"))
    package = _object(match.get("artifact"))
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
    found = _PackageVulnerability(
        scanner="grype",
        identity=_identity(record, _grype_identity),
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
    return [_finding(found, context, ctx)]


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
                _cvss(
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


# --- shared ----------------------------------------------------------------------------


# What a Trivy or Grype finding's Id is made of (docs/findings.md, "what the <hash>
# covers"), from its record's native entry, scope and context: what identifies it across
# scans. Each reads the entry as its mapper does, but never refuses it (Repeats reads
# every record, mappable or not).
Identity = Callable[[Mapping[str, Any], str, Any], tuple[Any, ...]]


def _vulnerability_identity(vuln: Mapping[str, Any], scope: str, context: Any) -> tuple[Any, ...]:
    installed = str(vuln.get("InstalledVersion") or "")
    package = vuln.get("PkgID") or f"{vuln.get('PkgName')}@{installed}"
    return (scope, _located(context), package, vuln.get("PkgPath"), vuln.get("VulnerabilityID"))


def _misconfiguration_identity(
    item: Mapping[str, Any], scope: str, context: Any
) -> tuple[Any, ...]:
    cause = obj(item.get("CauseMetadata"))
    check = item.get("AVDID") or item.get("ID")
    return (scope, _located(context), check, cause.get("Resource"), cause.get("StartLine"))


def _secret_identity(item: Mapping[str, Any], scope: str, context: Any) -> tuple[Any, ...]:
    layer = dig(item, "Layer", "DiffID")
    return (scope, _located(context), item.get("RuleID"), item.get("StartLine"), layer)


def _grype_identity(match: Mapping[str, Any], scope: str, context: Any) -> tuple[Any, ...]:
    package = obj(match.get("artifact"))
    version = str(package.get("version") or "")
    name = package.get("purl") or f"{package.get('name')}@{version}"
    path = dig(package, "locations", 0, "path")
    return (scope, name, path, dig(match, "vulnerability", "id"))


def _license_identity(item: Mapping[str, Any], scope: str, context: Any) -> tuple[Any, ...]:
    return (scope, _located(context), item.get("PkgName"), item.get("FilePath"), item.get("Name"))


_IDENTITIES: dict[str, Identity] = {
    "trivy": _vulnerability_identity,
    "trivy-misconfig": _misconfiguration_identity,
    "trivy-secret": _secret_identity,
    "trivy-license": _license_identity,
    "grype": _grype_identity,
}


def _identity(record: Record, identity: Identity) -> tuple[Any, ...]:
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
class _PackageVulnerability:
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


def _finding(found: _PackageVulnerability, context: Mapping[str, Any], ctx: Context) -> Finding:
    """The finding for a vulnerable package of the report's artifact, whichever scanner."""
    title = f"{found.vid} in {found.package} {found.version}".strip()
    resource = _artifact_resource(context, found.package, found.version, found.fixed, found.path)
    return asff.build_finding(
        finding_id=f"hubrelay/{found.scanner}/{VULNERABILITY}/{found.vid}/"
        + stable_hash(*found.identity),
        product_arn=ctx.product_arn_in(ctx.home),
        generator_id=f"{found.scanner}/{found.vid}",
        account_id=ctx.account_id,
        title=f"{title}: {found.headline}" if found.headline else title,
        description=str(found.description or found.headline or title),
        resources=[resource],
        severity=_severity(found.cvss, found.label),
        types=[_vulnerability_type(found.vid)],
        created_at=rfc3339(context.get("createdAt"), ctx.timestamp()),
        product_fields=found.product_fields,
        remediation_text=f"Upgrade {found.package} to {found.fixed}." if found.fixed else None,
        remediation_url=found.remediation_url,
        record_state=found.record_state,
        extra={"Vulnerabilities": [_vulnerability(found)]},
    )


def _object(value: Any) -> Mapping[str, Any]:
    if type(value) is not dict and not isinstance(value, Mapping):  # the ABC is dearer
        raise MappingError(f"expected a JSON object, got {type(value).__name__}")
    return value


def _cvss(version: str, score: float, vector: Any, source: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"Version": version, "BaseScore": float(score), "Source": source}
    if isinstance(vector, str) and vector:
        entry["BaseVector"] = vector
    return entry


def _severity(cvss: list[dict[str, Any]], label: Any) -> dict[str, Any]:
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


def _artifact_resource(
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


def _vulnerability(found: _PackageVulnerability) -> dict[str, Any]:
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


def _vulnerability_type(vulnerability_id: Any) -> str:
    if str(vulnerability_id).startswith("CVE-"):
        return VULNERABILITY_TYPE
    return "Software and Configuration Checks/Vulnerabilities"
