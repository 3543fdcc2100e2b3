"""The acknowledgement's prepared INSERT writes the row ``save()`` writes, on every database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from calendly_sync.inbox.intake import insert_delivery
from calendly_sync.models import WebhookDelivery

ENVELOPE = {
    "event": "invitee.created",
    "created_at": "2026-12-04T10:00:00.000000Z",
    "payload": {
        "uri": "https://api.calendly.com/i/1",
        "email": "Zoë@Example.com",
        "questions_and_answers": [],
        "n": 1.5,
    },
}


def values(key: str) -> dict[str, object]:
    return {
        "idempotency_key": key,
        "connection_id": None,
        "event": "invitee.created",
        "status": WebhookDelivery.Status.PENDING,
        "invitee_uri": "https://api.calendly.com/i/1",
        "email": "zoë@example.com",
        "calendly_created_at": datetime(2026, 12, 4, 10, 0, tzinfo=UTC),
        "signature_timestamp": 1_796_378_400,
        "payload": ENVELOPE,
        "raw_body": "",
        "headers": {"User-Agent": "Calendly"},
        "last_error": "",
        "received_at": datetime(2026, 12, 4, 10, 0, 1, 123456, tzinfo=UTC),
    }


def row(pk: int) -> dict[str, object]:
    found = WebhookDelivery.objects.filter(pk=pk).values().get()
    found.pop("id")
    found.pop("idempotency_key")
    return found


@pytest.mark.django_db
def test_the_prepared_insert_writes_what_save_writes():
    by_orm = WebhookDelivery(**values("orm"))
    by_orm.save(force_insert=True)
    with CaptureQueriesContext(connection) as queries:
        pk = insert_delivery(values("prepared"))
    assert pk != by_orm.pk and len(queries.captured_queries) == 1
    assert row(pk) == row(by_orm.pk)
    stored = WebhookDelivery.objects.get(pk=pk)
    assert stored.payload == ENVELOPE and stored.received_at == values("x")["received_at"]
    assert (stored.attempts, stored.redeliveries, stored.next_attempt_at, stored.processed_at) == (0, 0, None, None)


@pytest.mark.django_db
def test_a_stored_key_is_an_integrity_error_and_a_misspelt_column_a_type_error():
    insert_delivery(values("once"))
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_delivery(values("once"))
    with pytest.raises(TypeError, match="no column recieved_at"):
        insert_delivery({**values("twice"), "recieved_at": None})
    assert WebhookDelivery.objects.count() == 1
