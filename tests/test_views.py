"""The webhook endpoint and delivery processing, with deliveries built and signed by the simulated Calendly."""

from __future__ import annotations

import time

import pytest
from django.core.management import call_command

from calendly_sync.inbox.deliveries import process_delivery
from calendly_sync.models import AutomationEvent, Booking, Connection, Contact, WebhookDelivery
from calendly_sync.sandbox.signing import SIGNATURE_HEADER, build_delivery, sign
from tests.fixtures_webhooks import EXPECTED, KEY, arrival_orders, deliver, post, scenario_items

pytestmark = pytest.mark.django_db


def process_all() -> None:
    for pk in WebhookDelivery.objects.filter(status="pending").values_list("pk", flat=True):
        process_delivery(pk)


# --- signatures ------------------------------------------------------------------------------


def envelope_body(email: str = "levi@example.com") -> bytes:
    body, _ = build_delivery(
        "invitee.created",
        {
            "uri": "https://api.calendly.com/scheduled_events/e/invitees/i",
            "email": email,
            "created_at": "2026-08-22T17:13:17.150860Z",
            "updated_at": "2026-08-22T17:13:17.150860Z",
        },
        "https://api.calendly.com/users/u",
        None,
    )
    return body


@pytest.mark.parametrize(
    "case,expected_reason",
    [
        ("wrong_key", "signature mismatch"),
        ("stale", "outside tolerance"),
        ("future", "outside tolerance"),
        ("missing", "missing signature header"),
        ("malformed", "malformed signature header"),
        ("body_changed", "signature mismatch"),
    ],
)
def test_bad_signatures_are_401_and_counted(client, connection, case, expected_reason):
    body = envelope_body()
    now = int(time.time())
    signature = {
        "wrong_key": sign(body, "not-the-key", now),
        "stale": sign(body, KEY, now - 181),
        "future": sign(body, KEY, now + 181),
        "missing": None,
        "malformed": "t=abc;v1",
        "body_changed": sign(body, KEY, now),
    }[case]
    if case == "body_changed":
        body = body.replace(b"levi", b"levj")  # one byte
    resp = post(client, connection, body, signature)
    assert resp.status_code == 401
    assert expected_reason in resp.json()["detail"]
    assert not WebhookDelivery.objects.exists()
    connection.refresh_from_db()
    assert connection.signature_rejections == 1 and expected_reason in connection.last_rejection_reason


def test_valid_signatures_including_several_v1_and_rotated_key(client, connection):
    body = envelope_body()
    now = int(time.time())
    good = sign(body, KEY, now)
    assert post(client, connection, body, good).status_code == 200
    # several v1 values: one of them valid
    body2 = envelope_body("ana@example.com")
    other = sign(body2, "unrelated", now).split(",")[1]
    assert post(client, connection, body2, f"{sign(body2, KEY, now)},{other}").status_code == 200
    # during a rotation the previous key is accepted for the grace period
    from django.utils import timezone

    Connection.objects.filter(pk=connection.pk).update()
    connection.previous_signing_key = KEY
    connection.webhook_signing_key = "the-new-key"
    connection.signing_key_rotated_at = timezone.now()
    connection.save()
    body3 = envelope_body("zoe@example.com")
    assert post(client, connection, body3, sign(body3, KEY, now)).status_code == 200
    assert (
        post(
            client, connection, envelope_body("x@example.com"), sign(envelope_body("x@example.com"), "the-new-key", now)
        ).status_code
        == 200
    )
    connection.signing_key_rotated_at = timezone.now() - timezone.timedelta(days=3)
    connection.save()
    body4 = envelope_body("late@example.com")
    assert post(client, connection, body4, sign(body4, KEY, now)).status_code == 401


def test_endpoint_without_id_routes_by_the_key_that_verifies(client, connection):
    other = Connection.objects.create(name="other", webhook_signing_key="other-key", access_token="x")
    body = envelope_body()
    assert post(client, None, body, sign(body, "other-key")).status_code == 200
    assert WebhookDelivery.objects.get().connection == other
    assert (
        post(client, None, envelope_body("b@example.com"), sign(envelope_body("b@example.com"), "nobody")).status_code
        == 401
    )


def test_malformed_json_oversized_and_unknown_events(client, connection):
    bad = b'{"event": "invitee.created", "payload": '
    assert post(client, connection, bad, sign(bad, KEY)).status_code == 400
    not_envelope = b"[1, 2]"
    assert post(client, connection, not_envelope, sign(not_envelope, KEY)).status_code == 400
    big = b'{"event": "invitee.created", "payload": {"x": "' + b"a" * (1024 * 1024) + b'"}}'
    assert post(client, connection, big, sign(big, KEY)).status_code == 413
    unknown, _ = build_delivery("routing_form_submission.created", {"uri": "https://api.calendly.com/rf/1"}, "u", None)
    resp = post(client, connection, unknown, sign(unknown, KEY))
    assert resp.status_code == 200 and resp.json()["status"] == "ignored"
    assert WebhookDelivery.objects.get().status == "ignored"
    wrong_payload, _ = build_delivery("invitee.created", "not an object", "u", None)  # type: ignore[arg-type]
    assert post(client, connection, wrong_payload, sign(wrong_payload, KEY)).status_code == 400
    assert post(client, Connection(pk=999), unknown, sign(unknown, KEY)).status_code == 404


def test_invitee_payload_without_uri_fails_cleanly(client, connection, sims):
    body, _ = build_delivery("invitee.created", {"email": "x@example.com"}, "u", None)
    assert post(client, connection, body, sign(body, KEY)).status_code == 200
    process_all()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed" and "invitee URI" in delivery.last_error


# --- processing ------------------------------------------------------------------------------


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


def test_delivery_fails_after_the_attempt_limit_and_can_be_reprocessed(client, connection, sims, book, outbox):
    from calendly_sync import tasks
    from calendly_sync.inbox import deliveries
    from calendly_sync.sandbox.httpbase import Fault

    _, brevo_sim = sims
    book("levi@example.com", fire_webhooks=True)
    brevo_sim.inject(Fault("status", route=r"^POST /v3/", status=500, times=None))
    deliver(client, connection, outbox[-1])
    pk = WebhookDelivery.objects.get().pk
    for _ in range(deliveries.MAX_ATTEMPTS):
        process_delivery(pk, force=True)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed" and "gave up" in delivery.last_error
    brevo_sim.clear_faults()
    tasks.reprocess([pk])
    process_delivery(pk)
    assert WebhookDelivery.objects.get().status == "processed"


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


def test_raw_bodies_are_kept_only_with_log_webhooks(client, connection, sims, book, outbox):
    book("levi@example.com", fire_webhooks=True)
    deliver(client, connection, outbox[-1])
    assert WebhookDelivery.objects.get().raw_body == ""
    Connection.objects.filter(pk=connection.pk).update(log_webhooks=True)
    book("ana@example.com", fire_webhooks=True)
    deliver(client, connection, outbox[-1])
    kept = WebhookDelivery.objects.get(email="ana@example.com")
    assert "ana@example.com" in kept.raw_body
    assert SIGNATURE_HEADER.lower() not in {k.lower() for k in kept.headers}


def test_purge_deliveries(client, connection):
    from datetime import timedelta

    from django.utils import timezone

    body = envelope_body()
    post(client, connection, body, sign(body, KEY))
    WebhookDelivery.objects.update(status="processed", received_at=timezone.now() - timedelta(days=40))
    out = __import__("io").StringIO()
    call_command("purge_deliveries", "--older-than", "30", stdout=out)
    assert not WebhookDelivery.objects.exists() and "deleted 1" in out.getvalue()


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
