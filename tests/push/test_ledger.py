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


# --- every write to Brevo leaves a row, failed ones included ----------------------------------


def _pending(client, connection, outbox, book, emails):
    from tests.fixtures_webhooks import store

    for email in emails:
        book(email, fire_webhooks=True)
    return store(client, connection, list(outbox))


def test_a_failed_single_upsert_leaves_a_log_row_even_when_brevo_rejects_the_key(
    client, connection, sims, book, outbox
):
    from calendly_sync.inbox.deliveries import process_batch
    from calendly_sync.models import ContactSyncLog

    _, brevo_sim = sims
    ids = _pending(client, connection, outbox, book, ["levi@example.com"])
    brevo_sim.fail_next(401, route=r"^POST /v3/contacts$", times=None)
    process_batch(ids)
    [row] = ContactSyncLog.objects.filter(email="levi@example.com", action="upsert")
    assert row.status == ContactSyncLog.Status.ERROR and row.http_status == 401
    assert row.request["email"] == "levi@example.com"


def test_a_failed_bulk_import_leaves_a_log_row_per_contact(client, connection, sims, book, outbox, monkeypatch):
    from calendly_sync.inbox.deliveries import process_batch
    from calendly_sync.models import ContactSyncLog
    from calendly_sync.push import bulk

    _, brevo_sim = sims
    monkeypatch.setattr(bulk, "IMPORT_CHUNK", 25)
    emails = [f"bulk{i}@example.com" for i in range(60)]  # above the bulk threshold (50)
    ids = _pending(client, connection, outbox, book, emails)
    brevo_sim.fail_next(503, route=r"^GET /v3/processes/", times=None)  # the import cannot be followed
    process_batch(ids)
    rows = ContactSyncLog.objects.filter(action="import", status=ContactSyncLog.Status.RETRY)
    assert sorted(rows.values_list("email", flat=True)) == sorted(emails)
    assert all("503" in message for message in rows.values_list("message", flat=True))


def test_contacts_held_by_one_pusher_never_stall_a_pusher_of_other_contacts():
    """SQLite's in-process contact locks: a round of 500 contacts waiting for its import does not
    hold up another round's (before: lock stripes by pk % 256, which any large round covered all of),
    while a pusher of the same contact does wait."""
    import threading

    from calendly_sync.push.ledger import _HeldContacts

    held = _HeldContacts()
    first_holds, release_first = threading.Event(), threading.Event()
    order: list[str] = []

    def first() -> None:
        with held.hold(list(range(1, 501))):
            first_holds.set()
            release_first.wait(5)
            order.append("first released")

    def other(name: str, ids: list[int]) -> None:
        with held.hold(ids):
            order.append(name)

    t1 = threading.Thread(target=first)
    t1.start()
    assert first_holds.wait(5)
    disjoint = threading.Thread(target=other, args=("disjoint", list(range(501, 1001))))
    disjoint.start()
    disjoint.join(5)
    assert not disjoint.is_alive() and order == ["disjoint"]  # went while the first still held its contacts
    same = threading.Thread(target=other, args=("same contact", [250, 2000]))
    same.start()
    same.join(0.2)  # bounded: it must still be waiting for contact 250
    assert same.is_alive()
    release_first.set()
    t1.join(5)
    same.join(5)
    assert order == ["disjoint", "first released", "same contact"]
