"""`make demo ARGS="--source vendor_api"`: the collector against a vendor REST API on
127.0.0.1 (hubrelay_emulator.vendorapi) through the stack's own parameters: pages, one 429
answered with Retry-After, the declarative mapping applied; then a second run that finds
nothing new, and a run after the vendor resolved ten findings, which archives them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any

from hubrelay_emulator import vendorapi

if TYPE_CHECKING:
    from hubrelay_emulator.demo import Summary
    from hubrelay_emulator.runner import StackEmulator

SECRET_NAME = "hubrelay-demo-vendor-token"  # noqa: S105 - a name, not a value
# The mapping is deployed as the template says (VendorMapping): an SSM parameter here.
MAPPING_PARAMETER = "/hubrelay-demo/vendor-mapping"
RECORDS = 250  # three pages of the default mapping's 100
RESOLVED = 10


@contextmanager
def vendor_api(account: str) -> Iterator[vendorapi.VendorApi]:
    """The vendor API, running, with a 429 (Retry-After: 2) before its first page."""
    api = vendorapi.VendorApi(vendorapi.sample_records(RECORDS, account), page_size=100)
    api.faults.append((429, {"Retry-After": "2"}))
    running = vendorapi.serve(api)
    yield next(running)
    running.close()


def parameters(api: vendorapi.VendorApi) -> dict[str, str]:
    # VendorSecretArn is set once the secret exists (`create_secret`, before the stack).
    return {"Source": "vendor_api", "VendorApiUrl": api.url, "VendorMapping": MAPPING_PARAMETER}


def secret_arn_to_be(account: str, region: str) -> str:
    """An ARN of the form create_secret's will have, for checking the parameters before."""
    return f"arn:aws:secretsmanager:{region}:{account}:secret:{SECRET_NAME}-AbCdEf"


def create_secret(stack: StackEmulator, api: vendorapi.VendorApi) -> None:
    """The operator's steps before deploying: the API token in Secrets Manager, and the
    mapping (the built-in one, as a partner would start) in the SSM parameter."""
    created = stack.client("secretsmanager").create_secret(Name=SECRET_NAME, SecretString=api.token)
    stack.parameters["VendorSecretArn"] = created["ARN"]
    if stack.parameters.get("VendorMapping") == MAPPING_PARAMETER:
        mapping = resources.files("hubrelay").joinpath("mapping/vendor_default.json")
        stack.client("ssm").put_parameter(
            Name=MAPPING_PARAMETER, Value=mapping.read_text(encoding="utf-8"), Type="String"
        )


def collect(
    stack: StackEmulator,
    summary: Summary,
    api: vendorapi.VendorApi,
    tick: Callable[[StackEmulator], dict[str, Any]],
    progress: Callable[[str], None],
) -> None:
    first = tick(stack)
    summary.collected = first.get("enqueued", 0)
    stack.drain()
    summary.vendor_pages = api.pages
    summary.vendor_refusals = {str(k): v for k, v in api.refused.items()}
    progress(
        f"collector run 1: {summary.collected} findings from {api.pages} pages of the vendor "
        f"API (a 429 with Retry-After first: {api.refused.get(429, 0)}) enqueued and imported"
    )
    stack.advance(301)
    second = tick(stack)
    summary.collected_second_run = second.get("enqueued", 0)
    progress(f"collector run 2 (nothing new at the vendor): {summary.collected_second_run}")
    # The vendor resolves ten findings: updated now (the stack's time), status resolved.
    now = datetime.now(UTC) + timedelta(seconds=stack.clock)
    for record in api.records[:RESOLVED]:
        record.update(status="resolved", updated_at=now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    stack.advance(301)
    tick(stack)
    stack.drain()
    summary.archived = sum(
        1
        for f in stack.contract.findings(stack.account, stack.region)
        if f.get("RecordState") == "ARCHIVED"
    )
    progress(f"collector run 3 ({RESOLVED} resolved at the vendor): {summary.archived} archived")


def mapped_sample(stack: StackEmulator) -> str:
    """One imported vendor finding's mapped fields, to show the mapping at work."""
    for finding in stack.contract.findings(stack.account, stack.region):
        if str(finding.get("Id", "")).startswith("vendor/"):
            keys = ("Id", "Title", "Severity", "Types")
            shown = json.dumps({k: finding.get(k) for k in keys})[:300]
            where = stack.parameters.get("VendorMapping") or "built-in"
            return f"{shown} (mapping: {where})"
    return "-"
