"""The overview dashboard in a real browser: a connection in trouble, its red items and their fixes.

Same pattern as ``tests/test_browser.py`` (Debian's Chromium through Playwright, against
pytest-django's ``live_server``; the shared parts in ``tests/browser.py``). Screenshots go to
``artifacts/screenshots/dashboard-NN-step.png``.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from calendly_sync import instruments
from calendly_sync.models import (
    Alert,
    AutomationEvent,
    Connection,
    Contact,
    EventTypeMapping,
    SyncRun,
    WebhookDelivery,
)
from calendly_sync.overview import alerts
from tests.browser import Shots, browser_missing, page_fixture, sign_in_to_admin

pytestmark = pytest.mark.browser

LISTS = [
    {"id": 10, "name": "Discovery calls", "folderId": 1, "totalSubscribers": 312},
    {"id": 11, "name": "Product demos", "folderId": 1, "totalSubscribers": 87},
]


page = page_fixture("dashboard-")


def populate() -> tuple[Connection, Connection]:
    """Two connections: "sales" in trouble (subscription disabled, failed deliveries, a Brevo 429
    backlog), "support" healthy; their alerts evaluated (one already resolved)."""
    now = timezone.now()
    sales = Connection.objects.create(
        name="sales",
        auth_kind="oauth",
        access_token="oauth-access-token-0001",
        refresh_token="oauth-refresh-token-0002",
        token_expires_at=now + timedelta(minutes=95),
        scopes="users:read event_types:read scheduled_events:read webhooks:write",
        brevo_api_key="xkeysib-browser-0003",
        status="active",
        calendly_user_name="Avery Admin",
        webhook_subscription_uri="https://api.calendly.com/webhook_subscriptions/SALES",
        webhook_subscription_state="disabled",
        webhook_checked_at=now - timedelta(minutes=12),
        last_delivery_at=now - timedelta(hours=26),
        brevo_lists=LISTS,
        catalog_loaded_at=now,
    )
    support = Connection.objects.create(
        name="support",
        access_token="pat-browser-0004",
        brevo_api_key="xkeysib-browser-0005",
        status="active",
        webhook_subscription_uri="https://api.calendly.com/webhook_subscriptions/SUPPORT",
        webhook_subscription_state="active",
        webhook_checked_at=now - timedelta(minutes=3),
        last_delivery_at=now - timedelta(minutes=4),
        brevo_lists=LISTS,
        catalog_loaded_at=now,
    )
    EventTypeMapping.objects.create(
        connection=sales, key="discovery_call", event_type_uri="https://api.calendly.com/event_types/D", list_ids=[10]
    )
    for n in range(3):
        WebhookDelivery.objects.create(
            connection=sales,
            event="invitee.created",
            idempotency_key=f"failed-{n}",
            status="failed",
            attempts=12,
            last_error="Brevo refused the contact: invalid_parameter (attributes.SMS)",
            email=f"guest{n}@example.com",
            payload={"event": "invitee.created", "payload": {"email": f"guest{n}@example.com"}},
            received_at=now - timedelta(minutes=20 - n),
        )
    for n in range(4):
        WebhookDelivery.objects.create(
            connection=support, event="invitee.created", idempotency_key=f"ok-{n}", status="processed"
        )
    Contact.objects.create(connection=sales, email="ada@example.com", list_ids=[10, 11], dirty=True)
    Contact.objects.create(connection=support, email="grace@example.com", list_ids=[11], dirty=False)
    AutomationEvent.objects.create(
        connection=support, key="e1", email="grace@example.com", event_name="x", status="sent"
    )
    SyncRun.objects.create(connection=sales, status="failed", error="Calendly answered 500", finished_at=now)
    SyncRun.objects.create(connection=support, status="completed", finished_at=now - timedelta(hours=3))
    Alert.objects.create(
        connection=support,
        key="backlog",
        title="Backlog older than the threshold",
        opened_at=now - timedelta(days=1, hours=2),
        resolved_at=now - timedelta(days=1),
        pending=False,
    )
    alerts.evaluate()
    return sales, support


@pytest.mark.django_db(transaction=True)
def test_the_dashboard_shows_a_red_item_and_its_fix_works(page, live_server, settings, django_user_model):
    if isinstance(page, str):
        browser_missing(page)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.ALERT_EMAILS = ["ops@example.com"]
    settings.SITE_URL = live_server.url
    settings.CALENDLY_API_URL = settings.BREVO_API_URL = "http://127.0.0.1:9"  # the page calls neither
    instruments.forget_rate_limits()  # 429s earlier tests of this process met are not this dashboard's
    sales, support = populate()
    assert {a.key for a in Alert.objects.filter(resolved_at__isnull=True)} == {"subscription", "deliveries_failing"}
    assert len(mail.outbox) == 2
    base = live_server.url
    shot = Shots(page, "dashboard-")

    # 1. Sign in: the admin index leads to the overview.
    sign_in_to_admin(page, base, django_user_model)
    assert "social" not in page.inner_text("#content-main").lower()
    shot("admin-index")
    page.click("a.calendly-overview-link-a")
    page.wait_for_url(f"{base}/admin/calendly_sync/")

    # 2. The overview: open alerts first, then each connection's items with a verdict.
    alerts_box = page.inner_text("#open-alerts")
    assert "sales: Calendly webhook subscription disabled or missing" in alerts_box
    assert "sales: Deliveries keep failing" in alerts_box
    assert page.inner_text(f"#connection-{sales.pk} .cs-verdict").lower() == "red"
    assert page.inner_text(f"#connection-{support.pk} .cs-verdict").lower() == "green"
    subscription = page.inner_text(f"#connection-{sales.pk} .cs-item-subscription")
    assert "disabled by Calendly" in subscription and "Repair webhook subscription" in subscription
    assert "python manage.py calendly_webhooks ensure --connection sales" in subscription
    deliveries = page.locator(f"#connection-{sales.pk} .cs-item-deliveries")
    assert "red" in deliveries.get_attribute("class") and "3 failed" in deliveries.inner_text()
    assert "Backlog older than the threshold" in page.inner_text("#resolved-alerts")
    shot("overview")

    # 3. Follow the red item's fix: the failed deliveries, filtered; retry them.
    deliveries.locator("a.cs-fix-link").click()
    page.wait_for_url(re.compile(re.escape(base) + r"/admin/calendly_sync/webhookdelivery/\?.*status__exact=failed"))
    assert page.locator("#result_list tbody tr").count() == 3
    shot("failed-deliveries")
    page.check("#action-toggle")
    page.select_option("select[name=action]", "reprocess")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist .success, .messagelist .info")
    assert WebhookDelivery.objects.filter(connection=sales, status="failed").count() == 0
    shot("retried")

    # 4. Back on the overview: the deliveries wait again (no longer red); the alert resolves.
    alerts.evaluate()
    page.goto(f"{base}/admin/calendly_sync/")
    assert "red" not in page.locator(f"#connection-{sales.pk} .cs-item-deliveries").get_attribute("class")
    assert "Deliveries keep failing" not in page.inner_text("#open-alerts")
    assert "Deliveries keep failing" in page.inner_text("#resolved-alerts")
    assert mail.outbox[-1].subject == "[calendly-sync] RESOLVED on sales: Deliveries keep failing"

    # 5. Brevo list ids carry their names on the contacts page.
    page.goto(f"{base}/admin/calendly_sync/contact/")
    assert "Discovery calls (#10), Product demos (#11)" in page.inner_text("#result_list")
    shot("contacts-list-names")
    page.goto(f"{base}/admin/calendly_sync/")
    final = shot("overview-after-fix")
    print(f"final screenshot: {final}")
