"""Benchmark: backfill (``run_backfill``) from the Calendly simulator into the Brevo simulator.

    .venv/bin/python bench/backfill.py [--small] [--invitees N] [--paced-invitees N]
                                       [--limited-invitees N] [--skip-limited]

Prints figures, asserts nothing. Scenarios (each on its own connection and its own slice of
meetings, so each starts from an empty Brevo side):

  (a) per-contact upserts (``bulk_threshold=None``) with the Brevo client's real pacing (10 req/s)
      against a Brevo simulator that enforces 10 req/s;
  (b) bulk import (``bulk_threshold=200``), same pacing and limit;
  (c) the same window as (b) again, nothing changed: ~0 Brevo writes expected;
  (d) a Calendly simulator that enforces 500 requests/min per user (Calendly's paid-plan limit),
      with more calls than one minute's budget, to show what the client-side limiter does to 429s.

For (a)-(c) the Calendly simulator's limit is lifted (1,000,000/min) so the figures measure the
connector, not Calendly's budget: the simulator advertises ``X-RateLimit-*`` headers even when it
does not enforce them, and the client adopts them, so with the default 500/min any backfill over
~500 calls waits for the next minute (which is what (d) shows).
"""
from __future__ import annotations

import math
from datetime import timedelta
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import Timer, line, rate, section  # noqa: E402

LIFTED_CALENDLY_LIMIT = 1_000_000  # per minute: effectively no Calendly limit
CALENDLY_LIMIT = 500  # per minute, per user (Calendly's documented limit on paid plans)
BREVO_LIMIT = 10  # per second on /contacts* and /events (Brevo's documented limit)
SLOTS_PER_DAY = 48  # bookings every 30 minutes


def run_scenario(label: str, conn: Any, sims: common.Sims, since: Any, until: Any, *, bulk_threshold: int | None,
                 expected_invitees: int) -> dict[str, Any]:
    from calendly_sync.backfill import BackfillOptions, run_backfill

    writes_before, calls_before = sims.brevo_writes(), sims.brevo_calls()
    brevo_429_before = sims.brevo.rate_limited
    calendly_before = sims.calendly.count(r"^GET /")
    with Timer() as t:
        report = run_backfill(conn, BackfillOptions(since=since, until=until, bulk_threshold=bulk_threshold,
                                                    trigger="bench"))
    c = report.counts
    brevo_429 = sims.brevo.rate_limited - brevo_429_before
    calendly_429 = max(0, int(c.get("rate_limited", 0)) - brevo_429)
    brevo_writes = sims.brevo_writes() - writes_before
    figures = {
        "label": label, "seconds": t.seconds, "invitees": c.get("invitees", 0),
        "calendly_calls": c.get("calendly_calls", 0), "brevo_calls": c.get("brevo_calls", 0),
        "brevo_writes": brevo_writes, "calendly_429": calendly_429, "brevo_429": brevo_429,
    }
    line("wall time", f"{t.seconds:.2f} s")
    line("invitees", f"{c.get('invitees', 0)} (expected {expected_invitees})")
    line("invitees/s", rate(c.get("invitees", 0), t.seconds))
    line("Calendly calls", f"{c.get('calendly_calls', 0)} (simulator saw {sims.calendly.count(r'^GET /') - calendly_before})"
         f", {rate(c.get('calendly_calls', 0) * 60, t.seconds)}/min")
    line("Brevo calls", f"{c.get('brevo_calls', 0)} (simulator saw {sims.brevo_calls() - calls_before}, "
         f"of which writes {brevo_writes})")
    line("429s", f"{c.get('rate_limited', 0)} (Calendly {calendly_429}, Brevo {brevo_429})")
    line("contacts", f"created {c.get('contacts_created', 0)}, updated {c.get('contacts_updated', 0)}, "
         f"unchanged {c.get('contacts_unchanged', 0)}, failed {c.get('contacts_failed', 0)}")
    line("summary_line()", report.summary_line())
    return figures


def main() -> int:
    args = common.parse_args(__doc__.splitlines()[0], [
        (("--invitees",), dict(type=int, default=None, help="invitees for (b) and (c) (default 1000, --small 200)")),
        (("--paced-invitees",), dict(type=int, default=None,
                                     help="invitees for (a), which Brevo's 10 req/s bounds (default 200, --small 100)")),
        (("--limited-invitees",), dict(type=int, default=550,
                                       help="invitees for (d); needs > 500 Calendly calls to cross the limit (default 550)")),
        (("--skip-limited",), dict(action="store_true", help="skip (d), which takes a bit over a minute")),
    ])
    n = args.invitees or (200 if args.small else 1000)
    n_paced = args.paced_invitees or (100 if args.small else 200)
    n_limited = args.limited_invitees

    db = common.setup_django()
    common.header("backfill benchmark (run_backfill, simulators on 127.0.0.1)", db)
    sims = common.Sims(calendly_rate_limit_per_minute=LIFTED_CALENDLY_LIMIT, brevo_rate_limit_per_second=BREVO_LIMIT)
    results = []
    try:
        et = common.add_event_type(sims.calendly)
        # (a) and (b)/(c) get disjoint slices of time, so each backfill sees only its own meetings.
        start_a = common.day_start(1)
        start_b = common.day_start(2 + math.ceil(n_paced / SLOTS_PER_DAY))
        with Timer() as t:
            common.book_many(sims.calendly, n_paced, et["uri"], prefix="paced", start=start_a)
            common.book_many(sims.calendly, n, et["uri"], prefix="bulk", start=start_b)
        print(f"   booked {n_paced + n} meetings in the Calendly simulator in {t.seconds:.2f} s "
              f"(Calendly limit lifted for (a)-(c); Brevo simulator enforces {BREVO_LIMIT} req/s)")
        window_a = (start_a - timedelta(minutes=1), start_b - timedelta(hours=1))
        window_b = (start_b - timedelta(minutes=1), start_b + timedelta(minutes=30 * n + 1))

        section(f"(a) per-contact upserts, Brevo pacing 10 req/s, {n_paced} invitees (bulk_threshold=None)")
        common.reset_client_state(brevo_pacing=True)
        conn_a = common.make_connection("a", et)
        results.append(run_scenario("a", conn_a, sims, *window_a, bulk_threshold=None, expected_invitees=n_paced))
        per_s = results[-1]["invitees"] / results[-1]["seconds"] if results[-1]["seconds"] else 0
        if per_s:
            line("projection", f"1000 invitees one by one ≈ {1000 / per_s:.0f} s (Brevo's 10 req/s is the bound)")

        section(f"(b) bulk import, {n} invitees (bulk_threshold=200)")
        common.reset_client_state(brevo_pacing=True)
        conn_b = common.make_connection("b", et)
        results.append(run_scenario("b", conn_b, sims, *window_b, bulk_threshold=200, expected_invitees=n))
        line("Brevo simulator contacts", f"{len(sims.brevo.contacts)} (after (a) and (b))")

        section(f"(c) second run of (b)'s window, nothing changed, {n} invitees")
        results.append(run_scenario("c", conn_b, sims, *window_b, bulk_threshold=200, expected_invitees=n))

        if not args.skip_limited:
            section(f"(d) Calendly simulator enforcing {CALENDLY_LIMIT}/min, {n_limited} invitees "
                    f"(~{n_limited + math.ceil(n_limited / 100) + 1} calls), bulk import")
            limited = common.Sims(calendly_rate_limit_per_minute=CALENDLY_LIMIT, brevo_rate_limit_per_second=BREVO_LIMIT)
            try:
                common.reset_client_state(brevo_pacing=True)
                et_d = common.add_event_type(limited.calendly)
                start_d = common.day_start(1)
                common.book_many(limited.calendly, n_limited, et_d["uri"], prefix="limited", start=start_d)
                conn_d = common.make_connection("d", et_d)
                results.append(run_scenario(
                    "d", conn_d, limited, start_d - timedelta(minutes=1),
                    start_d + timedelta(minutes=30 * n_limited + 1), bulk_threshold=200,
                    expected_invitees=n_limited))
                if results[-1]["calendly_calls"] <= CALENDLY_LIMIT:
                    line("note", "fewer calls than one minute's budget: the limiter was not exercised")
            finally:
                limited.stop()
                sims.point_settings()

        section("summary")
        print(f"   {'scenario':<10}{'invitees':>9}{'wall s':>9}{'inv/s':>9}{'Calendly':>10}{'Brevo':>7}"
              f"{'writes':>8}{'429 C/B':>9}")
        for r in results:
            print(f"   {r['label']:<10}{r['invitees']:>9}{r['seconds']:>9.2f}{rate(r['invitees'], r['seconds']):>9}"
                  f"{r['calendly_calls']:>10}{r['brevo_calls']:>7}{r['brevo_writes']:>8}"
                  f"{str(r['calendly_429']) + '/' + str(r['brevo_429']):>9}")
    finally:
        sims.stop()
        common.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
