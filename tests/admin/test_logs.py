"""The read-only admins (bookings, contacts, logs): filters that answer questions, actions that retry work."""

from __future__ import annotations

import pytest
from django.urls import reverse

from calendly_sync.models import WebhookDelivery

pytestmark = pytest.mark.django_db


def test_filters_answer_operator_questions(admin_client, populated):
    resp = admin_client.get(reverse("admin:calendly_sync_webhookdelivery_changelist"), {"status__exact": "pending"})
    assert resp.status_code == 200 and "levi@example.com" in resp.content.decode()
    resp = admin_client.get(reverse("admin:calendly_sync_contact_changelist"), {"dirty__exact": "1"})
    assert resp.status_code == 200 and "levi@example.com" in resp.content.decode()


def test_delivery_actions_reprocess_and_mark_ignored(admin_client, populated):
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=10, last_error="boom")
    url = reverse("admin:calendly_sync_webhookdelivery_changelist")
    resp = admin_client.post(url, {"action": "reprocess", "_selected_action": [delivery.pk]}, follow=True)
    assert resp.status_code == 200 and "queued for processing" in resp.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempts == 0 and delivery.last_error == ""
    resp = admin_client.post(url, {"action": "mark_ignored", "_selected_action": [delivery.pk]}, follow=True)
    delivery.refresh_from_db()
    assert delivery.status == "ignored" and "marked ignored" in resp.content.decode()
