"""The worker process's plumbing: what the server writes on its pipe, and gunicorn's inherited SIGCHLD handler.

The processes themselves (started, restarted, ended with their server) are tested with real servers
in ``tests/test_server.py``.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

import pytest

from calendly_sync.runtime import process
from calendly_sync.runtime.process import MESSAGE, WAKE_JOBS, read_messages, reap_own_children_only


class Recorder:
    """Stands in for the worker loop: what it was handed."""

    def __init__(self) -> None:
        self.submitted: list[int] = []

    def submit(self, delivery_id: int) -> None:
        self.submitted.append(delivery_id)


class Jobs:
    def __init__(self) -> None:
        self.woken = 0

    def wake(self) -> None:
        self.woken += 1


def test_the_worker_reads_ids_across_partial_writes_and_stops_at_the_end_of_its_input(monkeypatch):
    jobs = Jobs()
    monkeypatch.setattr(process, "job_runner", lambda: jobs)
    worker, stop = Recorder(), threading.Event()
    r, w = os.pipe()
    data = b"".join(MESSAGE.pack(v) for v in (7, 8, WAKE_JOBS, 2**40))
    reader = threading.Thread(target=read_messages, args=(worker, stop, r))
    reader.start()
    os.write(w, data[:5])  # a message cut in two by the pipe is put back together
    os.write(w, data[5:])
    os.close(w)  # the server process ended
    reader.join(10)
    os.close(r)
    assert not reader.is_alive() and stop.is_set()
    assert worker.submitted == [7, 8, 2**40] and jobs.woken == 1


def test_a_server_hands_over_nothing_without_a_worker_process():
    supervisor = process.WorkerSupervisor()
    assert supervisor.wake_jobs() is False  # this process owns nothing: the caller runs the job itself
    supervisor.submit(1)  # never raises


def test_a_full_pipe_never_blocks_the_request():
    supervisor = process.WorkerSupervisor()
    r, w = os.pipe()
    os.set_blocking(w, False)
    supervisor.wake_fd = w
    try:
        while supervisor.wake_jobs():  # until the pipe is full: the worker is busy and drains what is due anyway
            pass
        supervisor.submit(1)  # returns at once
    finally:
        os.close(r)
        os.close(w)


class Arbiter:  # what gunicorn's master installs as its SIGCHLD handler, inherited by its workers
    def handle_chld(self, signum: int, frame: FrameType | None) -> None:
        raise AssertionError("must not run")


Arbiter.__module__ = "gunicorn.arbiter"


@pytest.fixture
def sigchld() -> Iterator[None]:
    previous = signal.getsignal(signal.SIGCHLD)
    yield
    signal.signal(signal.SIGCHLD, previous)


def test_a_gunicorn_worker_drops_its_masters_sigchld_handler(sigchld):
    """The master's handler reaps any child (``waitpid(-1)``) and would take ours for a gunicorn worker."""
    signal.signal(signal.SIGCHLD, Arbiter().handle_chld)
    reap_own_children_only()
    assert signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL


def test_another_servers_sigchld_handler_is_left_alone(sigchld):
    def mine(signum: int, frame: FrameType | None) -> None:
        return None

    signal.signal(signal.SIGCHLD, mine)
    reap_own_children_only()
    assert signal.getsignal(signal.SIGCHLD) is mine
