"""Processing stored deliveries: every event, in every arrival order, with duplicates, outages and retries."""

from __future__ import annotations

import time

import pytest
from django.core.management import call_command

from calendly_sync.inbox.deliveries import process_delivery
from calendly_sync.models import AutomationEvent, Booking, Connection, Contact, WebhookDelivery
from calendly_sync.sandbox.signing import build_delivery, sign
from tests.fixtures_webhooks import EXPECTED, KEY, arrival_orders, deliver, post, scenario_items

pytestmark = pytest.mark.django_db


def process_all() -> None:
    for pk in WebhookDelivery.objects.filter(status="pending").values_list("pk", flat=True):
        process_delivery(pk)


def test_invitee_payload_without_uri_fails_cleanly(client, connection, sims):
    body, _ = build_delivery("invitee.created", {"email": "x@example.com"}, "u", None)
    assert post(client, connection, body, sign(body, KEY)).status_code == 200
    process_all()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed" and "invitee URI" in delivery.last_error


def test_booking_webhook_upserts_contact_and_sends_one_event(client, connection, sims, book, outbox):
    _, brevo_sim = sims
    book("levi@example.com", fire_webhooks=True)
    item = outbox[-1]
    started = time.monotonic()
    resp = deliver(client, connection, item)
    assert resp.status_code == 200 and resp.json()["status"] == "accepted"
    assert time.monotonic() - started < 2
    assert brevo_sim.count(r"^POST ") == 0  # the request never waits for Brevo
    assert WebhookDelivery.objects.get().status == "pending"

    process_all()
    assert WebhookDelivery.objects.get().status == "processed"
    contact = brevo_sim.get_contact("levi@example.com")
    assert contact["attributes"]["BOOKING_STATUS"] == "booked" and contact["listIds"] == [10]
    assert [e["event_name"] for e in brevo_sim.events] == ["calendly_booking_created"]
    props = brevo_sim.events[0]["event_properties"]
    assert props["event_type_name"] == "Discovery Call" and props["start_time"] and props["event_type_uri"]
    assert brevo_sim.events[0]["event_date"].startswith(item["envelope"]["payload"]["created_at"][:19])

    # Calendly redelivers it, re-signed with a new t: nothing changes, no second event
    resp = deliver(client, connection, item, resign=True)
    assert resp.json()["status"] == "duplicate"
    process_all()
    assert WebhookDelivery.objects.count() == 1 and WebhookDelivery.objects.get().redeliveries == 1
    assert len(brevo_sim.events) == 1


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_each_event_in_every_arrival_order_with_duplicates(client, connection, sims, book, outbox, kind):
    calendly_sim, brevo_sim = sims
    items = scenario_items(calendly_sim, book, outbox, kind)
    chosen = arrival_orders(len(items))
    results = set()
    for order in chosen:
        for model in (WebhookDelivery, AutomationEvent, Booking, Contact):
            model.objects.all().delete()
        brevo_sim.contacts.clear() if hasattr(brevo_sim.contacts, "clear") else None
        brevo_sim.events.clear()
        for i in order:
            assert deliver(client, connection, items[i]).status_code == 200
            process_all()
            assert deliver(client, connection, items[i], resign=True).json()["status"] == "duplicate"
        contact = brevo_sim.get_contact("levi@example.com")
        events = sorted(e["event_name"] for e in brevo_sim.events)
        results.add(
            (
                contact["attributes"]["BOOKING_STATUS"],
                contact["attributes"]["MEETING_DATE"],
                tuple(events),
                tuple(contact["listIds"]),
            )
        )
        assert not WebhookDelivery.objects.exclude(status="processed").exists()
    assert len(results) == 1, results
    status, _, events, lists = results.pop()
    assert status == EXPECTED[kind][0]
    assert list(events) == EXPECTED[kind][1]
    assert lists == (10,)


def test_reschedule_event_carries_old_and_new_start(client, connection, sims, book, outbox):
    calendly_sim, brevo_sim = sims
    items = scenario_items(calendly_sim, book, outbox, "reschedule")
    for item in reversed(items):
        deliver(client, connection, item)
        process_all()
    event = next(e for e in brevo_sim.events if e["event_name"] == "calendly_booking_rescheduled")
    props = event["event_properties"]
    assert props["old_start_time"] != props["new_start_time"] and props["new_start_time"] == props["start_time"]


def test_brevo_outage_keeps_deliveries_pending_until_it_heals(client, connection, sims, book, outbox):
    from calendly_sync.sandbox.httpbase import Fault

    _, brevo_sim = sims
    book("levi@example.com", fire_webhooks=True)
    brevo_sim.inject(Fault("status", route=r"^POST /v3/", status=502, times=None))
    deliver(client, connection, outbox[-1])
    process_all()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.next_attempt_at and "502" in delivery.last_error
    assert Contact.objects.get().dirty
    brevo_sim.clear_faults()
    out = __import__("io").StringIO()
    call_command("process_deliveries", "--now", stdout=out)
    assert WebhookDelivery.objects.get().status == "processed"
    assert brevo_sim.get_contact("levi@example.com") is not None
    assert [e["event_name"] for e in brevo_sim.events] == ["calendly_booking_created"]
    assert "still pending 0" in out.getvalue()


def test_a_long_brevo_outage_is_retried_until_the_horizon_then_failed_and_reprocess_starts_again(
    client, connection, sims, book, outbox
):
    """Transient failures outlast the old limit of 10 attempts: they stop at RETRY_HORIZON_HOURS."""
    from datetime import timedelta

    from django.utils import timezone

    from calendly_sync import retries, tasks
    from calendly_sync.sandbox.httpbase import Fault

    _, brevo_sim = sims
    book("levi@example.com", fire_webhooks=True)
    brevo_sim.inject(Fault("status", route=r"^POST /v3/", status=500, times=None))
    deliver(client, connection, outbox[-1])
    pk = WebhookDelivery.objects.get().pk
    for _ in range(15):
        Contact.objects.update(next_attempt_at=None)
        process_delivery(pk, force=True)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 15)
    assert delivery.first_failed_at is not None and "-> 500" in delivery.last_error
    assert delivery.next_attempt_at - timezone.now() <= retries.MAX_DELAY  # at the capped delay, at most

    # the 72 hours have passed since the first failure
    WebhookDelivery.objects.update(first_failed_at=delivery.first_failed_at - timedelta(hours=72))
    Contact.objects.update(next_attempt_at=None)
    assert process_delivery(pk, force=True) == "failed"
    delivery = WebhookDelivery.objects.get()
    assert delivery.last_error.startswith("gave up after 16 attempts over 72 h: Brevo POST /contacts")

    brevo_sim.clear_faults()
    tasks.reprocess([pk])  # the admin's "Reprocess": a fresh horizon
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.first_failed_at) == ("pending", 0, None)
    Contact.objects.update(next_attempt_at=None)
    process_delivery(pk)
    assert WebhookDelivery.objects.get().status == "processed"
    assert WebhookDelivery.objects.get().first_failed_at is None
    assert [e["event_name"] for e in brevo_sim.events] == ["calendly_booking_created"]


def test_the_horizon_is_a_setting(client, connection, sims, book, outbox, settings):
    from calendly_sync.sandbox.httpbase import Fault

    _, brevo_sim = sims
    settings.RETRY_HORIZON_HOURS = 0.000001  # a few milliseconds: the second failure is past it
    book("levi@example.com", fire_webhooks=True)
    brevo_sim.inject(Fault("status", route=r"^POST /v3/", status=503, times=None))
    deliver(client, connection, outbox[-1])
    pk = WebhookDelivery.objects.get().pk
    process_delivery(pk, force=True)
    Contact.objects.update(next_attempt_at=None)
    assert process_delivery(pk, force=True) == "failed"
    assert "gave up after 2 attempts" in WebhookDelivery.objects.get().last_error


def test_brevo_refusing_the_request_fails_the_delivery_at_once_with_its_reason(client, connection, sims, book, outbox):
    """A permanent error (a 4xx other than 401, 425 and 429) is not retried for three days."""
    _, brevo_sim = sims
    book("levi@example.com", fire_webhooks=True)
    brevo_sim.fail_next(
        403,
        {"code": "permission_denied", "message": "This API key may not read contact attributes"},
        route=r"^GET /v3/contacts/attributes",
        times=None,
    )
    deliver(client, connection, outbox[-1])
    assert process_delivery(WebhookDelivery.objects.get().pk) == "failed"
    delivery = WebhookDelivery.objects.get()
    assert delivery.attempts == 1 and "403" in delivery.last_error and "may not read" in delivery.last_error


def test_a_missing_brevo_key_waits_for_an_operator_within_the_horizon(client, connection, sims, book, outbox):
    book("levi@example.com", fire_webhooks=True)
    Connection.objects.filter(pk=connection.pk).update(brevo_api_key="")
    deliver(client, connection, outbox[-1])
    pk = WebhookDelivery.objects.get().pk
    for _ in range(12):
        process_delivery(pk, force=True)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and "no Brevo API key" in delivery.last_error


def test_a_delivery_that_cannot_be_applied_fails_after_a_few_attempts_with_a_readable_reason(
    client, connection, sims, book, outbox, monkeypatch
):
    """An unexpected error (a bug) is not a Brevo outage: it ends failed after its retries, never stuck."""
    from calendly_sync import retries
    from calendly_sync.inbox import deliveries

    def broken(*args, **kwargs):
        raise KeyError("scheduled_event")

    monkeypatch.setattr(deliveries, "ingest", broken)  # the one apply path, batched or alone
    book("levi@example.com", fire_webhooks=True)
    deliver(client, connection, outbox[-1])
    pk = WebhookDelivery.objects.get().pk
    outcomes = [process_delivery(pk, force=True) for _ in range(retries.UNEXPECTED_ERROR_ATTEMPTS)]
    assert outcomes == ["pending"] * (retries.UNEXPECTED_ERROR_ATTEMPTS - 1) + ["failed"]
    assert WebhookDelivery.objects.get().last_error == (
        f"gave up after {retries.UNEXPECTED_ERROR_ATTEMPTS} attempts: KeyError: 'scheduled_event'"
    )


def test_switches_for_events_and_cancellations(client, connection, sims, book, outbox):
    calendly_sim, brevo_sim = sims
    Connection.objects.filter(pk=connection.pk).update(sync_cancellations=False)
    items = scenario_items(calendly_sim, book, outbox, "cancel")
    for item in items:
        deliver(client, connection, item)
    process_all()
    assert brevo_sim.get_contact("levi@example.com")["attributes"]["BOOKING_STATUS"] == "booked"
    assert [e["event_name"] for e in brevo_sim.events] == ["calendly_booking_created"]


def test_events_switch_off_sends_no_automation_events(client, connection, sims, book, outbox):
    _, brevo_sim = sims
    Connection.objects.filter(pk=connection.pk).update(sync_events=False)
    book("levi@example.com", fire_webhooks=True)
    deliver(client, connection, outbox[-1])
    process_all()
    assert brevo_sim.get_contact("levi@example.com") is not None and brevo_sim.events == []


def test_event_type_updated_and_deleted_refresh_mappings(client, connection, sims, event_types, outbox):
    from calendly_sync.models import EventTypeMapping

    calendly_sim, _ = sims
    uri = event_types["demo"]["uri"]
    calendly_sim.update_event_type(uri, name="Product Demo (45 min)")
    calendly_sim.delete_event_type(uri)
    for item in outbox:
        deliver(client, connection, item)
    process_all()
    mapping = EventTypeMapping.objects.get(event_type_uri=uri)
    assert mapping.event_type_name == "Product Demo (45 min)" and mapping.missing_since is not None


def test_a_backlog_drains_through_bulk_import_and_batched_events(client, connection, sims, book, outbox):
    from calendly_sync.runtime.drain import sweep

    _, brevo_sim = sims
    for i in range(60):
        book(f"backlog{i}@example.com", fire_webhooks=True, answers={"Company name": f"Co {i}"})
    for item in outbox:
        assert deliver(client, connection, item).status_code == 200
    counts = sweep()
    assert counts["processed"] == 60
    assert brevo_sim.count(r"^POST /v3/contacts/import$") == 1
    assert brevo_sim.count(r"^POST /v3/contacts$") == 0
    assert brevo_sim.count(r"^POST /v3/events/batch$") == 1
    assert len(brevo_sim.contacts) == 60
    assert sorted(e["event_name"] for e in brevo_sim.events) == ["calendly_booking_created"] * 60
    assert not WebhookDelivery.objects.exclude(status="processed").exists()


def test_a_bad_payload_shape_syncs_the_rest_of_the_contact_with_a_warning(client, connection, sims, caplog):
    _, brevo_sim = sims
    body, _ = build_delivery(
        "invitee.created",
        {
            "uri": "https://api.calendly.com/scheduled_events/e/invitees/odd",
            "email": "odd@example.com",
            "name": "Odd Shape",
            "created_at": "2026-08-22T17:13:17.150860Z",
            "cancellation": "a string",
            "tracking": "a string",
            "questions_and_answers": 7,
        },
        "https://api.calendly.com/users/u",
        None,
    )
    assert post(client, connection, body, sign(body, KEY)).status_code == 200
    process_all()
    assert WebhookDelivery.objects.get().status == "processed"
    assert brevo_sim.get_contact("odd@example.com")["attributes"]["FIRSTNAME"] == "Odd"
    assert "payload.tracking is str" in caplog.text


def test_a_connection_whose_rules_cannot_load_stops_only_itself(client, connection, sims, book, outbox):
    """A malformed list id in one connection's mapping: its deliveries retry with the reason, the others go through."""
    from calendly_sync.inbox.deliveries import process_batch

    other = Connection.objects.create(name="other", webhook_signing_key="other-key", sync_contacts=False)
    Connection.objects.filter(pk=other.pk).update(default_list_ids=["not-a-number"])
    book("fine@example.com", fire_webhooks=True)
    good = [deliver(client, connection, item).json()["id"] for item in outbox]
    body, _ = build_delivery(
        "invitee.created",
        {
            "uri": "https://api.calendly.com/scheduled_events/e/invitees/x",
            "email": "x@example.com",
            "created_at": "2026-08-22T17:13:17.150860Z",
        },
        "https://api.calendly.com/users/u",
        None,
    )
    bad = post(client, other, body, sign(body, "other-key")).json()["id"]
    results = process_batch([*good, bad])
    assert results[bad] == "pending" and all(results[pk] == "processed" for pk in good)
    delivery = WebhookDelivery.objects.get(pk=bad)
    assert "ValueError" in delivery.last_error and delivery.next_attempt_at is not None


def test_a_disabled_connection_keeps_its_deliveries_but_never_pushes_them(client, connection, sims, book, outbox):
    """Stored and acknowledged as ignored (a 410 would make Calendly delete the subscription)."""
    _, brevo_sim = sims
    book("early@example.com", fire_webhooks=True)
    early = deliver(client, connection, outbox[-1]).json()["id"]  # arrived while enabled, not yet processed
    connection.enabled = False
    connection.save(update_fields=["enabled"])  # as the admin does
    book("late@example.com", fire_webhooks=True)
    resp = deliver(client, connection, outbox[-1])
    assert resp.status_code == 200 and resp.json()["status"] == "ignored"
    process_all()
    process_delivery(early)
    assert set(WebhookDelivery.objects.values_list("status", "last_error")) == {("ignored", "connection is disabled")}
    assert brevo_sim.contacts == {} and brevo_sim.events == []


def test_a_single_delivery_logs_each_line_once(client, connection, sims, caplog):
    """Verbose logs used to print a lone delivery's lines twice (it was observed twice)."""
    import logging

    Connection.objects.filter(pk=connection.pk).update(log_level=Connection.LogLevel.VERBOSE)
    body, _ = build_delivery(
        "invitee.created",
        {
            "uri": "https://api.calendly.com/scheduled_events/e/invitees/once",
            "email": "once@example.com",
            "name": "Once Only",
            "created_at": "2026-08-22T17:13:17.150860Z",
            "tracking": "a string",
        },
        "https://api.calendly.com/users/u",
        None,
    )
    post(client, connection, body, sign(body, KEY))
    with caplog.at_level(logging.INFO, logger="calendly_sync"):
        process_all()
    assert WebhookDelivery.objects.get().status == "processed"
    lines = [r.getMessage() for r in caplog.records if r.name == "calendly_sync.inbox.deliveries"]
    assert sum("invitee.created for invitee" in line for line in lines) == 1
    assert sum("payload.tracking is str" in line for line in lines) == 1
    assert sum("booking changed=" in line for line in lines) == 1
