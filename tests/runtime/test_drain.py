"""The set-based drain: claims, batched ingest, one drainer at a time, bulk pushes, paced bursts.

Everything runs against the real database and the Brevo/Calendly simulators over HTTP; the only
stand-ins are a "concurrent writer" that inserts a row mid-batch (to prove the fallback) and
lock holders in threads (to prove one drainer at a time).
"""

from __future__ import annotations

import random
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from calendly_sync.inbox import deliveries
from calendly_sync.inbox.deliveries import claim_deliveries, process_batch, process_delivery
from calendly_sync.models import Booking, Contact, WebhookDelivery
from calendly_sync.models.statements import Insert
from calendly_sync.runtime import drain as drain_module
from calendly_sync.runtime.drain import drain, sweep
from calendly_sync.runtime.locks import drain_lock
from tests.fixtures_webhooks import EXPECTED, arrival_orders, reset, scenario_items, snapshot, store

# -- batched ingest ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_each_scenario_applied_as_one_batch_in_any_order(client, connection, sims, book, outbox, kind):
    """All of a booking's deliveries land in one batch (one transaction), in every arrival order."""
    calendly_sim, brevo_sim = sims
    items = scenario_items(calendly_sim, book, outbox, kind)
    for order in arrival_orders(len(items)):
        reset(brevo_sim)
        ids = store(client, connection, [items[i] for i in order] + [items[order[0]]])  # + a redelivery
        assert len(ids) == len(items)
        results = process_batch(ids)
        assert set(results.values()) == {"processed"}, results
        contact = brevo_sim.get_contact("levi@example.com")
        assert contact["attributes"]["BOOKING_STATUS"] == EXPECTED[kind][0], order
        assert sorted(e["event_name"] for e in brevo_sim.events) == EXPECTED[kind][1], order
        assert contact["listIds"] == [10]


def test_one_batch_and_one_at_a_time_leave_identical_rows(client, connection, sims, book, outbox):
    calendly_sim, brevo_sim = sims
    from tests.conftest import in_days

    rng = random.Random(7)
    for i in range(24):
        email = f"mixed{i % 17}@example.com"  # some people book twice
        inv = book(email, fire_webhooks=True, days=2 + i % 5, answers={"Company name": f"Co {i}"})
        action = i % 6
        if action == 1:
            calendly_sim.cancel(inv["uri"], reason="Conflict")
        elif action == 2:
            calendly_sim.reschedule(inv["uri"], in_days(12))
        elif action == 3:
            new = calendly_sim.reschedule(inv["uri"], in_days(13))
            calendly_sim.cancel(new["uri"], reason="Travel")
        elif action == 4:
            calendly_sim.mark_no_show(inv["uri"])
        elif action == 5:
            calendly_sim.unmark_no_show(calendly_sim.mark_no_show(inv["uri"])["uri"])
    items = list(outbox)
    rng.shuffle(items)

    for pk in store(client, connection, items):
        process_delivery(pk)
    one_by_one = snapshot()
    emails = sorted(set(Contact.objects.values_list("email", flat=True)))
    brevo_one = {e: brevo_sim.get_contact(e) for e in emails}

    reset(brevo_sim)
    results = process_batch(store(client, connection, items))
    assert set(results.values()) == {"processed"}
    assert snapshot() == one_by_one
    brevo_batch = {e: brevo_sim.get_contact(e) for e in emails}
    assert {e: (c["attributes"], c["listIds"]) for e, c in brevo_batch.items()} == {
        e: (c["attributes"], c["listIds"]) for e, c in brevo_one.items()
    }
    assert len(one_by_one["events"]) == len({k for k, *_ in one_by_one["events"]}) > 24


def test_a_row_created_meanwhile_makes_the_batch_fall_back_to_one_by_one(
    client, connection, sims, book, outbox, monkeypatch
):
    """Another worker inserts a booking between our read and our insert: nothing is lost."""
    _, brevo_sim = sims
    for i in range(5):
        book(f"race{i}@example.com", fire_webhooks=True)
    ids = store(client, connection, list(outbox))
    original = Insert.execute  # the batch's bookings go in as one compiled INSERT (models/statements.py)
    raced = []

    def concurrent_writer(insert):
        if insert.objs and isinstance(insert.objs[0], Booking) and not raced:
            first = insert.objs[0]
            Booking.objects.create(
                connection=first.connection, invitee_uri=first.invitee_uri, email=first.email, source="webhook"
            )
            raced.append(first.invitee_uri)
        return original(insert)

    monkeypatch.setattr(Insert, "execute", concurrent_writer)
    results = process_batch(ids)
    assert raced and set(results.values()) == {"processed"}
    assert Booking.objects.count() == 5 and Booking.objects.filter(calendly_updated_at__isnull=True).count() == 0
    assert len(brevo_sim.contacts) == 5
    assert sorted(e["event_name"] for e in brevo_sim.events) == ["calendly_booking_created"] * 5


def test_processing_cost_does_not_grow_with_the_batch(client, connection, sims, book, outbox):
    """A batch costs a few dozen statements however large (one at a time: about 25 per delivery).

    They grow a little with the batch only where the database caps a statement's parameters
    (SQLite: a bulk insert of 30-column rows goes out 33 rows at a time).
    """
    _, brevo_sim = sims
    for i in range(240):
        book(f"cost{i}@example.com", fire_webhooks=True, days=1 + i % 20, answers={"Company name": f"Co {i}"})
    ids = store(client, connection, list(outbox))
    counts = []
    for batch in (ids[:60], ids[60:]):
        with CaptureQueriesContext(db_connection) as queries:
            results = process_batch(batch)
        assert set(results.values()) == {"processed"}
        counts.append(len(queries.captured_queries))
    assert counts[1] - counts[0] <= 120 // 8, counts  # 120 more deliveries: at most 15 more statements
    assert counts[1] < 180 // 2, counts  # under half a statement per delivery
    assert len(brevo_sim.contacts) == 240


# -- claims -----------------------------------------------------------------------------------------


def test_claims_are_exclusive_due_only_and_a_stale_claim_expires(client, connection, sims, book, outbox):
    for i in range(3):
        book(f"claim{i}@example.com", fire_webhooks=True)
    ids = store(client, connection, list(outbox))
    first = claim_deliveries(ids)
    assert [d.pk for d in first] == ids and all(d.attempts == 1 for d in first)
    assert claim_deliveries(ids) == []  # a second worker gets nothing
    WebhookDelivery.objects.filter(pk=ids[1]).update(next_attempt_at=timezone.now() - timedelta(minutes=11))
    assert claim_deliveries([ids[1]]) == []  # 11 minutes: an import may still be followed
    WebhookDelivery.objects.filter(pk=ids[0]).update(
        next_attempt_at=timezone.now() - deliveries.STALE_CLAIM - timedelta(minutes=1)
    )
    assert [d.pk for d in claim_deliveries(ids)] == [ids[0]]  # the claim a crash left behind expired
    WebhookDelivery.objects.filter(pk=ids[1]).update(
        status="pending", next_attempt_at=timezone.now() + timedelta(hours=1)
    )
    assert claim_deliveries([ids[1]]) == []  # backing off
    assert [d.pk for d in claim_deliveries([ids[1]], force=True)] == [ids[1]]


# -- bulk pushes --------------------------------------------------------------------------------------


# -- one drainer at a time ----------------------------------------------------------------------------


def _hold_lock_in_thread() -> tuple[threading.Event, threading.Event, threading.Thread]:
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        try:
            with drain_lock() as got:
                assert got
                held.set()
                release.wait(30)
        finally:
            db_connection.close()

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(30)
    return held, release, thread


@pytest.mark.django_db(transaction=True)
def test_a_second_drainer_defers_to_the_one_holding_the_lock(client, connection, sims, book, outbox):
    from calendly_sync.tasks import process_delivery_task

    book("lock@example.com", fire_webhooks=True)
    ids = store(client, connection, list(outbox))
    _, release, thread = _hold_lock_in_thread()
    try:
        assert drain(ids) is None
        assert process_delivery_task.run(ids[0]) == "deferred"
        assert sweep()["deliveries"] == 0
        assert WebhookDelivery.objects.get(pk=ids[0]).status == "pending"
    finally:
        release.set()
        thread.join(30)
    assert drain(ids) == {"deliveries": 1, "processed": 1}


@pytest.mark.django_db(transaction=True)
def test_the_holder_takes_along_what_arrived_while_others_deferred(client, connection, sims, book, outbox, monkeypatch):
    """The drainer looks again after releasing its lock, so a deferred delivery never waits for a sweep."""
    book("early@example.com", fire_webhooks=True)
    first = store(client, connection, list(outbox))
    inside, proceed = threading.Event(), threading.Event()
    real = drain_module.Drain.run
    outcome: dict[str, Any] = {}

    def slow_first_round(*args: Any, **kwargs: Any) -> None:
        if not inside.is_set():
            inside.set()
            proceed.wait(30)
        real(*args, **kwargs)

    monkeypatch.setattr(drain_module.Drain, "run", slow_first_round)

    def holder() -> None:
        try:
            outcome["counts"] = drain(first)
        finally:
            db_connection.close()

    thread = threading.Thread(target=holder)
    thread.start()
    assert inside.wait(30)
    book("late@example.com", fire_webhooks=True)
    late = store(client, connection, list(outbox)[1:])
    assert drain(late) is None  # deferred to the holder …
    proceed.set()
    thread.join(30)
    assert outcome["counts"]["processed"] == 2  # … which took it along
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"processed"}


# -- bursts -----------------------------------------------------------------------------------------


@pytest.fixture
def paced(monkeypatch) -> tuple[list[int], list[float]]:
    """What the drain claims, batch by batch, and the pauses it asks for (not slept)."""
    claims: list[int] = []
    sleeps: list[float] = []
    real_claim = drain_module.claim_deliveries

    def counting_claim(delivery_ids: list[int], **kwargs: Any) -> list[WebhookDelivery]:
        claimed = real_claim(delivery_ids, **kwargs)
        claims.append(len(claimed))
        return claimed

    monkeypatch.setattr(drain_module, "claim_deliveries", counting_claim)
    monkeypatch.setattr(drain_module, "sleep", sleeps.append)
    return claims, sleeps


@pytest.mark.django_db(transaction=True)
def test_during_a_burst_the_drain_claims_small_batches_and_pauses_between_them(
    client, connection, sims, book, outbox, monkeypatch, paced
):
    """Webhooks arriving fast: short write steps (``burst_batch()`` at a time) with a pause after each,
    never a wait for the burst to end: all of them are processed while it lasts."""
    for i in range(5):
        book(f"burst{i}@example.com", fire_webhooks=True)
    ids = store(client, connection, list(outbox))
    monkeypatch.setattr(drain_module, "burst_batch", lambda: 2)
    monkeypatch.setattr(drain_module, "BURST_PUSH_AFTER", 60.0)  # one round: the pauses are the only sleeps …
    monkeypatch.setattr(drain_module, "PUSH_AFTER", 0.0)  # … though outside a burst each batch would be a round
    rounds: list[int] = []
    real_finish = drain_module.finish

    def counting_finish(applied: list[Any], *args: Any) -> None:
        rounds.append(len(applied))
        real_finish(applied, *args)

    monkeypatch.setattr(drain_module, "finish", counting_finish)
    claims, sleeps = paced
    counts = drain(ids, background=True, busy=lambda: True)  # a burst that never ends
    assert counts == {"deliveries": 5, "processed": 5}
    assert claims == [2, 2, 1]
    assert len(sleeps) == 3 and all(s >= drain_module.BURST_PAUSE for s in sleeps)
    assert rounds == [5]  # pushed together: one import's polls of /processes, not one per batch


@pytest.mark.django_db(transaction=True)
def test_a_drain_falling_behind_a_burst_takes_larger_steps_until_it_has_caught_up(
    client, connection, sims, book, outbox, monkeypatch, paced
):
    """More due than ``BEHIND`` batches: twice the batch and a shorter pause, so no backlog is left
    for after the burst (when Brevo's 10 requests/s would make the tail); then small steps again."""
    for i in range(10):
        book(f"behind{i}@example.com", fire_webhooks=True)
    ids = store(client, connection, list(outbox))
    monkeypatch.setattr(drain_module, "burst_batch", lambda: 2)  # behind: 8 or more due
    monkeypatch.setattr(drain_module, "BURST_PUSH_AFTER", 60.0)
    claims, sleeps = paced
    assert drain(ids, background=True, busy=lambda: True) == {"deliveries": 10, "processed": 10}
    assert claims == [4, 2, 2, 2]  # 10 due: behind; then 6, 4, 2: in step
    assert drain_module.BURST_PAUSE_BEHIND <= sleeps[0] < drain_module.BURST_PAUSE
    assert all(s >= drain_module.BURST_PAUSE for s in sleeps[1:])


@pytest.mark.django_db(transaction=True)
def test_without_a_burst_the_backlog_is_one_batch(client, connection, sims, book, outbox, monkeypatch, paced):
    for i in range(5):
        book(f"calm{i}@example.com", fire_webhooks=True)
    ids = store(client, connection, list(outbox))
    monkeypatch.setattr(drain_module, "burst_batch", lambda: 2)
    monkeypatch.setattr(drain_module, "LINGER", 0)
    claims, _ = paced
    WebhookDelivery.objects.update(received_at=timezone.now() - timedelta(minutes=1))  # stored a while ago
    assert drain(ids, background=True) == {"deliveries": 5, "processed": 5}
    assert claims[0] == 5


@pytest.mark.django_db(transaction=True)
def test_a_background_drain_paces_itself_when_deliveries_have_just_arrived(
    client, connection, sims, book, outbox, monkeypatch, paced
):
    """No ``busy`` given (a Celery task, the embedded worker): the inbox says a burst is on."""
    for i in range(drain_module.BUSY_ARRIVALS):
        book(f"fresh{i}@example.com", fire_webhooks=True)
    ids = store(client, connection, list(outbox))
    monkeypatch.setattr(drain_module, "BUSY_WINDOW", 60.0)  # all within the window, however slow this machine
    monkeypatch.setattr(drain_module, "burst_batch", lambda: 2)
    monkeypatch.setattr(drain_module, "BURST_PUSH_AFTER", 60.0)
    _, sleeps = paced
    assert drain(ids, background=True) == {"deliveries": 5, "processed": 5}
    assert len(sleeps) == 3 and all(s >= drain_module.BURST_PAUSE for s in sleeps)  # paced: batches of 2, 2, 1


def test_a_burst_is_read_from_the_inbox_whoever_stored_it(client, connection, sims, book, outbox):
    """Every server process's deliveries count (the worker process is handed only its owner's)."""
    for i in range(drain_module.BUSY_ARRIVALS):
        book(f"arriving{i}@example.com", fire_webhooks=True)
    store(client, connection, list(outbox)[:-1])
    assert not drain_module.arriving()  # one short of a burst
    store(client, connection, list(outbox)[-1:])
    assert drain_module.arriving()
    WebhookDelivery.objects.update(received_at=timezone.now() - timedelta(seconds=drain_module.BUSY_WINDOW * 2))
    assert not drain_module.arriving()  # the burst is over


# -- failure paths the review of the drain found ------------------------------------------------------


def test_an_unexpected_error_while_pushing_retries_the_round_with_the_error(
    client, connection, sims, book, outbox, monkeypatch
):
    for i in range(3):
        book(f"boom{i}@example.com", fire_webhooks=True)
    ids = store(client, connection, list(outbox))

    def broken(connection, rules, emails):
        raise RuntimeError("database went away")

    monkeypatch.setattr(deliveries, "_push", broken)
    assert set(process_batch(ids).values()) == {"pending"}
    rows = WebhookDelivery.objects.filter(pk__in=ids)
    assert all(
        d.status == "pending" and "RuntimeError: database went away" in d.last_error and d.next_attempt_at for d in rows
    )


@pytest.mark.django_db(transaction=True)
def test_a_sweep_pushes_dirty_contacts_even_while_another_worker_drains(client, connection, sims, book, outbox):
    _, brevo_sim = sims
    book("dirty@example.com", fire_webhooks=True)
    ids = store(client, connection, list(outbox))
    brevo_sim.fail_next(500, route=r"^POST /v3/contacts$", times=4)  # one upsert and its 3 retries
    assert process_batch(ids) == {ids[0]: "pending"}
    Contact.objects.update(next_attempt_at=timezone.now() - timedelta(hours=1))
    _, release, thread = _hold_lock_in_thread()
    try:
        counts = sweep()
    finally:
        release.set()
        thread.join(30)
    assert counts["deliveries"] == 0 and counts["contacts"] == 1  # the delivery is the drainer's; the contact is not
    assert brevo_sim.get_contact("dirty@example.com")["listIds"] == [10]
