"""The admin tests' shared data: one connection with every secret set, and one row of every model."""

from __future__ import annotations

import pytest

from calendly_sync.models import (
    AutomationEvent,
    Booking,
    Connection,
    Contact,
    ContactSyncLog,
    EventTypeMapping,
    FieldMapping,
    SyncRun,
    WebhookDelivery,
)

PAT = "pat-eyJhbGciOiJIUzI1NiJ9-very-secret-0001"
REFRESH = "refresh-0123456789abcdef-secret-0002"
SIGNING = "signing-key-abcdefghijklmnop-0003"
BREVO = "xkeysib-0123456789abcdef0123456789abcdef-secret4"


@pytest.fixture
def populated(db):
    conn = Connection.objects.create(
        name="sales",
        access_token=PAT,
        refresh_token=REFRESH,
        webhook_signing_key=SIGNING,
        brevo_api_key=BREVO,
        auth_kind="oauth",
    )
    EventTypeMapping.objects.create(
        connection=conn, event_type_uri="https://api.calendly.com/event_types/x", list_ids=[10]
    )
    FieldMapping.objects.create(connection=conn, source="question:company", attribute="COMPANY")
    booking = Booking.objects.create(
        connection=conn, invitee_uri="https://api.calendly.com/scheduled_events/e/invitees/i", email="levi@example.com"
    )
    contact = Contact.objects.create(connection=conn, email="levi@example.com", current_booking=booking)
    WebhookDelivery.objects.create(
        connection=conn,
        event="invitee.created",
        idempotency_key="k1",
        email="levi@example.com",
        payload={"event": "invitee.created"},
    )
    run = SyncRun.objects.create(connection=conn, counts={"events": 1})
    ContactSyncLog.objects.create(
        connection=conn, contact=contact, email="levi@example.com", action="upsert", status="ok", sync_run=run
    )
    AutomationEvent.objects.create(
        connection=conn, key="a1", email="levi@example.com", event_name="calendly_booking_created"
    )
    return conn
