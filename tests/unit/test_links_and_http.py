"""Console links and the HTTP client's pure helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import unquote

import pytest

from hubrelay import http, links

GD_ID = "arn:aws:guardduty:us-east-1:111111111111:detector/12ab/finding/a4b6c7"


def test_security_hub_link_filters_the_console_on_the_finding_id():
    url = links.securityhub_finding_url(GD_ID, "us-east-1")
    assert url is not None
    search = url.split("search=", 1)[1]
    # The console's own form: the filter value is encoded twice.
    assert unquote(unquote(search)) == f"Id=\\operator\\:EQUALS\\:{GD_ID}"


def test_links_follow_the_partition_of_the_region():
    assert links.securityhub_finding_url("x", "cn-north-1").startswith(
        "https://console.amazonaws.cn/"
    )
    assert links.securityhub_finding_url("x", "us-gov-west-1").startswith(
        "https://console.amazonaws-us-gov.com/"
    )


def test_detective_pivot_only_for_guardduty_finding_arns():
    assert links.detective_finding_url(GD_ID, "us-east-1", "GuardDuty") == (
        "https://console.aws.amazon.com/detective/home?region=us-east-1#findings/GuardDuty/a4b6c7"
    )
    assert links.detective_finding_url(GD_ID, "us-east-1", "Inspector") is None
    assert (
        links.detective_finding_url("arn:aws:inspector2:us-east-1:1:finding/x", "us-east-1", None)
        is None
    )


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("Wed, 21 Oct 2026 07:28:30 GMT", 30.0),
        ("soon", None),
        (None, None),
    ],
)
def test_retry_after_in_seconds_or_http_date(value, seconds):
    now = datetime(2026, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert http.parse_retry_after(value, now=now) == seconds


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://hooks.example.com/x", True),
        ("http://127.0.0.1:8080/x", True),
        ("http://hooks.example.com/x", False),
        ("file:///etc/passwd", False),
        ("ftp://127.0.0.1/x", False),
    ],
)
def test_only_https_or_loopback_http(url, ok):
    if ok:
        http.check_url(url)
    else:
        with pytest.raises(ValueError, match="only https"):
            http.check_url(url)
