"""``python -m calendly_sync.sandbox`` (sandbox/__main__.py): the sandbox's simulators as a program."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import requests

from tests.processes import free_port, kill_group, listening, wait_until
from tests.sandbox.calendly.helpers import AUTH

ROOT = Path(__file__).resolve().parents[2]


def _start(state: Path, log: Path, calendly_port: int, brevo_port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "calendly_sync.sandbox", "--calendly-port", str(calendly_port)]
    command += ["--brevo-port", str(brevo_port), "--state-file", str(state)]
    with log.open("ab") as out:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    wait_until(lambda: listening(calendly_port) and listening(brevo_port), 20, "the simulators", proc, log)
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=15)
    finally:
        kill_group(proc)


def test_sigterm_saves_and_the_next_start_carries_on(tmp_path: Path) -> None:
    """SIGTERM used to kill the simulators with everything they held; the next start was empty."""
    state, log = tmp_path / "simulators.json", tmp_path / "sims.log"
    calendly_port, brevo_port = free_port(), free_port()
    calendly = f"http://127.0.0.1:{calendly_port}"

    proc = _start(state, log, calendly_port, brevo_port)
    try:
        booked = requests.post(calendly + "/_sim/book", json={"email": "a@example.com", "name": "A"}, timeout=5)
        assert booked.status_code == 201
        before = requests.get(calendly + "/_sim/state", timeout=5).json()
    finally:
        assert _stop(proc) == 0
    assert "seeded with" in log.read_text() and state.exists()
    assert not listening(calendly_port) and not listening(brevo_port)

    proc = _start(state, log, calendly_port, brevo_port)
    try:
        assert requests.get(calendly + "/_sim/state", timeout=5).json()["invitees"] == before["invitees"]
        first = booked.json()["resource"]["uri"]
        assert requests.get(first, headers=AUTH, timeout=5).json()["resource"]["email"] == "a@example.com"
        again = requests.post(calendly + "/_sim/book", json={"email": "b@example.com", "name": "B"}, timeout=5)
        assert again.json()["resource"]["uri"] != first
    finally:
        assert _stop(proc) == 0
    assert f"restored from {state}" in log.read_text()


def test_a_port_in_use_is_named(tmp_path: Path) -> None:
    state, log = tmp_path / "simulators.json", tmp_path / "sims.log"
    calendly_port, brevo_port = free_port(), free_port()
    first = _start(state, log, calendly_port, brevo_port)
    try:
        command = [sys.executable, "-m", "calendly_sync.sandbox", "--calendly-port", str(calendly_port)]
        command += ["--brevo-port", str(free_port()), "--state-file", str(tmp_path / "other.json")]
        second = subprocess.run(
            command,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        _stop(first)
    assert second.returncode == 2
    assert f"cannot listen on 127.0.0.1:{calendly_port}" in second.stderr and "--calendly-port" in second.stderr
