"""Sync now and Resync in the admin: the request queues a job and returns; the job's page shows its progress.

The job thread runs here as in a server without a broker; Calendly holds the job's first page
until the test lets it go, so what the request did and did not do is observable.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from calendly_sync.models import Booking, Contact, SyncRun
from calendly_sync.runtime.jobs import run_queued
from tests.test_tasks import wait_until


def changelist() -> str:
    return reverse("admin:calendly_sync_connection_changelist")


def run_page(run: SyncRun) -> str:
    return reverse("admin:calendly_sync_syncrun_change", args=[run.pk])


def messages_html(resp) -> str:  # type: ignore[no-untyped-def]
    """The admin's messages as rendered (so a link in one is a link, not escaped text)."""
    found = re.search(r'<ul class="messagelist">(.*?)</ul>', resp.content.decode(), flags=re.S)
    return found.group(1) if found else ""


@pytest.mark.django_db(transaction=True)
def test_sync_now_returns_before_the_backfill_and_the_job_page_shows_its_progress(
    admin_client, connection, sims, book, job_thread, calendly_held
):
    calendly_sim, brevo_sim = sims
    for i in range(3):
        book(f"guest{i}@example.com", days=i + 1)

    resp = admin_client.post(changelist(), {"action": "sync_now", "_selected_action": [connection.pk]}, follow=True)

    # Back while Calendly still holds the job's first page: the request did not run the backfill.
    run = SyncRun.objects.get()
    assert (run.trigger, run.requested_by) == ("admin", "admin")
    assert f'queued as <a href="{run_page(run)}">run #{run.pk}</a>' in messages_html(resp)
    assert not Booking.objects.exists() and brevo_sim.contacts == {}
    wait_until(lambda: calendly_sim.count(r"^GET /scheduled_events$") == 1, what="the job to ask Calendly")
    run.refresh_from_db()
    assert run.status == "running" and "thread calendly-sync-jobs" in run.runner
    page = admin_client.get(run_page(run)).content.decode()
    assert "running: reading Calendly" in page and '<meta http-equiv="refresh" content="5">' in page

    # A second Sync now, from the list or from the connection's page, is refused while it runs.
    again = admin_client.post(changelist(), {"action": "sync_now", "_selected_action": [connection.pk]}, follow=True)
    assert f"a sync is already running (run #{run.pk}: Sync now (admin), requested by admin" in messages_html(again)
    button = reverse("admin:calendly_sync_connection_sync_now", args=[connection.pk])
    assert "already running" in messages_html(admin_client.post(button, follow=True))
    assert SyncRun.objects.count() == 1

    calendly_held.set()
    wait_until(lambda: SyncRun.objects.get().status == "completed", what="the job to complete")
    page = admin_client.get(run_page(run)).content.decode()
    assert "completed in" in page and "events 3, invitees 3, contacts created 3" in page
    assert 'http-equiv="refresh"' not in page  # a finished job's page stays still
    connection_page = admin_client.get(reverse("admin:calendly_sync_connection_change", args=[connection.pk]))
    text = connection_page.content.decode()
    assert f'<a href="{run_page(run)}">run #{run.pk}</a>' in text and "events 3, invitees 3, contacts created 3" in text
    assert len(brevo_sim.contacts) == 3

    # Finished: the button queues the next one.
    resp = admin_client.post(button, follow=True)
    assert "queued as" in messages_html(resp) and SyncRun.objects.count() == 2
    wait_until(lambda: not SyncRun.objects.filter(status__in=["queued", "running"]).exists(), what="the second job")


@pytest.mark.django_db
def test_a_failed_job_shows_a_readable_reason_on_its_page_and_its_connection(admin_client, connection, sims):
    from calendly_sync.sandbox.calendly import SANDBOX_TOKEN

    calendly_sim, _ = sims
    calendly_sim.expire_token(SANDBOX_TOKEN)
    admin_client.post(changelist(), {"action": "sync_now", "_selected_action": [connection.pk]})
    [(run_id, outcome)] = run_queued("test")
    assert outcome == "failed"
    run = SyncRun.objects.get(pk=run_id)
    assert run.error.startswith("Calendly") and "expired" in run.error
    assert "expired" in admin_client.get(run_page(run)).content.decode()
    connection.refresh_from_db()
    assert f"sync run #{run.pk} failed" in connection.last_error


@pytest.mark.django_db
def test_resync_is_a_job_too(admin_client, connection, sims, book):
    from calendly_sync.backfill import BackfillOptions, run_backfill

    _, brevo_sim = sims
    book("levi@example.com")
    run_backfill(connection, BackfillOptions())
    writes = brevo_sim.count(r"^POST /v3/contacts$")
    resp = admin_client.post(
        changelist(), {"action": "resync_contacts", "_selected_action": [connection.pk]}, follow=True
    )
    run = SyncRun.objects.get(trigger="resync")
    assert f'recompute and resend every contact queued as <a href="{run_page(run)}">' in messages_html(resp)
    assert brevo_sim.count(r"^POST /v3/contacts$") == writes  # nothing sent by the request
    assert Contact.objects.filter(dirty=True).count() == 0  # nor recomputed
    [(_, outcome)] = run_queued("test")
    assert outcome == "completed"
    run.refresh_from_db()
    assert run.counts["contacts_dirty"] == 1 and run.counts["contacts_updated"] == 1
    assert brevo_sim.count(r"^POST /v3/contacts$") == writes + 1


@pytest.mark.django_db
def test_a_view_only_user_sees_the_jobs_but_cannot_start_one(connection, sims):
    run = SyncRun.objects.create(connection=connection, status="completed", trigger="admin", counts={"events": 7})
    viewer = User.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.set(
        Permission.objects.filter(
            codename__in=["view_connection", "view_syncrun"], content_type__app_label="calendly_sync"
        )
    )
    client = Client()
    client.force_login(viewer)
    page = client.get(reverse("admin:calendly_sync_connection_change", args=[connection.pk])).content.decode()
    assert f"run #{run.pk}" in page and "events 7" in page
    assert "calendly-sync-now" not in page  # no button
    assert "events 7" in client.get(run_page(run)).content.decode()
    resp = client.post(reverse("admin:calendly_sync_connection_sync_now", args=[connection.pk]))
    assert resp.status_code == 403
    assert SyncRun.objects.count() == 1


@pytest.mark.django_db
def test_repairing_a_disabled_subscription_queues_its_gap_backfill_instead_of_running_it(
    admin_client, connection, sims, book, settings
):
    from calendly_sync.inbox.subscriptions import ensure_subscription

    calendly_sim, _ = sims
    settings.SITE_URL = "https://connector.example.com"
    ensure_subscription(connection)
    book("missed@example.com")
    calendly_sim.disable_subscription(next(iter(calendly_sim.subscriptions.values()))["uri"])
    resp = admin_client.post(
        changelist(), {"action": "register_webhooks", "_selected_action": [connection.pk]}, follow=True
    )
    run = SyncRun.objects.get()
    assert run.trigger == "gap-backfill" and run.status == "queued"
    assert f"queued as sync run #{run.pk}" in messages_html(resp)
    assert calendly_sim.count(r"^GET /scheduled_events$") == 0  # not in the request
