"""Secrets never leave Secrets Manager: not in logs, metrics, return values or dead letters.

The collector (vendor API source, a test token) and the responder (signed webhook with a
test signing secret and a secret URL path, vendor back-sync with a test token) run through
their Lambda handlers, on success and on failure paths, with the Powertools logger at DEBUG.
Everything Lambda would record is captured: stdout and stderr (Powertools logs and EMF
metrics), records of other loggers at WARNING (the Lambda runtime's level), the handlers'
return values, and what the functions write elsewhere (dead-letter messages, error reports).
Each capture first proves that it would see a leak.
"""

from __future__ import annotations

import copy
import gzip
import json
import logging
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from hubrelay_emulator.localhttp import start_server, stop_server
from tests.integration import collector_env
from tests.integration.route_harness import (
    REGION,
    SIGNING_SECRET,
    VENDOR_TOKEN,
    Stack,
    drain,
    load_responder,
    responder_context,
    responder_stack,
)
from tests.support import load_fixture

# Test values, not credentials. A webhook URL can itself be a secret (Slack's are).
WEBHOOK_PATH_SECRET = "T0-webhook-path-s3cret"
REFUSED_TOKEN = "rotated-token-the-api-refuses"


class Capture:
    """Everything a Lambda function would leave behind, as one text to search."""

    def __init__(self, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture):
        self.capsys, self.caplog = capsys, caplog
        self.extra: list[str] = []

    def add(self, value: Any) -> None:
        self.extra.append(value if isinstance(value, str) else json.dumps(value, default=str))

    def text(self) -> str:
        out, err = self.capsys.readouterr()
        self.extra += [out, err, self.caplog.text]
        self.caplog.clear()
        return "\n".join(self.extra)

    def prove_it_sees(self, secret: str) -> None:
        """A deliberate leak through the functions' logger must show up."""
        from hubrelay.observability import logger

        logger.debug("leak check", value=secret)
        assert secret in self.text(), "the capture does not see the functions' log output"
        self.extra.clear()


@pytest.fixture
def capture(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> Iterator[Capture]:
    # Imported here, not at collection: Powertools reads its environment (service name,
    # metrics namespace) when hubrelay.observability is first imported.
    from hubrelay.observability import logger

    previous = logger.log_level
    logger.setLevel(logging.DEBUG)
    caplog.set_level(logging.WARNING)  # other loggers, as the Lambda runtime sets them up
    try:
        yield Capture(capsys, caplog)
    finally:
        logger.setLevel(previous)


def assert_absent(text: str, *secrets: str) -> None:
    leaked = [secret for secret in secrets if secret in text]
    assert not leaked, f"secret values in the captured output: {leaked}"


# --- collector -------------------------------------------------------------------------


@pytest.fixture
def vendor_stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "hubrelay-collector")
    with collector_env.collector_stack(monkeypatch, SOURCE="vendor_api") as resources:
        records = copy.deepcopy(load_fixture("sources/vendor_findings.json"))
        for api in collector_env.serve(collector_env.VendorApi(records)):
            monkeypatch.setenv("HUBRELAY_VENDOR_API_URL", api.url)
            monkeypatch.setenv("HUBRELAY_VENDOR_SECRET_ARN", resources["secret_arn"])
            yield {**resources, "api": api}


def _error_reports() -> list[str]:
    """Every object the collector wrote: error reports, and the tracked bodies (gzip)."""
    s3 = boto3.client("s3", region_name=REGION)
    listed = s3.list_objects_v2(Bucket="reports").get("Contents", [])
    texts = []
    for item in listed:
        got = s3.get_object(Bucket="reports", Key=item["Key"])
        data = got["Body"].read()
        texts.append(
            (gzip.decompress(data) if got.get("ContentEncoding") == "gzip" else data).decode()
        )
    return texts


def test_collector_keeps_the_vendor_token_out_of_everything_it_writes(
    vendor_stack: dict[str, Any], capture: Capture
) -> None:
    token = collector_env.TOKEN
    capture.prove_it_sees(token)
    # Given a vendor API that accepts the token: a full run (pages, a malformed record)
    first = collector_env.run()
    assert first["error"] == ""
    assert first["enqueued"] > 0
    capture.add(first)
    capture.add(collector_env.drain(vendor_stack["queue_url"]))
    # When the secret is rotated to a token the API refuses (401), and the cache expires
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=vendor_stack["secret_arn"], SecretString=REFUSED_TOKEN
    )
    _expire_secrets()
    second = collector_env.run()
    assert "401" in second["error"]
    capture.add(second)
    capture.add(_error_reports())
    text = capture.text()
    # Then the runs were logged (the capture is not empty)...
    assert text.count('"message":"collect finished"') == 2
    assert '"_aws"' in text  # the EMF metrics went through stdout too
    # ...and neither token appears anywhere.
    assert_absent(text, token, REFUSED_TOKEN)
    assert vendor_stack["api"].unauthorized == 1


# --- responder -------------------------------------------------------------------------


@pytest.fixture
def route_stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with responder_stack(monkeypatch) as stack:
        # The webhook URL with a secret path, as Slack-style incoming webhooks have.
        boto3.client("secretsmanager", region_name=REGION).put_secret_value(
            SecretId="hubrelay/webhook",
            SecretString=json.dumps(
                {
                    "url": f"{stack.webhook.url}/{WEBHOOK_PATH_SECRET}",
                    "signing_secret": SIGNING_SECRET,
                }
            ),
        )
        yield stack


def test_responder_keeps_signing_secret_webhook_url_and_token_out_of_everything_it_writes(
    route_stack: Stack, monkeypatch: pytest.MonkeyPatch, capture: Capture
) -> None:
    secrets = (SIGNING_SECRET, WEBHOOK_PATH_SECRET, VENDOR_TOKEN)
    for secret in secrets:
        capture.prove_it_sees(secret)
    app = load_responder(route_stack, monkeypatch)
    # Given a webhook that accepts one delivery, then fails one, and a vendor API
    capture.add(app.handler(route_stack.click_one("webhook", "guardduty"), responder_context()))
    route_stack.webhook.statuses = [500]
    capture.add(app.handler(route_stack.click_one("webhook", "inspector"), responder_context()))
    capture.add(app.handler(route_stack.click_one("vendor", "partner"), responder_context()))
    # Then each went where it should: signed, to the secret path, with the token...
    delivered = route_stack.webhook.accepted()
    assert len(delivered) == 2
    assert all(r.path.endswith(WEBHOOK_PATH_SECRET) for r in delivered)
    assert len(route_stack.vendor.accepted()) == 1
    dead_letters = list(drain(route_stack.dlq))
    assert len(dead_letters) == 1  # the failed webhook delivery
    capture.add(dead_letters)
    text = capture.text()
    assert text.count('"message":"event routed"') == 3
    assert "delivery failed" in text
    # ...and none of the three secret values appears in what the responder wrote.
    assert_absent(text, *secrets)


# --- responder error paths -------------------------------------------------------------

PASSWORD = "userinfo-passw0rd-s3cret"


class _Redirecting(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.send_response(302)
        self.send_header("Location", f"https://elsewhere.example/{WEBHOOK_PATH_SECRET}")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class _Oversized(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = b"x" * (2 * 1024 * 1024)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class _Garbage(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.wfile.write(b"NOT-HTTP " + WEBHOOK_PATH_SECRET.encode() + b"\r\n\r\n")

    def log_message(self, *args: Any) -> None:
        pass


def _url(kind: str, port: int) -> str:
    return {
        "userinfo": f"https://hook:{PASSWORD}@127.0.0.1:{port}/{WEBHOOK_PATH_SECRET}",
        "redirect": f"http://127.0.0.1:{port}/{WEBHOOK_PATH_SECRET}",
        # A plain-HTTP server reached over https: the TLS handshake fails.
        "tls": f"https://127.0.0.1:{port}/{WEBHOOK_PATH_SECRET}",
        "oversized": f"http://127.0.0.1:{port}/{WEBHOOK_PATH_SECRET}",
        "malformed": f"http://127.0.0.1:{port}/{WEBHOOK_PATH_SECRET}",
        "bad-url": f"https://127.0.0.1:{port}:notaport/{WEBHOOK_PATH_SECRET}",
    }[kind]


HANDLERS = {"redirect": _Redirecting, "oversized": _Oversized, "malformed": _Garbage}


@pytest.mark.parametrize(
    "kind", ["userinfo", "redirect", "tls", "oversized", "malformed", "bad-url"]
)
def test_responder_error_paths_keep_every_secret_out(
    route_stack: Stack, monkeypatch: pytest.MonkeyPatch, capture: Capture, kind: str
) -> None:
    secrets = (SIGNING_SECRET, WEBHOOK_PATH_SECRET, PASSWORD)
    for secret in secrets:
        capture.prove_it_sees(secret)
    server = start_server(HANDLERS.get(kind, _Redirecting))
    try:
        # Given a webhook secret whose URL leads to a failure of this kind
        boto3.client("secretsmanager", region_name=REGION).put_secret_value(
            SecretId="hubrelay/webhook",
            SecretString=json.dumps(
                {"url": _url(kind, server.server_address[1]), "signing_secret": SIGNING_SECRET}
            ),
        )
        _expire_secrets()
        app = load_responder(route_stack, monkeypatch)
        # When a finding is sent to it
        capture.add(app.handler(route_stack.click_one("webhook", "guardduty"), responder_context()))
    finally:
        stop_server(server)
    # Then the delivery failed, was dead-lettered with its reason, and nothing leaked
    dead_letters = list(drain(route_stack.dlq))
    assert len(dead_letters) == 1
    assert json.loads(dead_letters[0]["Body"])["reason"].startswith("webhook")
    capture.add(dead_letters)
    text = capture.text()
    assert "delivery failed" in text
    assert_absent(text, *secrets)


def _expire_secrets() -> None:
    """As the secrets' cache expiring would (hubrelay.aws.secret reads them through
    Powertools' Parameters, with a provider of its own per Region)."""
    from hubrelay import aws

    parameters.clear_caches()
    aws.reset()
