"""How the admin's lists show a status and an error: one badge and one truncated error for every model.

Every admin that lists a status or a last error goes through these two renderers, so a colour or a
length is changed in one place. The two column mixins give a ModelAdmin the usual columns
(``status_badge``, ``last_error_short``) for models with a ``status`` choice field and a
``last_error`` text field. :func:`sync_progress` is the one line that says how far a sync job is,
on its own page and on its connection's. :func:`brevo_lists` names Brevo list ids wherever the
admin shows them (from the connection's loaded catalog).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from django.contrib import admin
from django.utils.dateparse import parse_datetime
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
    "queued": "#f9a825",
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


class SyncJob(Protocol):
    """What :func:`sync_progress` reads of a :class:`~calendly_sync.models.SyncRun`."""

    status: str
    since: datetime | None
    until: datetime | None
    counts: Mapping[str, Any]
    checkpoint: Mapping[str, Any]
    error: str
    requested_at: datetime
    heartbeat_at: datetime | None
    attempts: int


def window_share(since: datetime | None, until: datetime | None, position: str | None) -> int | None:
    """How far ``position`` (an event's start time) is into the window, in percent; None if unknown."""
    try:
        at = parse_datetime(position) if position else None
    except ValueError:  # well formed but impossible (month 13): as unknown as none at all
        at = None
    if at is None or since is None or until is None or until <= since:
        return None
    share = (at - since) / (until - since)
    return round(100 * min(1.0, max(0.0, share)))


def sync_progress(run: SyncJob, now: datetime) -> str:
    """One line on a sync job: where it stands, what it has done so far, why it failed."""
    c = run.counts or {}
    done = ", ".join(
        f"{label} {c[key]}"
        for key, label in (
            ("pages", "pages"),
            ("events", "events"),
            ("invitees", "invitees"),
            ("contacts_dirty", "contacts recomputed"),
            ("contacts_created", "contacts created"),
            ("contacts_updated", "updated"),
            ("contacts_unchanged", "unchanged"),
            ("contacts_failed", "failed"),
            ("warnings", "warnings"),
            ("automation_events", "automation events"),
        )
        if key in c
    )
    if run.status == "queued":
        again = f" (to resume from its checkpoint, start {run.attempts + 1})" if run.attempts else ""
        wait = max(0, int((now - run.requested_at).total_seconds()))
        return f"queued {wait} s ago, waiting for a job runner{again}" + (f"; so far: {done}" if done else "")
    if run.status == "running":
        checkpoint = run.checkpoint or {}
        phase = {"pushing": "sending contacts to Brevo", "recomputing": "recomputing contacts"}.get(
            checkpoint.get("phase", ""), "reading Calendly"
        )
        share = window_share(run.since, run.until, checkpoint.get("position"))
        where = f", {share}% of the window" if share is not None and phase == "reading Calendly" else ""
        beat = f"; heartbeat {int((now - run.heartbeat_at).total_seconds())} s ago" if run.heartbeat_at else ""
        return f"running: {phase}{where}" + (f"; {done}" if done else "") + beat
    seconds = f" in {c['seconds']:.1f} s" if isinstance(c.get("seconds"), (int, float)) else ""
    line = f"{run.status}{seconds}" + (f": {done}" if done else "")
    if run.status in ("failed", "interrupted") and run.error:
        line += f" — {last_error(run.error)}"
    return line


class HasBrevoLists(Protocol):
    brevo_lists: Any


def brevo_lists(connection: HasBrevoLists | None, ids: Any) -> str:
    """``[10, 12]`` → ``"Customers (#10), Leads (#12)"``, named from the connection's cached Brevo lists.

    An id the catalog does not know shows as ``#id``; nothing at all as ``—``.
    """
    names: dict[int, str] = {}
    for item in (getattr(connection, "brevo_lists", None) or []) if connection is not None else []:
        if isinstance(item, dict) and str(item.get("id", "")).lstrip("-").isdigit():
            names[int(item["id"])] = str(item.get("name") or "")
    shown = []
    for raw in ids if isinstance(ids, list | tuple) else []:
        if not str(raw).lstrip("-").isdigit():
            shown.append(str(raw))
            continue
        name = names.get(int(raw))
        shown.append(f"{name} (#{int(raw)})" if name else f"#{int(raw)}")
    return ", ".join(shown) or "—"
