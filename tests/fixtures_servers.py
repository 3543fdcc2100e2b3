"""Pytest plugin: the connector as a real server process (``runserver`` or gunicorn) and its database.

A server process cannot see the in-memory SQLite database the tests use, so on SQLite the
database alias ``server`` is a file, migrated once per session, that the tests write through
(``.using("server")``) and the server opens by ``DATABASE_URL``; on PostgreSQL ``server`` is a
second connection to the test database itself. Tests that use it commit and say so:
``@pytest.mark.django_db(transaction=True, databases=SERVER_DATABASES)`` (flushed after each test).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.db import connections

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ALIAS = "server"


@dataclass
class ServerDatabase:
    alias: str  # the tests write and read through this alias
    url: str  # the server's DATABASE_URL


SERVER_DATABASES = ["default", ALIAS]


@pytest.fixture(scope="session")
def server_database(
    django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> ServerDatabase:
    """The ``server`` alias, registered once the test databases exist and before a test declares it."""
    default = connections["default"]
    if default.vendor == "postgresql":
        s = default.settings_dict
        # The test database itself; a mirror, so the test flushes it once.
        connections.settings[ALIAS] = {**s, "TEST": {**s["TEST"], "MIRROR": "default"}}
        auth = quote(s["USER"] or "") + (f":{quote(s['PASSWORD'])}" if s["PASSWORD"] else "")
        return ServerDatabase(ALIAS, f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}")
    path = tmp_path_factory.mktemp("server-database") / "server.sqlite3"
    connections.settings[ALIAS] = {**default.settings_dict, "NAME": str(path)}
    with django_db_blocker.unblock():
        call_command("migrate", database=ALIAS, verbosity=0)
        connections[ALIAS].close()
    return ServerDatabase(ALIAS, f"sqlite:///{path}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(db: ServerDatabase, sims: tuple[Any, Any] | None = None, **extra: str) -> dict[str, str]:
    """A production-like environment (DEBUG off, its own SECRET_KEY), embedded mode, pointed at the simulators.

    The test process's SECRET_KEY is kept as a fallback and its FIELD_ENCRYPTION_KEYS passed on, so
    the server decrypts the secrets the test stored.
    """
    from django.conf import settings

    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "GUNICORN_CMD_ARGS")}
    env.update(
        DJANGO_SETTINGS_MODULE="connector_site.settings",
        DATABASE_URL=db.url,
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        SECRET_KEY_FALLBACKS=settings.SECRET_KEY,
        FIELD_ENCRYPTION_KEYS=",".join(settings.FIELD_ENCRYPTION_KEYS),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SITE_URL="https://connector.example.com",  # Calendly (and its simulator) accept https callbacks only
        CONNECTOR_EMBEDDED_WORKER="true",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    if sims is not None:
        calendly_sim, brevo_sim = sims
        env.update(
            CALENDLY_API_URL=calendly_sim.url, CALENDLY_AUTH_URL=calendly_sim.url, BREVO_API_URL=f"{brevo_sim.url}/v3"
        )
    env.update(extra)
    return env


class ServerProcess:
    """A process of ours (in its own session, so stopping it stops its children), its output in a file."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path, port: int | None = None) -> None:
        self.argv = argv
        self.port = port
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 60.0, what: str = "output") -> str:
        """Poll the output until ``predicate`` holds (or the process ends, or the deadline passes)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.output()
            if predicate(text):
                return text
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.argv[:3]} exited ({self.proc.returncode}) before {what}:\n{text[-4000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n{text[-4000:]}")
            time.sleep(0.05)

    def wait_exit(self, timeout: float = 60.0) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


def runserver_argv(port: int) -> list[str]:
    return [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]


def gunicorn_argv(port: int, *options: str) -> list[str]:
    # The access log names the worker process (%(p)s) that answered each request.
    return [
        str(BIN / "gunicorn"),
        "connector_site.wsgi",
        "-b",
        f"127.0.0.1:{port}",
        "--access-logfile",
        "-",
        "--access-logformat",
        "access %(p)s %(s)s %(U)s%(q)s",
        *options,
    ]


@pytest.fixture
def start_server(server_database: ServerDatabase, tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start a process (``start_server(argv, env, port=...)``); every one is stopped after the test,
    before its database is cleaned up."""
    started: list[ServerProcess] = []

    def start(argv: list[str], env: dict[str, str], port: int | None = None) -> ServerProcess:
        server = ServerProcess(argv, env, tmp_path / f"server-{len(started)}.log", port)
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()
