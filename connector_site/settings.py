"""Settings, all read from the environment through django-environ.

Every variable is documented in README.md and ``.env.example``. The defaults give a working
single-process connector on SQLite with no broker; production sets ``DATABASE_URL``,
``CELERY_BROKER_URL``, ``SECRET_KEY`` and ``FIELD_ENCRYPTION_KEYS``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A .env file beside manage.py is read when present; real environment variables win.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

INSECURE_DEFAULT_SECRET_KEY = "insecure-development-key-set-SECRET_KEY-in-production"
SECRET_KEY = env.str("SECRET_KEY", default=INSECURE_DEFAULT_SECRET_KEY)
# Rotating SECRET_KEY: the old value goes here for a while (sessions, and secrets at rest, still read).
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- HTTPS (README, "Production") ----------------------------------------------------------------
# Session and CSRF cookies travel over HTTPS only, unless DEBUG (local http://127.0.0.1 development).
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)


def proxy_ssl_header(value: str) -> tuple[str, str] | None:
    """``SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto,https`` (or Django's ``HTTP_X_FORWARDED_PROTO,https``).

    Set it only behind a proxy that terminates TLS and always sets (overwrites) that header: Django
    then trusts it to tell an HTTPS request, which SECURE_SSL_REDIRECT and secure cookies rely on.
    """
    if not value.strip():
        return None
    header, _, expected = (part.strip() for part in value.partition(","))
    if not header or not expected:
        raise ImproperlyConfigured(
            f"SECURE_PROXY_SSL_HEADER must be 'header,value', e.g. X-Forwarded-Proto,https; not {value!r}."
        )
    name = header.upper().replace("-", "_")
    return (name if name.startswith("HTTP_") else f"HTTP_{name}", expected)


SECURE_PROXY_SSL_HEADER = proxy_ssl_header(env.str("SECURE_PROXY_SSL_HEADER", default=""))
# Opt-in, so that a server reached over plain HTTP (local runs, the tests) keeps working; production
# sets them (README, "Production"). Behind a TLS-terminating proxy SECURE_SSL_REDIRECT needs
# SECURE_PROXY_SSL_HEADER, or every request, Calendly's webhooks included, is redirected.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# Probes inside the network may speak plain HTTP: never redirect them (a redirect is not an answer).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)

# The site's own public URL: OAuth redirect URIs and webhook callback URLs are built from it.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",  # the API's tokens (admin, or manage.py drf_create_token USERNAME)
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc as the project's own static files (no CDN)
    "social_django",
    "calendly_sync",
]

MIDDLEWARE = [
    # First: every log line of the request, Django's included, carries its id (README, "Logs").
    "calendly_sync.requestid.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "connector_site.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "connector_site.wsgi.application"

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
# Reuse connections across requests. Opening one per request halves the webhook endpoint's
# throughput on PostgreSQL (bench/webhook_ingest.py: 200 → 617 acknowledgements/s); on SQLite each
# new connection parses the whole schema again and each close checkpoints the WAL, which cost an
# acknowledgement 2.4 of its 3.0 ms (an in-process profile of 2,000 deliveries: 0.6 ms reused).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded worker (a process) writes while requests write: wait for the lock instead of failing,
    # and use WAL so that readers never block the webhook endpoint's writes.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("timeout", 20)
    DATABASES["default"]["OPTIONS"].setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
    # A transaction that reads and then writes would fail at once ("database is locked", no wait)
    # if another thread wrote in between; taking the write lock at BEGIN makes it wait its turn.
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
    # Tests get a file, as production has, not Django's shared-cache in-memory database: there a
    # writer meeting another thread's open read fails at once ("database table is locked", no
    # busy timeout), which the worker, job and server threads of a test would meet at random.
    # One file per test run (two runs in one checkout would otherwise share and recreate it).
    DATABASES["default"].setdefault("TEST", {}).setdefault(
        "NAME",
        env.str(
            "TEST_DATABASE_FILE",
            default=str(Path(tempfile.gettempdir()) / f"calendly-sync-test-{os.getpid()}.sqlite3"),
        ),
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- Calendly and Brevo endpoints: every outgoing call goes through these ---------------------
CALENDLY_API_URL = env.str("CALENDLY_API_URL", default="https://api.calendly.com").rstrip("/")
CALENDLY_AUTH_URL = env.str("CALENDLY_AUTH_URL", default="https://auth.calendly.com").rstrip("/")
BREVO_API_URL = env.str("BREVO_API_URL", default="https://api.brevo.com/v3").rstrip("/")
# Brevo calls SITE_URL back when a bulk import ends (``notifyUrl``): no polling of its 100-an-hour
# /processes. On when SITE_URL is set in the environment; off when Brevo cannot reach SITE_URL.
BREVO_IMPORT_NOTIFY = env.bool("BREVO_IMPORT_NOTIFY", default=bool(env.str("SITE_URL", default="")))

# Defaults for a connection that does not set its own credentials.
CALENDLY_ACCESS_TOKEN = env.str("CALENDLY_ACCESS_TOKEN", default="")
BREVO_API_KEY = env.str("BREVO_API_KEY", default="")
CALENDLY_WEBHOOK_SIGNING_KEY = env.str("CALENDLY_WEBHOOK_SIGNING_KEY", default="")

# OAuth app credentials (the product page's names).
CALENDLY_CLIENT_ID = env.str("CALENDLY_CLIENT_ID", default="")
CALENDLY_CLIENT_SECRET = env.str("CALENDLY_CLIENT_SECRET", default="")

# Webhook signature tolerance in seconds, either way (Calendly's example uses 3 minutes).
CALENDLY_WEBHOOK_TOLERANCE = env.int("CALENDLY_WEBHOOK_TOLERANCE", default=180)

# --- Secrets at rest ---------------------------------------------------------------------------
# Comma-separated Fernet keys. The first encrypts; all of them decrypt (rotation). When unset, a
# key is derived from SECRET_KEY so a sandbox works out of the box.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])

# --- Work dispatch -----------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or None
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="calendly_sync")
# With no broker, a worker process starts with the server process (connector_site/wsgi.py,
# asgi.py; the embedded mode); one server process of several owns it.
CONNECTOR_EMBEDDED_WORKER = env.bool("CONNECTOR_EMBEDDED_WORKER", default=True)
# Hours a delivery or automation event keeps retrying transient failures (a Brevo outage) after its
# first failure, at most an hour apart, before it is failed (and can be requeued from the admin).
RETRY_HORIZON_HOURS = env.float("RETRY_HORIZON_HOURS", default=72)

# --- The booking page (/book/<uuid>/) ----------------------------------------------------------
# Comma-separated origins allowed to show the booking page in an iframe (CSP frame-ancestors), e.g.
# https://www.example.com,https://*.example.org; empty: this site only. Other pages are never framed.
BOOKING_FRAME_ANCESTORS = env.list("BOOKING_FRAME_ANCESTORS", default=[])

# --- Deployment endpoints: /healthz, /readyz, /metrics ------------------------------------------
# /metrics wants "Authorization: Bearer <METRICS_TOKEN>"; unset, it answers loopback addresses only.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# The embedded worker's owner touches this file on every loop; /readyz wants it recent.
WORKER_HEARTBEAT_FILE = env.str("WORKER_HEARTBEAT_FILE", default="")
WORKER_HEARTBEAT_MAX_AGE = env.float("WORKER_HEARTBEAT_MAX_AGE", default=120)

# --- Alerts: emailed to ALERT_EMAILS (Django's EMAIL_* settings) and POSTed to ALERT_WEBHOOK_URL -----
ALERT_EMAILS = env.list("ALERT_EMAILS", default=[])
ALERT_WEBHOOK_URL = env.str("ALERT_WEBHOOK_URL", default="")
ALERT_BACKLOG_MINUTES = env.float("ALERT_BACKLOG_MINUTES", default=60)
ALERT_CHECK_INTERVAL = env.float("ALERT_CHECK_INTERVAL", default=300)
ALERT_WEBHOOK_TIMEOUT = env.float("ALERT_WEBHOOK_TIMEOUT", default=10)
# How mail is sent: EMAIL_URL such as smtp+tls://user:password@smtp.example.com:587 (django-environ).
vars().update(env.email_url("EMAIL_URL", default="smtp://localhost:25"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="calendly-sync@localhost")

# --- Retention (days; 0 keeps forever), enforced hourly by the embedded worker and Celery beat ---
DELIVERY_RETENTION_DAYS = env.int("DELIVERY_RETENTION_DAYS", default=30)
SYNC_LOG_RETENTION_DAYS = env.int("SYNC_LOG_RETENTION_DAYS", default=90)
AUTOMATION_EVENT_RETENTION_DAYS = env.int("AUTOMATION_EVENT_RETENTION_DAYS", default=90)

# --- social-auth (the "Connect Calendly" button) -----------------------------------------------
AUTHENTICATION_BACKENDS = [
    "calendly_sync.calendly.oauth.CalendlyOAuth2",
    "django.contrib.auth.backends.ModelBackend",
]
# The backend reads CALENDLY_CLIENT_ID/SECRET at call time (these two are social-auth's fallback).
SOCIAL_AUTH_CALENDLY_KEY = CALENDLY_CLIENT_ID
SOCIAL_AUTH_CALENDLY_SECRET = CALENDLY_CLIENT_SECRET
# Minimal scopes: users:read event_types:read scheduled_events:read webhooks:write, plus
# scheduling_links:write scheduled_events:write with the scheduling features; CALENDLY_OAUTH_SCOPES
# (space- or comma-separated) replaces the whole set.
CALENDLY_SCHEDULING_FEATURES = env.bool("CALENDLY_SCHEDULING_FEATURES", default=False)
CALENDLY_OAUTH_SCOPES = env.str("CALENDLY_OAUTH_SCOPES", default="")
SOCIAL_AUTH_JSONFIELD_ENABLED = True
SOCIAL_AUTH_URL_NAMESPACE = "social"
# Connecting Calendly is not a login: no Django user is created or logged in and no UserSocialAuth
# row (with tokens in extra_data) is stored; the pipeline saves an encrypted Connection instead.
SOCIAL_AUTH_PIPELINE = (
    "social_core.pipeline.social_auth.social_details",
    "social_core.pipeline.social_auth.social_uid",
    "calendly_sync.connect.pipeline.check_intent",
    "calendly_sync.connect.pipeline.save_connection",
    "calendly_sync.connect.pipeline.load_connection_catalog",
    "calendly_sync.connect.pipeline.redirect_to_connection",
)
# Failed or refused authorizations come back to the Connections page as an admin message.
SOCIAL_AUTH_LOGIN_ERROR_URL = "admin:calendly_sync_connection_changelist"
SOCIAL_AUTH_RAISE_EXCEPTIONS = False
MIDDLEWARE = [*MIDDLEWARE, "social_django.middleware.SocialAuthExceptionMiddleware"]

REST_FRAMEWORK: dict[str, Any] = {
    # No project-wide authentication: the webhook endpoint is authenticated by its signature, and
    # the API's views (calendly_sync/api) set their own (a token or a staff session).
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# The API's OpenAPI 3 schema (/api/schema/) and docs (/api/docs/), with assets served from static files.
SPECTACULAR_SETTINGS: dict[str, Any] = {
    "TITLE": "Calendly → Brevo connector: scheduling API",
    "DESCRIPTION": "Event types, open times, bookings and single-use booking links through a Calendly connection.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "PREPROCESSING_HOOKS": ["calendly_sync.api.urls.only_api_endpoints"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
# plain: one line of text per record; json: JSON lines (python-json-logger) from every logger,
# Django's and Celery's included, with the request id. Secrets are redacted either way.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain").lower()
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}.")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "calendly_sync.logging.RedactSecretsFilter"},
        "request_id": {"()": "calendly_sync.logging.RequestIdFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "calendly_sync.logging.RedactingJsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["redact", "request_id"]},
    },
    "loggers": {
        "calendly_sync": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        # Server errors (a 500 and its traceback) are never invisible, and never show a secret.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}
if LOG_FORMAT == "json":
    # Every logger, not only the app's: the root logger (Celery's, libraries') and Django's own,
    # whose default handlers (runserver's request lines, the console in DEBUG) are replaced.
    LOGGING["root"] = {"handlers": ["console"], "level": "WARNING"}
    LOGGING["loggers"].update(
        {
            "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        }
    )
    # A Celery worker keeps this configuration instead of installing its own handlers on the root logger.
    CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Celery beat: the periodic jobs (the embedded worker runs the sweep itself).
CELERY_BEAT_SCHEDULE = {
    "calendly-sync-sweep": {"task": "calendly_sync.sweep", "schedule": 60.0},
    "calendly-sync-subscriptions": {"task": "calendly_sync.check_subscriptions", "schedule": 3600.0},
    "calendly-sync-purge": {"task": "calendly_sync.purge", "schedule": 3600.0},
    "calendly-sync-alerts": {"task": "calendly_sync.evaluate_alerts", "schedule": ALERT_CHECK_INTERVAL},
}
