"""The embedded worker's heartbeat: a file its owner touches on every loop, read by ``/readyz``.

Of the server processes of a deployment, one owns the embedded worker (:mod:`.locks`). A lock tells
that some process owns the work, not that its loop still turns (a sweep stuck on a hung call holds
the lock forever). So the owner touches a file on every turn of its loop (at least once a second
while idle, :data:`calendly_sync.runtime.worker.POLL_INTERVAL`), and ``/readyz`` checks that the file
was touched within ``WORKER_HEARTBEAT_MAX_AGE`` seconds. A file rather than a row: no write to the
database every second, and it works the same on SQLite and PostgreSQL for the processes of one host
(the embedded mode's deployment; several hosts run Celery, where ``/readyz`` checks the broker).

Where: ``WORKER_HEARTBEAT_FILE``, else beside the SQLite database (``db.sqlite3-worker.heartbeat``,
next to the ownership lock), else in the temporary directory, named after the database.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
from pathlib import Path

from django.db import connection

from calendly_sync.conf import app_settings

log = logging.getLogger(__name__)
_warned = False  # the failure to write the heartbeat is logged once per process


def heartbeat_path() -> Path:
    """The heartbeat file of this deployment (every process of it computes the same path)."""
    if app_settings.WORKER_HEARTBEAT_FILE:
        return Path(app_settings.WORKER_HEARTBEAT_FILE)
    name = str(connection.settings_dict["NAME"])
    if connection.vendor == "sqlite" and name != ":memory:" and "mode=memory" not in name:
        return Path(f"{name}-worker.heartbeat")
    host = str(connection.settings_dict.get("HOST") or "local")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{connection.vendor}-{host}-{name}")
    return Path(tempfile.gettempdir()) / f"calendly_sync-{slug}-worker.heartbeat"


def beat() -> None:
    """Record that the owner's loop turned just now (and which process it is, for an operator).

    Never raises: a heartbeat that cannot be written (a read-only directory) must not stop the work;
    it is logged once, and ``/readyz`` then says the heartbeat is missing or old.
    """
    global _warned
    path = heartbeat_path()
    try:
        try:
            os.utime(path)
        except FileNotFoundError:
            path.write_text(f"{os.getpid()}\n")
    except OSError as exc:
        if not _warned:
            log.warning("embedded worker: cannot write its heartbeat %s (%s); set WORKER_HEARTBEAT_FILE", path, exc)
            _warned = True


def age() -> float | None:
    """Seconds since the last heartbeat, or None when no owner ever beat."""
    try:
        return max(0.0, time.time() - heartbeat_path().stat().st_mtime)
    except FileNotFoundError:
        return None
