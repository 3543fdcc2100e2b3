"""The webhook endpoint: signatures, routing, malformed bodies, what is stored, what a refused request
costs, and the purge command."""

from __future__ import annotations

import io
import logging
import time

import pytest
from django.core.management import call_command
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from calendly_sync import crypto
from calendly_sync.credentials import signing
from calendly_sync.inbox import rejections
from calendly_sync.inbox.deliveries import process_delivery
from calendly_sync.models import Connection, WebhookDelivery, WebhookRejection
from calendly_sync.sandbox.signing import SIGNATURE_HEADER, build_delivery, sign
from calendly_sync.views import MAX_BODY
from tests.fixtures_webhooks import KEY, deliver, post

pytestmark = pytest.mark.django_db


def process_all() -> None:
    for pk in WebhookDelivery.objects.filter(status="pending").values_list("pk", flat=True):
        process_delivery(pk)


# --- signatures ------------------------------------------------------------------------------


def envelope_body(email: str = "levi@example.com", invitee: str = "i") -> bytes:
    """A booking's ``invitee.created``; another ``invitee`` makes it another delivery (another key)."""
    body, _ = build_delivery(
        "invitee.created",
        {
            "uri": f"https://api.calendly.com/scheduled_events/e/invitees/{invitee}",
            "email": email,
            "created_at": "2026-08-22T17:13:17.150860Z",
            "updated_at": "2026-08-22T17:13:17.150860Z",
        },
        "https://api.calendly.com/users/u",
        None,
    )
    return body


@pytest.mark.parametrize(
    "case,expected_reason,kind",
    [
        ("wrong_key", "signature mismatch", "bad_signature"),
        ("stale", "outside tolerance", "stale_timestamp"),
        ("future", "outside tolerance", "stale_timestamp"),
        ("missing", "missing signature header", "malformed_header"),
        ("malformed", "malformed signature header", "malformed_header"),
        ("body_changed", "signature mismatch", "bad_signature"),
    ],
)
def test_bad_signatures_are_401_and_counted(client, connection, case, expected_reason, kind):
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
    # counted by kind (a process's first refusal is written at once; later ones at most once a minute)
    row = WebhookRejection.objects.get()
    assert (row.connection, row.kind, row.count) == (connection, kind, 1)
    assert expected_reason in row.last_reason


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


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "*/*", "application/json; version=9"])
def test_any_accept_header_gets_the_json_acknowledgement(client, connection, accept):
    """Calendly reads JSON whatever a sender's ``Accept`` says: never a 406 that would make it retry."""
    body = envelope_body(f"{accept.split('/')[0]}@example.com")
    resp = post(client, connection, body, sign(body, KEY), HTTP_ACCEPT=accept)
    assert resp.status_code == 200 and resp["Content-Type"] == "application/json"
    assert resp.json()["status"] == "accepted"


def test_endpoint_without_id_routes_by_the_key_that_verifies(client, connection):
    other = Connection.objects.create(name="other", webhook_signing_key="other-key", access_token="x")
    body = envelope_body()
    assert post(client, None, body, sign(body, "other-key")).status_code == 200
    assert WebhookDelivery.objects.get().connection == other
    assert (
        post(client, None, envelope_body("b@example.com"), sign(envelope_body("b@example.com"), "nobody")).status_code
        == 401
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "text,stored",
    [
        ("lone\\ud800@example.com", False),  # a high surrogate without its low half
        ("x@example.com\\uDFFF", False),  # a low one alone, upper-case escape
        ("nul\\u0000@example.com", False),
        ("emoji\\ud83d\\ude00@example.com", True),  # a pair: one character, stored
        ("\\\\ud800@example.com", True),  # an escaped backslash, then the letters "ud800"
    ],
)
def test_strings_no_database_can_store_are_a_400_not_a_500(client, connection, text, stored):
    """Valid JSON escapes that are not text (NUL, an unpaired surrogate): refused before the insert."""
    body = envelope_body("placeholder@example.com").replace(b"placeholder@example.com", text.encode())
    resp = post(client, connection, body, sign(body, KEY))
    if stored:
        assert resp.status_code == 200 and WebhookDelivery.objects.count() == 1
    else:
        assert resp.status_code == 400 and "Body contains" in resp.json()["detail"]
        assert not WebhookDelivery.objects.exists()


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
    connection.log_webhooks = True
    connection.save(update_fields=["log_webhooks"])  # as the admin does
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


def test_purge_deliveries_also_drops_old_counts_of_refused_requests(client, connection):
    from datetime import timedelta

    from django.utils import timezone

    post(client, connection, b"{}", None)  # counted, and written at once (the process's first)
    WebhookRejection.objects.update(last_at=timezone.now() - timedelta(days=40))
    post(client, None, b"{}", "garbage")  # a recent one stays
    rejections.counter.flush()
    out = io.StringIO()
    call_command("purge_deliveries", "--older-than", "30", stdout=out)
    assert "deleted 1 hourly counts of refused webhook requests" in out.getvalue()
    assert list(WebhookRejection.objects.values_list("connection", "kind")) == [(None, "malformed_header")]


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


@pytest.mark.parametrize("connection_id", ["0", "9223372036854775808", "9" * 40])
@pytest.mark.parametrize(
    "header", [None, "garbage", f"t=1,v1={'ab' * 32}"], ids=["no-header", "malformed", "well-formed"]
)
def test_ids_no_database_could_hold_are_a_401_or_404_not_a_500(client, connection_id, header):
    extra = {"HTTP_CALENDLY_WEBHOOK_SIGNATURE": header} if header else {}
    resp = client.post(f"/webhooks/calendly/{connection_id}/", data=b"{}", content_type="application/json", **extra)
    assert resp.status_code == (404 if header and header.startswith("t=") else 401)
    rejections.counter.flush()  # the count is written, under no connection
    assert set(WebhookRejection.objects.values_list("connection", flat=True)) == {None}


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


# --- the unauthenticated path: cheap, and no write per request ----------------------------------


class CountingInput:
    """A request body that counts the bytes the server reads from it."""

    def __init__(self, body: bytes) -> None:
        self._stream = io.BytesIO(body)
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.bytes_read += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self._stream.readline(size)
        self.bytes_read += len(data)
        return data


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("header", [None, "", "garbage", "t=abc;v1", "t=1,v1=00", f"t=1,v1={'a' * 63}"])
@pytest.mark.parametrize("routed_by_key", [False, True], ids=["per-connection", "key-routed"])
def test_a_missing_or_malformed_header_is_refused_before_the_body_is_read(client, connection, header, routed_by_key):
    body = CountingInput(b"x" * MAX_BODY)
    headers = {"HTTP_CALENDLY_WEBHOOK_SIGNATURE": header} if header is not None else {}
    url = "/webhooks/calendly/" if routed_by_key else f"/webhooks/calendly/{connection.pk}/"
    resp = client.generic(
        "POST",
        url,
        b"",
        **{"wsgi.input": body, "CONTENT_LENGTH": str(MAX_BODY), "CONTENT_TYPE": "application/json"},
        **headers,
    )
    assert resp.status_code == 401 and "signature header" in resp.json()["detail"]
    assert body.bytes_read == 0
    # a well-formed header is read as before (the body is what it signs)
    body = CountingInput(b"x" * 1000)
    resp = client.generic(
        "POST",
        url,
        b"",
        **{"wsgi.input": body, "CONTENT_LENGTH": "1000", "CONTENT_TYPE": "application/json"},
        HTTP_CALENDLY_WEBHOOK_SIGNATURE=f"t={int(time.time())},v1={'ab' * 32}",
    )
    assert resp.status_code == 401 and body.bytes_read == 1000


def test_signing_keys_are_decrypted_once_per_process_and_again_when_they_change(client, connection, monkeypatch):
    """No request decrypts every connection's secrets: each signing key is decrypted on its first
    use and kept until its stored (encrypted) value changes, whichever process changed it."""
    others = [Connection.objects.create(name=f"other-{i}", webhook_signing_key=f"key-{i}") for i in range(20)]
    decrypted: list[str] = []
    real_decrypt = crypto.decrypt

    def counting_decrypt(stored: str) -> str:
        if stored:
            decrypted.append(stored)
        return real_decrypt(stored)

    monkeypatch.setattr(crypto, "decrypt", counting_decrypt)
    body = envelope_body()
    junk = f"t={int(time.time())},v1={'ab' * 32}"
    assert post(client, None, body, junk).status_code == 401
    assert len(decrypted) == 21  # each enabled connection's one key, once
    decrypted.clear()
    for _ in range(10):
        assert post(client, None, body, junk).status_code == 401
        assert post(client, connection, body, junk).status_code == 401
        assert post(client, others[3], body, junk).status_code == 401
    assert decrypted == []  # nothing decrypted per request, and no connection loaded whole
    # A key changed elsewhere (a queryset update, as another process or the config file would) is
    # used at the next request: a refusal by the row this process kept is checked against a fresh
    # read, and only that key is decrypted again.
    Connection.objects.filter(pk=others[3].pk).update(webhook_signing_key="changed")
    assert post(client, None, body, sign(body, "changed")).status_code == 200
    assert WebhookDelivery.objects.get().connection_id == others[3].pk
    assert len(decrypted) == 1  # the changed key; storing the delivery decrypts no secret
    monkeypatch.setattr(signing, "TARGET_TTL", 0.0)  # once the kept row is older than TARGET_TTL
    assert post(client, others[3], envelope_body("other@example.com"), sign(body, "key-3")).status_code == 401


@pytest.mark.parametrize("case", ["bad-signature", "malformed-header", "key-routed", "unknown-id", "stale"])
def test_a_hundred_refused_requests_cost_one_write_and_one_log_line(client, connection, monkeypatch, caplog, case):
    clock = Clock()
    monkeypatch.setattr(rejections, "counter", rejections.RejectionCounter(clock=clock))
    caplog.set_level(logging.INFO, logger="calendly_sync")
    body = envelope_body()
    now = int(time.time())
    target, header, kind, status = {
        "bad-signature": (connection, sign(body, "not-the-key", now), "bad_signature", 401),
        "malformed-header": (connection, "t=1,v1=00", "malformed_header", 401),
        "key-routed": (None, sign(body, "not-the-key", now), "bad_signature", 401),
        "unknown-id": (Connection(pk=connection.pk + 1000), sign(body, KEY, now), "unknown_connection", 404),
        "stale": (connection, sign(body, KEY, now - 600), "stale_timestamp", 401),
    }[case]

    def app_log_lines() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name.startswith("calendly_sync")]

    with CaptureQueriesContext(db_connection) as queries:
        for _ in range(100):
            assert post(client, target, body, header).status_code == status
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].split(" ", 1)[0] in ("INSERT", "UPDATE", "DELETE")]
    assert len(writes) == 1, writes  # the process's first refusal is written at once; the others wait
    assert len(app_log_lines()) == 1 and "refused 1 webhook request" in app_log_lines()[0].getMessage()
    row = WebhookRejection.objects.get()
    expected_connection = connection if target is connection else None
    assert (row.connection, row.kind, row.count) == (expected_connection, kind, 1)

    clock.now += rejections.FLUSH_INTERVAL  # a minute later, the next request writes the 99 held back
    post(client, target, body, header)
    assert WebhookRejection.objects.get().count == 101
    assert len(app_log_lines()) == 2 and "refused 100 webhook request" in app_log_lines()[1].getMessage()
    assert not WebhookDelivery.objects.exists()
