"""Writes hubrelay/asff_shapes.json: the part of botocore's Security Hub model that the ASFF
validator reads, generated once from the pinned botocore (`python -m
hubrelay_devtools.asff_model`; tests/unit/test_asff_model.py fails until it is rerun after
botocore's pin moves).

Why a file of our own: the validator needs the shapes of BatchImportFindings' request (852
of the model's 1,554 shapes), but reading them from botocore means parsing the whole
1.4 MB model, documentation included, on every cold start of a function that has no
Security Hub client of its own (the collector: docs/operations.md, "Cold starts"). The
file holds those shapes exactly as botocore's model has them, without their
documentation: about 200 KB.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import botocore
import botocore.session

from hubrelay.asff_model import ROOT_SHAPE, SHAPES_FILE


def _undocumented(shape: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in shape.items() if k != "documentation"}
    if "members" in out:
        out["members"] = {
            name: {k: v for k, v in ref.items() if k != "documentation"}
            for name, ref in out["members"].items()
        }
    return out


def closure(shapes: Mapping[str, Mapping[str, Any]], root: str = ROOT_SHAPE) -> dict[str, Any]:
    """Every shape reachable from `root` (members, list members, map keys and values)."""
    seen: dict[str, Any] = {}
    todo = [root]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        shape = shapes[name]
        seen[name] = _undocumented(shape)
        todo.extend(ref["shape"] for ref in shape.get("members", {}).values())
        todo.extend(shape[k]["shape"] for k in ("member", "key", "value") if k in shape)
    return dict(sorted(seen.items()))


def from_botocore() -> dict[str, Any]:
    """What asff_shapes.json holds, from the installed botocore."""
    loader = botocore.session.get_session().get_component("data_loader")
    model = loader.load_service_model("securityhub", "service-2")
    return {"botocore": botocore.__version__, "shapes": closure(model["shapes"])}


def render() -> str:
    return json.dumps(from_botocore(), sort_keys=True, separators=(",", ":")) + "\n"


def main() -> None:
    SHAPES_FILE.write_text(render())
    print(f"wrote {SHAPES_FILE}")


if __name__ == "__main__":
    main()
