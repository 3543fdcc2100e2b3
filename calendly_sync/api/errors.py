"""Every API error in one shape: ``{"detail", "code", "errors": {field: [reasons]}}`` (+ extras).

Why one shape: an app booking through the API shows the reason next to the field, whatever
refused it: DRF's own request checks, the scheduling service's checks, or Calendly (translated by
the service). ``missing_scopes`` names the scopes of a ``403``; a ``429`` and a ``503`` carry
``retry_after`` and a ``Retry-After`` header.
"""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler

from calendly_sync.scheduling.errors import (
    CalendlyUnavailable,
    ConnectionUnusable,
    Forbidden,
    InvalidRequest,
    MissingScope,
    NotFound,
    QuotaExceeded,
    SchedulingError,
    SlotUnavailable,
)

STATUS: dict[type[SchedulingError], int] = {
    InvalidRequest: status.HTTP_400_BAD_REQUEST,
    NotFound: status.HTTP_404_NOT_FOUND,
    SlotUnavailable: status.HTTP_409_CONFLICT,
    MissingScope: status.HTTP_403_FORBIDDEN,
    Forbidden: status.HTTP_403_FORBIDDEN,
    QuotaExceeded: status.HTTP_429_TOO_MANY_REQUESTS,
    ConnectionUnusable: status.HTTP_503_SERVICE_UNAVAILABLE,
    CalendlyUnavailable: status.HTTP_503_SERVICE_UNAVAILABLE,
}


def flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested validation detail as ``{"invitee.email": ["Enter a valid email address."]}``."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = prefix if key in ("non_field_errors", "__all__") else (f"{prefix}.{key}" if prefix else str(key))
            for path, reasons in flatten(value, name).items():
                out.setdefault(path, []).extend(reasons)
    elif isinstance(detail, list) and any(isinstance(item, (dict, list)) for item in detail):
        for i, item in enumerate(detail):
            out.update(flatten(item, f"{prefix}.{i}" if prefix else str(i)))
    elif isinstance(detail, list):
        out[prefix or "request"] = [str(item) for item in detail]
    else:
        out[prefix or "request"] = [str(detail)]
    return out


def _summary(errors: dict[str, list[str]]) -> str:
    return "; ".join(f"{path}: {' '.join(reasons)}" for path, reasons in errors.items())


def scheduling_response(exc: SchedulingError) -> Response:
    code = next((s for kind, s in STATUS.items() if isinstance(exc, kind)), status.HTTP_400_BAD_REQUEST)
    body: dict[str, Any] = {
        "detail": exc.message,
        "code": exc.code,
        "errors": {path: [reason] for path, reason in exc.errors.items()},
    }
    headers: dict[str, str] = {}
    if isinstance(exc, MissingScope):
        body["missing_scopes"] = exc.scopes
    if isinstance(exc, (QuotaExceeded, CalendlyUnavailable)):
        body["retry_after"] = exc.retry_after
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, QuotaExceeded):
        body["limited_by"] = exc.source
    return Response(body, status=code, headers=headers)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """The API views' exception handler (anything else is left to Django: a bug, logged as such)."""
    if isinstance(exc, SchedulingError):
        return scheduling_response(exc)
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, APIException):
        return response
    if isinstance(exc, ValidationError):
        errors = flatten(exc.detail)
        response.data = {"detail": _summary(errors), "code": "invalid", "errors": errors}
    else:
        codes = exc.get_codes()
        response.data = {
            "detail": str(exc.detail),
            "code": codes if isinstance(codes, str) else exc.default_code,
            "errors": {},
        }
    return response
