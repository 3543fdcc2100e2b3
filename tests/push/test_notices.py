"""Bulk imports followed by Brevo's call of their ``notifyUrl`` (push/notices.py, views.brevo_import_notice).

The connector runs as a real server (pytest-django's ``live_server``) that the Brevo simulator calls
back over HTTP when an import ends; the pusher waits on the notice in the database and reads the
import with one ``GET /processes/{id}``. Without a wake-up, or without the setting, it polls.
"""

from __future__ import annotations

import json
import time

import pytest
from django.core import signing

from calendly_sync.inbox.deliveries import process_batch
from calendly_sync.models import ImportNotice
from calendly_sync.push import bulk, notices
from tests.fixtures_servers import free_port
from tests.fixtures_webhooks import store

pytestmark = pytest.mark.django_db(transaction=True)  # the server and the pusher see each other's commits


@pytest.fixture(autouse=True)
def trusted(monkeypatch):
    monkeypatch.setattr(notices, "_missed_until", 0.0)  # no earlier test's missed wake-up carries over


@pytest.fixture
def notified(settings, live_server, sims):
    """The connector configured for wake-ups, at a URL the simulator reaches; imports end on their own."""
    _, brevo_sim = sims
    settings.BREVO_IMPORT_NOTIFY = True
    settings.SITE_URL = live_server.url
    brevo_sim.import_seconds = 0.05
    return brevo_sim


def _imports(brevo_sim) -> list[dict]:
    return [json.loads(r.body) for r in brevo_sim.requests if f"{r.method} {r.path}" == "POST /v3/contacts/import"]


def _book(book, outbox, client, connection, prefix: str, n: int = 60) -> list[int]:
    before = len(outbox)
    for i in range(n):
        book(f"{prefix}{i}@example.com", fire_webhooks=True, answers={"Company name": f"{prefix} {i}"})
    return store(client, connection, list(outbox)[before:])


def test_an_import_ends_by_its_wake_up_and_one_read_of_its_process(
    notified, client, connection, book, outbox, client_sleeps
):
    ids = _book(book, outbox, client, connection, "woken")
    assert set(process_batch(ids).values()) == {"processed"}
    (sent,) = _imports(notified)
    assert sent["notifyUrl"].startswith(f"{notices.app_settings.SITE_URL}/webhooks/brevo/imports/")
    assert notified.count(r"^GET /v3/processes/") == 1  # read once, after the wake-up: no polling
    assert bulk.FIRST_POLL not in client_sleeps.calls and bulk.POLL_INTERVAL not in client_sleeps.calls
    with notified.lock:
        assert [n.get("status") for n in notified.notifications] == [204]
    assert len(notified.contacts) == 60
    assert sorted(e["event_name"] for e in notified.events) == ["calendly_booking_created"] * 60
    assert not ImportNotice.objects.exists()  # closed once followed
    assert notices.usable()  # woken, not found ended at NOTICE_WAIT's deadline


def test_without_a_wake_up_the_import_is_polled_to_its_end(
    notified, settings, monkeypatch, client, connection, book, outbox, client_sleeps
):
    """Brevo cannot reach SITE_URL (nothing listens there): after NOTICE_WAIT the pusher polls."""
    settings.SITE_URL = f"http://127.0.0.1:{free_port()}"
    notified.import_seconds = None  # the simulator finishes this import at its second poll only
    monkeypatch.setattr(notices, "NOTICE_WAIT", 0.3)
    ids = _book(book, outbox, client, connection, "unwoken")
    assert set(process_batch(ids).values()) == {"processed"}
    assert "notifyUrl" in _imports(notified)[0]
    assert notified.count(r"^GET /v3/processes/") == 2  # read at the deadline (queued), then polled once
    assert client_sleeps.calls.count(bulk.POLL_INTERVAL) == 1
    assert len(notified.contacts) == 60 and not ImportNotice.objects.exists()
    assert notices.usable()  # it had not ended unnoticed: still asking for wake-ups


def test_an_import_that_ended_without_its_wake_up_stops_them_for_a_while(
    notified, settings, monkeypatch, client, connection, book, outbox
):
    settings.SITE_URL = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setattr(notices, "NOTICE_WAIT", 0.3)
    ids = _book(book, outbox, client, connection, "missed")
    assert set(process_batch(ids).values()) == {"processed"}
    assert notified.count(r"^GET /v3/processes/") == 1  # it had ended: read once at the deadline
    assert not notices.usable()  # the next imports are polled, without a notifyUrl
    ids = _book(book, outbox, client, connection, "after")
    assert set(process_batch(ids).values()) == {"processed"}
    assert "notifyUrl" not in _imports(notified)[1]
    assert len(notified.contacts) == 120


def test_without_the_setting_imports_are_polled_as_before(settings, sims, client, connection, book, outbox):
    _, brevo_sim = sims
    settings.BREVO_IMPORT_NOTIFY = False
    ids = _book(book, outbox, client, connection, "polled")
    assert set(process_batch(ids).values()) == {"processed"}
    assert "notifyUrl" not in _imports(brevo_sim)[0]
    assert brevo_sim.count(r"^GET /v3/processes/") == 2
    assert not ImportNotice.objects.exists() and not brevo_sim.notifications


def test_a_woken_import_spends_one_call_of_the_hourly_budget(notified, client, connection, book, outbox):
    """With 14 calls an hour, a polled import (2 polls) leaves too few for a second import (4 + 10
    reserved, tests/push/test_bulk.py); a woken one costs 1, and reserves 1."""
    notified.other_rate_limit_per_hour = 14
    ids = _book(book, outbox, client, connection, "budget-a")
    assert set(process_batch(ids).values()) == {"processed"}
    ids = _book(book, outbox, client, connection, "budget-b")
    assert set(process_batch(ids).values()) == {"processed"}
    assert notified.count(r"^POST /v3/contacts/import$") == 2  # the second 60 imported too …
    assert notified.count(r"^POST /v3/contacts$") == 0  # … not sent one by one
    assert notified.count(r"^GET /v3/processes/") == 2
    assert notified.rate_limited == 0 and len(notified.contacts) == 120


# --- the endpoint ------------------------------------------------------------------------------


def _url(token: str) -> str:
    return f"/webhooks/brevo/imports/{token}/"


def test_a_forged_or_unknown_token_is_a_404_and_records_nothing(client, connection, settings):
    notice = ImportNotice.objects.create(connection=connection, nonce="n" * 24)
    other = ImportNotice.objects.create(connection=connection, nonce="o" * 24)
    gone = ImportNotice.objects.create(connection=connection, nonce="g" * 24)
    gone_token = signing.dumps([gone.pk, gone.nonce], salt=notices.SALT)
    gone.delete()
    forged = [
        "nothing",
        signing.dumps([notice.pk, notice.nonce], salt="another.salt"),  # signed for something else
        signing.dumps([notice.pk, "guessed-nonce"], salt=notices.SALT),  # right row, wrong nonce
        signing.dumps([other.pk, notice.nonce], salt=notices.SALT),  # another row's key
        signing.dumps({"pk": notice.pk}, salt=notices.SALT),  # not the token's shape
        gone_token,  # its notice was closed
        signing.dumps([notice.pk, notice.nonce], salt=notices.SALT, key="not-this-site's-key"),
        notices.notify_url(notice).rsplit("/", 2)[-2][:-1],  # the real token, its signature cut short
    ]
    for token in forged:
        assert client.post(_url(token), data=b"{}", content_type="application/json").status_code == 404, token
        assert client.get(_url(token)).status_code == 404, token
    assert not ImportNotice.objects.filter(notified_at__isnull=False).exists()
    real = notices.notify_url(notice)
    assert real.startswith(settings.SITE_URL)
    assert client.post(real.removeprefix(settings.SITE_URL)).status_code == 204
    assert list(ImportNotice.objects.filter(notified_at__isnull=False).values_list("pk", flat=True)) == [notice.pk]


def test_an_expired_token_is_a_404(client, connection, monkeypatch):
    notice = ImportNotice.objects.create(connection=connection, nonce="e" * 24)
    token = notices.notify_url(notice).rsplit("/", 2)[-2]
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + notices.NOTICE_MAX_AGE.total_seconds() + 60)
    assert client.post(_url(token)).status_code == 404
    notice.refresh_from_db()
    assert notice.notified_at is None


@pytest.mark.parametrize(
    ("method", "body", "content_type"),
    [
        ("post", b"", "application/json"),
        ("post", b"\xff\xfe not json", "application/json"),
        ("post", b'{"processId": "not ours", "status": "failed"}', "application/json"),  # never trusted
        ("post", b"a=1&b=2", "application/x-www-form-urlencoded"),
        ("post", b"x" * 200_000, "text/plain"),
        ("get", None, None),
    ],
)
def test_any_body_of_brevo_s_call_is_a_wake_up_and_nothing_more(client, connection, method, body, content_type):
    notice = ImportNotice.objects.create(connection=connection, nonce="b" * 24)
    path = notices.notify_url(notice).removeprefix(notices.app_settings.SITE_URL)
    kwargs = {} if body is None else {"data": body, "content_type": content_type}
    assert getattr(client, method)(path, **kwargs).status_code == 204
    assert getattr(client, method)(path, **kwargs).status_code == 204  # called twice: still known, still 204
    notice.refresh_from_db()
    assert notice.notified_at is not None


@pytest.mark.parametrize("method", ["put", "patch", "delete", "options"])
def test_other_methods_are_a_405_and_record_nothing(client, connection, method):
    notice = ImportNotice.objects.create(connection=connection, nonce="m" * 24)
    path = notices.notify_url(notice).removeprefix(notices.app_settings.SITE_URL)
    assert getattr(client, method)(path).status_code == 405
    notice.refresh_from_db()
    assert notice.notified_at is None


@pytest.mark.parametrize(
    "token",
    ["%00", "%FF%FE", "é:ü:ß", "a" * 4000, "W10:1abc:" + "x" * 43, ":::", "WzEsMl0:bad:sig", "null"],
)
def test_garbage_tokens_are_a_404_never_an_error(client, token):
    assert client.post(_url(token), data=b"{}", content_type="application/json").status_code == 404
    assert client.get(_url(token)).status_code == 404
