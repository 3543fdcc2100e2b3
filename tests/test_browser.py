"""The admin in a real browser: Connect Calendly → consent on the simulator → mapping → webhook.

Playwright for Python drives Debian's Chromium (``/usr/bin/chromium``; no ``playwright install``)
against pytest-django's ``live_server`` and the Calendly/Brevo simulators. A screenshot of every
step goes to ``artifacts/screenshots/NN-step.png``.

Without Chromium the test is skipped with the reason, unless ``CONNECTOR_REQUIRE_BROWSER=1`` (CI
sets it), where it fails instead.
"""

from __future__ import annotations

import re

import pytest
import requests

from calendly_sync.models import Connection, EventTypeMapping, WebhookDelivery
from calendly_sync.sandbox.brevo import SANDBOX_API_KEY
from calendly_sync.sandbox.calendly import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_WEBHOOK_SIGNING_KEY,
)
from calendly_sync.sandbox.signing import build_delivery
from tests.browser import Shots, browser_missing, page_fixture, sign_in_to_admin

pytestmark = pytest.mark.browser

SIGNING_KEY = "browser-test-signing-key-0001"

page = page_fixture()


@pytest.mark.django_db(transaction=True)
def test_connect_map_and_receive_a_webhook_in_the_admin(
    page, live_server, sims, settings, event_types, django_user_model
):
    if isinstance(page, str):
        browser_missing(page)  # a failure under CONNECTOR_REQUIRE_BROWSER=1, else a skip
    calendly_sim, _ = sims
    base = live_server.url
    settings.SITE_URL = base
    settings.CALENDLY_CLIENT_ID = SANDBOX_CLIENT_ID
    settings.CALENDLY_CLIENT_SECRET = SANDBOX_CLIENT_SECRET
    settings.BREVO_API_KEY = SANDBOX_API_KEY
    calendly_sim.register_oauth_client(
        SANDBOX_CLIENT_ID,
        SANDBOX_CLIENT_SECRET,
        redirect_uris=[f"{base}/oauth/complete/calendly/"],
        webhook_signing_key=SANDBOX_WEBHOOK_SIGNING_KEY,
    )
    shot = Shots(page)

    # 1. Sign in to the admin.
    sign_in_to_admin(page, base, django_user_model, before_submit=lambda: shot("admin-login"))

    # 2. The Connections page has the button.
    page.goto(f"{base}/admin/calendly_sync/connection/")
    shot("connections-before")
    page.click("text=Connect Calendly")

    # 3. Calendly's (simulated) consent page.
    page.wait_for_url(re.compile(re.escape(calendly_sim.url) + r"/oauth/authorize\?"))
    assert "wants to access your Calendly account" in page.content()
    assert "webhooks:write" in page.inner_text("ul")
    shot("calendly-consent")
    page.click("button[value=approve]")

    # 4. Back on the new connection's admin page: user, organization, scopes and expiry shown.
    page.wait_for_url(re.compile(re.escape(base) + r"/admin/calendly_sync/connection/\d+/change/"))
    conn = Connection.objects.get()
    text = page.inner_text("#content")
    assert conn.status == Connection.Status.ACTIVE and conn.access_token
    assert "Connected Calendly account Avery Admin" in page.inner_text(".messagelist")
    assert "Avery Admin" in text and "avery.admin@acme-sales.example" in text
    assert conn.calendly_organization_uri in text
    assert "users:read event_types:read scheduled_events:read webhooks:write" in text
    assert page.inner_text(".field-token_expires_at .readonly").strip() not in ("", "-")
    shot("connected")

    # 5. Pick an event type and a Brevo list from the loaded choices; set a signing key; save.
    page.click("#event_type_mappings-group .add-row a")
    page.fill("input[name='event_type_mappings-0-key']", "discovery_call")
    page.select_option("select[name='event_type_mappings-0-event_type_uri']", label="Discovery Call")
    page.select_option("select[name='event_type_mappings-0-list_ids']", label=["Discovery calls (#10)"])
    page.fill("#id_webhook_signing_key", SIGNING_KEY)
    shot("mapping-picked")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    shot("mapping-saved")
    mapping = EventTypeMapping.objects.get()
    assert mapping.event_type_uri == event_types["discovery"]["uri"]
    assert mapping.event_type_name == "Discovery Call" and mapping.list_ids == [10]
    conn.refresh_from_db()
    assert conn.webhook_signing_key == SIGNING_KEY and conn.access_token  # the tokens survived the save

    # 6. A signed delivery reaches the webhook endpoint and shows up in the admin.
    from tests.conftest import in_days

    inv = calendly_sim.book(
        event_types["discovery"]["uri"],
        "browser.invitee@example.com",
        "Browser Invitee",
        in_days(2),
        fire_webhooks=False,
    )
    payload = calendly_sim.render(calendly_sim._invitee_payload(calendly_sim.invitees[inv["uri"].rsplit("/", 1)[-1]]))
    body, headers = build_delivery("invitee.created", payload, calendly_sim.admin["uri"], SIGNING_KEY)
    resp = requests.post(f"{base}/webhooks/calendly/{conn.pk}/", data=body, headers=headers, timeout=10)
    assert resp.status_code == 200, resp.text
    assert WebhookDelivery.objects.filter(connection=conn, email="browser.invitee@example.com").exists()
    page.goto(f"{base}/admin/calendly_sync/webhookdelivery/")
    assert "browser.invitee@example.com" in page.inner_text("#result_list")
    assert "invitee.created" in page.inner_text("#result_list")
    final = shot("webhook-deliveries")
    print(f"final screenshot: {final}")
