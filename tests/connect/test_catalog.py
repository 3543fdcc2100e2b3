"""The catalog (Calendly event types, Brevo lists and attributes) loaded over real HTTP to the simulators."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import messages

from calendly_sync.connect.catalog import load_catalog
from calendly_sync.models import Connection

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("bad", ["Bad \ud800 type", "Bad\x00type"], ids=["surrogate", "nul"])
def test_a_record_no_database_can_store_is_left_out_and_named_the_rest_loaded(
    connection: Connection, sims: tuple[Any, Any], bad: str
) -> None:
    """A NUL or an unpaired surrogate escape in Calendly's or Brevo's JSON: that record only (the save failed)."""
    calendly_sim, brevo_sim = sims
    bad_type = calendly_sim.add_event_type(bad, fire_webhooks=False)
    brevo_sim.lists[99] = {"id": 99, "name": bad, "folderId": 1, "createdAt": "2026-01-01T00:00:00Z"}
    report = load_catalog(connection)
    connection.refresh_from_db()
    uris = {et["uri"] for et in connection.calendly_event_types}
    assert bad_type["uri"] not in uris and len(uris) >= 1
    assert {lst["id"] for lst in connection.brevo_lists} == {10, 11, 12}
    warnings = [text for level, text in report.lines if level == messages.WARNING]
    assert any(f"Calendly event type {bad_type['uri']!r} left out: its data contains" in t for t in warnings), warnings
    assert any("Brevo list 99 left out: its data contains" in t for t in warnings), warnings
