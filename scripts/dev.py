#!/usr/bin/env python3
"""The commands: ``python3 scripts/dev.py run``, ``… manage <command>`` and ``… test``.

Standard library only, so it works on a fresh machine with nothing but Python 3.11+:
it creates ``.venv``, installs the project (again only when pyproject.toml changed), migrates,
and then runs the connector or the test suite.

``run`` without Calendly/Brevo credentials in the environment (or .env), or with
``CONNECTOR_SANDBOX=1``, starts the sandbox: the Calendly and Brevo simulators on 127.0.0.1:8025
and :8026 with seeded data, a connection pointing at them, and an admin user ``admin`` / ``admin``.
The sandbox keeps its database and the simulators' state together in ``.sandbox/``, so a restart
carries on where the last run stopped; delete that folder to start over.

``manage`` runs any ``manage.py`` command with the same settings as ``run`` (in the sandbox: the
simulators' URLs and the sandbox database), e.g. ``python3 scripts/dev.py manage sync_calendly``.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
import venv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
DEFAULT_ADDR = "127.0.0.1:8000"
HOST = "127.0.0.1"
READY_TIMEOUT = 30.0  # seconds the simulators get to start listening
STOP_TIMEOUT = 10.0  # seconds a child gets to stop before it is killed

USAGE = "usage: python3 scripts/dev.py run [ADDR:PORT] | manage COMMAND [ARGS…] | test [PYTEST ARGS…]"


def python() -> str:
    """The interpreter that runs the project: ``DEV_PYTHON`` (one with the project installed) or .venv's."""
    return os.environ.get("DEV_PYTHON") or str(PY)


def sh(*args: str, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(args), flush=True)
    subprocess.run(args, cwd=ROOT, check=True, env=env)


def ensure_venv(extras: str = "") -> None:
    if os.environ.get("DEV_PYTHON"):
        return  # the caller brings an environment with the project installed
    if not PY.exists():
        print(f"Creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed{extras.replace(',', '-')}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    sh(str(PY), "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    target = f".[{extras}]" if extras else "."
    sh(str(PY), "-m", "pip", "install", "--quiet", "-e", target)
    stamp.write_text(digest)


def dotenv_has(name: str) -> bool:
    if os.environ.get(name):
        return True
    env_file = ROOT / ".env"
    if env_file.exists():
        for line in env_file.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == name and value.strip().strip("'\""):
                return True
    return False


# -- the sandbox's settings: one declaration, used by ``run`` and ``manage`` ------------------------
@dataclass(frozen=True)
class Sandbox:
    """Where the sandbox's simulators listen and where it keeps its state."""

    calendly_port: int
    brevo_port: int
    state_dir: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Sandbox:
        state_dir = Path(env.get("SANDBOX_STATE_DIR") or ROOT / ".sandbox")
        return cls(
            calendly_port=int(env.get("SANDBOX_CALENDLY_PORT") or 8025),
            brevo_port=int(env.get("SANDBOX_BREVO_PORT") or 8026),
            state_dir=state_dir if state_dir.is_absolute() else ROOT / state_dir,
        )

    @property
    def state_file(self) -> Path:
        return self.state_dir / "simulators.json"

    @property
    def database(self) -> Path:
        return self.state_dir / "db.sqlite3"

    def simulators_command(self) -> list[str]:
        return [
            python(),
            "-m",
            "calendly_sync.sandbox",
            "--calendly-port",
            str(self.calendly_port),
            "--brevo-port",
            str(self.brevo_port),
            "--seed",
            "1",
            "--state-file",
            str(self.state_file),
        ]


def wants_sandbox() -> bool:
    """The sandbox unless both a Calendly credential and a Brevo key are set (or it is asked for)."""
    if os.environ.get("CONNECTOR_SANDBOX") == "1":
        return True
    has_calendly = dotenv_has("CALENDLY_ACCESS_TOKEN") or dotenv_has("CALENDLY_CLIENT_ID")
    return not (has_calendly and dotenv_has("BREVO_API_KEY"))


def connector_env(addr: str) -> tuple[dict[str, str], Sandbox | None]:
    """The environment every connector command runs in, and the sandbox when it is one."""
    env = dict(os.environ)
    if not wants_sandbox():
        return env, None
    sandbox = Sandbox.from_env(env)
    calendly = f"http://{HOST}:{sandbox.calendly_port}"
    env.update(
        {
            "CALENDLY_API_URL": calendly,
            "CALENDLY_AUTH_URL": calendly,
            "BREVO_API_URL": f"http://{HOST}:{sandbox.brevo_port}/v3",
            "CONNECTOR_SANDBOX": "1",
            # the simulator's OAuth app, so "Connect Calendly" works in the sandbox too
            "CALENDLY_CLIENT_ID": env.get("CALENDLY_CLIENT_ID") or "sandbox-client",
            "CALENDLY_CLIENT_SECRET": env.get("CALENDLY_CLIENT_SECRET") or "sandbox-secret",
            "DEBUG": env.get("DEBUG", "1"),
            "SITE_URL": env.get("SITE_URL", f"http://{addr}"),
        }
    )
    if not dotenv_has("DATABASE_URL"):
        # the sandbox's database lives with the simulators' state: they are kept, or deleted, together
        env["DATABASE_URL"] = f"sqlite:///{sandbox.database}"
    return env, sandbox


# -- processes ---------------------------------------------------------------------------------
class Stop(Exception):
    """SIGTERM: stop the server and the simulators, like Ctrl-C does."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Stop


def listening(port: int, host: str = HOST) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.5).close()
    except OSError:
        return False
    return True


def split_addr(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return (host.strip("[]") or HOST), int(port)


def wait_listening(proc: subprocess.Popen[bytes], ports: list[int]) -> bool:
    """Wait until ``proc`` listens on every port; False when it exited or took too long."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if all(listening(port) for port in ports):
            return True
        time.sleep(0.05)
    return False


def stop_all(children: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every child still running (the newest first), wait, then kill what is left."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup short
    for child in reversed(children):
        if child.poll() is None:
            child.terminate()
    for child in reversed(children):
        try:
            child.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def run(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _on_sigterm)
    ensure_venv()
    addr = argv[0] if argv else os.environ.get("CONNECTOR_ADDR", DEFAULT_ADDR)
    env, sandbox = connector_env(addr)
    # The development server: DEBUG unless the environment says otherwise (plain-HTTP cookies, and
    # the built-in SECRET_KEY, which a server refuses with DEBUG off).
    env["DEBUG"] = env.get("DEBUG", "1")
    ports = [split_addr(addr)[1]]
    if sandbox is not None:
        ports += [sandbox.calendly_port, sandbox.brevo_port]
    busy = [port for port in ports if listening(port)]
    if busy:
        print(
            f"Port {', '.join(map(str, busy))} already in use: is another `scripts/dev.py run` still running? "
            "Stop it, or choose other ports (CONNECTOR_ADDR, SANDBOX_CALENDLY_PORT, SANDBOX_BREVO_PORT).",
            file=sys.stderr,
        )
        return 1
    children: list[subprocess.Popen[bytes]] = []
    try:
        if sandbox is not None:
            print("Starting the sandbox: simulated Calendly and Brevo (no Calendly/Brevo credentials set).")
            print(
                f"Sandbox state: {sandbox.state_dir} (the simulators' records with the database; delete the folder "
                "to start over).",
                flush=True,
            )
            sandbox.state_dir.mkdir(parents=True, exist_ok=True)
            sims = subprocess.Popen(sandbox.simulators_command(), cwd=ROOT, env=env)
            children.append(sims)
            if not wait_listening(sims, [sandbox.calendly_port, sandbox.brevo_port]):
                print("The simulators did not start (see above).", file=sys.stderr)
                return 1
        sh(python(), "manage.py", "migrate", "--noinput", env=env)
        if sandbox is not None:
            sh(python(), "manage.py", "sandbox_setup", env=env)
        login = "  (sandbox login: admin / admin)" if sandbox is not None else ""
        print(f"\nConnector: http://{addr}/admin/{login}\n", flush=True)
        server = subprocess.Popen([python(), "manage.py", "runserver", "--noreload", addr], cwd=ROOT, env=env)
        children.append(server)
        return server.wait()
    except (KeyboardInterrupt, Stop):
        return 0
    except subprocess.CalledProcessError as exc:
        return exc.returncode
    finally:
        stop_all(children)


def manage(argv: list[str]) -> int:
    """``manage.py`` with ``run``'s settings; in the sandbox, the simulators must be running."""
    ensure_venv()
    env, sandbox = connector_env(os.environ.get("CONNECTOR_ADDR", DEFAULT_ADDR))
    if sandbox is not None:
        sandbox.state_dir.mkdir(parents=True, exist_ok=True)  # where the sandbox's database lives
    if sandbox is not None and not (listening(sandbox.calendly_port) and listening(sandbox.brevo_port)):
        print(
            f"Note: the sandbox's simulators are not running (127.0.0.1:{sandbox.calendly_port}, "
            f":{sandbox.brevo_port}); start `python3 scripts/dev.py run` first, or commands that call "
            "Calendly or Brevo will fail.",
            file=sys.stderr,
        )
    return subprocess.run([python(), "manage.py", *argv], cwd=ROOT, env=env).returncode


def test(argv: list[str]) -> int:
    ensure_venv("test")
    return subprocess.run([python(), "-m", "pytest", *argv], cwd=ROOT).returncode


def main() -> int:
    commands = {"run": run, "manage": manage, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        print(USAGE)
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
