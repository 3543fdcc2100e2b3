"""LOG_FORMAT=json: Django's, Celery's and the app's log lines are JSON with the request id, and no
secret survives (message, arguments or traceback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.ops.test_health import ROOT

SCRIPT = r"""
import logging, django
django.setup()
from django.test.utils import setup_test_environment; setup_test_environment()
from django.test import Client
from django.urls import path
from django.http import HttpResponse
import connector_site.urls as urls


def noisy(request):
    logging.getLogger("calendly_sync.push").warning("pushing with api-key: %s", "xkeysib-0123456789abcdef")
    logging.getLogger("django.request").error(
        "upstream said Authorization: Bearer tok3n-s3cret", extra={"status_code": 502, "request": request}
    )
    logging.getLogger("celery.worker").warning("access_token=abcdef123456 expired")
    try:
        raise RuntimeError("refresh_token=r3fr3sh-s3cret rejected")
    except RuntimeError:
        logging.getLogger("django.server").exception("while serving")
    return HttpResponse("ok")


urls.urlpatterns.insert(0, path("noisy", noisy))
response = Client().get("/noisy?code=oauth-c0de-s3cret", HTTP_X_REQUEST_ID="proxy-id-42")
assert response["X-Request-ID"] == "proxy-id-42", response.headers
second = Client().get("/noisy", HTTP_X_REQUEST_ID="bad id\nwith newline")
print("SECOND", second["X-Request-ID"], flush=True)
logging.getLogger("calendly_sync.runtime").warning("outside any request")
"""

SECRETS = ("xkeysib-0123456789abcdef", "tok3n-s3cret", "abcdef123456", "r3fr3sh-s3cret", "oauth-c0de-s3cret")


def run(log_format: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "connector_site.settings",
        "DATABASE_URL": "sqlite:///:memory:",
        "CELERY_BROKER_URL": "",
        "CONNECTOR_EMBEDDED_WORKER": "false",
        "LOG_FORMAT": log_format,
    }
    return subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )


def test_every_logger_writes_json_lines_with_the_request_id_and_no_secret():
    done = run("json")
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    by_logger = {line["logger"]: line for line in lines}
    assert {"calendly_sync.push", "django.request", "celery.worker", "django.server", "calendly_sync.runtime"} <= set(
        by_logger
    ), done.stderr
    for line in lines:
        assert {"time", "level", "logger", "message", "request_id"} <= set(line)
    first = [line for line in lines if line["request_id"] == "proxy-id-42"]
    assert {line["logger"] for line in first} == {
        "calendly_sync.push",
        "django.request",
        "celery.worker",
        "django.server",
    }
    second_id = done.stdout.split("SECOND ", 1)[1].split()[0]
    assert len(second_id) == 32 and second_id != "proxy-id-42"  # a header that is no id is replaced
    assert sum(line["request_id"] == second_id for line in lines) == 4
    assert by_logger["calendly_sync.runtime"]["request_id"] is None
    assert by_logger["django.server"]["level"] == "ERROR"
    assert "RuntimeError" in "".join(by_logger["django.server"]["exc_info"])
    for secret in SECRETS:
        assert secret not in done.stderr
    assert "[redacted]" in by_logger["calendly_sync.push"]["message"]
    django_request = next(line for line in first if line["logger"] == "django.request")
    assert django_request["status_code"] == 502
    assert django_request["request"] == "GET /noisy"  # never its query string


def test_the_plain_format_stays_text_and_redacted():
    done = run("plain")
    assert "calendly_sync.push pushing with api-key: [redacted]" in done.stderr
    assert not done.stderr.lstrip().startswith("{")
    for secret in SECRETS[:2]:
        assert secret not in done.stderr


def test_an_unknown_log_format_is_refused():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "connector_site.settings", "LOG_FORMAT": "xml"}
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "LOG_FORMAT must be plain or json, not 'xml'" in done.stderr
