"""The settings model as the functions read it from their environment."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from hubrelay import responder
from hubrelay.settings import Settings, SettingsError

PASSWORD = "pw-s3cret-value"


@pytest.mark.parametrize(
    "url",
    [
        f"https://user:{PASSWORD}@api.example.com/v1",
        f"https://{PASSWORD}@api.example.com/",
        f"https://user:{PASSWORD}@api.example.com:port/",
    ],
)
def test_a_vendor_url_with_user_information_is_refused_without_repeating_it(url):
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"HUBRELAY_VENDOR_API_URL": url})
    assert "HUBRELAY_VENDOR_API_URL" in str(raised.value)
    assert PASSWORD not in str(raised.value)


def test_every_invalid_variable_is_named_and_no_value_is_repeated():
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"HUBRELAY_SOURCE": f"x-{PASSWORD}", "HUBRELAY_HTTP_TIMEOUT_S": PASSWORD})
    text = str(raised.value)
    assert "HUBRELAY_SOURCE" in text
    assert "HUBRELAY_HTTP_TIMEOUT_S" in text
    assert PASSWORD not in text


def test_the_reply_cap_reaches_the_http_client():
    settings = Settings.from_env({"HUBRELAY_HTTP_MAX_REPLY_BYTES": "65536"})
    assert responder.connect(settings).outlets.http.max_reply_bytes == 65536
    assert Settings().http_max_reply_bytes == 1024 * 1024


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("HUBRELAY_RENEWAL_DAYS", "90", "Input should be less than or equal to 89"),
        ("HUBRELAY_RENEWAL_DAYS", "1.5", "unable to parse string as an integer"),
        ("HUBRELAY_HTTP_TIMEOUT_S", "0", "Input should be greater than 0"),
        ("HUBRELAY_AUTO_ROUTE", "maybe", "Input should be a valid boolean"),
        ("HUBRELAY_WEBHOOK_MODE", "stream", "String should match pattern '^(finding|batch)$'"),
    ],
)
def test_a_refused_value_is_named_with_its_reason(variable, value, reason):
    with pytest.raises(SettingsError, match=f"{variable}: .*{re.escape(reason)}"):
        Settings.from_env({variable: value})


def test_values_read_from_text_take_the_field_type():
    settings = Settings.from_env(
        {"HUBRELAY_RENEWAL_DAYS": "1.0", "HUBRELAY_AUTO_ROUTE": "Yes", "HUBRELAY_CVSS_FLOOR": "7"}
    )
    assert (settings.renewal_days, settings.auto_route, settings.cvss_floor) == (1, True, 7.0)


def test_reading_the_settings_imports_no_pydantic():
    # Every function reads its settings at import: pydantic there was most of the
    # collector's and the importer's cold start over a bare boto3 handler.
    code = (
        "import sys, hubrelay.settings as s; s.Settings.from_env(); "
        "print('pydantic' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
