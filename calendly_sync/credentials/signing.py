"""The webhook signing keys of connections, decrypted once per process and key change.

Why: the webhook endpoint answers strangers. Loading ``Connection`` rows decrypts every secret of
each (five Fernet decryptions) and parses their catalogues; the key-routed URL did it for every
connection on every request. Here one narrow query reads only what verification needs, with the
signing keys still encrypted, and the decrypted keys are kept per connection *and ciphertext*: a
changed key (admin, config file, subscription re-creation, ``rotate_encryption_keys``, another
process) has a new ciphertext (Fernet tokens are never reused), so it is decrypted again on its first
use. No process serves a stale key.

The rows read are also kept for :data:`TARGET_TTL` seconds, so that during a burst an
acknowledgement is one ``INSERT`` and no ``SELECT``. That is safe because every answer a kept row
gives is checked again: a delivery a kept key does not verify is verified against a fresh read
(a rotated key works at once); a connection deleted meanwhile fails the insert on its foreign key
(a 404); one disabled meanwhile is not pushed (the drain reads ``enabled`` itself). What a kept row
can delay by up to ``TARGET_TTL`` in *another* process is only the choice between storing a delivery
as ``pending`` or ``ignored``, and whether its raw body is kept (``log_webhooks``); in this process a
saved or deleted connection drops it at once (:func:`connect_signals`).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.models import ExpressionWrapper, F, QuerySet, TextField
from django.db.models.signals import post_delete, post_save

from calendly_sync import crypto
from calendly_sync.models import Connection
from calendly_sync.models.connection import effective_signing_keys

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookTarget:
    """What the endpoint needs to verify *and store* a delivery for one connection, and no other secret.

    The storing fields ride on the same query, so an acknowledgement costs one ``SELECT`` and one
    ``INSERT``: no second read of the connection row.
    """

    connection_id: int
    enabled: bool
    keys: tuple[str, ...]
    name: str = ""
    log_webhooks: bool = False
    verbose: bool = False
    last_delivery_at: datetime | None = None  # as stored: written at most once a minute (inbox/arrivals)


# connection id → ((current, previous) as stored, (current, previous) decrypted)
_Ciphertexts = tuple[str, str]
_plain: dict[int, tuple[_Ciphertexts, tuple[str, str]]] = {}
_lock = threading.Lock()

#: Seconds a process answers from the rows it read (see the module's docstring for why that is safe).
TARGET_TTL = 2.0
_recent: dict[int, tuple[float, WebhookTarget]] = {}  # connection id → (time.monotonic() of the read, row)
_recent_enabled: list[tuple[float, list[WebhookTarget]]] = []  # at most one: the enabled connections


_Row = tuple[int, bool, str, str, datetime | None, str, bool, bool, str, datetime | None]


def _rows(queryset: QuerySet[Connection]) -> list[_Row]:
    # ExpressionWrapper with a plain TextField: the column as stored, without the encrypted field's
    # decrypting converter.
    return list(
        queryset.values_list(
            "pk",
            "enabled",
            ExpressionWrapper(F("webhook_signing_key"), output_field=TextField()),
            ExpressionWrapper(F("previous_signing_key"), output_field=TextField()),
            "signing_key_rotated_at",
            "name",
            "log_webhooks",
            "debug",
            "log_level",
            "last_delivery_at",
        )
    )


def _decrypted(pk: int, stored: _Ciphertexts) -> tuple[str, str]:
    with _lock:
        cached = _plain.get(pk)
    if cached is not None and cached[0] == stored:
        return cached[1]
    try:
        plain = (crypto.decrypt(stored[0] or ""), crypto.decrypt(stored[1] or ""))
    except ImproperlyConfigured as exc:
        # A key this process cannot decrypt verifies nothing; said once per stored value, not per request.
        log.error("connection %s: its webhook signing key cannot be decrypted: %s", pk, exc)
        plain = ("", "")
    with _lock:
        _plain[pk] = (stored, plain)
    return plain


def _target(row: _Row) -> WebhookTarget:
    pk, enabled, stored_current, stored_previous, rotated_at, name, log_webhooks, debug, log_level, last = row
    current, previous = _decrypted(pk, (stored_current or "", stored_previous or ""))
    return WebhookTarget(
        pk,
        enabled,
        tuple(effective_signing_keys(current, previous, rotated_at)),
        name=name,
        log_webhooks=log_webhooks,
        verbose=Connection.is_verbose(debug, log_level),
        last_delivery_at=last,
    )


def _fresh_enough(read_at: float) -> bool:
    return time.monotonic() - read_at < TARGET_TTL


def webhook_target(connection_id: int, *, fresh: bool = False) -> WebhookTarget | None:
    """The connection's keys and storing fields, or None.

    One indexed query, no decryption unless its key changed; none at all when this process read the
    row less than :data:`TARGET_TTL` ago, unless ``fresh``.
    """
    with _lock:
        kept = _recent.get(connection_id)
    if kept is not None and not fresh and _fresh_enough(kept[0]):
        return kept[1]
    read_at = time.monotonic()
    rows = _rows(Connection.objects.filter(pk=connection_id))
    if not rows:
        with _lock:  # deleted: forget its keys
            _plain.pop(connection_id, None)
            _recent.pop(connection_id, None)
        return None
    target = _target(rows[0])
    with _lock:
        _recent[connection_id] = (read_at, target)
    return target


def enabled_targets(*, fresh: bool = False) -> list[WebhookTarget]:
    """Every enabled connection's keys, for the URL without an id (which routes by the key)."""
    with _lock:
        kept = _recent_enabled[0] if _recent_enabled else None
    if kept is not None and not fresh and _fresh_enough(kept[0]):
        return kept[1]
    read_at = time.monotonic()
    targets = [_target(row) for row in _rows(Connection.objects.filter(enabled=True).order_by("pk"))]
    with _lock:
        _recent_enabled[:] = [(read_at, targets)]
    return targets


def noted_delivery(connection_id: int, at: datetime) -> None:
    """This process wrote the connection's ``last_delivery_at``: its kept rows say so too, so the next
    acknowledgements do not write it again (see :mod:`calendly_sync.inbox.arrivals`)."""
    with _lock:
        kept = _recent.get(connection_id)
        if kept is not None:
            _recent[connection_id] = (kept[0], replace(kept[1], last_delivery_at=at))
        if _recent_enabled:
            read_at, targets = _recent_enabled[0]
            noted = [replace(t, last_delivery_at=at) if t.connection_id == connection_id else t for t in targets]
            _recent_enabled[:] = [(read_at, noted)]


def forget(connection_id: int | None = None) -> None:
    """Drop the rows this process keeps (a connection's, or all; and the enabled list): the next read is fresh."""
    with _lock:
        if connection_id is None:
            _recent.clear()
        else:
            _recent.pop(connection_id, None)
        _recent_enabled.clear()


def _connection_changed(sender: type[Connection], instance: Connection, **kwargs: Any) -> None:
    forget(instance.pk)


def connect_signals() -> None:
    """A connection saved or deleted in this process is read fresh by its next delivery (``AppConfig.ready``)."""
    post_save.connect(_connection_changed, sender=Connection, dispatch_uid="calendly_sync.signing.saved")
    post_delete.connect(_connection_changed, sender=Connection, dispatch_uid="calendly_sync.signing.deleted")


def reset_cache() -> None:
    """Forget every decrypted key and kept row (tests)."""
    with _lock:
        _plain.clear()
        _recent.clear()
        _recent_enabled.clear()
