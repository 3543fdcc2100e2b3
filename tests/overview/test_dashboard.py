"""The overview page in the admin: staff only, every connection's items, the alerts, list names."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from calendly_sync.models import Alert, Connection, Contact, EventTypeMapping, WebhookDelivery

DASHBOARD = "/admin/calendly_sync/"


@pytest.fixture
def staff_client(client: Client, django_user_model) -> Client:
    user = django_user_model.objects.create_user("ops", password="pw", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


@pytest.fixture
def broken(db) -> Connection:
    conn = Connection.objects.create(
        name="sales",
        access_token="pat-secret-0001",
        brevo_api_key="xkeysib-secret-0002",
        status="active",
        webhook_subscription_uri="https://api.calendly.com/webhook_subscriptions/S",
        webhook_subscription_state="disabled",
        webhook_checked_at=timezone.now(),
        brevo_lists=[{"id": 10, "name": "Discovery leads"}, {"id": 11, "name": "Demo requests"}],
    )
    WebhookDelivery.objects.create(connection=conn, event="invitee.created", idempotency_key="f1", status="failed")
    return conn


def test_the_dashboard_is_staff_only(client, django_user_model, db):
    assert client.get(DASHBOARD).status_code == 302
    assert "/admin/login/" in client.get(DASHBOARD)["Location"]
    user = django_user_model.objects.create_user("nobody", password="pw", is_staff=False)
    client.force_login(user)
    response = client.get(DASHBOARD)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_dashboard_shows_each_item_its_verdict_fix_and_the_alerts(staff_client, broken):
    Alert.objects.create(
        connection=broken,
        key="subscription",
        title="Calendly webhook subscription disabled or missing",
        detail="disabled",
        action="Repair webhook subscription",
    )
    Alert.objects.create(
        connection=broken,
        key="backlog",
        title="Backlog older than the threshold",
        resolved_at=timezone.now() - timedelta(hours=1),
    )
    page = staff_client.get(DASHBOARD).content.decode()
    assert 'cs-verdict">red<' in page
    for label in (
        "Calendly token",
        "Scopes",
        "Webhook subscription",
        "Last delivery",
        "Signature rejections",
        "Deliveries",
        "Contacts to push",
        "Automation events",
        "Brevo API key",
        "429s",
        "Last sync run",
    ):
        assert label in page, label
    assert "Repair webhook subscription" in page
    assert "python manage.py calendly_webhooks ensure --connection sales" in page
    assert "Retry failed deliveries" in page
    assert f"/admin/calendly_sync/webhookdelivery/?connection__id__exact={broken.pk}&amp;status__exact=failed" in page
    assert 'id="open-alerts"' in page and "Calendly webhook subscription disabled or missing" in page
    assert 'id="resolved-alerts"' in page and "Backlog older than the threshold" in page
    assert "{# CHARTS #}" not in page  # the slot is a template comment
    assert "pat-secret-0001" not in page and "xkeysib-secret-0002" not in page


def test_the_dashboard_makes_no_network_call(staff_client, broken, settings):
    settings.CALENDLY_API_URL = "http://127.0.0.1:9"  # nothing listens: any call would fail or hang
    settings.BREVO_API_URL = "http://127.0.0.1:9"
    assert staff_client.get(DASHBOARD).status_code == 200


def test_the_admin_index_links_to_the_dashboard_and_hides_social_auth(staff_client, db):
    page = staff_client.get("/admin/").content.decode()
    assert f'href="{DASHBOARD}"' in page and "open the overview" in page
    assert "social_django" not in page and "User social auths" not in page
    assert staff_client.get("/admin/social_django/usersocialauth/").status_code == 404


def test_brevo_list_ids_show_with_their_names(staff_client, broken):
    Contact.objects.create(connection=broken, email="ada@example.com", list_ids=[10, 99])
    mapping = EventTypeMapping.objects.create(
        connection=broken, event_type_uri="https://api.calendly.com/event_types/E", list_ids=[11]
    )
    contacts = staff_client.get("/admin/calendly_sync/contact/").content.decode()
    assert "Discovery leads (#10), #99" in contacts
    contact = Contact.objects.get(email="ada@example.com")
    detail = staff_client.get(f"/admin/calendly_sync/contact/{contact.pk}/change/").content.decode()
    assert "Discovery leads (#10)" in detail
    mappings = staff_client.get("/admin/calendly_sync/eventtypemapping/").content.decode()
    assert "Demo requests (#11)" in mappings
    assert (
        "Demo requests (#11)"
        in staff_client.get(f"/admin/calendly_sync/eventtypemapping/{mapping.pk}/change/").content.decode()
    )
    conn_page = staff_client.get(f"/admin/calendly_sync/connection/{broken.pk}/change/").content.decode()
    assert "Default Brevo lists" in conn_page and "Discovery leads (#10)" in conn_page


def test_every_fix_link_on_the_dashboard_opens_a_page(staff_client, broken):
    """No fix is a dead link: each one answers a GET (a page, or the Connect flow's redirect)."""
    from calendly_sync.models import AutomationEvent, SyncRun
    from calendly_sync.overview import status

    Connection.objects.filter(pk=broken.pk).update(status="needs_reconnect", auth_kind="oauth", scopes="users:read")
    AutomationEvent.objects.create(connection=broken, key="e", email="a@example.com", event_name="x", status="failed")
    Contact.objects.create(connection=broken, email="b@example.com", dirty=True)
    Contact.objects.filter(email="b@example.com").update(updated_at=timezone.now() - timedelta(hours=3))
    SyncRun.objects.create(connection=broken, status="failed", error="boom")
    [health] = status.evaluate()
    urls = {item.action.url for item in health.items if item.action and item.action.url}
    assert len(urls) >= 5
    for url in urls:
        assert staff_client.get(url).status_code in (200, 302), url


def test_the_repair_button_registers_the_subscription(staff_client, connection, sims, settings):
    settings.SITE_URL = "https://connector.example.com"
    url = f"/admin/calendly_sync/connection/{connection.pk}/repair-webhooks/"
    page = staff_client.get(f"/admin/calendly_sync/connection/{connection.pk}/change/").content.decode()
    assert f'action="{url}"' in page and "Repair webhook subscription" in page
    assert staff_client.get(url).status_code == 405
    response = staff_client.post(url, follow=True)
    connection.refresh_from_db()
    assert connection.webhook_subscription_state == "active" and connection.webhook_subscription_uri
    assert "created organization-scope subscription" in response.content.decode()


def test_the_dashboard_shows_the_30_day_charts_with_their_figures(staff_client, broken):
    from calendly_sync.models import Booking

    created = timezone.now() - timedelta(days=2)
    for n in range(3):
        Booking.objects.create(
            connection=broken,
            invitee_uri=f"https://api.calendly.com/invitees/chart-{n}",
            email=f"chart{n}@example.com",
            invitee_created_at=created,
        )

    html = staff_client.get(DASHBOARD).content.decode()

    assert "The last 30 days" in html
    assert html.count('role="img"') == 3  # bookings per day, deliveries per hour, latency
    assert "Bookings 3;" in html  # the bookings chart's description counts what the window holds
