"""Benchmark: what an unauthenticated request costs the webhook endpoint.

    .venv/bin/python bench/unauthenticated.py [--small] [--connections N] [--requests R] [--body-kib K]

Prints figures, asserts nothing.

N connections (default 100), each with its own signing key (encrypted at rest like any secret),
and R requests per case (default 40; ``--small`` 10) with a K KiB body (default 1024: the endpoint's
limit), posted one after another with ``django.test.Client`` (in-process, the whole middleware
stack, no socket). Cases:

* ``floor``: a bare view in this script that reads the body and answers 401, nothing else. The
  cost any endpoint pays to receive the bytes; every other case is shown as a ratio to it.
* ``key-routed, random signature``: ``POST /webhooks/calendly/`` with a well-formed header
  (current ``t``, 64 random hex digits): the endpoint must try every connection's key.
* ``key-routed, malformed header`` and ``key-routed, no header``.
* ``per-connection, random signature``, ``per-connection, malformed header`` and
  ``per-connection, unknown id``: ``POST /webhooks/calendly/<id>/``.

A last line, ``reference``, times N HMAC-SHA256 of the body with no Django at all: what the URL
without an id must spend on a well-formed header, since it tries every connection's key.

For each case: ms per request (mean and p50), the ratio of the mean to the floor's, and the
database writes (INSERT/UPDATE/DELETE statements) and the app's log lines (INFO and above) that
the R + 1 requests caused (the first, a warm-up, is not timed).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from common import line, section

urlpatterns: list[Any] = []  # filled in main(): this module is the URLconf of the run


def floor_view(request: Any) -> Any:
    from django.http import JsonResponse

    request.read()
    return JsonResponse({"detail": "Invalid signature."}, status=401)


class CountingHandler(logging.Handler):
    """Counts the app's log records (INFO and above) instead of printing them."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def run_case(client: Any, url: str, body: bytes, header: str | None, n: int) -> tuple[list[float], int, int]:
    """(latencies in ms, database writes, status of the last answer) for ``n`` timed posts after one
    untimed warm-up (whose writes are counted: ``n + 1`` requests in all)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    extra = {"HTTP_CALENDLY_WEBHOOK_SIGNATURE": header} if header is not None else {}
    latencies: list[float] = []
    status = 0
    with CaptureQueriesContext(connection) as queries:
        client.post(url, data=body, content_type="application/json", **extra)  # warm-up: not timed, counted
        for _ in range(n):
            start = time.perf_counter()
            resp = client.post(url, data=body, content_type="application/json", **extra)
            latencies.append((time.perf_counter() - start) * 1000)
            status = resp.status_code
    writes = sum(
        1 for q in queries.captured_queries if q["sql"].lstrip().split(" ", 1)[0] in ("INSERT", "UPDATE", "DELETE")
    )
    return latencies, writes, status


def main() -> None:
    args = common.parse_args(
        __doc__.splitlines()[0],
        [
            (("--connections",), {"type": int, "default": 100}),
            (("--requests",), {"type": int, "default": None}),
            (("--body-kib",), {"type": int, "default": 1024}),
        ],
    )
    n = args.requests or (10 if args.small else 40)
    db = common.setup_django()
    common.header("unauthenticated requests to the webhook endpoint", db)
    line("commit", common.revision())
    line("machine", common.machine())

    from django.conf import settings
    from django.test import Client
    from django.urls import clear_url_caches, include, path

    from calendly_sync.models import Connection

    urlpatterns[:] = [path("floor/", floor_view), path("", include("calendly_sync.urls"))]
    settings.ROOT_URLCONF = sys.modules[__name__]
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    clear_url_caches()
    log_lines = CountingHandler()
    app_logger = logging.getLogger("calendly_sync")
    app_logger.handlers = [log_lines]  # counted, not printed
    app_logger.setLevel(logging.INFO)

    created = [
        Connection.objects.create(
            name=f"bench-unauth-{common.RUN_ID}-{i}",
            access_token=f"token-{i}",
            brevo_api_key=f"brevo-{i}",
            webhook_signing_key=secrets.token_urlsafe(32),
        )
        for i in range(args.connections)
    ]
    common._state["connections"].extend(c.pk for c in created)
    target = created[len(created) // 2]
    body = b"x" * (args.body_kib * 1024)
    random_sig = f"t={int(time.time())},v1={secrets.token_hex(32)}"
    unknown = (Connection.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000
    line("connections", f"{args.connections} (one signing key each)")
    line("body", f"{len(body):,} bytes; {n} requests per case, one after another")

    cases: list[tuple[str, str, str | None]] = [
        ("floor (read the body, 401)", "/floor/", random_sig),
        ("key-routed, random signature", "/webhooks/calendly/", random_sig),
        ("key-routed, malformed header", "/webhooks/calendly/", "t=1;v1=zz"),
        ("key-routed, no header", "/webhooks/calendly/", None),
        ("per-connection, random signature", f"/webhooks/calendly/{target.pk}/", random_sig),
        ("per-connection, malformed header", f"/webhooks/calendly/{target.pk}/", "garbage"),
        ("per-connection, unknown id", f"/webhooks/calendly/{unknown}/", random_sig),
    ]
    client = Client()
    results: list[tuple[str, float, float, int, int, int]] = []
    for label, url, header in cases:
        logged = log_lines.count
        latencies, writes, status = run_case(client, url, body, header, n)
        logged = log_lines.count - logged
        results.append((label, statistics.fmean(latencies), statistics.median(latencies), writes, logged, status))

    # What verifying one body against every connection's key costs by itself, with no Django at all:
    # the least the URL without an id can cost for a well-formed header (it must try each key).
    keys = [secrets.token_urlsafe(32).encode() for _ in range(args.connections)]
    hmac_ms: list[float] = []
    for _ in range(n):
        start = time.perf_counter()
        for key in keys:
            hmac.new(key, b"1700000000." + body, hashlib.sha256).hexdigest()
        hmac_ms.append((time.perf_counter() - start) * 1000)

    section("results (ms per request; ratio = mean / floor's mean)")
    floor = results[0][1]
    per = f"/{n + 1}"
    columns = f"{'status':>6} {'mean':>8} {'p50':>8} {'ratio':>7} {'writes' + per:>10} {'log lines' + per:>13}"
    print(f"   {'case':<36} {columns}")
    for label, mean, p50, writes, logged, status in results:
        print(f"   {label:<36} {status:>6} {mean:>8.2f} {p50:>8.2f} {mean / floor:>7.2f} {writes:>10} {logged:>13}")
    mean, p50 = statistics.fmean(hmac_ms), statistics.median(hmac_ms)
    label = f"reference: {args.connections} HMACs of the body"
    print(f"   {label:<36} {'':>6} {mean:>8.2f} {p50:>8.2f} {mean / floor:>7.2f}")
    common.cleanup()


if __name__ == "__main__":
    main()
