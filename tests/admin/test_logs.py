"""The read-only admins (bookings, contacts, logs): filters that answer questions, actions that retry work."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from calendly_sync.models import AutomationEvent, WebhookDelivery

pytestmark = pytest.mark.django_db


def test_filters_answer_operator_questions(admin_client, populated):
    resp = admin_client.get(reverse("admin:calendly_sync_webhookdelivery_changelist"), {"status__exact": "pending"})
    assert resp.status_code == 200 and "levi@example.com" in resp.content.decode()
    resp = admin_client.get(reverse("admin:calendly_sync_contact_changelist"), {"dirty__exact": "1"})
    assert resp.status_code == 200 and "levi@example.com" in resp.content.decode()


def test_delivery_actions_reprocess_and_mark_ignored(admin_client, populated):
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status="failed", attempts=10, last_error="boom", first_failed_at=timezone.now() - timedelta(hours=72)
    )
    url = reverse("admin:calendly_sync_webhookdelivery_changelist")
    resp = admin_client.post(url, {"action": "reprocess", "_selected_action": [delivery.pk]}, follow=True)
    assert resp.status_code == 200 and "queued for processing" in resp.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempts == 0 and delivery.last_error == ""
    assert delivery.first_failed_at is None  # a fresh retry horizon
    resp = admin_client.post(url, {"action": "mark_ignored", "_selected_action": [delivery.pk]}, follow=True)
    delivery.refresh_from_db()
    assert delivery.status == "ignored" and "marked ignored" in resp.content.decode()


def test_forget_asks_first_then_erases_the_selected_people(client, connection, sims, book):
    """The contacts' "Forget" action: a confirmation page, then forget_invitee on each contact's connection."""
    from django.contrib.auth.models import Permission, User
    from django.core.management import call_command

    from calendly_sync.models import Contact, Suppression
    from tests.privacy.test_erasure import holding

    _, brevo_sim = sims
    book("levi@example.com")
    book("ana@example.com")
    call_command("sync_calendly")
    levi = Contact.objects.get(email="levi@example.com")
    user = User.objects.create_user("operator", password="x", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            codename__in=["view_contact", "change_contact"], content_type__app_label="calendly_sync"
        )
    )
    client.force_login(user)
    url = reverse("admin:calendly_sync_contact_changelist")
    resp = client.get(url)
    assert "forget" not in {name for name, _ in resp.context["action_form"].fields["action"].choices}
    user.user_permissions.add(Permission.objects.get(codename="delete_contact"))

    page = client.post(url, {"action": "forget", "_selected_action": [levi.pk]})
    assert page.status_code == 200 and "Forget these people?" in page.content.decode()
    assert "levi@example.com" in page.content.decode() and holding("levi@example.com")  # nothing done yet

    done = client.post(
        url, {"action": "forget", "_selected_action": [levi.pk], "confirm": "yes", "brevo": "delete"}, follow=True
    )
    assert done.status_code == 200
    [message] = [str(m) for m in done.context["messages"]]
    assert "erasure " in message and "Brevo (default): contact deleted" in message and "levi" not in message
    assert holding("levi@example.com") == []
    assert brevo_sim.get_contact("levi@example.com") is None and brevo_sim.get_contact("ana@example.com")
    assert Suppression.objects.get().connection == connection


def test_forget_reports_a_contact_that_is_no_address(admin_client, populated):
    from calendly_sync.models import Contact

    broken = Contact.objects.create(connection=populated, email="no-address-here")
    url = reverse("admin:calendly_sync_contact_changelist")
    resp = admin_client.post(
        url, {"action": "forget", "_selected_action": [broken.pk], "confirm": "yes", "brevo": "keep"}, follow=True
    )
    assert resp.status_code == 200 and "Not an email address" in resp.content.decode()
    assert Contact.objects.filter(pk=broken.pk).exists()


def test_event_action_requeue_takes_failed_and_unconfirmed_events_with_a_fresh_horizon(admin_client, populated):
    """Failed (past the horizon, or refused) and unconfirmed (answer lost) events go back to pending."""
    first = AutomationEvent.objects.get()
    AutomationEvent.objects.filter(pk=first.pk).update(
        status="failed",
        attempts=97,
        last_error="gave up after 97 attempts over 72 h: Brevo POST /events -> 503",
        first_failed_at=timezone.now() - timedelta(hours=72),
    )
    unconfirmed = AutomationEvent.objects.create(
        connection=populated, key="a2", email="levi@example.com", event_name="calendly_no_show", status="unconfirmed"
    )
    sent = AutomationEvent.objects.create(
        connection=populated, key="a3", email="levi@example.com", event_name="calendly_booking_canceled", status="sent"
    )
    url = reverse("admin:calendly_sync_automationevent_changelist")
    resp = admin_client.get(url, {"status__exact": "unconfirmed"})
    assert resp.status_code == 200 and "calendly_no_show" in resp.content.decode()
    resp = admin_client.post(
        url, {"action": "requeue", "_selected_action": [first.pk, unconfirmed.pk, sent.pk]}, follow=True
    )
    page = resp.content.decode()
    assert resp.status_code == 200 and "2 events queued" in page and "1 neither failed nor unconfirmed" in page
    rows = {e.pk: e for e in AutomationEvent.objects.all()}
    for pk in (first.pk, unconfirmed.pk):
        assert (rows[pk].status, rows[pk].attempts, rows[pk].first_failed_at, rows[pk].last_error) == (
            "pending",
            0,
            None,
            "",
        )
    assert rows[sent.pk].status == "sent"


def test_event_action_confirm_sent_takes_only_unconfirmed_events(admin_client, populated):
    """The operator found it in Brevo: marked sent, so nothing ever sends it again."""
    pending = AutomationEvent.objects.get()
    unconfirmed = AutomationEvent.objects.create(
        connection=populated,
        key="a2",
        email="levi@example.com",
        event_name="calendly_no_show",
        status="unconfirmed",
        last_error="Brevo POST /events: ReadTimeout after the request was sent",
    )
    url = reverse("admin:calendly_sync_automationevent_changelist")
    resp = admin_client.post(
        url, {"action": "confirm_sent", "_selected_action": [pending.pk, unconfirmed.pk]}, follow=True
    )
    assert resp.status_code == 200 and "1 unconfirmed events marked sent" in resp.content.decode()
    unconfirmed.refresh_from_db()
    pending.refresh_from_db()
    assert (unconfirmed.status, unconfirmed.last_error) == ("sent", "found in Brevo by an operator")
    assert pending.status == "pending"


def test_forgetting_a_held_number_sends_it_to_its_owner_again(admin_client, populated):
    from calendly_sync.models import Booking, Connection, Contact, FieldMapping, HeldNumber
    from calendly_sync.sync.projection import refresh_all_contacts

    conn = Connection.objects.get()
    FieldMapping.objects.create(connection=conn, source="question:phone", attribute="SMS", attribute_type="phone")
    Booking.objects.update(
        questions_and_answers=[{"question": "Phone number", "answer": "+14045550101", "position": 0}],
        invitee_created_at="2026-09-01T10:00:00Z",
    )
    held = HeldNumber.objects.create(connection=conn, number="+14045550101", holder="frontdesk@outside.example")
    refresh_all_contacts(conn)
    assert "SMS" not in Contact.objects.get(email="levi@example.com").attributes
    Contact.objects.update(dirty=False)
    url = reverse("admin:calendly_sync_heldnumber_changelist")
    resp = admin_client.get(url)
    assert resp.status_code == 200 and "frontdesk@outside.example" in resp.content.decode()
    resp = admin_client.post(url, {"action": "forget", "_selected_action": [held.pk]}, follow=True)
    assert "1 number(s) forgotten" in resp.content.decode()
    levi = Contact.objects.get(email="levi@example.com")
    assert not HeldNumber.objects.exists() and levi.attributes["SMS"] == "+14045550101" and levi.dirty


def test_booking_links_action_asks_which_list_then_writes_links_for_the_selected_contacts(
    client, connection, sims, book
):
    """The contacts' booking-links action: needs the change permission; a form, then links for the selection."""
    from django.contrib.auth.models import Permission, User
    from django.core.management import call_command

    from calendly_sync.models import BookingLink, Contact

    calendly_sim, brevo_sim = sims
    book("levi@example.com")
    book("ana@example.com")
    call_command("sync_calendly")
    assert 10 in brevo_sim.get_contact("levi@example.com")["listIds"]
    levi = Contact.objects.get(email="levi@example.com")
    user = User.objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename="view_contact"))
    client.force_login(user)
    url = reverse("admin:calendly_sync_contact_changelist")
    form = client.get(url).context["action_form"]
    assert form is None or "booking_links" not in {name for name, _ in form.fields["action"].choices}
    refused = client.post(url, {"action": "booking_links", "_selected_action": [levi.pk], "confirm": "yes"})
    assert refused.status_code in (200, 302) and not BookingLink.objects.exists()
    user.user_permissions.add(Permission.objects.get(codename="change_contact"))

    page = client.post(url, {"action": "booking_links", "_selected_action": [levi.pk]})
    assert page.status_code == 200 and "Write booking links to Brevo" in page.content.decode()
    assert not BookingLink.objects.exists()
    wrong = client.post(
        url,
        {
            "action": "booking_links",
            "_selected_action": [levi.pk],
            "confirm": "yes",
            "list_id": "10",
            "event_type": "x",
        },
    )
    assert wrong.status_code == 200 and "no event type &#x27;x&#x27;" in wrong.content.decode()

    done = client.post(
        url,
        {
            "action": "booking_links",
            "_selected_action": [levi.pk],
            "confirm": "yes",
            "list_id": "10",
            "event_type": "Discovery Call",
        },
        follow=True,
    )
    [message] = [str(m) for m in done.context["messages"]]
    assert "1 contacts, created 1 booking links for 'Discovery Call' in BOOKING_LINK" in message
    link = BookingLink.objects.get()
    assert link.email == "levi@example.com" and link.url.startswith(calendly_sim.scheduling_links[0]["booking_url"])
    assert brevo_sim.get_contact("levi@example.com")["attributes"]["BOOKING_LINK"] == link.url
    assert "BOOKING_LINK" not in brevo_sim.get_contact("ana@example.com")["attributes"]
