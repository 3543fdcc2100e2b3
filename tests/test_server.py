"""A server process as it starts: it refuses the development SECRET_KEY, and its embedded worker starts with it.

Real server processes (``runserver --noreload``, gunicorn) on a database shared with the test; the
simulated Calendly and Brevo run in this process. No webhook arrives unless a test sends one. The
embedded worker is a process of its own (``python -m calendly_sync.runtime``), started, restarted
and ended by the server process that owns the work.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from calendly_sync.calendly.events import SUBSCRIBED_EVENTS
from calendly_sync.conf import INSECURE_DEFAULT_SECRET_KEY
from calendly_sync.models import Connection, WebhookDelivery
from calendly_sync.server import refuse_insecure_secret_key
from calendly_sync.views import idempotency_key
from tests.conftest import create_connection
from tests.fixtures_servers import ROOT, SERVER_DATABASES, free_port, gunicorn_argv, runserver_argv, server_env
from tests.test_tasks import signed_booking, wait_until

OWNER = re.compile(r"embedded worker: process (\d+) runs the background work")
STANDING_BY = re.compile(r"embedded worker: another server process runs the background work; process (\d+) only")
WORKER_PROCESS = re.compile(r"embedded worker process (\d+) started for server process (\d+)")
ACCESS = re.compile(r"^access (?:<)?(\d+)(?:>)? (\d{3}) (\S+)$", re.MULTILINE)


def owners(text: str) -> list[int]:
    return [int(pid) for pid in OWNER.findall(text)]


def standing_by(text: str) -> list[int]:
    return [int(pid) for pid in STANDING_BY.findall(text)]


def worker_processes(text: str) -> list[tuple[int, int]]:
    """``(worker process, its server process)`` for every worker process started, in order."""
    return [(int(worker), int(server)) for worker, server in WORKER_PROCESS.findall(text)]


def gone(pid: int) -> bool:
    """The process has ended (a zombie whose parent died and that nobody reaped yet counts as ended)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def store_delivery(
    alias: str, connection: Connection, sims: tuple[Any, Any], event_types: dict, email: str, **fields: Any
):
    """A delivery as a server process left it (committed; maybe claimed by a process that then died)."""
    body, _ = signed_booking(sims[0], event_types, email)
    envelope = json.loads(body)
    return WebhookDelivery.objects.using(alias).create(
        connection=connection,
        event="invitee.created",
        idempotency_key=idempotency_key(connection.pk, envelope),
        payload=envelope,
        invitee_uri=envelope["payload"]["uri"],
        email=email,
        **fields,
    )


def statuses(alias: str) -> dict[str, str]:
    return dict(WebhookDelivery.objects.using(alias).values_list("email", "status"))


# --- The embedded worker starts with the server ------------------------------------------------------


@pytest.mark.django_db(transaction=True, databases=SERVER_DATABASES)
def test_a_restarted_server_applies_what_was_left_before_any_webhook(server_database, start_server, sims, event_types):
    """After a deploy: a delivery left pending and one a crash left ``processing`` are applied at start."""
    alias = server_database.alias
    _, brevo_sim = sims
    connection = create_connection(event_types, using=alias)
    store_delivery(alias, connection, sims, event_types, "pending@example.com")
    store_delivery(
        alias,
        connection,
        sims,
        event_types,
        "crashed@example.com",
        status=WebhookDelivery.Status.PROCESSING,
        next_attempt_at=timezone.now() - timedelta(hours=1),  # claimed an hour ago by a process that died
    )

    server = start_server(runserver_argv(free_port()), server_env(server_database, sims))

    wait_until(
        lambda: set(statuses(alias).values()) == {"processed"}, timeout=60.0, what="both deliveries, with no webhook"
    )
    assert brevo_sim.get_contact("pending@example.com") and brevo_sim.get_contact("crashed@example.com")
    assert owners(server.output()) == [server.pid]
    [(worker, parent)] = worker_processes(server.output())
    assert parent == server.pid and worker != server.pid  # the work ran in a process of its own


@pytest.mark.django_db(transaction=True, databases=SERVER_DATABASES)
def test_a_subscription_calendly_disabled_is_repaired_at_start(
    server_database, start_server, sims, event_types, calendly_client
):
    """No webhook can arrive through a disabled subscription: the server's start is what repairs it."""
    alias = server_database.alias
    calendly_sim, _ = sims
    connection = create_connection(event_types, using=alias)
    url = f"https://connector.example.com/webhooks/calendly/{connection.pk}/"
    sub = calendly_client.create_webhook_subscription(
        url=url,
        events=list(SUBSCRIBED_EVENTS),
        organization=calendly_sim.org["uri"],
        scope="organization",
        signing_key="test-signing-key",
    )
    Connection.objects.using(alias).filter(pk=connection.pk).update(
        webhook_subscription_uri=sub["uri"],
        webhook_subscription_state="active",
        webhook_callback_url=url,
        webhook_scope="organization",
    )
    calendly_sim.disable_subscription(sub["uri"])  # during an outage, while the server was down

    start_server(runserver_argv(free_port()), server_env(server_database, sims))

    def repaired() -> bool:
        # (the new signing key is encrypted with the server's key: read the URI alone)
        uri = Connection.objects.using(alias).values_list("webhook_subscription_uri", flat=True).get(pk=connection.pk)
        hooks = [
            (h["uri"], h["state"], h["callback_url"])
            for h in map(calendly_sim.render, calendly_sim.subscriptions.values())
        ]
        return uri != sub["uri"] and hooks == [(uri, "active", url)]

    wait_until(repaired, timeout=60.0, what="the subscription recreated, with no webhook")


@pytest.mark.django_db(transaction=True, databases=SERVER_DATABASES)
def test_runserver_starts_the_worker_in_the_process_that_serves(server_database, start_server):
    """With the autoreloader, ``runserver`` is two processes: the parent only restarts the child."""
    server = start_server(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{free_port()}"], server_env(server_database)
    )
    text = server.wait_for(lambda t: worker_processes(t), timeout=60.0, what="the embedded worker process")
    [owner] = owners(text)
    assert owner != server.pid and standing_by(text) == []
    [(worker, parent)] = worker_processes(text)
    assert parent == owner and parent_of(worker) == owner


@pytest.mark.django_db(transaction=True, databases=SERVER_DATABASES)
def test_the_asgi_application_starts_the_worker_too(server_database):
    load = (
        "import os, connector_site.asgi; from calendly_sync.runtime.process import worker_supervisor; "
        "s = worker_supervisor(); print('owner', s.child.pid if s.running.wait(30) else 0, os.getpid())"
    )
    env = server_env(server_database)
    done = subprocess.run([sys.executable, "-c", load], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    word, worker, loader = done.stdout.split()
    assert word == "owner" and int(worker) not in (0, int(loader)), done.stderr
    wait_until(lambda: gone(int(worker)), timeout=30.0, what="the worker process ending with the interpreter")
    env["SECRET_KEY"], env["SECRET_KEY_FALLBACKS"] = INSECURE_DEFAULT_SECRET_KEY, ""
    done = subprocess.run([sys.executable, "-c", load], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "Refusing to serve" in done.stderr


@pytest.mark.django_db(transaction=True, databases=SERVER_DATABASES)
def test_management_commands_do_not_start_the_worker(server_database, sims, event_types):
    """``migrate``, ``check`` and ``shell`` set Django up as a server does, but serve nothing: no worker."""
    alias = server_database.alias
    connection = create_connection(event_types, using=alias)
    store_delivery(alias, connection, sims, event_types, "waiting@example.com")
    env = server_env(server_database, sims)
    show_threads = "import threading; print('threads:', sorted(t.name for t in threading.enumerate()))"
    for command in (["migrate", "--noinput"], ["check"], ["shell", "--no-imports", "-c", show_threads]):
        done = subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert "embedded worker" not in done.stdout + done.stderr, command
    assert "threads: ['MainThread']" in done.stdout
    assert statuses(alias) == {"waiting@example.com": "pending"}


def post_delivery(port: int, connection: Connection, sims: tuple[Any, Any], event_types: dict, email: str, n: int):
    """Sign and post one booking's webhook on a fresh connection; (delivery id, when acknowledged)."""
    from calendly_sync.sandbox.signing import sign

    body, _ = signed_booking(sims[0], event_types, email)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": "application/json", "Calendly-Webhook-Signature": sign(body, "test-signing-key")}
        conn.request("POST", f"/webhooks/calendly/{connection.pk}/?n={n}", body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    assert resp.status == 200, data
    return json.loads(data)["id"], time.monotonic()


def answered_by(server: Any, n: int) -> int:
    """The worker process that answered request ``n`` (gunicorn's access log)."""
    text = server.wait_for(lambda t: f"/n={n}\n" in t, timeout=10.0, what=f"the access log line of request {n}")
    return next(int(pid) for pid, _status, path in ACCESS.findall(text) if path.endswith(f"/n={n}"))


@pytest.mark.parametrize("preload", [False, True], ids=["fork-then-load", "preload"])
@pytest.mark.django_db(transaction=True, databases=SERVER_DATABASES)
def test_one_gunicorn_worker_owns_the_work_and_all_acknowledge(
    server_database, start_server, sims, event_types, preload
):
    """Two gunicorn workers: one owns the embedded worker (never the master, even with ``--preload``),
    both acknowledge, and what the other one acknowledged is applied within a couple of seconds. When
    the owner dies, a surviving or a new worker takes over."""
    alias = server_database.alias
    _, brevo_sim = sims
    connection = create_connection(event_types, using=alias)
    port = free_port()
    server = start_server(
        gunicorn_argv(port, "-w", "2", *(["--preload"] if preload else [])), server_env(server_database, sims)
    )
    text = server.wait_for(
        lambda t: len(owners(t)) + len(standing_by(t)) >= 2, timeout=60.0, what="both workers' embedded workers"
    )
    assert len(owners(text)) == 1 and len(standing_by(text)) == 1, text
    [owner] = owners(text)
    assert server.pid not in {owner, *standing_by(text)}  # the master serves nothing and owns nothing

    answered: dict[int, list[tuple[int, float]]] = {}
    n = 0
    deadline = time.monotonic() + 60.0
    while len(answered) < 2:  # until both workers have acknowledged a delivery
        assert time.monotonic() < deadline, f"only process(es) {sorted(answered)} answered"
        n += 1
        delivery_id, acked_at = post_delivery(port, connection, sims, event_types, f"ack{n}@example.com", n)
        answered.setdefault(answered_by(server, n), []).append((delivery_id, acked_at))
    assert set(answered) == {owner, *standing_by(text)}

    # A delivery the non-owner acknowledged: the owner finds it by polling, not a sweep 30 s later.
    delivery_id, acked_at = answered[standing_by(text)[0]][-1]
    wait_until(
        lambda: WebhookDelivery.objects.using(alias).get(pk=delivery_id).status == "processed",
        timeout=5.0,
        what="the delivery the non-owner acknowledged",
    )
    took = time.monotonic() - acked_at
    wait_until(lambda: set(statuses(alias).values()) == {"processed"}, timeout=10.0, what="every delivery")
    assert all(brevo_sim.get_contact(f"ack{i}@example.com") for i in range(1, n + 1))
    print(f"non-owner's delivery applied {took:.2f} s after its acknowledgement")

    text = server.wait_for(lambda t: worker_processes(t), timeout=60.0, what="the owner's worker process")
    [(killed, parent)] = worker_processes(text)
    assert parent == owner and killed not in {server.pid, owner, *standing_by(text)}
    # Its worker process dies: the owner (a gunicorn worker, which inherited its master's SIGCHLD
    # handler) starts another and keeps serving.
    os.kill(killed, signal.SIGKILL)
    text = server.wait_for(lambda t: len(worker_processes(t)) >= 2, timeout=60.0, what="a new worker process")
    [_, (worker, parent)] = worker_processes(text)
    assert parent == owner and worker != killed and owners(text) == [owner]
    assert f"Worker (pid:{killed})" not in text  # gunicorn's master handler did not take it for one of its own
    n += 1
    post_delivery(port, connection, sims, event_types, "restarted@example.com", n)
    wait_until(
        lambda: statuses(alias).get("restarted@example.com") == "processed", timeout=15.0, what="after the restart"
    )

    os.kill(owner, signal.SIGKILL)  # the owner dies; gunicorn starts a new worker
    text = server.wait_for(lambda t: len(worker_processes(t)) >= 3, timeout=60.0, what="another process taking over")
    assert owners(text)[-1] != owner
    assert worker_processes(text)[-1][1] == owners(text)[-1]
    wait_until(lambda: gone(worker), timeout=30.0, what="the dead owner's worker process to end")
    n += 1
    post_delivery(port, connection, sims, event_types, "after@example.com", n)
    wait_until(
        lambda: statuses(alias).get("after@example.com") == "processed", timeout=15.0, what="a delivery after takeover"
    )


# --- The worker process: restarted when it dies, gone when its server is --------------------------------


@pytest.mark.django_db(transaction=True, databases=SERVER_DATABASES)
def test_the_worker_process_is_restarted_when_it_dies(server_database, start_server, sims, event_types):
    """Killed outright, the worker process is started again by its server, and deliveries keep reaching Brevo."""
    alias = server_database.alias
    _, brevo_sim = sims
    connection = create_connection(event_types, using=alias)
    port = free_port()
    server = start_server(runserver_argv(port), server_env(server_database, sims))
    text = server.wait_for(lambda t: worker_processes(t), timeout=60.0, what="the worker process")
    [(first, parent)] = worker_processes(text)
    assert parent == server.pid and first != server.pid and parent_of(first) == server.pid
    # It yields the CPU to the server's requests (a lower scheduling priority).
    assert os.getpriority(os.PRIO_PROCESS, first) > os.getpriority(os.PRIO_PROCESS, server.pid)
    post_delivery(port, connection, sims, event_types, "before@example.com", 1)
    wait_until(lambda: statuses(alias) == {"before@example.com": "processed"}, timeout=15.0, what="a first delivery")

    os.kill(first, signal.SIGKILL)
    text = server.wait_for(lambda t: len(worker_processes(t)) >= 2, timeout=60.0, what="a new worker process")
    [_, (second, parent)] = worker_processes(text)
    assert parent == server.pid and second != first and gone(first)
    assert f"worker process {first} of server process {server.pid} ended" in text
    post_delivery(port, connection, sims, event_types, "after@example.com", 2)
    wait_until(
        lambda: statuses(alias).get("after@example.com") == "processed", timeout=15.0, what="a delivery after restart"
    )
    assert brevo_sim.get_contact("before@example.com") and brevo_sim.get_contact("after@example.com")
    assert owners(server.output()) == [server.pid]  # the server kept ownership throughout


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
@pytest.mark.django_db(transaction=True, databases=SERVER_DATABASES)
def test_the_worker_process_ends_with_its_server(server_database, start_server, how):
    """No orphan: however the server process ends (``SIGKILL`` included), its worker process ends too."""
    server = start_server(runserver_argv(free_port()), server_env(server_database))
    text = server.wait_for(lambda t: worker_processes(t), timeout=60.0, what="the worker process")
    [(worker, _)] = worker_processes(text)
    assert not gone(worker)
    os.kill(server.pid, how)  # the server alone, not its process group
    server.wait_exit(timeout=30.0)
    wait_until(lambda: gone(worker), timeout=30.0, what=f"the worker process {worker} to end after its server")


# --- The development SECRET_KEY never serves ---------------------------------------------------------


def test_the_development_secret_key_is_refused_outside_debug(settings):
    settings.SECRET_KEY = INSECURE_DEFAULT_SECRET_KEY
    settings.DEBUG = False
    with pytest.raises(Exception, match="SECRET_KEY environment variable"):
        refuse_insecure_secret_key()
    settings.DEBUG = True
    refuse_insecure_secret_key()  # local development
    settings.DEBUG = False
    settings.SECRET_KEY = "a-real-secret-key-" + "x" * 40
    refuse_insecure_secret_key()


@pytest.mark.django_db(transaction=True, databases=SERVER_DATABASES)
def test_servers_refuse_the_development_secret_key_but_commands_run(server_database, start_server):
    env = server_env(server_database, SECRET_KEY=INSECURE_DEFAULT_SECRET_KEY, SECRET_KEY_FALLBACKS="")
    for argv in (runserver_argv(free_port()), gunicorn_argv(free_port(), "-w", "1")):
        server = start_server(argv, env)
        assert server.wait_exit(timeout=60.0) != 0
        assert "Refusing to serve: SECRET_KEY is the built-in development key" in server.output()
        assert "SECRET_KEY environment variable" in server.output()
    for command in (["migrate", "--noinput"], ["check"]):
        done = subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
    assert "calendly_sync.W001" in done.stderr  # check still says so


def _request(port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body or None, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.mark.django_db(transaction=True, databases=SERVER_DATABASES)
def test_deliveries_skip_the_page_middleware_and_pages_keep_it(server_database, start_server, sims, event_types):
    """Through gunicorn and ``connector_site.wsgi``: a webhook POST is answered without sessions,
    CSRF, security or frame headers (it is signed and read by a machine) but keeps its request id; a
    page keeps every header; a path the webhook view does not own goes through the whole stack."""
    from calendly_sync.sandbox.signing import sign

    alias = server_database.alias
    connection = create_connection(event_types, using=alias)
    port = free_port()
    server = start_server(gunicorn_argv(port, "-w", "1"), server_env(server_database, sims))
    server.wait_for(owners, timeout=60.0, what="the application loaded in gunicorn's worker")
    body, _ = signed_booking(sims[0], event_types, "headers@example.com")
    signed = {"Content-Type": "application/json", "Calendly-Webhook-Signature": sign(body, "test-signing-key")}

    status, headers, data = _request(port, "POST", f"/webhooks/calendly/{connection.pk}/", body, signed)
    assert status == 200 and json.loads(data)["status"] == "accepted"
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])
    for page_header in ("x-frame-options", "x-content-type-options", "referrer-policy", "set-cookie"):
        assert page_header not in headers, (page_header, headers)
    assert int(headers["content-length"]) == len(data) and "transfer-encoding" not in headers
    status, headers, _ = _request(port, "POST", "/webhooks/calendly/", body, {**signed, "X-Request-ID": "proxy-1"})
    assert status == 200 and headers["x-request-id"] == "proxy-1"  # the proxy's id is kept here too

    status, headers, _ = _request(port, "GET", "/admin/login/")
    assert status == 200 and headers["x-frame-options"] == "DENY" and "x-request-id" in headers
    assert headers["x-content-type-options"] == "nosniff" and "csrftoken" in headers["set-cookie"]
    status, headers, _ = _request(port, "POST", "/webhooks/calendly/not-an-id/", body, signed)
    assert status == 404 and headers["x-frame-options"] == "DENY"
    status, headers, _ = _request(port, "GET", f"/webhooks/calendly/{connection.pk}/")
    assert status == 405 and headers["x-frame-options"] == "DENY"  # not a delivery: the whole stack
