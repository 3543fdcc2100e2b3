"""A logging filter that removes secrets from every record the connector writes.

Belt and braces: code never logs tokens on purpose, and this filter catches what slips through
(an exception that echoes a header, a URL with a token).
"""

from __future__ import annotations

import contextvars
import logging
import re
from typing import Any

from pythonjsonlogger.json import JsonFormatter

_PATTERNS = [
    (re.compile(r"(?i)(authorization:?\s*['\"]?(?:bearer|basic)\s+)[^\s'\",]+"), r"\1[redacted]"),
    (re.compile(r"(?i)(api-key['\"]?\s*[:=]\s*['\"]?)[^\s'\",]+"), r"\1[redacted]"),
    (re.compile(r"xkeysib-[A-Za-z0-9-]+"), "xkeysib-[redacted]"),
    (re.compile(r"(?i)(v1=)[0-9a-f]{16,}"), r"\1[redacted]"),
    (re.compile(r"(?i)((?:access|refresh)_token['\"]?\s*[:=]\s*['\"]?)[^\s'\",&]+"), r"\1[redacted]"),
    (
        re.compile(r"(?i)((?:client_secret|signing_key|code_verifier)['\"]?\s*[:=]\s*['\"]?)[^\s'\",&]+"),
        r"\1[redacted]",
    ),
    (re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}(?:\.[A-Za-z0-9_-]+)?"), "[redacted-jwt]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001  (a broken format string is not ours to fix here)
            return True
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


#: The id of the HTTP request this thread or task is serving (set by
#: :class:`calendly_sync.requestid.RequestIdMiddleware`); None outside a request (the embedded
#: worker, Celery, commands).
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("calendly_sync_request_id", default=None)


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record (``None`` outside a request), for the formatters."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def _json_safe(value: Any) -> Any:
    """A record's extra field, redacted; an object (Django's ``request``) as a short text.

    An ``HttpRequest`` becomes ``"GET /path"``: its query string (an OAuth ``code``, a ``state``)
    never reaches the logs.
    """
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    method, path = getattr(value, "method", None), getattr(value, "path", None)
    if isinstance(method, str) and isinstance(path, str):
        return f"{method} {path}"
    return redact(type(value).__name__)


class RedactingJsonFormatter(JsonFormatter):
    """JSON lines (python-json-logger) in which no field carries a secret.

    The filter cleans the message; the JSON formatter also writes the record's extra fields (Django
    adds ``request`` and ``status_code``) and formats ``exc_info`` itself rather than using the
    ``exc_text`` the filter cleaned, so both are cleaned here too.
    """

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        return {key: _json_safe(value) for key, value in log_data.items()}

    def formatException(self, ei: Any) -> str | list[str]:  # type: ignore[override]
        text = super().formatException(ei)
        return [redact(line) for line in text] if isinstance(text, list) else redact(text)

    def formatStack(self, stack_info: str) -> str | list[str]:  # type: ignore[override]
        text = super().formatStack(stack_info)
        return [redact(line) for line in text] if isinstance(text, list) else redact(text)
