"""Benchmark: the connector's webhook endpoint against a bare floor, side by side, loaded by wrk.

    .venv/bin/python bench/floor.py [--db sqlite|postgres] [--rounds R] [--duration S]
                                    [--connections C] [--wrk-threads T] [--workers W]

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
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common

BENCH = Path(__file__).resolve().parent
PG = "postgres://postgres@127.0.0.1:5432"
KEY = "bench-key"
WRK_MARK = "@@WRK "

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def admin_sql(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(sql)


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


def payload_template() -> tuple[dict[str, Any], str]:
    """One ``invitee.created`` payload exactly as the Calendly simulator renders it, and its creator."""
    from calendly_sync.sandbox.calendly import CalendlySim

    sim = CalendlySim(default_token=True).start()
    try:
        et = common.add_event_type(sim)
        [inv] = common.book_many(sim, 1, et["uri"], prefix="floor-", start=common.day_start(1))
        uuid = inv["uri"].rstrip("/").rsplit("/", 1)[-1]
        return sim.render(sim._invitee_payload(sim.invitees[uuid])), sim.admin["uri"]
    finally:
        sim.stop()


def write_bodies(path: Path, template: dict[str, Any], created_by: str, tag: str, n: int) -> float:
    """``n`` distinct signed bodies (``signature<TAB>body`` lines), signed now; mean body bytes."""
    from calendly_sync.sandbox.signing import build_delivery

    t = int(time.time())
    base = template["uri"].rstrip("/").rsplit("/", 1)[0]
    total = 0
    with path.open("w") as out:
        for i in range(n):
            payload = copy.copy(template)
            payload["uri"] = f"{base}/{tag}-{i:06d}"
            payload["email"] = f"floor-{tag}-{i}@example.com"
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=3, help="A/B alternations (default 3)")
    parser.add_argument("--duration", type=int, default=15, help="seconds of load per app and round (default 15)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--max-rate", type=int, default=2500, help="bodies per second of load to prepare")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connector_site.settings")
    os.environ.setdefault("DATABASE_URL", "sqlite:///:memory:")
    import django

    django.setup()
    wrk = ensure_wrk()
    tmp = Path(tempfile.mkdtemp(prefix="bench-floor-"))
    if args.db == "sqlite":
        urls = {"floor": f"sqlite:///{tmp}/floor.sqlite3", "connector": f"sqlite:///{tmp}/connector.sqlite3"}
    else:
        for name in ("bench_floor_bare", "bench_floor_connector"):
            admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin_sql(f'CREATE DATABASE "{name}"')
        urls = {"floor": f"{PG}/bench_floor_bare", "connector": f"{PG}/bench_floor_connector"}
    apps = {
        "floor": App("floor", "floor_app.settings", "floor_app.wsgi", urls["floor"], args.workers),
        "connector": App(
            "connector", "connector_site.settings", "connector_site.wsgi", urls["connector"], args.workers
        ),
    }
    script = tmp / "floor.lua"
    script.write_text(LUA)
    results: dict[str, list[dict[str, Any]]] = {"floor": [], "connector": []}
    try:
        for app in apps.values():
            app.setup()
            app.start()
        template, created_by = payload_template()
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
        for r in range(args.rounds):
            order = ["floor", "connector"] if r % 2 == 0 else ["connector", "floor"]
            for name in order:
                app = apps[name]
                bodies = tmp / f"bodies-{name}-{r}.txt"
                mean = write_bodies(bodies, template, created_by, f"r{r}{name[0]}", n_bodies)
                before = app.stored()
                figures = load(wrk, app, args, bodies, script)
                figures["stored"] = app.stored() - before
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
    finally:
        for app in apps.values():
            app.stop()
        if args.db == "postgres":
            for name in ("bench_floor_bare", "bench_floor_connector"):
                with contextlib.suppress(Exception):
                    admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
