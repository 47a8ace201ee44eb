"""hubrelay_emulator.iam's audit of unused permissions: a permission that only a failure path
uses (one the demo does not take) is listed with its reason, not as unused."""

from __future__ import annotations

from hubrelay_emulator import iam

TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/idempotency"


def _checker() -> iam.Checker:
    statement = {
        "Effect": "Allow",
        "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"],
        "Resource": TABLE,
    }
    policy = [{"Statement": [statement]}]
    return iam.Checker({"ResponderRole": policy, "StatusSyncRole": policy, "CollectorRole": policy})


def test_the_responders_delete_item_is_a_failure_path_not_an_unused_permission():
    # Given the responder's idempotency calls of a run in which every send succeeded
    checker = _checker()
    for action in ("dynamodb:GetItem", "dynamodb:PutItem"):
        checker.check("ResponderRole", action, [TABLE])
    # Then DeleteItem (Powertools deletes the in-progress record when a send raises) is not
    # reported unused, but kept with its reason
    assert "ResponderRole" not in checker.unused_statements()
    (reason,) = checker.failure_paths()["ResponderRole"].values()
    assert "in-progress record" in reason
    assert "docs.powertools.aws.dev" in reason
    # The same action of a role with no such failure path, unused, is still reported
    assert "dynamodb:DeleteItem" in checker.unused_statements()["CollectorRole"]


def test_the_status_syncs_delete_item_is_the_replay_guards_release():
    checker = _checker()
    for action in ("dynamodb:GetItem", "dynamodb:PutItem"):
        checker.check("StatusSyncRole", action, [TABLE])
    assert "StatusSyncRole" not in checker.unused_statements()
    (reason,) = checker.failure_paths()["StatusSyncRole"].values()
    assert "ReplayGuard.release" in reason


def test_a_failure_path_that_was_taken_is_neither_unused_nor_listed():
    checker = _checker()
    for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"):
        checker.check("ResponderRole", action, [TABLE])
    assert "ResponderRole" not in checker.unused_statements()
    assert "ResponderRole" not in checker.failure_paths()
