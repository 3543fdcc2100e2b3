"""The one apply path: observations → bookings → contacts, against the database."""

from __future__ import annotations

import pytest
from django.db import connection as db_connection

from calendly_sync.models import AutomationEvent, Booking, Contact, ContactSyncLog
from calendly_sync.sync.observations import observe_invitee
from calendly_sync.sync.projection import ingest
from tests.fixtures_webhooks import snapshot

pytestmark = pytest.mark.django_db


def test_new_contacts_get_their_ids_where_bulk_inserts_return_none(connection, monkeypatch):
    """SQLite before 3.35 returns no ids from a bulk insert: the mapping warning still finds its contact."""
    monkeypatch.setattr(type(db_connection.features), "can_return_rows_from_bulk_insert", False)
    obs = observe_invitee(
        {
            "uri": "https://api.calendly.com/scheduled_events/e1/invitees/i1",
            "email": "old-sqlite@example.com",
            "name": "Ada Lovelace",
            "timezone": "Europe/Paris",
            "created_at": "2026-08-22T17:13:17Z",
            "questions_and_answers": [{"question": "Phone number", "answer": "12345", "position": 0}],
        },
        event_name="invitee.created",
    )
    [result] = ingest(connection, [(obs, "invitee.created")])
    contact = Contact.objects.get(email="old-sqlite@example.com")
    assert result.contact_dirty and contact.dirty
    warning = ContactSyncLog.objects.get(contact=contact, status=ContactSyncLog.Status.WARNING)
    assert "12345" in warning.message


def test_an_older_observation_with_another_email_reports_the_bookings_contact(connection):
    """The booking (and its contact) follow the newest observation; the result says which contact changed."""

    def obs(email: str, updated: str):
        return observe_invitee(
            {
                "uri": "https://api.calendly.com/scheduled_events/e2/invitees/i2",
                "email": email,
                "created_at": "2026-08-22T17:13:17Z",
                "updated_at": updated,
            },
            event_name="invitee.created",
        )

    ingest(connection, [(obs("new@example.com", "2026-08-23T09:00:00Z"), "invitee.created")])
    Contact.objects.update(dirty=False)
    Contact.objects.filter(email="new@example.com").update(dirty=True)
    [result] = ingest(connection, [(obs("old@example.com", "2026-08-22T17:13:17Z"), "invitee.created")])
    assert result.email == "old@example.com"
    assert result.contact_dirty  # new@example.com, the booking's contact, is the one still due


def test_an_email_changed_within_one_batch_is_projected_like_one_at_a_time(connection):
    """A booking whose email changes between two observations of the same batch."""
    from calendly_sync.sync.observations import observe_invitee
    from calendly_sync.sync.projection import Rules, ingest

    def obs(email: str, updated: str):
        return observe_invitee(
            {
                "uri": "https://api.calendly.com/scheduled_events/e1/invitees/i1",
                "email": email,
                "status": "active",
                "created_at": "2026-08-22T17:13:17Z",
                "updated_at": updated,
            },
            event_name="invitee.created",
        )

    items = [
        (obs("first@example.com", "2026-08-22T17:13:17Z"), "invitee.created"),
        (obs("second@example.com", "2026-08-23T09:00:00Z"), "invitee.created"),
    ]
    rules = Rules.load(connection)
    for observation, event in items:
        ingest(connection, [(observation, event)], rules=rules)
    one_at_a_time = snapshot()
    for model in (AutomationEvent, Contact, Booking):
        model.objects.all().delete()
    ingest(connection, items, rules=rules)
    assert snapshot() == one_at_a_time
    assert {c[0] for c in one_at_a_time["contacts"]} == {"first@example.com", "second@example.com"}
