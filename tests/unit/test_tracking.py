"""Change tracking and the lifecycle: what is sent, to which Regions, with which timestamps."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hubrelay import asff
from hubrelay.errors import TransientError
from hubrelay.retry import Retry
from hubrelay.sources import Context
from hubrelay.tracking import (
    Policy,
    Store,
    Tracked,
    TrackingError,
    _to_item,
    archive,
    below_floor,
    content_hash,
    plan,
    resend,
    target_regions,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)
T0_TEXT = "2026-11-01T00:00:00.000Z"
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
POLICY = Policy()


def ctx(at: datetime = T0, regions: tuple[str, ...] = REGIONS) -> Context:
    return Context("123456789012", regions, "", at)


def logical(finding: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A mapped finding as a source produces it: base Id, home ProductArn."""
    out = copy.deepcopy(finding)
    out["Id"] = "scanner/finding-1"
    out["ProductArn"] = asff.product_arn_for("us-east-1", "123456789012")
    out["AwsAccountId"] = "123456789012"
    out["Resources"] = [{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::b", "Region": "eu-west-1"}]
    out.update(changes)
    return out


def sent_state(finding: dict[str, Any], at: datetime = T0) -> Tracked:
    first = plan(finding, "scope", None, ctx(at), POLICY)
    assert first.state is not None
    return first.state


def test_a_new_finding_is_sent_once_with_created_equal_to_updated(finding: dict[str, Any]) -> None:
    result = plan(logical(finding), "scope", None, ctx(), POLICY)
    assert result.action == "new"
    (sent,) = result.sends
    assert sent["CreatedAt"] == sent["UpdatedAt"] == "2026-11-01T00:00:00.000Z"
    assert sent["ProductArn"] == asff.product_arn_for("eu-west-1", "123456789012")
    assert asff.validate_finding(sent) == []
    assert result.state is not None
    assert result.state.regions == {"eu-west-1"}


def test_a_new_finding_keeps_the_sources_earlier_creation_time(finding: dict[str, Any]) -> None:
    # Given a source that saw the issue start a day before it reached us (Health's startTime)
    started = "2026-10-31T00:00:00.000Z"
    result = plan(logical(finding, CreatedAt=started), "scope", None, ctx(), POLICY)
    # Then CreatedAt is the source's, UpdatedAt is when we sent it
    (sent,) = result.sends
    assert sent["CreatedAt"] == started
    assert sent["UpdatedAt"] == "2026-11-01T00:00:00.000Z"


def test_an_unchanged_finding_is_not_sent_again(finding: dict[str, Any]) -> None:
    state = sent_state(logical(finding))
    # Only timestamps moved: the scanner saw it again an hour later.
    again = logical(
        finding, LastObservedAt="2026-11-01T01:00:00Z", UpdatedAt="2026-11-01T01:00:00Z"
    )
    result = plan(again, "scope", state, ctx(T0 + timedelta(hours=1)), POLICY)
    assert (result.action, result.sends, result.state) == ("unchanged", [], None)


def test_a_changed_finding_keeps_created_at_and_advances_updated_at(
    finding: dict[str, Any],
) -> None:
    state = sent_state(logical(finding))
    changed = logical(finding, Title="A new title")
    result = plan(changed, "scope", state, ctx(T0 + timedelta(hours=2)), POLICY)
    assert result.action == "changed"
    (sent,) = result.sends
    assert sent["CreatedAt"] == "2026-11-01T00:00:00.000Z"
    assert sent["UpdatedAt"] == "2026-11-01T02:00:00.000Z"
    assert sent["Title"] == "A new title"  # complete finding, not a patch
    assert sent["Description"] == finding["Description"]


def test_updated_at_always_moves_forward_even_when_the_clock_does_not(
    finding: dict[str, Any],
) -> None:
    state = sent_state(logical(finding))
    result = plan(logical(finding, Title="changed"), "scope", state, ctx(T0), POLICY)
    assert result.sends[0]["UpdatedAt"] == "2026-11-01T00:00:00.001Z"


def test_a_resolved_finding_is_archived_in_every_region_it_was_sent_to(
    finding: dict[str, Any],
) -> None:
    iam = logical(
        finding, Resources=[{"Type": "AwsIamRole", "Id": "arn:aws:iam::123456789012:role/x"}]
    )
    state = sent_state(iam)
    assert state.regions == set(REGIONS)
    resolved = {**iam, "RecordState": "ARCHIVED"}
    result = plan(resolved, "scope", state, ctx(T0 + timedelta(days=1)), POLICY)
    assert result.action == "archived"
    assert {asff.region_of(s["ProductArn"]) for s in result.sends} == set(REGIONS)
    assert {s["RecordState"] for s in result.sends} == {"ARCHIVED"}
    assert result.state is not None
    assert result.state.state == "ARCHIVED"
    # Resolved again next run: nothing more to send.
    assert plan(resolved, "scope", result.state, ctx(T0 + timedelta(days=2)), POLICY).sends == []


def test_a_resolved_finding_never_sent_is_dropped(finding: dict[str, Any]) -> None:
    result = plan(logical(finding, RecordState="ARCHIVED"), "scope", None, ctx(), POLICY)
    assert (result.action, result.sends, result.state) == ("dropped", [], None)


def test_an_absent_finding_is_archived_from_its_last_body(finding: dict[str, Any]) -> None:
    state = sent_state(logical(finding))
    result = archive(state, ctx(T0 + timedelta(days=3)))
    (sent,) = result.sends
    assert sent["RecordState"] == "ARCHIVED"
    assert sent["Title"] == finding["Title"]
    assert sent["CreatedAt"] == "2026-11-01T00:00:00.000Z"
    assert asff.validate_finding(sent) == []


def test_an_archived_finding_that_reappears_is_reopened_with_its_created_at(
    finding: dict[str, Any],
) -> None:
    state = archive(sent_state(logical(finding)), ctx(T0 + timedelta(days=1))).state
    result = plan(logical(finding), "scope", state, ctx(T0 + timedelta(days=2)), POLICY)
    assert result.action == "reopened"
    assert result.sends[0]["RecordState"] == "ACTIVE"
    assert result.sends[0]["CreatedAt"] == "2026-11-01T00:00:00.000Z"


def test_renewal_refresh_resends_an_unchanged_finding_before_the_age_off(
    finding: dict[str, Any],
) -> None:
    state = sent_state(logical(finding))
    refresh = Policy(renewal_mode="refresh")
    early = plan(logical(finding), "scope", state, ctx(T0 + timedelta(days=79)), refresh)
    assert early.action == "unchanged"
    due = plan(logical(finding), "scope", state, ctx(T0 + timedelta(days=80)), refresh)
    assert due.action == "renewed"
    assert due.sends[0]["Id"] == "scanner/finding-1"
    assert due.sends[0]["UpdatedAt"] == asff.timestamp(T0 + timedelta(days=80))


def test_renewal_new_generation_archives_the_old_id_and_starts_a_new_one(
    finding: dict[str, Any],
) -> None:
    state = sent_state(logical(finding))
    policy = Policy(renewal_mode="new-generation", renewal_days=80)
    result = plan(logical(finding), "scope", state, ctx(T0 + timedelta(days=85)), policy)
    assert result.action == "regenerated"
    old, new = result.sends
    assert (old["Id"], old["RecordState"]) == ("scanner/finding-1", "ARCHIVED")
    assert (new["Id"], new["RecordState"]) == ("scanner/finding-1/g1", "ACTIVE")
    assert new["CreatedAt"] == new["UpdatedAt"] == asff.timestamp(T0 + timedelta(days=85))
    assert result.state is not None
    assert result.state.generation == 1
    # The next unchanged report is quiet again.
    later = plan(logical(finding), "scope", result.state, ctx(T0 + timedelta(days=86)), policy)
    assert later.action == "unchanged"


def test_a_lost_archive_of_an_old_generation_is_resent_exactly(finding: dict[str, Any]) -> None:
    # Given a renewal whose archive of generation 0 the importer could not deliver
    state = sent_state(logical(finding))
    policy = Policy(renewal_mode="new-generation", renewal_days=80)
    renewed = plan(logical(finding), "scope", state, ctx(T0 + timedelta(days=85)), policy)
    old, _ = renewed.sends
    assert renewed.state is not None
    lost = replace(
        renewed.state,
        undelivered=frozenset({"us-east-1"}),
        undelivered_sends=frozenset({f"{old['ProductArn']} {old['Id']} ARCHIVED"}),
    )
    # When the collector re-sends it
    again = resend(lost, ctx(T0 + timedelta(days=86)))
    # Then exactly that send is repeated, later, and the marks are cleared
    (sent,) = again.sends
    assert (sent["Id"], sent["ProductArn"], sent["RecordState"]) == (
        old["Id"],
        old["ProductArn"],
        "ARCHIVED",
    )
    assert sent["UpdatedAt"] > old["UpdatedAt"]
    assert again.state is not None
    assert (again.state.undelivered, again.state.undelivered_sends) == (frozenset(), frozenset())
    assert again.state.generation == 1


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        pytest.param(
            [{"Type": "AwsS3Bucket", "Id": "b", "Region": "eu-west-1"}],
            ("eu-west-1",),
            id="regional",
        ),
        pytest.param([{"Type": "AwsIamUser", "Id": "u"}], REGIONS, id="iam-global"),
        pytest.param([{"Type": "AwsAccount", "Id": "123456789012"}], REGIONS, id="account-global"),
        pytest.param([{"Type": "Other", "Id": "x"}], ("us-east-1",), id="no-region-home"),
        pytest.param(
            [{"Type": "AwsEc2Instance", "Id": "i", "Region": "sa-east-1"}],
            ("us-east-1",),
            id="unconfigured-home",
        ),
        pytest.param(
            [
                {"Type": "AwsS3Bucket", "Id": "a", "Region": "ap-southeast-2"},
                {"Type": "AwsS3Bucket", "Id": "b", "Region": "eu-west-1"},
            ],
            ("eu-west-1", "ap-southeast-2"),
            id="two-regions",
        ),
    ],
)
def test_target_regions(resources: list[dict[str, Any]], expected: tuple[str, ...]) -> None:
    assert target_regions({"Resources": resources}, ctx()) == expected


def test_a_finding_that_moves_region_is_archived_where_it_left(finding: dict[str, Any]) -> None:
    state = sent_state(logical(finding))
    moved = logical(
        finding,
        Resources=[{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::b", "Region": "ap-southeast-2"}],
    )
    result = plan(moved, "scope", state, ctx(T0 + timedelta(hours=1)), POLICY)
    states = {(asff.region_of(s["ProductArn"]), s["RecordState"]) for s in result.sends}
    assert states == {("ap-southeast-2", "ACTIVE"), ("eu-west-1", "ARCHIVED")}


def test_severity_floor_and_cvss_floor(finding: dict[str, Any]) -> None:
    low = logical(
        finding, Severity={"Label": "LOW"}, FindingProviderFields={"Severity": {"Label": "LOW"}}
    )
    assert below_floor(low, Policy(severity_floor="MEDIUM"))
    assert not below_floor(low, Policy(severity_floor="LOW"))
    scored = logical(finding, Vulnerabilities=[{"Id": "CVE-1", "Cvss": [{"BaseScore": 2.9}]}])
    assert below_floor(scored, Policy(cvss_floor=3.0))
    assert not below_floor(
        {**scored, "Vulnerabilities": [{"Id": "CVE-1", "Cvss": [{"BaseScore": 3.0}]}]},
        Policy(cvss_floor=3.0),
    )


def test_a_finding_that_falls_under_the_floor_is_archived_once(finding: dict[str, Any]) -> None:
    state = sent_state(logical(finding))
    floor = Policy(cvss_floor=3.0)
    weak = logical(finding, Vulnerabilities=[{"Id": "CVE-1", "Cvss": [{"BaseScore": 1.0}]}])
    result = plan(weak, "scope", state, ctx(T0 + timedelta(hours=1)), floor)
    assert result.action == "archived"
    assert plan(weak, "scope", None, ctx(), floor).action == "dropped"


def test_content_hash_ignores_timestamps_and_region_but_not_content(
    finding: dict[str, Any],
) -> None:
    moved = {
        **finding,
        "UpdatedAt": "2030-01-01T00:00:00Z",
        "ProductArn": "arn:other",
        "LastObservedAt": "x",
    }
    assert content_hash(moved) == content_hash(finding)
    assert content_hash({**finding, "Description": "other"}) != content_hash(finding)


STORED = Tracked("scope", "k", 0, T0_TEXT, T0_TEXT, frozenset({"us-east-1"}), T0.timestamp())
WITH_BODY = replace(STORED, body={"Id": "k"})  # without S3 the body is written by BatchWriteItem


class UnprocessedDynamoDB:
    """BatchWriteItem and BatchGetItem that leave the whole request unprocessed the first
    `stubborn` times (a body written in an item of its own, a row of an earlier release
    read); nothing else in the table."""

    def __init__(self, stubborn: int) -> None:
        self.stubborn = stubborn
        self.calls: list[dict[str, Any]] = []

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(RequestItems)
        return {"UnprocessedItems": RequestItems} if len(self.calls) <= self.stubborn else {}

    def put_item(self, **request: Any) -> dict[str, Any]:
        return {}  # the scope's renewal marker and buckets (not batch calls)

    def get_item(self, **request: Any) -> dict[str, Any]:
        return {}

    def query(self, **request: Any) -> dict[str, Any]:
        return {"Items": []}

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(RequestItems)
        if len(self.calls) <= self.stubborn:
            return {"Responses": {}, "UnprocessedKeys": RequestItems}
        return {"Responses": {"t": [_to_item(STORED)]}}


def recording_retry(slept: list[float]) -> Retry:
    return Retry(max_attempts=8, base_s=0.05, cap_s=2.0, sleep=slept.append)


def test_the_store_writes_unprocessed_items_again_after_a_jittered_backoff() -> None:
    dynamodb, slept = UnprocessedDynamoDB(stubborn=3), list[float]()
    Store(dynamodb, "t", recording_retry(slept)).save([WITH_BODY])
    assert len(dynamodb.calls) == 4
    assert dynamodb.calls[0] == dynamodb.calls[3]
    # Full jitter under the doubling ceilings 0.05, 0.1 and 0.2 s.
    assert len(slept) == 3
    assert all(0 <= s <= 0.05 * 2**i for i, s in enumerate(slept))


def test_the_store_reads_unprocessed_keys_again() -> None:
    dynamodb, slept = UnprocessedDynamoDB(stubborn=2), list[float]()
    found = Store(dynamodb, "t", recording_retry(slept)).load("scope", ["k"])
    assert found == {"k": STORED}
    assert len(dynamodb.calls) == 3
    assert len(slept) == 2


def test_the_store_gives_up_with_a_transient_error_when_the_attempts_are_spent() -> None:
    dynamodb, slept = UnprocessedDynamoDB(stubborn=100), list[float]()
    with pytest.raises(TrackingError, match="unprocessed after 8 attempts") as caught:
        Store(dynamodb, "t", recording_retry(slept)).save([WITH_BODY])
    assert isinstance(caught.value, TransientError)
    assert len(dynamodb.calls) == 8
    assert len(slept) == 7


def test_the_store_gives_up_rather_than_wait_past_the_deadline() -> None:
    dynamodb, slept = UnprocessedDynamoDB(stubborn=100), list[float]()
    retry = Retry(max_attempts=8, remaining_ms=lambda: 0, sleep=slept.append)
    with pytest.raises(TrackingError, match="after 1 attempts"):
        Store(dynamodb, "t", retry).save([WITH_BODY])
    assert slept == []


def test_the_store_backs_off_from_50_ms_to_2_s_over_8_attempts_by_default() -> None:
    retry = Store(UnprocessedDynamoDB(stubborn=0), "t").retry
    assert (retry.max_attempts, retry.base_s, retry.cap_s) == (8, 0.05, 2.0)


# --- Product, Regions and scanner versions over time -----------------------------------

PARTNER = "arn:aws:securityhub:us-east-1:999999999999:product/acme/scanner"


def test_switching_to_the_partner_arn_archives_under_the_old_product_and_sends_under_the_new(
    finding: dict[str, Any],
) -> None:
    # Given a finding sent under the private default product
    first = plan(logical(finding), "scope", None, ctx(), POLICY)
    assert first.state is not None
    assert first.state.product == ""
    # When the stack is switched to the partner's product ARN and the finding is reported again
    partner = Context("123456789012", REGIONS, PARTNER, T0 + timedelta(hours=1))
    result = plan(logical(finding), "scope", first.state, partner, POLICY)
    # Then it is archived under the default product and sent, active, under the partner's
    assert result.action == "rehomed"
    sent = {(s["ProductArn"].split(":product/")[1], s["RecordState"]) for s in result.sends}
    assert sent == {("123456789012/default", "ARCHIVED"), ("acme/scanner", "ACTIVE")}
    assert result.state is not None
    assert result.state.product == PARTNER
    # And the next unchanged report sends nothing
    later = Context("123456789012", REGIONS, PARTNER, T0 + timedelta(hours=2))
    assert plan(logical(finding), "scope", result.state, later, POLICY).sends == []


def test_an_absent_finding_is_archived_under_the_product_it_was_sent_under(
    finding: dict[str, Any],
) -> None:
    first = plan(logical(finding), "scope", None, ctx(), POLICY)
    assert first.state is not None
    partner = Context("123456789012", REGIONS, PARTNER, T0 + timedelta(hours=1))
    (sent,) = archive(first.state, partner).sends
    assert sent["ProductArn"].endswith(":product/123456789012/default")


def test_a_region_removed_from_the_configuration_gets_its_findings_archived_there(
    finding: dict[str, Any],
) -> None:
    # Given a finding on a global resource, sent to every configured Region
    iam = logical(finding, Resources=[{"Type": "AwsIamRole", "Id": "arn:aws:iam::1:role/r"}])
    first = plan(iam, "scope", None, ctx(), POLICY)
    assert first.state is not None
    assert first.state.regions == set(REGIONS)
    # When ap-southeast-2 is removed from Regions and the finding is reported unchanged
    fewer = ctx(T0 + timedelta(hours=1), regions=("us-east-1", "eu-west-1"))
    result = plan(iam, "scope", first.state, fewer, POLICY)
    # Then it is archived there only, and nothing is re-sent where it still is
    assert result.action == "withdrawn"
    assert [(asff.region_of(s["ProductArn"]), s["RecordState"]) for s in result.sends] == [
        ("ap-southeast-2", "ARCHIVED")
    ]
    assert result.state is not None
    assert result.state.regions == {"us-east-1", "eu-west-1"}
    assert plan(iam, "scope", result.state, fewer, POLICY).sends == []


@pytest.mark.parametrize("field", ["sarif/toolVersion", "grype/scanner"])
def test_a_new_scanner_version_alone_is_no_change(finding: dict[str, Any], field: str) -> None:
    before = logical(finding, ProductFields={field: "1.0.0", "sarif/ruleId": "r1"})
    after = logical(finding, ProductFields={field: "1.1.0", "sarif/ruleId": "r1"})
    assert content_hash(before) == content_hash(after)
    state = plan(before, "scope", None, ctx(), POLICY).state
    assert plan(after, "scope", state, ctx(T0 + timedelta(days=1)), POLICY).action == "unchanged"
    changed = logical(finding, ProductFields={field: "1.1.0", "sarif/ruleId": "r2"})
    assert content_hash(changed) != content_hash(before)


def test_a_row_of_an_earlier_release_with_all_64_hex_digits_is_the_same_content(
    finding: dict[str, Any],
) -> None:
    import hashlib

    from hubrelay.sources import stable_json
    from hubrelay.tracking import VOLATILE_FIELDS, VOLATILE_PRODUCT_FIELDS, _from_item

    # Given the row an earlier release wrote: the whole SHA-256 of the content, 64 digits
    state = plan(finding, "scope", None, ctx(), POLICY).state
    assert state is not None
    content = {k: v for k, v in finding.items() if k not in VOLATILE_FIELDS}
    if isinstance(content.get("ProductFields"), dict):
        fields = content["ProductFields"].items()
        content["ProductFields"] = {k: v for k, v in fields if k not in VOLATILE_PRODUCT_FIELDS}
    digits = hashlib.sha256(stable_json(content).encode()).hexdigest()
    earlier = _from_item({**_to_item(state), "h": {"S": digits}})
    # When the source reports the same finding a day later, and then a changed one
    later = ctx(T0 + timedelta(days=1))
    same = plan(finding, "scope", earlier, later, POLICY)
    changed = plan({**finding, "Description": "other"}, "scope", earlier, later, POLICY)
    # Then the same content is not sent again, and a change is
    assert (same.action, same.sends) == ("unchanged", [])
    assert changed.action != "unchanged"
    assert changed.sends


def test_the_product_is_remembered_in_the_table() -> None:
    from hubrelay.tracking import _from_item

    for product in ("", PARTNER):
        stored = _from_item(_to_item(replace(STORED, product=product)))
        assert stored.product == product
    # State written before hubrelay kept the product is taken to be the current product.
    assert _from_item(_to_item(STORED)).product is None


def test_the_default_renewal_is_a_new_finding_as_the_partner_faq_asks(
    finding: dict[str, Any],
) -> None:
    from hubrelay.settings import Settings

    assert Settings().renewal_mode == Policy().renewal_mode == "new-generation"
    state = sent_state(logical(finding))
    result = plan(logical(finding), "scope", state, ctx(T0 + timedelta(days=80)), Policy())
    assert result.action == "regenerated"


def test_item_size_follows_dynamodbs_rules() -> None:
    """Names and values in UTF-8, binary as is, numbers 1 byte per two significant digits
    plus 1 (leading and trailing zeroes trimmed), sets their elements, lists and maps 3
    bytes plus 1 per element ("Item sizes and formats")."""
    from hubrelay.tracking import item_size

    assert item_size({"pk": {"S": "é"}}) == 2 + 2
    assert item_size({"b": {"B": b"\x00" * 10}}) == 1 + 10
    assert item_size({"n": {"N": "123"}}) == 1 + 3
    assert item_size({"n": {"N": "1000"}}) == 1 + 2
    assert item_size({"n": {"N": "1764547200.125"}}) == 1 + 8
    assert item_size({"r": {"SS": ["us-east-1", "eu-west-1"]}}) == 1 + 18
    assert item_size({"l": {"L": [{"S": "ab"}, {"N": "7"}]}}) == 1 + 3 + (2 + 1) + (2 + 1)
    assert item_size({"m": {"M": {"k": {"BOOL": True}}}}) == 1 + 3 + (1 + 1 + 1)
