"""The one apply path: observations → bookings → contacts, against the database."""

from __future__ import annotations

import pytest
from django.db import connection as db_connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from calendly_sync.models import AutomationEvent, Booking, Contact, ContactSyncLog, HeldNumber
from calendly_sync.sync import projection
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


# -- computed before the write transaction, checked in it (sync/reads.py) ----------------------------


def _invitee(book, event_types, email: str, kind: str, created: str):  # type: ignore[no-untyped-def]
    """An observation of a fresh booking in the simulated Calendly, with its event type (for its list)."""
    inv = book(email, kind=kind, created_at=created)
    event = {"uri": inv["event"], "event_type": event_types[kind]["uri"], "name": event_types[kind]["name"]}
    return observe_invitee(inv, event)


class _Between:
    """Runs ``writer`` once, after a batch was computed and before its write transaction begins
    (``Writes.prepare`` is the last step before it), and records where the projection ran."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, writer) -> None:  # type: ignore[no-untyped-def]
        self.writer = writer
        self.done = False
        self.desired_in_transaction: list[bool] = []
        prepare = projection.Writes.prepare
        desired = projection.desired_state_of

        def between(writes):  # type: ignore[no-untyped-def]
            result = prepare(writes)
            if not self.done:
                self.done = True  # the writer's own ingest passes here too
                self.writer()
            return result

        def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
            self.desired_in_transaction.append(db_connection.in_atomic_block)
            return desired(*args, **kwargs)

        monkeypatch.setattr(projection.Writes, "prepare", between)
        monkeypatch.setattr(projection, "desired_state_of", spy)


@pytest.mark.django_db(transaction=True)
def test_a_batch_is_reduced_and_projected_before_its_write_transaction(connection, book, event_types, monkeypatch):
    """The reducer, the projection and compiling the bulk updates all run while no transaction is
    open (on SQLite: without the database's write lock); the transaction only checks and writes."""
    calls: list[tuple[str, bool]] = []

    def spying(name, function):  # type: ignore[no-untyped-def]
        def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
            calls.append((name, db_connection.in_atomic_block))
            return function(*args, **kwargs)

        return spy

    ingest(connection, [(_invitee(book, event_types, "ada@example.com", "discovery", "2026-08-01T10:00:00Z"), None)])
    monkeypatch.setattr(projection.reducer, "apply", spying("reduce", projection.reducer.apply))
    monkeypatch.setattr(projection, "desired_state_of", spying("project", projection.desired_state_of))
    monkeypatch.setattr(projection, "bulk_update_statements", spying("compile", projection.bulk_update_statements))
    batch = [
        (_invitee(book, event_types, email, kind, "2026-09-01T10:00:00Z"), "invitee.created")
        for email, kind in (("ada@example.com", "demo"), ("bo@example.com", "discovery"), ("cy@example.com", "demo"))
    ]
    with CaptureQueriesContext(db_connection) as queries:
        results = ingest(connection, batch)
    assert {name for name, _ in calls} == {"reduce", "project", "compile"}
    assert not any(in_transaction for _, in_transaction in calls), calls
    assert all(r.booking_created and r.contact_dirty for r in results)
    assert Contact.objects.get(email="ada@example.com").list_ids == [10, 11]
    if db_connection.vendor == "sqlite":  # the write lock is taken by BEGIN: after every read of the plan
        sqls = [q["sql"] for q in queries.captured_queries]
        begin = next(i for i, sql in enumerate(sqls) if sql.startswith("BEGIN"))
        assert any("calendly_sync_booking" in sql for sql in sqls[:begin])  # read before …
        assert any(sql.startswith("INSERT") for sql in sqls[begin:])  # … written after


@pytest.mark.django_db(transaction=True)
def test_a_booking_another_writer_adds_between_the_read_and_the_write_is_projected(
    connection, book, event_types, monkeypatch
):
    """A backfill applies ada's newer demo booking after the batch read her rows and before it
    writes: the check in the write transaction sees her contact changed, the batch is projected
    again under the locks, and her contact ends with both lists and the newest booking."""
    ingest(connection, [(_invitee(book, event_types, "ada@example.com", "discovery", "2026-08-01T10:00:00Z"), None)])
    backfilled = _invitee(book, event_types, "ada@example.com", "demo", "2026-09-02T10:00:00Z")
    between = _Between(monkeypatch, lambda: ingest(connection, [(backfilled, None)]))
    webhook = _invitee(book, event_types, "ada@example.com", "discovery", "2026-09-01T10:00:00Z")

    [result] = ingest(connection, [(webhook, "invitee.created")])

    assert between.done and result.booking_created and result.contact_dirty
    # computed before the transaction, then again in it once the check found the change
    assert between.desired_in_transaction[0] is False and between.desired_in_transaction[-1] is True
    contact = Contact.objects.get(email="ada@example.com")
    assert contact.list_ids == [10, 11]
    assert contact.current_booking is not None and contact.current_booking.invitee_uri == backfilled.invitee_uri
    assert Booking.objects.filter(email="ada@example.com").count() == 3
    assert contact.desired_hash == projection.payload_hash(
        {"attributes": contact.attributes, "listIds": contact.list_ids, "unlinkListIds": contact.unlink_list_ids}
    )
    assert AutomationEvent.objects.filter(email="ada@example.com").count() == 3  # one booking_created each


@pytest.mark.django_db(transaction=True)
def test_a_contact_another_writer_changes_between_the_read_and_the_write_keeps_the_projection_right(
    connection, book, event_types, monkeypatch
):
    """An admin (or another drain) changes the contact's row only — its attributes and its hash —
    in between: the check compares every column, so the batch is projected again from the row as
    it now is, and what is written is what a projection of the current rows gives."""
    first = _invitee(book, event_types, "ada@example.com", "discovery", "2026-08-01T10:00:00Z")
    ingest(connection, [(first, None)])

    def admin() -> None:
        Contact.objects.filter(email="ada@example.com").update(
            attributes={"FIRSTNAME": "Edited"}, desired_hash="edited", dirty=False
        )

    between = _Between(monkeypatch, admin)
    again = _invitee(book, event_types, "ada@example.com", "demo", "2026-09-01T10:00:00Z")
    ingest(connection, [(again, "invitee.created")])
    assert between.done and between.desired_in_transaction[-1] is True
    contact = Contact.objects.get(email="ada@example.com")
    assert contact.attributes.get("FIRSTNAME") != "Edited" and contact.desired_hash != "edited"
    assert contact.dirty and contact.list_ids == [10, 11]


@pytest.mark.django_db(transaction=True)
def test_nothing_changed_in_between_means_no_second_projection(connection, book, event_types, monkeypatch):
    between = _Between(monkeypatch, lambda: None)
    ingest(connection, [(_invitee(book, event_types, "ada@example.com", "demo", "2026-09-01T10:00:00Z"), None)])
    assert between.done and between.desired_in_transaction == [False]
    assert Contact.objects.get(email="ada@example.com").list_ids == [11]
