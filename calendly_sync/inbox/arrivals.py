"""When a connection last accepted a delivery, without writing the connection row per delivery.

Why: ``Connection.last_delivery_at`` was updated by every acknowledgement. Every request then wrote
the same row, so concurrent acknowledgements queued on its row lock (PostgreSQL) or held SQLite's
write lock for a two-statement transaction. The deliveries themselves already say when they came
(``WebhookDelivery.received_at``); the column is now a coarse mark, written when it is older than
:data:`REFRESH_AFTER` (at most about once a minute per connection, whatever the rate), and readers
that need the exact time take the later of the column and the newest ``received_at``
(:func:`latest`). The mark keeps the time of the last delivery after a retention purge has removed
the rows, and the gap back-fill starts from it (a minute early at most, which only re-reads
bookings the back-fill dedups anyway).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from calendly_sync.credentials import signing
from calendly_sync.models import Connection

REFRESH_AFTER = timedelta(seconds=60)


def due(stored: datetime | None, now: datetime) -> bool:
    """Whether the stored mark is old enough to be written again (never written: yes)."""
    return stored is None or now - stored >= REFRESH_AFTER


def latest(*times: datetime | None) -> datetime | None:
    """The latest of these times, ignoring the missing ones (None when all are)."""
    known = [t for t in times if t is not None]
    return max(known) if known else None


def record(connection_id: int, stored: datetime | None, now: datetime) -> None:
    """After a delivery is stored: refresh the connection's mark when :func:`due` (one ``UPDATE``)."""
    if due(stored, now):
        Connection.objects.filter(pk=connection_id).update(last_delivery_at=now)
        signing.noted_delivery(connection_id, now)
