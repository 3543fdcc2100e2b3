"""Brevo imports the connector asked to be called back about when they end (``notifyUrl``)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from calendly_sync.models.connection import Connection


class ImportNotice(models.Model):
    """One import's wake-up: created before the import is sent, marked when Brevo calls its URL.

    Only a wake-up: what Brevo posts to the URL is not documented, so nothing of it is kept; the
    pusher that waits on this row then reads the import's outcome with one ``GET /processes/{id}``.
    The URL carries a signed token naming this row and its random ``nonce`` (``push.notices``).
    """

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+")
    nonce = models.CharField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"import notice {self.pk} ({'notified' if self.notified_at else 'waiting'})"
