"""/healthz answers without the database; /readyz answers 503 with a reason when the database, the
broker or the embedded worker's heartbeat is missing, 200 otherwise."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from calendly_sync.runtime import heartbeat
from calendly_sync.runtime import worker as worker_module
from calendly_sync.runtime.locks import ProcessOwnership
from tests.test_tasks import wait_until

ROOT = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.django_db
def test_healthz_answers_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_ok_when_the_database_answers(client, settings):
    settings.CELERY_BROKER_URL = None
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}


@pytest.mark.django_db
def test_readyz_is_ok_when_the_broker_answers(client, settings):
    settings.CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "memory://"
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def test_readyz_answers_503_with_a_reason_when_the_database_is_down():
    """A real failure: a process whose DATABASE_URL points at a port where no PostgreSQL listens."""
    script = (
        "import json, django; django.setup()\n"
        "from django.test.utils import setup_test_environment; setup_test_environment()\n"
        "from django.test import Client\n"
        "r = Client().get('/readyz')\n"
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "connector_site.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{closed_port()}/nowhere",
        "CELERY_BROKER_URL": "",
        "CONNECTOR_EMBEDDED_WORKER": "false",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["status"] == 503
    assert answer["body"]["status"] == "unavailable"
    assert answer["body"]["checks"]["database"].startswith("database unreachable: OperationalError")
    assert "database unreachable" in answer["body"]["reason"]


@pytest.mark.django_db
def test_readyz_answers_503_when_the_broker_is_down(client, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"
    started = time.monotonic()
    response = client.get("/readyz")
    assert time.monotonic() - started < 15  # a probe's answer, not a hang
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["broker"].startswith("broker unreachable")
    assert body["reason"] == body["checks"]["broker"]


@pytest.mark.django_db
def test_readyz_wants_a_recent_heartbeat_of_the_embedded_worker(client, settings, tmp_path):
    settings.CELERY_BROKER_URL = None
    settings.CONNECTOR_EMBEDDED_WORKER = True
    settings.WORKER_HEARTBEAT_FILE = str(tmp_path / "worker.heartbeat")
    settings.WORKER_HEARTBEAT_MAX_AGE = 60

    response = client.get("/readyz")
    assert response.status_code == 503
    assert "no heartbeat" in response.json()["checks"]["worker"]

    heartbeat.beat()
    assert client.get("/readyz").status_code == 200

    old = time.time() - 300
    os.utime(heartbeat.heartbeat_path(), (old, old))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "heartbeat is 300 s old" in response.json()["reason"]


@pytest.mark.django_db(transaction=True)
def test_the_owner_of_the_embedded_worker_beats(client, settings, tmp_path):
    settings.CELERY_BROKER_URL = None
    settings.CONNECTOR_EMBEDDED_WORKER = True
    settings.WORKER_HEARTBEAT_FILE = str(tmp_path / "worker.heartbeat")
    worker = worker_module.EmbeddedWorker(sweep_interval=300.0, ownership=ProcessOwnership)
    worker.start()
    try:
        wait_until(lambda: heartbeat.age() is not None, timeout=10.0, what="the first heartbeat")
        assert client.get("/readyz").status_code == 200
    finally:
        worker.stop()


@pytest.mark.django_db
def test_the_probes_are_not_redirected_to_https(client, settings):
    settings.CELERY_BROKER_URL = None
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/admin/").status_code == 301  # everything else still is


@pytest.mark.django_db
def test_a_heartbeat_that_cannot_be_written_never_stops_the_work(client, settings, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(heartbeat, "_warned", False)  # logged once per process
    settings.CELERY_BROKER_URL = None
    settings.CONNECTOR_EMBEDDED_WORKER = True
    settings.WORKER_HEARTBEAT_FILE = str(tmp_path / "no-such-directory" / "worker.heartbeat")
    heartbeat.beat()  # does not raise
    assert "cannot write its heartbeat" in caplog.text
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "no heartbeat" in response.json()["reason"]
