"""The app's settings, each with a default, read from the project's settings at access time.

A project that installs ``calendly_sync`` sets only what it needs: every setting the app reads is
declared here once, with its default and what it is for, so a missing one is never an
``AttributeError`` deep in a webhook or a backfill. ``connector_site/settings.py`` sets them all
from the environment (see README and ``.env.example``).

Values are read from ``django.conf.settings`` on every access, never cached, so
``override_settings`` and pytest-django's ``settings`` fixture take effect at once::

    from calendly_sync.conf import app_settings
    url = app_settings.SITE_URL + path

Django's own settings (``SECRET_KEY``, ``DEBUG``, ``AUTH_USER_MODEL``) are not repeated here: Django
gives them defaults itself. ``checks.py`` reports values that are set but cannot work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar, overload

from django.conf import settings

from calendly_sync.brevo.client import DEFAULT_BASE_URL as BREVO_DEFAULT_API_URL
from calendly_sync.calendly.client import DEFAULT_BASE_URL as CALENDLY_DEFAULT_API_URL
from calendly_sync.calendly.oauth import DEFAULT_AUTH_URL as CALENDLY_DEFAULT_AUTH_URL
from calendly_sync.calendly.signatures import DEFAULT_TOLERANCE
from calendly_sync.retries import DEFAULT_HORIZON_HOURS

T = TypeVar("T")

# connector_site/settings.py uses the same string; the system checks compare SECRET_KEY with it.
INSECURE_DEFAULT_SECRET_KEY = "insecure-development-key-set-SECRET_KEY-in-production"


def _no_trailing_slash(value: Any) -> Any:
    return value.rstrip("/") if isinstance(value, str) else value


def _origins(value: Any) -> Any:
    """A list of origins without surrounding spaces or blanks; anything else is left for the system check."""
    if isinstance(value, list | tuple):
        return tuple(v.strip() for v in value if not isinstance(v, str) or v.strip())
    return value


class Setting(Generic[T]):
    """One app setting: its default, an optional clean-up of the raw value, and its documentation."""

    def __init__(self, default: T, doc: str, clean: Callable[[Any], Any] | None = None) -> None:
        self.default = default
        self.doc = doc
        self.clean = clean
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> Setting[T]: ...
    @overload
    def __get__(self, instance: AppSettings, owner: type | None = None) -> T: ...
    def __get__(self, instance: AppSettings | None, owner: type | None = None) -> T | Setting[T]:
        if instance is None:
            return self
        value = getattr(settings, self.name, self.default)
        return self.clean(value) if self.clean else value

    def is_set(self) -> bool:
        """Whether the project defines this setting (rather than relying on the default)."""
        return hasattr(settings, self.name)


class AppSettings:
    """The settings ``calendly_sync`` reads. Access them through :data:`app_settings`."""

    # Where the site is reachable: OAuth redirect URIs and webhook callback URLs are built from it.
    SITE_URL: Setting[str] = Setting(
        "http://127.0.0.1:8000",
        "The site's own public URL (scheme and host, no trailing slash).",
        clean=_no_trailing_slash,
    )

    # Every outgoing call goes to these (tests and the sandbox point them at the simulators).
    CALENDLY_API_URL: Setting[str] = Setting(
        CALENDLY_DEFAULT_API_URL, "Calendly API v2 base URL.", clean=_no_trailing_slash
    )
    CALENDLY_AUTH_URL: Setting[str] = Setting(
        CALENDLY_DEFAULT_AUTH_URL, "Calendly OAuth server base URL.", clean=_no_trailing_slash
    )
    BREVO_API_URL: Setting[str] = Setting(BREVO_DEFAULT_API_URL, "Brevo API v3 base URL.", clean=_no_trailing_slash)
    BREVO_IMPORT_NOTIFY: Setting[bool] = Setting(
        False,
        "Give Brevo's bulk imports a notifyUrl under SITE_URL (which Brevo must reach): an import's end "
        "then costs one GET /processes instead of polls.",
    )

    # Defaults for a connection that does not store its own credentials.
    CALENDLY_ACCESS_TOKEN: Setting[str] = Setting("", "Calendly personal access token for a PAT connection.")
    BREVO_API_KEY: Setting[str] = Setting("", "Brevo API key.")
    CALENDLY_WEBHOOK_SIGNING_KEY: Setting[str] = Setting("", "Calendly webhook signing key.")

    # The "Connect Calendly" OAuth app (read by calendly.oauth through social-auth's strategy).
    CALENDLY_CLIENT_ID: Setting[str] = Setting("", "OAuth client id of the Calendly app.")
    CALENDLY_CLIENT_SECRET: Setting[str] = Setting("", "OAuth client secret of the Calendly app.")
    CALENDLY_SCHEDULING_FEATURES: Setting[bool] = Setting(
        False, "Ask for the scheduling scopes (scheduling_links:write scheduled_events:write) too."
    )
    CALENDLY_OAUTH_SCOPES: Setting[str] = Setting("", "Space- or comma-separated scopes replacing the whole set.")

    CALENDLY_WEBHOOK_TOLERANCE: Setting[int] = Setting(
        DEFAULT_TOLERANCE, "Seconds a webhook signature's timestamp may be off, either way."
    )

    # Secrets at rest: the first key encrypts, all of them decrypt; empty derives a key from SECRET_KEY.
    FIELD_ENCRYPTION_KEYS: Setting[Sequence[str]] = Setting((), "Fernet keys, newest first.")
    INSECURE_DEFAULT_SECRET_KEY: Setting[str] = Setting(
        INSECURE_DEFAULT_SECRET_KEY, "The development SECRET_KEY the checks warn about."
    )

    # Work dispatch: Celery when a broker is configured, else the embedded worker (a process of the server).
    CELERY_BROKER_URL: Setting[str | None] = Setting(None, "Celery broker URL; unset runs work in-process.")
    CONNECTOR_EMBEDDED_WORKER: Setting[bool] = Setting(
        True, "Start the embedded worker process with the server when no broker is configured."
    )

    # Retention, in days (0 keeps forever): the periodic purge (embedded worker and Celery beat,
    # hourly) enforces it. Pending and failed deliveries and unsent events are never purged.
    DELIVERY_RETENTION_DAYS: Setting[int] = Setting(
        30, "Days a processed or ignored webhook delivery is kept after it was received (0: forever).", clean=int
    )
    SYNC_LOG_RETENTION_DAYS: Setting[int] = Setting(
        90, "Days a Brevo sync log row (ContactSyncLog) is kept (0: forever).", clean=int
    )
    AUTOMATION_EVENT_RETENTION_DAYS: Setting[int] = Setting(
        90, "Days a sent or skipped automation event keeps its email and properties (0: forever).", clean=int
    )
    # How long transient failures (a Brevo outage) are retried before a delivery or event is failed.
    RETRY_HORIZON_HOURS: Setting[float] = Setting(
        DEFAULT_HORIZON_HOURS,
        "Hours a delivery or automation event is retried after its first failure when the failure is "
        "transient (Brevo 5xx, 429, timeouts, connection errors) before it is failed; see calendly_sync.retries.",
    )

    # Deployment endpoints (/healthz, /readyz, /metrics; see calendly_sync/health.py and metrics.py).
    METRICS_TOKEN: Setting[str] = Setting(
        "", "Bearer token /metrics requires; empty: /metrics answers loopback addresses only."
    )
    WORKER_HEARTBEAT_FILE: Setting[str] = Setting(
        "",
        "File the embedded worker's owner touches on every loop; empty: beside the SQLite database, "
        "else in the temporary directory (one per database name).",
    )
    WORKER_HEARTBEAT_MAX_AGE: Setting[float] = Setting(
        120.0, "Seconds since the embedded worker's last heartbeat after which /readyz answers 503.", clean=float
    )

    # The booking page (/book/<uuid>/): the sites that may show it in an iframe.
    BOOKING_FRAME_ANCESTORS: Setting[Sequence[str]] = Setting(
        (),
        "Origins (https://www.example.com) allowed to frame the booking page, sent as CSP frame-ancestors; "
        "empty: this site only. Every other page keeps X-Frame-Options: DENY.",
        clean=_origins,
    )

    # Alerts (calendly_sync/overview/alerts.py): who is told when a connection's health turns red.
    ALERT_EMAILS: Setting[Sequence[str]] = Setting(
        (), "Addresses alerts are emailed to (Django's EMAIL_* settings send them); empty: no email."
    )
    ALERT_WEBHOOK_URL: Setting[str] = Setting(
        "", 'URL alerts are POSTed to as JSON {"text": ...} (a Slack incoming webhook works); empty: none.'
    )
    ALERT_BACKLOG_MINUTES: Setting[float] = Setting(
        60.0,
        "Minutes a pending delivery, dirty contact or pending automation event may wait before the "
        "backlog is red on the dashboard and alerted.",
    )
    ALERT_CHECK_INTERVAL: Setting[float] = Setting(
        300.0, "Seconds between two evaluations of the alerts (embedded worker; Celery beat's schedule too)."
    )
    ALERT_WEBHOOK_TIMEOUT: Setting[float] = Setting(10.0, "Seconds an alert's POST to ALERT_WEBHOOK_URL may take.")

    @classmethod
    def declared(cls) -> dict[str, Setting[Any]]:
        """Every declared setting by name (for the checks and the tests)."""
        return {name: value for name, value in vars(cls).items() if isinstance(value, Setting)}


app_settings = AppSettings()
