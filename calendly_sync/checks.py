"""System checks: settings that cannot work (errors) or that suit a sandbox but not production (warnings).

``manage.py check`` (and every command that runs the checks) reports them with a hint, so a
misconfiguration shows at start-up rather than as a failed webhook or backfill later.

Ids: ``W001``/``W002`` insecure secrets; ``W003`` SITE_URL left to its default; ``E001`` SITE_URL,
``E002`` CALENDLY_WEBHOOK_TOLERANCE, ``E003`` FIELD_ENCRYPTION_KEYS, ``E004`` CELERY_BROKER_URL,
``E005`` an API base URL, ``E006`` RETRY_HORIZON_HOURS, ``E007`` BOOKING_FRAME_ANCESTORS, ``E008`` ALERT_EMAILS,
``E009`` ALERT_WEBHOOK_URL, ``E010`` ALERT_BACKLOG_MINUTES, ALERT_CHECK_INTERVAL or ALERT_WEBHOOK_TIMEOUT: each
a value that cannot work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from calendly_sync.booking_page.frames import origin_problem
from calendly_sync.conf import AppSettings, app_settings

GENERATE_KEY = "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"


def _is_absolute_http_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


@register()
def deployment_settings(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """The development SECRET_KEY, and secrets at rest encrypted with a key derived from it."""
    issues: list[CheckMessage] = []
    insecure_key = settings.SECRET_KEY == app_settings.INSECURE_DEFAULT_SECRET_KEY
    if not settings.DEBUG and insecure_key:
        issues.append(
            Warning(
                "SECRET_KEY is the insecure default.",
                hint="Set SECRET_KEY in the environment.",
                id="calendly_sync.W001",
            )
        )
    if not app_settings.FIELD_ENCRYPTION_KEYS and insecure_key:
        issues.append(
            Warning(
                "Secrets are encrypted with a key derived from the default SECRET_KEY.",
                hint="Set FIELD_ENCRYPTION_KEYS (see README, 'Secrets at rest').",
                id="calendly_sync.W002",
            )
        )
    elif not app_settings.FIELD_ENCRYPTION_KEYS and not settings.DEBUG:
        issues.append(
            Warning(
                "Secrets at rest are encrypted with a key derived from SECRET_KEY.",
                hint="Set FIELD_ENCRYPTION_KEYS, so that rotating SECRET_KEY is independent of the stored "
                "secrets (see README, 'Secrets at rest').",
                id="calendly_sync.W004",
            )
        )
    return issues


@register()
def url_settings(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """SITE_URL and the API base URLs are absolute http(s) URLs."""
    issues: list[CheckMessage] = []
    site_url = app_settings.SITE_URL
    if not _is_absolute_http_url(site_url):
        issues.append(
            Error(
                f"SITE_URL must be an absolute http(s) URL, not {site_url!r}.",
                hint="Set SITE_URL to the site's public URL, e.g. https://connector.example.com: the OAuth "
                "redirect URI and the webhook callback URLs are built from it.",
                id="calendly_sync.E001",
            )
        )
    elif not AppSettings.SITE_URL.is_set() and not settings.DEBUG:
        issues.append(
            Warning(
                f"SITE_URL is not set, so the OAuth redirect URI and webhook callback URLs use {site_url}.",
                hint="Set SITE_URL to the site's public URL, e.g. https://connector.example.com.",
                id="calendly_sync.W003",
            )
        )
    for name in ("CALENDLY_API_URL", "CALENDLY_AUTH_URL", "BREVO_API_URL"):
        value = getattr(app_settings, name)
        if not _is_absolute_http_url(value):
            issues.append(
                Error(
                    f"{name} must be an absolute http(s) URL, not {value!r}.",
                    hint=f"Leave {name} unset to reach the real service, or give a simulator's full URL "
                    "(http://127.0.0.1:PORT).",
                    id="calendly_sync.E005",
                )
            )
    return issues


@register()
def webhook_settings(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """The signature tolerance is a positive number of seconds (0 or less rejects every delivery)."""
    tolerance = app_settings.CALENDLY_WEBHOOK_TOLERANCE
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or tolerance <= 0:
        return [
            Error(
                f"CALENDLY_WEBHOOK_TOLERANCE must be a positive number of seconds, not {tolerance!r}: "
                "no webhook signature could be accepted.",
                hint="Leave it unset for 180 s (Calendly's own example uses 3 minutes).",
                id="calendly_sync.E002",
            )
        ]
    return []


@register()
def retry_settings(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """The retry horizon is a positive number of hours (0 or less fails every delivery at its first outage)."""
    hours = app_settings.RETRY_HORIZON_HOURS
    if isinstance(hours, bool) or not isinstance(hours, int | float) or hours <= 0:
        return [
            Error(
                f"RETRY_HORIZON_HOURS must be a positive number of hours, not {hours!r}: a Brevo outage would "
                "fail deliveries and automation events at their first attempt.",
                hint=f"Leave it unset for {AppSettings.RETRY_HORIZON_HOURS.default} h, or give how long an outage "
                "may last before failed deliveries need requeueing from the admin.",
                id="calendly_sync.E006",
            )
        ]
    return []


@register()
def encryption_settings(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """FIELD_ENCRYPTION_KEYS is a list of Fernet keys (a plain string would be read letter by letter)."""
    keys = app_settings.FIELD_ENCRYPTION_KEYS
    if isinstance(keys, str) or not isinstance(keys, list | tuple):
        return [
            Error(
                f"FIELD_ENCRYPTION_KEYS must be a list of Fernet keys, not {type(keys).__name__}.",
                hint="In settings: FIELD_ENCRYPTION_KEYS = env.list('FIELD_ENCRYPTION_KEYS', default=[]); in the "
                "environment: comma-separated keys, newest first.",
                id="calendly_sync.E003",
            )
        ]
    issues: list[CheckMessage] = []
    for position, key in enumerate(keys, start=1):
        if isinstance(key, str) and not key.strip():
            continue  # blank entries are skipped by calendly_sync.crypto
        try:
            Fernet(key.strip().encode() if isinstance(key, str) else key)
        except (ValueError, TypeError):
            issues.append(
                Error(
                    f"FIELD_ENCRYPTION_KEYS entry {position} is not a Fernet key (32 url-safe base64-encoded bytes).",
                    hint=f"Generate a key with: {GENERATE_KEY}",
                    id="calendly_sync.E003",
                )
            )
    return issues


@register()
def broker_settings(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """A configured CELERY_BROKER_URL names its transport (redis://, amqp://, …)."""
    broker = app_settings.CELERY_BROKER_URL
    if broker and (not isinstance(broker, str) or "://" not in broker or not urlsplit(broker).scheme):
        return [
            Error(
                f"CELERY_BROKER_URL has no scheme: {broker!r}.",
                hint="Use a full broker URL such as redis://127.0.0.1:6379/0 or amqp://user:password@host:5672//, "
                "or leave it unset to run work in-process.",
                id="calendly_sync.E004",
            )
        ]
    return []


@register()
def booking_page_settings(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """BOOKING_FRAME_ANCESTORS is a list of origins (a malformed entry is left out of the page's CSP)."""
    origins = app_settings.BOOKING_FRAME_ANCESTORS
    hint = (
        "Origins only, comma-separated in the environment: BOOKING_FRAME_ANCESTORS=https://www.example.com,"
        "https://*.example.org (scheme, host, optional port; no path)."
    )
    if isinstance(origins, str) or not isinstance(origins, list | tuple):
        return [
            Error(
                f"BOOKING_FRAME_ANCESTORS must be a list of origins, not {type(origins).__name__}.",
                hint=hint,
                id="calendly_sync.E007",
            )
        ]
    issues: list[CheckMessage] = []
    for origin in origins:
        problem = origin_problem(origin)
        if problem:
            issues.append(
                Error(
                    f"BOOKING_FRAME_ANCESTORS entry {origin!r} {problem}; it is left out of the booking page's "
                    "frame-ancestors.",
                    hint=hint,
                    id="calendly_sync.E007",
                )
            )
    return issues


@register()
def alert_settings(app_configs: Sequence[AppConfig] | None, **kwargs: Any) -> list[CheckMessage]:
    """ALERT_EMAILS is a list of addresses, ALERT_WEBHOOK_URL an http(s) URL, the numbers positive."""
    issues: list[CheckMessage] = []
    emails = app_settings.ALERT_EMAILS
    if isinstance(emails, str) or not isinstance(emails, list | tuple):
        issues.append(
            Error(
                f"ALERT_EMAILS must be a list of email addresses, not {type(emails).__name__}.",
                hint="In settings: ALERT_EMAILS = env.list('ALERT_EMAILS', default=[]); in the environment: "
                "comma-separated addresses.",
                id="calendly_sync.E008",
            )
        )
    else:
        for address in emails:
            try:
                validate_email(address)
            except ValidationError:
                issues.append(
                    Error(
                        f"ALERT_EMAILS has an entry that is not an email address: {address!r}.",
                        hint="Give comma-separated addresses, e.g. ops@example.com,oncall@example.com.",
                        id="calendly_sync.E008",
                    )
                )
    url = app_settings.ALERT_WEBHOOK_URL
    if url and not _is_absolute_http_url(url):
        issues.append(
            Error(
                f"ALERT_WEBHOOK_URL must be an absolute http(s) URL, not {url!r}.",
                hint="Give the incoming webhook's full URL (e.g. https://hooks.slack.com/services/...), or leave it "
                "unset to send alerts by email only.",
                id="calendly_sync.E009",
            )
        )
    for name in ("ALERT_BACKLOG_MINUTES", "ALERT_CHECK_INTERVAL", "ALERT_WEBHOOK_TIMEOUT"):
        value = getattr(app_settings, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            default = getattr(AppSettings, name).default
            issues.append(
                Error(
                    f"{name} must be a positive number, not {value!r}.",
                    hint=f"Leave it unset for {default:g}.",
                    id="calendly_sync.E010",
                )
            )
    return issues
