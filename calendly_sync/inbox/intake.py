"""The acknowledgement's one write: a delivery's ``INSERT``, its SQL built once per database.

With persistent connections, compiling ``WebhookDelivery(...).save()`` anew for every request
was the largest part of an acknowledgement (see :class:`calendly_sync.models.statements.RowInsert`).
"""

from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS

from calendly_sync.models import WebhookDelivery
from calendly_sync.models.statements import RowInsert

_insert = RowInsert(WebhookDelivery)


def insert_delivery(values: dict[str, Any], *, using: str = DEFAULT_DB_ALIAS) -> int:
    """Insert one delivery (``values`` by attribute name, the rest their defaults); its new id.

    A stored idempotency key raises :class:`django.db.IntegrityError`, as ``save()`` would.
    """
    return _insert.execute(values, using=using)
