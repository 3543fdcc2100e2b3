"""Shared helpers for the Calendly simulator tests: raw HTTP with the sandbox token, times, key sets."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from calendly_sync.sandbox.calendly import SANDBOX_TOKEN, CalendlySim

AUTH = {"Authorization": f"Bearer {SANDBOX_TOKEN}"}


INVITEE_KEYS = {
    "uri",
    "email",
    "first_name",
    "last_name",
    "name",
    "status",
    "questions_and_answers",
    "timezone",
    "event",
    "created_at",
    "updated_at",
    "tracking",
    "text_reminder_number",
    "rescheduled",
    "old_invitee",
    "new_invitee",
    "cancel_url",
    "reschedule_url",
    "routing_form_submission",
    "payment",
    "no_show",
    "reconfirmation",
    "scheduling_method",
    "invitee_scheduled_by",
}


CALENDLY_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def future(days: int = 3, hour: int = 10) -> datetime:
    """A whole hour ``days`` ahead (any weekday: the Python booking API does not check availability)."""
    return (datetime.now(UTC) + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)


def weekday_future(days: int = 3, hour: int = 10) -> datetime:
    """A bookable slot for the Scheduling API (weekdays 09:00–17:00 UTC)."""
    day = future(days, hour)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def get(sim: CalendlySim, path: str, token: str = SANDBOX_TOKEN, **params: Any) -> requests.Response:
    url = path if path.startswith("http") else sim.url + path
    return requests.get(url, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=5)


def post(sim: CalendlySim, path: str, body: Any, token: str = SANDBOX_TOKEN) -> requests.Response:
    return requests.post(sim.url + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=5)
