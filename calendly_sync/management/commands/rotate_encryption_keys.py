"""``manage.py rotate_encryption_keys``: re-encrypt every stored secret with the first key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from calendly_sync import crypto
from calendly_sync.models import Connection
from calendly_sync.models.fields import EncryptedTextField


class Command(BaseCommand):
    help = (
        "Re-encrypt all secrets with the first key of FIELD_ENCRYPTION_KEYS. Run after putting a new key "
        "first in the list; remove the old key afterwards."
    )

    def handle(self, *args: Any, **opts: Any) -> None:
        names = [f.attname for f in Connection._meta.get_fields() if isinstance(f, EncryptedTextField)]
        rotated = 0
        with transaction.atomic():
            # Read the stored (encrypted) text, not the decrypted value, and rotate it.
            for row in Connection.objects.select_for_update().values("pk", *[f"{n}" for n in names]):
                updates = {}
                for name in names:
                    plain = row[name]
                    if plain:
                        updates[name] = plain  # saved again → encrypted with the primary key
                if updates:
                    conn = Connection.objects.get(pk=row["pk"])
                    for name, value in updates.items():
                        setattr(conn, name, value)
                    conn.save(update_fields=list(updates))
                    rotated += len(updates)
        crypto._fernet.cache_clear()
        self.stdout.write(f"re-encrypted {rotated} secrets on {Connection.objects.count()} connections")
