"""The webhook signing keys of connections, decrypted once per process and key change.

Why: the webhook endpoint answers strangers. Loading ``Connection`` rows decrypts every secret of
each (five Fernet decryptions) and parses their catalogues; the key-routed URL did it for every
connection on every request. Here one narrow query reads only what verification needs, with the
signing keys still encrypted, and the decrypted keys are kept per connection *and ciphertext*: a
changed key (admin, config file, subscription re-creation, ``rotate_encryption_keys``, another
process) has a new ciphertext (Fernet tokens are never reused), so it is decrypted again on its first
use. No signal is needed, and no process serves a stale key.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ImproperlyConfigured
from django.db.models import ExpressionWrapper, F, QuerySet, TextField

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


def webhook_target(connection_id: int) -> WebhookTarget | None:
    """The connection's keys (one indexed query, no decryption unless its key changed), or None."""
    rows = _rows(Connection.objects.filter(pk=connection_id))
    if not rows:
        with _lock:  # deleted: forget its keys
            _plain.pop(connection_id, None)
        return None
    return _target(rows[0])


def enabled_targets() -> list[WebhookTarget]:
    """Every enabled connection's keys, for the URL without an id (which routes by the key)."""
    return [_target(row) for row in _rows(Connection.objects.filter(enabled=True).order_by("pk"))]


def reset_cache() -> None:
    """Forget every decrypted key (tests)."""
    with _lock:
        _plain.clear()
