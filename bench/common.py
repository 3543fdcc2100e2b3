"""Shared set-up for the benchmarks in this folder (not a test module: nothing here asserts).

Each benchmark is a plain script (``.venv/bin/python bench/<name>.py [--small]``) that

* configures Django itself: ``connector_site.settings`` with ``DATABASE_URL`` pointing at a fresh
  temporary SQLite file, unless ``DATABASE_URL`` is already set in the environment (then that
  database is used, e.g. PostgreSQL, and the rows the benchmark created are deleted at the end);
* starts the project's own Calendly and Brevo simulators in-process on 127.0.0.1 (ephemeral ports)
  and points ``CALENDLY_API_URL`` / ``CALENDLY_AUTH_URL`` / ``BREVO_API_URL`` at them, so no byte
  leaves the machine;
* turns background processing off (no embedded worker thread, no Celery broker).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import itertools
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from calendly_sync.sync.mapping import PRODUCT_PAGE_MAPPING as PAGE_FIELD_MAPPING  # noqa: E402 (framework-free)

QUESTIONS = ["Company name", "Your role", "Phone number"]
SIGNING_KEY = "bench-key"

# A short id so several runs against the same (PostgreSQL) database never collide on names.
RUN_ID = uuid.uuid4().hex[:8]

_state: dict[str, Any] = {"tmpdir": None, "external_db": False, "connections": []}


# ------------------------------------------------------------------------------------------------
# command line and output
def parse_args(description: str, extra: Iterable[tuple[tuple[str, ...], dict[str, Any]]] = ()) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--small", action="store_true", help="smaller sizes for a quick run")
    for names, kwargs in extra:
        parser.add_argument(*names, **kwargs)
    return parser.parse_args()


def header(title: str, db: str) -> None:
    print(f"== {title}")
    print(
        f"   {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs ({platform.machine()}), database: {db}"
    )
    sys.stdout.flush()


def section(title: str) -> None:
    print(f"\n-- {title}")
    sys.stdout.flush()


def line(label: str, value: str) -> None:
    print(f"   {label:<34} {value}")
    sys.stdout.flush()


def rate(n: float, seconds: float) -> str:
    return f"{n / seconds:,.1f}" if seconds > 0 else "inf"


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list (p in 0..100)."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(p / 100.0 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def latency_summary(ms: list[float]) -> str:
    s = sorted(ms)
    return (
        f"p50 {percentile(s, 50):.2f} ms, p95 {percentile(s, 95):.2f} ms, p99 {percentile(s, 99):.2f} ms, "
        f"max {s[-1]:.2f} ms"
        if s
        else "no samples"
    )


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


# ------------------------------------------------------------------------------------------------
# Django
def setup_django() -> str:
    """Configure and migrate; returns a short description of the database in use."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "connector_site.settings"
    if os.environ.get("DATABASE_URL"):
        _state["external_db"] = True
    else:
        tmpdir = tempfile.mkdtemp(prefix="connector-bench-")
        _state["tmpdir"] = tmpdir
        os.environ["DATABASE_URL"] = f"sqlite:///{tmpdir}/bench.sqlite3"
        atexit.register(shutil.rmtree, tmpdir, True)
    os.environ["CONNECTOR_EMBEDDED_WORKER"] = "false"
    os.environ.setdefault("LOG_LEVEL", "ERROR")  # 429 retries log warnings; the figures count them

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    settings.CONNECTOR_EMBEDDED_WORKER = False  # nothing processes in the background
    settings.CELERY_BROKER_URL = None  # … and nothing goes to a broker either
    call_command("migrate", verbosity=0)
    vendor = connection.vendor
    if vendor == "sqlite":
        where = "temporary file" if _state["tmpdir"] else str(settings.DATABASES["default"]["NAME"])
        return f"SQLite {connection.Database.sqlite_version} ({where})"
    if vendor == "postgresql":
        connection.ensure_connection()
        version = connection.pg_version  # e.g. 160004
        return f"PostgreSQL {version // 10000}.{version % 100} (DATABASE_URL)"
    return f"{vendor} (DATABASE_URL)"


def reset_client_state(brevo_pacing: bool = True) -> None:
    """Fresh Calendly rate limiters and Brevo attribute cache; Brevo pacing on (10 req/s) or off."""
    from calendly_sync.calendly import ratelimit
    from calendly_sync.credentials import clients
    from calendly_sync.push import attributes

    clients.CLIENT_OPTIONS["brevo"] = {} if brevo_pacing else {"requests_per_second": None}
    clients.CLIENT_OPTIONS["calendly"] = {}
    ratelimit.reset_registry()
    attributes._attribute_cache.clear()


def set_brevo_pacing(on: bool) -> None:
    from calendly_sync.credentials import clients

    clients.CLIENT_OPTIONS["brevo"] = {} if on else {"requests_per_second": None}


# ------------------------------------------------------------------------------------------------
# simulators
class Sims:
    """Both simulators in this process, and the settings pointing at them."""

    def __init__(
        self, *, calendly_rate_limit_per_minute: int | None = None, brevo_rate_limit_per_second: int | None = 10
    ) -> None:
        from calendly_sync.sandbox.brevo import BrevoSim
        from calendly_sync.sandbox.calendly import CalendlySim

        self.calendly = CalendlySim(default_token=True, rate_limit_per_minute=calendly_rate_limit_per_minute).start()
        self.brevo = BrevoSim(rate_limit_per_second=brevo_rate_limit_per_second).start()
        self.point_settings()

    def point_settings(self) -> None:
        from django.conf import settings

        settings.CALENDLY_API_URL = self.calendly.url
        settings.CALENDLY_AUTH_URL = self.calendly.url
        settings.BREVO_API_URL = f"{self.brevo.url}/v3"

    def brevo_writes(self) -> int:
        return self.brevo.count(r"^(POST|PUT|PATCH|DELETE) /v3/")

    def brevo_calls(self) -> int:
        return self.brevo.count(r"^\w+ /v3/")

    def stop(self) -> None:
        for sim in (self.calendly, self.brevo):
            with contextlib.suppress(Exception):  # best effort at exit
                sim.stop()


def add_event_type(sim: Any, name: str = "Discovery Call") -> dict[str, Any]:
    return sim.add_event_type(name, QUESTIONS, fire_webhooks=False)


# ------------------------------------------------------------------------------------------------
# data
FIRST = ["Levi", "Madison", "Jordan", "Tyler", "Hannah", "Marcus", "Olivia", "Ethan", "Amelia", "Noah"]
LAST = ["Duncan", "Brooks", "Carter", "Nguyen", "Reyes", "Walker", "Patel", "Kim", "Hughes", "Costa"]
COMPANIES = ["Acme Inc", "Globex GmbH", "Initech", "Umbrella Health", "Hooli", "Pied Piper", "Vandelay Industries"]
ROLES = ["CEO", "Head of Marketing", "Sales Manager", "Founder", "Operations Lead", "CTO", "Growth Marketer"]
AREA_CODES = ["212", "404", "415", "312", "617", "512"]
_phones = itertools.count()


def book_many(
    sim: Any, n: int, event_type_uri: str, *, prefix: str, start: datetime, step_minutes: int = 30
) -> list[dict[str, Any]]:
    """Book ``n`` one-invitee events (no webhooks) with answers to the three questions.

    Like ``calendly_data.bulk_events`` but with realistic answers (company, role, a US phone number
    in local format, unique across the whole run so Brevo never sees a duplicate SMS) and a
    per-scenario e-mail prefix so scenarios create distinct Brevo contacts.
    """
    invitees = []
    for i in range(n):
        k = next(_phones)
        area, number = AREA_CODES[(k // 10000) % len(AREA_CODES)], k % 10000
        qas = [
            {"question": "Company name", "answer": COMPANIES[i % len(COMPANIES)], "position": 0},
            {"question": "Your role", "answer": ROLES[i % len(ROLES)], "position": 1},
            {"question": "Phone number", "answer": f"({area}) 555-{number:04d}", "position": 2},
        ]
        name = f"{FIRST[i % len(FIRST)]} {LAST[(i // len(FIRST)) % len(LAST)]}"
        invitees.append(
            sim.book(
                event_type_uri,
                f"{prefix}{i}@example.com",
                name,
                start + timedelta(minutes=step_minutes * i),
                questions_and_answers=qas,
                timezone="America/Chicago",
                fire_webhooks=False,
            )
        )
    return invitees


def day_start(days_from_now: float) -> datetime:
    base = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return base + timedelta(days=days_from_now)


def make_connection(label: str, event_type: dict[str, Any], list_ids: list[int] | None = None) -> Any:
    """A PAT connection to the simulators with the product page's mapping (event type → list 10)."""
    from calendly_sync.models import Connection, EventTypeMapping, FieldMapping
    from calendly_sync.sandbox.brevo import SANDBOX_API_KEY
    from calendly_sync.sandbox.calendly import SANDBOX_TOKEN

    conn = Connection.objects.create(
        name=f"bench-{label}-{RUN_ID}",
        access_token=SANDBOX_TOKEN,
        brevo_api_key=SANDBOX_API_KEY,
        webhook_signing_key=SIGNING_KEY,
    )
    EventTypeMapping.objects.create(
        connection=conn,
        key="discovery_call",
        event_type_uri=event_type["uri"],
        event_type_name=event_type["name"],
        list_ids=list_ids or [10],
    )
    for i, (source, attribute, kind) in enumerate(PAGE_FIELD_MAPPING):
        FieldMapping.objects.create(
            connection=conn, source=source, attribute=attribute, attribute_type=kind, position=i
        )
    _state["connections"].append(conn.pk)
    return conn


def cleanup() -> None:
    """On a database we did not create, delete the connections we made (rows cascade)."""
    if not _state["external_db"] or not _state["connections"]:
        return
    from calendly_sync.models import Connection

    Connection.objects.filter(pk__in=_state["connections"]).delete()


# ------------------------------------------------------------------------------------------------
# what the benchmarks that start servers (floor.py, webhook_ingest.py) share: ports, the scratch
# PostgreSQL server, the Redis broker, and how Brevo's calls are counted against its limits
PG = "postgres://postgres@127.0.0.1:5432"  # user postgres, trust auth
BREVO_LIMIT = 10  # requests/s, as Brevo limits contacts and events
BREVO_ROUTES = [
    ("POST /contacts", r"^POST /v3/contacts$"),
    ("POST /contacts/import", r"^POST /v3/contacts/import$"),
    ("POST /events", r"^POST /v3/events$"),
    ("POST /events/batch", r"^POST /v3/events/batch$"),
    ("GET /processes/{id}", r"^GET /v3/processes/"),
    ("GET /contacts/attributes", r"^GET /v3/contacts/attributes$"),
    ("POST /contacts/attributes/…", r"^POST /v3/contacts/attributes/"),
]
LIMITED = r"^\w+ /v3/(contacts|events)(/|$)"  # Brevo's rate-limited buckets


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def admin_sql(sql: str) -> None:
    """One statement on the PostgreSQL server's ``postgres`` database (CREATE/DROP DATABASE)."""
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


# ------------------------------------------------------------------------------------------------
# simulators that count the 429s they serve (whatever the cause), for the benchmarks that run
# their simulators with the real limits and measure what reaches the client.
def counting_sims() -> tuple[type, type]:
    """``(CalendlySim, BrevoSim)`` subclasses counting every 429 answer they send.

    ``served_429`` counts all of them; ``first_call_429`` counts the 429s that answered the first
    call after ``mark()`` (the only call of a run that cannot know the limit from headers yet).
    """
    from calendly_sync.sandbox.brevo import BrevoSim
    from calendly_sync.sandbox.calendly import CalendlySim

    class _Counting:
        served_429 = 0
        first_call_429 = 0
        _since_mark = 0
        _mark_at = 0.0

        def mark(self) -> None:
            """Start of a run: reset the call index and the 429 log (``log_429``)."""
            with self.lock:  # type: ignore[attr-defined]
                self._since_mark = 0
                self._mark_at = time.monotonic()
                self.log_429: list[tuple[float, int, str]] = []  # (seconds since mark, call index, route)

        def handle(self, req):  # type: ignore[no-untyped-def]
            with self.lock:  # type: ignore[attr-defined]
                self._since_mark += 1
                index = self._since_mark
            resp = super().handle(req)  # type: ignore[misc]
            if resp.status == 429:
                with self.lock:  # type: ignore[attr-defined]
                    self.served_429 += 1
                    if index == 1:
                        self.first_call_429 += 1
                    log = getattr(self, "log_429", None)
                    if log is not None:
                        log.append((time.monotonic() - self._mark_at, index, f"{req.method} {req.path}"))
            return resp

    class CountingCalendlySim(_Counting, CalendlySim):
        pass

    class CountingBrevoSim(_Counting, BrevoSim):
        pass

    return CountingCalendlySim, CountingBrevoSim


def add_latency(sim: Any, seconds: float) -> None:
    """Every call to ``sim`` (any route) sleeps ``seconds`` before it is handled (a latency fault)."""
    from calendly_sync.sandbox.httpbase import Fault

    sim.inject(Fault("latency", route=None, seconds=seconds, times=None))


def calls_snapshot(sim: Any) -> dict[str, int]:
    with sim.lock:
        return dict(sim.calls)


def calls_delta(sim: Any, before: dict[str, int], patterns: list[tuple[str, str]]) -> dict[str, int]:
    """Calls since ``before``, grouped by the first matching (label, regex); unmatched → "other"."""
    import re

    out: dict[str, int] = {label: 0 for label, _ in patterns}
    out["other"] = 0
    compiled = [(label, re.compile(rx)) for label, rx in patterns]
    for key, n in calls_snapshot(sim).items():
        d = n - before.get(key, 0)
        if d <= 0:
            continue
        for label, rx in compiled:
            if rx.search(key):
                out[label] += d
                break
        else:
            out["other"] += d
    return out


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB: ``VmHWM`` from /proc/self/status.

    Why not ``ru_maxrss`` alone: Linux keeps ``ru_maxrss`` across ``execve``, so a child started by
    a large parent (here the one holding the simulators) reports at least the parent's RSS at fork
    time. ``VmHWM`` belongs to the new address space, so it is the child's own peak. Falls back to
    ``ru_maxrss`` (KB on Linux) where /proc is missing.
    """
    try:
        with open("/proc/self/status") as f:
            for row in f:
                if row.startswith("VmHWM:"):
                    return int(row.split()[1]) / 1024.0
    except OSError:
        pass
    return ru_maxrss_mb()


def ru_maxrss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "")
    except OSError:
        model = ""
    return f"{os.cpu_count()} CPUs{' (' + model + ')' if model else ''}, Python {platform.python_version()}"


def revision() -> str:
    """The product's git commit (short), with "+changes" when its files (bench/ aside) differ from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return (head or "unknown") + ("+changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
