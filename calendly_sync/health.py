"""``/healthz`` and ``/readyz``: what a load balancer or an orchestrator asks a server process.

``/healthz`` says the process answers HTTP: no database query, no network call, so a database
outage never gets every server process restarted. ``/readyz`` says this deployment can do its
work: the database answers; with ``CELERY_BROKER_URL`` set the broker accepts a connection; in the
embedded mode (no broker, ``CONNECTOR_EMBEDDED_WORKER``) some server process owns the embedded
worker and its loop turned within ``WORKER_HEARTBEAT_MAX_AGE`` seconds
(:mod:`calendly_sync.runtime.heartbeat`). Both answer JSON; ``/readyz`` answers 503 with the
failed checks and a reason for each, and never a 500.
"""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection

from calendly_sync.conf import app_settings
from calendly_sync.runtime import heartbeat

BROKER_TIMEOUT = 2  # seconds a readiness probe may wait for the broker


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def check_database() -> str | None:
    """None when the default database answers a query, else why not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001  (any failure means "not ready", with its reason)
        return f"database unreachable: {_short(exc)}"
    return None


def check_broker(url: str) -> str | None:
    """None when the Celery broker accepts a connection within :data:`BROKER_TIMEOUT`, else why not."""
    try:
        with Connection(url, connect_timeout=BROKER_TIMEOUT, transport_options={"max_retries": 0}) as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT)
    except Exception as exc:  # noqa: BLE001
        return f"broker unreachable: {_short(exc)}"
    return None


def check_worker_heartbeat() -> str | None:
    """None when the embedded worker's owner beat recently, else why not."""
    try:
        seconds = heartbeat.age()
    except OSError as exc:
        return f"worker heartbeat unreadable: {_short(exc)}"
    limit = app_settings.WORKER_HEARTBEAT_MAX_AGE
    if seconds is None:
        return "no process has run the embedded worker yet (no heartbeat)"
    if seconds > limit:
        return f"the embedded worker's last heartbeat is {seconds:.0f} s old (limit {limit:.0f} s)"
    return None


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive (no database access)."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database, the broker or the worker's heartbeat are fine; 503 with the reasons otherwise."""
    checks: dict[str, str | None] = {"database": check_database()}
    broker_url = app_settings.CELERY_BROKER_URL
    if broker_url:
        checks["broker"] = check_broker(broker_url)
    elif app_settings.CONNECTOR_EMBEDDED_WORKER:
        checks["worker"] = check_worker_heartbeat()
    failed = {name: reason for name, reason in checks.items() if reason}
    body = {
        "status": "unavailable" if failed else "ok",
        "checks": {name: reason or "ok" for name, reason in checks.items()},
    }
    if failed:
        body["reason"] = "; ".join(failed.values())
    return JsonResponse(body, status=503 if failed else 200)
