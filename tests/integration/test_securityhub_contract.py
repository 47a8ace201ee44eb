"""The contract-enforcing Security Hub (hubrelay_emulator.securityhub), through real boto3 clients.

Most tests run in-process under mock_aws; test_server_* go through a ThreadedMotoServer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from moto.securityhub import urls as securityhub_urls
from moto.securityhub.responses import SecurityHubResponse
from moto.server import ThreadedMotoServer

from hubrelay_emulator.securityhub import (
    Contract,
    client_for,
    disable_hub,
    enable_hub,
    finding_size,
    install,
    uninstall,
)
from tests.support import REQUIRED_FIELDS, load_fixture

REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
ACCOUNT = "111111111111"
OTHER = "222222222222"
UNSUBSCRIBED = "333333333333"
PARTNER = "444444444444"
PARTNER_PRODUCT = f"arn:aws:securityhub:{REGION}:{PARTNER}:product/acme/scanner"
# Security Hub lists many partner products without an account, Trivy's among them.
LISTED_PRODUCT = f"arn:aws:securityhub:{REGION}::product/acme/scanner"
TRIVY_PRODUCT = f"arn:aws:securityhub:{REGION}::product/aquasecurity/aquasecurity"
KB = 1024


def default_product(account: str = ACCOUNT, region: str = REGION) -> str:
    return f"arn:aws:securityhub:{region}:{account}:product/{account}/default"


def make_finding(n: int = 0, account: str = ACCOUNT, **overrides: Any) -> dict[str, Any]:
    finding: dict[str, Any] = {
        "SchemaVersion": "2018-10-08",
        "Id": f"finding-{n}",
        "ProductArn": default_product(account),
        "GeneratorId": "contract-test",
        "AwsAccountId": account,
        "CreatedAt": "2026-01-01T00:00:00Z",
        "UpdatedAt": "2026-01-01T00:00:00.000Z",
        "Title": f"Finding {n}",
        "Description": "A finding used by the contract tests.",
        "Resources": [{"Type": "AwsS3Bucket", "Id": f"arn:aws:s3:::bucket-{n}"}],
        "Severity": {"Label": "MEDIUM"},
        "Types": ["Software and Configuration Checks/AWS Security Best Practices"],
    }
    finding.update(overrides)
    return finding


def later(days: int) -> str:
    """An UpdatedAt `days` after make_finding's: Security Hub ignores an update not later."""
    return f"2026-01-{1 + days:02d}T00:00:00.000Z"


def key_of(finding: dict[str, Any]) -> dict[str, str]:
    return {"Id": finding["Id"], "ProductArn": finding["ProductArn"]}


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def failures(response: dict[str, Any]) -> dict[str, str]:
    return {f["Id"]: f["ErrorCode"] for f in response["FailedFindings"]}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    for name in ("MOTO_ACCOUNT_ID", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def contract(aws_env: None, clock: FakeClock) -> Iterator[Contract]:
    active = install(Contract(clock=clock))
    yield active
    uninstall()


@pytest.fixture
def hub(contract: Contract) -> Iterator[Contract]:
    """ACCOUNT and OTHER subscribed in REGION; UNSUBSCRIBED and PARTNER not."""
    with mock_aws():
        enable_hub(ACCOUNT, REGION)
        enable_hub(OTHER, REGION)
        yield contract


@pytest.fixture
def client(hub: Contract) -> Any:
    return client_for(ACCOUNT, REGION)


def import_one(client: Any, finding: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = client.batch_import_findings(Findings=[finding])
    return response


# --- Batch and finding limits. ---


def test_a_batch_of_100_findings_is_imported(client: Any, hub: Contract) -> None:
    response = client.batch_import_findings(Findings=[make_finding(n) for n in range(100)])

    assert (response["SuccessCount"], response["FailedCount"]) == (100, 0)
    assert len(hub.findings(ACCOUNT, REGION)) == 100


def test_a_batch_of_101_findings_is_rejected_whole(client: Any, hub: Contract) -> None:
    with pytest.raises(ClientError) as excinfo:
        client.batch_import_findings(Findings=[make_finding(n) for n in range(101)])

    assert error_of(excinfo) == ("InvalidInputException", 400)
    assert hub.findings(ACCOUNT, REGION) == []


def test_an_empty_batch_is_rejected_by_the_service_too(hub: Contract) -> None:
    # Given a client that skips botocore's own min-length check
    unchecked = client_for(ACCOUNT, REGION, config=Config(parameter_validation=False))

    with pytest.raises(ClientError) as excinfo:
        unchecked.batch_import_findings(Findings=[])

    assert error_of(excinfo) == ("InvalidInputException", 400)


def padded_to(size: int, n: int = 0) -> dict[str, Any]:
    finding = make_finding(n, ProductFields={"padding": ""})
    finding["ProductFields"]["padding"] = "x" * (size - finding_size(finding))
    assert finding_size(finding) == size
    return finding


def test_a_finding_of_exactly_240_kb_is_imported_and_one_byte_more_fails(
    client: Any, hub: Contract
) -> None:
    at_limit, over_limit = padded_to(240 * KB, 1), padded_to(240 * KB + 1, 2)

    response = client.batch_import_findings(Findings=[at_limit, over_limit, make_finding(3)])

    assert failures(response) == {"finding-2": "InvalidInput"}
    assert "240 KB" in response["FailedFindings"][0]["ErrorMessage"]
    assert {f["Id"] for f in hub.findings(ACCOUNT, REGION)} == {"finding-1", "finding-3"}


def test_a_request_over_the_request_limit_is_rejected_whole(client: Any, hub: Contract) -> None:
    # Given a lowered request limit that two 130 KB findings exceed together, not alone
    hub.max_request_bytes = 240 * KB
    big = [padded_to(130 * KB, n) for n in range(2)]

    with pytest.raises(ClientError) as excinfo:
        client.batch_import_findings(Findings=big)

    assert error_of(excinfo) == ("RequestEntityTooLargeException", 413)
    assert hub.calls[-1].outcome == "RequestEntityTooLargeException"
    assert hub.calls[-1].request_bytes > 240 * KB
    # When packed one per call, both go through
    for finding in big:
        assert import_one(client, finding)["SuccessCount"] == 1


@pytest.mark.parametrize(
    ("field", "length", "accepted"),
    [
        ("Title", 256, True),
        ("Title", 257, False),
        ("Description", 1024, True),
        ("Description", 1025, False),
    ],
)
def test_text_fields_are_limited(client: Any, field: str, length: int, accepted: bool) -> None:
    overrides: dict[str, Any] = {field: "t" * length}
    response = import_one(client, make_finding(**overrides))

    assert response["SuccessCount"] == int(accepted)
    assert failures(response) == ({} if accepted else {"finding-0": "InvalidInput"})


@pytest.mark.parametrize("account", ["11111111111", "1111111111111", "11111111111a", ""])
def test_aws_account_id_must_be_exactly_12_digits(client: Any, account: str) -> None:
    response = import_one(client, make_finding(AwsAccountId=account))

    assert failures(response) == {"finding-0": "InvalidInput"}


def test_product_arn_region_must_match_the_endpoint_region(client: Any) -> None:
    # Given the account is subscribed in both Regions
    enable_hub(ACCOUNT, OTHER_REGION)
    eu_client = client_for(ACCOUNT, OTHER_REGION)
    finding = make_finding()  # ProductArn in us-east-1

    rejected = import_one(eu_client, finding)
    accepted = import_one(client, finding)

    assert failures(rejected) == {"finding-0": "InvalidInput"}
    assert "region" in rejected["FailedFindings"][0]["ErrorMessage"]
    assert accepted["SuccessCount"] == 1


@pytest.mark.parametrize(
    "product_arn",
    [
        f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}",
        f"arn:aws:securityhub:{REGION}:1234:product/{ACCOUNT}/default",
        f"arn:aws:s3:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default",
        f"arn:aws:securityhub:{REGION}:11111111111:product/{ACCOUNT}/default",
        f"arn:aws:securityhub:{REGION}::product/aquasecurity",
    ],
)
def test_malformed_product_arn_fails(client: Any, product_arn: str) -> None:
    assert failures(import_one(client, make_finding(ProductArn=product_arn))) == {
        "finding-0": "InvalidInput"
    }


@pytest.mark.parametrize("missing", [*REQUIRED_FIELDS, "Severity"])
def test_a_finding_missing_a_required_field_fails_alone(
    client: Any, hub: Contract, missing: str
) -> None:
    broken = make_finding(1)
    del broken[missing]
    # botocore refuses to send findings without model-required members, so bypass it
    unchecked = client_for(ACCOUNT, REGION, config=Config(parameter_validation=False))

    response = unchecked.batch_import_findings(Findings=[broken, make_finding(2)])

    assert response["FailedCount"] == 1
    assert response["FailedFindings"][0]["ErrorCode"] == "InvalidInput"
    assert [f["Id"] for f in hub.findings(ACCOUNT, REGION)] == ["finding-2"]


@pytest.mark.parametrize(
    ("severity", "accepted"),
    [
        ({"Label": "CRITICAL"}, True),
        ({"Normalized": 75}, True),
        ({"Product": 5.0}, False),
        ({"Label": "SEVERE"}, False),
        ({"Normalized": 101}, False),
    ],
)
def test_severity_needs_a_valid_label_or_normalized(
    client: Any, severity: dict[str, Any], accepted: bool
) -> None:
    assert import_one(client, make_finding(Severity=severity))["SuccessCount"] == int(accepted)


def test_normalized_only_severity_gets_its_label(client: Any, hub: Contract) -> None:
    import_one(client, make_finding(Severity={"Normalized": 75}))

    assert hub.findings(ACCOUNT, REGION)[0]["Severity"] == {"Normalized": 75, "Label": "HIGH"}


@pytest.mark.parametrize(
    ("resources", "accepted"),
    [
        ([{"Type": "Other", "Id": f"r{n}"} for n in range(32)], True),
        ([{"Type": "Other", "Id": f"r{n}"} for n in range(33)], False),
        ([], False),
        ([{"Type": "Other"}], False),
    ],
)
def test_resources_hold_1_to_32_typed_resources(
    client: Any, resources: list[dict[str, str]], accepted: bool
) -> None:
    unchecked = client_for(ACCOUNT, REGION, config=Config(parameter_validation=False))
    response = unchecked.batch_import_findings(Findings=[make_finding(Resources=resources)])

    assert response["SuccessCount"] == int(accepted)


@pytest.mark.parametrize(
    ("types", "accepted"),
    [
        (["TTPs"], True),
        (["Effects/Data Exposure"], True),
        (["Unusual Behaviors/User/Login"], True),
        (["Sensitive Data Identifications/PII/Passport"], True),
        (["Malware/Trojan"], False),
        (["TTPs//Recon"], False),
        (["software and configuration checks/Vulnerabilities"], False),
    ],
)
def test_types_use_a_documented_namespace(client: Any, types: list[str], accepted: bool) -> None:
    assert import_one(client, make_finding(Types=types))["SuccessCount"] == int(accepted)


@pytest.mark.parametrize(
    ("timestamp", "accepted"),
    [
        ("2026-01-01T00:00:00Z", True),
        ("2026-01-01T00:00:00.123456+02:00", True),
        ("2026-01-01 00:00:00Z", False),
        ("2026-13-01T00:00:00Z", False),
        ("2026-01-01T00:00:00", False),
        ("1767225600", False),
    ],
)
def test_timestamps_are_rfc_3339(client: Any, timestamp: str, accepted: bool) -> None:
    response = import_one(client, make_finding(UpdatedAt=timestamp, FirstObservedAt=timestamp))

    assert response["SuccessCount"] == int(accepted)


# --- Who may import what. ---


def test_an_unsubscribed_account_fails_only_its_own_findings(hub: Contract) -> None:
    # Given a partner product that ACCOUNT and OTHER subscribed to; UNSUBSCRIBED has no hub
    for account in (ACCOUNT, OTHER):
        client_for(account, REGION).enable_import_findings_for_product(ProductArn=PARTNER_PRODUCT)
    batch = [
        make_finding(n, account, ProductArn=PARTNER_PRODUCT)
        for n, account in enumerate((ACCOUNT, UNSUBSCRIBED, OTHER, UNSUBSCRIBED))
    ]

    # When the partner imports them in one call
    response = client_for(PARTNER, REGION).batch_import_findings(Findings=batch)

    # Then only the unsubscribed account's findings fail, naming that account
    assert failures(response) == {"finding-1": "InvalidAccess", "finding-3": "InvalidAccess"}
    assert all(UNSUBSCRIBED in f["ErrorMessage"] for f in response["FailedFindings"])
    assert [f["Id"] for f in hub.findings(ACCOUNT, REGION)] == ["finding-0"]
    assert [f["Id"] for f in hub.findings(OTHER, REGION)] == ["finding-2"]
    assert hub.findings(UNSUBSCRIBED, REGION) == []


def test_a_partner_imports_only_for_customers_subscribed_to_its_product(hub: Contract) -> None:
    partner = client_for(PARTNER, REGION)
    customer = client_for(ACCOUNT, REGION)
    finding = make_finding(ProductArn=PARTNER_PRODUCT)

    before = import_one(partner, finding)
    subscription = customer.enable_import_findings_for_product(ProductArn=PARTNER_PRODUCT)
    after = import_one(partner, finding)
    customer.disable_import_findings_for_product(
        ProductSubscriptionArn=subscription["ProductSubscriptionArn"]
    )
    revoked = import_one(partner, make_finding(1, ProductArn=PARTNER_PRODUCT))

    assert failures(before) == {"finding-0": "InvalidAccess"}
    assert ACCOUNT in before["FailedFindings"][0]["ErrorMessage"]
    assert after["SuccessCount"] == 1
    assert failures(revoked) == {"finding-1": "InvalidAccess"}
    stored = hub.findings(ACCOUNT, REGION)
    assert [(f["CompanyName"], f["ProductName"]) for f in stored] == [("acme", "scanner")]


def test_a_customer_imports_a_partner_product_only_once_subscribed(client: Any) -> None:
    finding = make_finding(ProductArn=PARTNER_PRODUCT)

    before = import_one(client, finding)
    client.enable_import_findings_for_product(ProductArn=PARTNER_PRODUCT)
    after = import_one(client, finding)

    assert failures(before) == {"finding-0": "InvalidAccess"}
    assert after["SuccessCount"] == 1


def test_a_customer_imports_trivys_product_without_an_account_only_once_subscribed(
    client: Any, hub: Contract
) -> None:
    # Given Trivy's ASFF output for ACCOUNT (contrib/asff.tpl: no account in the ProductArn)
    (finding, _) = load_fixture("sources/trivy_asff.json")["Findings"]
    finding["AwsAccountId"] = ACCOUNT

    # When ACCOUNT imports it before and after subscribing to that exact ARN
    before = import_one(client, finding)
    subscription = client.enable_import_findings_for_product(ProductArn=TRIVY_PRODUCT)
    after = import_one(client, finding)

    # Then it is refused, then imported as Trivy's
    assert failures(before) == {finding["Id"]: "InvalidAccess"}
    assert after["SuccessCount"] == 1
    assert subscription["ProductSubscriptionArn"] == (
        f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product-subscription/aquasecurity/aquasecurity"
    )
    (stored,) = hub.findings(ACCOUNT, REGION)
    assert (stored["ProductArn"], stored["CompanyName"], stored["ProductName"]) == (
        TRIVY_PRODUCT,
        "aquasecurity",
        "aquasecurity",
    )


def test_a_product_arn_without_an_account_must_match_the_endpoint_region(hub: Contract) -> None:
    enable_hub(ACCOUNT, OTHER_REGION)
    eu_client = client_for(ACCOUNT, OTHER_REGION)
    eu_client.enable_import_findings_for_product(
        ProductArn=TRIVY_PRODUCT.replace(REGION, OTHER_REGION)
    )

    response = import_one(eu_client, make_finding(ProductArn=TRIVY_PRODUCT))

    assert failures(response) == {"finding-0": "InvalidInput"}
    assert "region" in response["FailedFindings"][0]["ErrorMessage"]
    with pytest.raises(ClientError) as excinfo:
        eu_client.enable_import_findings_for_product(ProductArn=TRIVY_PRODUCT)
    assert error_of(excinfo) == ("InvalidInputException", 400)


def test_a_subscription_covers_only_its_exact_product_arn(client: Any) -> None:
    # Given ACCOUNT subscribed to acme/scanner as the ARN with the partner's account
    client.enable_import_findings_for_product(ProductArn=PARTNER_PRODUCT)

    # When it imports findings of the same company and product, listed without an account
    listed = import_one(client, make_finding(ProductArn=LISTED_PRODUCT))
    client.enable_import_findings_for_product(ProductArn=LISTED_PRODUCT)
    subscribed = import_one(client, make_finding(1, ProductArn=LISTED_PRODUCT))

    # Then the other ARN needs its own subscription
    assert failures(listed) == {"finding-0": "InvalidAccess"}
    assert subscribed["SuccessCount"] == 1


def test_an_allow_listed_partner_imports_a_product_without_an_account_for_subscribers(
    hub: Contract,
) -> None:
    # Given PARTNER allow-listed for acme/scanner, whose ARN has no account, and a third
    # account with a hub of its own that is not allow-listed
    hub.allow_list(LISTED_PRODUCT, PARTNER)
    enable_hub(PARTNER, REGION)
    partner, stranger = client_for(PARTNER, REGION), client_for(OTHER, REGION)
    customer = client_for(ACCOUNT, REGION)

    # When each imports a finding for ACCOUNT, before and after ACCOUNT subscribes
    before = import_one(partner, make_finding(0, ProductArn=LISTED_PRODUCT))
    customer.enable_import_findings_for_product(ProductArn=LISTED_PRODUCT)
    after = import_one(partner, make_finding(1, ProductArn=LISTED_PRODUCT))
    strangers = import_one(stranger, make_finding(2, ProductArn=LISTED_PRODUCT))

    # Then only the allow-listed partner's, after the subscription, is imported, exactly as
    # for a product ARN that carries the partner's account
    assert failures(before) == {"finding-0": "InvalidAccess"}
    assert after["SuccessCount"] == 1
    assert failures(strangers) == {"finding-2": "InvalidAccess"}
    assert [f["Id"] for f in hub.findings(ACCOUNT, REGION)] == ["finding-1"]


def test_nobody_imports_an_aws_service_product(client: Any, hub: Contract) -> None:
    guardduty = f"arn:aws:securityhub:{REGION}::product/aws/guardduty"
    client.enable_import_findings_for_product(ProductArn=guardduty)

    response = import_one(client, make_finding(ProductArn=guardduty))

    assert failures(response) == {"finding-0": "InvalidAccess"}
    assert hub.findings(ACCOUNT, REGION) == []


def test_allow_list_takes_a_product_arn_and_an_account(contract: Contract) -> None:
    with pytest.raises(ValueError, match="product ARN"):
        contract.allow_list(f"arn:aws:securityhub:{REGION}::hub/default", PARTNER)
    with pytest.raises(ValueError, match="12 digits"):
        contract.allow_list(LISTED_PRODUCT, "4444")


def test_an_account_cannot_import_into_another_accounts_hub(client: Any, hub: Contract) -> None:
    response = import_one(client, make_finding(account=OTHER))

    assert failures(response) == {"finding-0": "InvalidAccess"}
    assert hub.findings(OTHER, REGION) == []


def test_clients_act_as_their_own_accounts(hub: Contract) -> None:
    for account in (ACCOUNT, OTHER):
        import_one(client_for(account, REGION), make_finding(account=account))

    assert [c.account for c in hub.calls] == [ACCOUNT, OTHER]
    for account in (ACCOUNT, OTHER):
        found = client_for(account, REGION).get_findings()["Findings"]
        assert [f["AwsAccountId"] for f in found] == [account]


def test_hub_operations_need_a_subscribed_account(hub: Contract) -> None:
    outsider = client_for(UNSUBSCRIBED, REGION)

    with pytest.raises(ClientError) as excinfo:
        outsider.get_findings()

    assert error_of(excinfo) == ("InvalidAccessException", 401)


def test_disabling_the_hub_stops_imports(client: Any) -> None:
    disable_hub(ACCOUNT, REGION)

    assert failures(import_one(client, make_finding())) == {"finding-0": "InvalidAccess"}


# --- Throttling and injected faults. ---


def test_imports_are_throttled_after_the_burst_and_recover_with_time(
    client: Any, hub: Contract, clock: FakeClock
) -> None:
    # Given the default bucket: 30 calls at once, refilled at 10 per second
    for n in range(30):
        assert import_one(client, make_finding(n))["SuccessCount"] == 1

    with pytest.raises(ClientError) as excinfo:
        import_one(client, make_finding(30))

    assert error_of(excinfo) == ("TooManyRequestsException", 429)
    assert (hub.throttled, hub.calls[-1].outcome) == (1, "TooManyRequestsException")
    assert len(hub.findings(ACCOUNT, REGION)) == 30
    # Another account has its own bucket
    assert import_one(client_for(OTHER, REGION), make_finding(account=OTHER))["SuccessCount"] == 1
    # When 0.5 s pass, 5 calls are allowed again, not 6
    clock.advance(0.5)
    for n in range(5):
        import_one(client, make_finding(100 + n))
    with pytest.raises(ClientError):
        import_one(client, make_finding(105))
    assert hub.throttled == 2


def test_a_rate_of_none_never_throttles(client: Any, hub: Contract) -> None:
    hub.rate_per_second = None

    for n in range(40):
        import_one(client, make_finding(n))

    assert hub.throttled == 0


@pytest.mark.parametrize(
    ("kind", "code", "status"),
    [
        ("throttle", "TooManyRequestsException", 429),
        ("internal", "InternalException", 500),
        ("access_denied", "AccessDeniedException", 403),
    ],
)
def test_injected_faults_fail_the_next_calls_then_clear(
    client: Any, hub: Contract, kind: Any, code: str, status: int
) -> None:
    hub.inject(kind, count=2)

    for n in range(2):
        with pytest.raises(ClientError) as excinfo:
            import_one(client, make_finding(n))
        assert error_of(excinfo) == (code, status)

    assert import_one(client, make_finding(2))["SuccessCount"] == 1
    assert [f["Id"] for f in hub.findings(ACCOUNT, REGION)] == ["finding-2"]
    assert [c.outcome for c in hub.calls] == [code, code, "ok"]


def test_injected_failed_findings_by_id_and_by_count(client: Any, hub: Contract) -> None:
    hub.inject("failed_findings", ids=["finding-1"], error_code="InvalidInput")
    hub.inject("failed_findings", first=2)
    batch = [make_finding(n) for n in range(3)]

    by_id = client.batch_import_findings(Findings=batch)
    by_count = client.batch_import_findings(Findings=[make_finding(n) for n in range(3, 6)])

    assert failures(by_id) == {"finding-1": "InvalidInput"}
    assert failures(by_count) == {
        "finding-3": "InternalException",
        "finding-4": "InternalException",
    }
    assert sorted(f["Id"] for f in hub.findings(ACCOUNT, REGION)) == [
        "finding-0",
        "finding-2",
        "finding-5",
    ]
    assert [c.outcome for c in hub.calls] == ["partial", "partial"]


def test_inject_rejects_unknown_kinds_and_parameters(contract: Contract) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        contract.inject("flood")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ids"):
        contract.inject("throttle", ids=["x"])


def test_calls_are_recorded_with_size_and_outcome(client: Any, hub: Contract) -> None:
    client.batch_import_findings(Findings=[make_finding(0), make_finding(1, Title="")])

    (call,) = hub.calls
    assert (call.account, call.region, call.findings, call.outcome) == (
        ACCOUNT,
        REGION,
        2,
        "partial",
    )
    assert call.request_bytes > finding_size(make_finding(0))


# --- Storing findings. ---


def test_the_same_id_imported_twice_is_one_overwritten_finding(client: Any, hub: Contract) -> None:
    import_one(
        client,
        make_finding(
            Title="First",
            Note={"Text": "n", "UpdatedBy": "me", "UpdatedAt": "2026-01-01T00:00:00Z"},
        ),
    )
    import_one(client, make_finding(Title="Second", Confidence=50, UpdatedAt=later(1)))
    # Same Id under another product is another finding
    client.enable_import_findings_for_product(ProductArn=PARTNER_PRODUCT)
    import_one(client, make_finding(ProductArn=PARTNER_PRODUCT))

    stored = {f["ProductArn"]: f for f in hub.findings(ACCOUNT, REGION)}
    assert set(stored) == {default_product(), PARTNER_PRODUCT}
    assert stored[default_product()]["Title"] == "Second"
    assert stored[default_product()]["Confidence"] == 50
    # Note is Security Hub-managed: kept from the first import
    assert stored[default_product()]["Note"]["Text"] == "n"


def test_stored_findings_carry_security_hub_fields(client: Any, hub: Contract) -> None:
    import_one(client, make_finding())

    (stored,) = hub.findings(ACCOUNT, REGION)
    assert stored["Region"] == REGION
    assert stored["RecordState"] == "ACTIVE"
    assert stored["Workflow"] == {"Status": "NEW"}
    assert (stored["CompanyName"], stored["ProductName"]) == ("Personal", "Default")
    assert "ProcessedAt" in stored


def resolve(client: Any, finding: dict[str, Any]) -> None:
    response = client.batch_update_findings(
        FindingIdentifiers=[key_of(finding)],
        Workflow={"Status": "RESOLVED"},
        Note={"Text": "Fixed", "UpdatedBy": "analyst"},
    )
    assert response["UnprocessedFindings"] == []


def workflow_status(hub: Contract) -> str:
    (stored,) = hub.findings(ACCOUNT, REGION)
    status: str = stored["Workflow"]["Status"]
    return status


def test_workflow_survives_reimport_and_resets_when_archived_goes_active(
    client: Any, hub: Contract
) -> None:
    finding = make_finding()
    import_one(client, finding)
    resolve(client, finding)

    # When the provider re-imports with its own (ignored) workflow, then archives
    import_one(client, make_finding(Workflow={"Status": "NEW"}, Title="Again", UpdatedAt=later(1)))
    kept = workflow_status(hub)
    import_one(client, make_finding(RecordState="ARCHIVED", UpdatedAt=later(2)))
    archived = workflow_status(hub)
    import_one(client, make_finding(RecordState="ACTIVE", UpdatedAt=later(3)))

    assert (kept, archived, workflow_status(hub)) == ("RESOLVED", "RESOLVED", "NEW")
    assert hub.findings(ACCOUNT, REGION)[0]["Note"]["Text"] == "Fixed"


def test_workflow_resets_when_compliance_leaves_passed(client: Any, hub: Contract) -> None:
    passed = make_finding(Compliance={"Status": "PASSED"})
    import_one(client, passed)
    resolve(client, passed)

    import_one(client, make_finding(Compliance={"Status": "PASSED"}, UpdatedAt=later(1)))
    still_passed = workflow_status(hub)
    import_one(client, make_finding(Compliance={"Status": "FAILED"}, UpdatedAt=later(2)))

    assert (still_passed, workflow_status(hub)) == ("RESOLVED", "NEW")


def test_get_findings_filters_and_pages(client: Any) -> None:
    findings = [make_finding(n, Severity={"Label": ("LOW", "HIGH")[n % 2]}) for n in range(5)]
    client.batch_import_findings(Findings=findings)
    client.batch_update_findings(
        FindingIdentifiers=[key_of(findings[0])], Workflow={"Status": "SUPPRESSED"}
    )

    def ids(**filters: list[dict[str, str]]) -> list[str]:
        return [f["Id"] for f in client.get_findings(Filters=filters)["Findings"]]

    assert ids(SeverityLabel=[{"Value": "HIGH", "Comparison": "EQUALS"}]) == [
        "finding-1",
        "finding-3",
    ]
    assert ids(
        Id=[
            {"Value": "finding-1", "Comparison": "EQUALS"},
            {"Value": "finding-4", "Comparison": "EQUALS"},
        ],
        WorkflowStatus=[{"Value": "NEW", "Comparison": "EQUALS"}],
    ) == ["finding-1", "finding-4"]
    assert len(ids(WorkflowStatus=[{"Value": "SUPPRESSED", "Comparison": "NOT_EQUALS"}])) == 4
    assert len(ids(ProductArn=[{"Value": "arn:aws:securityhub:", "Comparison": "PREFIX"}])) == 5
    assert ids(AwsAccountId=[{"Value": OTHER, "Comparison": "EQUALS"}]) == []
    assert len(ids(RecordState=[{"Value": "ACTIVE", "Comparison": "EQUALS"}])) == 5

    pages = client.get_paginator("get_findings").paginate(PaginationConfig={"PageSize": 2})
    assert [len(page["Findings"]) for page in pages] == [2, 2, 1]
    with pytest.raises(ClientError) as excinfo:
        client.get_findings(MaxResults=101)
    assert error_of(excinfo) == ("InvalidInputException", 400)


# --- BatchUpdateFindings. ---


def test_batch_update_reports_processed_and_unprocessed(client: Any, hub: Contract) -> None:
    known = make_finding(1)
    import_one(client, known)
    unknown = {"Id": "nope", "ProductArn": default_product()}

    response = client.batch_update_findings(
        FindingIdentifiers=[key_of(known), unknown, key_of(known)],
        Workflow={"Status": "NOTIFIED"},
        UserDefinedFields={"ticket": "SEC-1"},
        Severity={"Normalized": 95},
        VerificationState="TRUE_POSITIVE",
        Confidence=80,
        Criticality=70,
        Types=["TTPs/Discovery"],
        RelatedFindings=[{"ProductArn": default_product(), "Id": "other"}],
    )

    assert response["ProcessedFindings"] == [key_of(known)]
    assert [
        (u["FindingIdentifier"]["Id"], u["ErrorCode"]) for u in response["UnprocessedFindings"]
    ] == [
        ("nope", "FindingNotFound"),
        ("finding-1", "DuplicatedFindingIdentifier"),
    ]
    (stored,) = hub.findings(ACCOUNT, REGION)
    assert stored["Workflow"]["Status"] == "NOTIFIED"
    assert stored["UserDefinedFields"] == {"ticket": "SEC-1"}
    assert stored["Severity"]["Label"] == "CRITICAL"
    assert (stored["Confidence"], stored["Criticality"]) == (80, 70)
    assert stored["VerificationState"] == "TRUE_POSITIVE"
    assert stored["Types"] == ["TTPs/Discovery"]
    # "BatchUpdateFindings does not change the UpdatedAt field for the finding"
    # (https://docs.aws.amazon.com/securityhub/latest/userguide/finding-update-batchupdatefindings.html).
    assert stored["UpdatedAt"] == known["UpdatedAt"]


@pytest.mark.parametrize(
    "update",
    [
        {"Note": {"Text": "x" * 513, "UpdatedBy": "me"}},
        {"Workflow": {"Status": "DONE"}},
        {"Confidence": 101},
        {"Types": ["Nonsense/Type"]},
        {"Severity": {"Label": "URGENT"}},
        {"VerificationState": "MAYBE"},
    ],
)
def test_batch_update_with_an_invalid_value_leaves_findings_unprocessed(
    client: Any, hub: Contract, update: dict[str, Any]
) -> None:
    finding = make_finding()
    import_one(client, finding)
    unchecked = client_for(ACCOUNT, REGION, config=Config(parameter_validation=False))

    response = unchecked.batch_update_findings(FindingIdentifiers=[key_of(finding)], **update)

    assert response["ProcessedFindings"] == []
    assert [u["ErrorCode"] for u in response["UnprocessedFindings"]] == ["InvalidInput"]
    assert hub.findings(ACCOUNT, REGION)[0]["Workflow"] == {"Status": "NEW"}


def test_a_note_of_512_characters_is_accepted(client: Any) -> None:
    finding = make_finding()
    import_one(client, finding)

    response = client.batch_update_findings(
        FindingIdentifiers=[key_of(finding)], Note={"Text": "x" * 512, "UpdatedBy": "me"}
    )

    assert response["ProcessedFindings"] == [key_of(finding)]


def test_batch_update_takes_at_most_100_identifiers(client: Any) -> None:
    identifiers = [{"Id": f"f{n}", "ProductArn": default_product()} for n in range(101)]

    ok = client.batch_update_findings(FindingIdentifiers=identifiers[:100], Confidence=1)
    with pytest.raises(ClientError) as excinfo:
        client.batch_update_findings(FindingIdentifiers=identifiers, Confidence=1)

    assert len(ok["UnprocessedFindings"]) == 100
    assert error_of(excinfo) == ("InvalidInputException", 400)


# --- Custom actions, insights and product subscriptions. ---


def test_action_targets_are_created_described_updated_and_deleted(client: Any) -> None:
    arn = client.create_action_target(Name="Send to SOC", Description="Escalate", Id="SendToSoc")[
        "ActionTargetArn"
    ]
    client.update_action_target(ActionTargetArn=arn, Description="Escalate now")
    described = client.describe_action_targets(ActionTargetArns=[arn])["ActionTargets"]
    deleted = client.delete_action_target(ActionTargetArn=arn)["ActionTargetArn"]

    assert arn == f"arn:aws:securityhub:{REGION}:{ACCOUNT}:action/custom/SendToSoc"
    assert described == [
        {"ActionTargetArn": arn, "Name": "Send to SOC", "Description": "Escalate now"}
    ]
    assert deleted == arn
    assert client.describe_action_targets()["ActionTargets"] == []
    gone: list[tuple[str, dict[str, Any]]] = [
        ("delete_action_target", {"ActionTargetArn": arn}),
        ("update_action_target", {"ActionTargetArn": arn, "Name": "x"}),
        ("describe_action_targets", {"ActionTargetArns": [arn]}),
    ]
    for operation, arguments in gone:
        with pytest.raises(ClientError) as excinfo:
            getattr(client, operation)(**arguments)
        assert error_of(excinfo) == ("ResourceNotFoundException", 404)


def test_action_target_ids_are_unique_and_limited_to_50(client: Any) -> None:
    for n in range(50):
        client.create_action_target(Name=f"Action {n}", Description="d", Id=f"A{n}")

    with pytest.raises(ClientError) as conflict:
        client.create_action_target(Name="Again", Description="d", Id="A0")
    with pytest.raises(ClientError) as limit:
        client.create_action_target(Name="One more", Description="d", Id="A50")

    assert error_of(conflict) == ("ResourceConflictException", 409)
    assert error_of(limit) == ("LimitExceededException", 429)
    # The limit is per account: another account still has room
    other = client_for(OTHER, REGION)
    assert other.create_action_target(Name="Mine", Description="d", Id="A0")["ActionTargetArn"]


@pytest.mark.parametrize(
    ("name", "target_id", "accepted"),
    [
        ("x" * 20, "a" * 20, True),
        ("x" * 21, "Valid", False),
        ("Valid", "a" * 21, False),
        ("Valid", "not-alnum", False),
    ],
)
def test_action_target_name_and_id_are_checked(
    client: Any, name: str, target_id: str, accepted: bool
) -> None:
    if accepted:
        assert client.create_action_target(Name=name, Description="d", Id=target_id)
        return
    with pytest.raises(ClientError) as excinfo:
        client.create_action_target(Name=name, Description="d", Id=target_id)
    assert error_of(excinfo) == ("InvalidInputException", 400)


def test_insights_are_created_read_updated_and_deleted(client: Any) -> None:
    filters = {"SeverityLabel": [{"Value": "CRITICAL", "Comparison": "EQUALS"}]}

    arn = client.create_insight(Name="Critical", Filters=filters, GroupByAttribute="ResourceId")[
        "InsightArn"
    ]
    client.update_insight(InsightArn=arn, Name="Critical by type", GroupByAttribute="Type")
    (insight,) = client.get_insights(InsightArns=[arn])["Insights"]
    deleted = client.delete_insight(InsightArn=arn)["InsightArn"]

    assert arn.startswith(f"arn:aws:securityhub:{REGION}:{ACCOUNT}:insight/{ACCOUNT}/custom/")
    assert insight == {
        "InsightArn": arn,
        "Name": "Critical by type",
        "Filters": filters,
        "GroupByAttribute": "Type",
    }
    assert deleted == arn
    assert client.get_insights()["Insights"] == []
    with pytest.raises(ClientError) as excinfo:
        client.delete_insight(InsightArn=arn)
    assert error_of(excinfo) == ("ResourceNotFoundException", 404)


def test_insight_names_take_at_most_128_characters(client: Any) -> None:
    assert client.create_insight(Name="n" * 128, Filters={}, GroupByAttribute="ResourceId")
    with pytest.raises(ClientError) as excinfo:
        client.create_insight(Name="n" * 129, Filters={}, GroupByAttribute="ResourceId")
    assert error_of(excinfo) == ("InvalidInputException", 400)


def test_product_subscriptions_are_enabled_listed_and_disabled(client: Any) -> None:
    arn = client.enable_import_findings_for_product(ProductArn=PARTNER_PRODUCT)[
        "ProductSubscriptionArn"
    ]
    listed = client.list_enabled_products_for_import()["ProductSubscriptions"]
    with pytest.raises(ClientError) as conflict:
        client.enable_import_findings_for_product(ProductArn=PARTNER_PRODUCT)
    client.disable_import_findings_for_product(ProductSubscriptionArn=arn)
    with pytest.raises(ClientError) as missing:
        client.disable_import_findings_for_product(ProductSubscriptionArn=arn)

    assert arn == f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product-subscription/acme/scanner"
    assert listed == [arn]
    assert error_of(conflict) == ("ResourceConflictException", 409)
    assert error_of(missing) == ("ResourceNotFoundException", 404)
    assert client.list_enabled_products_for_import()["ProductSubscriptions"] == []


# --- Events. ---


def test_one_imported_event_per_imported_and_per_updated_finding(
    client: Any, hub: Contract
) -> None:
    events: list[dict[str, Any]] = []
    hub.subscribe(events.append)
    findings = [make_finding(n) for n in range(3)]

    client.batch_import_findings(Findings=[*findings, make_finding(9, Title="")])
    client.batch_update_findings(
        FindingIdentifiers=[key_of(findings[0])], Workflow={"Status": "NOTIFIED"}
    )

    assert len(events) == 4
    assert {e["detail-type"] for e in events} == {"Security Hub Findings - Imported"}
    assert all(len(e["detail"]["findings"]) == 1 for e in events)
    assert [e["resources"] for e in events] == [[f"finding-{n}"] for n in (0, 1, 2, 0)]
    first = events[0]
    assert (first["version"], first["source"], first["account"], first["region"]) == (
        "0",
        "aws.securityhub",
        ACCOUNT,
        REGION,
    )
    assert first["detail"]["findings"][0] == hub.findings(ACCOUNT, REGION)[0] | {
        "Workflow": {"Status": "NEW"},
        "UpdatedAt": findings[0]["UpdatedAt"],
    }
    assert events[3]["detail"]["findings"][0]["Workflow"]["Status"] == "NOTIFIED"
    assert len({e["id"] for e in events}) == 4


def test_unsubscribed_callbacks_get_no_more_events(client: Any, hub: Contract) -> None:
    events: list[dict[str, Any]] = []
    unsubscribe = hub.subscribe(events.append)
    import_one(client, make_finding(0))

    unsubscribe()
    import_one(client, make_finding(1))

    assert len(events) == 1


def test_custom_action_sends_each_selected_finding_as_an_event_of_its_own(
    client: Any, hub: Contract
) -> None:
    findings = [make_finding(n) for n in range(21)]
    client.batch_import_findings(Findings=findings)
    arn = client.create_action_target(Name="Ticket", Description="Open a ticket", Id="Ticket")[
        "ActionTargetArn"
    ]
    events: list[dict[str, Any]] = []
    hub.subscribe(events.append)
    keys = [(f["ProductArn"], f["Id"]) for f in findings]

    sent = hub.custom_action(ACCOUNT, REGION, arn, keys[:2])

    assert events == sent
    assert [len(e["detail"]["findings"]) for e in sent] == [1, 1]
    for event in sent:
        assert event["detail-type"] == "Security Hub Findings - Custom Action"
        assert event["resources"] == [arn]
        assert (event["detail"]["actionName"], event["detail"]["actionDescription"]) == (
            "Ticket",
            "Open a ticket",
        )
    assert [e["detail"]["findings"][0]["Id"] for e in sent] == ["finding-0", "finding-1"]
    assert sent[0]["detail"]["findings"][0]["ProductName"] == "Default"
    assert len({e["id"] for e in sent}) == 2
    # The console selects at most 20 findings for a custom action.
    assert len(hub.custom_action(ACCOUNT, REGION, arn, keys[:20])) == 20
    with pytest.raises(ValueError, match="at most 20"):
        hub.custom_action(ACCOUNT, REGION, arn, keys)


def test_custom_action_needs_an_existing_target_and_findings(client: Any, hub: Contract) -> None:
    import_one(client, make_finding())
    key = (default_product(), "finding-0")
    missing_arn = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:action/custom/Missing"
    arn = client.create_action_target(Name="n", Description="d", Id="Exists")["ActionTargetArn"]

    with pytest.raises(LookupError, match="Missing"):
        hub.custom_action(ACCOUNT, REGION, missing_arn, [key])
    with pytest.raises(LookupError, match="nope"):
        hub.custom_action(ACCOUNT, REGION, arn, [(default_product(), "nope")])


# --- Properties. ---


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.booleans(), min_size=1, max_size=100))
def test_exactly_the_invalid_findings_fail(client: Any, hub: Contract, valid: list[bool]) -> None:
    hub.rate_per_second = None
    batch = [
        make_finding(n, Id=f"p-{n}-{len(valid)}", AwsAccountId=ACCOUNT if ok else "bad")
        for n, ok in enumerate(valid)
    ]

    response = client.batch_import_findings(Findings=batch)

    assert set(failures(response)) == {
        f["Id"] for f, ok in zip(batch, valid, strict=True) if not ok
    }
    assert response["SuccessCount"] == sum(valid)


# --- The moto server path and installation. ---


@pytest.fixture
def server(contract: Contract) -> Iterator[str]:
    # Installed before the server starts: it builds its URL map on the first request.
    # mock_aws only resets moto's state afterwards; requests to 127.0.0.1 pass through it.
    moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    with mock_aws():
        moto_server.start()
        host, port = moto_server.get_host_and_port()
        yield f"http://{host}:{port}"
        moto_server.stop()


def test_server_serves_the_same_contract(server: str, contract: Contract) -> None:
    customer = client_for(ACCOUNT, REGION, endpoint_url=server)
    partner = client_for(PARTNER, REGION, endpoint_url=server)
    customer.enable_security_hub()
    events: list[dict[str, Any]] = []
    contract.subscribe(events.append)

    # Partner findings are refused until the customer subscribes to the product
    refused = import_one(partner, make_finding(ProductArn=PARTNER_PRODUCT))
    customer.enable_import_findings_for_product(ProductArn=PARTNER_PRODUCT)
    imported = partner.batch_import_findings(
        Findings=[make_finding(n, ProductArn=PARTNER_PRODUCT) for n in range(3)]
        + [make_finding(3, ProductArn=PARTNER_PRODUCT, Title="t" * 257)]
    )
    updated = customer.batch_update_findings(
        FindingIdentifiers=[key_of(make_finding(0, ProductArn=PARTNER_PRODUCT))],
        Workflow={"Status": "RESOLVED"},
    )
    arn = customer.create_action_target(Name="n", Description="d", Id="ViaServer")[
        "ActionTargetArn"
    ]
    customer.update_action_target(ActionTargetArn=arn, Name="renamed")
    contract.inject("throttle")
    with pytest.raises(ClientError) as excinfo:
        import_one(partner, make_finding(9, ProductArn=PARTNER_PRODUCT))

    assert failures(refused) == {"finding-0": "InvalidAccess"}
    assert failures(imported) == {"finding-3": "InvalidInput"}
    assert len(updated["ProcessedFindings"]) == 1
    assert [
        len(p["Findings"])
        for p in customer.get_paginator("get_findings").paginate(PaginationConfig={"PageSize": 2})
    ] == [2, 1]
    assert customer.describe_action_targets()["ActionTargets"][0]["Name"] == "renamed"
    assert customer.delete_action_target(ActionTargetArn=arn)["ActionTargetArn"] == arn
    assert error_of(excinfo) == ("TooManyRequestsException", 429)
    assert [c.account for c in contract.calls] == [PARTNER] * 3
    assert len(events) == 4


def test_install_is_idempotent_and_uninstall_restores_moto(aws_env: None) -> None:
    original_paths = dict(securityhub_urls.url_paths)
    original_import = SecurityHubResponse.__dict__["batch_import_findings"]

    first = install()
    again = install()
    replacement = Contract(burst=1)
    replaced = install(replacement)
    kept = install()
    patched_paths = set(securityhub_urls.url_paths)
    uninstall()
    uninstall()

    assert first is again
    assert replaced is replacement
    assert kept is replacement
    assert "{0}/findings/batchupdate$" in patched_paths
    assert securityhub_urls.url_paths == original_paths
    assert SecurityHubResponse.__dict__["batch_import_findings"] is original_import
    assert "batch_update_findings" not in SecurityHubResponse.__dict__


def test_uninstalled_moto_accepts_invalid_findings_again(aws_env: None) -> None:
    # Guards the premise: without the contract, moto takes what the contract refuses
    with mock_aws():
        client = client_for(ACCOUNT, REGION)
        response = import_one(client, make_finding(AwsAccountId="bad", Title="t" * 300))

    assert response["SuccessCount"] == 1


def test_client_for_rejects_malformed_accounts() -> None:
    with pytest.raises(ValueError, match="12 digits"):
        client_for("1234", REGION)


def test_findings_returns_copies(client: Any, hub: Contract) -> None:
    import_one(client, make_finding())

    hub.findings(ACCOUNT, REGION)[0]["Title"] = "changed"

    assert hub.findings(ACCOUNT, REGION)[0]["Title"] == "Finding 0"


def test_client_for_refuses_an_account_moto_account_id_would_override(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOTO_ACCOUNT_ID", OTHER)

    with pytest.raises(RuntimeError, match="MOTO_ACCOUNT_ID"):
        client_for(ACCOUNT, REGION)
    assert client_for(OTHER, REGION)


# --- The documented update rules: "BatchImportFindings for finding providers",
# https://docs.aws.amazon.com/securityhub/latest/userguide/finding-update-batchimportfindings.html


def test_an_import_not_later_than_the_stored_finding_is_ignored_and_not_billed(
    client: Any, hub: Contract
) -> None:
    import_one(client, make_finding(Title="First", UpdatedAt="2026-01-02T00:00:00.000Z"))
    billed = hub.billed_imports

    # When the provider sends the same Id with the same UpdatedAt, then an earlier one
    import_one(client, make_finding(Title="Same time", UpdatedAt="2026-01-02T00:00:00.000Z"))
    import_one(client, make_finding(Title="Earlier", UpdatedAt="2026-01-01T00:00:00Z"))

    # Then the stored finding is the first, and neither import was billed
    (stored,) = hub.findings(ACCOUNT, REGION)
    assert stored["Title"] == "First"
    assert hub.billed_imports == billed == 1
    # And a later UpdatedAt is an update, billed
    import_one(client, make_finding(Title="Later", UpdatedAt="2026-01-02T00:00:00.001Z"))
    assert hub.findings(ACCOUNT, REGION)[0]["Title"] == "Later"
    assert hub.billed_imports == 2


def test_an_ignored_import_emits_no_imported_event(client: Any, hub: Contract) -> None:
    events: list[Any] = []
    hub.subscribe(events.append)
    import_one(client, make_finding())
    import_one(client, make_finding(Title="Stale"))
    assert len(events) == 1


def test_batch_update_findings_leaves_updated_at_so_the_next_import_still_lands(
    client: Any, hub: Contract
) -> None:
    import_one(client, make_finding(UpdatedAt="2026-01-02T00:00:00Z"))
    client.batch_update_findings(
        FindingIdentifiers=[key_of(make_finding())], Workflow={"Status": "NOTIFIED"}
    )
    assert hub.findings(ACCOUNT, REGION)[0]["UpdatedAt"] == "2026-01-02T00:00:00Z"
    import_one(client, make_finding(Title="Next", UpdatedAt="2026-01-03T00:00:00Z"))
    assert hub.findings(ACCOUNT, REGION)[0]["Title"] == "Next"


def test_a_customers_severity_and_types_survive_imports_which_update_provider_fields(
    client: Any, hub: Contract
) -> None:
    # Given a provider's finding, and a customer who changed its Severity and Types
    provider = {"Severity": {"Label": "LOW"}, "Types": ["Software and Configuration Checks"]}
    import_one(client, make_finding(FindingProviderFields=provider, Severity={"Label": "LOW"}))
    (created,) = hub.findings(ACCOUNT, REGION)
    client.batch_update_findings(
        FindingIdentifiers=[key_of(make_finding())],
        Severity={"Label": "CRITICAL"},
        Types=["TTPs/Discovery"],
    )
    # When the provider imports a later version with new values
    newer = {"Severity": {"Label": "HIGH"}, "Types": ["Effects/Data Exposure"]}
    import_one(
        client,
        make_finding(
            UpdatedAt="2026-01-05T00:00:00Z",
            FindingProviderFields=newer,
            Severity={"Label": "HIGH"},
            Types=["Effects/Data Exposure"],
            Title="Newer",
        ),
    )
    # Then the customer's top-level values are kept, and FindingProviderFields updated
    # ("Using FindingProviderFields", finding-update-batchimportfindings.html).
    (stored,) = hub.findings(ACCOUNT, REGION)
    assert created["Severity"]["Label"] == "LOW"
    assert stored["Title"] == "Newer"
    assert stored["Severity"]["Label"] == "CRITICAL"
    assert stored["Types"] == ["TTPs/Discovery"]
    assert stored["FindingProviderFields"]["Severity"]["Label"] == "HIGH"
    assert stored["FindingProviderFields"]["Types"] == ["Effects/Data Exposure"]


def test_without_a_customer_update_an_import_updates_top_level_and_provider_fields(
    client: Any, hub: Contract
) -> None:
    import_one(client, make_finding(Severity={"Label": "LOW"}))
    (created,) = hub.findings(ACCOUNT, REGION)
    # Security Hub fills FindingProviderFields from the top level when a finding has none
    assert created["FindingProviderFields"]["Severity"]["Label"] == "LOW"
    newer = {"Severity": {"Label": "HIGH"}, "Types": ["Effects/Data Exposure"]}
    import_one(
        client,
        make_finding(UpdatedAt="2026-01-05T00:00:00Z", FindingProviderFields=newer),
    )
    (stored,) = hub.findings(ACCOUNT, REGION)
    assert stored["Severity"]["Label"] == "HIGH"
    assert stored["Types"] == ["Effects/Data Exposure"]
