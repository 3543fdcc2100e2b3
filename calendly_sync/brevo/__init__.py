"""Brevo v3 API client (framework-free): see :mod:`calendly_sync.brevo.client`."""

from calendly_sync.brevo.client import DEFAULT_BASE_URL, BrevoClient, UpsertResult
from calendly_sync.brevo.errors import (
    BrevoAuthError,
    BrevoDuplicateIdentifier,
    BrevoError,
    BrevoInvalidPhone,
    BrevoNotFound,
    BrevoOutcomeUnknown,
    BrevoRateLimited,
    BrevoServerError,
    BrevoTooEarly,
    BrevoTransportError,
    BrevoValidationError,
    is_transient,
)
from calendly_sync.brevo.pacing import ClientStats, HourlyBudget, Pacer

__all__ = [
    "DEFAULT_BASE_URL",
    "BrevoAuthError",
    "BrevoClient",
    "BrevoDuplicateIdentifier",
    "BrevoError",
    "BrevoInvalidPhone",
    "BrevoNotFound",
    "BrevoOutcomeUnknown",
    "BrevoRateLimited",
    "BrevoServerError",
    "BrevoTooEarly",
    "BrevoTransportError",
    "BrevoValidationError",
    "ClientStats",
    "HourlyBudget",
    "Pacer",
    "UpsertResult",
    "is_transient",
]
