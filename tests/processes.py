"""Helpers for tests that start the sandbox as a user does: real processes on free ports.

Nothing here sleeps to synchronise: ``wait_until`` polls a condition against a deadline.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def free_port() -> int:
    """A port nothing listened on a moment ago (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def wait_until(
    condition: Callable[[], T],
    timeout: float,
    what: str,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds.

    With ``proc``, also fail as soon as that process exits; ``log`` (its output) is then quoted.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited ({proc.returncode}) while waiting for {what}{_tail(log)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{_tail(log)}")
        time.sleep(0.05)


def _tail(log: Path | None) -> str:
    return f"; its output:\n{log.read_text(errors='replace')[-6000:]}" if log is not None and log.exists() else ""


def group_alive(pgid: int) -> bool:
    """Whether any process of the group still exists (``killpg`` with signal 0 only checks)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Cleanup after a failed test: nothing the test started may outlive it."""
    if group_alive(proc.pid):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
