#!/usr/bin/env python3
"""The two commands: ``python3 scripts/dev.py run`` and ``python3 scripts/dev.py test``.

Standard library only, so it works on a fresh machine with nothing but Python 3.11+:
it creates ``.venv``, installs the project (again only when pyproject.toml changed), migrates,
and then runs the connector or the test suite.

``run`` without Calendly/Brevo credentials in the environment (or .env) starts the sandbox:
the Calendly and Brevo simulators on 127.0.0.1:8025 and :8026 with seeded data, a connection
pointing at them, and an admin user ``admin`` / ``admin``.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")


def sh(*args: str, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(args), flush=True)
    subprocess.run(args, cwd=ROOT, check=True, env=env)


def ensure_venv(extras: str = "") -> None:
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


def run(argv: list[str]) -> int:
    ensure_venv()
    env = dict(os.environ)
    addr = argv[0] if argv else env.get("CONNECTOR_ADDR", "127.0.0.1:8000")
    sandbox = not (dotenv_has("CALENDLY_ACCESS_TOKEN") or dotenv_has("CALENDLY_CLIENT_ID")) or not dotenv_has(
        "BREVO_API_KEY"
    )
    sims: subprocess.Popen[bytes] | None = None
    # The development server: DEBUG unless the environment says otherwise (plain-HTTP cookies, and
    # the built-in SECRET_KEY, which a server refuses with DEBUG off).
    env["DEBUG"] = env.get("DEBUG", "1")
    if sandbox:
        env.update(
            {
                "CALENDLY_API_URL": "http://127.0.0.1:8025",
                "CALENDLY_AUTH_URL": "http://127.0.0.1:8025",
                "BREVO_API_URL": "http://127.0.0.1:8026/v3",
                "CONNECTOR_SANDBOX": "1",
                # the simulator's OAuth app, so "Connect Calendly" works in the sandbox too
                "CALENDLY_CLIENT_ID": env.get("CALENDLY_CLIENT_ID") or "sandbox-client",
                "CALENDLY_CLIENT_SECRET": env.get("CALENDLY_CLIENT_SECRET") or "sandbox-secret",
                "SITE_URL": env.get("SITE_URL", f"http://{addr}"),
            }
        )
        print("No Calendly/Brevo credentials set: starting the sandbox (simulated Calendly and Brevo).", flush=True)
        sims = subprocess.Popen(
            [str(PY), "-m", "calendly_sync.sandbox", "--calendly-port", "8025", "--brevo-port", "8026", "--seed", "1"],
            cwd=ROOT,
            env=env,
        )
    try:
        sh(str(PY), "manage.py", "migrate", "--noinput", env=env)
        if sandbox:
            sh(str(PY), "manage.py", "sandbox_setup", env=env)
        print(f"\nConnector: http://{addr}/admin/  (sandbox login: admin / admin)\n", flush=True)
        server = subprocess.Popen([str(PY), "manage.py", "runserver", "--noreload", addr], cwd=ROOT, env=env)
        try:
            return server.wait()
        except KeyboardInterrupt:
            server.send_signal(signal.SIGINT)
            return server.wait()
    finally:
        if sims is not None:
            sims.terminate()
            sims.wait(timeout=10)


def test(argv: list[str]) -> int:
    ensure_venv("test")
    return subprocess.run([str(PY), "-m", "pytest", *argv], cwd=ROOT).returncode


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in {"run", "test"}:
        print(__doc__)
        print("usage: python3 scripts/dev.py run [ADDR:PORT] | test [pytest args]")
        return 2
    command, rest = sys.argv[1], sys.argv[2:]
    return run(rest) if command == "run" else test(rest)


if __name__ == "__main__":
    sys.exit(main())
