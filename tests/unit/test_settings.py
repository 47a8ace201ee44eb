"""The settings model as the functions read it from their environment."""

from __future__ import annotations

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
