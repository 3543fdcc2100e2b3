"""A booking made through the API reaches Brevo like any other: through the webhook, and the next sync adds nothing."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command

from calendly_sync.models import AutomationEvent, WebhookDelivery
from tests.api.conftest import iso, slot
from tests.fixtures_webhooks import deliver

pytestmark = pytest.mark.django_db


def test_a_booking_through_the_api_reaches_brevo_with_one_booking_created_event(
    client: Any, api: Any, connection: Any, sims: Any, event_types: Any, outbox: list[dict[str, Any]]
) -> None:
    _, brevo_sim = sims
    body = {
        "event_type": event_types["discovery"]["uri"],
        "start_time": iso(slot(5, hour=13)),
        "invitee": {"name": "Grace Hopper", "email": "Grace@Example.com", "timezone": "America/New_York"},
        "answers": {"Company name": "Navy", "Your role": "Rear Admiral", "Phone number": "404 555 0199"},
        "tracking": {"utm_source": "website"},
    }
    resp = api.post("/api/bookings/", body, format="json")
    assert resp.status_code == 201, resp.content
    invitee_uri = resp.json()["invitee_uri"]

    # Calendly's invitee.created webhook for it, delivered to the connector and processed
    created = [item for item in outbox if item["event"] == "invitee.created"]
    assert len(created) == 1
    assert deliver(client, connection, created[0]).status_code == 200
    call_command("process_deliveries", "--now", stdout=io.StringIO())
    assert WebhookDelivery.objects.get().status == "processed"

    contact = brevo_sim.get_contact("grace@example.com")
    assert contact is not None
    attrs = contact["attributes"]
    assert attrs["BOOKING_STATUS"] == "booked" and attrs["COMPANY"] == "Navy" and attrs["SMS"] == "+14045550199"
    assert 10 in contact["listIds"]
    events = [e for e in brevo_sim.events if e["event_name"] == "calendly_booking_created"]
    assert len(events) == 1 and events[0]["event_properties"]["invitee_uri"].endswith(invitee_uri.rsplit("/", 1)[-1])
    assert events[0]["event_properties"]["utm_source"] == "website"

    # the next sync (with events) sees the same booking and sends nothing new
    call_command("sync_calendly", "--with-events", stdout=io.StringIO())
    assert [e["event_name"] for e in brevo_sim.events].count("calendly_booking_created") == 1
    assert AutomationEvent.objects.filter(event_name="calendly_booking_created").count() == 1
