"""The connection's status tells the truth: it follows the last real check or success, and clears.

A new user saw "Not checked yet" after setup and nine processed webhooks, and "Error" long after
Brevo accepted the key again. These tests pin the two transitions that were missing.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from calendly_sync.inbox.deliveries import process_delivery
from calendly_sync.models import Connection, WebhookDelivery
from calendly_sync.sandbox.httpbase import Fault
from tests.fixtures_webhooks import deliver

pytestmark = pytest.mark.django_db


def process_all() -> None:
    for pk in WebhookDelivery.objects.filter(status="pending").values_list("pk", flat=True):
        process_delivery(pk)


def status(connection: Connection) -> str:
    return Connection.objects.values_list("status", flat=True).get(pk=connection.pk)


def test_a_processed_delivery_makes_a_new_connection_active(client, connection, sims, book, outbox):
    assert status(connection) == Connection.Status.NEW
    book("levi@example.com", fire_webhooks=True)
    deliver(client, connection, outbox[-1])
    process_all()
    assert WebhookDelivery.objects.get().status == "processed"
    assert status(connection) == Connection.Status.ACTIVE


def test_registering_webhooks_makes_a_new_connection_active(connection, sims, settings):
    settings.SITE_URL = "https://connector.example.com"
    call_command("calendly_webhooks", "ensure", stdout=io.StringIO(), stderr=io.StringIO())
    assert status(connection) == Connection.Status.ACTIVE


def test_a_rejected_brevo_key_is_an_error_until_brevo_accepts_it_again(client, connection, sims, book, outbox):
    _, brevo_sim = sims
    book("levi@example.com", fire_webhooks=True)
    book("ada@example.com", fire_webhooks=True)
    first, second = outbox[-2], outbox[-1]

    brevo_sim.inject(Fault("status", route=r"^POST /v3/", status=401, times=None))
    deliver(client, connection, first)
    process_all()
    assert status(connection) == Connection.Status.ERROR
    assert "Brevo rejected the API key" in Connection.objects.get(pk=connection.pk).last_error

    brevo_sim.clear_faults()  # the operator fixed the key at Brevo
    deliver(client, connection, second)
    process_all()
    assert status(connection) == Connection.Status.ACTIVE


def test_a_calendly_success_does_not_hide_a_brevo_error(connection, sims, settings):
    connection.record_error("Brevo rejected the API key: Key not found", Connection.Status.ERROR)
    settings.SITE_URL = "https://connector.example.com"
    call_command("calendly_webhooks", "ensure", stdout=io.StringIO(), stderr=io.StringIO())
    assert status(connection) == Connection.Status.ERROR  # the cause (Brevo's key) is not gone
