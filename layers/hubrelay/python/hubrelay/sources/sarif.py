"""SARIF 2.1.0 (any tool: CodeQL, Semgrep, Trivy, Grype, Checkov...) to ASFF.

Every result of every run becomes a finding. SARIF's indirections are resolved: a rule by
`ruleIndex` (or `rule.index`, or `rule.toolComponent` into an extension), by `ruleId` (or
`rule.id`) when there is no index or it points at no rule; an artifact location by `index`
into `run.artifacts`; a message by `id` into the rule's `messageStrings`, with `{0}`
arguments filled in. A result that names no rule at all is a finding of the tool itself.
Severity is the rule's `security-severity` property (a CVSS-like 0-10 score, the GitHub
convention) when present, else the result's `level` (error HIGH, warning MEDIUM, note LOW,
none INFORMATIONAL); level "none", the default of kinds other than "fail" (§3.27.10), is
INFORMATIONAL whatever the score. Results of kind pass / notApplicable, accepted suppressions and
baselineState "absent" are resolved (ARCHIVED). A run whose results are null or whose
invocation failed is not a complete scan, so nothing is archived for being absent from it.
What the specification does not allow is an error, not an empty scan: results that are
neither an array nor null (that run's scope is then not complete), a run without a tool
driver or that is no object (no run of the log is then complete: its scope is unknown).

Spec: https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html (section numbers
below are that document's).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from hubrelay import asff
from hubrelay.loading import is_mapping
from hubrelay.sources import MappingError, Record, dig, items, obj, stable_hash, string
from hubrelay.sources.trivy import secret_type
from hubrelay.sources.vulnscan import vulnerability_type

if TYPE_CHECKING:
    from hubrelay.sources import Context, Finding, Parsed

LEVELS = {"error": "HIGH", "warning": "MEDIUM", "note": "LOW", "none": "INFORMATIONAL"}
RESOLVED_KINDS = {"pass", "notApplicable"}
_ARGUMENT = re.compile(r"\{(\d+)\}")
_CWE_TYPE = "Software and Configuration Checks/Vulnerabilities/CWE"
_CODE_TYPE = "Software and Configuration Checks/Code Analysis"
# A rule that is a published vulnerability: its id is a CVE or GHSA id, or starts with one
# and the package (Trivy's SARIF: "CVE-2024-6119"; Grype's: "CVE-2024-6119-libcrypto3";
# osv-scanner's: "GHSA-35jh-r3h4-6jhm"). GHSA ids: https://github.com/github/advisory-database.
# OSV's own ecosystems' ids too (PYSEC-2021-63, GO-2022-0646, RUSTSEC-2021-0001: the
# "id" prefixes of https://ossf.github.io/osv-schema/).
_VULNERABILITY_ID = re.compile(
    r"CVE-\d{4}-\d{4,}|GHSA(?:-[23456789cfghjmpqrvwx]{4}){3}"
    r"|(?:PYSEC|GO|RUSTSEC|OSV|GSD|MAL)-\d{4}-\d+"
)
# Trivy's SARIF message of a vulnerability (its sarif.tpl): "Package: libcrypto3\n
# Installed Version: 3.3.1-r3\nVulnerability CVE-2024-6119\n...Fixed Version: 3.3.2-r0".
_TRIVY_PACKAGE = re.compile(r"^(Package|Installed Version|Fixed Version): (\S.*)$", re.M)
_PACKAGE_KEYS = {
    "Package": "Name",
    "Installed Version": "Version",
    "Fixed Version": "FixedInVersion",
}
# Rules whose facts one run remembers (Run.facts_for): a report names a few hundred rules,
# but one whose every result names a ruleId of its own would otherwise grow it with each.
_FACTS_KEPT = 4096
# The longest text a cache of texts here keeps: a message or score may be any length.
_REMEMBERED_CHARS = 4096


@dataclass(slots=True)
class RuleFacts:
    """What every result of one rule shares (as the result names the rule), worked out
    once per run: most of a finding besides the result's own message and location."""

    rule: Mapping[str, Any]
    rule_id: str  # the result's ruleId / rule.id, else the rule's own id; "" for none
    named: str  # the Id's "<tool>/<rule>" part
    generator_id: str
    tags: list[str]
    secret: bool  # a secret scanner's rule: its snippet is the secret (_secret_scan)
    short: Any  # shortDescription.text
    title: Any  # the title the rule gives: shortDescription.text, else its name
    full: Any  # fullDescription.text
    level: Any  # defaultConfiguration.level, else "warning"
    score: Any  # properties.security-severity
    vulnerability: str | None  # the CVE or GHSA id the rule is (_VULNERABILITY_ID)
    types: list[str]
    help_text: str | None
    help_uri: Any

    @classmethod
    def of(cls, run: Run, rule: Mapping[str, Any], named_id: Any) -> RuleFacts:
        rule_id = str(named_id or rule.get("id") or "")
        tags = [t for t in items(dig(rule, "properties", "tags")) if isinstance(t, str)]
        short = dig(rule, "shortDescription", "text")
        vulnerability = _VULNERABILITY_ID.match(rule_id)
        vid = vulnerability.group() if vulnerability else None
        secret = _secret_scan(run.tool, f"{rule_id} {rule.get('name') or ''}", tags)
        # The types Trivy's and Grype's own reports give the same findings (a CVE, an
        # exposed secret), so that one scanner's SARIF and JSON are typed alike; a rule
        # that names a CWE keeps that type.
        if vid is not None:
            types = [vulnerability_type(vid)]
        elif _cwe_rule(run, rule, tags):
            types = [_CWE_TYPE]
        else:
            exposed = _secret_scanner(run.tool, rule_id, tags)
            types = [secret_type(rule_id, rule.get("name"), *tags) if exposed else _CODE_TYPE]
        return cls(
            rule=rule,
            rule_id=rule_id,
            named=f"{run.tool[:64]}/{rule_id[:200]}" if rule_id else run.tool[:64],
            generator_id=f"{run.tool}/{rule_id}" if rule_id else run.tool,
            tags=tags,
            secret=secret,
            short=short,
            title=_title(rule_id, short, rule.get("name")),
            full=dig(rule, "fullDescription", "text"),
            level=dig(rule, "defaultConfiguration", "level") or "warning",
            score=dig(rule, "properties", "security-severity"),
            vulnerability=vid,
            types=types,
            help_text=string(dig(rule, "help", "text")),
            help_uri=rule.get("helpUri"),
        )


@dataclass
class Run:
    """What the results of one run share."""

    document: Mapping[str, Any]
    tool: str
    repository: str
    _rules_by_id: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    # By (ruleIndex, toolComponent index, ruleId) as results name them (facts_for).
    _facts: dict[tuple[Any, Any, str | None], RuleFacts] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    tool_version: Any = field(default=None, init=False)  # the driver's, for ProductFields
    resource_base: str = field(default="", init=False)  # what Resources[].Id starts with

    def __post_init__(self) -> None:
        # By id, the driver's rules first, then each extension's in order: a ruleId whose
        # index resolves to nothing is looked up here (see rule_for).
        extensions = items(dig(self.document, "tool", "extensions"))
        for component in (None, *range(len(extensions))):
            for rule in self.rules(component):
                if isinstance(rule, Mapping) and isinstance(rule.get("id"), str):
                    self._rules_by_id.setdefault(rule["id"], rule)
        driver = dig(self.document, "tool", "driver")
        self.tool_version = dig(driver, "semanticVersion") or dig(driver, "version")
        self.resource_base = self.repository.rstrip("/") + "/" if self.repository else ""

    def rules(self, component: int | None = None) -> list[Any]:
        if component is None:
            rules = dig(self.document, "tool", "driver", "rules")
        else:
            rules = dig(self.document, "tool", "extensions", component, "rules")
        return rules if isinstance(rules, list) else []

    def facts_for(self, result: Mapping[str, Any]) -> RuleFacts:
        """The RuleFacts of the rule of a result (rule_for), each rule's worked out once:
        the results of a run name few rules, each many times."""
        reference = obj(result.get("rule"))
        index = result.get("ruleIndex", reference.get("index"))
        component = dig(reference, "toolComponent", "index") if reference else None
        # Any ruleId that is no rule id at all ("", 0, []) is the same as none.
        named_id = result.get("ruleId") or reference.get("id") or None
        if named_id is not None and type(named_id) is not str:  # odd, maybe unhashable
            return RuleFacts.of(self, self._resolve(index, component, named_id), named_id)
        # What _resolve reads of the index and component, so a key of equal results.
        key: tuple[Any, Any, str | None]
        if isinstance(index, int) and index >= 0:
            key = (index, component if isinstance(component, int) else None, named_id)
        else:
            key = (None, None, named_id)
        facts = self._facts.get(key)
        if facts is None:
            facts = RuleFacts.of(self, self._resolve(index, component, named_id), named_id)
            if len(self._facts) < _FACTS_KEPT:
                self._facts[key] = facts
        return facts

    def rule_for(self, result: Mapping[str, Any]) -> Mapping[str, Any]:
        """The reportingDescriptor of a result, or {} when the run describes none.

        ruleIndex / rule.index locate it (in rule.toolComponent when given, else the
        driver: §3.27.6, §3.27.7, §3.52). CodeQL writes results whose ruleIndex points into
        an empty driver `rules` array, the rules being in a query-pack extension the result
        does not name (§3.27.7 NOTE 1). The rule's stable identifier, ruleId or rule.id
        (§3.27.5), still says which rule it is, so an index that resolves to nothing falls
        back to the id; only a dangling index with no id at all is refused.
        """
        reference = obj(result.get("rule"))
        index = result.get("ruleIndex", reference.get("index"))
        component = dig(reference, "toolComponent", "index")
        return self._resolve(index, component, result.get("ruleId") or reference.get("id"))

    def _resolve(self, index: Any, component: Any, rule_id: Any) -> Mapping[str, Any]:
        """rule_for, of what the result says: ruleIndex, toolComponent index, ruleId."""
        if isinstance(index, int) and index >= 0:
            rules = self.rules(component if isinstance(component, int) else None)
            if index < len(rules) and isinstance(rules[index], Mapping):
                found: Mapping[str, Any] = rules[index]
                if _consistent(found, rule_id):
                    return found
                # §3.27.6: ruleIndex and ruleId SHALL be consistent. Older Trivy sarif.tpl
                # wrote each target's own vulnerability index as ruleIndex into the rules
                # of all targets: the id, the stable identifier, names the rule then.
                return self._rules_by_id.get(str(rule_id), found)
            if not rule_id:
                raise MappingError(f"ruleIndex {index} is not in the run's {len(rules)} rules")
        return self._rules_by_id.get(str(rule_id), {}) if rule_id else {}

    def logical_name(self, result: Mapping[str, Any]) -> str:
        """The first logical location of a result's first location (§3.28.4): its
        fullyQualifiedName, else its name, else those of run.logicalLocations[index]
        (§3.33.3); "" for none. What locates a result that has no physical location."""
        logical = obj(dig(result, "locations", 0, "logicalLocations", 0))
        index = logical.get("index")
        if isinstance(index, int) and not (
            logical.get("fullyQualifiedName") or logical.get("name")
        ):
            logical = obj(dig(self.document, "logicalLocations", index))
        name = logical.get("fullyQualifiedName") or logical.get("name")
        return name if isinstance(name, str) else ""

    def names_cwe(self, references: list[Any]) -> bool:
        """Whether any reportingDescriptorReference (§3.52) is into the CWE taxonomy, by
        its toolComponent's name or by index into run.taxonomies (§3.14.8)."""
        for reference in references:
            component = obj(obj(reference).get("toolComponent"))
            name = component.get("name")
            if not name and isinstance(component.get("index"), int):
                name = dig(self.document, "taxonomies", component["index"], "name")
            if isinstance(name, str) and name.upper() == "CWE":
                return True
        return False

    def artifact_uri(self, location: Mapping[str, Any]) -> str:
        uri = location.get("uri")
        index = location.get("index")
        if not uri and isinstance(index, int):
            uri = dig(self.document, "artifacts", index, "location", "uri")
            if uri is None:
                raise MappingError(f"artifact index {index} is not in the run's artifacts")
        return str(uri or "")


@dataclass
class Scan:
    """What a SARIF log says besides its results: each readable run (by index) with its
    scope, the scopes it scans completely, and its errors. The same from the log or from
    its skeleton (the log with its results left empty: hubrelay.sources.streamjson), the
    run-level tool, rules and artifacts being read whole wherever they are in the file."""

    origin: str
    runs: dict[int, tuple[Run, str]]
    complete: set[str]
    errors: list[tuple[str, str]]

    def record(self, r: int, i: int, result: Any) -> Record:
        """The record of result `i` of run `r` (a run in `runs`)."""
        run, scope = self.runs[r]
        return Record(result, f"{self.origin}#runs[{r}].results[{i}]", "sarif", scope, run)


def records(document: Any, origin: str, folder: str) -> Parsed:
    """(records, complete scopes, file-level errors) of a SARIF log."""
    log = scan(document, origin, folder)
    out = [
        log.record(r, i, result)
        for r, (run, _) in log.runs.items()
        for i, result in enumerate(items(run.document.get("results")))
    ]
    return out, log.complete, log.errors


def scan(document: Any, origin: str, folder: str) -> Scan:
    """The Scan of a SARIF log or of its skeleton."""
    if not _version_2_1_0(document):
        version = document.get("version") if isinstance(document, Mapping) else None
        raise MappingError(f"not a SARIF 2.1.0 log (version {version!r})")
    runs = document.get("runs")
    if not isinstance(runs, list):
        raise MappingError("SARIF log has no 'runs' array")
    readable: dict[int, tuple[Run, str]] = {}
    complete: set[str] = set()
    incomplete: set[str] = set()
    unread = False  # a run whose scope cannot be known
    errors: list[tuple[str, str]] = []
    for r, run_document in enumerate(runs):
        where = f"{origin}#runs[{r}]"
        if (problem := _unreadable(run_document, where)) is not None:
            errors.append(problem)
            unread = True
            continue
        tool = str(dig(run_document, "tool", "driver", "name") or "unknown-tool")
        repository = str(dig(run_document, "versionControlProvenance", 0, "repositoryUri") or "")
        # The whole id, not the part before its last "/" that SARIF 2.1.0 §3.17.3 calls
        # the category: scopes tracked before stay where they are (docs/findings.md,
        # "SARIF scopes").
        category = str(dig(run_document, "automationDetails", "id") or "")
        scope = f"sarif:{folder}:{tool}:{repository}:{category}"
        readable[r] = (Run(run_document, tool, repository), scope)
        results = run_document.get("results")
        failed = any(
            isinstance(i, Mapping) and i.get("executionSuccessful") is False
            for i in items(run_document.get("invocations"))
        )
        # §3.14.23: results is null (the tool did not start or could not analyse) or an
        # array. Anything else is not a scan we can read: an error, and no complete scan.
        if results is not None and not isinstance(results, list):
            errors.append(
                (f"{where}.results", "results is neither an array nor null (SARIF 2.1.0 §3.14.23)")
            )
        if isinstance(results, list) and not failed:
            complete.add(scope)
        else:
            incomplete.add(scope)
    # A scope is complete only when every run of it is: another run of the same tool,
    # repository and category may not vouch for one that failed. A run that could not be
    # read at all may have covered any scope, so then none is.
    return Scan(origin, readable, set() if unread else complete - incomplete, errors)


def _consistent(rule: Mapping[str, Any], rule_id: Any) -> bool:
    """Whether a result's ruleId names `rule`: its id, or a hierarchical id below it
    ("CA2101/1" of rule "CA2101", §3.27.5); no ruleId, or a rule without id, says nothing."""
    own = rule.get("id")
    if not isinstance(rule_id, str) or not rule_id or not isinstance(own, str):
        return True
    return rule_id == own or rule_id.startswith(own + "/")


def _version_2_1_0(document: Any) -> bool:
    """Whether a log is SARIF 2.1.0: its `version` says so (§3.13.2), or, when a tool
    leaves the required version out, its `$schema` (§3.13.3) names the 2.1.0 schema
    (json.schemastore.org/sarif-2.1.0.json, the OASIS sarif-schema-2.1.0.json, the
    "2.1.0-rtm.N" drafts) or there is none to say otherwise (`--format sarif`)."""
    if not isinstance(document, Mapping):
        return False
    if "version" in document:
        return bool(document["version"] == "2.1.0")
    schema = document.get("$schema")
    return schema is None or (isinstance(schema, str) and "2.1.0" in schema)


def _unreadable(run: Any, where: str) -> tuple[str, str] | None:
    """(position, reason) when a run's scope cannot be known, else None.

    §3.14.6 and §3.18.2: a run SHALL have a tool, a tool SHALL have a driver. Without one,
    neither the Ids of its results nor the scope it scanned can be known."""
    if not isinstance(run, Mapping):
        return where, "run is not a JSON object"
    if not isinstance(run.get("tool"), Mapping):
        return f"{where}.tool", "run has no 'tool' object (SARIF 2.1.0 §3.14.6)"
    if not isinstance(dig(run, "tool", "driver"), Mapping):
        return f"{where}.tool", "tool has no 'driver' object (SARIF 2.1.0 §3.18.2)"
    return None


def map_result(record: Record, ctx: Context) -> list[Finding]:
    result, run = record.native, record.context
    if type(result) is not dict and not isinstance(result, Mapping):  # the ABC is dearer
        raise MappingError("result is not a JSON object")
    assert isinstance(run, Run)
    # A result that names no rule (gitleaks 7 writes neither ruleId nor rule, naming the
    # rule only in message.text, although §3.27.5 requires one) is a finding of the tool.
    facts = run.facts_for(result)
    text = _message(result, facts)
    location = obj(dig(result, "locations", 0, "physicalLocation"))
    uri = run.artifact_uri(obj(location.get("artifactLocation")))
    region = obj(location.get("region"))
    logical = "" if uri else run.logical_name(result)
    if facts.secret:
        text = _QUOTED.sub(_REDACTED, text)
    # Of the text as redacted: an Id is an unsalted hash that anyone who reads findings
    # sees, so a password quoted in the message (Bandit's) would be one dictionary guess
    # away from it. The Ids of results whose message quoted nothing stay what they were.
    identity = _identity(result, uri, region, text, logical)
    level = _level(result, facts)
    title = facts.title or text.split("\n", 1)[0]
    line = region.get("startLine")
    # A line is a line of the artifact: a region whose artifactLocation names none (no uri,
    # no index) locates nothing ":12" could say, so the result is located as one without
    # a location (its logical location, else what the run scanned: _resource). Its line
    # stays in the resource's details and in its Id, which tells it from another line's.
    where = f"{uri}:{line}" if uri and line else (uri or logical)
    full = facts.full
    help_uri = facts.help_uri
    finding = asff.build_finding(
        finding_id=f"hubrelay/sarif/{facts.named}/"
        + stable_hash(run.tool, run.repository, facts.rule_id, identity),
        product_arn=ctx.product_arn_in(ctx.home),
        generator_id=facts.generator_id,
        account_id=ctx.account_id,
        title=f"{run.tool}: {title}",
        description=f"{text}\n\n{full}" if full and full != text else text,
        resources=[_resource(run, uri, region, where, facts.secret, logical)],
        severity=_severity(result, facts, level),
        types=[_CWE_TYPE]
        if facts.types == [_CODE_TYPE] and _cwe_result(run, result)
        else facts.types,
        created_at=ctx.timestamp(),
        product_fields=_product_fields(run, facts, result, level, where),
        remediation_text=facts.help_text,
        remediation_url=help_uri if isinstance(help_uri, str) else None,
        record_state="ARCHIVED" if _resolved(result) else "ACTIVE",
        extra=_vulnerabilities(facts, text),
    )
    return [finding]


def _vulnerabilities(facts: RuleFacts, text: str) -> dict[str, Any] | None:
    """A vulnerability rule's ASFF `Vulnerabilities` entry: its id, the package when the
    message names it as Trivy's does, and the rule's help link."""
    if facts.vulnerability is None:
        return None
    entry: dict[str, Any] = {"Id": facts.vulnerability}
    package = {_PACKAGE_KEYS[k]: v.strip()[:1024] for k, v in _TRIVY_PACKAGE.findall(text)}
    if "Name" in package:
        entry["VulnerablePackages"] = [package]
    # Only a link about this vulnerability (Grype's helpUri is its own home page); a long
    # one is left out, not cut into a broken link.
    link = facts.help_uri
    if (
        isinstance(link, str)
        and len(link) <= 1024
        and link.startswith("https://")
        and facts.vulnerability.lower() in link.lower()
    ):
        entry["ReferenceUrls"] = [link]
    return {"Vulnerabilities": [entry]}


def _identity(
    result: Mapping[str, Any], uri: str, region: Mapping[str, Any], text: str, logical: str = ""
) -> Any:
    """What identifies a result across scans, for its Id."""
    fingerprints = _fingerprints(result)
    # The primary location's URI joins the fingerprints: CodeQL's primaryLocationLineHash
    # hashes the line's text, not its path, so the same line in two files would otherwise
    # be one finding ("Providing data to track code scanning alerts across runs",
    # https://docs.github.com/en/code-security/code-scanning/integrating-with-code-scanning/sarif-support-for-code-scanning).
    # Without fingerprints the location (URI included) and message identify the result, as
    # they always did, so those Ids did not change.
    if fingerprints and _of_a_commit(fingerprints):
        return [fingerprints, uri, region.get("startLine"), region.get("startColumn")]
    if fingerprints:
        return [fingerprints, uri]
    identity = {
        "location": [uri, region.get("startLine"), region.get("startColumn")],
        "message": text,
    }
    # A result located only by a logical location (a function, a class: §3.33) is told
    # from another of the same rule and message by it (those Ids collided: changed).
    if logical:
        identity["logical"] = logical
    return identity


# Fingerprint values that identify nothing: Semgrep OSS writes "requires login" as every
# result's matchBasedId/v1 unless logged in (https://semgrep.dev/docs/semgrep-code/remove-duplicates),
# gitleaks 8 empty commit fields when it scans a directory (--no-git, `gitleaks dir`).
_NO_FINGERPRINT = frozenset({"", "requires login"})
# gitleaks 8's partialFingerprints: the commit a secret was added in, which any other
# secret added to the same file by that commit shares (report/sarif.go, getResults,
# https://github.com/gitleaks/gitleaks/blob/master/report/sarif.go): its own fingerprint is
# commit:file:rule:line (README, "Fingerprint"), so the line joins it.
_COMMIT_KEYS = frozenset({"commitSha", "email", "author", "date", "commitMessage"})


def _fingerprints(result: Mapping[str, Any]) -> Any:
    """The result's fingerprints (§3.27.16), else its partialFingerprints (§3.27.17), else
    None; a set of them whose every value is a placeholder is none. Any other set is used
    whole, as it always was, so that those Ids do not change."""
    found = result.get("fingerprints")
    if found and (not is_mapping(found) or _identifies(found)):
        return found
    found = result.get("partialFingerprints")
    if found and (not is_mapping(found) or _identifies(found)):
        return found
    return None


def _identifies(fingerprints: Mapping[str, Any]) -> bool:
    """Whether any value of a set of fingerprints is one (a loop: the hot path)."""
    for value in fingerprints.values():
        if isinstance(value, str) and value.strip() not in _NO_FINGERPRINT:
            return True
    return False


def _of_a_commit(fingerprints: Any) -> bool:
    return is_mapping(fingerprints) and fingerprints.keys() <= _COMMIT_KEYS


def _product_fields(
    run: Run, facts: RuleFacts, result: Mapping[str, Any], level: str, where: str
) -> dict[str, Any]:
    return {
        "sarif/tool": run.tool,
        "sarif/toolVersion": run.tool_version,
        "sarif/ruleId": facts.rule_id or None,
        "sarif/level": level,
        "sarif/kind": result.get("kind") or "fail",
        "sarif/location": where,
        "sarif/repository": run.repository or None,
        "sarif/tags": ",".join(facts.tags) or None,
        "sarif/helpUri": facts.help_uri,
    }


def _message(result: Mapping[str, Any], facts: RuleFacts) -> str:
    message = obj(result.get("message"))
    text = message.get("text")
    if not text and isinstance(message.get("id"), str):
        text = dig(facts.rule, "messageStrings", message["id"], "text")
    if not text:
        text = facts.short or facts.full
    if not isinstance(text, str) or not text.strip():
        raise MappingError("result has no message text (nor a message id its rule defines)")
    if "{" not in text:  # no placeholder to fill (str of a loaded argument never raises)
        return text
    arguments = [str(a) for a in items(message.get("arguments"))]
    # The text split at its placeholders: literal, digits, literal, ... (_ARGUMENT.sub
    # with a function, but the template parsed once: a rule's results share it).
    parts = _template(text) if len(text) <= _REMEMBERED_CHARS else _ARGUMENT.split(text)
    out = [parts[0]]
    for at in range(1, len(parts), 2):
        number = int(parts[at])
        out.append(arguments[number] if number < len(arguments) else f"{{{parts[at]}}}")
        out.append(parts[at + 1])
    return "".join(out)


@lru_cache(maxsize=1024)
def _template(text: str) -> list[str]:
    return _ARGUMENT.split(text)


def _level(result: Mapping[str, Any], facts: RuleFacts) -> str:
    """The result's level (§3.27.10): its own, else, for a problem (kind "fail", the
    default), its rule's defaultConfiguration.level or "warning"; any other kind (review,
    open, informational...) is not a problem and defaults to "none"."""
    level = result.get("level")
    if not level:
        level = facts.level if result.get("kind", "fail") == "fail" else "none"
    # §3.27.10's values are lower case; a tool that writes "Warning" means warning. Any
    # other value is no level: informational, the value kept as Severity.Original.
    text = str(level)
    lowered = text.strip().lower()
    return lowered if text not in LEVELS and lowered in LEVELS else text


def _severity(result: Mapping[str, Any], facts: RuleFacts, level: str) -> dict[str, Any]:
    score = dig(result, "properties", "security-severity") or facts.score
    # §3.27.10: "none" says severity does not apply (the result is not a problem), so a
    # score the rule gives its problems is not this result's.
    if score is None or level == "none":
        return _by_level(level)
    try:
        return asff.severity_from_cvss(float(score))
    except (TypeError, ValueError):  # a list or an object is no score either
        return _by_level(level)


def _by_level(level: str) -> dict[str, Any]:
    return {"Label": LEVELS.get(level, "INFORMATIONAL"), "Original": level[:64] or "none"}


# Tools whose findings *are* secrets: their snippet is the secret itself (gitleaks writes
# it unless run with --redact), so it never goes into Security Hub.
_SECRET_SCANNERS = ("gitleaks", "trufflehog", "detect-secrets", "ggshield", "gitguardian")
_SECRET_TOOLS = (*_SECRET_SCANNERS, "secret")
# Rules about hard-coded passwords and credentials (Bandit's hardcoded_password_string,
# CodeQL's js/hardcoded-credentials): their snippet is the password. Bandit's message
# quotes it too ("Possible hardcoded password: 'hunter2'", bandit/plugins/
# general_hardcoded_password.py), so a quoted text in such a message is redacted: from a
# line's first quote to its last of that kind, as the password is quoted as it is, any
# quote in it included ("'it's'" would otherwise leave "s'" of it).
_SECRET_RULES = ("password", "credential")
_QUOTED = re.compile(r"'[^\n]+'|\"[^\n]+\"")
_REDACTED = "'<redacted>'"


def _cwe_result(run: Run, result: Mapping[str, Any]) -> bool:
    """Whether a result's own taxa (§3.27.8) name a CWE."""
    taxa = result.get("taxa")
    return bool(taxa) and run.names_cwe(items(taxa))


def _cwe_rule(run: Run, rule: Mapping[str, Any], tags: list[str]) -> bool:
    """Whether a rule names a CWE: by a tag (CodeQL's external/cwe/cwe-079, Semgrep's
    "CWE-89: ..."), or by a relationship into the CWE taxonomy (§3.53, KICS)."""
    if any("cwe" in t.lower() for t in tags):
        return True
    # Snyk Code: properties.cwe, a list of "CWE-89"
    if any(
        isinstance(c, str) and c.upper().startswith("CWE-")
        for c in items(dig(rule, "properties", "cwe"))
    ):
        return True
    relationships = items(rule.get("relationships"))
    return bool(relationships) and run.names_cwe([obj(r).get("target") for r in relationships])


def _title(rule_id: str, *offered: Any) -> Any:
    """The rule's title: its shortDescription, else its name, unless it only restates the
    rule's id (Semgrep's "Semgrep Finding: <id>", a name that is the id): then none, and
    each finding is titled by its message."""
    for text in offered:
        if text and not (rule_id and isinstance(text, str) and text.strip().endswith(rule_id)):
            return text
    return None


def _secret_scanner(tool: str, rule_id: str, tags: list[str]) -> bool:
    """Whether a rule finds exposed secrets, for its type: a secret scanner's (gitleaks,
    TruffleHog...), one tagged "secret" (Trivy's), or one whose id says so (Checkov's
    CKV_SECRET_6). Narrower than _secret_scan, which also redacts a password rule's
    message: a check of a password policy or of a secret's encryption (Checkov's names)
    is a configuration check, not an exposed secret."""
    named = tool.lower()
    if any(t in named for t in _SECRET_SCANNERS) or any(t.lower() == "secret" for t in tags):
        return True
    return any(word in rule_id.lower() for word in ("secret", *_SECRET_RULES))


def _secret_scan(tool: str, rule_id: str, tags: list[str]) -> bool:
    named = f"{tool} {rule_id} {' '.join(tags)}".lower()
    return any(marker in named for marker in (*_SECRET_TOOLS, *_SECRET_RULES))


def _resource(
    run: Run,
    uri: str,
    region: Mapping[str, Any],
    where: str,
    secret: bool = False,
    logical: str = "",
) -> dict[str, Any]:
    other = {
        "uri": uri or None,
        "repository": run.repository or None,
        "startLine": region.get("startLine"),
        "startColumn": region.get("startColumn"),
        "endLine": region.get("endLine"),
        "snippet": None if secret else dig(region, "snippet", "text"),
    }
    if logical:  # only when there is no uri
        other = {"logicalLocation": logical, **other}
    details = asff.clip_map(other, value_max=1023)
    # A result without a location is about what the run scanned: its repository (not a
    # path named after the tool inside it), else the tool.
    located = run.resource_base + uri if uri else (where or run.repository or run.tool)
    resource: dict[str, Any] = {"Type": "Other", "Id": located[:512]}
    if details:
        resource["Details"] = {"Other": details}
    return resource


def _resolved(result: Mapping[str, Any]) -> bool:
    if str(result.get("kind")) in RESOLVED_KINDS or result.get("baselineState") == "absent":
        return True
    return any(
        isinstance(s, Mapping) and s.get("status", "accepted") == "accepted"
        for s in items(result.get("suppressions"))
    )
