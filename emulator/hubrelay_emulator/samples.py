"""Built-in sample findings: a realistic mix of sizes, plus deliberately broken ones.

Deterministic for a given seed, so the demo, the benchmarks and the tests see the same data.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from hubrelay import asff

SUBSCRIBED = ("111111111111", "222222222222")
UNSUBSCRIBED = "333333333333"
REGION = "us-east-1"
_EPOCH = datetime(2026, 11, 1, tzinfo=UTC)
_WORDS = [
    "access",
    "bucket",
    "policy",
    "public",
    "encryption",
    "disabled",
    "key",
    "rotation",
    "root",
    "credential",
    "vulnerable",
    "package",
    "version",
    "upgrade",
    "exposure",
    "network",
    "ingress",
    "port",
    "unrestricted",
]


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def _sample(key: tuple[str, int, str, str, str], **fields: Any) -> dict[str, Any]:
    """A sample finding: `key` (kind, number, account, Region, product) makes its Id,
    ProductArn, account and creation time; `fields` are the rest of build_finding's."""
    kind, n, account, region, product = key
    return asff.build_finding(
        finding_id=f"hubrelay-sample/{kind}/{account}/{n}",
        product_arn=asff.product_arn_for(region, account, product),
        account_id=account,
        created_at=asff.timestamp(_EPOCH + timedelta(minutes=n)),
        **fields,
    )


def control_finding(
    rng: random.Random, n: int, account: str, region: str = REGION, product: str = ""
) -> dict[str, Any]:
    """A small configuration-check finding (~1-2 KB), like a Security Hub control."""
    return _sample(
        ("control", n, account, region, product),
        generator_id=f"sample-control-{n % 40}",
        title=f"Sample control {n % 40} failed: {_text(rng, 6)}",
        description=_text(rng, 40),
        resources=[
            {"Type": "AwsS3Bucket", "Id": f"arn:aws:s3:::sample-bucket-{n}", "Region": region}
        ],
        severity=asff.severity_from_label(rng.choice(["LOW", "MEDIUM", "HIGH"])),
        types=["Software and Configuration Checks/Industry and Regulatory Standards"],
        remediation_text=_text(rng, 20),
        product_fields={"sample/kind": "control", "sample/number": str(n)},
    )


def vulnerability_finding(
    rng: random.Random, n: int, account: str, region: str = REGION, product: str = ""
) -> dict[str, Any]:
    """A large vulnerability finding (~10-60 KB): long text, many resources and fields."""
    resources = [
        {
            "Type": "AwsEcrContainerImage",
            "Id": f"arn:aws:ecr:{region}:{account}:repository/app-{n}/image-{r}",
            "Region": region,
            "Details": {"Other": {f"layer{k}": _text(rng, 30) for k in range(rng.randint(2, 6))}},
        }
        for r in range(rng.randint(3, 32))
    ]
    cvss = round(rng.uniform(3.0, 10.0), 1)
    return _sample(
        ("vuln", n, account, region, product),
        generator_id=f"CVE-2026-{10000 + n}",
        title=f"CVE-2026-{10000 + n} in libsample {_text(rng, 4)}",
        description=_text(rng, 400),
        resources=resources,
        severity=asff.severity_from_cvss(cvss),
        types=["Software and Configuration Checks/Vulnerabilities/CVE"],
        remediation_text=_text(rng, 60),
        product_fields={f"sample/field{k}": _text(rng, 30) for k in range(40)},
    )


def mixed(
    count: int, seed: int = 7, accounts: tuple[str, ...] = SUBSCRIBED, product: str = ""
) -> list[dict[str, Any]]:
    """`count` valid findings, about 80% small controls and 20% large vulnerabilities."""
    rng = random.Random(seed)
    out = []
    for n in range(count):
        account = accounts[n % len(accounts)]
        make = vulnerability_finding if rng.random() < 0.2 else control_finding
        out.append(make(rng, n, account, REGION, product))
    return out


def broken(seed: int = 11, product: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Findings that must be quarantined, each with the reason it is broken."""
    rng = random.Random(seed)
    base = control_finding(rng, 900_000, SUBSCRIBED[0], REGION, product)
    oversized = vulnerability_finding(rng, 900_001, SUBSCRIBED[0], REGION, product)
    oversized["ProductFields"] = {f"pad{k}": "x" * 2048 for k in range(50)}
    for resource in oversized["Resources"]:
        resource["Details"] = {"Other": {f"k{k}": "y" * 1023 for k in range(50)}}
    cases: list[tuple[str, dict[str, Any]]] = [
        ("title over 256 characters", {**base, "Id": "broken/title", "Title": "T" * 300}),
        ("account id not 12 digits", {**base, "Id": "broken/account", "AwsAccountId": "12345"}),
        ("blank description", {**base, "Id": "broken/blank", "Description": "   "}),
        ("unknown type namespace", {**base, "Id": "broken/types", "Types": ["Made Up/Thing"]}),
        ("no resources", {**base, "Id": "broken/resources", "Resources": []}),
        ("bad timestamp", {**base, "Id": "broken/time", "UpdatedAt": "last tuesday"}),
        ("over 240 KB", {**oversized, "Id": "broken/oversized"}),
    ]
    return cases


def for_account(count: int, account: str, seed: int = 3, product: str = "") -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [control_finding(rng, 500_000 + n, account, REGION, product) for n in range(count)]


def trivy_report(
    vulnerabilities: int, image: str = "registry.example.com/shop/api:1.4.2", seed: int = 9
) -> dict[str, Any]:
    """A Trivy JSON report (schema 2) of one container image, shaped like Trivy's output."""
    rng = random.Random(seed)
    vulns = []
    for n in range(vulnerabilities):
        score = round(rng.uniform(0.5, 10.0), 1)
        label = asff.severity_from_cvss(score)["Label"]
        package = f"lib{rng.choice(_WORDS)}{n % 50}"
        vulns.append(
            {
                "VulnerabilityID": f"CVE-2026-{20000 + n}",
                "PkgID": f"{package}@1.{n % 7}.{n % 3}",
                "PkgName": package,
                "InstalledVersion": f"1.{n % 7}.{n % 3}",
                "FixedVersion": f"1.{n % 7}.{n % 3 + 1}",
                "Status": "fixed",
                "SeveritySource": "nvd",
                "PrimaryURL": f"https://avd.aquasec.com/nvd/cve-2026-{20000 + n}",
                "Title": f"{package}: {_text(rng, 6)}",
                "Description": _text(rng, rng.randint(20, 200)),
                "Severity": "LOW" if label == "INFORMATIONAL" else label,
                "CVSS": {"nvd": {"V3Score": score}},
                "PublishedDate": "2026-10-01T00:00:00Z",
            }
        )
    return {
        "SchemaVersion": 2,
        "CreatedAt": "2026-11-20T09:00:00Z",
        "ArtifactName": image,
        "ArtifactType": "container_image",
        "Metadata": {"RepoTags": [image]},
        "Results": [
            {
                "Target": f"{image} (alpine 3.18.4)",
                "Class": "os-pkgs",
                "Type": "alpine",
                "Vulnerabilities": vulns,
            }
        ],
    }


def _sarif_rules(rng: random.Random) -> list[dict[str, Any]]:
    """The run's 20 rules, CodeQL-like."""
    return [
        {
            "id": f"js/{_WORDS[n % len(_WORDS)]}-{n}",
            "shortDescription": {"text": _text(rng, 6)},
            "fullDescription": {"text": _text(rng, 30)},
            "defaultConfiguration": {"level": ("error", "warning", "note")[n % 3]},
            "messageStrings": {"default": {"text": "This value flows from {0} to {1}."}},
            "help": {"text": _text(rng, 40)},
            "properties": {
                "tags": ["security", f"external/cwe/cwe-{80 + n}"],
                "security-severity": str(round(rng.uniform(1.0, 9.9), 1)),
            },
        }
        for n in range(20)
    ]


def _sarif_result(
    rng: random.Random, n: int, rules: list[dict[str, Any]], files: list[dict[str, Any]]
) -> dict[str, Any]:
    """Result `n`: its rule and file by index, a message id and arguments or a text."""
    rule = n % len(rules)
    message: dict[str, Any] = (
        {"id": "default", "arguments": [f"req.query.p{n % 97}", f"sink{n % 13}"]}
        if n % 2
        else {"text": _text(rng, 5)}
    )
    return {
        "ruleId": rules[rule]["id"],
        "ruleIndex": rule,
        "message": message,
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"index": n % len(files)},
                    "region": {"startLine": 1 + n // 200, "startColumn": 1 + n % 80},
                }
            }
        ],
        "partialFingerprints": {"primaryLocationLineHash": f"{n:016x}:1"},
    }


def sarif_report(
    results: int, rules_after: bool = False, seed: int = 11, repository: str = "shop"
) -> dict[str, Any]:
    """A SARIF 2.1.0 log of one CodeQL-like run, shaped like CodeQL's output: 20 rules,
    results that point at them by index and at their files by artifact index, with a
    message id and arguments or a text, and partial fingerprints (about 250 bytes each).
    `rules_after`: the run's results come before its tool in the file (Semgrep sorts its
    keys so), which a reader of the stream must still resolve."""
    rng = random.Random(seed)
    rules = _sarif_rules(rng)
    files = [{"location": {"uri": f"src/{rng.choice(_WORDS)}/module{n}.js"}} for n in range(200)]
    found = [_sarif_result(rng, n, rules, files) for n in range(results)]
    tool = {"driver": {"name": "CodeQL", "semanticVersion": "2.16.1", "rules": rules}}
    run: dict[str, Any] = {"results": found} if rules_after else {"tool": tool}
    run.update({"artifacts": files, "tool": tool} if rules_after else {"artifacts": files})
    run["versionControlProvenance"] = [
        {"repositoryUri": f"https://github.com/example/{repository}"}
    ]
    if not rules_after:
        run["results"] = found
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [run],
    }
