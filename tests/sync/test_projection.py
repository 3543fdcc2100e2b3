"""The one apply path: observations → bookings → contacts, against the database."""

from __future__ import annotations

import pytest
from django.db import connection as db_connection
from django.db.models import F

from calendly_sync.models import AutomationEvent, Booking, Contact, ContactSyncLog, HeldNumber
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


def _booking(email: str, uid: str, created: str, phone: str | None, tz: str = "America/Chicago"):
    answers = [{"question": "Phone number", "answer": phone, "position": 0}] if phone else []
    return observe_invitee(
        {
            "uri": f"https://api.calendly.com/scheduled_events/e-{uid}/invitees/{uid}",
            "email": email,
            "name": "Sam Team",
            "timezone": tz,
            "created_at": created,
            "updated_at": created,
            "questions_and_answers": answers,
        },
        event_name="invitee.created",
    )


def _sms_of(email: str) -> object:
    return Contact.objects.get(email=email).attributes.get("SMS", "—")


def test_a_shared_number_goes_to_the_contact_that_booked_with_it_first_whatever_the_arrival_order(connection):
    """A team's switchboard: three colleagues give one number, each typed another way."""
    later = _booking("ben@acme.example", "i1", "2026-09-03T10:00:00Z", "(404) 555-0101")
    first = _booking("ana@acme.example", "i2", "2026-09-01T10:00:00Z", "+1 404 555 0101")
    other = _booking("cy@acme.example", "i3", "2026-09-02T10:00:00Z", "404-555-0101")
    ingest(connection, [(later, "invitee.created")])
    assert _sms_of("ben@acme.example") == "+14045550101"  # alone so far: it keeps the number
    ingest(connection, [(other, "invitee.created"), (first, "invitee.created")])
    assert _sms_of("ana@acme.example") == "+14045550101"
    # ben was never sent the number (never pushed): nothing to let go in Brevo
    assert _sms_of("ben@acme.example") == "—" and _sms_of("cy@acme.example") == "—"
    assert Contact.objects.get(email="ben@acme.example").dirty  # re-owned though not in the batch
    for email in ("ben@acme.example", "cy@acme.example"):
        message = ContactSyncLog.objects.filter(email=email, status="warning").latest("id").message
        assert "+14045550101" in message and "ana@acme.example" in message


def test_a_contact_that_was_sent_a_number_it_loses_lets_it_go_in_brevo(connection):
    later = _booking("ben@acme.example", "i1", "2026-09-03T10:00:00Z", "(404) 555-0101")
    ingest(connection, [(later, "invitee.created")])
    Contact.objects.filter(email="ben@acme.example").update(pushed_hash=F("desired_hash"), dirty=False)
    ingest(connection, [(_booking("ana@acme.example", "i2", "2026-09-01T10:00:00Z", "+14045550101"), None)])
    ben = Contact.objects.get(email="ben@acme.example")
    assert ben.attributes["SMS"] == "" and ben.dirty  # sent SMS "" first: Brevo frees the number
    assert ben.sms_number == "+14045550101"
    # the decision is stable: refreshing again changes nothing
    desired = ben.desired_hash
    ingest(connection, [(later, "invitee.created")])
    assert Contact.objects.get(email="ben@acme.example").desired_hash == desired


def test_a_number_brevo_holds_outside_the_connection_goes_to_nobody(connection):
    HeldNumber.objects.create(connection=connection, number="+14045550101", holder="frontdesk@outside.example")
    ingest(connection, [(_booking("ana@acme.example", "i2", "2026-09-01T10:00:00Z", "+14045550101"), None)])
    ana = Contact.objects.get(email="ana@acme.example")
    assert "SMS" not in ana.attributes and ana.sms_number == "+14045550101"
    warning = ContactSyncLog.objects.get(email="ana@acme.example", status="warning").message
    assert "+14045550101" in warning and "outside" in warning


def test_a_contact_whose_new_booking_gives_another_number_frees_the_old_one_for_the_next_claimant(connection):
    ingest(connection, [(_booking("ana@acme.example", "i1", "2026-09-01T10:00:00Z", "+14045550101"), None)])
    ingest(connection, [(_booking("ben@acme.example", "i2", "2026-09-02T10:00:00Z", "+14045550101"), None)])
    assert _sms_of("ben@acme.example") == "—"
    ingest(connection, [(_booking("ana@acme.example", "i3", "2026-09-05T10:00:00Z", "+14045550199"), None)])
    assert _sms_of("ana@acme.example") == "+14045550199"
    assert _sms_of("ben@acme.example") == "+14045550101" and Contact.objects.get(email="ben@acme.example").dirty
