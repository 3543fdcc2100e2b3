"""Pytest plugin: signed Calendly webhook deliveries, and the helpers that post them to the endpoint.

Shared by the endpoint's tests (tests/test_views.py) and the drain's (tests/runtime/test_drain.py):
the ``outbox`` fixture subscribes a webhook in the simulated Calendly, which then builds and signs
every delivery as the real one would; ``deliver`` posts one to the connector.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import pytest

from calendly_sync.calendly.events import SUBSCRIBED_EVENTS
from calendly_sync.sandbox.signing import SIGNATURE_HEADER, sign
from tests.conftest import in_days

if TYPE_CHECKING:
    from django.test import Client

    from calendly_sync.models import Connection

KEY = "test-signing-key"  # the webhook signing key of the ``connection`` fixture


@pytest.fixture
def outbox(sims, connection, calendly_client, calendly_webhook_receiver) -> list[dict[str, Any]]:
    """Deliveries the simulated Calendly builds and signs (also sent to a throwaway receiver)."""
    calendly_sim, _ = sims
    calendly_sim.allow_http_callbacks = True
    calendly_sim.deliver_sync = True
    org = calendly_sim.org["uri"]
    calendly_client.create_webhook_subscription(
        url=calendly_webhook_receiver.hook_url,
        events=list(SUBSCRIBED_EVENTS),
        organization=org,
        scope="organization",
        signing_key=KEY,
    )
    return calendly_sim.outbox


def post(client: Client, connection: Connection | None, body: bytes, signature: str | None, **extra: Any):
    url = f"/webhooks/calendly/{connection.pk}/" if connection else "/webhooks/calendly/"
    headers = {"HTTP_CALENDLY_WEBHOOK_SIGNATURE": signature} if signature is not None else {}
    return client.post(url, data=body, content_type="application/json", **headers, **extra)


def deliver(client: Client, connection: Connection, item: dict[str, Any], *, resign: bool = False):
    body = item["body"]
    signature = sign(body, KEY) if resign else item["headers"][SIGNATURE_HEADER]
    return post(client, connection, body, signature)


# --- one booking's history, in every arrival order -------------------------------------------


def scenario_items(calendly_sim, book, outbox, kind: str) -> list[dict[str, Any]]:
    inv = book("levi@example.com", fire_webhooks=True)
    if kind == "reschedule":
        calendly_sim.reschedule(inv["uri"], in_days(9))
    elif kind == "cancel":
        calendly_sim.cancel(inv["uri"], reason="Conflict")
    elif kind == "reschedule+cancel":
        new = calendly_sim.reschedule(inv["uri"], in_days(9))
        calendly_sim.cancel(new["uri"], reason="Conflict")
    elif kind == "no_show":
        ns = calendly_sim.mark_no_show(inv["uri"])
    elif kind == "no_show_removed":
        ns = calendly_sim.mark_no_show(inv["uri"])
        calendly_sim.unmark_no_show(ns["uri"])
    return list(outbox)


#: For each scenario: the contact's BOOKING_STATUS, and the automation events Brevo receives (sorted).
EXPECTED = {
    "reschedule": ("booked", ["calendly_booking_created", "calendly_booking_rescheduled"]),
    "cancel": ("cancelled", ["calendly_booking_canceled", "calendly_booking_created"]),
    "reschedule+cancel": (
        "cancelled",
        ["calendly_booking_canceled", "calendly_booking_created", "calendly_booking_rescheduled"],
    ),
    "no_show": ("no_show", ["calendly_booking_created", "calendly_no_show"]),
    "no_show_removed": ("booked", ["calendly_booking_created", "calendly_no_show", "calendly_no_show_removed"]),
}


def arrival_orders(n: int) -> list[tuple[int, ...]]:
    """Every order of n deliveries when there are few; a spread of them otherwise (first, last and others)."""
    orders = list(itertools.permutations(range(n)))
    return orders if len(orders) <= 6 else [*orders[:: max(1, len(orders) // 6)], orders[-1]]


def store(client, connection, items: list[dict[str, Any]]) -> list[int]:
    ids = []
    for item in items:
        resp = deliver(client, connection, item)
        assert resp.status_code == 200
        if resp.json()["status"] != "duplicate":
            ids.append(resp.json()["id"])
    return ids


def reset(brevo_sim) -> None:
    from calendly_sync.models import AutomationEvent, Booking, Contact, WebhookDelivery  # after Django's set-up

    for model in (WebhookDelivery, AutomationEvent, Contact, Booking):
        model.objects.all().delete()
    brevo_sim.contacts.clear()
    brevo_sim.events.clear()


def snapshot() -> dict[str, Any]:
    """What the database says, without ids or timestamps of our own."""
    from calendly_sync.models import AutomationEvent, Booking, Contact  # after Django's set-up

    bookings = sorted(
        Booking.objects.values_list(
            "invitee_uri",
            "email",
            "status",
            "rescheduled",
            "old_invitee_uri",
            "new_invitee_uri",
            "start_time",
            "no_show_uri",
            "cancel_reason",
            "calendly_updated_at",
        )
    )
    contacts = sorted(
        (
            c.email,
            c.desired_hash,
            c.booking_status,
            tuple(c.list_ids),
            c.dirty,
            c.current_booking.invitee_uri if c.current_booking else None,
        )
        for c in Contact.objects.select_related("current_booking")
    )
    events = sorted(AutomationEvent.objects.values_list("key", "event_name", "email", "status"))
    return {"bookings": bookings, "contacts": contacts, "events": events}
