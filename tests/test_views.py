"""The webhook endpoint: signatures, routing, malformed bodies, what is stored, and the purge command."""

from __future__ import annotations

import time

import pytest
from django.core.management import call_command

from calendly_sync.inbox.deliveries import process_delivery
from calendly_sync.models import Connection, WebhookDelivery
from calendly_sync.sandbox.signing import SIGNATURE_HEADER, build_delivery, sign
from tests.fixtures_webhooks import KEY, deliver, post

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


# --- processing ------------------------------------------------------------------------------


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


@pytest.mark.parametrize(
    "t",
    ["²", "٣٣", "1" * 5000, "+1", " 1", "1_000"],
    ids=["superscript", "arabic-indic", "5000-digits", "plus", "space", "underscore"],
)
@pytest.mark.parametrize("routed_by_key", [False, True], ids=["per-connection", "key-routed"])
def test_odd_signature_timestamps_are_a_401_not_a_500(client, connection, t, routed_by_key):
    url = "/webhooks/calendly/" if routed_by_key else f"/webhooks/calendly/{connection.pk}/"
    resp = client.post(
        url,
        data=envelope_body(),
        content_type="application/json",
        HTTP_CALENDLY_WEBHOOK_SIGNATURE=f"t={t},v1={'ab' * 32}",
    )
    assert resp.status_code == 401
    assert WebhookDelivery.objects.count() == 0


@pytest.mark.parametrize("depth", [200, 5_000, 100_000])
def test_a_signed_body_nested_too_deeply_is_a_400(client, connection, depth):
    nested = "[" * depth + "]" * depth
    body = (
        '{"event": "invitee.created", "created_at": "2026-08-22T17:13:17.000000Z", "payload": {"uri": '
        '"https://api.calendly.com/scheduled_events/e/invitees/i", "email": "deep@example.com", '
        f'"created_at": "2026-08-22T17:13:17.000000Z", "tracking": {nested}}}}}'
    ).encode()
    resp = post(client, connection, body, sign(body, KEY))
    assert resp.status_code == 400 and "deep" in resp.json()["detail"]
    assert WebhookDelivery.objects.count() == 0
