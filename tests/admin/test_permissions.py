"""State-changing admin actions need the change permission: a view-only staff user only looks."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from calendly_sync.models import AutomationEvent, Connection, WebhookDelivery

pytestmark = pytest.mark.django_db

ACTIONS = [
    ("connection", "reload_catalog"),
    ("connection", "disconnect_calendly"),
    ("connection", "check_connection"),
    ("connection", "sync_now"),
    ("connection", "register_webhooks"),
    ("connection", "resync_contacts"),
    ("contact", "push_now"),
    ("webhookdelivery", "reprocess"),
    ("webhookdelivery", "mark_ignored"),
    ("automationevent", "requeue"),
    ("automationevent", "confirm_sent"),
]


def staff(codenames: list[str]) -> Client:
    user = User.objects.create_user("operator-" + "-".join(sorted(codenames))[:100], password="x", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="calendly_sync", codename__in=codenames)
    )
    client = Client()
    client.force_login(user)
    return client


def offered(client: Client, model: str) -> set[str]:
    resp = client.get(reverse(f"admin:calendly_sync_{model}_changelist"))
    assert resp.status_code == 200
    form = resp.context["action_form"]  # None when no action is offered at all
    return set() if form is None else {name for name, _ in form.fields["action"].choices if name}


@pytest.mark.parametrize("model,action", ACTIONS)
def test_a_view_only_user_is_not_offered_the_action(populated, model, action):
    viewer = staff([f"view_{m}" for m in {m for m, _ in ACTIONS}])
    assert action not in offered(viewer, model)
    editor = staff([f"view_{model}", f"change_{model}"])
    assert action in offered(editor, model)


def test_a_view_only_user_cannot_run_an_action_by_posting_it(populated):
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=10)
    viewer = staff(["view_webhookdelivery", "view_connection"])
    url = reverse("admin:calendly_sync_webhookdelivery_changelist")
    viewer.post(url, {"action": "reprocess", "_selected_action": [delivery.pk]})
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 10)
    event = AutomationEvent.objects.get()
    AutomationEvent.objects.filter(pk=event.pk).update(status="failed", attempts=40)
    viewer = staff(["view_automationevent"])
    viewer.post(
        reverse("admin:calendly_sync_automationevent_changelist"),
        {"action": "requeue", "_selected_action": [event.pk]},
    )
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("failed", 40)
    AutomationEvent.objects.filter(pk=event.pk).update(status="unconfirmed")
    viewer.post(
        reverse("admin:calendly_sync_automationevent_changelist"),
        {"action": "confirm_sent", "_selected_action": [event.pk]},
    )
    event.refresh_from_db()
    assert event.status == "unconfirmed"
    conn = Connection.objects.get()
    viewer.post(
        reverse("admin:calendly_sync_connection_changelist"),
        {"action": "disconnect_calendly", "_selected_action": [conn.pk]},
    )
    conn.refresh_from_db()
    assert conn.access_token and conn.refresh_token  # not revoked, not deleted
