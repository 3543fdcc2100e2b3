"""End to end at scale: 1,000 events through backfill and through webhooks, against an expected
Brevo state computed independently from the simulator's records (tests/scenario.py)."""

from __future__ import annotations

import io
import os
import random
import time
from collections import Counter
from typing import Any

import pytest
from django.core.management import call_command

from calendly_sync.models import Connection, EventTypeMapping, FieldMapping, SyncRun, WebhookDelivery
from tests import scenario
from tests.conftest import PAGE_FIELD_MAPPING


def make_connection(sc: scenario.Scenario) -> Connection:
    from calendly_sync.sandbox.brevo import SANDBOX_API_KEY
    from calendly_sync.sandbox.calendly import SANDBOX_TOKEN

    conn = Connection.objects.create(
        name="default", access_token=SANDBOX_TOKEN, brevo_api_key=SANDBOX_API_KEY, webhook_signing_key="scale-key"
    )
    for key, uri in sc.event_types.items():
        EventTypeMapping.objects.create(connection=conn, key=key, event_type_uri=uri, list_ids=sc.lists[uri])
    for i, (source, attribute, kind) in enumerate(PAGE_FIELD_MAPPING):
        FieldMapping.objects.create(
            connection=conn, source=source, attribute=attribute, attribute_type=kind, position=i
        )
    return conn


def sync(*args: str) -> str:
    out = io.StringIO()
    call_command("sync_calendly", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_backfill_of_1000_events_matches_the_expected_brevo_state(sims):
    from calendly_sync.backfill import BackfillOptions, run_backfill

    calendly_sim, brevo_sim = sims
    sc = scenario.build(calendly_sim, events=1000, seed=11)
    conn = make_connection(sc)
    expected = scenario.expected_brevo_state(calendly_sim, sc)

    # --dry-run writes nothing
    out = sync("--dry-run")
    assert brevo_sim.count(r"^(POST|PUT) ") == 0 and "dry run" in out

    # killed half-way, then resumed
    processed = {"n": 0}

    def kill_half_way(n: int) -> None:
        processed["n"] += n
        if processed["n"] >= 500:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_backfill(conn, BackfillOptions(), progress=kill_half_way)
    assert SyncRun.objects.filter(dry_run=False).get().status == "interrupted"
    out = sync("--resume")
    assert "events 1000," in out or "events 10" in out

    problems = scenario.diff(expected, scenario.actual_brevo_state(brevo_sim))
    assert not problems, "\n".join(problems)
    statuses = {s["attributes"]["BOOKING_STATUS"] for s in expected.values()}
    assert statuses == {"booked", "cancelled", "no_show"}  # the scenario exercises every status

    # a second run writes nothing to Brevo
    writes = brevo_sim.count(r"^(POST|PUT) /v3/contacts")
    out = sync()
    assert brevo_sim.count(r"^(POST|PUT) /v3/contacts") == writes
    assert "contacts created 0 / updated 0" in out and "Brevo calls 0," in out
    # the window starts 7 days before the last run: meetings since then are looked at again
    assert "unchanged 0" not in out


def chaos(brevo_sim: Any, rate: float, seed: int) -> None:
    """Fail a share of Brevo calls with 5xx, 429 or a timeout (the client's read timeout is shorter)."""
    from calendly_sync.sandbox.httpbase import Fault

    rng = random.Random(seed)
    original = brevo_sim._take_fault

    def take(key: str) -> Fault | None:
        fault = original(key)
        if fault is None and key.startswith(("POST /v3/", "PUT /v3/")) and rng.random() < rate:
            kind = rng.choice(["5xx", "429", "timeout"])
            if kind == "5xx":
                return Fault("status", status=rng.choice([500, 502, 503]), times=1)
            if kind == "429":
                return Fault(
                    "rate_limit",
                    headers={
                        "x-sib-ratelimit-limit": "10",
                        "x-sib-ratelimit-remaining": "0",
                        "x-sib-ratelimit-reset": "1",
                    },
                    times=1,
                )
            return Fault("timeout", seconds=0.6, times=1)
        return fault

    brevo_sim._take_fault = take


@pytest.mark.django_db(transaction=True)
def test_1000_deliveries_shuffled_with_duplicates_while_brevo_fails_20_percent(client, sims, settings, monkeypatch):
    from calendly_sync import retries
    from calendly_sync.calendly.events import SUBSCRIBED_EVENTS
    from calendly_sync.credentials import clients
    from calendly_sync.http import RetryPolicy
    from calendly_sync.models import AutomationEvent, Booking
    from calendly_sync.push.events import confirm_events, requeue_events
    from calendly_sync.runtime import drain as drain_module
    from calendly_sync.sandbox.signing import sign
    from calendly_sync.sync import automation
    from tests.test_tasks import wait_until

    calendly_sim, brevo_sim = sims
    calendly_sim.allow_http_callbacks = True
    sc = scenario.build(calendly_sim, events=0, seed=3)  # event types only, for now
    conn = make_connection(sc)
    from calendly_sync.calendly.client import CalendlyClient
    from calendly_sync.sandbox.calendly import SANDBOX_TOKEN

    CalendlyClient(SANDBOX_TOKEN, calendly_sim.url).create_webhook_subscription(
        url="http://127.0.0.1:9/unused",
        events=list(SUBSCRIBED_EVENTS),
        organization=calendly_sim.org["uri"],
        scope="organization",
        signing_key="scale-key",
    )
    calendly_sim.delivery_retries = 0
    calendly_sim.deliver_sync = False
    more = scenario.build(calendly_sim, events=700, seed=5, fire_webhooks=True)
    sc.facts = more.facts
    sc.lists.update(more.lists)
    for key, uri in more.event_types.items():
        EventTypeMapping.objects.create(connection=conn, key=f"{key}2", event_type_uri=uri, list_ids=more.lists[uri])
    items = [i for i in calendly_sim.outbox if i["event"].startswith("invitee")]
    rng = random.Random(9)
    bodies = [i["body"] for i in items] + [rng.choice(items)["body"] for _ in range(len(items) // 10)]
    rng.shuffle(bodies)
    expected = scenario.expected_brevo_state(calendly_sim, sc)

    # fast retries for the test: the one backoff policy is the product's, its delay scaled down (the
    # 72 h horizon means no transient failure ends a delivery or an event here)
    monkeypatch.setattr(retries, "delay", lambda attempts, rng=None: __import__("datetime").timedelta(seconds=0.05))
    monkeypatch.setattr(
        clients,
        "CLIENT_OPTIONS",
        {
            "brevo": {
                "requests_per_second": None,
                "timeout": (2.0, 0.3),
                "retry": RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.05, max_rate_limit_wait=2),
            },
            "calendly": {},
        },
    )
    chaos(brevo_sim, 0.20, seed=13)

    broker = os.environ.get("CELERY_BROKER_URL")
    started = time.monotonic()
    if broker:
        from celery.contrib.testing.worker import start_worker

        from connector_site.celery import app

        settings.CELERY_BROKER_URL = broker
        app.conf.broker_url = broker
        with app.connection_for_write() as c:
            c.default_channel.queue_purge(app.conf.task_default_queue)
        worker = start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=30)
        worker.__enter__()
    try:
        for body in bodies:
            resp = client.post(
                f"/webhooks/calendly/{conn.pk}/",
                data=body,
                content_type="application/json",
                HTTP_CALENDLY_WEBHOOK_SIGNATURE=sign(body, "scale-key"),
            )
            assert resp.status_code == 200
        assert WebhookDelivery.objects.count() == len(items)  # every duplicate recognised

        from calendly_sync.models import Contact
        from calendly_sync.tasks import sweep_task

        last_beat = [time.monotonic()]

        def done() -> bool:
            if not broker:
                drain_module.sweep()  # the embedded mode's periodic sweep, run inline
            elif time.monotonic() - last_beat[0] > 2:  # what Celery beat does every minute, faster
                last_beat[0] = time.monotonic()
                sweep_task.delay()
            return (
                not WebhookDelivery.objects.exclude(status="processed").exists()
                and not AutomationEvent.objects.exclude(status__in=["sent", "failed", "unconfirmed"]).exists()
                and not Contact.objects.filter(dirty=True).exists()
            )

        wait_until(done, timeout=600, what="every delivery applied and every event sent")

        # An event whose send timed out is unconfirmed: the connector cannot know whether Brevo has it,
        # so it never sends it again by itself (a second send could run the automation twice). Both
        # happen here: the chaos's timeout fault answers late without recording, and a loaded machine
        # can make the simulator answer a recorded event later than the 0.3 s read timeout. The
        # operator's part: look in Brevo, mark sent what is there, requeue what is not; and again,
        # since the chaos goes on and a requeued event can time out once more.
        found: list[int] = []
        missing: list[int] = []
        for _ in range(10):
            unconfirmed_rows = list(AutomationEvent.objects.filter(status="unconfirmed"))
            if not unconfirmed_rows:
                break
            in_brevo = Counter(
                (e["event_name"], e["identifiers"]["email_id"], e["event_date"]) for e in brevo_sim.events
            )
            round_found: list[int] = []
            round_missing: list[int] = []
            for row in unconfirmed_rows:
                # dated as push.events dates it: the fact's time, else (a reschedule) the new booking's
                booking = Booking.objects.get(invitee_uri=(row.event_properties or {})["invitee_uri"])
                seen = in_brevo[
                    (row.event_name, row.email, automation.iso(row.event_date or booking.invitee_created_at))
                ]
                assert seen <= 1  # never twice
                (round_found if seen else round_missing).append(row.pk)
            # Brevo holds the sent events and the unconfirmed ones it recorded, each once: nothing more
            assert len(brevo_sim.events) == AutomationEvent.objects.filter(status="sent").count() + len(round_found)
            assert confirm_events(round_found) == len(round_found)
            assert requeue_events(round_missing) == len(round_missing)
            found += round_found
            missing += round_missing
            wait_until(done, timeout=600, what="every requeued event sent")
        unconfirmed = found + missing
    finally:
        if broker:
            worker.__exit__(None, None, None)
    elapsed = time.monotonic() - started
    brevo_sim._take_fault = type(brevo_sim)._take_fault.__get__(brevo_sim)

    problems = scenario.diff(expected, scenario.actual_brevo_state(brevo_sim))
    assert not problems, "\n".join(problems)
    assert not WebhookDelivery.objects.filter(status="failed").exists()
    sent = {}
    for e in brevo_sim.events:
        sent[e["event_name"]] = sent.get(e["event_name"], 0) + 1
    extra = {k: sent.get(k, 0) - v for k, v in sc.facts.items() if sent.get(k, 0) != v}
    # No event is sent twice: a timed-out send is never repeated without the operator's requeue.
    left = list(AutomationEvent.objects.exclude(status="sent").values_list("status", "last_error")[:5])
    assert extra == {}, (sent, dict(sc.facts), Counter(AutomationEvent.objects.values_list("status", flat=True)), left)
    assert not AutomationEvent.objects.exclude(status="sent").exists()
    print(
        f"\n{len(bodies)} deliveries ({len(items)} distinct) applied in {elapsed:.1f} s "
        f"({'Celery' if broker else 'inline sweeps'}); {len(unconfirmed)} events unconfirmed after a timeout "
        f"({len(found)} found in Brevo, {len(missing)} requeued); "
        f"Brevo calls {brevo_sim.count(r'^(POST|PUT|GET) /v3/')}"
    )
