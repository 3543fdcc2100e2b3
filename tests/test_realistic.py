"""Realistic, messy data end to end: shared and held phone numbers, repeat bookers in several cases,
group events, invalid and foreign numbers, long answers — through backfill and through webhooks.

The Brevo simulator's final state is compared with the state computed from the generated plan
alone (tests/realistic.py), including who keeps each shared number.
"""

from __future__ import annotations

import io
import random
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from calendly_sync.models import Contact, ContactSyncLog, EventTypeMapping, HeldNumber, WebhookDelivery
from calendly_sync.sandbox.realistic import RealisticData, realistic_data
from tests import realistic, scenario
from tests.conftest import in_days
from tests.fixtures_webhooks import store

pytestmark = pytest.mark.django_db


def sync(*args: str) -> str:
    out = io.StringIO()
    call_command("sync_calendly", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def plan(seed: int = 7) -> RealisticData:
    data = realistic_data(events=120, invitees=165, seed=seed, start=in_days(1, hour=9))
    # the messy parts are all there
    kinds = {p.kind for p in data.people}
    assert {"switchboard", "two_emails", "held", "invalid", "foreign", "mismatched", "none"} <= kinds
    assert any(s.email != s.email.lower() for s in data.seats())
    assert any(len(m.seats) > 1 for m in data.meetings)
    assert any(len(p.company) > 300 for p in data.people)
    return data


def map_event_type(connection: Any, data: RealisticData) -> None:
    EventTypeMapping.objects.create(
        connection=connection,
        key="realistic",
        event_type_uri=data.event_type["uri"],
        event_type_name=data.event_type["name"],
        list_ids=[realistic.LIST],
    )


def check(brevo_sim: Any, want: realistic.Expected) -> None:
    problems = scenario.diff(want.state, scenario.actual_brevo_state(brevo_sim), limit=8)
    assert not problems, "\n".join(problems)
    assert want.owners, "the data has shared numbers"
    # every contact sent without the number it gave has a warning naming it and the number
    for email, number in want.dropped.items():
        assert ContactSyncLog.objects.filter(email=email, status="warning", message__contains=number).exists(), (
            email,
            number,
        )


def test_backfill_of_realistic_data_reaches_the_expected_brevo_state(connection, sims):
    calendly_sim, brevo_sim = sims
    data = plan()
    data.book(calendly_sim)
    data.seed_brevo(brevo_sim)
    map_event_type(connection, data)
    want = realistic.expected(data)

    sync("--bulk-threshold", "50", "--until", in_days(120).date().isoformat())
    check(brevo_sim, want)
    held = {sms for _, sms in data.held_elsewhere}
    assert set(HeldNumber.objects.values_list("number", flat=True)) == held
    # one import; then only the rows Brevo refused (one per held number: its would-be owner), each
    # refused once, looked up once and sent again without the number — not the whole chunk
    assert brevo_sim.count(r"^POST /v3/contacts/import$") == 1
    assert brevo_sim.count(r"^GET /v3/contacts$") == 1  # the read-back
    assert brevo_sim.count(r"^GET /v3/contacts/(%2B|\+)") == len(held)  # who holds the number
    assert brevo_sim.count(r"^POST /v3/contacts$") == 2 * len(held)
    assert not Contact.objects.filter(dirty=True).exists()

    writes = brevo_sim.count(r"^(POST|PUT|DELETE) /v3/")
    out = sync("--until", in_days(120).date().isoformat())
    assert brevo_sim.count(r"^(POST|PUT|DELETE) /v3/") == writes, "the second run writes nothing"
    assert "Brevo calls 0," in out
    check(brevo_sim, want)


def test_webhooks_of_realistic_data_in_any_order_reach_the_same_brevo_state(client, connection, sims, outbox):
    """Deliveries in a shuffled order, applied in batches of different sizes (single upserts and
    imports): an earlier booking with a shared number that arrives late takes the number over,
    and the contact that had it lets it go first."""
    calendly_sim, brevo_sim = sims
    data = plan(seed=9)
    data.seed_brevo(brevo_sim)
    data.book(calendly_sim, fire_webhooks=True)
    map_event_type(connection, data)
    want = realistic.expected(data)
    items = [i for i in outbox if i["event"] == "invitee.created"]
    assert len(items) == data.invitees
    random.Random(3).shuffle(items)
    from calendly_sync.inbox.deliveries import process_batch
    from calendly_sync.runtime.drain import sweep

    ids = store(client, connection, items)
    sizes = [7, 100, 3, 55]
    start = 0
    for i in range(100):
        batch = ids[start : start + sizes[i % len(sizes)]]
        if not batch:
            break
        process_batch(batch)
        start += len(batch)
    for _ in range(10):  # what waits (a number whose holder lets it go) goes with the next sweeps
        past = timezone.now() - timedelta(hours=2)
        Contact.objects.update(next_attempt_at=past)
        WebhookDelivery.objects.update(next_attempt_at=past)
        sweep(wait=True)
        if (
            not Contact.objects.filter(dirty=True).exists()
            and not WebhookDelivery.objects.exclude(status="processed").exists()
        ):
            break
    assert not Contact.objects.filter(dirty=True).exists()
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"processed"}
    # the order made a contact that had been sent a shared number let it go for an earlier booker
    released = [r.email for r in ContactSyncLog.objects.all() if (r.request.get("attributes") or {}).get("SMS") == ""]
    assert released and all(email in want.dropped for email in released)
    assert brevo_sim.count(r"^POST /v3/contacts/import$") >= 1
    check(brevo_sim, want)
    assert set(HeldNumber.objects.values_list("number", flat=True)) == {sms for _, sms in data.held_elsewhere}
