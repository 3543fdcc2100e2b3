"""Benchmark: the connector's webhook endpoint against a bare floor, side by side, loaded by wrk.

    .venv/bin/python bench/floor.py [--db sqlite|postgres] [--rounds R] [--duration S]
                                    [--connections C] [--wrk-threads T] [--workers W]
                                    [--drain none|embedded|celery|both] [--redis-url URL]
                                    [--no-import-notify] [--timeline FILE]

Prints figures, asserts nothing. The floor (``bench/floor_app``) is a minimal Django + DRF app
with one view: parse the ``Calendly-Webhook-Signature`` header, HMAC-SHA256 over ``t.body``,
constant-time compare, one insert. The connector's endpoint is ``/webhooks/calendly/<id>/`` with
``CONNECTOR_EMBEDDED_WORKER=false`` and no broker (nothing processes: acknowledgements only).

Both run under the same ``gunicorn -w W`` (sync workers), each on its own scratch database of the
same kind and settings (SQLite in WAL in a temporary directory, or PostgreSQL databases
``bench_floor_bare`` and ``bench_floor_connector``, dropped before and after), and take the same
load: ``wrk`` (Debian's package; installed with apt-get when missing) with C connections for S
seconds, every request a distinct ``invitee.created`` body (about 2.2 KiB, as the Calendly
simulator renders it) signed just before the round. Rounds alternate A/B then B/A, so drift on a
shared machine hits both. For each round and app: requests/s, p50, p99, non-2xx and socket errors,
rows stored; then the medians and the connector ÷ floor ratios.

``--drain`` adds apps that *process* what they acknowledge, during the same burst, into a Brevo
simulator limited like Brevo (10 requests/s on contacts and events; it and a Calendly simulator run
in this process): ``embedded`` (``CONNECTOR_EMBEDDED_WORKER=true``, no broker: the server's worker
process), ``celery`` (``CELERY_BROKER_URL=--redis-url``, flushed before and after, and a real
``nice -n 10 celery -A connector_site worker -c 2``, as the systemd unit runs it). Each has its
own scratch database and a connection with
the product page's mapping (``bench/common.py``). They take their turn in the same alternation; after
each of their rounds the script waits until Brevo holds a contact (in list 10) and a
``calendly_booking_created`` event for every delivery the round stored, and prints the seconds from
the last acknowledgement (wrk's end) until then, against Brevo's floor: the round's calls in Brevo's
rate-limited buckets ÷ 10/s. The draining apps get ``SITE_URL`` = their own server, so their bulk
imports carry a ``notifyUrl`` that the simulator calls when the import ends (it takes 1 s over one,
or ends it at its second poll if that comes first); ``--no-import-notify`` makes them poll instead.
``--timeline FILE`` appends a JSON-lines timeline of the draining connector's batches, push rounds,
Brevo calls and waits (``bench/timeline/``); ``python bench/timeline/show.py FILE`` prints it.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
from common import BREVO_LIMIT, BREVO_ROUTES, LIMITED, PG, admin_sql, free_port

BENCH = Path(__file__).resolve().parent
KEY = "bench-key"
IMPORT_SECONDS = 1.0  # how long the Brevo simulator takes over an import (unless its 2nd poll comes first, at 1.5 s)
WRK_MARK = "@@WRK "
SERVER_SECRET_KEY = secrets.token_urlsafe(50)  # DEBUG is off: a server refuses the built-in development key
LUA = r"""
-- Distinct signed bodies, split between wrk's threads; prints the figures as one JSON line.
local reqs, counter, threads = {}, 0, {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  local path, file, n = args[1], args[2], tonumber(args[3])
  local i = 0
  for line in io.lines(file) do
    if i % n == tid then
      local tab = line:find("\t", 1, true)
      reqs[#reqs + 1] = wrk.format("POST", path, {
        ["Content-Type"] = "application/json",
        ["Calendly-Webhook-Signature"] = line:sub(1, tab - 1),
      }, line:sub(tab + 1))
    end
    i = i + 1
  end
end
function request()
  counter = counter + 1
  if counter > #reqs then counter = 1 end
  return reqs[counter]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '@@WRK {"requests": %d, "duration_us": %d, "non2xx": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("   wrk not found: installing Debian's package (apt-get install -y wrk)", flush=True)
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, stdout=subprocess.DEVNULL)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is needed: apt-get install wrk (Debian/Ubuntu)")
    return found


def child_env(database_url: str, settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": settings,
            "DATABASE_URL": database_url,
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1",
            "LOG_LEVEL": "ERROR",
            "CONNECTOR_EMBEDDED_WORKER": "false",
            "PYTHONPATH": os.pathsep.join([str(common.ROOT), str(BENCH)]),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.setdefault("SECRET_KEY", SERVER_SECRET_KEY)
    return env


def run_python(code: str, env: dict[str, str]) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=str(common.ROOT), capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return proc.stdout.strip()


SETUP_CONNECTOR = """
import django; django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from calendly_sync.models import Connection
print(Connection.objects.create(name="bench-floor", webhook_signing_key=%r).pk)
"""
SETUP_FLOOR = """
import django; django.setup()
from django.core.management import call_command
call_command("migrate", run_syncdb=True, verbosity=0)
print("ok")
"""
COUNT_CONNECTOR = """
import django; django.setup()
from calendly_sync.models import WebhookDelivery
print(WebhookDelivery.objects.count())
"""
COUNT_FLOOR = """
import django; django.setup()
from floor_app.models import Delivery
print(Delivery.objects.count())
"""


class App:
    """One side of the comparison: its gunicorn, database and URL."""

    def __init__(self, name: str, settings: str, wsgi: str, database_url: str, workers: int) -> None:
        self.name, self.settings, self.wsgi, self.database_url, self.workers = (
            name,
            settings,
            wsgi,
            database_url,
            workers,
        )
        self.env = child_env(database_url, settings)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.path = ""
        self.log = tempfile.NamedTemporaryFile(prefix=f"bench-floor-{name}-", suffix=".log", delete=False)  # noqa: SIM115

    def setup(self) -> None:
        if self.name == "connector":
            self.path = f"/webhooks/calendly/{run_python(SETUP_CONNECTOR % KEY, self.env)}/"
        else:
            run_python(SETUP_FLOOR, self.env)
            self.path = "/hook/"

    def start(self) -> None:
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        argv = [gunicorn, self.wsgi, "-w", str(self.workers), "-b", f"127.0.0.1:{self.port}", "--backlog", "2048"]
        self.proc = subprocess.Popen(
            argv, env=self.env, cwd=str(common.ROOT), stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                for _ in range(4 * self.workers):  # GET (405): each worker loads its URLconf and view
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                    conn.request("GET", self.path)
                    conn.getresponse().read()
                    conn.close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name}: gunicorn did not answer; log {self.log.name}")

    def stored(self) -> int:
        return int(run_python(COUNT_CONNECTOR if self.name == "connector" else COUNT_FLOOR, self.env))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)  # the process group this script started
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.log.close()
        with contextlib.suppress(OSError):
            os.unlink(self.log.name)


SETUP_DRAIN = """
import django; django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
import common
print(common.make_connection("floor-drain", {"uri": %r, "name": %r}).pk)
"""


class DrainApp(App):
    """The connector processing what it acknowledges, into the Brevo simulator: ``embedded`` or ``celery``."""

    def __init__(self, name: str, database_url: str, workers: int, sims: Any, redis_url: str) -> None:
        super().__init__(name, "connector_site.settings", "connector_site.wsgi", database_url, workers)
        self.sims = sims
        self.redis_url = redis_url
        self.env.update(
            {
                "CONNECTOR_EMBEDDED_WORKER": "true" if name == "embedded" else "false",
                "BREVO_API_URL": f"{sims.brevo.url}/v3",
                "CALENDLY_API_URL": sims.calendly.url,
                "CALENDLY_AUTH_URL": sims.calendly.url,
            }
        )
        if name == "celery":
            self.env["CELERY_BROKER_URL"] = redis_url
        # Brevo's import wake-ups (notifyUrl) come back to this app's own server, as SITE_URL.
        self.env["SITE_URL"] = f"http://127.0.0.1:{self.port}"
        self.env["BREVO_IMPORT_NOTIFY"] = "false" if os.environ.get("BENCH_NO_IMPORT_NOTIFY") else "true"
        if os.environ.get("BENCH_TIMELINE"):  # the hooks of bench/timeline/sitecustomize.py
            self.env["PYTHONPATH"] = os.pathsep.join([str(BENCH / "timeline"), self.env["PYTHONPATH"]])
        self.celery: subprocess.Popen[bytes] | None = None
        self.celery_log = tempfile.NamedTemporaryFile(prefix="bench-floor-celery-", suffix=".log", delete=False)  # noqa: SIM115

    def setup(self) -> None:
        et = self.sims.event_type
        self.path = f"/webhooks/calendly/{run_python(SETUP_DRAIN % (et['uri'], et['name']), self.env)}/"

    def start(self) -> None:
        if self.name == "celery":
            flush_redis(self.redis_url)
            celery = str(Path(sys.executable).parent / "celery")
            # At nice +10, as deploy/systemd/connector-worker.service runs it (Nice=10) beside the web server.
            argv = ["nice", "-n", "10", celery, "-A", "connector_site", "worker", "-c", "2", "-l", "INFO"]
            argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
            self.celery = subprocess.Popen(
                argv,
                env=self.env,
                cwd=str(common.ROOT),
                stdout=self.celery_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            deadline = time.monotonic() + 60
            while b" ready." not in Path(self.celery_log.name).read_bytes() and time.monotonic() < deadline:
                time.sleep(0.2)
        super().start()
        if self.name == "embedded":  # the owner's worker process has started and swept once
            deadline = time.monotonic() + 60
            while b"embedded worker process" not in Path(self.log.name).read_bytes() and time.monotonic() < deadline:
                time.sleep(0.2)

    def stored(self) -> int:
        return int(run_python(COUNT_CONNECTOR, self.env))

    def stop(self) -> None:
        super().stop()
        if self.celery is not None and self.celery.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.celery.pid, signal.SIGTERM)
            try:
                self.celery.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.celery.pid, signal.SIGKILL)
                self.celery.wait(timeout=5)
        if self.name == "celery":
            with contextlib.suppress(Exception):
                flush_redis(self.redis_url)
        self.celery_log.close()
        with contextlib.suppress(OSError):
            os.unlink(self.celery_log.name)


def timeline_mark(kind: str, **fields: Any) -> None:
    """One line of ``--timeline`` from the bench's own process (same clock as the connector's hooks)."""
    path = os.environ.get("BENCH_TIMELINE")
    if path:
        fields.setdefault("t", time.monotonic())
        with open(path, "a") as f:
            f.write(json.dumps({"kind": kind, "pid": os.getpid(), **fields}) + "\n")


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


class DrainSims:
    """The Brevo simulator (10 requests/s, as Brevo) and a Calendly simulator, in this process."""

    def __init__(self) -> None:
        from calendly_sync.sandbox.brevo import BrevoSim
        from calendly_sync.sandbox.calendly import CalendlySim

        self.calendly = CalendlySim(default_token=True).start()
        # An import takes the simulator IMPORT_SECONDS, or ends at its second poll if polled sooner.
        self.brevo = BrevoSim(rate_limit_per_second=BREVO_LIMIT, import_seconds=IMPORT_SECONDS).start()
        self.event_type = common.add_event_type(self.calendly)
        self.events_seen = 0  # the events list only grows: each poll reads what is new
        self.found_events: dict[str, set[str]] = {}

    def holds(self, prefix: str) -> tuple[int, int]:
        """Contacts in list 10 and distinct ``calendly_booking_created`` invitees whose email starts with ``prefix``."""
        with self.brevo.lock:
            contacts = sum(
                1
                for c in self.brevo.contacts.values()
                if (c.get("email") or "").startswith(prefix) and 10 in c["_lists"]
            )
            new = self.brevo.events[self.events_seen :]
            self.events_seen += len(new)
        for e in new:
            if e.get("event_name") != "calendly_booking_created":
                continue
            email = str((e.get("identifiers") or {}).get("email_id", "")).lower()
            m = re.match(r"floor-([^-]+)-", email)
            if m:
                uri = str((e.get("event_properties") or {}).get("invitee_uri"))
                self.found_events.setdefault(f"floor-{m.group(1)}-", set()).add(uri)
        return contacts, len(self.found_events.get(prefix, ()))

    def stop(self) -> None:
        for sim in (self.calendly, self.brevo):
            with contextlib.suppress(Exception):
                sim.stop()


def wait_for_brevo(sims: DrainSims, prefix: str, expected: int, acked_at: float, timeout: float) -> dict[str, Any]:
    """Poll until Brevo holds every contact and event of the round; seconds after the last acknowledgement."""
    deadline = time.monotonic() + timeout
    while True:
        contacts, events = sims.holds(prefix)
        now = time.monotonic()
        if (contacts >= expected and events >= expected) or now > deadline:
            break
        time.sleep(0.1)
    return {
        "after_ack": now - acked_at,
        "complete": contacts >= expected and events >= expected,
        "contacts": contacts,
        "events": events,
    }


def payload_template(sims: Any = None) -> tuple[dict[str, Any], str]:
    """One ``invitee.created`` payload exactly as the Calendly simulator renders it, and its creator.

    With ``sims`` (``--drain``), from their Calendly simulator, which keeps running (the servers
    that process deliveries are pointed at it).
    """
    from calendly_sync.sandbox.calendly import CalendlySim

    sim = sims.calendly if sims is not None else CalendlySim(default_token=True).start()
    try:
        et = sims.event_type if sims is not None else common.add_event_type(sim)
        [inv] = common.book_many(sim, 1, et["uri"], prefix="floor-", start=common.day_start(1))
        uuid = inv["uri"].rstrip("/").rsplit("/", 1)[-1]
        return sim.render(sim._invitee_payload(sim.invitees[uuid])), sim.admin["uri"]
    finally:
        if sims is None:
            sim.stop()


_phones_used = 0  # numbers handed out so far in this invocation: each invitee gets its own


def write_bodies(path: Path, template: dict[str, Any], created_by: str, tag: str, n: int) -> float:
    """``n`` distinct signed bodies (``signature<TAB>body`` lines), signed now; mean body bytes.

    Distinct invitees: URI, email and phone number (``(646) XXX-XXXX``, never used twice in one
    invocation). One number for every invitee, as the template has, would make the connector's SMS
    ownership (one contact per number) move from contact to contact as a burst arrives, each move a
    single upsert: a drain benchmark of that, not of a burst of bookings.
    """
    global _phones_used
    from calendly_sync.sandbox.signing import build_delivery

    t = int(time.time())
    base = template["uri"].rstrip("/").rsplit("/", 1)[0]
    total = 0
    with path.open("w") as out:
        for i in range(n):
            payload = copy.copy(template)
            payload["uri"] = f"{base}/{tag}-{i:06d}"
            payload["email"] = f"floor-{tag}-{i}@example.com"
            k, _phones_used = _phones_used, _phones_used + 1
            phone = f"(646) {200 + (k // 10000) % 800}-{k % 10000:04d}"
            payload["questions_and_answers"] = [
                {**qa, "answer": phone} if qa.get("question") == "Phone number" else qa
                for qa in template.get("questions_and_answers") or []
            ]
            body, headers = build_delivery("invitee.created", payload, created_by, KEY, t)
            total += len(body)
            out.write(headers["Calendly-Webhook-Signature"] + "\t" + body.decode("utf-8") + "\n")
    return total / n


def load(wrk: str, app: App, args: argparse.Namespace, bodies: Path, script: Path) -> dict[str, Any]:
    argv = [
        wrk,
        "-t",
        str(args.wrk_threads),
        "-c",
        str(args.connections),
        "-d",
        f"{args.duration}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{app.port}",
        "--",
        app.path,
        str(bodies),
        str(args.wrk_threads),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=args.duration + 120)
    for row in proc.stdout.splitlines():
        if row.startswith(WRK_MARK):
            figures: dict[str, Any] = json.loads(row[len(WRK_MARK) :])
            seconds = figures["duration_us"] / 1e6
            figures["rps"] = figures["requests"] / seconds if seconds else 0.0
            figures["errors"] = figures["connect"] + figures["read"] + figures["write"] + figures["timeout"]
            return figures
    raise RuntimeError(f"wrk printed no figures:\n{proc.stdout}\n{proc.stderr}")


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def print_drain_round(f: dict[str, Any]) -> None:
    held = "yes" if f["complete"] else f"NO ({f['contacts']:,} contacts, {f['events']:,} events)"
    ratio = f["after_ack"] / f["brevo_floor"] if f["brevo_floor"] else float("nan")
    calls = ", ".join(f"{k} {v}" for k, v in f["brevo"].items() if v)
    print(
        f"   {'':<17}Brevo holds all {f['stored']:,}: {held}, {f['after_ack']:.1f} s after the last ack; "
        f"Brevo floor {f['brevo_floor']:.1f} s ({f['limited']} limited calls ÷ {BREVO_LIMIT}/s), ratio {ratio:.2f}; "
        f"{calls}; load {f['load']}",
        flush=True,
    )


def print_drain_table(results: dict[str, list[dict[str, Any]]], drains: list[str]) -> None:
    """Processing during the burst: each drain app against the floor of the same rounds, and Brevo's floor."""

    def med(name: str, key: str) -> float:
        return float(statistics.median(x[key] for x in results[name]))

    print()
    print(
        "   while processing into Brevo (10 req/s) during the burst, medians over the rounds "
        "(× off: against the connector with its worker off, same rounds):"
    )
    print(
        f"   {'app':<11}{'req/s':>9}{'× floor':>9}{'× off':>7}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}"
        f"{'Brevo after ack s':>19}{'Brevo floor s':>15}{'ratio':>8}"
    )
    print(
        f"   {'floor':<11}{med('floor', 'rps'):>9.1f}{1.0:>9.2f}{'':>7}{med('floor', 'p50_us') / 1000:>9.1f}"
        f"{med('floor', 'p99_us') / 1000:>9.1f}{sum(x['non2xx'] for x in results['floor']):>9}"
    )
    for d in drains:
        rps = [x["rps"] / f["rps"] for f, x in zip(results["floor"], results[d], strict=True)]
        off = [x["rps"] / c["rps"] for c, x in zip(results["connector"], results[d], strict=True)]  # worker off
        after = [x["after_ack"] / x["brevo_floor"] for x in results[d] if x["brevo_floor"]]
        incomplete = sum(1 for x in results[d] if not x["complete"])
        print(
            f"   {d:<11}{med(d, 'rps'):>9.1f}{statistics.median(rps):>9.2f}{statistics.median(off):>7.2f}"
            f"{med(d, 'p50_us') / 1000:>9.1f}"
            f"{med(d, 'p99_us') / 1000:>9.1f}{sum(x['non2xx'] for x in results[d]):>9}"
            f"{med(d, 'after_ack'):>19.1f}{med(d, 'brevo_floor'):>15.1f}"
            f"{statistics.median(after) if after else float('nan'):>8.2f}"
            + (f"  ({incomplete} round(s) incomplete!)" if incomplete else "")
        )
        p99 = med(d, "p99_us") / 1000
        print(
            f"   targets ({d}): requests/s ≥ 0.7 × floor: {'met' if statistics.median(rps) >= 0.7 else 'NOT met'}"
            f" ({statistics.median(rps):.2f}×); p99 < 150 ms: {'met' if p99 < 150 else 'NOT met'} ({p99:.1f} ms); "
            f"Brevo within 1.15 × its floor after the last ack: "
            f"{'met' if after and statistics.median(after) <= 1.15 and not incomplete else 'NOT met'}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=3, help="A/B alternations (default 3)")
    parser.add_argument("--duration", type=int, default=15, help="seconds of load per app and round (default 15)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--max-rate", type=int, default=2500, help="bodies per second of load to prepare")
    parser.add_argument(
        "--drain",
        choices=["none", "embedded", "celery", "both"],
        default="none",
        help="also load connectors that process what they acknowledge into a Brevo simulator (10 req/s)",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14", help="the celery app's broker (flushed)")
    parser.add_argument(
        "--pg-prefix", default="bench_floor", help="PostgreSQL scratch databases: PREFIX_bare, PREFIX_connector, …"
    )
    parser.add_argument("--drain-timeout", type=float, default=300.0, help="seconds to wait for Brevo after a round")
    parser.add_argument(
        "--no-import-notify",
        action="store_true",
        help="the draining connectors poll /processes instead of giving imports a notifyUrl (BREVO_IMPORT_NOTIFY)",
    )
    parser.add_argument(
        "--timeline",
        default=None,
        help="append a JSON-lines timeline of the draining connectors (bench/timeline/) to this file",
    )
    args = parser.parse_args()
    drains = {"none": [], "embedded": ["embedded"], "celery": ["celery"], "both": ["embedded", "celery"]}[args.drain]

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connector_site.settings")
    os.environ.setdefault("DATABASE_URL", "sqlite:///:memory:")
    if args.no_import_notify:
        os.environ["BENCH_NO_IMPORT_NOTIFY"] = "1"
    if args.timeline:
        os.environ["BENCH_TIMELINE"] = str(Path(args.timeline).resolve())
    import django

    django.setup()
    wrk = ensure_wrk()
    tmp = Path(tempfile.mkdtemp(prefix="bench-floor-"))
    pg = args.pg_prefix
    pg_names = [f"{pg}_bare", f"{pg}_connector", *(f"{pg}_{d}" for d in drains)]
    if args.db == "sqlite":
        urls = {"floor": f"sqlite:///{tmp}/floor.sqlite3", "connector": f"sqlite:///{tmp}/connector.sqlite3"}
        urls.update({d: f"sqlite:///{tmp}/{d}.sqlite3" for d in drains})
    else:
        for name in pg_names:
            admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin_sql(f'CREATE DATABASE "{name}"')
        urls = {"floor": f"{PG}/{pg}_bare", "connector": f"{PG}/{pg}_connector"}
        urls.update({d: f"{PG}/{pg}_{d}" for d in drains})
    sims = DrainSims() if drains else None
    apps: dict[str, App] = {
        "floor": App("floor", "floor_app.settings", "floor_app.wsgi", urls["floor"], args.workers),
        "connector": App(
            "connector", "connector_site.settings", "connector_site.wsgi", urls["connector"], args.workers
        ),
    }
    for d in drains:
        apps[d] = DrainApp(d, urls[d], args.workers, sims, args.redis_url)
    script = tmp / "floor.lua"
    script.write_text(LUA)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in apps}
    try:
        for app in apps.values():
            app.setup()
            app.start()
        template, created_by = payload_template(sims)
        n_bodies = args.max_rate * args.duration
        print("== webhook acknowledgements: the connector's endpoint vs a bare DRF floor, wrk, alternated A/B")
        print(
            f"   {time.strftime('%Y-%m-%d %H:%M %Z')}, {common.machine()}, commit {common.revision()}, "
            f"database: {args.db} (one scratch database per app, same settings)"
        )
        print(
            f"   gunicorn -w {args.workers} (sync) each; wrk -t{args.wrk_threads} -c{args.connections} "
            f"-d{args.duration}s, distinct signed invitee.created bodies (up to {n_bodies:,} per round); "
            f"connector: CONNECTOR_EMBEDDED_WORKER=false, no broker",
            flush=True,
        )
        if drains:
            print(
                f"   also, processing into a Brevo simulator limited to {BREVO_LIMIT} req/s during the burst: "
                + "; ".join(
                    {
                        "embedded": "embedded = CONNECTOR_EMBEDDED_WORKER=true, no broker (the worker process)",
                        "celery": f"celery = CELERY_BROKER_URL={args.redis_url}, nice -n 10 celery worker -c 2",
                    }[d]
                    for d in drains
                )
            )
        print(f"   load average at start: {loadavg()}", flush=True)
        for r in range(args.rounds):
            order = list(apps) if r % 2 == 0 else list(reversed(apps))
            for name in order:
                app = apps[name]
                bodies = tmp / f"bodies-{name}-{r}.txt"
                tag = f"r{r}{name[0]}"
                mean = write_bodies(bodies, template, created_by, tag, n_bodies)
                before = app.stored()
                if sims is not None:
                    brevo0 = common.calls_snapshot(sims.brevo)
                timeline_mark("load_start", app=name, round=r + 1)
                figures = load(wrk, app, args, bodies, script)
                acked_at = time.monotonic()  # wrk has ended: the last acknowledgement came just before
                timeline_mark("last_ack", app=name, round=r + 1, t=acked_at)
                figures["stored"] = app.stored() - before
                if isinstance(app, DrainApp):
                    assert sims is not None
                    figures.update(
                        wait_for_brevo(sims, f"floor-{tag}-", figures["stored"], acked_at, args.drain_timeout)
                    )
                    timeline_mark("brevo_complete", app=name, round=r + 1, t=acked_at + figures["after_ack"])
                    figures["brevo"] = common.calls_delta(sims.brevo, brevo0, BREVO_ROUTES)
                    figures["limited"] = common.calls_delta(sims.brevo, brevo0, [("l", LIMITED)])["l"]
                    figures["brevo_floor"] = figures["limited"] / BREVO_LIMIT
                    figures["load"] = loadavg()
                figures["body_bytes"] = mean
                figures["wrapped"] = figures["requests"] > n_bodies
                results[name].append(figures)
                bodies.unlink()
                print(
                    f"   round {r + 1} {name:<9} {figures['rps']:8.1f} req/s  p50 {figures['p50_us'] / 1000:7.1f} ms  "
                    f"p99 {figures['p99_us'] / 1000:7.1f} ms  non-2xx {figures['non2xx']}  socket errors "
                    f"{figures['errors']}  stored {figures['stored']:,} of {figures['requests']:,}"
                    + ("  (bodies repeated!)" if figures["wrapped"] else ""),
                    flush=True,
                )
                if isinstance(app, DrainApp):
                    print_drain_round(figures)
        print()
        print(f"   {'':<24}{'floor':>12}{'connector':>12}{'ratio':>9}")

        def med(name: str, key: str) -> float:
            return float(statistics.median(x[key] for x in results[name]))

        rows = [
            ("requests/s (median)", "rps", 1.0, "{:.1f}"),
            ("p50 ms (median)", "p50_us", 1000.0, "{:.1f}"),
            ("p99 ms (median)", "p99_us", 1000.0, "{:.1f}"),
        ]
        for label, key, div, fmt in rows:
            a, b = med("floor", key) / div, med("connector", key) / div
            print(f"   {label:<24}{fmt.format(a):>12}{fmt.format(b):>12}{b / a if a else float('nan'):>8.2f}×")
        for name in ("floor", "connector"):
            bad = sum(x["non2xx"] for x in results[name])
            errs = sum(x["errors"] for x in results[name])
            print(f"   {name:<10} non-2xx {bad}, socket errors {errs}, over {len(results[name])} rounds")
        ratios = [c["rps"] / f["rps"] for f, c in zip(results["floor"], results["connector"], strict=True)]
        p99s = [c["p99_us"] / f["p99_us"] for f, c in zip(results["floor"], results["connector"], strict=True)]
        print(
            f"   per round: requests/s ratio {', '.join(f'{x:.2f}' for x in ratios)}; "
            f"p99 ratio {', '.join(f'{x:.2f}' for x in p99s)}"
        )
        print(
            f"   targets: requests/s ≥ 0.8 × floor: {'met' if statistics.median(ratios) >= 0.8 else 'NOT met'} "
            f"({statistics.median(ratios):.2f}×); p99 ≤ 2 × floor's: "
            f"{'met' if statistics.median(p99s) <= 2 else 'NOT met'} ({statistics.median(p99s):.2f}×)"
        )
        if drains:
            print_drain_table(results, drains)
        print(f"   load average at end: {loadavg()}")
    finally:
        for app in apps.values():
            app.stop()
        if sims is not None:
            sims.stop()
        if args.db == "postgres":
            for name in pg_names:
                with contextlib.suppress(Exception):
                    admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
