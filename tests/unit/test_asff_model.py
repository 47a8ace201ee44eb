"""asff_shapes.json is the pinned botocore's Security Hub model, the part the validator reads."""

from __future__ import annotations

import botocore.session

from hubrelay import asff, asff_model
from hubrelay_devtools import asff_model as generator


def test_shapes_file_is_the_installed_botocores() -> None:
    # Fails after botocore's pin moves: rerun `python -m hubrelay_devtools.asff_model`.
    assert asff_model.SHAPES_FILE.read_text() == generator.render()


def test_validator_shapes_match_botocores_model() -> None:
    model = botocore.session.get_session().get_service_model("securityhub")
    live = model.shape_for("AwsSecurityFinding")
    ours = asff.finding_shape()
    assert ours.members.keys() == live.members.keys()
    assert ours.required_members == live.required_members
    assert ours.members["Severity"].members.keys() == live.members["Severity"].members.keys()
