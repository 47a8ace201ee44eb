"""A vendor REST API on 127.0.0.1, shaped like docs/vendor-mapping.md's sample vendor:
pages with a `next` link, an `updated_since` filter, bearer auth and scripted faults (a 429
with Retry-After, for instance). The collector tests and `make demo --source vendor_api`
run against it. Its back-sync side serves the tickets closed at the vendor
(`GET <base>/securityhub/closures?closed_since=`, docs/vendor-mapping.md, "Closures"), which
the status sync back polls."""

from __future__ import annotations

import json
import random
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hubrelay_emulator.localhttp import start_server, stop_server

TOKEN = "s3cr3t-token-never-logged"  # noqa: S105 - a local test value, not a credential


@dataclass
class VendorApi:
    """A vendor REST API on 127.0.0.1: pages, a since filter, bearer auth, scripted faults."""

    records: list[dict[str, Any]]
    page_size: int = 2
    faults: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    unauthorized: int = 0
    url: str = ""
    token: str = TOKEN
    pages: int = 0  # pages answered (200)
    refused: dict[int, int] = field(default_factory=dict)  # status -> answers (faults)
    # The back-sync side (docs/vendor-mapping.md, "Closures"): tickets closed at the vendor.
    closures: list[dict[str, Any]] = field(default_factory=list)
    closure_pages: int = 0

    def page(self, query: dict[str, list[str]]) -> dict[str, Any]:
        since = query.get("updated_since", [""])[0]
        start = int(query.get("cursor", ["0"])[0])
        size = int(query.get("limit", [str(self.page_size)])[0])
        matching = [r for r in self.records if r.get("updated_at", "") >= since]
        chunk = matching[start : start + size]
        more = start + size < len(matching)
        link = f"/v1/findings?cursor={start + size}&limit={size}&updated_since={since}"
        return {"findings": chunk, "next": link if more else None}

    def closures_page(self, query: dict[str, list[str]]) -> dict[str, Any]:
        """`GET .../securityhub/closures?closed_since=&limit=&cursor=`: closures with
        closedAt at or after closed_since, oldest first, `next` while more remain."""
        since = query.get("closed_since", [""])[0]
        start = int(query.get("cursor", ["0"])[0])
        size = int(query.get("limit", ["100"])[0])
        matching = sorted(
            (c for c in self.closures if c.get("closedAt", "") >= since),
            key=lambda c: str(c.get("closedAt", "")),
        )
        chunk = matching[start : start + size]
        link = f"closures?closed_since={since}&limit={size}&cursor={start + size}"
        return {"closures": chunk, "next": link if start + size < len(matching) else None}


def serve(api: VendorApi) -> Generator[VendorApi, None, None]:
    """Run `api` on 127.0.0.1 while the generator is open (its `url` set)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            api.requests.append(self.path)
            if self.headers.get("Authorization") != f"Bearer {api.token}":
                api.unauthorized += 1
                self._reply(401, {"error": "unauthorized"})
                return
            if api.faults:
                status, headers = api.faults.pop(0)
                api.refused[status] = api.refused.get(status, 0) + 1
                self._reply(status, {"error": "try later"}, headers)
                return
            url = urlsplit(self.path)
            if url.path.endswith("/securityhub/closures"):
                api.closure_pages += 1
                self._reply(200, api.closures_page(parse_qs(url.query)))
                return
            api.pages += 1
            self._reply(200, api.page(parse_qs(url.query)))

        def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = start_server(Handler)
    api.url = f"http://127.0.0.1:{server.server_address[1]}/v1/findings"
    try:
        yield api
    finally:
        stop_server(server)


_KINDS = [
    ("s3_bucket", "arn:aws:s3:::shop-assets-{n}", "misconfiguration", "high"),
    (
        "ec2_instance",
        "arn:aws:ec2:us-east-1:{account}:instance/i-{n:017x}",
        "vulnerability",
        "critical",
    ),
    ("iam_role", "arn:aws:iam::{account}:role/app-{n}", "misconfiguration", "medium"),
    ("account", "AWS::::Account:{account}", "misconfiguration", "low"),
]


def sample_records(count: int, account: str, seed: int = 5) -> list[dict[str, Any]]:
    """`count` records in the sample vendor's format (tests/fixtures/sources/vendor_findings.json
    shows one)."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    records = []
    for n in range(count):
        kind, resource, category, severity = _KINDS[n % len(_KINDS)]
        seen = (start + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        record: dict[str, Any] = {
            "id": f"F-{10_000 + n}",
            "rule": {"id": f"ACME-{kind.upper()}-{n % 7:03d}", "name": f"{kind} rule {n % 7}"},
            "title": f"{category} on {kind} {n}",
            "description": f"The vendor found a {category} on {kind} {n}.",
            "severity": severity,
            "category": category,
            "status": "open",
            "first_seen": seen,
            "last_seen": seen,
            "updated_at": seen,
            "asset": {
                "type": kind,
                "id": resource.format(n=n, account=account),
                "region": "us-east-1",
                "account_id": account,
                "name": f"{kind}-{n}",
            },
            "url": f"https://console.vendor.example/findings/F-{10_000 + n}",
        }
        if category == "vulnerability":
            record["cve"] = [f"CVE-2026-{20_000 + n}"]
            record["cvss"] = {"score": round(rng.uniform(7.0, 9.9), 1), "vector": "AV:N/AC:L"}
        records.append(record)
    return records
