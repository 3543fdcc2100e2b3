"""docs/deployment.md, run: its environment table, the shipped units, gunicorn configuration and
Procfile, ``check --deploy``, the backup and restore blocks and the key rotations.

The blocks marked ``<!-- tested: NAME -->`` in the guide are read from it and run as written (only
the host's paths, ``/srv/connector`` and ``/etc/connector``, are replaced with this checkout's and a
temporary file's). Processes run against fresh PostgreSQL databases made for the test and Redis;
where a tool or service is missing the test is skipped with the reason, except in CI (``CI`` set),
where that is a failure.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command
from django.core.management.base import CommandError

from calendly_sync.conf import AppSettings
from calendly_sync.models import Connection
from calendly_sync.sandbox.brevo import SANDBOX_API_KEY
from calendly_sync.sandbox.signing import sign
from tests.fixtures_servers import BIN, ROOT, ServerProcess, free_port

GUIDE = ROOT / "docs" / "deployment.md"
UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
IN_CI = bool(os.environ.get("CI"))
# App settings that are not read from the environment (a constant the checks compare with).
NOT_FROM_ENVIRONMENT = {"INSECURE_DEFAULT_SECRET_KEY"}


def missing(what: str) -> None:
    """A tool or service this test needs is absent: a failure in CI, a skip (with the reason) elsewhere."""
    if IN_CI:
        pytest.fail(f"{what} (CI must have it)")
    pytest.skip(what)


def guide() -> str:
    return GUIDE.read_text()


def block(name: str) -> str:
    """The fenced block right after ``<!-- tested: name -->`` in the guide."""
    found = re.search(rf"<!-- tested: {re.escape(name)} -->\n```[a-z]*\n(.*?)```", guide(), re.DOTALL)
    assert found, f"docs/deployment.md has no block marked 'tested: {name}'"
    return found.group(1)


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict((part.strip() for part in line.split(":", 1)) for line in lines if line.strip())  # type: ignore[misc]


def base_env(**extra: str) -> dict[str, str]:
    """A clean environment (no .env of the developer's leaks in through the real one) with the venv first on PATH."""
    env = {
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SETTINGS_MODULE": "connector_site.settings",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(ROOT),  # this checkout's code, whatever the venv's editable install points at
    }
    env.update(extra)
    return env


def sh(script: str, env: dict[str, str], cwd: Path = ROOT, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run ``script`` as the guide's reader would (bash, stopping at the first failing command)."""
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def manage_shell(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- services: a fresh PostgreSQL database per test, and Redis ------------------------------------


def postgres_url(name: str) -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        url = "postgres://postgres@127.0.0.1:5432/postgres"
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))


def _maintenance() -> Any:
    import psycopg

    try:
        return psycopg.connect(postgres_url("postgres"), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        missing(f"PostgreSQL is not reachable at {postgres_url('postgres')}: {exc}")


@pytest.fixture
def fresh_database() -> Iterator[Any]:
    """``fresh_database()`` makes an empty PostgreSQL database and returns its URL (all dropped after the test)."""
    made: list[str] = []
    base = urlsplit(os.environ.get("DATABASE_URL", "")).path.strip("/") or "connector"

    def make() -> str:
        name = f"{base}_deploy_{secrets.token_hex(4)}"
        with _maintenance() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return postgres_url(name)

    yield make
    if made:
        with _maintenance() as conn:
            for name in made:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def broker_url() -> str:
    import redis

    url = os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        missing(f"Redis is not reachable at {url}: {exc}")
    return url


def migrated(url: str, **extra: str) -> dict[str, str]:
    """Run the Procfile's release command against ``url``; the environment it ran with."""
    env = base_env(DATABASE_URL=url, **extra)
    done = sh(procfile()["release"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    return env


# --- the guide's environment table ------------------------------------------------------------------

RECORD_ENV_READS = """
import json, environ
seen = []
original = environ.Env.get_value
def get_value(self, var, *args, **kwargs):
    seen.append(var)
    return original(self, var, *args, **kwargs)
environ.Env.get_value = get_value
import connector_site.settings
print(json.dumps(sorted(set(seen))))
"""


def variables_the_settings_read() -> set[str]:
    """Every name settings.py asks django-environ for, on the branches production takes (PostgreSQL, JSON logs)."""
    done = subprocess.run(
        [sys.executable, "-c", RECORD_ENV_READS],
        cwd=ROOT,
        env=base_env(DATABASE_URL="postgres://u@127.0.0.1:5432/x", LOG_FORMAT="json", DEBUG="false"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout))


def documented_variables() -> set[str]:
    """The names in the first column of the guide's environment table."""
    section = guide().split("\n## The environment\n", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    return names


def test_the_guide_lists_every_environment_variable_the_settings_read() -> None:
    read = variables_the_settings_read()
    assert {"SECRET_KEY", "DATABASE_URL", "CONN_MAX_AGE", "CELERY_BROKER_URL", "LOG_FORMAT"} <= read  # the probe works
    # Every app setting (calendly_sync/conf.py) is one of them: a new one cannot be left out of the environment.
    assert set(AppSettings.declared()) - NOT_FROM_ENVIRONMENT <= read
    documented = documented_variables()
    assert read - documented == set(), "read by connector_site/settings.py but not in docs/deployment.md"
    assert documented - read == set(), "in docs/deployment.md's table but read by no setting"


# --- systemd units and the Procfile -----------------------------------------------------------------


def installed_units(tmp_path: Path) -> list[Path]:
    """The units with /srv/connector (and its virtualenv) replaced by this checkout, and an env file."""
    env_file = tmp_path / "connector.env"
    env_file.write_text("DEBUG=false\n")
    out = []
    for unit in UNITS:
        text = unit.read_text()
        text = text.replace("/srv/connector/.venv/bin/", f"{BIN}/").replace("/srv/connector", str(ROOT))
        text = text.replace("/etc/connector/connector.env", str(env_file))
        target = tmp_path / unit.name
        target.write_text(text)
        out.append(target)
    return out


def exec_start(unit: Path) -> str:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read_string(unit.read_text())
    return parser["Service"]["ExecStart"]


def test_the_systemd_units_verify_and_run_the_procfiles_commands(tmp_path: Path) -> None:
    assert [u.name for u in UNITS] == ["connector-beat.service", "connector-web.service", "connector-worker.service"]
    assert block("procfile") == (ROOT / "Procfile").read_text()  # the guide shows the Procfile as shipped
    # One source of truth: each unit runs its Procfile line (beat with a schedule file of its own).
    commands = procfile()
    for unit, role in zip(UNITS, ["beat", "web", "worker"], strict=True):
        start = exec_start(unit).removeprefix("/srv/connector/.venv/bin/")
        assert start.startswith(commands[role].split(" --schedule")[0]), (unit.name, start, commands[role])
    if shutil.which("systemd-analyze") is None:
        missing("systemd-analyze is not installed")
    units = installed_units(tmp_path)
    line = next(cmd for cmd in block("systemd").splitlines() if cmd.startswith("systemd-analyze verify"))
    script = line.replace("/etc/systemd/system/connector-*.service", " ".join(str(u) for u in units))
    done = sh(script, base_env(), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    # …and it has teeth: a unit whose program does not exist fails.
    broken = tmp_path / "broken.service"
    broken.write_text(units[1].read_text().replace(f"{BIN}/gunicorn", "/nonexistent/gunicorn"))
    failed = sh(f"systemd-analyze verify {broken}", base_env(), cwd=tmp_path)
    assert failed.returncode != 0 and "/nonexistent/gunicorn" in failed.stdout + failed.stderr


def get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def poll(url: str, want: int, server: ServerProcess, timeout: float = 60.0) -> dict[str, Any]:
    """GET ``url`` until it answers ``want`` (the server starts, the worker's first heartbeat comes)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise AssertionError(f"the server exited:\n{server.output()[-4000:]}")
        try:
            status, body = get(url)
        except OSError as exc:
            last = exc
        else:
            if status == want:
                return body
            last = (status, body)
        time.sleep(0.1)
    raise AssertionError(f"{url} never answered {want} (last: {last}):\n{server.output()[-4000:]}")


def test_gunicorn_with_the_shipped_config_serves_the_probes_on_postgresql(fresh_database: Any, tmp_path: Path) -> None:
    """The Procfile's release and web commands: migrate a fresh database, then gunicorn -c deploy/gunicorn.conf.py."""
    port = free_port()
    env = migrated(
        fresh_database(),
        PORT=str(port),
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="127.0.0.1",
        WORKER_HEARTBEAT_FILE=str(tmp_path / "heartbeat"),
    )
    server = ServerProcess(["bash", "-c", f"exec {procfile()['web']}"], env, tmp_path / "web.log", port)
    try:
        assert poll(f"http://127.0.0.1:{port}/healthz", 200, server) == {"status": "ok"}
        ready = poll(f"http://127.0.0.1:{port}/readyz", 200, server)
        assert ready["status"] == "ok" and set(ready["checks"]) == {"database", "worker"}
        log = server.output()
        assert "Using worker: gthread" in log and log.count("Booting worker") == 2
        assert len(re.findall(r"embedded worker: process \d+ runs the background work", log)) == 1
    finally:
        server.stop()


@pytest.mark.parametrize(("role", "ready"), [("worker", " ready."), ("beat", "beat: Starting...")])
def test_the_procfiles_celery_commands_start(
    role: str, ready: str, fresh_database: Any, broker_url: str, tmp_path: Path
) -> None:
    env = migrated(fresh_database(), CELERY_BROKER_URL=broker_url, TMPDIR=str(tmp_path))
    server = ServerProcess(["bash", "-c", f"exec {procfile()[role]}"], env, tmp_path / f"{role}.log")
    try:
        server.wait_for(lambda out: ready in out, timeout=90, what=f"celery {role} to start")
    finally:
        server.stop()
    assert not (ROOT / "celerybeat-schedule").exists()  # beat's state goes to the temporary directory


def test_the_install_steps_extra_and_static_files(tmp_path: Path) -> None:
    """The ``deploy`` extra brings gunicorn; collectstatic gathers the admin's and the API docs' assets."""
    import tomllib

    install = block("install")
    extra = re.search(r"pip install -e '\.\[(\w+)\]'", install)
    assert extra, install
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(req.startswith("gunicorn") for req in extras[extra.group(1)])
    line = next(cmd for cmd in install.splitlines() if "collectstatic" in cmd).split("#")[0]
    done = sh(line.replace(".venv/bin/python", sys.executable), base_env())
    assert done.returncode == 0, done.stdout + done.stderr
    static = ROOT / "staticfiles"  # STATIC_ROOT, where the guide's nginx snippet serves /static/ from
    assert "alias /srv/connector/staticfiles/;" in guide()
    assert (static / "admin" / "css" / "base.css").is_file()
    assert (static / "drf_spectacular_sidecar" / "swagger-ui-dist" / "swagger-ui-bundle.js").is_file()


# --- check --deploy with the shipped environment file --------------------------------------------


def filled_env_file(tmp_path: Path, **values: str) -> Path:
    """deploy/connector.env with each <…> filled in (generated secrets, the test's services)."""
    generated = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "METRICS_TOKEN": secrets.token_urlsafe(32),
        "ALERT_EMAILS": "ops@example.com",
        "EMAIL_URL": "smtp://127.0.0.1:25",
        "DEFAULT_FROM_EMAIL": "connector@example.com",
        **values,
    }
    lines = []
    for line in (ROOT / "deploy" / "connector.env").read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#") and value.startswith("<"):
            value = generated.get(name, f"filled-{name.lower()}")
        lines.append(f"{name}{sep}{value}" if sep else line)
    path = tmp_path / "connector.env"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_check_deploy_is_clean_with_the_shipped_environment_file(tmp_path: Path) -> None:
    env_file = filled_env_file(
        tmp_path, DATABASE_URL=postgres_url("connector"), CELERY_BROKER_URL="redis://127.0.0.1:6379/0"
    )
    script = block("check-deploy").replace("/etc/connector/connector.env", str(env_file))
    script = script.replace(".venv/bin/python", sys.executable)
    done = sh(script, base_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout
    # …with teeth: the file without its HTTPS lines fails.
    stripped = tmp_path / "stripped.env"
    stripped.write_text(
        "\n".join(line for line in env_file.read_text().splitlines() if not line.startswith("SECURE_")) + "\n"
    )
    failed = sh(script.replace(str(env_file), str(stripped)), base_env())
    assert failed.returncode != 0 and "security.W008" in failed.stderr


# --- backups ------------------------------------------------------------------------------------------

CREATE_CONNECTION = (
    "from calendly_sync.models import Connection; "
    "Connection.objects.create(name='prod', access_token='pat-secret-0123456789', brevo_api_key='xkeysib-secret-42')"
)
SHOW_SECRETS = (
    "from calendly_sync.models import Connection; c = Connection.objects.get(name='prod'); "
    "print(c.access_token, c.brevo_api_key)"
)


def test_backup_and_restore_round_trip_a_migrated_database_with_its_key(fresh_database: Any, tmp_path: Path) -> None:
    for tool in ("pg_dump", "pg_restore"):
        if shutil.which(tool) is None:
            missing(f"{tool} is not installed (apt-get install postgresql-client)")
    key = Fernet.generate_key().decode()
    source = migrated(fresh_database(), FIELD_ENCRYPTION_KEYS=key)
    created = manage_shell(CREATE_CONNECTION, source)
    assert created.returncode == 0, created.stderr

    backups = tmp_path / "backups"
    backups.mkdir()
    done = sh(block("backup"), {**source, "BACKUP_DIR": str(backups)})
    assert done.returncode == 0, done.stderr
    (dump,) = backups.glob("connector-*.dump")
    assert re.fullmatch(r"connector-\d{8}T\d{6}Z\.dump", dump.name)

    target = {**source, "DATABASE_URL": fresh_database(), "BACKUP_FILE": str(dump)}
    done = sh(block("restore"), target)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No migrations to apply." in done.stdout
    shown = manage_shell(SHOW_SECRETS, target)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split() == ["pat-secret-0123456789", "xkeysib-secret-42"]
    # Restored without its key, the secrets are lost: why the guide says to back the key up.
    other = manage_shell(SHOW_SECRETS, {**target, "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode()})
    assert other.returncode != 0 and "cannot be decrypted with FIELD_ENCRYPTION_KEYS" in other.stderr


# --- key rotations ------------------------------------------------------------------------------------


def stored(env: dict[str, str]) -> str:
    """The access token's column as stored (encrypted), read without decrypting."""
    code = (
        "from django.db import connection as c; cur = c.cursor(); "
        "cur.execute(\"select access_token from calendly_sync_connection where name = 'prod'\"); "
        "print(cur.fetchone()[0])"
    )
    done = manage_shell(code, env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_rotating_the_field_encryption_key_as_documented(fresh_database: Any) -> None:
    old = Fernet.generate_key().decode()
    env = migrated(fresh_database(), FIELD_ENCRYPTION_KEYS=old)
    assert manage_shell(CREATE_CONNECTION, env).returncode == 0
    before = stored(env)
    # The block, then the secrets read with the new key alone (its last line left only $NEW).
    done = sh(
        f'{block("rotate-field-keys")}\npython manage.py shell --no-imports -c "{SHOW_SECRETS}"', {**env, "OLD": old}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "re-encrypted 2 secrets on 1 connections" in done.stdout
    assert done.stdout.split()[-2:] == ["pat-secret-0123456789", "xkeysib-secret-42"]
    after = stored(env | {"FIELD_ENCRYPTION_KEYS": old})
    assert after != before
    with pytest.raises(InvalidToken):  # the old key no longer opens what is stored
        Fernet(old.encode()).decrypt(after.removeprefix("enc1:").encode())


def test_rotating_secret_key_as_documented_keeps_secrets_and_erasures(fresh_database: Any) -> None:
    """No FIELD_ENCRYPTION_KEYS (the key derived from SECRET_KEY), and an erasure record keyed by SECRET_KEY."""
    old = secrets.token_urlsafe(50)
    env = migrated(fresh_database(), SECRET_KEY=old)
    forget = (
        "from calendly_sync.models.privacy import Suppression, email_hashes; "
        "Suppression.objects.create(email_hash=email_hashes('gone@example.com')[0])"
    )
    assert manage_shell(f"{CREATE_CONNECTION}; {forget}", env).returncode == 0
    still_erased = (
        "from calendly_sync.models.privacy import Suppression, email_hashes; "
        "print(Suppression.objects.filter(email_hash__in=email_hashes('gone@example.com')).exists())"
    )
    script = f"{block('rotate-secret-key')}\n"
    shell = "python manage.py shell --no-imports -c"
    script += f'{shell} "{SHOW_SECRETS}"\n{shell} "{still_erased}"\n'
    script += f'env -u SECRET_KEY_FALLBACKS {shell} "{SHOW_SECRETS}"'
    done = sh(script, {**env, "OLD": old})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "re-encrypted 2 secrets on 1 connections" in done.stdout
    # With the fallback: secrets and the erasure hold; without it (new key only) the secrets still do.
    assert done.stdout.split()[-5:] == [
        "pat-secret-0123456789",
        "xkeysib-secret-42",
        "True",
        "pat-secret-0123456789",
        "xkeysib-secret-42",
    ]


def documented_command(name: str, connection: str) -> list[str]:
    """The guide's ``python manage.py …`` line of block ``name``, as arguments for call_command."""
    line = next(cmd for cmd in block(name).splitlines() if cmd.startswith("python manage.py"))
    argv = shlex.split(line.split("#")[0].replace('"$CONNECTION"', shlex.quote(connection)))
    return argv[2:]


@pytest.mark.django_db
def test_rotating_the_brevo_key_as_documented(sims: tuple[Any, Any], connection: Connection) -> None:
    _, brevo_sim = sims
    command = documented_command("rotate-brevo-key", connection.name)
    assert command[:1] == ["calendly_doctor"]
    brevo_sim.api_keys = {SANDBOX_API_KEY, "xkeysib-new-key-2"}  # the new key, created in Brevo
    conn = Connection.objects.get(pk=connection.pk)
    conn.brevo_api_key = "xkeysib-new-key-2"  # what the admin's field saves
    conn.save(update_fields=["brevo_api_key"])
    brevo_sim.api_keys = {"xkeysib-new-key-2"}  # the old key deleted in Brevo
    out = run_command(command)
    assert "[OK  ] Brevo API key: valid" in out, out
    conn.brevo_api_key = SANDBOX_API_KEY  # a connection still on the deleted key is told
    conn.save(update_fields=["brevo_api_key"])
    assert "[FAIL] Brevo API key" in run_command(command)


def run_command(argv: list[str]) -> str:
    import io

    out = io.StringIO()
    try:
        call_command(*argv, stdout=out, stderr=out)
    except CommandError as exc:
        out.write(f"\nCommandError: {exc}")
    return out.getvalue()


@pytest.mark.django_db
def test_rotating_the_webhook_signing_key_as_documented(
    client: Any, sims: tuple[Any, Any], connection: Connection, settings: Any
) -> None:
    calendly_sim, _ = sims
    settings.SITE_URL = "https://connector.example.com"
    run_command(["calendly_webhooks", "ensure", "--connection", connection.name])
    connection.refresh_from_db()
    old_key, old_sub = connection.webhook_signing_key, connection.webhook_subscription_uri

    out = run_command(documented_command("rotate-signing-key", connection.name))
    connection.refresh_from_db()
    assert f"{connection.name}: rotated organization-scope subscription" in out, out
    assert "gap backfill:" in out
    new_key = connection.webhook_signing_key
    assert new_key and new_key != old_key and connection.previous_signing_key == old_key
    assert connection.webhook_subscription_uri != old_sub
    live = [s for s in calendly_sim.subscriptions.values() if s["state"] == "active"]
    assert [s["_signing_key"] for s in live] == [new_key]
    # Deliveries signed with either key are accepted during the grace period; any other key is not.
    body = json.dumps({"event": "event_type.updated", "created_at": "2026-01-01T00:00:00.000000Z", "payload": {}})
    for key, status in ((new_key, 200), (old_key, 200), ("another-key", 401)):
        resp = client.post(
            f"/webhooks/calendly/{connection.pk}/",
            data=body.encode(),
            content_type="application/json",
            HTTP_CALENDLY_WEBHOOK_SIGNATURE=sign(body.encode(), key),
        )
        assert resp.status_code == status, (key == new_key, resp.content)
