"""How the admin's lists show a status and an error: one badge and one truncated error for every model.

Every admin that lists a status or a last error goes through these two renderers, so a colour or a
length is changed in one place. The two column mixins give a ModelAdmin the usual columns
(``status_badge``, ``last_error_short``) for models with a ``status`` choice field and a
``last_error`` text field.
"""

from __future__ import annotations

from typing import Protocol

from django.contrib import admin
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator

STATUS_COLOURS: dict[str, str] = {
    "active": "#2e7d32",
    "processed": "#2e7d32",
    "completed": "#2e7d32",
    "ok": "#2e7d32",
    "sent": "#2e7d32",
    "new": "#616161",
    "pending": "#f9a825",
    "running": "#1565c0",
    "processing": "#1565c0",
    "retry": "#f9a825",
    "ignored": "#757575",
    "skipped": "#757575",
    "dry_run": "#757575",
    "warning": "#ef6c00",
    "unconfirmed": "#ef6c00",  # an automation event that may or may not be in Brevo: someone must look
    "needs_reconnect": "#c62828",
    "error": "#c62828",
    "failed": "#c62828",
    "interrupted": "#ef6c00",
    "disabled": "#757575",
}
UNKNOWN_STATUS_COLOUR = "#333"
ERROR_CHARS = 80


class HasStatus(Protocol):
    status: str

    def get_status_display(self) -> str: ...


class HasLastError(Protocol):
    last_error: str


def status_badge(status: str, label: str) -> SafeString:
    """``label`` in bold, coloured by what ``status`` means (green done, amber waiting, red failed)."""
    return format_html('<b style="color:{}">{}</b>', STATUS_COLOURS.get(status, UNKNOWN_STATUS_COLOUR), label)


def last_error(text: str) -> str:
    """An error message cut to one list cell (the change page shows it in full); empty stays empty."""
    return Truncator(text).chars(ERROR_CHARS) if text else ""


class StatusBadgeColumn:
    """Admin mixin: a sortable ``status_badge`` column showing the model's ``status`` choice."""

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: HasStatus) -> SafeString:
        return status_badge(obj.status, obj.get_status_display())


class LastErrorColumn:
    """Admin mixin: a ``last_error_short`` column showing the start of the model's ``last_error``."""

    @admin.display(description="last error")
    def last_error_short(self, obj: HasLastError) -> str:
        return last_error(obj.last_error)
