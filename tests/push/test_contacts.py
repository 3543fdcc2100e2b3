"""One contact at a time (push/contacts.py): a number Brevo refuses is looked into before it is dropped."""

from __future__ import annotations

import pytest

from calendly_sync.credentials.clients import brevo_client_for
from calendly_sync.models import Contact, ContactSyncLog, HeldNumber
from calendly_sync.push.contacts import push_contact, push_dirty
from calendly_sync.sync.observations import observe_invitee
from calendly_sync.sync.projection import Rules, ingest, refresh_all_contacts

pytestmark = pytest.mark.django_db

NUMBER = "+14045551234"  # the phone of the ``book`` fixture's default answers


def push(connection):
    return push_dirty(connection, brevo_client_for(connection), attribute_types=Rules.load(connection).attribute_types)


def test_a_number_held_outside_is_looked_up_once_remembered_and_never_sent_again(connection, sims, book):
    from calendly_sync.backfill import BackfillOptions, run_backfill

    _, brevo_sim = sims
    brevo_sim.seed_contact(None, {"SMS": NUMBER})  # an SMS-only contact: no address to show
    book("levi@example.com")
    run_backfill(connection, BackfillOptions())
    assert brevo_sim.count(r"^GET /v3/contacts/%2B14045551234$") == 1
    held = HeldNumber.objects.get()
    assert (held.number, held.refused_for) == (NUMBER, "levi@example.com") and held.holder.startswith("Brevo contact")
    levi = Contact.objects.get(email="levi@example.com")
    assert "SMS" not in levi.attributes and not levi.dirty  # the desired state says what Brevo holds
    assert "SMS" not in brevo_sim.get_contact("levi@example.com")["attributes"]
    warnings = ContactSyncLog.objects.filter(email="levi@example.com", status="warning")
    assert warnings and all(NUMBER in w.message for w in warnings)

    writes = brevo_sim.count(r"^(POST|PUT) /v3/")
    run_backfill(connection, BackfillOptions())
    refresh_all_contacts(connection)  # a mapping change recomputes everyone: still nothing to send
    push(connection)
    assert brevo_sim.count(r"^(POST|PUT) /v3/") == writes


def _booking(email: str, uid: str, created: str):
    return observe_invitee(
        {
            "uri": f"https://api.calendly.com/scheduled_events/e-{uid}/invitees/{uid}",
            "email": email,
            "name": "Sam Team",
            "timezone": "America/Chicago",
            "created_at": created,
            "updated_at": created,
            "questions_and_answers": [{"question": "Phone number", "answer": NUMBER, "position": 0}],
        },
        event_name="invitee.created",
    )


def test_a_number_held_by_a_contact_letting_it_go_follows_once_it_is_free(connection, sims):
    """ben was sent the number; ana, who booked with it earlier, shows up. Pushed before ben lets
    it go, ana is refused: she goes without it for now, and gets it once ben has let it go."""
    _, brevo_sim = sims
    ingest(connection, [(_booking("ben@example.com", "i1", "2026-09-03T10:00:00Z"), None)])
    push(connection)
    assert brevo_sim.get_contact("ben@example.com")["attributes"]["SMS"] == NUMBER
    ingest(connection, [(_booking("ana@example.com", "i2", "2026-09-01T10:00:00Z"), None)])
    ana = Contact.objects.get(email="ana@example.com")
    assert ana.attributes["SMS"] == NUMBER and Contact.objects.get(email="ben@example.com").attributes["SMS"] == ""

    assert push_contact(connection, ana, brevo_client_for(connection)) == "retry"  # ben still holds it
    assert "SMS" not in brevo_sim.get_contact("ana@example.com")["attributes"]  # in Brevo, without it
    assert not HeldNumber.objects.exists()
    assert ContactSyncLog.objects.filter(email="ana@example.com", message__contains="letting it go").exists()

    Contact.objects.update(next_attempt_at=None)
    push(connection)  # ben lets it go first, then ana is sent it
    assert "SMS" not in brevo_sim.get_contact("ben@example.com")["attributes"]
    assert brevo_sim.get_contact("ana@example.com")["attributes"]["SMS"] == NUMBER
    assert not Contact.objects.filter(dirty=True).exists()
