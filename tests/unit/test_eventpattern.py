"""hubrelay_emulator.eventpattern against the EventBridge user guide's documented semantics."""

from __future__ import annotations

import pytest

from hubrelay_emulator.eventpattern import PatternError, matches

EC2_EVENT = {
    "source": "aws.ec2",
    "detail-type": "EC2 Instance State-change Notification",
    "resources": [
        "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b:autoScalingGroupName/ASGTerminate",
        "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
    ],
    "detail": {"state": "terminated", "count": 5, "flag": True, "nothing": None},
}


def test_every_field_must_match_and_values_in_an_array_are_alternatives():
    assert matches(
        {"source": ["aws.ec2", "aws.fargate"], "detail": {"state": ["terminated"]}}, EC2_EVENT
    )
    assert not matches({"source": ["aws.ec2"], "detail": {"state": ["running"]}}, EC2_EVENT)


def test_fields_the_pattern_names_must_exist():
    assert not matches({"detail": {"missing": ["x"]}}, EC2_EVENT)
    assert not matches({"detail": {"state": {"inner": ["x"]}}}, EC2_EVENT)


def test_an_event_array_matches_when_the_intersection_is_not_empty():
    # The guide's own example: the first pattern value matches the event's second value.
    pattern = {
        "resources": [
            "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
            "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f",
        ]
    }
    assert matches(pattern, EC2_EVENT)
    assert not matches(
        {"resources": ["arn:aws:ec2:us-east-1:444455556666:instance/i-1"]}, EC2_EVENT
    )


def test_arrays_of_objects_match_each_field_against_any_element_independently():
    event = {"detail": {"findings": [
        {"Severity": {"Label": "HIGH"}, "Workflow": {"Status": "NOTIFIED"}},
        {"Severity": {"Label": "LOW"}, "Workflow": {"Status": "NEW"}},
    ]}}  # fmt: skip
    pattern = {
        "detail": {"findings": {"Severity": {"Label": ["HIGH"]}, "Workflow": {"Status": ["NEW"]}}}
    }
    # No single finding is HIGH and NEW, yet the event matches.
    assert matches(pattern, event)
    assert not matches({"detail": {"findings": {"Severity": {"Label": ["CRITICAL"]}}}}, event)


def test_exact_values_keep_their_json_type():
    assert matches({"detail": {"count": [5]}}, EC2_EVENT)
    assert matches({"detail": {"count": [5.0]}}, EC2_EVENT)
    assert not matches({"detail": {"count": ["5"]}}, EC2_EVENT)
    assert matches({"detail": {"flag": [True]}}, EC2_EVENT)
    assert not matches({"detail": {"flag": [1]}}, EC2_EVENT)
    assert matches({"detail": {"nothing": [None]}}, EC2_EVENT)
    assert not matches({"detail": {"state": ["TERMINATED"]}}, EC2_EVENT)


def test_prefix_suffix_and_case_insensitive_matching():
    assert matches({"source": [{"prefix": "aws."}]}, EC2_EVENT)
    assert not matches({"source": [{"prefix": "custom."}]}, EC2_EVENT)
    assert matches({"resources": [{"suffix": "/i-b188560f"}]}, EC2_EVENT)
    assert matches({"detail": {"state": [{"equals-ignore-case": "TERMINATED"}]}}, EC2_EVENT)
    assert matches({"detail-type": [{"wildcard": "EC2 * Notification"}]}, EC2_EVENT)
    assert not matches({"detail": {"count": [{"prefix": "5"}]}}, EC2_EVENT)


def test_anything_but_matches_only_present_values_outside_the_list():
    assert matches({"detail": {"state": [{"anything-but": ["running", "pending"]}]}}, EC2_EVENT)
    assert not matches({"detail": {"state": [{"anything-but": "terminated"}]}}, EC2_EVENT)
    assert not matches({"detail": {"state": [{"anything-but": {"prefix": "term"}}]}}, EC2_EVENT)
    assert matches({"detail": {"state": [{"anything-but": {"suffix": "ing"}}]}}, EC2_EVENT)
    assert not matches({"detail": {"absent": [{"anything-but": "x"}]}}, EC2_EVENT)


def test_numeric_matching_only_applies_to_numbers():
    assert matches({"detail": {"count": [{"numeric": [">", 0, "<=", 5]}]}}, EC2_EVENT)
    assert not matches({"detail": {"count": [{"numeric": [">", 5]}]}}, EC2_EVENT)
    assert not matches({"detail": {"state": [{"numeric": [">", 0]}]}}, EC2_EVENT)
    assert not matches({"detail": {"flag": [{"numeric": ["=", 1]}]}}, EC2_EVENT)


def test_exists_looks_at_leaf_fields():
    assert matches({"detail": {"state": [{"exists": True}]}}, EC2_EVENT)
    assert matches({"detail": {"absent": [{"exists": False}]}}, EC2_EVENT)
    assert not matches({"detail": {"state": [{"exists": False}]}}, EC2_EVENT)
    assert not matches({"detail": {"absent": [{"exists": True}]}}, EC2_EVENT)
    findings = {"detail": {"findings": [{"Note": {"Text": "x"}}, {}]}}
    assert matches({"detail": {"findings": {"Note": {"Text": [{"exists": True}]}}}}, findings)


def test_or_combines_alternative_patterns():
    pattern = {"$or": [{"detail": {"state": ["running"]}}, {"detail": {"count": [5]}}]}
    assert matches(pattern, EC2_EVENT)


@pytest.mark.parametrize(
    "pattern",
    [
        {},
        {"source": "aws.ec2"},
        {"source": []},
        {"source": [{"cidr": "10.0.0.0/8"}]},
        {"detail": {"count": [{"numeric": [">"]}]}},
        {"detail": {"count": [{"numeric": ["!", 5]}]}},
        {"detail": {"state": [{"exists": "yes"}]}},
        {"$or": [{"source": ["a"]}]},
    ],
)
def test_patterns_outside_the_supported_subset_raise(pattern):
    with pytest.raises(PatternError):
        matches(pattern, EC2_EVENT)


def test_or_nested_in_an_object_and_across_an_array_of_objects():
    # The guide's own form: "$or" inside "detail" ("Comparison operators for use in event
    # patterns", #eb-create-pattern-operators-or); a key holding "/" is one field name.
    event = {"detail": {"findings": [
        {"ProductFields": {"aws/securityhub/ProductName": "GuardDuty"}},
    ]}}  # fmt: skip
    pattern = {"detail": {"findings": {"$or": [
        {"ProductName": ["GuardDuty"]},
        {"ProductFields": {"aws/securityhub/ProductName": ["GuardDuty"]}},
    ]}}}  # fmt: skip
    assert matches(pattern, event)
    nested = {"detail": {"findings": {"ProductFields": {"aws": {"securityhub": ["GuardDuty"]}}}}}
    assert not matches(nested, event)
    assert not matches(
        {"detail": {"findings": {"$or": [{"ProductName": ["Macie"]}, {"Id": ["x"]}]}}}, event
    )
