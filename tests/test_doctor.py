"""``calendly_doctor``'s verdict on refused webhook requests: internet noise never fails it; a wrong
signing key or a clock off does (issue #11). Deliveries come from the simulated Calendly, signed as
the real one signs them; the noise is what scanners send."""

from __future__ import annotations

import io
import time

import pytest
from django.core.management import CommandError, call_command

from calendly_sync.doctor import FAIL, OK, WARN, Check, endpoint_checks, run_checks
from calendly_sync.inbox.rejections import KEY_MISMATCH_MIN
from calendly_sync.models import Connection
from calendly_sync.sandbox.signing import sign
from tests.fixtures_webhooks import deliver, post

pytestmark = pytest.mark.django_db


def signatures_check(connection: Connection) -> Check:
    return next(check for check in run_checks(connection) if check.name == "Signatures")


def test_internet_noise_never_fails_the_doctor(client, connection):
    now = int(time.time())
    body = b'{"event": "invitee.created", "payload": {}}'
    noise = [
        None,  # no header
        "garbage",
        "t=1,v1=00",  # the request that used to turn the doctor red for 24 h
        f"t={now - 86_400},v1={'ab' * 32}",  # well-formed, a day old
        sign(body, "a-guess", now - 3600),  # a guessed key, an old timestamp
    ]
    for header in noise:
        for _ in range(20):
            assert post(client, connection, body, header).status_code == 401
            assert post(client, None, body, header).status_code == 401
            assert post(client, Connection(pk=connection.pk + 100), body, sign(body, "x")).status_code == 404
    for _ in range(KEY_MISMATCH_MIN - 1):  # even a few guesses with a current timestamp
        assert post(client, connection, body, sign(body, "a-guess", now)).status_code == 401
    check = signatures_check(connection)
    assert check.level == OK, check.message
    assert "refused in the last 24 h, noise" in check.message and "60 malformed or missing header" in check.message
    assert [c.level for c in endpoint_checks()] == [OK]


@pytest.mark.parametrize("routed_by_key", [False, True], ids=["per-connection", "key-routed"])
def test_a_signing_key_calendly_does_not_use_fails_the_doctor(client, connection, sims, book, outbox, routed_by_key):
    # The subscription signs with KEY; this connection holds another key (lost, or replaced by hand).
    Connection.objects.filter(pk=connection.pk).update(webhook_signing_key="not-the-subscriptions-key")
    for i in range(KEY_MISMATCH_MIN):
        book(f"guest{i}@example.com", fire_webhooks=True)
        item = outbox[-1]
        assert (
            post(
                client,
                None if routed_by_key else connection,
                item["body"],
                item["headers"]["Calendly-Webhook-Signature"],
            ).status_code
            == 401
        )
    check = signatures_check(connection) if not routed_by_key else endpoint_checks()[0]
    assert check.level == FAIL, check.message
    assert f"{KEY_MISMATCH_MIN} requests with a current timestamp matched no signing key" in check.message
    assert "0 accepted" in check.message
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("calendly_doctor", stdout=out)
    assert "[FAIL] " + ("Requests to no connection" if routed_by_key else "Signatures") in out.getvalue()


def test_a_clock_off_fails_the_doctor_until_a_delivery_is_accepted_again(client, connection, sims, book, outbox):
    calendly_sim, _ = sims
    calendly_sim.clock = lambda: time.time() - 600  # ten minutes between Calendly's clock and this server's
    book("late@example.com", fire_webhooks=True)
    resp = deliver(client, connection, outbox[-1])
    assert resp.status_code == 401 and "outside tolerance" in resp.json()["detail"]
    check = signatures_check(connection)
    assert check.level == FAIL, check.message
    assert "1 deliveries signed with the right key were refused for their timestamp" in check.message
    assert "clock is off" in check.message

    calendly_sim.clock = time.time  # the clock is fixed: the next delivery is accepted
    book("ontime@example.com", fire_webhooks=True)
    assert deliver(client, connection, outbox[-1]).status_code == 200
    check = signatures_check(connection)
    assert check.level == WARN and "accepted since" in check.message
