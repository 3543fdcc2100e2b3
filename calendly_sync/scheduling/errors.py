"""Why a scheduling request failed, in terms a caller can show a person or map to an HTTP answer.

Each error carries a stable ``code``, a message, and where it applies (``errors``: field path →
reason). The REST API maps them to statuses in ``api/errors.py``; a booking page shows the message
next to the field. Calendly's own refusals are translated into these by ``service.py``.
"""

from __future__ import annotations


class SchedulingError(Exception):
    """Any refusal of a scheduling request."""

    code = "error"

    def __init__(self, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = dict(errors or {})


class InvalidRequest(SchedulingError):
    """The request itself is wrong (a field, an answer, the location, the connection to use)."""

    code = "invalid"

    @classmethod
    def field(cls, path: str, reason: str) -> InvalidRequest:
        return cls(f"{path}: {reason}", {path: reason})


class NotFound(SchedulingError):
    """The event type (or the connection) named does not exist."""

    code = "not_found"


class SlotUnavailable(SchedulingError):
    """The start time is not (or no longer) open for booking."""

    code = "slot_unavailable"


class MissingScope(SchedulingError):
    """The connection's token lacks a scope the call needs (Calendly's 403 names it)."""

    code = "missing_scope"

    def __init__(self, message: str, scopes: list[str]) -> None:
        super().__init__(message, {"scope": ", ".join(scopes)})
        self.scopes = scopes


class Forbidden(SchedulingError):
    """Calendly refused for another reason than a scope (role, plan)."""

    code = "forbidden"


class QuotaExceeded(SchedulingError):
    """A booking quota is used up: Calendly's (it answered 429) or the plan's, counted by the connector."""

    code = "quota_exceeded"

    def __init__(self, message: str, retry_after: int, source: str) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))
        self.source = source  # "calendly" | "connector"


class ConnectionUnusable(SchedulingError):
    """The connection cannot call Calendly now (no token, revoked, needs a reconnect)."""

    code = "connection_unusable"


class CalendlyUnavailable(SchedulingError):
    """Calendly failed (5xx, timeout) or answered something unexpected: try again later."""

    code = "calendly_unavailable"
    retry_after = 30
