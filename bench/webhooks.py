"""Benchmark: the webhook endpoint, delivery processing into Brevo, and duplicate redeliveries.

    .venv/bin/python bench/webhooks.py [--small] [--deliveries M] [--paced-deliveries P]

Prints figures, asserts nothing.

1. Endpoint: M signed ``invitee.created`` deliveries (default 500, --small 100) built from real
   simulator payloads (bookings made with ``fire_webhooks=False``, payload rendered exactly as the
   simulator would send it) are posted with ``django.test.Client`` to
   ``/webhooks/calendly/<id>/`` (in-process: no socket, no WSGI server). Background processing is
   off, so this is verify + store + 200 only. Prints p50/p95/p99/max latency and requests/s.
2. Processing without Brevo pacing (``requests_per_second=None``, simulator not limiting):
   ``process_delivery`` over each stored delivery, i.e. what ``sweep()`` does for each due one:
   observation → reducer → contact upsert + ``calendly_booking_created`` event into the Brevo
   simulator. Prints deliveries/s end to end.
3. Processing with Brevo's pacing (client default 10 req/s, simulator enforcing 10 req/s) for P
   further deliveries (default 200, --small 50): deliveries/s and the 429s the simulator served.
4. Duplicates: every delivery posted again, re-signed with a new timestamp (as Calendly's retries
   are). Prints duplicates accepted/s, latency, and the Brevo writes that followed (expected 0).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from common import Timer, latency_summary, line, rate, section

BREVO_LIMIT = 10


def invitee_payloads(sim: Any, invitees: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``payload`` object Calendly would send for each booking (``invitee.created``)."""
    payloads = []
    for inv in invitees:
        uuid = inv["uri"].rstrip("/").rsplit("/", 1)[-1]
        payloads.append(sim.render(sim._invitee_payload(sim.invitees[uuid])))
    return payloads


def build(payloads: list[dict[str, Any]], created_by: str) -> list[tuple[bytes, dict[str, str]]]:
    from calendly_sync.sandbox.signing import build_delivery

    t = int(time.time())
    return [build_delivery("invitee.created", p, created_by, common.SIGNING_KEY, t) for p in payloads]


def post_all(client: Any, url: str, deliveries: list[tuple[bytes, dict[str, str]]]) -> dict[str, Any]:
    from calendly_sync.sandbox.signing import SIGNATURE_HEADER

    meta_name = "HTTP_" + SIGNATURE_HEADER.upper().replace("-", "_")
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    ids: list[int] = []
    started = time.perf_counter()
    for body, headers in deliveries:
        t0 = time.perf_counter()
        resp = client.post(url, data=body, content_type="application/json", **{meta_name: headers[SIGNATURE_HEADER]})
        latencies.append((time.perf_counter() - t0) * 1000.0)
        data = resp.json() if resp.headers.get("Content-Type", "").startswith("application/json") else {}
        outcomes[f"{resp.status_code} {data.get('status', '')}".strip()] += 1
        if data.get("id"):
            ids.append(int(data["id"]))
    seconds = time.perf_counter() - started
    return {"latencies": latencies, "outcomes": outcomes, "ids": ids, "seconds": seconds}


def report_posts(result: dict[str, Any], what: str) -> None:
    n = len(result["latencies"])
    line("responses", ", ".join(f"{k}: {v}" for k, v in sorted(result["outcomes"].items())))
    line("latency", latency_summary(result["latencies"]))
    line(f"{what}/s", f"{rate(n, result['seconds'])} ({n} in {result['seconds']:.2f} s, one client, sequential)")


def process_all(ids: list[int], sims: common.Sims) -> dict[str, Any]:
    from calendly_sync.inbox.deliveries import process_delivery

    writes0, calls0, limited0 = sims.brevo_writes(), sims.brevo_calls(), sims.brevo.rate_limited
    contacts0, events0 = sims.brevo.count(r"^POST /v3/contacts$"), sims.brevo.count(r"^POST /v3/events$")
    statuses: Counter[str] = Counter()
    with Timer() as t:
        for pk in ids:
            statuses[process_delivery(pk)] += 1
    result = {
        "seconds": t.seconds,
        "statuses": statuses,
        "writes": sims.brevo_writes() - writes0,
        "calls": sims.brevo_calls() - calls0,
        "429": sims.brevo.rate_limited - limited0,
        "upserts": sims.brevo.count(r"^POST /v3/contacts$") - contacts0,
        "events": sims.brevo.count(r"^POST /v3/events$") - events0,
    }
    line("deliveries", ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))
    line("wall time", f"{t.seconds:.2f} s")
    line("deliveries/s (end to end)", rate(len(ids), t.seconds))
    line(
        "Brevo calls",
        f"{result['calls']} (writes {result['writes']}: {result['upserts']} contact upserts, "
        f"{result['events']} events; 429s served {result['429']})",
    )
    return result


def main() -> int:
    args = common.parse_args(
        __doc__.splitlines()[0],
        [
            (
                ("--deliveries",),
                dict(type=int, default=None, help="deliveries for steps 1-2 (default 500, --small 100)"),
            ),
            (
                ("--paced-deliveries",),
                dict(type=int, default=None, help="deliveries processed with Brevo pacing (default 200, --small 50)"),
            ),
        ],
    )
    m = args.deliveries or (100 if args.small else 500)
    m_paced = args.paced_deliveries or (50 if args.small else 200)

    db = common.setup_django()
    common.header("webhook benchmark (endpoint, processing, duplicates; simulators on 127.0.0.1)", db)
    from django.conf import settings
    from django.test import Client

    from calendly_sync.models import WebhookDelivery

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    sims = common.Sims(brevo_rate_limit_per_second=BREVO_LIMIT)
    figures: dict[str, Any] = {}
    try:
        common.reset_client_state(brevo_pacing=False)
        et = common.add_event_type(sims.calendly)
        conn = common.make_connection("wh", et)
        url = f"/webhooks/calendly/{conn.pk}/"
        created_by = sims.calendly.admin["uri"]
        with Timer() as t:
            first = invitee_payloads(
                sims.calendly, common.book_many(sims.calendly, m, et["uri"], prefix="hook", start=common.day_start(1))
            )
            second = invitee_payloads(
                sims.calendly,
                common.book_many(sims.calendly, m_paced, et["uri"], prefix="hookpaced", start=common.day_start(30)),
            )
        size = sum(len(b) for b, _ in build(first[:20], created_by)) / min(20, len(first))
        print(
            f"   {m + m_paced} bookings and payloads prepared in {t.seconds:.2f} s; "
            f"mean signed body {size / 1024:.1f} KiB"
        )
        client = Client()

        section(f"1. endpoint: {m} signed invitee.created deliveries (no background processing)")
        posted = post_all(client, url, build(first, created_by))
        report_posts(posted, "requests")
        figures["post"] = posted

        section(
            f"2. processing {m} deliveries into Brevo, no pacing (client requests_per_second=None, "
            "simulator not limiting)"
        )
        common.set_brevo_pacing(False)
        sims.brevo.rate_limit_per_second = None
        figures["unpaced"] = process_all(posted["ids"], sims)

        section(
            f"3. processing {m_paced} more deliveries with Brevo pacing (client 10 req/s, "
            f"simulator enforcing {BREVO_LIMIT} req/s)"
        )
        posted_paced = post_all(client, url, build(second, created_by))
        line("posted", f"{len(posted_paced['ids'])} accepted ({latency_summary(posted_paced['latencies'])})")
        common.set_brevo_pacing(True)
        sims.brevo.rate_limit_per_second = BREVO_LIMIT
        figures["paced"] = process_all(posted_paced["ids"], sims)

        section(f"4. duplicates: all {m + m_paced} deliveries again, re-signed with a new t")
        posts_before, writes_before = sims.brevo.count(r"^POST /v3/"), sims.brevo_writes()
        dup = post_all(client, url, build(first + second, created_by))
        report_posts(dup, "duplicates accepted")
        pending = list(
            WebhookDelivery.objects.filter(connection=conn, status=WebhookDelivery.Status.PENDING).values_list(
                "pk", flat=True
            )
        )
        from calendly_sync.inbox.deliveries import process_delivery

        for pk in pending:  # nothing should be pending; process whatever is, to prove no write follows
            process_delivery(pk)
        redeliveries = sum(WebhookDelivery.objects.filter(connection=conn).values_list("redeliveries", flat=True))
        line(
            "deliveries stored",
            f"{WebhookDelivery.objects.filter(connection=conn).count()} "
            f"(redeliveries counted {redeliveries}, pending after the duplicates {len(pending)})",
        )
        line(
            "new Brevo writes",
            f"{sims.brevo.count(r'^POST /v3/') - posts_before} POST "
            f"({sims.brevo_writes() - writes_before} POST/PUT/DELETE)",
        )
        figures["dup"] = dup

        section("summary")
        p = sorted(posted["latencies"])
        d = sorted(dup["latencies"])
        line(
            "endpoint, new deliveries",
            f"{rate(len(p), posted['seconds'])} req/s, p50 {common.percentile(p, 50):.2f} ms, "
            f"p95 {common.percentile(p, 95):.2f} ms, p99 {common.percentile(p, 99):.2f} ms, max {p[-1]:.2f} ms",
        )
        line(
            "endpoint, duplicates",
            f"{rate(len(d), dup['seconds'])} req/s, p50 {common.percentile(d, 50):.2f} ms, "
            f"p95 {common.percentile(d, 95):.2f} ms, p99 {common.percentile(d, 99):.2f} ms, max {d[-1]:.2f} ms",
        )
        for key, label in (("unpaced", "processing, no pacing"), ("paced", "processing, Brevo pacing")):
            r = figures[key]
            n = sum(r["statuses"].values())
            line(
                label,
                f"{rate(n, r['seconds'])} deliveries/s ({n} in {r['seconds']:.2f} s, "
                f"{r['writes']} Brevo writes, {r['429']} 429s)",
            )
    finally:
        sims.stop()
        common.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
