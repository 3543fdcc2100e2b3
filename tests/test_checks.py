"""System checks: each misconfiguration is reported with its id and a hint; a sound configuration is quiet."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.checks import CheckMessage, run_checks

INSECURE = "insecure-development-key-set-SECRET_KEY-in-production"


def app_messages() -> list[CheckMessage]:
    return [m for m in run_checks() if (m.id or "").startswith("calendly_sync.")]


def app_ids() -> set[str]:
    return {m.id for m in app_messages() if m.id}


@pytest.fixture
def sound(settings: Any) -> Any:
    """A production-like configuration that raises nothing."""
    settings.DEBUG = False
    settings.SECRET_KEY = "a-long-random-production-secret-key-0123456789"
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    settings.SITE_URL = "https://connector.example.com"
    settings.CALENDLY_API_URL = "https://api.calendly.com"
    settings.CALENDLY_AUTH_URL = "https://auth.calendly.com"
    settings.BREVO_API_URL = "https://api.brevo.com/v3"
    settings.CALENDLY_WEBHOOK_TOLERANCE = 180
    settings.RETRY_HORIZON_HOURS = 72
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    return settings


def test_a_sound_configuration_raises_nothing(sound: Any) -> None:
    assert app_messages() == []


def test_every_message_has_a_hint(settings: Any) -> None:
    settings.DEBUG = False
    settings.SECRET_KEY = INSECURE
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-key"]
    settings.SITE_URL = "connector.example.com"
    settings.CALENDLY_WEBHOOK_TOLERANCE = -1
    settings.RETRY_HORIZON_HOURS = 0
    settings.CELERY_BROKER_URL = "127.0.0.1:6379"
    settings.BREVO_API_URL = "/v3"
    settings.BOOKING_FRAME_ANCESTORS = ["www.example.com"]
    settings.ALERT_EMAILS = "ops@example.com"
    settings.ALERT_WEBHOOK_URL = "hooks.slack.com/x"
    settings.ALERT_BACKLOG_MINUTES = 0
    messages = app_messages()
    assert {m.id for m in messages} == {
        "calendly_sync.W001",
        "calendly_sync.E001",
        "calendly_sync.E002",
        "calendly_sync.E003",
        "calendly_sync.E004",
        "calendly_sync.E005",
        "calendly_sync.E006",
        "calendly_sync.E007",
        "calendly_sync.E008",
        "calendly_sync.E009",
        "calendly_sync.E010",
    }
    assert all(m.hint for m in messages)


# -- W001, W002: the development SECRET_KEY (today's checks, same ids) ---------------------------


def test_insecure_secret_key_outside_debug(sound: Any) -> None:
    sound.SECRET_KEY = INSECURE
    assert app_ids() == {"calendly_sync.W001"}
    sound.DEBUG = True
    assert app_ids() == set()


def test_secrets_encrypted_with_a_key_derived_from_the_default_secret_key(sound: Any) -> None:
    sound.DEBUG = True
    sound.SECRET_KEY = INSECURE
    sound.FIELD_ENCRYPTION_KEYS = []
    assert app_ids() == {"calendly_sync.W002"}


def test_the_secret_key_checks_work_in_a_project_without_the_app_settings(sound: Any) -> None:
    del sound.FIELD_ENCRYPTION_KEYS
    del sound.INSECURE_DEFAULT_SECRET_KEY
    sound.SECRET_KEY = INSECURE
    assert app_ids() == {"calendly_sync.W001", "calendly_sync.W002"}


# -- E001, W003: SITE_URL ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["connector.example.com", "ftp://connector.example.com", "https://", "", "/sync"])
def test_site_url_must_be_an_absolute_http_url(sound: Any, value: str) -> None:
    sound.SITE_URL = value
    [message] = app_messages()
    assert message.id == "calendly_sync.E001"
    assert "SITE_URL" in message.msg and "https://connector.example.com" in message.hint


@pytest.mark.parametrize("value", ["http://127.0.0.1:8000", "https://connector.example.com/sync"])
def test_site_url_accepts_http_and_https_urls(sound: Any, value: str) -> None:
    sound.SITE_URL = value
    assert app_ids() == set()


def test_an_unset_site_url_is_reported_outside_debug(sound: Any) -> None:
    del sound.SITE_URL
    assert app_ids() == {"calendly_sync.W003"}
    sound.DEBUG = True
    assert app_ids() == set()


# -- E002: CALENDLY_WEBHOOK_TOLERANCE -------------------------------------------------------------


@pytest.mark.parametrize("value", [-1, 0, "180", None, True])
def test_the_webhook_tolerance_must_be_a_positive_number_of_seconds(sound: Any, value: object) -> None:
    sound.CALENDLY_WEBHOOK_TOLERANCE = value
    [message] = app_messages()
    assert message.id == "calendly_sync.E002"
    assert "180" in message.hint


# -- E006: RETRY_HORIZON_HOURS -------------------------------------------------------------------


@pytest.mark.parametrize("value", [-1, 0, "72", None, True])
def test_the_retry_horizon_must_be_a_positive_number_of_hours(sound: Any, value: object) -> None:
    sound.RETRY_HORIZON_HOURS = value
    [message] = app_messages()
    assert message.id == "calendly_sync.E006"
    assert "72 h" in message.hint


def test_a_fractional_retry_horizon_is_fine(sound: Any) -> None:
    sound.RETRY_HORIZON_HOURS = 0.5
    assert app_messages() == []


# -- E003: FIELD_ENCRYPTION_KEYS ------------------------------------------------------------------


def test_an_encryption_key_that_is_not_a_fernet_key(sound: Any) -> None:
    sound.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), "not-a-key"]
    [message] = app_messages()
    assert message.id == "calendly_sync.E003"
    assert "entry 2" in message.msg
    assert "Fernet.generate_key()" in message.hint


def test_encryption_keys_given_as_one_string(sound: Any) -> None:
    sound.FIELD_ENCRYPTION_KEYS = Fernet.generate_key().decode()
    [message] = app_messages()
    assert message.id == "calendly_sync.E003"
    assert "list" in message.msg


def test_blank_encryption_key_entries_are_ignored_as_crypto_ignores_them(sound: Any) -> None:
    sound.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), " "]
    assert app_ids() == set()


# -- E004: CELERY_BROKER_URL ----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["127.0.0.1:6379", "localhost:6379/0", "redis"])
def test_a_broker_url_without_a_scheme(sound: Any, value: str) -> None:
    sound.CELERY_BROKER_URL = value
    [message] = app_messages()
    assert message.id == "calendly_sync.E004"
    assert "redis://" in message.hint


@pytest.mark.parametrize("value", [None, "", "amqp://guest:guest@localhost:5672//", "memory://"])
def test_no_broker_or_a_full_broker_url(sound: Any, value: str | None) -> None:
    sound.CELERY_BROKER_URL = value
    assert app_ids() == set()


# -- E005: the API base URLs -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["CALENDLY_API_URL", "CALENDLY_AUTH_URL", "BREVO_API_URL"])
def test_api_base_urls_must_be_absolute(sound: Any, name: str) -> None:
    setattr(sound, name, "api.example.com")
    [message] = app_messages()
    assert message.id == "calendly_sync.E005"
    assert name in message.msg


def test_field_encryption_keys_unset_in_production(sound: Any) -> None:
    sound.FIELD_ENCRYPTION_KEYS = []
    assert app_ids() == {"calendly_sync.W004"}
    sound.DEBUG = True
    assert app_ids() == set()


# -- E007: BOOKING_FRAME_ANCESTORS ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("www.example.com", "must start with https://"),
        ("https://www.example.com/book", "origin only"),
        ("https://www.example.com?x=1", "origin only"),
        ("https://a.example.com https://b.example.com", "contains a space"),
        ("https://a.example.com;script-src *", "contains a space"),
        ("https://user:pw@example.com", "user name"),
        ("https://example.com:99999", "invalid port"),
        ("https://exa_mple.com", "invalid host"),
        ("*", "must start with https://"),
    ],
)
def test_a_frame_ancestor_that_is_not_an_origin(sound: Any, value: str, reason: str) -> None:
    sound.BOOKING_FRAME_ANCESTORS = ["https://ok.example.com", value]
    [message] = app_messages()
    assert message.id == "calendly_sync.E007" and reason in message.msg and repr(value) in message.msg
    assert "BOOKING_FRAME_ANCESTORS=https://www.example.com" in message.hint


def test_frame_ancestors_given_as_one_string(sound: Any) -> None:
    sound.BOOKING_FRAME_ANCESTORS = "https://www.example.com"
    [message] = app_messages()
    assert message.id == "calendly_sync.E007" and "list of origins" in message.msg


@pytest.mark.parametrize(
    "value",
    [[], ["https://www.example.com", " http://localhost:8080/ ", "https://*.example.org", "http://[::1]:3000", ""]],
)
def test_origins_are_fine(sound: Any, value: list[str]) -> None:
    sound.BOOKING_FRAME_ANCESTORS = value
    assert app_messages() == []


# -- E008-E010: the alerts ---------------------------------------------------------------------


@pytest.mark.parametrize("value", ["ops@example.com", None, ["ops@example.com", "not an address"]])
def test_alert_emails_must_be_a_list_of_addresses(sound: Any, value: object) -> None:
    sound.ALERT_EMAILS = value
    assert app_ids() == {"calendly_sync.E008"}


@pytest.mark.parametrize("value", ["hooks.slack.com/services/x", "ftp://example.com/hook"])
def test_the_alert_webhook_url_must_be_an_http_url(sound: Any, value: str) -> None:
    sound.ALERT_WEBHOOK_URL = value
    assert app_ids() == {"calendly_sync.E009"}


@pytest.mark.parametrize("name", ["ALERT_BACKLOG_MINUTES", "ALERT_CHECK_INTERVAL", "ALERT_WEBHOOK_TIMEOUT"])
@pytest.mark.parametrize("value", [0, -5, "60", True])
def test_alert_numbers_must_be_positive(sound: Any, name: str, value: object) -> None:
    setattr(sound, name, value)
    assert app_ids() == {"calendly_sync.E010"}


def test_sound_alert_settings(sound: Any) -> None:
    sound.ALERT_EMAILS = ["ops@example.com", "oncall@example.com"]
    sound.ALERT_WEBHOOK_URL = "https://hooks.slack.com/services/T/B/x"
    sound.ALERT_BACKLOG_MINUTES = 15
    assert app_ids() == set()
