"""The documentation states what the code and template do, and cannot drift from them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import hubrelay_release as release
from hubrelay import asff, message
from hubrelay.quarantine import Quarantined, dlq_entry
from hubrelay_devtools import docs

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [ROOT / "README.md", *DOCS]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"```[a-z]*\n(.*?)```", re.DOTALL)


def template() -> dict:
    return release.decode_template((ROOT / "template.yaml").read_text(encoding="utf-8"))


def read(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def block_after(text: str, marker: str) -> str:
    """The first fenced block after an HTML comment containing `marker`."""
    start = text.index(marker)
    found = FENCE.search(text, start)
    assert found, f"no code block after {marker!r}"
    return found.group(1)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {slug(h) for h in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}


def test_setup_parameters_table_is_generated_from_the_current_template() -> None:
    current = read("docs/setup.md")
    assert docs.render(current, template()) == current, (
        "docs/setup.md's parameters table is out of date: run `make docs`"
    )


def test_parameters_table_lists_every_parameter_once_with_its_default() -> None:
    parameters = template()["Parameters"]
    table = read("docs/setup.md").split(docs.BEGIN, 1)[1].split(docs.END, 1)[0]
    rows = [line.split(" | ") for line in table.strip().splitlines()[2:]]
    names = [row[1].strip("`") for row in rows]
    assert sorted(names) == sorted(parameters)
    for row, name in zip(rows, names, strict=True):
        default = str(parameters[name].get("Default", ""))
        assert row[2] == (f"`{default}`" if default else "*(empty)*"), name


def test_every_relative_link_and_anchor_resolves() -> None:
    broken = []
    for page in PAGES:
        for target in LINK.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
            if re.match(r"^[a-z]+:", target):
                continue  # http(s), mailto
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            if not resolved.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, broken


def test_documented_launch_link_is_the_one_publish_prints() -> None:
    documented = block_after(read("docs/setup.md"), "example link").strip()
    assert documented == release.launch_link(
        "us-east-1", "acme-hubrelay", "hubrelay/0.1.0/", "hubrelay"
    )


def test_documented_setup_message_is_a_valid_queue_message() -> None:
    body = block_after(read("docs/setup.md"), "example message")
    findings = message.decode(json.dumps(json.loads(body)))
    assert findings
    for finding in findings:
        assert asff.validate_finding(finding) == []


def test_documented_dead_letter_attributes_are_the_ones_the_importer_writes() -> None:
    entry = dlq_entry(Quarantined(("m-1",), "f-1", "InvalidAccess", "why", "{}"))
    # The attribute table's rows (`| `hubrelay.X` | ... |`) of "The dead-letter queue":
    # module names elsewhere on the page (`hubrelay.settings`) are not attributes.
    section = read("docs/operations.md").split("## The dead-letter queue", 1)[1].split("\n## ")[0]
    documented = set(re.findall(r"^\s*\| `(hubrelay\.[A-Za-z]+)` \|", section, re.MULTILINE))
    assert documented == set(entry["MessageAttributes"])


def test_every_metric_the_functions_emit_is_documented() -> None:
    source = read("layers/hubrelay/python/hubrelay/observability.py")
    emitted = set(re.findall(r'add_metric\("([A-Za-z]+)"', source))
    assert emitted
    missing = {name for name in emitted if f"`{name}`" not in read("docs/operations.md")}
    assert not missing


@pytest.mark.parametrize("page", ["docs/setup.md", "docs/operations.md"])
def test_documented_make_targets_exist(page: str) -> None:
    makefile = read("Makefile")
    targets = set(re.findall(r"`make ([a-z]+)", read(page)))
    assert targets
    for target in targets:
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), target
