"""The automation outbox: events claimed just before they are sent, batch by batch."""

from __future__ import annotations

from collections import Counter

from calendly_sync.models import AutomationEvent
from calendly_sync.runtime.drain import sweep
from tests.fixtures_webhooks import store


def test_events_are_claimed_chunk_by_chunk_just_before_sending(client, connection, sims, book, outbox, monkeypatch):
    from calendly_sync.brevo.client import BrevoClient

    for i in range(130):
        book(f"chunked{i}@example.com", fire_webhooks=True, answers={"Company name": f"Co {i}"})
    store(client, connection, list(outbox))
    seen: list[dict[str, int]] = []
    real = BrevoClient.send_events_batch

    def spy(self, events, *args, **kwargs):
        seen.append(dict(Counter(AutomationEvent.objects.values_list("status", flat=True))))
        return real(self, events, *args, **kwargs)

    monkeypatch.setattr(BrevoClient, "send_events_batch", spy)
    assert sweep()["processed"] == 130
    assert seen == [{"sending": 100, "pending": 30}, {"sending": 30, "sent": 100}]
