"""`calendly_webhooks` and the subscription health check against the simulated Calendly."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from calendly_sync.calendly.events import SUBSCRIBED_EVENTS
from calendly_sync.inbox.subscriptions import callback_url, check_all, ensure_subscription
from calendly_sync.models import Booking, Connection, SyncRun

pytestmark = pytest.mark.django_db


def hooks(calendly_sim):
    return [calendly_sim.render(s) for s in calendly_sim.subscriptions.values()]


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("calendly_webhooks", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_ensure_creates_an_organization_subscription_with_a_fresh_key(connection, sims, settings):
    calendly_sim, _ = sims
    settings.SITE_URL = "https://connector.example.com"
    old_key = connection.webhook_signing_key
    out = run("ensure")
    assert "created organization-scope subscription" in out
    [hook] = hooks(calendly_sim)
    assert hook["scope"] == "organization" and hook["state"] == "active"
    assert set(hook["events"]) == set(SUBSCRIBED_EVENTS)
    assert hook["callback_url"] == f"https://connector.example.com/webhooks/calendly/{connection.pk}/"
    connection.refresh_from_db()
    assert connection.webhook_signing_key and connection.webhook_signing_key != old_key
    assert connection.previous_signing_key == old_key  # still accepted for the grace period
    sub = next(iter(calendly_sim.subscriptions.values()))
    assert sub["_signing_key"] == connection.webhook_signing_key

    # ensure again: the identical subscription is reused, nothing is created
    assert "reused" in run("ensure")
    assert len(hooks(calendly_sim)) == 1


def test_member_token_falls_back_to_user_scope_with_a_warning(connection, sims, settings):
    calendly_sim, _ = sims
    settings.SITE_URL = "https://connector.example.com"
    member = calendly_sim.add_user("Mia Member", "mia@acme-sales.example", role="user")
    calendly_sim.add_token("member-token", member["uri"])
    Connection.objects.filter(pk=connection.pk).update(
        access_token="member-token", calendly_user_uri="", calendly_organization_uri=""
    )
    connection.refresh_from_db()
    err = io.StringIO()
    call_command("calendly_webhooks", "ensure", stdout=io.StringIO(), stderr=err)
    assert "not an organization owner or admin" in err.getvalue()
    [hook] = hooks(calendly_sim)
    assert hook["scope"] == "user" and hook["user"] == member["uri"]


def test_existing_hook_for_the_url_with_other_events_is_replaced(connection, sims, calendly_client, settings):
    calendly_sim, _ = sims
    settings.SITE_URL = "https://connector.example.com"
    url = callback_url(connection)
    calendly_client.create_webhook_subscription(
        url=url,
        events=["invitee.created"],
        organization=calendly_sim.org["uri"],
        scope="organization",
        signing_key="someone-elses",
    )
    result = ensure_subscription(connection)
    assert result.action == "created"
    [hook] = hooks(calendly_sim)
    assert set(hook["events"]) == set(SUBSCRIBED_EVENTS)


def test_disabled_subscription_is_recreated_and_the_gap_backfilled(connection, sims, book, settings):
    calendly_sim, brevo_sim = sims
    settings.SITE_URL = "https://connector.example.com"
    ensure_subscription(connection)
    # while the hook is failing, a booking happens that never reaches us
    book("missed@example.com", days=2)
    calendly_sim.disable_subscription(hooks(calendly_sim)[0]["uri"])
    report = check_all()
    assert "was disabled; recreated" in report[0]
    hook = [h for h in hooks(calendly_sim) if h["state"] == "active"]
    assert len(hook) == 1 and len(hooks(calendly_sim)) == 1
    # The check only queues the gap backfill (it runs in the drain's thread): a job runs it.
    run = SyncRun.objects.get()
    assert f"queued as sync run #{run.pk}" in report[0]
    assert (run.status, run.trigger, run.options["with_events"]) == ("queued", "gap-backfill", True)
    assert calendly_sim.count(r"^GET /scheduled_events$") == 0
    assert not Booking.objects.filter(email="missed@example.com").exists()

    out = io.StringIO()
    call_command("sync_calendly", "--run-queued", stdout=out)
    assert f"sync run #{run.pk} (gap backfill (recreated webhook subscription)): completed: events 1," in out.getvalue()
    assert Booking.objects.filter(email="missed@example.com").exists()
    assert brevo_sim.get_contact("missed@example.com") is not None
    names = [e["event_name"] for e in brevo_sim.events]
    assert names == ["calendly_booking_created"]  # a missed real-time fact still starts its flow


def test_a_second_gap_while_one_waits_widens_the_queued_backfill(connection, sims, settings):
    from datetime import timedelta

    from django.utils import timezone

    from calendly_sync.inbox.subscriptions import backfill_since

    settings.SITE_URL = "https://connector.example.com"
    later = timezone.now() - timedelta(hours=2)
    first = backfill_since(connection, later)
    second = backfill_since(connection, later - timedelta(days=3))
    run = SyncRun.objects.get()  # one job, covering both gaps
    assert f"sync run #{run.pk}" in first and f"sync run #{run.pk}" in second
    assert run.since <= later - timedelta(days=3)


def test_ensure_from_the_command_runs_the_gap_backfill_before_it_ends(connection, sims, book, settings):
    """A command is not a request: the gap backfill it queues runs in its own thread, not in one it leaves behind."""
    calendly_sim, brevo_sim = sims
    settings.SITE_URL = "https://connector.example.com"
    settings.CONNECTOR_EMBEDDED_WORKER = True  # even where a server would hand it to its job thread
    ensure_subscription(connection)
    book("missed@example.com", days=2)
    calendly_sim.disable_subscription(hooks(calendly_sim)[0]["uri"])
    out = run("ensure")
    assert "recreated organization-scope subscription" in out
    run_row = SyncRun.objects.get()
    assert f"sync run #{run_row.pk} (gap backfill (recreated webhook subscription)): completed" in out
    assert run_row.runner.startswith("command: thread MainThread")
    assert brevo_sim.get_contact("missed@example.com") is not None


def test_list_and_delete(connection, sims, settings):
    calendly_sim, _ = sims
    settings.SITE_URL = "https://connector.example.com"
    ensure_subscription(connection)
    out = run("list")
    assert "1 subscription(s), organization scope" in out and "active" in out
    with pytest.raises(CommandError, match="needs --url"):
        run("delete")
    out = run("delete", "--url", callback_url(connection))
    assert "deleted 1" in out and hooks(calendly_sim) == []
    connection.refresh_from_db()
    assert connection.webhook_subscription_uri == ""


def test_doctor_explains_each_check_and_fails_when_something_is_wrong(connection, sims, settings):
    settings.SITE_URL = "https://connector.example.com"
    out = io.StringIO()
    with pytest.raises(CommandError, match="check"):
        call_command("calendly_doctor", stdout=out)
    text = out.getvalue()
    assert "[OK  ] Calendly token: valid" in text
    assert "[FAIL] Webhook subscription: none registered" in text
    assert "Brevo API key: valid" in text
    assert "Brevo attributes: missing" in text  # COMPANY etc. not created yet
    ensure_subscription(connection)
    call_command("brevo_setup", stdout=io.StringIO())
    out = io.StringIO()
    call_command("calendly_doctor", stdout=out)
    assert "FAIL" not in out.getvalue() and "Webhook subscription: active, organization scope" in out.getvalue()


def test_doctor_reports_expired_token_and_one_junk_request_as_noise(connection, sims, client):
    from calendly_sync.sandbox.calendly.server import SANDBOX_TOKEN

    calendly_sim, _ = sims
    calendly_sim.expire_token(SANDBOX_TOKEN)
    client.post(
        f"/webhooks/calendly/{connection.pk}/",
        data=b"{}",
        content_type="application/json",
        HTTP_CALENDLY_WEBHOOK_SIGNATURE="t=1,v1=00",
    )
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("calendly_doctor", stdout=out)
    text = out.getvalue()
    assert "[FAIL] Calendly token" in text and "expired" in text
    # one stranger's request is noise, not a failure (it used to turn the doctor red for 24 h)
    assert "[OK  ] Signatures: 1 refused in the last 24 h, noise (1 malformed or missing header)" in text


def test_brevo_setup_creates_missing_attributes_with_types(connection, sims):
    _, brevo_sim = sims
    out = io.StringIO()
    call_command("brevo_setup", "--dry-run", stdout=out)
    assert "would create" in out.getvalue() and "MEETING_DATE" in out.getvalue()
    assert "MEETING_DATE" not in {a["name"] for a in brevo_sim.attributes.values()}
    call_command("brevo_setup", stdout=io.StringIO())
    types = {a["name"]: a["type"] for a in brevo_sim.attributes.values()}
    assert types["MEETING_DATE"] == "date" and types["BOOKING_STATUS"] == "text"
    out = io.StringIO()
    call_command("brevo_setup", stdout=out)
    assert "created: nothing" in out.getvalue()
