"""Benchmark: back-fill against simulators with latency and the real limits, vs. a naive baseline.

    .venv/bin/python bench/backfill.py [--double] [--events N] [--invitees M] [--skip-naive] [--skip-second]

Prints figures, asserts nothing. What it does (the issue's specification):

* Simulators in this process, on 127.0.0.1, with latency through their Fault mechanism (80 ms on
  every Calendly call, 50 ms on every Brevo call) and the real limits: Calendly 500 requests/min
  per user (sliding 60 s window, ``X-RateLimit-*`` headers), Brevo 10 requests/s on contacts and
  events (``x-sib-ratelimit-*`` headers).
* Data: 1,500 scheduled events with 1,800 invitees (a group event type; 300 events have two
  invitees), each with answers to "Company name", "Your role" and "Phone number".
* Runs, each in its own child process (this script with ``--child``) so that its peak RSS is that
  run's alone (read from ``VmHWM`` in /proc/self/status: ``ru_maxrss`` survives fork/exec, so in
  a child it starts at the parent's RSS), against its own pair of simulators (own Calendly budget):
    1. the connector: ``run_backfill(conn, BackfillOptions(since, until))`` (bulk threshold 200,
       default Brevo pacing 10/s, Calendly limiter 500/min adapting to the headers);
    2. a naive baseline written the way the product page's snippet works (``requests`` only, one
       call after another: /users/me, /scheduled_events count=100, the invitees of each event, one
       ``POST /v3/contacts`` per invitee; on 429 it sleeps ``X-RateLimit-Reset`` /
       ``x-sib-ratelimit-reset`` seconds and retries);
    3. the connector again over the same window (second run: calls and writes);
    4. with ``--double``: the connector over 3,000 events / 3,600 invitees (peak RSS when the data
       doubles; adds about 6 minutes).
* For each run: wall time, calls by API (as the simulators saw them), 429s received, peak RSS,
  the floor (the larger of Calendly calls ÷ 500/min and Brevo writes ÷ 10/s) and the run's ratio
  to it; then a "targets" block.

Default run ≈ 10 minutes (three runs of ≈ 3 minutes each: Calendly's 500/min is the bound).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from common import line, section

CALENDLY_LIMIT_PER_MIN = 500  # per user (Calendly's documented limit on paid plans)
BREVO_LIMIT_PER_S = 10  # contacts and events buckets
CALENDLY_LATENCY = 0.080
BREVO_LATENCY = 0.050
RSS_LIMIT_MB = 250.0
FLAT_TOLERANCE = 0.10  # "flat": the 2× peak within 10 % of the 1× peak
RATIO_TARGET = 1.15
RESULT_PREFIX = "@@RESULT "
DATA_SEED = 12

CALENDLY_ROUTES = [
    ("GET /users/me", r"^GET /users/me$"),
    ("GET /scheduled_events", r"^GET /scheduled_events$"),
    ("GET /scheduled_events/{uuid}/invitees", r"^GET /scheduled_events/[^/]+/invitees$"),
]
BREVO_ROUTES = [
    ("POST /contacts", r"^POST /v3/contacts$"),
    ("POST /contacts/import", r"^POST /v3/contacts/import$"),
    ("GET /processes/{id}", r"^GET /v3/processes/"),
    ("GET /contacts?modifiedSince (read-back)", r"^GET /v3/contacts$"),
    ("GET /contacts/{SMS} (who holds it)", r"^GET /v3/contacts/(%2B|\+)"),
    ("GET /contacts/attributes", r"^GET /v3/contacts/attributes$"),
    ("POST /contacts/attributes/{c}/{name}", r"^POST /v3/contacts/attributes/"),
    ("POST /events", r"^POST /v3/events$"),
    ("POST /events/batch", r"^POST /v3/events/batch$"),
]
WRITE = r"^(POST|PUT|PATCH|DELETE) /v3/"


# ================================================================================================
# the naive baseline (runs in a child process; uses requests only)
def naive_backfill(
    calendly_url: str, brevo_url: str, token: str, api_key: str, since: str, until: str, list_id: int = 10
) -> dict[str, Any]:
    """The product page's snippet in Python: one call after another, one upsert per invitee."""
    import requests

    calendly = requests.Session()
    calendly.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    brevo = requests.Session()
    brevo.headers.update({"api-key": api_key, "accept": "application/json", "content-type": "application/json"})
    stats = {
        "calendly_calls": 0,
        "calendly_429": 0,
        "brevo_calls": 0,
        "brevo_429": 0,
        "brevo_errors": 0,
        "slept_s": 0.0,
        "events": 0,
        "invitees": 0,
    }

    def calendly_get(url: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        while True:
            resp = calendly.get(url, params=params, timeout=30)
            stats["calendly_calls"] += 1
            if resp.status_code == 429:
                stats["calendly_429"] += 1
                wait = float(resp.headers.get("X-RateLimit-Reset") or 1)
                stats["slept_s"] += wait
                time.sleep(wait)
                continue
            resp.raise_for_status()
            return resp.json()

    def brevo_upsert(body: dict[str, Any]) -> None:
        while True:
            resp = brevo.post(f"{brevo_url}/v3/contacts", json=body, timeout=30)
            stats["brevo_calls"] += 1
            if resp.status_code == 429:
                stats["brevo_429"] += 1
                wait = float(resp.headers.get("x-sib-ratelimit-reset") or 1)
                stats["slept_s"] += wait
                time.sleep(wait)
                continue
            if resp.status_code >= 400:
                stats["brevo_errors"] += 1
            return

    me = calendly_get(f"{calendly_url}/users/me")["resource"]
    url: str | None = f"{calendly_url}/scheduled_events"
    params: dict[str, Any] | None = {
        "user": me["uri"],
        "min_start_time": since,
        "max_start_time": until,
        "status": "active",
        "count": 100,
    }
    while url:
        page = calendly_get(url, params)
        for event in page["collection"]:
            stats["events"] += 1
            uuid = event["uri"].rstrip("/").rsplit("/", 1)[-1]
            for invitee in calendly_get(f"{calendly_url}/scheduled_events/{uuid}/invitees")["collection"]:
                stats["invitees"] += 1
                brevo_upsert(
                    {
                        "email": invitee["email"],
                        "attributes": {
                            "FIRSTNAME": invitee["name"],
                            "CALENDLY_EVENT_TYPE": invitee["event"],
                            "MEETING_DATE": invitee["created_at"],
                            "BOOKING_STATUS": invitee["status"],
                        },
                        "listIds": [list_id],
                        "updateEnabled": True,
                    }
                )
        url, params = page["pagination"].get("next_page"), None  # next_page carries the query
    return stats


# ================================================================================================
# child processes
def _child_django(spec: dict[str, Any]) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "connector_site.settings"
    os.environ["DATABASE_URL"] = spec["database_url"]
    os.environ["CONNECTOR_EMBEDDED_WORKER"] = "false"
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    if spec.get("calendly_url"):
        os.environ["CALENDLY_API_URL"] = os.environ["CALENDLY_AUTH_URL"] = spec["calendly_url"]
    if spec.get("brevo_url"):
        os.environ["BREVO_API_URL"] = spec["brevo_url"] + "/v3"
    import django

    django.setup()


def child_setup(spec: dict[str, Any]) -> dict[str, Any]:
    """Migrate and create one connection per connector world; returns their ids and the database."""
    _child_django(spec)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    ids = {}
    for label, event_type in spec["event_types"].items():
        ids[label] = common.make_connection(label, event_type).pk
    if connection.vendor == "postgresql":
        v = connection.pg_version
        db = f"PostgreSQL {v // 10000}.{v % 100}"
    else:
        db = f"{connection.vendor} {getattr(connection.Database, 'sqlite_version', '')}".strip()
    return {"connections": ids, "db": db}


def child_cleanup(spec: dict[str, Any]) -> dict[str, Any]:
    _child_django(spec)
    from calendly_sync.models import Connection

    n, _ = Connection.objects.filter(pk__in=spec["connection_ids"]).delete()
    return {"deleted": n}


def child_connector(spec: dict[str, Any]) -> dict[str, Any]:
    _child_django(spec)
    from calendly_sync.backfill import BackfillOptions, run_backfill
    from calendly_sync.credentials import clients
    from calendly_sync.models import Connection

    clients.CLIENT_OPTIONS["brevo"] = {}  # the client's own pacing: 10 req/s (default)
    conn = Connection.objects.get(pk=spec["connection_id"])
    rss_before = common.peak_rss_mb()
    t0 = time.perf_counter()
    report = run_backfill(
        conn,
        BackfillOptions(
            since=datetime.fromisoformat(spec["since"]), until=datetime.fromisoformat(spec["until"]), trigger="bench"
        ),
    )
    wall = time.perf_counter() - t0
    return {
        "wall": wall,
        "rss_mb": common.peak_rss_mb(),
        "rss_before_mb": rss_before,
        "ru_maxrss_mb": common.ru_maxrss_mb(),
        "counts": report.counts,
        "summary": report.summary_line(),
    }


def child_naive(spec: dict[str, Any]) -> dict[str, Any]:
    rss_before = common.peak_rss_mb()
    t0 = time.perf_counter()
    stats = naive_backfill(
        spec["calendly_url"], spec["brevo_url"], spec["token"], spec["api_key"], spec["since"], spec["until"]
    )
    wall = time.perf_counter() - t0
    return {
        "wall": wall,
        "rss_mb": common.peak_rss_mb(),
        "rss_before_mb": rss_before,
        "ru_maxrss_mb": common.ru_maxrss_mb(),
        "counts": stats,
    }


CHILDREN = {"setup": child_setup, "cleanup": child_cleanup, "connector": child_connector, "naive": child_naive}


def run_child(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--spec", json.dumps(spec)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=str(common.ROOT),
    )
    for out_line in proc.stdout.splitlines():
        if out_line.startswith(RESULT_PREFIX):
            return json.loads(out_line[len(RESULT_PREFIX) :])
    sys.stdout.write(proc.stdout)
    raise RuntimeError(f"child {kind} failed (exit {proc.returncode})")


# ================================================================================================
# the parent: simulators, data, runs, figures
class World:
    """A Calendly + Brevo simulator pair with latency, real limits and its own data set.

    ``data="realistic"`` (default): :func:`calendly_sync.sandbox.realistic.realistic_data` — shared
    switchboard numbers, a work and a personal address with one mobile, repeat bookers in several
    cases, group events, invalid and foreign numbers, long answers, and numbers Brevo already holds
    for contacts outside the connector (seeded into this world's Brevo). ``data="unique"``: the
    earlier data, one invitee per person, each with a unique US number.
    """

    def __init__(self, label: str, events: int, invitees: int, prefix: str, data: str = "realistic") -> None:
        calendly_cls, brevo_cls = common.counting_sims()
        self.label = label
        self.events, self.invitees = events, invitees
        self.calendly = calendly_cls(rate_limit_per_minute=CALENDLY_LIMIT_PER_MIN, default_token=True).start()
        self.brevo = brevo_cls(rate_limit_per_second=BREVO_LIMIT_PER_S).start()
        self.start = common.day_start(1)
        self.description = ""
        if data == "realistic":
            from calendly_sync.sandbox.realistic import realistic_data

            plan = realistic_data(events=events, invitees=invitees, start=self.start, seed=DATA_SEED)
            plan.book(self.calendly)
            plan.seed_brevo(self.brevo)
            self.event_type = dict(plan.event_type)
            self.description = plan.describe()
            self.plan = plan
        else:
            self.event_type = self._book(prefix)
            self.description = f"{events:,} events, {invitees:,} invitees, one person each, unique US numbers"
        self.seeded_contacts = len(self.brevo.contacts)
        self.since = self.start - timedelta(minutes=1)
        self.until = self.start + timedelta(minutes=30 * events + 1)
        common.add_latency(self.calendly, CALENDLY_LATENCY)
        common.add_latency(self.brevo, BREVO_LATENCY)

    def _book(self, prefix: str) -> dict[str, Any]:
        sim, n_ev, n_inv = self.calendly, self.events, self.invitees
        per_event = max(2, math.ceil(n_inv / n_ev))
        et = sim.add_event_type(
            "Discovery Call", common.QUESTIONS, kind="group", invitee_limit=per_event, fire_webhooks=False
        )
        k = 0
        for i in range(n_ev):
            n = (i + 1) * n_inv // n_ev - i * n_inv // n_ev
            event_uri = None
            for _ in range(n):
                area, number = common.AREA_CODES[(k // 10000) % len(common.AREA_CODES)], k % 10000
                qas = [
                    {"question": "Company name", "answer": common.COMPANIES[k % len(common.COMPANIES)], "position": 0},
                    {"question": "Your role", "answer": common.ROLES[k % len(common.ROLES)], "position": 1},
                    {"question": "Phone number", "answer": f"({area}) 555-{number:04d}", "position": 2},
                ]
                name = (
                    f"{common.FIRST[k % len(common.FIRST)]} {common.LAST[(k // len(common.FIRST)) % len(common.LAST)]}"
                )
                inv = sim.book(
                    et["uri"],
                    f"{prefix}{k}@example.com",
                    name,
                    self.start + timedelta(minutes=30 * i),
                    questions_and_answers=qas,
                    timezone="America/Chicago",
                    fire_webhooks=False,
                    event_uri=event_uri,
                )
                event_uri = event_uri or inv["event"]
                k += 1
        return {"uri": et["uri"], "name": et["name"]}

    def spec(self) -> dict[str, Any]:
        return {
            "calendly_url": self.calendly.url,
            "brevo_url": self.brevo.url,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
        }

    def measure(self, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
        cal0, brevo0 = common.calls_snapshot(self.calendly), common.calls_snapshot(self.brevo)
        c429, b429 = self.calendly.served_429, self.brevo.served_429
        c429_first, b429_first = self.calendly.first_call_429, self.brevo.first_call_429
        self.calendly.mark()
        self.brevo.mark()
        t0 = time.perf_counter()
        result = run_child(kind, spec)
        result["process_wall"] = time.perf_counter() - t0
        result["calendly"] = common.calls_delta(self.calendly, cal0, CALENDLY_ROUTES)
        result["brevo"] = common.calls_delta(self.brevo, brevo0, BREVO_ROUTES)
        result["calendly_calls"] = sum(result["calendly"].values())
        result["brevo_calls"] = sum(result["brevo"].values())
        result["brevo_writes"] = common.calls_delta(self.brevo, brevo0, [("w", WRITE)])["w"]
        result["calendly_429"] = self.calendly.served_429 - c429
        result["brevo_429"] = self.brevo.served_429 - b429
        result["calendly_429_log"] = list(self.calendly.log_429)
        result["brevo_429_log"] = list(self.brevo.log_429)
        result["calendly_429_first_call"] = self.calendly.first_call_429 - c429_first
        result["brevo_429_first_call"] = self.brevo.first_call_429 - b429_first
        ok_calendly = result["calendly_calls"] - result["calendly_429"]
        result["floor_calendly"] = ok_calendly / (CALENDLY_LIMIT_PER_MIN / 60.0)
        result["floor_brevo"] = result["brevo_writes"] / BREVO_LIMIT_PER_S
        result["floor"] = max(result["floor_calendly"], result["floor_brevo"])
        result["ratio"] = result["wall"] / result["floor"] if result["floor"] else float("nan")
        result["sequential"] = result["calendly_calls"] * CALENDLY_LATENCY + result["brevo_calls"] * BREVO_LATENCY
        result["contacts_in_brevo"] = len(self.brevo.contacts) - self.seeded_contacts
        return result

    def stop(self) -> None:
        for sim in (self.calendly, self.brevo):
            with contextlib.suppress(Exception):  # best effort at exit
                sim.stop()


def fmt_calls(by_route: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in by_route.items() if v) or "none"


def print_run(r: dict[str, Any], *, connector: bool) -> None:
    line("wall time", f"{r['wall']:.1f} s (child process {r['process_wall']:.1f} s with interpreter/Django start)")
    line("Calendly calls", f"{r['calendly_calls']:,}: {fmt_calls(r['calendly'])}")
    line("Brevo calls", f"{r['brevo_calls']:,}: {fmt_calls(r['brevo'])}")
    line("Brevo writes", f"{r['brevo_writes']:,} (POST/PUT/PATCH/DELETE)")
    line(
        "429s received",
        f"Calendly {r['calendly_429']} (on a run's first call: {r['calendly_429_first_call']}), "
        f"Brevo {r['brevo_429']} (on a run's first call: {r['brevo_429_first_call']})",
    )
    for api in ("calendly", "brevo"):
        log = r[f"{api}_429_log"]
        if log:
            shown = ", ".join(
                f"+{t:.1f} s (call #{i}, {re.sub(r'/[0-9A-Za-z-]{16,}', '/{id}', route)})" for t, i, route in log[:8]
            )
            line(f"  {api.capitalize()} 429s at", shown + (f" … ({len(log)} in all)" if len(log) > 8 else ""))
    line(
        "peak RSS",
        f"{r['rss_mb']:.1f} MB (the child's VmHWM; {r['rss_before_mb']:.1f} MB before the run; "
        f"ru_maxrss {r['ru_maxrss_mb']:.1f} MB, which Linux carries over from the parent at fork/exec)",
    )
    line(
        "floor",
        f"{r['floor']:.1f} s = max(Calendly {r['calendly_calls'] - r['calendly_429']:,} accepted calls "
        f"÷ {CALENDLY_LIMIT_PER_MIN}/min = {r['floor_calendly']:.1f} s, Brevo {r['brevo_writes']:,} writes "
        f"÷ {BREVO_LIMIT_PER_S}/s = {r['floor_brevo']:.1f} s)",
    )
    line("ratio to floor", f"{r['ratio']:.3f}×")
    line(
        "sequential latency sum",
        f"{r['sequential']:.1f} s (this run's calls one after another, no limit: "
        f"Calendly × {CALENDLY_LATENCY * 1000:.0f} ms + Brevo × {BREVO_LATENCY * 1000:.0f} ms)",
    )
    c = r["counts"]
    if connector:
        keys = (
            "events",
            "invitees",
            "pages",
            "contacts_created",
            "contacts_updated",
            "contacts_unchanged",
            "contacts_failed",
            "calendly_calls",
            "brevo_calls",
            "rate_limited",
            "seconds",
        )
        line(
            "report.counts",
            ", ".join(f"{k} {round(c[k], 1) if isinstance(c.get(k), float) else c.get(k, 0)}" for k in keys),
        )
    else:
        line("naive counts", ", ".join(f"{k} {round(v, 1) if isinstance(v, float) else v}" for k, v in c.items()))
    line("Brevo simulator contacts", f"{r['contacts_in_brevo']:,}")


def main() -> int:
    args = common.parse_args(
        __doc__.splitlines()[0],
        [
            (("--events",), dict(type=int, default=600, help="scheduled events (default 600)")),
            (("--invitees",), dict(type=int, default=760, help="invitees over those events (default 760)")),
            (
                ("--data",),
                dict(
                    choices=["realistic", "unique"],
                    default="realistic",
                    help="realistic (default: shared, held, invalid and foreign numbers, case variants) or "
                    "unique (one person per invitee, unique US numbers)",
                ),
            ),
            (("--double",), dict(action="store_true", help="also run the connector at 2× data (adds ≈ 6 min)")),
            (("--skip-naive",), dict(action="store_true", help="skip the naive baseline")),
            (("--skip-second",), dict(action="store_true", help="skip the second run")),
            (("--child",), dict(choices=sorted(CHILDREN), help=argparse_suppress())),
            (("--spec",), dict(help=argparse_suppress())),
        ],
    )
    if args.child:
        result = CHILDREN[args.child](json.loads(args.spec))
        print(RESULT_PREFIX + json.dumps(result, default=str))
        return 0

    n_ev, n_inv = args.events, args.invitees
    tmpdir = None
    database_url = os.environ.get("DATABASE_URL")
    external_db = bool(database_url)
    if not external_db:
        tmpdir = tempfile.mkdtemp(prefix="connector-bench-")
        database_url = f"sqlite:///{tmpdir}/bench.sqlite3"
    worlds: list[World] = []
    results: dict[str, dict[str, Any]] = {}
    connection_ids: list[int] = []
    try:
        t0 = time.perf_counter()
        w1 = World("1x", n_ev, n_inv, f"bf{common.RUN_ID}-", args.data)
        worlds.append(w1)
        wn = None if args.skip_naive else World("naive", n_ev, n_inv, f"bfn{common.RUN_ID}-", args.data)
        if wn:
            worlds.append(wn)
        w2 = World("2x", 2 * n_ev, 2 * n_inv, f"bf2{common.RUN_ID}-", args.data) if args.double else None
        if w2:
            worlds.append(w2)
        booked = time.perf_counter() - t0
        event_types = {"1x": w1.event_type}
        if w2:
            event_types["2x"] = w2.event_type
        setup = run_child("setup", {"database_url": database_url, "event_types": event_types})
        connection_ids = list(setup["connections"].values())

        print("== backfill benchmark: connector vs naive baseline, simulators with latency and real limits")
        print(
            f"   {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, {common.machine()}, "
            f"database: {setup['db']} ({'DATABASE_URL' if external_db else 'temporary file'}), "
            f"commit {common.revision()}"
        )
        print(
            f"   data ({args.data}): {w1.description}; booked in {booked:.1f} s"
            + (f"; 2× world: {2 * n_ev:,} / {2 * n_inv:,}" if w2 else "")
        )
        print(
            f"   simulators: Calendly {CALENDLY_LATENCY * 1000:.0f} ms/call, {CALENDLY_LIMIT_PER_MIN} req/min per user "
            f"(sliding 60 s); Brevo {BREVO_LATENCY * 1000:.0f} ms/call, {BREVO_LIMIT_PER_S} req/s (contacts, events); "
            f"each run has its own simulator pair (own Calendly user budget)"
        )
        need_cal = 1 + math.ceil(n_ev / 100) + n_ev
        seq = need_cal * CALENDLY_LATENCY + n_inv * BREVO_LATENCY
        print(
            f"   whole data set sequential, no limits: {need_cal:,} Calendly calls × "
            f"{CALENDLY_LATENCY * 1000:.0f} ms + {n_inv:,} Brevo upserts × {BREVO_LATENCY * 1000:.0f} ms = "
            f"{seq:.1f} s; with the limits the floor is "
            f"max({need_cal:,} ÷ {CALENDLY_LIMIT_PER_MIN}/min, writes ÷ {BREVO_LIMIT_PER_S}/s) ≥ "
            f"{need_cal / (CALENDLY_LIMIT_PER_MIN / 60):.1f} s"
        )
        sys.stdout.flush()

        section(f"1. connector: run_backfill, bulk threshold 200, {n_ev:,} events / {n_inv:,} invitees")
        results["connector"] = w1.measure(
            "connector", {**w1.spec(), "database_url": database_url, "connection_id": setup["connections"]["1x"]}
        )
        print_run(results["connector"], connector=True)

        if wn:
            section("2. naive baseline (product page's snippet: sequential, one upsert per invitee, sleep on 429)")
            from calendly_sync.sandbox.brevo import SANDBOX_API_KEY
            from calendly_sync.sandbox.calendly import SANDBOX_TOKEN

            results["naive"] = wn.measure("naive", {**wn.spec(), "token": SANDBOX_TOKEN, "api_key": SANDBOX_API_KEY})
            print_run(results["naive"], connector=False)
            line(
                "second run (naive)",
                f"not run: the snippet keeps no state, so it repeats every call and all "
                f"{results['naive']['brevo_writes']:,} writes",
            )

        if not args.skip_second:
            section("3. connector, second run over the same window (nothing changed)")
            results["second"] = w1.measure(
                "connector", {**w1.spec(), "database_url": database_url, "connection_id": setup["connections"]["1x"]}
            )
            print_run(results["second"], connector=True)

        if w2:
            section(f"4. connector at 2× data: {2 * n_ev:,} events / {2 * n_inv:,} invitees")
            results["double"] = w2.measure(
                "connector", {**w2.spec(), "database_url": database_url, "connection_id": setup["connections"]["2x"]}
            )
            print_run(results["double"], connector=True)

        section("summary")
        print(
            f"   {'run':<22}{'wall s':>8}{'floor s':>9}{'ratio':>7}{'Calendly':>10}{'Brevo':>7}{'writes':>8}"
            f"{'429 C/B':>9}{'RSS MB':>8}"
        )
        for key, label in (
            ("connector", "connector 1×"),
            ("naive", "naive baseline"),
            ("second", "connector 2nd run"),
            ("double", "connector 2× data"),
        ):
            r = results.get(key)
            if r:
                print(
                    f"   {label:<22}{r['wall']:>8.1f}{r['floor']:>9.1f}{r['ratio']:>7.3f}{r['calendly_calls']:>10,}"
                    f"{r['brevo_calls']:>7,}{r['brevo_writes']:>8,}"
                    f"{str(r['calendly_429']) + '/' + str(r['brevo_429']):>9}{r['rss_mb']:>8.1f}"
                )

        section("targets")
        r = results["connector"]
        met = r["ratio"] <= RATIO_TARGET
        line(
            "within 1.15× of the floor",
            f"{'met' if met else 'NOT met'}: {r['ratio']:.3f}× ({r['wall']:.1f} s vs floor {r['floor']:.1f} s)",
        )
        runs = [results[k] for k in ("connector", "second", "double") if k in results]
        known = sum(
            x["calendly_429"] - x["calendly_429_first_call"] + x["brevo_429"] - x["brevo_429_first_call"] for x in runs
        )
        first = sum(x["calendly_429_first_call"] + x["brevo_429_first_call"] for x in runs)
        line(
            "zero 429s once the limit is known",
            f"{'met' if known == 0 else 'NOT met'}: {known} after the first "
            f"call of a run ({first} on a run's first call, before any header) over {len(runs)} connector run(s)",
        )
        if "second" in results:
            s = results["second"]
            line(
                "second run writes nothing",
                f"{'met' if s['brevo_writes'] == 0 else 'NOT met'}: "
                f"{s['brevo_writes']} Brevo writes ({s['brevo_calls']} Brevo calls, "
                f"{s['calendly_calls']:,} Calendly calls)",
            )
        else:
            line("second run writes nothing", "not measured (--skip-second)")
        peak = max(x["rss_mb"] for x in runs)
        line(
            "peak RSS under 250 MB",
            f"{'met' if peak < RSS_LIMIT_MB else 'NOT met'}: {peak:.1f} MB (largest connector run)",
        )
        if "double" in results:
            d = results["double"]
            growth = d["rss_mb"] / r["rss_mb"] - 1
            line(
                "peak RSS flat when data doubles",
                f"{'met' if growth <= FLAT_TOLERANCE else 'NOT met'}: "
                f"{r['rss_mb']:.1f} MB → {d['rss_mb']:.1f} MB ({growth * 100:+.1f} %, tolerance "
                f"{FLAT_TOLERANCE * 100:.0f} %)",
            )
        else:
            line("peak RSS flat when data doubles", "not measured (run with --double)")
    finally:
        for w in worlds:
            w.stop()
        if external_db and connection_ids:
            try:
                run_child("cleanup", {"database_url": database_url, "connection_ids": connection_ids})
            except Exception as exc:  # noqa: BLE001 - best effort
                print(f"   cleanup failed: {exc}", file=sys.stderr)
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)
    return 0


def argparse_suppress() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
