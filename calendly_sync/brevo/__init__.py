"""Brevo v3 API client (framework-free): see :mod:`calendly_sync.brevo.client`."""
from calendly_sync.brevo.client import DEFAULT_BASE_URL, BrevoClient, ClientStats, Pacer, UpsertResult
from calendly_sync.brevo.errors import (
    BrevoAuthError,
    BrevoDuplicateIdentifier,
    BrevoError,
    BrevoInvalidPhone,
    BrevoNotFound,
    BrevoRateLimited,
    BrevoServerError,
    BrevoTooEarly,
    BrevoTransportError,
    BrevoValidationError,
    is_transient,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "BrevoAuthError",
    "BrevoClient",
    "BrevoDuplicateIdentifier",
    "BrevoError",
    "BrevoInvalidPhone",
    "BrevoNotFound",
    "BrevoRateLimited",
    "BrevoServerError",
    "BrevoTooEarly",
    "BrevoTransportError",
    "BrevoValidationError",
    "ClientStats",
    "Pacer",
    "UpsertResult",
    "is_transient",
]
