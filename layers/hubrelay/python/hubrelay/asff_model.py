"""The Security Hub shapes the ASFF validator checks findings against (hubrelay.asff).

They are botocore's own (BatchImportFindings' request and everything it reaches), read
from asff_shapes.json beside this module, which hubrelay_devtools.asff_model generates
from the pinned botocore's model, documentation left out: a cold start parses about 200 KB
instead of botocore's whole 1.4 MB Security Hub model (docs/operations.md, "Cold
starts"). The shapes are botocore's Shape objects, built by botocore's ShapeResolver, so
ParamValidator and the compiled checks see exactly what they saw from the full model.

The rules therefore come from the botocore hubrelay is tested with, not from whichever
botocore the Lambda runtime brings; tests/unit/test_asff_model.py fails when the file is
not the pinned botocore's.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from botocore.model import Shape, ShapeResolver

SHAPES_FILE = Path(__file__).with_name("asff_shapes.json")
ROOT_SHAPE = "BatchImportFindingsRequest"


@cache
def _resolver() -> ShapeResolver:
    return ShapeResolver(json.loads(SHAPES_FILE.read_bytes())["shapes"])


def shape(name: str) -> Shape:
    """The shape `name` (AwsSecurityFinding, BatchImportFindingsRequest, ...)."""
    return _resolver().get_shape_by_name(name)
