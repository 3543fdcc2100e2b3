"""Calendly API v2 client, typed errors, rate limiting and webhook signature checks."""

from calendly_sync.calendly.auth import StaticToken, TokenSource
from calendly_sync.calendly.client import DEFAULT_BASE_URL, CalendlyClient, Page, format_time, uuid_from_uri
from calendly_sync.calendly.errors import (
    CalendlyAuthError,
    CalendlyConflict,
    CalendlyError,
    CalendlyNotFound,
    CalendlyPermissionError,
    CalendlyRateLimited,
    CalendlyServerError,
    CalendlyTransportError,
    CalendlyValidationError,
)
from calendly_sync.calendly.ratelimit import RateLimiter, limiter_for
from calendly_sync.calendly.signatures import SignatureError, parse_signature_header, verify_signature

__all__ = [
    "DEFAULT_BASE_URL",
    "CalendlyAuthError",
    "CalendlyClient",
    "CalendlyConflict",
    "CalendlyError",
    "CalendlyNotFound",
    "CalendlyPermissionError",
    "CalendlyRateLimited",
    "CalendlyServerError",
    "CalendlyTransportError",
    "CalendlyValidationError",
    "Page",
    "RateLimiter",
    "SignatureError",
    "StaticToken",
    "TokenSource",
    "format_time",
    "limiter_for",
    "parse_signature_header",
    "uuid_from_uri",
    "verify_signature",
]
