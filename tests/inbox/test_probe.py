"""The admin's "Send a test booking" (inbox/probe.py and the Connection admin's action).

A signed synthetic ``invitee.created`` goes over real HTTP to the connector's own endpoint (a live
server), the embedded worker applies it and the simulated Brevo gets the contact; nothing is
booked in the simulated Calendly. Every way it can fail is an error message, never a 5xx.
"""

from __future__ import annotations

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from calendly_sync.inbox.probe import WAIT_FOR_APPLY, ProbeError, send_test_booking, synthetic_invitee_created
from calendly_sync.models import Booking, Connection, Contact, WebhookDelivery
from calendly_sync.sync.observations import observe_invitee
from tests.fixtures_servers import free_port

CHANGELIST = "admin:calendly_sync_connection_changelist"


def run_action(admin_client: Any, conn: Connection, host: str) -> tuple[Any, list[str]]:
    resp = admin_client.post(
        reverse(CHANGELIST),
        {"action": "send_test_booking", "_selected_action": [conn.pk]},
        HTTP_HOST=host,
    )
    return resp, [str(m) for m in get_messages(resp.wsgi_request)]


@pytest.fixture
def worker(settings: Any) -> Any:
    from calendly_sync.runtime.worker import embedded_worker

    settings.CELERY_BROKER_URL = None
    settings.CONNECTOR_EMBEDDED_WORKER = True
    w = embedded_worker()
    yield w
    w.stop()


def test_the_synthetic_delivery_reads_as_a_booking_of_the_first_mapped_event_type(connection: Connection) -> None:
    envelope = synthetic_invitee_created(connection, "test+abc@example.com")
    assert envelope["event"] == "invitee.created"
    obs = observe_invitee(envelope["payload"], event_name="invitee.created")
    mapping = connection.event_type_mappings.order_by("pk").first()
    assert mapping is not None
    assert (obs.email, obs.status, obs.event_type_uri) == ("test+abc@example.com", "active", mapping.event_type_uri)
    assert obs.name == "Test Booking" and not obs.warnings


@pytest.mark.django_db(transaction=True)
def test_a_test_booking_reaches_brevo_through_the_own_endpoint(
    admin_client: Any, connection: Connection, sims: tuple[Any, Any], live_server: Any, worker: Any
) -> None:
    calendly_sim, brevo_sim = sims
    invitees_before = len(calendly_sim.invitees)
    resp, shown = run_action(admin_client, connection, urlsplit(live_server.url).netloc)
    assert resp.status_code == 302
    assert len(shown) == 1, shown
    text = shown[0]
    email = re.search(r"test\+[0-9a-f]{8}@example\.com", text)
    assert email, text
    delivery = WebhookDelivery.objects.get(email=email.group(0))
    contact = Contact.objects.get(connection=connection, email=email.group(0))
    assert delivery.status == "processed"
    assert f"sent to {live_server.url}/webhooks/calendly/{connection.pk}/ (200)" in text
    assert reverse("admin:calendly_sync_webhookdelivery_change", args=[delivery.pk]) in text
    assert f"delivery #{delivery.pk}</a> processed" in text
    assert reverse("admin:calendly_sync_contact_change", args=[contact.pk]) in text
    assert re.search(r"Brevo: upsert 20[14] ok", text), text
    # The contact is in Brevo, in the first mapping's list; no meeting was booked in Calendly.
    in_brevo = brevo_sim.get_contact(email.group(0))
    assert in_brevo is not None and 10 in in_brevo["listIds"]
    assert in_brevo["attributes"]["FIRSTNAME"] == "Test"
    assert len(calendly_sim.invitees) == invitees_before
    assert Booking.objects.get(email=email.group(0)).status == "active"


@pytest.mark.django_db(transaction=True)
def test_a_disabled_connection_says_its_test_booking_was_ignored(
    admin_client: Any, connection: Connection, live_server: Any
) -> None:
    """Acknowledged (Calendly must not drop the subscription) but never applied: said at once, not after a wait."""
    Connection.objects.filter(pk=connection.pk).update(enabled=False)
    started = time.monotonic()
    resp, shown = run_action(admin_client, connection, urlsplit(live_server.url).netloc)
    assert resp.status_code == 302 and time.monotonic() - started < WAIT_FOR_APPLY
    delivery = WebhookDelivery.objects.get()
    assert shown[0].endswith(f"delivery #{delivery.pk}</a> was ignored: connection is disabled"), shown
    assert not Contact.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_endpoint_is_an_error_message_not_a_5xx(admin_client: Any, connection: Connection) -> None:
    port = free_port()  # nothing listens there
    resp, shown = run_action(admin_client, connection, f"127.0.0.1:{port}")
    assert resp.status_code == 302
    assert shown == [
        f"default: test booking not delivered: could not reach http://127.0.0.1:{port}/webhooks/calendly/"
        f"{connection.pk}/ (ConnectionError): the connector's own webhook endpoint does not answer from the "
        "server at this address (a single-threaded server cannot answer itself: run gunicorn with the shipped "
        "deploy/gunicorn.conf.py). Calendly needs it reachable at the connection's webhook URL."
    ]
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_a_connection_without_a_signing_key_is_told_to_register_the_subscription(
    admin_client: Any, connection: Connection
) -> None:
    Connection.objects.filter(pk=connection.pk).update(webhook_signing_key="")
    resp, shown = run_action(admin_client, connection, "127.0.0.1")
    assert resp.status_code == 302
    assert shown == [
        "default: test booking not delivered: this connection has no webhook signing key yet: register the webhook "
        "subscription first (action 'Register (or repair) the Calendly webhook subscription'), or set "
        "CALENDLY_WEBHOOK_SIGNING_KEY."
    ]


@pytest.mark.django_db(transaction=True)
def test_a_refused_signature_is_reported(connection: Connection, live_server: Any) -> None:
    stale = Connection.objects.get(pk=connection.pk)
    stale.webhook_signing_key = "not-the-stored-key"  # in memory only: the endpoint verifies with the stored one
    with pytest.raises(ProbeError, match=r"answered 401: Invalid signature: signature mismatch\.$"):
        send_test_booking(stale, live_server.url, wait=0)
    assert not WebhookDelivery.objects.exists()


class Redirecting(BaseHTTPRequestHandler):
    """A proxy redirecting plain HTTP to HTTPS (what SECURE_SSL_REDIRECT does without SECURE_PROXY_SSL_HEADER)."""

    def do_POST(self) -> None:
        self.send_response(301)
        self.send_header("Location", f"https://connector.example.com{self.path}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.django_db
def test_a_redirect_is_reported_with_its_cure(connection: Connection) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(ProbeError) as caught:
            send_test_booking(connection, f"http://127.0.0.1:{server.server_port}", wait=0)
    finally:
        server.shutdown()
        server.server_close()
    assert str(caught.value) == (
        f"http://127.0.0.1:{server.server_port}/webhooks/calendly/{connection.pk}/ answered 301 redirecting to "
        f"https://connector.example.com/webhooks/calendly/{connection.pk}/: Calendly does not follow redirects. "
        "Behind a TLS proxy set SECURE_PROXY_SSL_HEADER (see docs/deployment.md)."
    )
