"""The app's settings have defaults: a project that sets none of them still works (no AttributeError)."""

from __future__ import annotations

from typing import Any

import pytest

from calendly_sync import conf, crypto
from calendly_sync.conf import AppSettings, app_settings
from connector_site import settings as project_settings

DEFAULTS = {
    "SITE_URL": "http://127.0.0.1:8000",
    "CALENDLY_API_URL": "https://api.calendly.com",
    "CALENDLY_AUTH_URL": "https://auth.calendly.com",
    "BREVO_API_URL": "https://api.brevo.com/v3",
    "BREVO_IMPORT_NOTIFY": False,
    "CALENDLY_ACCESS_TOKEN": "",
    "BREVO_API_KEY": "",
    "CALENDLY_WEBHOOK_SIGNING_KEY": "",
    "CALENDLY_CLIENT_ID": "",
    "CALENDLY_CLIENT_SECRET": "",
    "CALENDLY_SCHEDULING_FEATURES": False,
    "CALENDLY_OAUTH_SCOPES": "",
    "CALENDLY_WEBHOOK_TOLERANCE": 180,
    "FIELD_ENCRYPTION_KEYS": (),
    "INSECURE_DEFAULT_SECRET_KEY": "insecure-development-key-set-SECRET_KEY-in-production",
    "CELERY_BROKER_URL": None,
    "CONNECTOR_EMBEDDED_WORKER": True,
    "DELIVERY_RETENTION_DAYS": 30,
    "SYNC_LOG_RETENTION_DAYS": 90,
    "AUTOMATION_EVENT_RETENTION_DAYS": 90,
    "RETRY_HORIZON_HOURS": 72,
    "METRICS_TOKEN": "",
    "WORKER_HEARTBEAT_FILE": "",
    "WORKER_HEARTBEAT_MAX_AGE": 120.0,
    "BOOKING_FRAME_ANCESTORS": (),
    "ALERT_EMAILS": (),
    "ALERT_WEBHOOK_URL": "",
    "ALERT_BACKLOG_MINUTES": 60.0,
    "ALERT_CHECK_INTERVAL": 300.0,
    "ALERT_WEBHOOK_TIMEOUT": 10.0,
}


def _unset(settings: Any, name: str) -> None:
    if hasattr(settings, name):
        delattr(settings, name)


def test_every_app_setting_is_declared_with_the_documented_default() -> None:
    assert {name: setting.default for name, setting in AppSettings.declared().items()} == DEFAULTS


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_a_project_without_the_setting_gets_the_default(settings: Any, name: str) -> None:
    _unset(settings, name)
    assert getattr(app_settings, name) == DEFAULTS[name]
    assert not AppSettings.declared()[name].is_set()


def test_a_project_without_any_app_setting_gets_every_default(settings: Any) -> None:
    for name in DEFAULTS:
        _unset(settings, name)
    assert {name: getattr(app_settings, name) for name in DEFAULTS} == DEFAULTS


def test_values_are_read_at_access_time(settings: Any) -> None:
    settings.CALENDLY_WEBHOOK_TOLERANCE = 60
    assert app_settings.CALENDLY_WEBHOOK_TOLERANCE == 60
    settings.CALENDLY_WEBHOOK_TOLERANCE = 90
    assert app_settings.CALENDLY_WEBHOOK_TOLERANCE == 90
    assert AppSettings.CALENDLY_WEBHOOK_TOLERANCE.is_set()


def test_urls_lose_their_trailing_slash(settings: Any) -> None:
    settings.SITE_URL = "https://connector.example.com/"
    settings.BREVO_API_URL = "http://127.0.0.1:9000/v3/"
    assert app_settings.SITE_URL == "https://connector.example.com"
    assert app_settings.BREVO_API_URL == "http://127.0.0.1:9000/v3"


def test_the_project_sets_every_app_setting_from_its_environment() -> None:
    """connector_site/settings.py stays the place where the environment is read."""
    missing = [name for name in DEFAULTS if not hasattr(project_settings, name)]
    assert missing == []
    assert project_settings.INSECURE_DEFAULT_SECRET_KEY == conf.INSECURE_DEFAULT_SECRET_KEY


def test_secrets_at_rest_work_without_field_encryption_keys(settings: Any) -> None:
    _unset(settings, "FIELD_ENCRYPTION_KEYS")
    stored = crypto.encrypt("a secret")
    assert stored.startswith(crypto.PREFIX)
    assert crypto.decrypt(stored) == "a secret"
