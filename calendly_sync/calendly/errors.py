"""Typed Calendly API errors with messages a person can act on.

Why typed: callers decide differently per class (re-authorize on 401, surface missing scopes on
403, treat 404 as "gone", 409 as "already exists", retry later on 429/5xx). No error message
ever contains a token: only status, Calendly's title/message/details and the request path.
"""

from __future__ import annotations

import re
from typing import Any

_SCOPE_RE = re.compile(r"\b([a-z_]+:(?:read|write))\b")


class CalendlyError(Exception):
    """Any failed Calendly call. ``status`` is None for transport errors."""

    def __init__(
        self,
        status: int | None,
        title: str = "",
        message: str = "",
        details: list[dict[str, Any]] | None = None,
        *,
        method: str = "",
        path: str = "",
        host: str = "",
    ) -> None:
        self.status = status
        self.title = title
        self.message = message
        self.details = details or []
        self.method = method
        self.path = path
        self.host = host  # the base URL called, e.g. https://api.calendly.com: which Calendly answered
        super().__init__(self._describe())

    def _where(self) -> str:
        return f" ({self.method} {self.path})" if self.method and self.path else ""

    def _detail_text(self) -> str:
        parts = [
            f"{d.get('parameter')}: {d.get('message')}" if d.get("parameter") else str(d.get("message"))
            for d in self.details
            if isinstance(d, dict)
        ]
        return f" [{'; '.join(parts)}]" if parts else ""

    def _describe(self) -> str:
        head = f"Calendly API error {self.status}" if self.status else "Calendly API error"
        title = f" {self.title}" if self.title else ""
        msg = f": {self.message}" if self.message else ""
        return f"{head}{title}{msg}{self._detail_text()}{self._where()}"

    def __str__(self) -> str:
        return self._describe()


class CalendlyValidationError(CalendlyError):
    """400 Invalid Argument: a bug in the request; retrying will not help."""


class CalendlyAuthError(CalendlyError):
    """401: the token is invalid, expired or revoked (``reason``)."""

    @property
    def reason(self) -> str:
        text = self.message.lower()
        if "expired" in text:
            return "expired"
        if "revoked" in text:
            return "revoked"
        return "invalid"

    def _describe(self) -> str:
        advice = {
            "expired": "Refresh the OAuth token or issue a new Personal Access Token.",
            "revoked": "Reconnect the Calendly account (OAuth) or issue a new Personal Access Token.",
            "invalid": "Check the configured token, or reconnect the Calendly account.",
        }[self.reason]
        message = self.message or "The access token is invalid"
        if not message.endswith("."):
            message += "."
        return f"Calendly rejected the access token: {message} {advice}"


class CalendlyPermissionError(CalendlyError):
    """403: missing OAuth/PAT scope, role (member vs admin) or plan restrictions."""

    @property
    def missing_scopes(self) -> list[str]:
        found: list[str] = []
        texts = [
            str(d.get("message", ""))
            for d in self.details
            if isinstance(d, dict)
            if d.get("parameter") in (None, "scope") or "scope" in str(d.get("message", "")).lower()
        ]
        if "scope" in self.message.lower():
            texts.append(self.message)
        for text in texts:
            for scope in _SCOPE_RE.findall(text):
                if scope not in found:
                    found.append(scope)
        return found

    def _describe(self) -> str:
        base = f"Calendly denied access (403 {self.title or 'Permission Denied'}): {self.message or 'no reason given'}"
        if self.missing_scopes:
            base += (
                f"; missing scopes: {', '.join(self.missing_scopes)}. "
                "Re-authorize with these scopes or use a token that has them"
            )
        return base + self._where()


class CalendlyNotFound(CalendlyError):
    """404: the resource does not exist (or was deleted)."""


class CalendlyConflict(CalendlyError):
    """409: e.g. ``Hook with this url already exists``."""


class CalendlyRateLimited(CalendlyError):
    """429 still returned after the retry budget was spent."""

    def __init__(self, *args: Any, reset_seconds: float | None = None, **kwargs: Any) -> None:
        self.reset_seconds = reset_seconds
        super().__init__(*args, **kwargs)


class CalendlyServerError(CalendlyError):
    """5xx still returned after the retry budget was spent."""


class CalendlyTransportError(CalendlyError):
    """Timeouts / connection failures after the retry budget was spent (no HTTP status).

    The message names the host: "could not reach https://api.calendly.com" tells at once whether
    the call went to the real Calendly or to the simulator (``CALENDLY_API_URL``).
    """

    def _describe(self) -> str:
        host = f" {self.host}" if self.host else " Calendly"
        return f"Could not reach{host}: {self.message}{self._where()}"


def error_for_status(
    status: int, body: Any, *, method: str = "", path: str = "", text: str = "", reset_seconds: float | None = None
) -> CalendlyError:
    """Build the typed error for an HTTP error response (body = parsed JSON or None)."""
    title = message = ""
    details: list[dict[str, Any]] = []
    if isinstance(body, dict):
        title = str(body.get("title") or body.get("error") or "")
        message = str(body.get("message") or body.get("error_description") or "")
        raw = body.get("details")
        if isinstance(raw, list):
            details = [d for d in raw if isinstance(d, dict)]
    elif text:
        message = text.strip()[:200]
    kwargs: dict[str, Any] = {"method": method, "path": path}
    if status == 400 or status == 422:
        return CalendlyValidationError(status, title, message, details, **kwargs)
    if status == 401:
        return CalendlyAuthError(status, title, message, details, **kwargs)
    if status == 403:
        return CalendlyPermissionError(status, title, message, details, **kwargs)
    if status == 404:
        return CalendlyNotFound(status, title, message, details, **kwargs)
    if status == 409:
        return CalendlyConflict(status, title, message, details, **kwargs)
    if status == 429:
        return CalendlyRateLimited(status, title, message, details, reset_seconds=reset_seconds, **kwargs)
    if status >= 500:
        return CalendlyServerError(status, title, message, details, **kwargs)
    return CalendlyError(status, title, message, details, **kwargs)
