"""Typed Brevo API errors.

Why typed: the connector reacts differently to each failure (retry later, drop the phone number and
retry, surface a configuration problem). Brevo's ``code`` values drift between releases (the same
duplicate-SMS message has been seen with ``duplicate_parameter`` and ``invalid_parameter``), so the
classification below matches on the *message* and ``metadata`` as well as the status, and keeps
Brevo's fields verbatim for logging. Nothing here ever sees or prints the API key.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = [
    "BrevoAuthError",
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
    "error_from_response",
    "is_transient",
]

_KEY_RE = re.compile(r"xkeysib-[A-Za-z0-9-]+")
IP_ALLOWLIST_HINT = "unrecognised IP address"
ALREADY_IN_LIST_MESSAGE = "Contact already in list and/or does not exist"


def _redact(text: str) -> str:
    """Belt and braces: never let something that looks like an API key reach a log line."""
    return _KEY_RE.sub("xkeysib-***", text)


class BrevoError(Exception):
    """Any failed Brevo call. ``status``/``code``/``message``/``metadata`` are Brevo's, verbatim."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        metadata: dict[str, Any] | None = None,
        method: str | None = None,
        path: str | None = None,
        request_id: str | None = None,
        body: Any = None,
        host: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.metadata: dict[str, Any] = metadata or {}
        self.method = method
        self.path = path
        self.request_id = request_id
        self.body = body
        self.host = host  # the base URL called, e.g. https://api.brevo.com/v3: which Brevo answered

    @property
    def transient(self) -> bool:
        """True when retrying the same call later can succeed (425, 429, 5xx, network)."""
        return is_transient(self)

    def __str__(self) -> str:
        parts = ["Brevo"]
        if self.method and self.path:
            parts.append(f"{self.method} {self.path}")
        if self.status is not None:
            parts.append(f"-> {self.status}")
        head = " ".join(parts)
        detail = f"{self.code}: {self.message}" if self.code else self.message
        text = f"{head}: {detail}"
        if self.metadata:
            text += f" (metadata={json.dumps(self.metadata, sort_keys=True)})"
        if self.request_id:
            text += f" [sib-request-id {self.request_id}]"
        return _redact(text)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, message={_redact(self.message)!r})"


class BrevoAuthError(BrevoError):
    """401: bad/missing key, or the account's IP allow-list rejected this server."""

    @property
    def ip_not_allowed(self) -> bool:
        return IP_ALLOWLIST_HINT.lower() in self.message.lower()

    def __str__(self) -> str:
        text = super().__str__()
        if self.ip_not_allowed:
            text += (
                " -- this is Brevo's IP allow-list, not a bad key: add this server's IP under"
                " Brevo > Security > Authorised IPs"
            )
        else:
            text += " -- check the Brevo API key (it must be a v3 'xkeysib-' key)"
        return text


class BrevoValidationError(BrevoError):
    """400: Brevo refused the payload. Retrying the same payload will fail again."""


class BrevoInvalidPhone(BrevoValidationError):
    """400 "Invalid phone number": the SMS attribute is not an international number."""


class BrevoDuplicateIdentifier(BrevoValidationError):
    """400: an identifier (email, SMS, EXT_ID…) already belongs to another contact.

    ``identifiers`` lists which ones, e.g. ``["SMS"]``, so the caller can retry without them.
    """

    def __init__(self, message: str, *, identifiers: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.identifiers: list[str] = list(identifiers or [])


class BrevoNotFound(BrevoError):
    """404: contact, list or process does not exist (see ``message`` for which)."""


class BrevoTooEarly(BrevoError):
    """425: Brevo is still processing the account/contact; retryable."""


class BrevoRateLimited(BrevoError):
    """429 that persisted through the client's bounded retries."""

    def __init__(self, message: str, *, reset: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reset = reset


class BrevoServerError(BrevoError):
    """5xx that persisted through the client's bounded retries."""


class BrevoTransportError(BrevoError):
    """Timeout or connection failure: no HTTP status was received.

    The text names the host ("could not reach https://api.brevo.com/v3"), so a wrong
    ``BREVO_API_URL`` (the real Brevo instead of the simulator, or the reverse) shows at once.
    """

    def __str__(self) -> str:
        where = f" ({self.method} {self.path})" if self.method and self.path else ""
        return _redact(f"Could not reach {self.host or 'Brevo'}: {self.message}{where}")


class BrevoOutcomeUnknown(BrevoError):
    """A request that is not safe to repeat reached Brevo, and its answer was lost.

    Raised for ``POST /events`` (and the other requests whose repetition would repeat their effect)
    after a read timeout, a connection broken once the request was sent, or a gateway's 504:
    Brevo may have applied it. The client does not send it again, and neither should the caller
    without finding out: Brevo's event API has no idempotency key, so a second send is a second
    event, and a second automation run. Not transient, for that reason.
    """


def is_transient(err: BaseException) -> bool:
    """Whether ``err`` is worth retrying later (425, 429, 5xx, timeouts/connection errors).

    Never for :class:`BrevoOutcomeUnknown`: the request may have been applied already.
    """
    if isinstance(err, BrevoOutcomeUnknown):
        return False
    if isinstance(err, BrevoTransportError):
        return True
    if isinstance(err, BrevoError) and err.status is not None:
        return err.status in (425, 429) or err.status >= 500
    return False


# -- classification -----------------------------------------------------------------------------
_DUPLICATE_RE = re.compile(
    r"\b([A-Za-z_]+(?:\s+or\s+[A-Za-z_]+)*)\s+(?:is|are)\s+already\s+associated?\b", re.IGNORECASE
)
_LEGACY_DUPLICATE_RE = re.compile(r"contact already exists?", re.IGNORECASE)


def _identifier_name(raw: str) -> str:
    """Brevo spells email lower-case and SMS/EXT_ID upper-case; keep that convention."""
    return "email" if raw.lower() == "email" else raw.upper()


def duplicate_identifiers(message: str, metadata: dict[str, Any] | None) -> list[str] | None:
    """Identifiers named by a duplicate error, or ``None`` when this is not a duplicate error."""
    meta = (metadata or {}).get("duplicate_identifiers")
    if isinstance(meta, list) and meta:
        return [str(x) for x in meta]
    match = _DUPLICATE_RE.search(message or "")
    if match:
        return [_identifier_name(x) for x in re.split(r"\s+or\s+", match.group(1), flags=re.IGNORECASE)]
    if _LEGACY_DUPLICATE_RE.search(message or ""):
        return ["email"]
    return None


def error_from_response(
    status: int,
    body: Any,
    *,
    method: str | None = None,
    path: str | None = None,
    request_id: str | None = None,
    reset: float | None = None,
) -> BrevoError:
    """Build the most specific error for an HTTP error response.

    ``body`` is the parsed JSON (a dict) when there was one, else the raw text (5xx pages are often
    empty or HTML).
    """
    code: str | None = None
    metadata: dict[str, Any] | None = None
    if isinstance(body, dict):
        code = body.get("code") if isinstance(body.get("code"), str) else None
        raw_message = body.get("message")
        message = raw_message if isinstance(raw_message, str) else json.dumps(body)[:500]
        if isinstance(body.get("metadata"), dict):
            metadata = body["metadata"]
    else:
        text = (body or "").strip() if isinstance(body, str) else ""
        message = text[:500] if text else f"HTTP {status} with no error body"
    kwargs: dict[str, Any] = {
        "status": status,
        "code": code,
        "metadata": metadata,
        "method": method,
        "path": path,
        "request_id": request_id,
        "body": body,
    }
    if status == 401:
        return BrevoAuthError(message, **kwargs)
    if status == 404:
        return BrevoNotFound(message, **kwargs)
    if status == 425:
        return BrevoTooEarly(message, **kwargs)
    if status == 429:
        return BrevoRateLimited(message, reset=reset, **kwargs)
    if status >= 500:
        return BrevoServerError(message, **kwargs)
    if status == 400:
        if "invalid phone number" in message.lower():
            return BrevoInvalidPhone(message, **kwargs)
        identifiers = duplicate_identifiers(message, metadata)
        if identifiers is not None:
            return BrevoDuplicateIdentifier(message, identifiers=identifiers, **kwargs)
        return BrevoValidationError(message, **kwargs)
    return BrevoError(message, **kwargs)
