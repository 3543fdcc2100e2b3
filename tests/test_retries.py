"""The one retry policy: its delays, its give-up rule, and that deliveries, contacts and events all follow it."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from calendly_sync import retries
from calendly_sync.retries import Failure

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HORIZON = timedelta(hours=72)


def test_the_delay_doubles_from_15_seconds_to_the_one_hour_cap_with_jitter() -> None:
    rng = random.Random(1)
    for attempts, ceiling in [(1, 15), (2, 30), (3, 60), (8, 1920), (9, 3600), (10, 3600), (200, 3600)]:
        for _ in range(50):
            seconds = retries.delay(attempts, rng).total_seconds()
            assert ceiling / 2 <= seconds <= ceiling


def test_a_transient_failure_is_retried_until_the_horizon_has_passed_since_the_first_failure() -> None:
    first = NOW - timedelta(hours=71, minutes=59)
    # far past the old limits (10 attempts for deliveries, 12 for events)
    verdict = retries.decide(Failure.TRANSIENT, attempts=80, first_failed_at=first, now=NOW, horizon=HORIZON)
    assert not verdict.give_up and verdict.first_failed_at == first
    assert NOW < verdict.retry_at <= NOW + retries.MAX_DELAY
    verdict = retries.decide(
        Failure.TRANSIENT, attempts=81, first_failed_at=first, now=NOW + timedelta(minutes=1), horizon=HORIZON
    )
    assert verdict.give_up and verdict.retry_at is None
    assert verdict.message("Brevo POST /v3/events -> 503") == (
        "gave up after 81 attempts over 72 h: Brevo POST /v3/events -> 503"
    )


def test_the_first_failure_starts_the_horizon() -> None:
    verdict = retries.decide(Failure.TRANSIENT, attempts=1, first_failed_at=None, now=NOW, horizon=HORIZON)
    assert verdict.first_failed_at == NOW and not verdict.give_up


def test_without_a_horizon_a_transient_failure_is_retried_for_ever() -> None:
    long_ago = NOW - timedelta(days=365)
    verdict = retries.decide(Failure.TRANSIENT, attempts=9000, first_failed_at=long_ago, now=NOW, horizon=None)
    assert not verdict.give_up


def test_a_permanent_failure_gives_up_at_once_with_its_own_message() -> None:
    verdict = retries.decide(Failure.PERMANENT, attempts=1, first_failed_at=None, now=NOW, horizon=HORIZON)
    assert verdict.give_up and verdict.message("Brevo POST /v3/events -> 400: bad name") == (
        "Brevo POST /v3/events -> 400: bad name"
    )


@pytest.mark.parametrize("attempts", range(1, retries.UNEXPECTED_ERROR_ATTEMPTS + 1))
def test_an_unexpected_error_is_retried_a_few_times_then_fails_with_a_readable_reason(attempts: int) -> None:
    verdict = retries.decide(Failure.UNEXPECTED, attempts=attempts, first_failed_at=NOW, now=NOW, horizon=HORIZON)
    if attempts < retries.UNEXPECTED_ERROR_ATTEMPTS:
        assert not verdict.give_up
    else:
        assert verdict.message("KeyError: 'uri'") == f"gave up after {attempts} attempts: KeyError: 'uri'"


def test_an_unexpected_error_never_outlives_the_horizon_either() -> None:
    first = NOW - timedelta(hours=1)
    waits = [
        retries.decide(Failure.UNEXPECTED, attempts=n, first_failed_at=first, now=NOW, horizon=HORIZON).retry_at
        for n in range(1, retries.UNEXPECTED_ERROR_ATTEMPTS)
    ]
    assert all(w is not None and w - NOW <= retries.MAX_DELAY for w in waits)


@pytest.mark.django_db
def test_deliveries_contacts_and_events_wait_by_the_same_policy(client, connection, sims, book, outbox, monkeypatch):
    """One Brevo outage, three kinds of work, one schedule: each delay comes from calendly_sync.retries."""
    from django.utils import timezone

    from calendly_sync.inbox.deliveries import process_delivery
    from calendly_sync.models import AutomationEvent, Contact, WebhookDelivery
    from calendly_sync.sandbox.httpbase import Fault
    from tests.fixtures_webhooks import deliver

    _, brevo_sim = sims
    monkeypatch.setattr(retries, "delay", lambda attempts, rng=None: timedelta(minutes=7))
    book("levi@example.com", fire_webhooks=True)
    deliver(client, connection, outbox[-1])
    pk = WebhookDelivery.objects.get().pk

    def waits(run) -> list[timedelta]:
        before = timezone.now()
        run()
        due = [
            *WebhookDelivery.objects.filter(status="pending").values_list("next_attempt_at", flat=True),
            *Contact.objects.filter(dirty=True).values_list("next_attempt_at", flat=True),
            *AutomationEvent.objects.filter(status="pending").values_list("next_attempt_at", flat=True),
        ]
        return [d - before for d in due if d is not None]

    brevo_sim.inject(Fault("status", route=r"^POST /v3/contacts$", status=503, times=None))
    delivery_and_contact = waits(lambda: process_delivery(pk))
    assert len(delivery_and_contact) == 2  # the delivery waits for its contact, and the contact for Brevo
    brevo_sim.clear_faults()
    brevo_sim.inject(Fault("status", route=r"^POST /v3/events$", status=503, times=None))
    Contact.objects.update(next_attempt_at=None)  # its delay has passed
    event = waits(lambda: process_delivery(pk, force=True))  # the contact goes through, its event does not
    assert WebhookDelivery.objects.get().status == "processed" and len(event) == 1
    for wait in delivery_and_contact + event:
        assert timedelta(minutes=7) <= wait <= timedelta(minutes=7, seconds=5)
