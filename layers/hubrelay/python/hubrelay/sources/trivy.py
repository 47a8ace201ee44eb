"""Trivy JSON reports to ASFF: the report of one artifact (`trivy image`, `fs`, `repo`:
SchemaVersion 2, Trivy 0.20 on, https://trivy.dev/latest/docs/configuration/reporting/#json),
a `trivy k8s` report (https://github.com/aquasecurity/trivy/blob/main/pkg/k8s/report/report.go)
and the bare array of results of Trivy before 0.20.

Each vulnerability of a package is a finding, built as Grype's are (hubrelay.sources.vulnscan,
CVSS v3 and v4 of trivy-db's types.CVSS,
https://github.com/aquasecurity/trivy-db/blob/main/pkg/types/types.go). Misconfigurations that
failed become findings too, and so do exposed secrets (without the matched text,
https://trivy.dev/latest/docs/scanner/secret/) and the licenses the license scanner rates
(https://trivy.dev/latest/docs/scanner/license/). A report is a complete scan of its artifact
for the scanner classes it ran (`trivy_records`), and each Id names its class,
`hubrelay/trivy/<class>/...`, so that a scan of one class archives nothing of another.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
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
    string,
)
from hubrelay.sources.vulnscan import (
    PackageVulnerability,
    artifact_resource,
    compliance_report,
    cvss_entry,
    expect_object,
    finding_severity,
    license_identity,
    misconfiguration_identity,
    package_finding,
    record_identity,
    secret_identity,
    vulnerability_identity,
    what_instead,
)

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
    if compliance_report(document):  # its Results are controls, each with results of its own
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
    vuln, context = expect_object(record.native), record.context
    vid, package = vuln.get("VulnerabilityID"), vuln.get("PkgName")
    if not vid or not package:
        raise MappingError("vulnerability without VulnerabilityID or PkgName")
    installed = str(vuln.get("InstalledVersion") or "")
    cwes = ",".join([c for c in items(vuln.get("CweIDs")) if isinstance(c, str)])
    found = PackageVulnerability(
        scanner="trivy",
        identity=record_identity(record, vulnerability_identity),
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
    return [package_finding(found, context, ctx)]


def map_trivy_misconfig(record: Record, ctx: Context) -> list[Finding]:
    item, context = expect_object(record.native), record.context
    check = item.get("AVDID") or item.get("ID")
    if not check:
        raise MappingError("misconfiguration without ID")
    cause = obj(item.get("CauseMetadata"))
    where = f"{context.get('target')}:{cause.get('StartLine')}" if cause.get("StartLine") else None
    finding = asff.build_finding(
        finding_id=f"hubrelay/trivy/{MISCONFIGURATION}/{check}/"
        + stable_hash(*record_identity(record, misconfiguration_identity)),
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
        severity=finding_severity([], item.get("Severity")),
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
    item, context = expect_object(record.native), record.context
    rule = item.get("RuleID")
    if not isinstance(rule, str) or not rule:
        raise MappingError("secret without RuleID")
    lines = _lines(item.get("StartLine"), item.get("EndLine"))
    layer = dig(item, "Layer", "DiffID")
    where = f"{context.get('target')}{f' ({lines})' if lines else ''}"
    return [
        asff.build_finding(
            finding_id=f"hubrelay/trivy/{SECRET}/{rule}/"
            + stable_hash(*record_identity(record, secret_identity)),
            product_arn=ctx.product_arn_in(ctx.home),
            generator_id=f"trivy/{rule}",
            account_id=ctx.account_id,
            title=f"{item.get('Title') or rule} exposed in {where}",
            description=f"Trivy's secret rule {rule} ({item.get('Category') or 'uncategorised'})"
            f" matched {where} in {context['artifact']}. The matched text is not copied here.",
            resources=[artifact_resource(context, None, "", None, None, location=lines)],
            severity=finding_severity([], item.get("Severity")),
            types=[secret_type(rule, item.get("Category"), item.get("Title"))],
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
    item, context = expect_object(record.native), record.context
    name = item.get("Name")
    if not isinstance(name, str) or not name:
        raise MappingError("license without Name")
    package, path = item.get("PkgName") or None, item.get("FilePath") or None
    category = item.get("Category") or "unknown"
    subject = package or path or context.get("target")
    return [
        asff.build_finding(
            finding_id=f"hubrelay/trivy/{LICENSE}/{name}/"
            + stable_hash(*record_identity(record, license_identity)),
            product_arn=ctx.product_arn_in(ctx.home),
            generator_id=f"trivy/license/{name}",
            account_id=ctx.account_id,
            title=f"{name} license ({category}) in {subject}",
            description=f"Trivy's license scanner found the {name} license, of category"
            f" {category}, in {subject} of {context['artifact']}.",
            resources=[artifact_resource(context, package, "", None, path)],
            severity=finding_severity([], item.get("Severity")),
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


def _lines(start: Any, end: Any) -> str | None:
    """ "lines 3-4" of a secret's StartLine and EndLine (integers when Trivy writes them)."""
    if not isinstance(start, int) or isinstance(start, bool):
        return None
    if isinstance(end, int) and not isinstance(end, bool) and end > start:
        return f"lines {start}-{end}"
    return f"line {start}"


def secret_type(*labels: Any) -> str:
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
                out.append(cvss_entry(version, score, vector, source))
        score = scores.get("V2Score")
        if isinstance(score, (int, float)) and 0 <= score <= 10:
            out.append(cvss_entry("2.0", score, scores.get("V2Vector"), source))
    return out
