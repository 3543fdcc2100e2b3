"""``scripts/dev.py``: the sandbox as a new user runs it (``run``, ``manage``), in real processes.

These tests start ``dev.py`` the way the README says, on free ports, with its state in a temporary
folder and the interpreter running the tests (``DEV_PYTHON``, so no virtual environment is built).
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from calendly_sync.sandbox.brevo import BrevoSim
from calendly_sync.sandbox.calendly import SANDBOX_TOKEN, CalendlySim
from tests.processes import free_port, group_alive, kill_group, listening, wait_until

ROOT = Path(__file__).resolve().parents[2]
DEV = str(ROOT / "scripts" / "dev.py")
# what a developer's shell (or CI) may have set that must not leak into the sandbox under test
FOREIGN = ("DATABASE_URL", "CELERY_BROKER_URL", "SITE_URL", "CALENDLY_", "BREVO_", "SANDBOX_", "CONNECTOR_")


class Sandbox:
    """One sandbox's settings: ports, state folder, and the environment ``dev.py`` gets."""

    def __init__(self, tmp_path: Path, calendly_port: int | None = None, brevo_port: int | None = None) -> None:
        self.calendly_port = calendly_port or free_port()
        self.brevo_port = brevo_port or free_port()
        self.connector_port = free_port()
        self.state_dir = tmp_path / "state"
        self.log = tmp_path / "dev.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN)}
        self.env.update(
            DEV_PYTHON=sys.executable,
            CONNECTOR_SANDBOX="1",  # even if a .env holds real credentials
            CONNECTOR_ADDR=f"127.0.0.1:{self.connector_port}",
            SANDBOX_CALENDLY_PORT=str(self.calendly_port),
            SANDBOX_BREVO_PORT=str(self.brevo_port),
            SANDBOX_STATE_DIR=str(self.state_dir),
            PYTHONUNBUFFERED="1",
        )
        self.calendly = f"http://127.0.0.1:{self.calendly_port}"
        self.brevo = f"http://127.0.0.1:{self.brevo_port}"
        self.connector = f"http://127.0.0.1:{self.connector_port}"

    @property
    def ports(self) -> list[int]:
        return [self.connector_port, self.calendly_port, self.brevo_port]

    def start(self) -> subprocess.Popen[bytes]:
        """``python3 scripts/dev.py run``, until the connector answers."""
        with self.log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, DEV, "run"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: the test can see every child it leaves
            )

        def up() -> bool:
            try:
                return requests.get(self.connector + "/", allow_redirects=False, timeout=2).status_code == 302
            except requests.ConnectionError:
                return False

        wait_until(up, 120, "the connector to answer", proc, self.log)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGTERM, as a service manager or ``kill`` sends it: dev.py and every child must go."""
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=30) == 0
            # The embedded worker process (a grandchild) ends when its server's pipe closes: within
            # its 1 s parent check, not necessarily before dev.py itself has exited.
            wait_until(lambda: not group_alive(proc.pid), 10, "dev.py's children (the worker process) to end")
            assert not [port for port in self.ports if listening(port)], "a port is still taken"
        finally:
            kill_group(proc)

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, DEV, "manage", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=120
        )

    def book(self, email: str) -> dict[str, Any]:
        resp = requests.post(self.calendly + "/_sim/book", json={"email": email, "name": "Test Person"}, timeout=5)
        assert resp.status_code == 201, resp.text
        resource: dict[str, Any] = resp.json()["resource"]
        return resource

    def brevo_emails(self) -> set[str]:
        state = requests.get(self.brevo + "/_sim/state", timeout=5).json()
        return {contact["email"] for contact in state["contacts"]}


def test_restart_keeps_the_simulators_and_the_database_in_step(tmp_path: Path) -> None:
    """Restarting used to keep the database and empty the simulators: the subscription was gone while
    the admin said "active", Brevo was empty, and new bookings took old bookings' ids and never
    became contacts."""
    sandbox = Sandbox(tmp_path)
    proc = sandbox.start()
    try:
        sandbox.book("first@example.com")
        wait_until(lambda: "first@example.com" in sandbox.brevo_emails(), 30, "the first booking in Brevo")
    finally:
        sandbox.stop(proc)

    proc = sandbox.start()
    try:
        assert "restored from" in sandbox.log.read_text()
        sandbox.book("second@example.com")
        wait_until(lambda: "second@example.com" in sandbox.brevo_emails(), 30, "the second booking in Brevo")
        assert "first@example.com" in sandbox.brevo_emails()

        with sqlite3.connect(sandbox.state_dir / "db.sqlite3") as db:
            uri, state = db.execute(
                "SELECT webhook_subscription_uri, webhook_subscription_state FROM calendly_sync_connection"
                " WHERE name = 'sandbox'"
            ).fetchone()
        sub = requests.get(uri, headers={"Authorization": f"Bearer {SANDBOX_TOKEN}"}, timeout=5)
        assert sub.status_code == 200 and sub.json()["resource"]["state"] == state == "active"
    finally:
        sandbox.stop(proc)


def admin_session(base: str) -> requests.Session:
    """Signed in to the admin as the sandbox's ``admin`` / ``admin``."""
    session = requests.Session()
    page = session.get(f"{base}/admin/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    done = session.post(
        f"{base}/admin/login/?next=/admin/",
        data={"csrfmiddlewaretoken": token.group(1), "username": "admin", "password": "admin"},
        timeout=10,
    )
    assert done.status_code == 200 and "Log out" in done.text
    return session


def test_the_sandbox_offers_its_catalog_and_sends_a_test_booking_from_the_admin(tmp_path: Path) -> None:
    """README's sandbox: mappings picked by name, and "Send a test booking" through the running server."""
    sandbox = Sandbox(tmp_path)
    proc = sandbox.start()
    try:
        log = sandbox.log.read_text()
        assert "catalog: Loaded 3 Calendly event types" in log and "Brevo lists and" in log
        session = admin_session(sandbox.connector)
        changelist = f"{sandbox.connector}/admin/calendly_sync/connection/"
        page = session.get(changelist, timeout=10).text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        pk = re.search(r'name="_selected_action" value="(\d+)"', page)
        assert token and pk, page[:500]
        edit = session.get(f"{changelist}{pk.group(1)}/change/", timeout=10).text
        assert re.search(r'<option value="https?://[^"]+/event_types/[^"]+" selected>[^<]+</option>', edit)
        done = session.post(
            changelist,
            data={
                "csrfmiddlewaretoken": token.group(1),
                "action": "send_test_booking",
                "_selected_action": pk.group(1),
            },
            headers={"Referer": changelist},
            timeout=60,
        )
        assert done.status_code == 200
        shown = re.findall(r'<li class="(success|warning|error|info)">(.*?)</li>', done.text, re.DOTALL)
        assert len(shown) == 1 and shown[0][0] == "success", shown
        email = re.search(r"test\+[0-9a-f]{8}@example\.com", shown[0][1])
        assert email, shown
        assert f"sent to {sandbox.connector}/webhooks/calendly/{pk.group(1)}/ (200)" in shown[0][1]
        assert "processed" in shown[0][1] and "Brevo: upsert 201 ok" in shown[0][1]
        assert email.group(0) in sandbox.brevo_emails()
    finally:
        sandbox.stop(proc)


def test_run_names_a_port_in_use_instead_of_failing_later(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path)
    with CalendlySim(port=sandbox.calendly_port):  # what a sandbox left running would hold
        done = subprocess.run(
            [sys.executable, DEV, "run"], cwd=ROOT, env=sandbox.env, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 1
    assert f"Port {sandbox.calendly_port} already in use" in done.stderr
    assert not sandbox.state_dir.exists()  # nothing was started


@pytest.fixture
def running_sims() -> Iterator[tuple[CalendlySim, BrevoSim]]:
    """The sandbox's simulators as ``dev.py run`` would have started them (here in this process)."""
    calendly = CalendlySim(seed=5, events=6, default_token=True, allow_http_callbacks=True).start()
    brevo = BrevoSim().start()
    try:
        yield calendly, brevo
    finally:
        calendly.stop()
        brevo.stop()


def test_manage_runs_any_command_with_the_sandbox_settings(
    tmp_path: Path, running_sims: tuple[CalendlySim, BrevoSim]
) -> None:
    """Without dev.py's variables, manage.py called the real Calendly and Brevo with the sandbox's keys."""
    calendly, brevo = running_sims
    sandbox = Sandbox(tmp_path, int(calendly.url.rsplit(":", 1)[1]), int(brevo.url.rsplit(":", 1)[1]))
    migrate = sandbox.manage("migrate", "--noinput")
    assert migrate.returncode == 0, migrate.stderr
    assert (sandbox.state_dir / "db.sqlite3").exists()  # the sandbox's database, not the project's

    setup = sandbox.manage("sandbox_setup")  # refuses to run outside the sandbox's settings
    assert setup.returncode == 0, setup.stderr
    before = calendly.count(r"^GET /scheduled_events$")
    sync = sandbox.manage("sync_calendly", "--no-progress")
    assert sync.returncode == 0, sync.stderr
    assert calendly.count(r"^GET /scheduled_events$") > before  # it talked to the simulator
    assert brevo.count(r"^POST /v3/contacts") > 0


def test_manage_says_when_the_simulators_are_not_running(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path)
    done = sandbox.manage("check")
    assert done.returncode == 0
    assert f"the sandbox's simulators are not running (127.0.0.1:{sandbox.calendly_port}" in done.stderr
