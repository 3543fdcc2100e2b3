"""The health decisions: one Facts snapshot in, one item out (no database), and the snapshot's queries."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from calendly_sync.calendly.signatures import RejectionKind
from calendly_sync.inbox.rejections import RejectionSummary
from calendly_sync.models import (
    AutomationEvent,
    Connection,
    Contact,
    ContactSyncLog,
    SyncRun,
    WebhookDelivery,
    WebhookRejection,
)
from calendly_sync.overview import status
from calendly_sync.overview.status import AMBER, GREEN, RED, Facts, LastRun

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def facts(**changes: object) -> Facts:
    """A healthy PAT connection; ``changes`` make it less so."""
    base = Facts(
        now=NOW,
        connection_id=7,
        name="sales",
        enabled=True,
        status="active",
        auth_kind="pat",
        last_error="",
        has_token=True,
        has_refresh_token=False,
        token_expires_at=None,
        scopes="",
        has_brevo_key=True,
        subscription_uri="https://api.calendly.com/webhook_subscriptions/S",
        subscription_state="active",
        subscription_checked_at=NOW - timedelta(minutes=20),
        last_delivery_at=NOW - timedelta(minutes=5),
        rejections=RejectionSummary(accepted=3, last_accepted_at=NOW - timedelta(minutes=5)),
        last_run=LastRun(1, "completed", "command", NOW - timedelta(hours=2), NOW - timedelta(hours=1), ""),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_healthy_connection_is_green_everywhere():
    health = status.judge(facts())
    assert health.verdict == GREEN
    assert [i.level for i in health.items] == [GREEN] * len(status.DECISIONS)
    assert all(i.action is None and i.alert is None for i in health.items)


def test_needs_reconnect_is_red_with_the_reconnect_link_and_alert():
    item = status.token(facts(status="needs_reconnect", auth_kind="oauth", last_error="refresh token revoked"))
    assert item.level == RED and "refresh token revoked" in item.detail
    assert item.action is not None and item.action.label == "Reconnect Calendly"
    assert item.action.url == "/connect/calendly/start/?connection=7"
    assert item.alert is not None and item.alert.key == "reconnect"
    pat = status.token(facts(status="needs_reconnect"))
    assert pat.action is not None and pat.action.label == "Enter a new Calendly Personal Access Token"


def test_token_expiry_and_missing_tokens():
    soon = status.token(facts(auth_kind="oauth", has_refresh_token=True, token_expires_at=NOW + timedelta(hours=1)))
    assert soon.level == GREEN and "expires in 1" in soon.detail
    expired = status.token(facts(auth_kind="oauth", has_refresh_token=True, token_expires_at=NOW - timedelta(hours=3)))
    assert expired.level == GREEN and "expired 3" in expired.detail and "refreshed" in expired.detail
    no_refresh = status.token(facts(auth_kind="oauth", has_refresh_token=False))
    assert no_refresh.level == AMBER and no_refresh.action is not None
    assert status.token(facts(has_token=False)).level == RED
    assert status.token(facts(status="new")).level == AMBER


def test_scopes():
    assert status.scopes(facts()).level == GREEN  # a PAT's are not recorded
    oauth_base = "users:read event_types:read scheduled_events:read webhooks:write"
    assert status.scopes(facts(scopes=oauth_base)).level == GREEN
    missing = status.scopes(facts(scopes="users:read event_types:read"))
    assert missing.level == RED and "webhooks:write" in missing.detail
    lacking = status.scopes(facts(scopes=oauth_base, scheduling_features=True))
    assert lacking.level == AMBER and "scheduling_links:write" in lacking.detail


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"subscription_uri": ""}, "none registered"),
        ({"subscription_state": "disabled"}, "disabled by Calendly"),
        ({"subscription_state": "missing"}, "deleted at Calendly"),
    ],
)
def test_a_disabled_or_missing_subscription_is_red_with_the_repair(changes, detail):
    item = status.subscription(facts(**changes))
    assert item.level == RED and detail in item.detail
    assert item.action is not None and item.action.label == "Repair webhook subscription"
    assert item.action.command == "python manage.py calendly_webhooks ensure --connection sales"
    assert item.alert is not None and item.alert.key == "subscription" and item.alert.severity == "problem"


def test_a_stale_subscription_check_is_amber_and_a_recreated_one_an_info_alert():
    stale = status.subscription(facts(subscription_checked_at=NOW - timedelta(hours=5)))
    assert stale.level == AMBER and stale.alert is None
    run = LastRun(42, "completed", "gap-backfill", NOW - timedelta(hours=2), NOW - timedelta(hours=1), "")
    recreated = status.subscription(facts(gap_backfill=run))
    assert recreated.level == GREEN and "recreated" in recreated.detail and "#42" in recreated.detail
    assert recreated.alert is not None
    assert (recreated.alert.key, recreated.alert.severity) == ("subscription_recreated:42", "info")


def test_deliveries_failed_is_red_with_the_retry_link():
    item = status.deliveries(facts(deliveries_failed=2, deliveries_pending=1))
    assert item.level == RED and "2 failed" in item.detail
    assert item.action is not None and item.action.label == "Retry failed deliveries"
    assert "status__exact=failed" in item.action.url and "connection__id__exact=7" in item.action.url
    assert item.alert is not None and item.alert.key == "deliveries_failing"


def test_a_backlog_is_red_only_beyond_the_threshold():
    young = status.deliveries(facts(deliveries_pending=5, oldest_pending_delivery=NOW - timedelta(minutes=30)))
    assert young.level == GREEN and "oldest waiting 30" in young.detail
    old = status.deliveries(facts(deliveries_pending=5, oldest_pending_delivery=NOW - timedelta(minutes=61)))
    assert old.level == RED and old.alert is not None and old.alert.key == "backlog"
    dirty = status.contacts(facts(contacts_dirty=3, oldest_dirty_contact=NOW - timedelta(hours=2)))
    assert dirty.level == RED and dirty.alert is not None and dirty.alert.key == "backlog"
    events = status.events(facts(events_pending=3, oldest_pending_event=NOW - timedelta(hours=2)))
    assert events.level == RED and events.alert is not None and events.alert.key == "backlog"
    tolerant = facts(
        contacts_dirty=3, oldest_dirty_contact=NOW - timedelta(hours=2), backlog_threshold=timedelta(hours=3)
    )
    assert status.contacts(tolerant).level == GREEN


def test_failed_and_unconfirmed_automation_events():
    failed = status.events(facts(events_failed=1))
    assert failed.level == RED and failed.alert is not None and failed.alert.key == "deliveries_failing"
    unconfirmed = status.events(facts(events_unconfirmed=1))
    assert unconfirmed.level == AMBER and unconfirmed.alert is None


def test_brevo_rejecting_the_key_is_red_with_its_alert():
    item = status.brevo_key(facts(status="error", last_error="Brevo rejected the API key: Key not found"))
    assert item.level == RED and item.action is not None and item.action.label == "Enter a new Brevo API key"
    assert item.alert is not None and item.alert.key == "brevo_key"
    assert status.brevo_key(facts(status="error", last_error="something else")).level == GREEN
    assert status.brevo_key(facts(has_brevo_key=False)).level == RED


def test_signature_rejections_use_the_doctors_rule():
    noisy = RejectionSummary(counts={RejectionKind.MALFORMED_HEADER.value: 50}, accepted=3)
    assert status.signatures(facts(rejections=noisy)).level == GREEN
    wrong_key = RejectionSummary(counts={RejectionKind.BAD_SIGNATURE.value: 9}, accepted=0)
    item = status.signatures(facts(rejections=wrong_key))
    assert item.level == RED and item.action is not None and "calendly_webhooks ensure" in item.action.command


def test_429s_are_amber_and_last_sync_run():
    assert status.rate_limits(facts(brevo_429s=4)).level == AMBER
    assert status.rate_limits(facts(calendly_429s=1)).level == AMBER
    failed = LastRun(9, "failed", "admin", NOW - timedelta(hours=1), NOW, "Calendly answered 500")
    item = status.last_sync(facts(last_run=failed))
    assert item.level == RED and "Calendly answered 500" in item.detail
    assert item.action is not None and item.action.url.endswith("/syncrun/9/change/")
    assert status.last_sync(facts(last_run=None)).level == AMBER
    assert status.last_delivery(facts(last_delivery_at=None)).level == AMBER


def test_the_verdict_is_the_worst_item_and_a_disabled_connection_says_so():
    assert status.judge(facts(contacts_dirty=1, brevo_429s=1)).verdict == AMBER
    assert status.judge(facts(brevo_429s=1, deliveries_failed=1)).verdict == RED
    off = status.judge(facts(enabled=False, deliveries_failed=3))
    assert off.verdict == AMBER and [i.key for i in off.items] == ["enabled"] and not off.conditions


@pytest.mark.django_db
def test_gather_reads_every_fact_in_a_fixed_number_of_queries():
    now = timezone.now()
    for n in range(3):
        conn = Connection.objects.create(name=f"c{n}", access_token="pat", brevo_api_key="key")
        WebhookDelivery.objects.create(connection=conn, event="invitee.created", idempotency_key=f"p{n}")
        WebhookDelivery.objects.create(
            connection=conn, event="invitee.created", idempotency_key=f"f{n}", status="failed"
        )
        Contact.objects.create(connection=conn, email=f"a{n}@example.com", dirty=True)
        AutomationEvent.objects.create(connection=conn, key=f"e{n}", email="a@example.com", event_name="x")
        ContactSyncLog.objects.create(
            connection=conn, email="a@example.com", action="upsert", status="retry", http_status=429
        )
        SyncRun.objects.create(connection=conn, status="failed", error="boom")
        SyncRun.objects.create(connection=conn, status="completed", trigger="gap-backfill", finished_at=now)
        WebhookRejection.objects.create(
            connection=conn, kind=RejectionKind.BAD_SIGNATURE.value, hour=now, count=2, first_at=now, last_at=now
        )
    with CaptureQueriesContext(db_connection) as few:
        snapshot = status.gather(now=now)
    assert len(snapshot) == 3
    for f in snapshot:
        assert (f.deliveries_pending, f.deliveries_failed, f.contacts_dirty, f.events_pending, f.brevo_429s) == (
            1,
            1,
            1,
            1,
            1,
        )
        assert f.last_run is not None and f.last_run.status == "completed"  # the latest run
        assert f.gap_backfill is not None
        assert f.rejections.counts == {RejectionKind.BAD_SIGNATURE.value: 2} and f.rejections.accepted == 2
    for n in range(3, 9):
        Connection.objects.create(name=f"c{n}")
    with CaptureQueriesContext(db_connection) as many:
        assert len(status.gather(now=now)) == 9
    assert len(many.captured_queries) == len(few.captured_queries) <= 12


@pytest.mark.django_db
def test_calendly_429s_are_this_process_last_24_hours(connection, sims):
    from calendly_sync import instruments
    from calendly_sync.credentials.clients import calendly_client_for

    calendly_sim, _ = sims
    instruments.forget_rate_limits()
    assert status.gather()[0].calendly_429s == 0
    calendly_sim.force_429(times=2)
    calendly_client_for(connection).get_current_user()  # waited out (the test's sleeps are recorded, not slept)
    [f] = status.gather()
    assert f.calendly_429s == 2 and status.rate_limits(f).level == AMBER
    assert status.gather(now=timezone.now() + timedelta(hours=25))[0].calendly_429s == 0  # a day later: forgotten
