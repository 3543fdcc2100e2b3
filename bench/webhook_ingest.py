"""Benchmark: webhook ingest through gunicorn on PostgreSQL, and the drain into a rate-limited Brevo.

    .venv/bin/python bench/webhook_ingest.py [--deliveries N] [--concurrency C] [--workers W]
                                             [--threads T] [--variant all|embedded|celery|ack-only|both]
                                             [--conn-max-age S] [--drain-timeout S] [--db NAME]

Prints figures, asserts nothing. Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth)
and, for the Celery variant, Redis on 127.0.0.1:6379 (database 14 is flushed before and after).

Variants (default ``all``): ``ack-only`` (nothing processes: the endpoint's own capacity),
``embedded`` (the issue's configuration), ``celery``. A scratch database ``bench_ingest`` is
created first (dropped if left over), migrated, and dropped at the end. For each variant:

1. The Brevo simulator (10 requests/s on contacts and events) and a Calendly simulator (only to
   build realistic payloads) start in this process; a connection with the product page's mapping
   and signing key ``bench-key`` is written.
2. ``gunicorn connector_site.wsgi -w 2`` (sync workers, or gthread with ``--threads``) starts with
   ``DATABASE_URL`` pointing at it, ``BREVO_API_URL``/``CALENDLY_API_URL`` at the simulators,
   ``DEBUG=false``, ``ALLOWED_HOSTS=127.0.0.1``. Variant "embedded": ``CONNECTOR_EMBEDDED_WORKER=true``
   (each gunicorn worker processes its deliveries in a background thread and batches a backlog).
   Variant "celery": ``CELERY_BROKER_URL=redis://127.0.0.1:6379/14`` and
   ``celery -A connector_site worker -c 2``.
3. N signed ``invitee.created`` deliveries (default 2,000; payloads rendered exactly as the Calendly
   simulator sends them, one distinct invitee each, about 2.2 KiB) are posted to
   ``/webhooks/calendly/<id>/`` at concurrency C (default 32) from a thread pool, one
   ``http.client`` connection per thread (gunicorn's sync worker closes it after each response).
   Per-request latency is measured from just before the request is written to the end of the body.
4. The Brevo simulator is polled (in-process) until it holds all N contacts (in list 10) and all N
   ``calendly_booking_created`` events.

Prints: acknowledgements/s, p50/p95/p99/max latency, non-200 answers, deliveries stored, seconds
until Brevo reflects everything (from the first request and from the last acknowledgement), Brevo
calls by endpoint, 429s, and the drain's floor (the rate-limited Brevo calls ÷ 10/s).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from common import (
    BREVO_LIMIT,
    BREVO_ROUTES,
    LIMITED,
    PG,
    admin_sql,
    free_port,
    latency_summary,
    line,
    percentile,
    section,
)

REDIS = "redis://127.0.0.1:6379/14"
ACK_TARGET = 300.0
P99_TARGET_MS = 150.0
RATIO = 1.15  # "as fast as Brevo's limits allow": within 15 % of the floor (plus one import poll)
IMPORT_POLL = 2.0  # wait_for_process polls every 2 s; the simulator completes an import on its 2nd poll


def tline(label: str, value: str) -> None:
    print(f"   {label:<44} {value}")
    sys.stdout.flush()


# ------------------------------------------------------------------------------------------------
# scratch database
def create_db(name: str) -> None:
    admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin_sql(f'CREATE DATABASE "{name}"')


def drop_db(name: str) -> None:
    try:
        from django.db import connections

        connections.close_all()
    except Exception:  # noqa: BLE001 - Django may not be set up
        pass
    admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ------------------------------------------------------------------------------------------------
# subprocesses
class Procs:
    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen, Any]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        # Open until stop_all() closes it: the child writes its output there meanwhile.
        log = tempfile.NamedTemporaryFile(prefix=f"bench-{name}-", suffix=".log", delete=False)  # noqa: SIM115
        proc = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(common.ROOT), start_new_session=True
        )
        self.procs.append((name, proc, log))
        return proc

    def tail(self, name: str, n: int = 30) -> str:
        for pname, _, log in self.procs:
            if pname == name:
                log.flush()
                return "".join(Path(log.name).read_text(errors="replace").splitlines(True)[-n:])
        return ""

    def stop_all(self) -> None:
        for _name, proc, log in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)  # the process group we started (new session)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)
            log.close()
            with contextlib.suppress(OSError):
                os.unlink(log.name)
        self.procs.clear()


def wait_http(port: int, path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing answers on 127.0.0.1:{port} after {timeout:.0f} s")


# ------------------------------------------------------------------------------------------------
# load
def post_all(port: int, path: str, deliveries: list[tuple[bytes, dict[str, str]]], concurrency: int) -> dict[str, Any]:
    local = threading.local()
    latencies: list[float] = [0.0] * len(deliveries)
    statuses: list[int] = [0] * len(deliveries)
    ids: list[int | None] = [None] * len(deliveries)
    done_at: list[float] = [0.0] * len(deliveries)

    def one(i: int) -> None:
        body, headers = deliveries[i]
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        t0 = time.perf_counter()
        try:
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            status = resp.status
            if resp.will_close:
                conn.close()
        except (OSError, http.client.HTTPException) as exc:  # counted as a failure, not retried
            conn.close()
            local.conn = None
            status, data = 0, str(exc).encode()
        t1 = time.perf_counter()
        latencies[i], statuses[i], done_at[i] = (t1 - t0) * 1000.0, status, t1
        if status == 200:
            with contextlib.suppress(ValueError):
                ids[i] = json.loads(data).get("id")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="calendly") as pool:
        list(pool.map(one, range(len(deliveries))))
    per_second = Counter(int(t - started) for t in done_at)
    return {
        "latencies": latencies,
        "statuses": Counter(statuses),
        "ids": ids,
        "started": started,
        "last_ack": max(done_at),
        "seconds": max(done_at) - started,
        "per_second": [per_second.get(k, 0) for k in range(max(per_second) + 1)],
    }


def post_all_in_child(
    port: int, path: str, deliveries: list[tuple[bytes, dict[str, str]]], concurrency: int
) -> dict[str, Any]:
    """:func:`post_all` in a forked process, so the load generator's threads never wait for the GIL
    of this process, where the Brevo simulator is busy applying imports and events meanwhile
    (``time.perf_counter`` is the system's monotonic clock: comparable across processes)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        return pool.submit(post_all, port, path, deliveries, concurrency).result()


# ------------------------------------------------------------------------------------------------
def run_variant(variant: str, args: argparse.Namespace) -> dict[str, Any]:
    """One full run; this process's Django is already set up on the scratch database."""
    from django.conf import settings
    from webhooks import invitee_payloads

    from calendly_sync.models import WebhookDelivery
    from calendly_sync.sandbox.signing import build_delivery

    n = args.deliveries
    sims = common.Sims(brevo_rate_limit_per_second=BREVO_LIMIT)
    procs = Procs()
    result: dict[str, Any] = {"variant": variant}
    try:
        et = common.add_event_type(sims.calendly)
        conn = common.make_connection(f"ingest-{variant}", et)
        prefix = f"ingest-{variant}-{common.RUN_ID}-"
        with common.Timer() as t:
            payloads = invitee_payloads(
                sims.calendly, common.book_many(sims.calendly, n, et["uri"], prefix=prefix, start=common.day_start(1))
            )
        emails = {p["email"].lower() for p in payloads}
        created_by = sims.calendly.admin["uri"]

        port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL",)}
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "connector_site.settings",
                "DATABASE_URL": os.environ["DATABASE_URL"],
                "BREVO_API_URL": f"{sims.brevo.url}/v3",
                "CALENDLY_API_URL": sims.calendly.url,
                "CALENDLY_AUTH_URL": sims.calendly.url,
                "DEBUG": "false",
                # A server refuses the built-in development key with DEBUG off; this process's key
                # stays a fallback, so the server decrypts the connection's secrets stored here.
                "SECRET_KEY": secrets.token_urlsafe(50),
                "SECRET_KEY_FALLBACKS": settings.SECRET_KEY,
                "ALLOWED_HOSTS": "127.0.0.1",
                "LOG_LEVEL": os.environ.get("LOG_LEVEL", "ERROR"),
                "CONNECTOR_EMBEDDED_WORKER": "true",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if variant == "celery":
            common.flush_redis(REDIS)
            env["CELERY_BROKER_URL"] = REDIS
        if variant == "ack-only":
            env["CONNECTOR_EMBEDDED_WORKER"] = "false"  # nothing processes: the endpoint's own capacity
        bin_dir = Path(sys.executable).parent
        gunicorn = [
            str(bin_dir / "gunicorn"),
            "connector_site.wsgi",
            "-w",
            str(args.workers),
            "-b",
            f"127.0.0.1:{port}",
            "--backlog",
            "2048",
        ]
        worker_class = "sync"
        if args.threads > 1:
            gunicorn += ["--threads", str(args.threads), "-k", "gthread"]
            worker_class = f"gthread, {args.threads} threads"
        procs.start("gunicorn", gunicorn, env)
        if variant == "celery":
            procs.start(
                "celery",
                [
                    str(bin_dir / "celery"),
                    "-A",
                    "connector_site",
                    "worker",
                    "-c",
                    "2",
                    "-l",
                    "INFO",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                env,
            )
        url = f"/webhooks/calendly/{conn.pk}/"
        wait_http(port, url)
        # warm-up: GET (405) loads the URLconf and the view in each worker; stores nothing
        for _ in range(4 * args.workers):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", url)
            c.getresponse().read()
            c.close()
        if variant == "celery":  # wait until the worker says it is ready (connected, children forked)
            deadline = time.monotonic() + 60
            while " ready." not in procs.tail("celery", 200) and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(1.0)

        section(
            f"{variant}: gunicorn -w {args.workers} ({worker_class}) on PostgreSQL"
            + {
                "celery": ", Celery worker -c 2 on Redis",
                "embedded": ", embedded worker thread per process",
                "ack-only": ", no processing at all (CONNECTOR_EMBEDDED_WORKER=false, no broker): the endpoint alone",
            }[variant]
        )
        line("prepared", f"{n:,} bookings and payloads in {t.seconds:.1f} s; Brevo simulator {BREVO_LIMIT} req/s")
        brevo0 = common.calls_snapshot(sims.brevo)
        limited0 = sims.brevo.rate_limited
        signed_at = int(time.time())
        deliveries = []
        for p in payloads:
            body, headers = build_delivery("invitee.created", p, created_by, common.SIGNING_KEY, signed_at)
            deliveries.append((body, {"Content-Type": "application/json", **headers}))
        mean_kib = sum(len(b) for b, _ in deliveries) / len(deliveries) / 1024

        posted = post_all_in_child(port, url, deliveries, args.concurrency)
        acks = posted["statuses"].get(200, 0)
        lat = sorted(posted["latencies"])
        result.update(
            acks_per_s=n / posted["seconds"],
            p50=percentile(lat, 50),
            p95=percentile(lat, 95),
            p99=percentile(lat, 99),
            max=lat[-1],
            non_200=n - acks,
            ack_seconds=posted["seconds"],
        )
        line(
            "deliveries", f"{n:,} signed invitee.created, mean body {mean_kib:.1f} KiB, concurrency {args.concurrency}"
        )
        line("acknowledgements/s", f"{result['acks_per_s']:,.1f} ({n:,} in {posted['seconds']:.2f} s)")
        line("acknowledgement latency", latency_summary(lat))
        line("acknowledgements per second", ", ".join(str(x) for x in posted["per_second"]))
        line("answers", ", ".join(f"{k or 'connection error'}: {v}" for k, v in sorted(posted["statuses"].items())))

        if variant == "ack-only":
            stored = Counter(WebhookDelivery.objects.filter(connection=conn).values_list("status", flat=True))
            result.update(stored=sum(stored.values()), worker_class=worker_class, complete=None)
            line(
                "deliveries stored",
                f"{result['stored']:,} ({', '.join(f'{k} {v}' for k, v in sorted(stored.items()))})",
            )
            # Nothing processed them; the next variant's drain would take them along (it drains
            # everything due in the database), so they are set aside for a clean measurement.
            WebhookDelivery.objects.filter(connection=conn).update(status=WebhookDelivery.Status.IGNORED)
            return result
        # drain: until Brevo holds every contact and every booking event
        deadline = time.perf_counter() + args.drain_timeout
        contacts = events = 0
        while True:
            with sims.brevo.lock:
                contacts = sum(
                    1
                    for c in sims.brevo.contacts.values()
                    if (c.get("email") or "") in emails and 10 in c.get("_lists", ())
                )
                ours = [
                    e
                    for e in sims.brevo.events
                    if e.get("event_name") == "calendly_booking_created"
                    and str((e.get("identifiers") or {}).get("email_id", "")).lower() in emails
                ]
            events = len({(e.get("event_properties") or {}).get("invitee_uri") for e in ours})  # distinct facts
            now = time.perf_counter()
            if (contacts >= n and events >= n) or now > deadline:
                break
            time.sleep(0.05)
        complete = contacts >= n and events >= n
        result.update(
            drain_from_start=now - posted["started"],
            drain_after_acks=now - posted["last_ack"],
            complete=complete,
            contacts=contacts,
            events=events,
        )
        by_route = common.calls_delta(sims.brevo, brevo0, BREVO_ROUTES)
        limited_calls = common.calls_delta(sims.brevo, brevo0, [("l", LIMITED)])["l"]
        result.update(
            brevo=by_route,
            brevo_429=sims.brevo.rate_limited - limited0,
            limited_calls=limited_calls,
            floor=limited_calls / BREVO_LIMIT,
        )
        # then until every stored delivery is marked processed (the worker updates rows after its push)
        while True:
            stored = Counter(WebhookDelivery.objects.filter(connection=conn).values_list("status", flat=True))
            settled = time.perf_counter()
            if stored.get("processed", 0) >= n or settled > deadline:
                break
            time.sleep(0.1)
        result["stored"] = sum(stored.values())
        result["processed"] = stored.get("processed", 0)
        with sims.brevo.lock:
            ours = [
                e
                for e in sims.brevo.events
                if e.get("event_name") == "calendly_booking_created"
                and str((e.get("identifiers") or {}).get("email_id", "")).lower() in emails
            ]
        result["events_received"] = len(ours)
        result["duplicate_events"] = len(ours) - len(
            {(e.get("event_properties") or {}).get("invitee_uri") for e in ours}
        )
        line(
            "deliveries stored",
            f"{result['stored']:,} ({', '.join(f'{k} {v}' for k, v in sorted(stored.items()))}"
            f" {settled - posted['started']:.1f} s after the first request)",
        )
        line(
            "Brevo reflects all",
            ("yes" if complete else f"NO after {args.drain_timeout:.0f} s")
            + f": {contacts:,} contacts in list 10, {events:,} calendly_booking_created events",
        )
        line(
            "duplicate Brevo events",
            f"{result['duplicate_events']} ({result['events_received']:,} "
            f"calendly_booking_created received for {events:,} distinct invitees)",
        )
        line(
            "seconds until Brevo reflects all",
            f"{result['drain_from_start']:.1f} s from the first request, "
            f"{result['drain_after_acks']:.1f} s after the last acknowledgement",
        )
        line("Brevo calls", f"{sum(by_route.values()):,}: {', '.join(f'{k} {v:,}' for k, v in by_route.items() if v)}")
        line("429s served by Brevo", str(result["brevo_429"]))
        ideal = 1 + -(-n // 5000) + -(-n // 100)  # attributes GET, imports of ≤ 5000, event batches of 100
        line(
            "drain floor",
            f"{result['floor']:.1f} s = {limited_calls:,} calls in Brevo's limited buckets "
            f"(incl. 429'd ones) ÷ {BREVO_LIMIT}/s; minimum for {n:,} contacts + events ≈ {ideal} calls "
            f"= {ideal / BREVO_LIMIT:.1f} s (+ 2 s per import poll)",
        )
        if not complete or result["non_200"]:
            print("   --- gunicorn log tail ---\n" + procs.tail("gunicorn"))
            if variant == "celery":
                print("   --- celery log tail ---\n" + procs.tail("celery"))
        result["worker_class"] = worker_class
        return result
    finally:
        procs.stop_all()
        sims.stop()
        if variant == "celery":
            with contextlib.suppress(Exception):  # best effort at exit
                common.flush_redis(REDIS)


def main() -> int:
    args = common.parse_args(
        __doc__.splitlines()[0],
        [
            (("--deliveries",), dict(type=int, default=2000)),
            (("--concurrency",), dict(type=int, default=32)),
            (("--workers",), dict(type=int, default=2)),
            (("--threads",), dict(type=int, default=1, help="> 1: gthread worker class with this many threads")),
            (
                ("--variant",),
                dict(
                    choices=["embedded", "celery", "ack-only", "both", "all"],
                    default="all",
                    help="both: embedded then celery; all: ack-only, embedded, celery",
                ),
            ),
            (
                ("--conn-max-age",),
                dict(type=int, default=None, help="append ?conn_max_age=S to DATABASE_URL (default: the settings' 60)"),
            ),
            (("--drain-timeout",), dict(type=float, default=300.0)),
            (("--db",), dict(default="bench_ingest", help="scratch database (dropped before and after)")),
        ],
    )
    db = args.db
    create_db(db)
    os.environ["DATABASE_URL"] = f"{PG}/{db}" + (f"?conn_max_age={args.conn_max_age}" if args.conn_max_age else "")
    results = []
    try:
        desc = common.setup_django()
        print("== webhook ingest benchmark: gunicorn + PostgreSQL, signed deliveries, drain into Brevo (10 req/s)")
        print(
            f"   {time.strftime('%Y-%m-%d %H:%M %Z')}, {common.machine()}, commit {common.revision()}, "
            f"database: {desc}, scratch db {db!r}"
            + (
                f", conn_max_age={args.conn_max_age}"
                if args.conn_max_age
                else ", CONN_MAX_AGE=60 (the settings' default for PostgreSQL)"
            )
        )
        variants = {"both": ["embedded", "celery"], "all": ["ack-only", "embedded", "celery"]}.get(
            args.variant, [args.variant]
        )
        for v in variants:
            results.append(run_variant(v, args))

        section("targets")
        for r in results:
            tag = r["variant"] if r["worker_class"] == "sync" else f"{r['variant']} ({r['worker_class']})"
            tline(
                f"{tag}: ≥ {ACK_TARGET:.0f} acks/s",
                f"{'met' if r['acks_per_s'] >= ACK_TARGET else 'NOT met'}: {r['acks_per_s']:,.1f}/s",
            )
            tline(
                f"{tag}: p99 < {P99_TARGET_MS:.0f} ms",
                f"{'met' if r['p99'] < P99_TARGET_MS else 'NOT met'}: {r['p99']:.1f} ms (p50 {r['p50']:.1f} ms)",
            )
            if r["complete"] is None:  # ack-only: nothing drains
                tline(f"{tag}: stored", f"{r['stored']:,} of {args.deliveries:,}, {r['non_200']} non-200")
                continue
            lost = r["non_200"] or r["stored"] != args.deliveries or not r["complete"]
            tline(
                f"{tag}: no lost delivery",
                f"{'NOT met' if lost else 'met'}: {r['non_200']} non-200, "
                f"{r['stored']:,} stored, Brevo {r['contacts']:,} contacts / {r['events']:,} events",
            )
            tline(
                f"{tag}: one Brevo event per fact",
                f"{'met' if r['duplicate_events'] == 0 else 'NOT met'}: "
                f"{r['duplicate_events']} duplicate calendly_booking_created events",
            )
            bound = RATIO * (r["floor"] + IMPORT_POLL)
            bulk = r["brevo"].get("POST /contacts/import", 0) and r["brevo"].get("POST /events/batch", 0)
            fast = r["drain_after_acks"] <= bound and bulk
            tline(
                f"{tag}: drained as fast as Brevo allows",
                f"{'met' if fast else 'NOT met'}: "
                f"{r['drain_after_acks']:.1f} s after the last ack vs ≤ {bound:.1f} s "
                f"(1.15 × (floor {r['floor']:.1f} s + one {IMPORT_POLL:.0f} s import poll)); "
                f"{r['drain_from_start']:.1f} s from the first request",
            )
            tline(
                f"{tag}: Brevo calls",
                f"{r['brevo'].get('POST /contacts', 0):,} single upserts, {r['brevo'].get('POST /contacts/import', 0)} "
                f"imports, {r['brevo'].get('POST /events', 0):,} single events, "
                f"{r['brevo'].get('POST /events/batch', 0)} event batches, {r['brevo_429']} × 429",
            )
    finally:
        common.cleanup()
        drop_db(db)
        line("cleanup", f"subprocesses stopped, database {db!r} dropped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
