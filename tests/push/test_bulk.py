"""Bulk imports: sent together, polled together, never raced by single upserts, within Brevo's hourly budget."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from calendly_sync.inbox.deliveries import process_batch
from calendly_sync.models import Contact, ContactSyncLog, HeldNumber, WebhookDelivery
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
    assert client_sleeps.calls.count(bulk.FIRST_POLL) == 1  # … the first once Brevo has had a moment to start them …
    assert client_sleeps.calls.count(bulk.POLL_INTERVAL) == 1  # … and one wait between the rounds, not one per import
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


@pytest.mark.parametrize("report", ["urls", "counts", "mixed"])
def test_only_the_rows_an_import_refused_go_again_one_by_one(client, connection, sims, book, outbox, report):
    """Brevo's report of an import says how many rows (or where a CSV of them is), never which rows
    of the request: the connector reads back what Brevo holds (one GET /contacts per 1,000 rows)
    and sends again only the rows that did not land — not the whole chunk."""
    _, brevo_sim = sims
    brevo_sim.import_report = report
    for i in range(3):  # numbers Brevo holds for contacts the connector did not make
        brevo_sim.seed_contact(f"frontdesk{i}@outside.example", {"SMS": f"+1404555{i:04d}"})
    for i in range(60):
        book(
            f"row{i}@example.com",
            fire_webhooks=True,
            answers={"Company name": "Acme", "Phone number": f"+1404555{i:04d}"},
        )
    ids = store(client, connection, list(outbox))
    assert set(process_batch(ids).values()) == {"processed"}
    assert brevo_sim.count(r"^POST /v3/contacts/import$") == 1
    assert brevo_sim.count(r"^GET /v3/contacts$") == 1  # the read-back
    assert brevo_sim.count(r"^POST /v3/contacts$") == 6  # 3 refused rows: refused once, then sent without SMS
    assert brevo_sim.count(r"^GET /v3/contacts/%2B1404555") == 3  # who holds each number
    assert len(brevo_sim.contacts) == 63
    for i in range(3):
        assert "SMS" not in brevo_sim.get_contact(f"row{i}@example.com")["attributes"]
        warnings = ContactSyncLog.objects.filter(email=f"row{i}@example.com", status="warning")
        assert warnings and all(f"+1404555{i:04d}" in w.message for w in warnings)
        assert any(f"frontdesk{i}@outside.example" in w.message for w in warnings)
    assert brevo_sim.get_contact("row3@example.com")["attributes"]["SMS"] == "+14045550003"
    assert sorted(HeldNumber.objects.values_list("number", flat=True)) == [f"+1404555{i:04d}" for i in range(3)]
    assert not Contact.objects.filter(dirty=True).exists()


def test_a_row_an_import_leaves_out_without_saying_so_is_still_found(client, connection, sims, book, outbox):
    """The documented report has no key for every reason a row is refused (an invalid SMS has
    none): the read-back, not the report, decides which rows landed."""
    _, brevo_sim = sims
    run_import = brevo_sim._run_import

    def lose_one(rows, **job):
        return run_import([r for r in rows if r.get("email") != "lost@example.com"], **job)

    brevo_sim._run_import = lose_one
    book("lost@example.com", fire_webhooks=True, answers={"Company name": "Lost Inc"})
    for i in range(55):
        book(f"fine{i}@example.com", fire_webhooks=True, answers={"Company name": f"Co {i}"})
    ids = store(client, connection, list(outbox))
    assert set(process_batch(ids).values()) == {"processed"}
    process = next(iter(brevo_sim.processes.values()))
    assert not any(process["info"]["import"].values())  # the report says nothing went wrong …
    assert brevo_sim.get_contact("lost@example.com")["attributes"]["COMPANY"] == "Lost Inc"  # … found anyway
    assert brevo_sim.count(r"^POST /v3/contacts$") == 1
