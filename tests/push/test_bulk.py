"""Bulk imports: sent together, polled together, never raced by single upserts, within Brevo's hourly budget."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from calendly_sync.inbox.deliveries import process_batch
from calendly_sync.models import Contact, WebhookDelivery
from calendly_sync.runtime.drain import sweep
from tests.fixtures_webhooks import store


def test_imports_are_all_sent_before_they_are_polled_together(
    client, connection, sims, book, outbox, monkeypatch, client_sleeps
):
    from calendly_sync.push import bulk

    _, brevo_sim = sims
    monkeypatch.setattr(bulk, "IMPORT_CHUNK", 25)
    for i in range(70):
        book(f"chunk{i}@example.com", fire_webhooks=True)
    store(client, connection, list(outbox))
    brevo_sim.reset_calls() if hasattr(brevo_sim, "reset_calls") else None
    counts = sweep()
    assert counts["processed"] == 70
    calls = [f"{r.method} {r.path}" for r in brevo_sim.requests]
    imports = [i for i, c in enumerate(calls) if c == "POST /v3/contacts/import"]
    polls = [i for i, c in enumerate(calls) if c.startswith("GET /v3/processes/")]
    assert len(imports) == 3 and max(imports) < min(polls)
    assert len(polls) == 6  # two rounds of three polls (the simulator finishes an import on its 2nd poll) …
    assert client_sleeps.calls.count(2.0) == 1  # … with one wait between them, not one per import
    assert len(brevo_sim.contacts) == 70


def test_an_import_that_cannot_be_followed_is_not_overtaken_by_single_upserts(client, connection, sims, book, outbox):
    """If polling fails the import may still land: its contacts wait, then go again; nothing lost."""
    _, brevo_sim = sims
    for i in range(60):
        book(f"unfollowed{i}@example.com", fire_webhooks=True, answers={"Company name": f"Co {i}"})
    ids = store(client, connection, list(outbox))
    brevo_sim.fail_next(503, route=r"^GET /v3/processes/", times=4)  # one poll and its 3 retries
    assert set(process_batch(ids).values()) == {"pending"}
    assert brevo_sim.count(r"^POST /v3/contacts$") == 0  # no single upsert racing the import
    assert Contact.objects.filter(dirty=True, next_attempt_at__isnull=False).count() == 60
    past = timezone.now() - timedelta(hours=2)
    Contact.objects.update(next_attempt_at=past)
    WebhookDelivery.objects.update(next_attempt_at=past)
    counts = sweep()
    assert counts["processed"] == 60 and len(brevo_sim.contacts) == 60
    assert sorted(e["event_name"] for e in brevo_sim.events) == ["calendly_booking_created"] * 60


def test_imports_stop_before_brevo_hourly_processes_budget_runs_out(client, connection, sims, book, outbox):
    """``GET /processes`` sits in Brevo's 100-calls-an-hour bucket: once the headers say too few are
    left to follow an import, contacts go one by one instead of meeting a 429 that waits an hour."""
    _, brevo_sim = sims
    brevo_sim.other_rate_limit_per_hour = 14
    for i in range(60):
        book(f"budget-a{i}@example.com", fire_webhooks=True, answers={"Company name": f"A {i}"})
    first = store(client, connection, list(outbox))
    assert set(process_batch(first).values()) == {"processed"}
    assert brevo_sim.count(r"^POST /v3/contacts/import$") == 1
    assert brevo_sim.count(r"^GET /v3/processes/") == 2  # 12 of the simulated 14 left: fewer than 4 + 10

    for i in range(60):
        book(f"budget-b{i}@example.com", fire_webhooks=True, answers={"Company name": f"B {i}"})
    second = store(client, connection, list(outbox)[60:])
    assert set(process_batch(second).values()) == {"processed"}
    assert brevo_sim.count(r"^POST /v3/contacts/import$") == 1  # no second import …
    assert brevo_sim.count(r"^POST /v3/contacts$") == 60  # … the second 60 went one by one
    assert brevo_sim.rate_limited == 0 and len(brevo_sim.contacts) == 120
