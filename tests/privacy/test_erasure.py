"""``forget_invitee``: nothing of the person stays here, nothing brings them back, a new booking does.

Every check of "nothing stays" reads the raw database: every table of the app, every column, in any
case, JSON-escaped or URL-encoded (see :func:`holding`).
"""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from calendly_sync.inbox.deliveries import ERASED_REASON
from calendly_sync.models import Booking, Connection, Contact, Suppression, WebhookDelivery
from calendly_sync.models.privacy import email_hashes
from calendly_sync.sync.observations import observe_invitee
from calendly_sync.sync.projection import ingest
from tests.fixtures_webhooks import deliver

pytestmark = pytest.mark.django_db

LEVI = "Levi.Duncan@Example.com"  # as the invitee typed it; the connector stores it lower-cased


def holding(email: str) -> list[str]:
    """Every (table.column) of the app's tables whose raw value mentions the address, in any form."""
    forms = {email.casefold(), json.dumps(email.lower())[1:-1].casefold(), quote(email.lower(), safe="").casefold()}
    found = []
    tables = [t for t in db.introspection.table_names() if t.startswith("calendly_sync_")]
    assert "calendly_sync_booking" in tables and "calendly_sync_suppression" in tables
    with db.cursor() as cursor:
        for table in tables:
            cursor.execute(f"SELECT * FROM {db.ops.quote_name(table)}")  # table names from introspection
            columns = [c[0] for c in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    text = value if isinstance(value, str) else json.dumps(value, default=str)
                    if any(form in text.casefold() for form in forms):
                        found.append(f"{table}.{column}")
    return sorted(set(found))


def run(command: str, *args: str) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def store_and_process(client: Any, connection: Connection, items: list[dict[str, Any]]) -> None:
    for item in items:
        assert deliver(client, connection, item, resign=True).status_code == 200
    run("process_deliveries", "--now")


@pytest.fixture
def history(client, connection, sims, book, outbox) -> dict[str, Any]:
    """Levi booked twice (webhooks), someone named him in their answers; all of it synced to Brevo.

    The connection logs webhooks, so every delivery keeps its body and raw bytes.
    """
    calendly_sim, brevo_sim = sims
    connection.log_webhooks = True
    connection.save()
    created = datetime.now(UTC) - timedelta(days=12)
    first = book(LEVI, fire_webhooks=True, days=-5, created_at=created)
    second = book(LEVI, kind="demo", fire_webhooks=True, days=4, created_at=created + timedelta(days=1))
    calendly_sim.mark_no_show(first["uri"])
    book(
        "ana@example.com",
        name="Ana Pereira",
        answers={"Company name": "Initech", "Your role": "referred by LEVI.DUNCAN@example.com"},
        fire_webhooks=True,
    )
    store_and_process(client, connection, list(outbox))
    run("sync_calendly", "--with-events")
    assert brevo_sim.get_contact(LEVI.lower()) is not None
    assert {
        "calendly_sync_booking.email",
        "calendly_sync_contact.email",
        "calendly_sync_webhookdelivery.raw_body",
        "calendly_sync_automationevent.email",
        "calendly_sync_contactsynclog.request",
    } <= set(holding(LEVI))
    return {"first": first, "second": second, "items": list(outbox)}


def test_forget_invitee_leaves_no_trace_and_keeps_old_bookings_from_coming_back(
    client, connection, sims, book, outbox, history, caplog
):
    calendly_sim, brevo_sim = sims
    ana_booking = Booking.objects.get(email="ana@example.com")
    ana_contact = Contact.objects.get(email="ana@example.com")
    caplog.set_level(logging.INFO)

    out = run("forget_invitee", "  LEVI.duncan@EXAMPLE.com ")

    assert holding(LEVI) == []
    assert brevo_sim.get_contact(LEVI.lower()) is None
    assert "Brevo (default): contact deleted" in out and "booking 2" in out and "contact 1" in out
    assert not any("levi" in r.getMessage().lower() for r in caplog.records)  # logs name the erasure by hash
    # Nothing else went: Ana keeps her booking and contact; only the address left her answers.
    ana_booking.refresh_from_db()
    assert Contact.objects.get(pk=ana_contact.pk).email == "ana@example.com"
    assert ana_booking.questions_and_answers[1]["answer"] == "referred by [erased]"
    assert brevo_sim.get_contact("ana@example.com") is not None
    suppression = Suppression.objects.get()
    assert suppression.connection is None and suppression.email_hash == email_hashes(LEVI)[0]

    # A backfill over the old window finds both bookings at Calendly, and applies neither.
    out = run("sync_calendly", "--with-events", "--since", (datetime.now(UTC) - timedelta(days=30)).date().isoformat())
    assert "2 invitees skipped (erased)" in out
    assert holding(LEVI) == []
    assert brevo_sim.get_contact(LEVI.lower()) is None

    # Late webhooks of the old bookings (a redelivery, a cancellation now) are ignored, and forget him too.
    calendly_sim.cancel(history["second"]["uri"], reason="Conflict")
    late = [history["items"][0], calendly_sim.outbox[-1]]
    store_and_process(client, connection, late)
    assert holding(LEVI) == []
    ignored = WebhookDelivery.objects.filter(last_error=ERASED_REASON)
    assert ignored.count() == 2 and {d.status for d in ignored} == {"ignored"}
    assert brevo_sim.get_contact(LEVI.lower()) is None

    # A booking made after the erasure syncs as usual.
    book(LEVI, fire_webhooks=True, days=20)
    store_and_process(client, connection, calendly_sim.outbox[-1:])
    contact = Contact.objects.get(email=LEVI.lower())
    assert contact.dirty is False and Booking.objects.filter(email=LEVI.lower()).count() == 1
    assert brevo_sim.get_contact(LEVI.lower())["attributes"]["BOOKING_STATUS"] == "booked"


def test_brevo_keep_leaves_the_brevo_contact(connection, sims, book):
    _, brevo_sim = sims
    book(LEVI)
    run("sync_calendly")
    out = run("forget_invitee", LEVI, "--brevo", "keep")
    assert "contact kept" in out
    assert holding(LEVI) == []
    assert brevo_sim.get_contact(LEVI.lower()) is not None


def test_one_connection_only(connection, sims, book):
    book(LEVI)
    run("sync_calendly")
    other = Connection.objects.create(name="other", access_token="x", brevo_api_key="y")
    Booking.objects.create(connection=other, invitee_uri="https://api.calendly.com/invitees/o", email=LEVI.lower())
    run("forget_invitee", LEVI, "--connection", "default", "--brevo", "keep")
    assert list(Booking.objects.values_list("connection__name", flat=True)) == ["other"]
    assert Suppression.objects.get().connection == connection
    with pytest.raises(CommandError, match="no connection named 'nope' \\(known: default, other\\)"):
        run("forget_invitee", LEVI, "--connection", "nope")


def test_not_an_email(connection):
    with pytest.raises(CommandError, match="not an email address"):
        run("forget_invitee", "levi")


def test_calendly_deletion_needs_an_enterprise_plan(connection, sims, book):
    calendly_sim, _ = sims
    book(LEVI)
    run("sync_calendly")
    with pytest.raises(CommandError) as refused:
        run("forget_invitee", LEVI, "--calendly")
    message = str(refused.value)
    assert "the data here is erased" in message
    assert "needs an Enterprise plan and a token with the data_compliance:write scope" in message
    assert "403" in message and "levi" not in message.lower()
    assert calendly_sim.invitee_deletions == []
    assert holding(LEVI) == []  # the local erasure does not depend on Calendly

    calendly_sim.plan = "enterprise"
    out = run("forget_invitee", LEVI, "--calendly")
    assert "Calendly (default): deletion requested" in out
    assert "Brevo (default): no such contact" in out  # the first run deleted it
    [request] = calendly_sim.invitee_deletions
    assert set(request["emails"]) == {LEVI, LEVI.lower()}


def test_the_apply_path_checks_suppressions_with_one_query_per_batch(connection, sims, book):
    """Observations of an erased address made before the erasure are skipped; later ones and others apply."""
    old = book(LEVI, created_at=datetime.now(UTC) - timedelta(days=3))
    new = book(LEVI, kind="demo")
    ana = book("ana@example.com")
    Suppression.objects.create(email_hash=email_hashes(LEVI)[0], forgotten_at=datetime.now(UTC) - timedelta(days=1))
    observations = [(observe_invitee(inv, {}), "invitee.created") for inv in (old, new, ana)]
    with CaptureQueriesContext(db) as queries:
        results = ingest(connection, observations)
    assert [r.suppressed for r in results] == [True, False, False]
    # One query for the batch, read before the write transaction, and the same query once more in
    # it to check that no erasure came in between (sync/reads.py): never one per observation.
    assert sum("calendly_sync_suppression" in q["sql"] for q in queries.captured_queries) == 2
    assert sorted(Booking.objects.values_list("invitee_uri", flat=True)) == sorted([new["uri"], ana["uri"]])
    assert Contact.objects.filter(email=LEVI.lower()).exists()  # the new booking's contact


def test_a_key_rotation_keeps_people_forgotten(connection, sims, book, settings):
    book(LEVI, created_at=datetime.now(UTC) - timedelta(days=3))
    run("forget_invitee", LEVI, "--brevo", "keep")
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-after-rotation-0123456789"
    run("sync_calendly")
    assert holding(LEVI) == []


def test_a_longer_address_that_contains_it_is_someone_else(connection):
    others = ["jo.levi.duncan@example.com", "levi.duncan@example.com.au"]
    for i, email in enumerate([*others, "ana@example.com"]):
        Booking.objects.create(
            connection=connection,
            invitee_uri=f"https://api.calendly.com/scheduled_events/e/invitees/{i}",
            email=email,
            questions_and_answers=[{"question": "Referred by", "answer": f"{LEVI.upper()} or {others[0]}"}],
        )
        Contact.objects.create(connection=connection, email=email)
    run("forget_invitee", LEVI, "--brevo", "keep")
    assert sorted(Contact.objects.values_list("email", flat=True)) == sorted([*others, "ana@example.com"])
    answers = {b.email: b.questions_and_answers[0]["answer"] for b in Booking.objects.all()}
    assert set(answers.values()) == {f"[erased] or {others[0]}"}


def test_forget_deletes_the_persons_booking_links(connection, sims, book):
    from calendly_sync.models import BookingLink

    def link(email: str, token: str) -> BookingLink:
        return BookingLink.objects.create(
            connection=connection,
            email=email,
            token=token,
            url=f"https://calendly.com/d/abcd-efgh/x?email={quote(email)}",
            event_type_uri="https://api.calendly.com/event_types/x",
            attribute="BOOKING_LINK",
        )

    book(LEVI)
    run("sync_calendly")
    link(LEVI.lower(), "t1")
    link("ana@example.com", "t2")
    out = run("forget_invitee", LEVI, "--brevo", "keep")
    assert "booking link 1" in out
    assert list(BookingLink.objects.values_list("email", flat=True)) == ["ana@example.com"]
