"""template.yaml as CloudFormation reads it, and the packaged copy with new defaults."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cfnlint.decode import decode_str

from hubrelay_release.base import ROOT, TEMPLATE_NAME, ReleaseError

ARTIFACT_PARAMETERS = ("ArtifactBucketPrefix", "ArtifactKeyPrefix")


def decode_template(text: str) -> dict[str, Any]:
    """The template as CloudFormation reads it (cfn-lint's decoder: short tags included)."""
    template, matches = decode_str(text)
    if matches or not isinstance(template, dict):
        raise ReleaseError(f"template does not decode: {[str(m) for m in matches]}")
    return template


def plain(value: Any) -> Any:
    """cfn-lint's node types (which carry their position in the text) as plain values."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return str(value) if isinstance(value, str) else value


def referenced_artifacts(template: Mapping[str, Any]) -> set[str]:
    """Keys under the ArtifactKeyPrefix that the template reads (functions/x.zip, ...)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if key == "Fn::Sub" and isinstance(value, str):
                    found.update(re.findall(r"\$\{ArtifactKeyPrefix\}([\w./-]+\.zip)", value))
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(template.get("Resources", {}))
    return found


def check_parameter(template: Mapping[str, Any], name: str, value: str) -> None:
    """Refuse a value the template's own constraints for `name` would refuse at deploy."""
    spec = template.get("Parameters", {}).get(name)
    if spec is None:
        raise ReleaseError(f"template.yaml has no parameter {name}")
    allowed = [str(v) for v in spec.get("AllowedValues", [])]
    if allowed and value not in allowed:
        raise ReleaseError(f"{name} {value!r} is not one of {', '.join(allowed)}")
    if "MinValue" in spec or "MaxValue" in spec:
        _check_range(spec, name, value)
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(str(pattern), value):
        raise ReleaseError(
            f"{name} {value!r} does not match the template's pattern {pattern}: "
            f"{spec.get('ConstraintDescription', '')}".rstrip(": ")
        )
    if len(value) > int(spec.get("MaxLength", 4096)) or len(value) < int(spec.get("MinLength", 0)):
        raise ReleaseError(
            f"{name} {value!r} is outside the template's length "
            f"{spec.get('MinLength', 0)}..{spec.get('MaxLength', 4096)}"
        )


def _check_range(spec: Mapping[str, Any], name: str, value: str) -> None:
    try:
        number = float(value)
    except ValueError:
        raise ReleaseError(f"{name} {value!r} is not a number") from None
    low, high = float(spec.get("MinValue", "-inf")), float(spec.get("MaxValue", "inf"))
    if not low <= number <= high:
        raise ReleaseError(
            f"{name} {value} is outside {spec.get('MinValue')}..{spec.get('MaxValue')}"
        )


def set_defaults(text: str, values: Mapping[str, str]) -> str:
    """The template text with the Default of each named parameter replaced.

    The edit is made in place on the value's exact span (comments and layout stay), then
    the result is decoded again and must equal the original with only those defaults
    changed.
    """
    template = decode_template(text)
    # YAML marks count lines by "\n" (a "\r\n" pair is one break), not by str.splitlines.
    offsets = [0]
    for line in text.split("\n"):
        offsets.append(offsets[-1] + len(line) + 1)
    spans = []
    for name, value in values.items():
        check_parameter(template, name, value)
        node = template["Parameters"][name].get("Default")
        if node is None or not hasattr(node, "start_mark"):
            raise ReleaseError(f"parameter {name} has no Default to set")
        start = offsets[node.start_mark.line] + node.start_mark.column
        end = offsets[node.end_mark.line] + node.end_mark.column
        spans.append((start, end, json.dumps(value)))
    for start, end, replacement in sorted(spans, reverse=True):
        text = text[:start] + replacement + text[end:]
    expected = plain(template)
    for name, value in values.items():
        expected["Parameters"][name]["Default"] = value
    if plain(decode_template(text)) != expected:
        raise ReleaseError("rewriting the parameter defaults changed more than the defaults")
    return text


def read_template(root: Path = ROOT) -> dict[str, Any]:
    return decode_template((root / TEMPLATE_NAME).read_text(encoding="utf-8"))


def packaged_template(root: Path, bucket_prefix: str, key_prefix: str) -> str:
    text = (root / TEMPLATE_NAME).read_text(encoding="utf-8")
    return set_defaults(
        text, {"ArtifactBucketPrefix": bucket_prefix, "ArtifactKeyPrefix": key_prefix}
    )


def version(root: Path = ROOT) -> str:
    with (root / "pyproject.toml").open("rb") as handle:
        return str(tomllib.load(handle)["project"]["version"])


def default_key_prefix(root: Path = ROOT) -> str:
    return f"hubrelay/{version(root)}/"
