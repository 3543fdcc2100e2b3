"""Production settings: HTTPS from the environment, and ``check --deploy`` clean under README's production block."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from calendly_sync.conf import INSECURE_DEFAULT_SECRET_KEY
from calendly_sync.models import WebhookDelivery
from connector_site.settings import proxy_ssl_header
from tests.fixtures_servers import ROOT
from tests.test_tasks import signed_booking

# What a placeholder of README's production block stands for.
GENERATED = {
    "SECRET_KEY": lambda: secrets.token_urlsafe(50),
    "FIELD_ENCRYPTION_KEYS": lambda: Fernet.generate_key().decode(),
}


def documented_production_environment() -> dict[str, str]:
    """The ``sh`` block under README's "### Production", placeholders (``<…>``) filled in."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n### Production\n", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, "README's Production section has no sh block"
    env = {}
    for line in block.group(1).splitlines():
        name, _, value = line.partition("=")
        env[name] = GENERATED[name]() if value.startswith("<") else value
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``manage.py`` in a clean environment: only what is given (a ``.env`` file beside manage.py
    would fill in the rest: these tests assume it sets none of the HTTPS variables)."""
    base = {"PATH": os.environ.get("PATH", ""), "DJANGO_SETTINGS_MODULE": "connector_site.settings"}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_under_the_documented_production_environment():
    env = documented_production_environment()
    assert env["DEBUG"] == "false" and env["SECURE_SSL_REDIRECT"] == "true"
    done = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout
    # …and the check has teeth: the defaults with DEBUG off are not a deployment.
    bare = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env={
            "DEBUG": "false",
            "SECRET_KEY": INSECURE_DEFAULT_SECRET_KEY,
            "SECURE_SSL_REDIRECT": "false",
            "SECURE_HSTS_SECONDS": "0",
        },
    )
    assert bare.returncode != 0
    for warning in ("security.W004", "security.W008", "calendly_sync.W001"):
        assert warning in bare.stderr


SHOW = (
    "from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
    "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER)"
)


def test_cookies_are_secure_outside_debug_and_redirect_and_hsts_are_opt_in():
    assert manage("shell", "--no-imports", "-c", SHOW, env={"DEBUG": "false"}).stdout.split() == [
        "True",
        "True",
        "False",
        "0",
        "None",
    ]
    assert manage("shell", "--no-imports", "-c", SHOW, env={"DEBUG": "true"}).stdout.split()[:2] == ["False", "False"]
    production = manage("shell", "--no-imports", "-c", SHOW, env=documented_production_environment()).stdout.strip()
    assert production == "True True True 31536000 ('HTTP_X_FORWARDED_PROTO', 'https')"


def test_the_proxy_header_is_read_in_either_spelling():
    assert proxy_ssl_header("X-Forwarded-Proto,https") == ("HTTP_X_FORWARDED_PROTO", "https")
    assert proxy_ssl_header(" HTTP_X_FORWARDED_PROTO , https ") == ("HTTP_X_FORWARDED_PROTO", "https")
    assert proxy_ssl_header("") is None
    with pytest.raises(ImproperlyConfigured, match="X-Forwarded-Proto,https"):
        proxy_ssl_header("X-Forwarded-Proto")


@pytest.mark.django_db
def test_the_webhook_endpoint_works_behind_a_tls_proxy_with_the_ssl_redirect(
    client, connection, sims, event_types, settings
):
    """With the production settings a webhook the proxy forwarded (``X-Forwarded-Proto: https``) is
    stored and acknowledged; one reaching Django over plain HTTP is redirected, stored nowhere."""
    calendly_sim, _ = sims
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = proxy_ssl_header("X-Forwarded-Proto,https")
    body, signature = signed_booking(calendly_sim, event_types, "proxied@example.com")
    url = f"/webhooks/calendly/{connection.pk}/"
    post = {"data": body, "content_type": "application/json", "HTTP_CALENDLY_WEBHOOK_SIGNATURE": signature}

    plain = client.post(url, **post)
    assert plain.status_code == 301 and plain["Location"] == f"https://testserver{url}"
    assert not WebhookDelivery.objects.exists()

    proxied = client.post(url, HTTP_X_FORWARDED_PROTO="https", **post)
    assert proxied.status_code == 200, proxied.content
    assert WebhookDelivery.objects.get().email == "proxied@example.com"
