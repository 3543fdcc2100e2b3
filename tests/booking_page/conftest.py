"""Fixtures for the booking page's tests: an event type asking every kind of question, and page helpers."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest

QUESTIONS = [
    {"name": "Company name", "type": "string", "required": True},
    {"name": "Team size", "type": "single_select", "answer_choices": ["1-10", "11-50", "51+"]},
    {"name": "Topics", "type": "multi_select", "answer_choices": ["Billing", "Onboarding", "API"]},
    {"name": "Phone", "type": "phone_number"},
    {"name": "Anything else?", "type": "text"},
    {"name": "Old question", "enabled": False},
]


@pytest.fixture
def page_type(sims: tuple[Any, Any]) -> dict[str, Any]:
    """An event type with every kind of question, offered on Zoom or at the office."""
    calendly_sim, _ = sims
    return calendly_sim.add_event_type(
        "Page Demo",
        QUESTIONS,
        locations=[{"kind": "zoom_conference"}, {"kind": "physical", "location": "1 Main St"}],
        fire_webhooks=False,
    )


def uuid_of(event_type: dict[str, Any]) -> str:
    return str(event_type["uri"]).rsplit("/", 1)[-1]


def form_token(html: str) -> str:
    match = re.search(r'name="token" value="([^"]+)"', html)
    assert match, "the page has no form token"
    return unescape(match.group(1))


def day_sections(html: str) -> list[tuple[str, list[str]]]:
    """The page's days, in order: (heading, [slot values])."""
    out = []
    for section in re.findall(r'<details class="day".*?</details>', html, re.DOTALL):
        heading = re.search(r'<span class="day-label">(.*?)</span>', section, re.DOTALL)
        assert heading
        out.append((unescape(heading.group(1)).strip(), re.findall(r'name="start_time"[^>]*value="([^"]+)"', section)))
    return out
