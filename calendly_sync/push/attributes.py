"""Brevo contact attributes: create the ones the field mapping writes that Brevo does not have yet.

Brevo drops (or rejects) a value for an attribute it does not know, so the attributes are made
before the first push of a connection and then remembered per process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from calendly_sync.brevo.client import BrevoClient
from calendly_sync.brevo.errors import BrevoValidationError
from calendly_sync.models import Connection

log = logging.getLogger(__name__)

_attribute_cache: dict[tuple[int, str], set[str]] = {}

_attribute_lock = threading.Lock()  # pushers of one drain run in threads: list and create once, not per thread


def ensure_attributes(
    connection: Connection,
    client: BrevoClient,
    wanted: Mapping[str, str],
    *,
    dry_run: bool = False,
    force: bool = False,
) -> tuple[list[str], list[str]]:
    """Create the attributes the projection writes (``wanted``: name → Brevo type) that Brevo lacks,
    once per connection and process. Returns (existing, created)."""
    cache_key = (connection.pk, ",".join(sorted(wanted)))
    with _attribute_lock:
        if not force and not dry_run and cache_key in _attribute_cache:
            return sorted(_attribute_cache[cache_key]), []
        return create_missing_attributes(client, wanted, cache_key=cache_key, dry_run=dry_run)


def create_missing_attributes(
    client: BrevoClient, wanted: Mapping[str, str], *, cache_key: tuple[int, str] | None = None, dry_run: bool = False
) -> tuple[list[str], list[str]]:
    """Create the attributes of ``wanted`` (name → Brevo type) that Brevo lacks: (existing, missing).

    Idempotent: an attribute created meanwhile by someone else is not an error. ``cache_key``
    remembers, for this process, that the connection's attributes exist.
    """
    existing = {a["name"].upper() for a in client.list_attributes()}
    missing = [name for name in sorted(wanted) if name.upper() not in existing]
    if not dry_run:
        for name in missing:
            try:
                client.create_attribute(name, type=wanted[name])
            except BrevoValidationError as err:  # created meanwhile by someone else
                log.info("attribute %s not created: %s", name, err.message)
        if cache_key is not None:
            _attribute_cache[cache_key] = set(wanted)
    return sorted(n for n in wanted if n.upper() in existing), missing
