"""The embedded worker as its own OS process, started and supervised by the server process that owns the work.

Why a process and not a thread of the server: applying a burst of deliveries and pushing it to
Brevo is CPU work in Python, and a thread of the server process takes the interpreter (the GIL)
away from the threads answering webhooks; during a burst the acknowledgements' p99 went from tens
of milliseconds to a second. In a process of its own the drain only competes for a CPU core, which
the operating system shares out fairly.

The shape:

* Every server process (each gunicorn worker, ``runserver``'s serving process, each uvicorn worker)
  runs a :class:`WorkerSupervisor` thread that tries to take the deployment's ownership lock
  (:func:`calendly_sync.runtime.locks.worker_ownership`), as the worker thread did before. One
  process holds it; the others stand by and try again every ``OWNER_RETRY`` seconds.
* The owner starts ``python -m calendly_sync.runtime`` (:func:`child_main`): the worker process,
  which runs the same :class:`~calendly_sync.runtime.worker.EmbeddedWorker` loop (drain, sweep,
  poll, subscription checks, purge, heartbeat for ``/readyz``) as its only work.
* Hand-over: the owner writes the id of each delivery it acknowledged to the worker process's
  standard input (8 bytes, non-blocking: one system call in the request). Deliveries the other
  server processes acknowledged are found by the worker's poll (``POLL_INTERVAL``, 1 s).
* Supervision: the worker process holds the write end of a second pipe; when it dies, for whatever
  reason, the supervisor sees the end of that pipe at once and starts another one (after
  ``RESTART_DELAY`` seconds, doubling while it keeps dying young, up to ``MAX_RESTART_DELAY``).
* No orphans: the worker process reads its standard input, and the end of it comes when the
  server process ends however it ends (``SIGKILL`` included), since the kernel closes its pipes.
  Then the worker finishes its step and exits. No ``PR_SET_PDEATHSIG``, so the same on every POSIX.
  A server process that stops normally closes the pipe and waits for the worker to exit.
* Priority: the worker process lowers its own scheduling priority (``nice`` +``NICENESS``), so that
  on a busy machine the cores go to the requests first and the drain takes what they leave; Brevo's
  10 requests/s, not the CPU, bound how fast deliveries reach it.
* One owner: the lock belongs to the server process, which dies with it; so it cannot outlive its
  server process for longer than the worker's current step (the drain lock and the row claims keep
  even that overlap correct).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from calendly_sync.inbox import rejections
from calendly_sync.runtime.jobs import job_runner
from calendly_sync.runtime.locks import Ownership, ProcessOwnership, worker_ownership
from calendly_sync.runtime.worker import OWNER_CHECK, EmbeddedWorker, OwnershipLoop, loaded_by_preforking_master

log = logging.getLogger(__name__)

MESSAGE = struct.Struct("!q")  # one signed 64-bit id per message on the worker's standard input
WAKE_JOBS = -1  # message: a sync job was queued (the worker process runs jobs, not the server)
RESTART_DELAY = 1.0  # seconds before a worker process that died is started again …
MAX_RESTART_DELAY = 30.0  # … doubling up to this while it keeps dying within
STABLE_AFTER = 60.0  # seconds (a worker process that ran this long starts again after RESTART_DELAY)
STOP_TIMEOUT = 15.0  # seconds a stopping server waits for its worker process before killing it
NICENESS = 10  # the worker process's scheduling priority below the server's (``nice``): requests first


def worker_argv(alive_fd: int) -> list[str]:
    """The worker process's command line (the same interpreter as the server)."""
    module = "calendly_sync.runtime"
    return [sys.executable, "-m", module, "--server-pid", str(os.getpid()), "--alive-fd", str(alive_fd)]


def worker_env() -> dict[str, str]:
    """The server's environment, and its import path: the worker imports the same settings and code.

    ``DJANGO_SETTINGS_MODULE`` is set by ``wsgi.py``/``asgi.py`` (or the environment) before this
    runs; gunicorn and ``manage.py`` put the project's directory on ``sys.path``, which a fresh
    interpreter would not have.
    """
    env = dict(os.environ)
    paths = [p or os.getcwd() for p in sys.path]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def reap_own_children_only() -> None:
    """In a gunicorn worker: drop the ``SIGCHLD`` handler inherited from gunicorn's master.

    gunicorn's workers keep their master's handler, which reaps *any* child with ``waitpid(-1)`` and
    takes its exit status for a gunicorn worker's (status 3 or 4 would even halt the worker, and any
    other gets logged as "Worker (pid:…) exited"). A gunicorn worker has no child but ours, and
    ``subprocess`` waits for that one itself. Only the main thread may change a handler; the
    server's start (``wsgi.py`` being imported, or gunicorn's fork) runs there.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    handler = signal.getsignal(signal.SIGCHLD)
    if type(getattr(handler, "__self__", None)).__module__.startswith("gunicorn."):
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)


class WorkerSupervisor(OwnershipLoop):
    """This server process's part: own the work (or stand by), and keep a worker process running while it does."""

    announce = False  # _work says who owns the work, with its worker process
    logger = log

    def __init__(self, ownership: Callable[[], Ownership] = worker_ownership) -> None:
        self.ownership = ownership  # called in the supervisor thread (a PostgreSQL lock has its own connection there)
        self.starts_after_fork = False  # gunicorn --preload: the master's forked workers start it
        self.active = False  # started in this process: deliveries go to the worker process
        self._reset()

    def _reset(self) -> None:
        self.thread: threading.Thread | None = None
        self.stopping = threading.Event()
        self.owner = threading.Event()  # set while this server process owns the work …
        self.standing_by = threading.Event()  # … and this while another one does
        self.running = threading.Event()  # set while this process's worker process runs
        self.lock = threading.Lock()
        self.child: subprocess.Popen[bytes] | None = None
        self.wake_fd: int | None = None  # the write end of the worker process's standard input
        self.current_ownership: Ownership | None = None
        self.started_workers: list[int] = []  # pids of the worker processes started, in order

    # -- the server process's side ---------------------------------------------------------------------------------

    def start_with_server(self) -> None:
        """A server process starts: take part now, not when the first webhook arrives.

        After a deploy nothing else would retry due work, pick up deliveries a crash left
        ``processing``, or repair a subscription Calendly disabled (no webhook can arrive then).
        """
        self.active = True
        if loaded_by_preforking_master():
            self.starts_after_fork = True
            log.info("embedded worker: gunicorn --preload; it starts in each worker process after the fork")
            return
        reap_own_children_only()
        self.start()

    def after_fork(self) -> None:
        """In a child process just forked: nothing of the parent's thread, pipe, worker process or lock is ours."""
        if self.current_ownership is not None:
            self.current_ownership.forget()
        if self.wake_fd is not None:
            # This copy of the pipe would keep the parent's worker process alive after the parent died.
            os.close(self.wake_fd)
        self._reset()
        if self.starts_after_fork:
            reap_own_children_only()
            self.start()

    def start(self) -> None:
        with self.lock:
            if self.thread is not None and self.thread.is_alive():
                return
            self.active = True
            self.stopping.clear()
            self.thread = threading.Thread(target=self._run, name="calendly-sync-supervisor", daemon=True)
            self.thread.start()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop supervising; the worker process is asked to finish (its input ends) and waited for."""
        self.stopping.set()
        self._stop_child(timeout)
        if self.thread is not None:
            self.thread.join(timeout)
        self.thread = None

    def submit(self, delivery_id: int) -> None:
        """A delivery this process acknowledged: tell the worker process, if this one runs it (else its poll finds it).

        One non-blocking write: never waits, never raises. A full pipe means the worker is busy
        and will drain what is due anyway.
        """
        self._send(delivery_id)

    def wake_jobs(self) -> bool:
        """A sync job was queued: wake the worker process's job runner; False when this process runs none."""
        return self._send(WAKE_JOBS)

    def _send(self, value: int) -> bool:
        fd = self.wake_fd
        if fd is None:
            return False
        try:
            os.write(fd, MESSAGE.pack(value))
        except OSError:  # full (the worker is busy and drains everything due) or gone (it is being restarted)
            return False
        return True

    # -- the supervisor thread -------------------------------------------------------------------------------------

    def _stand_by(self, seconds: float) -> None:
        """While another server process owns the work: write this one's counts of refused requests, and wait."""
        self._flush_rejections()
        self.stopping.wait(seconds)

    def _work(self, ownership: Ownership) -> None:
        """While this process owns the work: keep a worker process running; stop it when ownership is lost."""
        delay = RESTART_DELAY
        first = True
        while not self.stopping.is_set():
            alive = self._spawn()
            if alive is None:  # could not even start it: try again later
                if self.stopping.wait(delay):
                    return
                delay = min(MAX_RESTART_DELAY, delay * 2)
                continue
            child = self.child
            assert child is not None
            if first:
                log.info(
                    "embedded worker: process %s runs the background work (%s) in its worker process %s",
                    os.getpid(),
                    ownership.describe(),
                    child.pid,
                )
                first = False
            started = time.monotonic()
            try:
                while not self.stopping.is_set():
                    ready, _, _ = select.select([alive], [], [], OWNER_CHECK)
                    if ready:  # the worker process ended: its end of the pipe closed
                        break
                    self._flush_rejections()
                    if not ownership.holds():
                        log.warning("embedded worker: process %s lost ownership of the work", os.getpid())
                        self._stop_child(STOP_TIMEOUT)
                        ownership.release()
                        return
            finally:
                os.close(alive)
            if self.stopping.is_set():
                return
            code = child.wait()
            self._forget_child()
            delay = RESTART_DELAY if time.monotonic() - started >= STABLE_AFTER else delay
            log.warning(
                "embedded worker: worker process %s of server process %s ended (exit status %s); "
                "starting another in %.0f s",
                child.pid,
                os.getpid(),
                code,
                delay,
            )
            if self.stopping.wait(delay):
                return
            delay = min(MAX_RESTART_DELAY, delay * 2)

    def _spawn(self) -> int | None:
        """Start a worker process; the read end of the pipe that ends with it (None when it cannot start)."""
        alive_r, alive_w = os.pipe()
        try:
            child = subprocess.Popen(
                worker_argv(alive_w), stdin=subprocess.PIPE, pass_fds=(alive_w,), env=worker_env(), close_fds=True
            )
        except OSError:
            log.exception("embedded worker: cannot start the worker process")
            os.close(alive_r)
            return None
        finally:
            os.close(alive_w)
        assert child.stdin is not None
        fd = child.stdin.fileno()
        os.set_blocking(fd, False)
        with self.lock:
            self.child, self.wake_fd = child, fd
            self.started_workers.append(child.pid)
        self.running.set()
        return alive_r

    def _forget_child(self) -> None:
        with self.lock:
            child, self.child, self.wake_fd = self.child, None, None
        self.running.clear()
        if child is not None and child.stdin is not None:
            with contextlib.suppress(OSError):  # a pipe whose reader is gone
                child.stdin.close()

    def _stop_child(self, timeout: float) -> None:
        """End the worker process: close its input (it finishes its step and exits), kill it if it lingers."""
        child = self.child
        self._forget_child()
        if child is None:
            return
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("embedded worker: worker process %s did not stop within %.0f s; killing it", child.pid, timeout)
            child.kill()
            child.wait(5.0)

    def _flush_rejections(self) -> None:
        """Refused requests this server process counted are written even while no request comes."""
        try:
            rejections.counter.flush_if_due()
        except Exception:  # never let the supervisor die for a count
            log.exception("embedded worker: writing the counts of refused webhook requests failed")


_supervisor = WorkerSupervisor()
if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_supervisor.after_fork)


def worker_supervisor() -> WorkerSupervisor:
    """This server process's supervisor (active once :meth:`WorkerSupervisor.start_with_server` ran)."""
    return _supervisor


# -- the worker process's side -----------------------------------------------------------------------------------


class ProcessWorker(EmbeddedWorker):
    """The loop of the worker process: it owns the work for as long as its server process lives."""

    announce = False  # the server process said who owns the work


def read_messages(worker: EmbeddedWorker, stop: threading.Event, fd: int = 0) -> None:
    """Read delivery ids from the server process until its end of the pipe closes (it stopped or died)."""
    pending = b""
    while True:
        try:
            chunk = os.read(fd, 8192)
        except InterruptedError:
            continue
        except OSError:
            chunk = b""
        if not chunk:
            stop.set()
            return
        pending += chunk
        whole = len(pending) - len(pending) % MESSAGE.size
        for (value,) in MESSAGE.iter_unpack(pending[:whole]):
            if value == WAKE_JOBS:
                job_runner().wake()
            elif value > 0:
                worker.submit(value)
        pending = pending[whole:]


def child_main(argv: list[str] | None = None) -> int:
    """``python -m calendly_sync.runtime``: run the embedded worker until the server process is gone."""
    parser = argparse.ArgumentParser(prog="python -m calendly_sync.runtime", description=child_main.__doc__)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--alive-fd", type=int, required=True, help="kept open: the server sees it close when we end")
    args = parser.parse_args(argv)
    os.set_inheritable(args.alive_fd, False)  # our own children (none expected) must not keep it open
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):  # not allowed (some sandboxes): run at the server's priority
            os.nice(NICENESS)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    # SIGTERM (a process group stopped) and SIGINT (Ctrl-C on runserver): finish the step, then exit.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    worker = ProcessWorker(ownership=ProcessOwnership)
    log.info(
        "embedded worker process %s started for server process %s: it applies deliveries, sweeps and "
        "checks the subscriptions",
        os.getpid(),
        args.server_pid,
    )
    threading.Thread(target=read_messages, args=(worker, stop), name="calendly-sync-input", daemon=True).start()
    worker.start()
    while not stop.wait(1.0):
        if os.getppid() != args.server_pid:  # belt and braces: the pipe's end is what normally tells
            break
    log.info("embedded worker process %s: server process %s is gone or stopping; exiting", os.getpid(), args.server_pid)
    worker.stop()
    job_runner().stop(timeout=5.0)  # a job it runs is resumed from its checkpoint by the next worker
    return 0
