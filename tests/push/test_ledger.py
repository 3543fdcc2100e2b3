"""The push ledger: contacts marked exactly as what Brevo now holds."""

from __future__ import annotations

from calendly_sync.models import Contact


def test_pushed_contacts_are_marked_exactly(connection):
    from calendly_sync.push.ledger import mark_pushed_many

    a = Contact.objects.create(connection=connection, email="a@example.com", desired_hash="h-a", dirty=True)
    b = Contact.objects.create(connection=connection, email="b@example.com", desired_hash="h-b2", dirty=True)
    mark_pushed_many({a.pk: "h-a", b.pk: "h-b1"})  # b's projection moved on while h-b1 was in flight
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.pushed_hash, a.dirty, a.last_pushed_at is not None) == ("h-a", False, True)
    assert (b.pushed_hash, b.dirty) == ("h-b1", True)
