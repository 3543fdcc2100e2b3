"""Secrets never reach the logs: the redaction filter, and a verbose run's own log lines."""

from __future__ import annotations

import logging
import time

import pytest

from calendly_sync.logging import RedactSecretsFilter, redact


def test_redact_removes_token_shaped_values():
    line = (
        "Authorization: Bearer abc.def.ghi api-key: xkeysib-0123abcd refresh_token=r3fr3sh "
        "Calendly-Webhook-Signature: t=1,v1=" + "ab" * 32 + " client_secret=s3cr3t"
    )
    cleaned = redact(line)
    for secret in ("abc.def.ghi", "xkeysib-0123abcd", "r3fr3sh", "ab" * 32, "s3cr3t"):
        assert secret not in cleaned


def test_filter_rewrites_records_including_arguments():
    record = logging.LogRecord("calendly_sync", logging.INFO, __file__, 1, "sent %s", ("api-key: xkeysib-abc",), None)
    RedactSecretsFilter().filter(record)
    assert "xkeysib-abc" not in record.getMessage()


@pytest.mark.django_db
def test_a_verbose_webhook_run_logs_steps_but_no_secret(client, connection, sims, book, caplog):
    from calendly_sync.inbox.deliveries import process_delivery
    from calendly_sync.models import Connection, WebhookDelivery
    from calendly_sync.sandbox.signing import build_delivery, sign

    calendly_sim, _ = sims
    Connection.objects.filter(pk=connection.pk).update(log_level="verbose", debug=True, log_webhooks=True)
    inv = book("levi@example.com")
    payload = calendly_sim.render(calendly_sim._invitee_payload(calendly_sim.invitees[inv["uri"].rsplit("/", 1)[-1]]))
    body, _ = build_delivery("invitee.created", payload, calendly_sim.admin["uri"], None)
    signature = sign(body, "test-signing-key", int(time.time()))
    with caplog.at_level(logging.DEBUG):
        client.post(
            f"/webhooks/calendly/{connection.pk}/",
            data=body,
            content_type="application/json",
            HTTP_CALENDLY_WEBHOOK_SIGNATURE=signature,
        )
        process_delivery(WebhookDelivery.objects.get().pk)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "stored delivery" in text and "booking changed=True" in text
    connection.refresh_from_db()
    for secret in (
        connection.access_token,
        connection.brevo_api_key,
        connection.webhook_signing_key,
        signature.split("v1=")[1],
    ):
        assert secret not in text


def test_server_errors_reach_the_console_through_the_redaction_filter():
    import logging

    handlers = logging.getLogger("django.request").handlers
    assert any(
        isinstance(handler, logging.StreamHandler) and any(isinstance(f, RedactSecretsFilter) for f in handler.filters)
        for handler in handlers
    )
