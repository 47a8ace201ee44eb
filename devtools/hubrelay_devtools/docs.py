"""Generated parts of the documentation, so they cannot drift from template.yaml.

``python -m hubrelay_devtools.docs`` (``make docs``) rewrites the parameters table in
docs/setup.md from template.yaml's Parameters, in the order of the console's parameter
groups (AWS::CloudFormation::Interface); ``--check`` only reports whether it is current.
tests/unit/test_docs.py fails when it is not.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hubrelay_release import ROOT, TEMPLATE_NAME, decode_template

SETUP_DOC = Path("docs") / "setup.md"
BEGIN = "<!-- BEGIN parameters: generated from template.yaml by `make docs`, do not edit -->"
END = "<!-- END parameters -->"


def _cell(text: str) -> str:
    """One line of Markdown table text: whitespace collapsed, pipes escaped."""
    return re.sub(r"\s+", " ", text).strip().replace("|", "\\|")


def _text(text: str) -> str:
    """Prose for a cell: <placeholders> would be read as HTML tags and vanish."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    return f"`{text}`" if text else "*(empty)*"


def _allowed(spec: Mapping[str, Any]) -> str:
    if "AllowedValues" in spec:
        return ", ".join(_code(str(v)) for v in spec["AllowedValues"])
    if "MinValue" in spec or "MaxValue" in spec:
        return f"{spec.get('MinValue', '')} to {spec.get('MaxValue', '')}".strip()
    if "ConstraintDescription" in spec:
        return _text(str(spec["ConstraintDescription"]))
    if "AllowedPattern" in spec:
        return f"pattern `{spec['AllowedPattern']}`"
    return "any"


def ordered_parameters(template: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(group label, parameter name) in console order; ungrouped parameters last."""
    declared = template.get("Parameters", {})
    interface = template.get("Metadata", {}).get("AWS::CloudFormation::Interface", {})
    seen: set[str] = set()
    ordered: list[tuple[str, str]] = []
    for group in interface.get("ParameterGroups", []):
        label = str(group.get("Label", {}).get("default", ""))
        for name in group.get("Parameters", []):
            if name in declared and name not in seen:
                ordered.append((label, str(name)))
                seen.add(name)
    ordered += [("Other", str(name)) for name in declared if name not in seen]
    return ordered


def parameters_table(template: Mapping[str, Any]) -> str:
    declared = template["Parameters"]
    rows = [
        "| Group | Parameter | Default | Allowed | Description |",
        "|---|---|---|---|---|",
    ]
    for label, name in ordered_parameters(template):
        spec = declared[name]
        default = str(spec["Default"]) if "Default" in spec else ""
        cells = [
            label,
            f"`{name}`",
            _code(default) if "Default" in spec else "**required**",
            _allowed(spec),
            _text(str(spec.get("Description", ""))),
        ]
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(rows)


def render(document: str, template: Mapping[str, Any]) -> str:
    """The document with its generated block replaced by the current table."""
    start, end = document.find(BEGIN), document.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{SETUP_DOC} lacks the markers {BEGIN!r} ... {END!r}")
    head = document[: start + len(BEGIN)]
    return f"{head}\n{parameters_table(template)}\n{document[end:]}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check, write nothing")
    args = parser.parse_args(argv)
    template = decode_template((ROOT / TEMPLATE_NAME).read_text(encoding="utf-8"))
    path = ROOT / SETUP_DOC
    current = path.read_text(encoding="utf-8")
    wanted = render(current, template)
    if current == wanted:
        print(f"{SETUP_DOC} is current")
        return 0
    if args.check:
        print(f"{SETUP_DOC} is out of date: run `make docs`", file=sys.stderr)
        return 1
    path.write_text(wanted, encoding="utf-8")
    print(f"{SETUP_DOC}: parameters table regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
