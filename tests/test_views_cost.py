"""What an acknowledgement costs the database, and what it must keep while costing less.

Issue #12 item 4: a new delivery is one ``SELECT`` (the keys and what storing needs) and one
autocommitted ``INSERT``; the connection row is written at most once a minute
(:mod:`calendly_sync.inbox.arrivals`), and readers still see the newest delivery. Transactional
tests: in autocommit, as a server runs, not inside the test's own transaction.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from calendly_sync import views
from calendly_sync.credentials import signing
from calendly_sync.inbox import arrivals, rejections
from calendly_sync.models import Connection, WebhookDelivery
from calendly_sync.overview.status import gather
from calendly_sync.sandbox.signing import sign
from tests.fixtures_webhooks import KEY, post
from tests.test_views import envelope_body as booking_body

pytestmark = pytest.mark.django_db(transaction=True)


def envelope_body(email: str) -> bytes:
    """A booking's ``invitee.created``, a new delivery for each email."""
    return booking_body(email, invitee=email.split("@")[0])


def statements(ctx: CaptureQueriesContext) -> list[str]:
    return [q["sql"].split()[0].upper() for q in ctx.captured_queries]


def test_a_new_delivery_is_one_select_and_one_insert_then_only_the_insert(client, connection):
    Connection.objects.filter(pk=connection.pk).update(last_delivery_at=timezone.now())
    rejections.counter.flush()
    body = envelope_body("levi@example.com")
    with CaptureQueriesContext(db_connection) as ctx:
        resp = post(client, connection, body, sign(body, KEY))
    assert resp.status_code == 200 and resp.json()["status"] == "accepted"
    assert statements(ctx) == ["SELECT", "INSERT"], [q["sql"][:120] for q in ctx.captured_queries]
    assert "calendly_sync_connection" in ctx.captured_queries[0]["sql"]
    assert "calendly_sync_webhookdelivery" in ctx.captured_queries[1]["sql"]
    stored = WebhookDelivery.objects.get(pk=resp.json()["id"])
    assert (stored.status, stored.email, stored.connection_id) == ("pending", "levi@example.com", connection.pk)

    body = envelope_body("burst@example.com")  # within TARGET_TTL: the row this process read is kept
    with CaptureQueriesContext(db_connection) as ctx:
        resp = post(client, connection, body, sign(body, KEY))
    assert resp.json()["status"] == "accepted" and statements(ctx) == ["INSERT"]


def test_the_key_routed_url_costs_the_same(client, connection):
    Connection.objects.filter(pk=connection.pk).update(last_delivery_at=timezone.now())
    for n, expected in enumerate((["SELECT", "INSERT"], ["INSERT"])):
        body = envelope_body(f"routed{n}@example.com")
        with CaptureQueriesContext(db_connection) as ctx:
            resp = post(client, None, body, sign(body, KEY))
        assert resp.status_code == 200 and resp.json()["status"] == "accepted"
        assert statements(ctx) == expected


def test_a_connection_disabled_in_this_process_is_read_fresh(client, connection):
    """The admin saves: the kept row is dropped at once (another process's is, within TARGET_TTL)."""
    first = envelope_body("before@example.com")
    assert post(client, connection, first, sign(first, KEY)).json()["status"] == "accepted"
    connection.enabled = False
    connection.save(update_fields=["enabled"])
    later = envelope_body("after@example.com")
    assert post(client, connection, later, sign(later, KEY)).json()["status"] == "ignored"


def test_the_connection_mark_is_written_once_a_minute_and_readers_see_the_newest(client, connection):
    first = envelope_body("one@example.com")
    post(client, connection, first, sign(first, KEY))
    connection.refresh_from_db()
    mark = connection.last_delivery_at
    assert mark is not None  # never written: written by the first delivery

    second = envelope_body("two@example.com")
    resp = post(client, connection, second, sign(second, KEY))
    connection.refresh_from_db()
    assert connection.last_delivery_at == mark  # within the minute: no write
    newest = WebhookDelivery.objects.get(pk=resp.json()["id"]).received_at
    assert newest > mark
    [facts] = gather([connection])
    assert facts.last_delivery_at == newest  # the dashboard reads the newest delivery, not the mark
    assert rejections.summarize(connection).last_accepted_at == newest

    stale = timezone.now() - arrivals.REFRESH_AFTER - timedelta(seconds=1)
    Connection.objects.filter(pk=connection.pk).update(last_delivery_at=stale)
    signing.forget()  # a minute later, this process's kept row is long expired
    third = envelope_body("three@example.com")
    resp = post(client, connection, third, sign(third, KEY))
    connection.refresh_from_db()
    assert connection.last_delivery_at == WebhookDelivery.objects.get(pk=resp.json()["id"]).received_at


def test_a_redelivery_is_still_counted_and_acknowledged(client, connection):
    body = envelope_body("again@example.com")
    first = post(client, connection, body, sign(body, KEY))
    again = post(client, connection, body, sign(body, KEY))  # re-signed, as Calendly retries
    assert first.json()["status"] == "accepted" and again.status_code == 200
    assert again.json() == {"status": "duplicate"}
    assert WebhookDelivery.objects.get().redeliveries == 1


def test_a_connection_deleted_while_its_delivery_is_verified_is_a_404_and_stores_nothing(
    client, connection, monkeypatch
):
    real = views.webhook_target

    def then_deleted(connection_id: int):  # the admin deletes it between verification and the insert
        target = real(connection_id)
        Connection.objects.filter(pk=connection_id).delete()
        return target

    monkeypatch.setattr(views, "webhook_target", then_deleted)
    body = envelope_body("orphan@example.com")
    resp = post(client, connection, body, sign(body, KEY))
    assert resp.status_code == 404 and resp.json() == {"detail": "Unknown connection."}
    assert not WebhookDelivery.objects.exists()


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_numbers_are_a_400_not_a_server_error(client, connection, constant):
    """Python's json accepts them; RFC 8259 does not, and PostgreSQL's jsonb refuses them at the insert."""
    body = envelope_body("nan@example.com").replace(b'"payload": {', f'"score": {constant}, "payload": {{'.encode(), 1)
    assert constant.encode() in body
    resp = post(client, connection, body, sign(body, KEY))
    assert resp.status_code == 400 and resp.json() == {"detail": "Body is not valid JSON."}
    assert not WebhookDelivery.objects.exists()


def test_arrivals_rules():
    now = timezone.now()
    assert arrivals.due(None, now)
    assert not arrivals.due(now - timedelta(seconds=59), now)
    assert arrivals.due(now - arrivals.REFRESH_AFTER, now)
    assert arrivals.latest(None, None) is None
    assert arrivals.latest(None, now, now - timedelta(hours=1)) == now


def test_an_acknowledgement_writes_four_indexes_and_the_drain_reads_one():
    """Each index is a page more that every acknowledgement writes: the key, the time, the drain's
    (status, due time), and the primary key; nothing on connection, event, invitee or email."""
    with db_connection.cursor() as cursor:
        constraints = db_connection.introspection.get_constraints(cursor, WebhookDelivery._meta.db_table)
    indexed = sorted(tuple(c["columns"]) for c in constraints.values() if c["index"] or c["unique"] or c["primary_key"])
    assert indexed == [("id",), ("idempotency_key",), ("received_at",), ("status", "next_attempt_at")]
    due_query = WebhookDelivery.objects.filter(status="pending", next_attempt_at__isnull=True).order_by().query
    due, params = due_query.sql_with_params()
    with db_connection.cursor() as cursor:
        cursor.execute(("EXPLAIN QUERY PLAN " if db_connection.vendor == "sqlite" else "EXPLAIN ") + due, params)
        plan = " ".join(str(part) for row in cursor.fetchall() for part in row)
    assert "delivery_due" in plan
