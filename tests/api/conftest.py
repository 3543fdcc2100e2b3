"""Fixtures for the API's tests: a token client, and an event type with every kind of question."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

QUESTIONS = [
    {"name": "Company name", "type": "string", "required": True},
    {"name": "Team size", "type": "single_select", "answer_choices": ["1-10", "11-50", "51+"]},
    {"name": "Topics", "type": "multi_select", "answer_choices": ["Billing", "Onboarding", "API"]},
    {"name": "Phone", "type": "phone_number"},
    {"name": "Old question", "enabled": False},
]


def slot(days: int = 3, hour: int = 10, minute: int = 0) -> datetime:
    """An open time in the simulator (weekdays 09:00–17:00 UTC), ``days`` ahead or the next weekday."""
    day = (datetime.now(UTC) + timedelta(days=days)).replace(hour=hour, minute=minute, second=0, microsecond=0)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def api_user(db: Any, django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("booking-app", password="not-used")


@pytest.fixture
def api(api_user: Any) -> APIClient:
    """An API client authenticated with a DRF token, as an app would call."""
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=api_user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def demo_type(sims: tuple[Any, Any]) -> dict[str, Any]:
    """An event type asking every kind of question, offered on Zoom or at the office."""
    calendly_sim, _ = sims
    return calendly_sim.add_event_type(
        "API Demo",
        QUESTIONS,
        locations=[{"kind": "zoom_conference"}, {"kind": "physical", "location": "1 Main St"}],
        fire_webhooks=False,
    )


@pytest.fixture
def booking_body(demo_type: dict[str, Any]):  # type: ignore[no-untyped-def]
    def make(start: datetime | None = None, **changes: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "event_type": demo_type["uri"].rsplit("/", 1)[-1],
            "start_time": iso(start or slot()),
            "invitee": {"name": "Ada Lovelace", "email": "ada@example.com", "timezone": "Europe/London"},
            "answers": {"Company name": "Analytical Engines", "Team size": "11-50", "Topics": ["API", "Billing"]},
        }
        body.update(changes)
        return body

    return make
