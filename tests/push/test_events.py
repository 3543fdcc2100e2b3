"""The automation outbox: events claimed just before they are sent, batch by batch."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from calendly_sync.models import AutomationEvent
from calendly_sync.runtime.drain import sweep
from tests.fixtures_webhooks import store


def test_events_are_claimed_chunk_by_chunk_just_before_sending(client, connection, sims, book, outbox, monkeypatch):
    from calendly_sync.brevo.client import BrevoClient

    for i in range(130):
        book(f"chunked{i}@example.com", fire_webhooks=True, answers={"Company name": f"Co {i}"})
    store(client, connection, list(outbox))
    seen: list[dict[str, int]] = []
    real = BrevoClient.send_events_batch

    def spy(self, events, *args, **kwargs):
        seen.append(dict(Counter(AutomationEvent.objects.values_list("status", flat=True))))
        return real(self, events, *args, **kwargs)

    monkeypatch.setattr(BrevoClient, "send_events_batch", spy)
    assert sweep()["processed"] == 130
    assert seen == [{"sending": 100, "pending": 30}, {"sending": 30, "sent": 100}]


# -- a long Brevo outage loses nothing --------------------------------------------------------------


def test_an_event_outlasts_a_long_brevo_outage_until_the_horizon_and_is_requeued_after(
    client, connection, sims, book, outbox
):
    """Past the old limit of 12 attempts it is still pending; failed only 72 h after the first failure."""
    from calendly_sync.push.events import requeue_events
    from calendly_sync.sandbox.httpbase import Fault

    _, brevo_sim = sims
    brevo_sim.inject(Fault("status", route=r"^POST /v3/events$", status=503, times=None))
    book("levi@example.com", fire_webhooks=True)
    store(client, connection, [outbox[-1]])
    for _ in range(15):
        sweep()
        AutomationEvent.objects.update(next_attempt_at=None)  # its delay has passed
    event = AutomationEvent.objects.get()
    assert (event.status, event.attempts) == ("pending", 15) and event.first_failed_at is not None

    AutomationEvent.objects.update(first_failed_at=event.first_failed_at - timedelta(hours=72))
    sweep()
    event = AutomationEvent.objects.get()
    assert event.status == "failed"
    assert event.last_error.startswith("gave up after 16 attempts over 72 h: Brevo POST /events -> 503")

    brevo_sim.clear_faults()
    assert requeue_events([event.pk]) == 1  # the admin's "Requeue"
    event = AutomationEvent.objects.get()
    assert (event.status, event.attempts, event.first_failed_at, event.next_attempt_at) == ("pending", 0, None, None)
    sweep()
    assert AutomationEvent.objects.get().status == "sent"
    assert [e["event_name"] for e in brevo_sim.events] == ["calendly_booking_created"]


def test_brevo_refusing_an_event_fails_it_at_once(client, connection, sims, book, outbox):
    _, brevo_sim = sims
    brevo_sim.fail_next(
        400, {"code": "invalid_parameter", "message": "event_name is invalid"}, route="POST /v3/events$"
    )
    book("levi@example.com", fire_webhooks=True)
    store(client, connection, [outbox[-1]])
    sweep()
    event = AutomationEvent.objects.get()
    assert (event.status, event.attempts) == ("failed", 1) and "event_name is invalid" in event.last_error


# -- no duplicate automation event by retrying ----------------------------------------------------


def test_a_claim_outlasts_the_slowest_send_so_no_second_worker_sends_it_meanwhile(connection, monkeypatch):
    """STALE_EVENT_CLAIM is longer than a send can take with the client a connection really gets."""
    from calendly_sync.credentials import clients
    from calendly_sync.inbox.deliveries import STALE_CLAIM
    from calendly_sync.push.events import STALE_EVENT_CLAIM

    monkeypatch.setattr(clients, "CLIENT_OPTIONS", {"brevo": {}, "calendly": {}})  # production: no overrides
    clients.reset_cache()
    worst = clients.brevo_client_for(connection).worst_case_request_seconds
    assert worst == 775  # 5 attempts × (a 120 s rate-limit wait + 5 s to connect + 30 s to read)
    assert STALE_EVENT_CLAIM.total_seconds() > worst
    assert STALE_CLAIM.total_seconds() > worst  # a delivery's claim too (re-applying one is harmless anyway)


def test_a_lost_answer_never_sends_the_event_twice(client, connection, sims, book, outbox, monkeypatch):
    """Brevo records the event after the connector stopped waiting: it is unconfirmed, never resent by itself."""
    from calendly_sync.credentials import clients
    from calendly_sync.models import ContactSyncLog
    from calendly_sync.push.events import STALE_EVENT_CLAIM

    _, brevo_sim = sims
    monkeypatch.setitem(clients.CLIENT_OPTIONS["brevo"], "timeout", (2.0, 0.3))
    brevo_sim.slow_next(0.6, route=r"^POST /v3/events$")
    book("levi@example.com", fire_webhooks=True)
    store(client, connection, [outbox[-1]])
    sweep()
    deadline = time.monotonic() + 5  # the simulator records it once its 0.6 s are over
    while len(brevo_sim.events) < 1:
        assert time.monotonic() < deadline, "Brevo never recorded the slow event"
        time.sleep(0.02)
    event = AutomationEvent.objects.get()
    assert event.status == "unconfirmed" and "ReadTimeout" in event.last_error and "requeue" in event.last_error
    assert ContactSyncLog.objects.filter(action="event", status="warning").count() == 1

    AutomationEvent.objects.update(next_attempt_at=timezone.now() - STALE_EVENT_CLAIM - timedelta(hours=1))
    sweep()
    sweep()
    assert brevo_sim.count(r"^POST /v3/events") == 1 and len(brevo_sim.events) == 1
    assert AutomationEvent.objects.get().status == "unconfirmed"


class Crash(BaseException):
    """The worker dies here: not an Exception, so no handler on the way up catches it."""


def test_a_crash_after_brevo_accepted_the_event_repeats_it_once_after_the_stale_window(
    client, connection, sims, book, outbox, monkeypatch
):
    """The one way left to a duplicate, documented in calendly_sync.push.events and the README.

    The worker dies between Brevo's 204 and the outbox update: the row stays ``sending``. No
    worker takes it over while the claim is younger than STALE_EVENT_CLAIM (the sender may still
    be waiting for Brevo); after it, it is sent once more, and then never again.
    """
    from calendly_sync.push import events
    from calendly_sync.push.events import STALE_EVENT_CLAIM

    _, brevo_sim = sims
    real = events._events_sent

    def die_before_the_outbox_update(*args, **kwargs):
        raise Crash

    monkeypatch.setattr(events, "_events_sent", die_before_the_outbox_update)
    book("levi@example.com", fire_webhooks=True)
    store(client, connection, [outbox[-1]])
    with pytest.raises(Crash):
        sweep()
    assert len(brevo_sim.events) == 1 and AutomationEvent.objects.get().status == "sending"

    monkeypatch.setattr(events, "_events_sent", real)  # another worker, or this one restarted
    claimed_at = AutomationEvent.objects.get().next_attempt_at
    AutomationEvent.objects.update(next_attempt_at=claimed_at - STALE_EVENT_CLAIM + timedelta(minutes=1))
    sweep()
    assert len(brevo_sim.events) == 1  # the claim is not stale yet: the first sender may still be waiting

    AutomationEvent.objects.update(next_attempt_at=claimed_at - STALE_EVENT_CLAIM - timedelta(seconds=1))
    sweep()
    assert AutomationEvent.objects.get().status == "sent"
    sweep()
    sweep()
    names = [e["event_name"] for e in brevo_sim.events]
    assert names == ["calendly_booking_created", "calendly_booking_created"]  # exactly one duplicate
