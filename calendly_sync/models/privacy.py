"""Erasure: who was forgotten, kept as a keyed hash so that nobody's address is stored to remember it.

``manage.py forget_invitee`` deletes a person's rows and records a :class:`Suppression`; the one
apply path (:func:`calendly_sync.sync.projection.ingest`) then skips every observation of that
address whose booking was made before the erasure, so neither a backfill over the old window nor a
late webhook delivery brings the person back. A booking made afterwards syncs normally: the person
came back by themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Max, Q, QuerySet
from django.utils import timezone
from django.utils.crypto import salted_hmac

from calendly_sync.models.connection import Connection

#: Fixed salt of the email hash: a key derived from SECRET_KEY for this purpose only.
HASH_SALT = "calendly_sync.privacy.suppression"


def normalize_email(email: str) -> str:
    """The form every address is compared in: stripped and case-folded.

    Calendly keeps the case an invitee typed and the connector lower-cases (``Contact.email``);
    case-folding also equates the few letters ``lower()`` leaves apart (``ß``/``ss``).
    """
    return email.strip().casefold()


def email_hashes(email: str) -> list[str]:
    """HMAC-SHA256 of the normalised address under ``SECRET_KEY``, then each of ``SECRET_KEY_FALLBACKS``.

    The first is what a new suppression stores; all of them are what a check looks for, so
    rotating ``SECRET_KEY`` the Django way (the old value kept in the fallbacks) forgets nobody.
    """
    value = normalize_email(email)
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return list(
        dict.fromkeys(salted_hmac(HASH_SALT, value, secret=key, algorithm="sha256").hexdigest() for key in keys)
    )


class Suppression(models.Model):
    """A person forgotten at ``forgotten_at``: bookings of theirs made before then are never applied again.

    Holds no address, only its keyed hash (:func:`email_hashes`). ``connection`` empty: every
    connection, present and future (``forget_invitee`` without ``--connection``).
    """

    connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.CASCADE, related_name="suppressions"
    )
    email_hash = models.CharField(max_length=64, db_index=True, help_text="HMAC-SHA256 of the address.")
    forgotten_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-forgotten_at"]

    def __str__(self) -> str:
        return f"{self.email_hash[:12]}… forgotten {self.forgotten_at:%Y-%m-%d %H:%M}"

    @classmethod
    def forgotten(
        cls,
        connection: Connection,
        emails: Iterable[str],
        fetch: Callable[[QuerySet[Any]], list[Any]] = list,
    ) -> dict[str, datetime]:
        """When each of these addresses was last forgotten for this connection (one query).

        Keyed by the address as given; addresses never forgotten are absent. ``fetch`` runs the
        query (the projection's :class:`calendly_sync.sync.reads.Reads` records it).
        """
        by_hash: dict[str, list[str]] = {}
        for email in set(emails):
            for digest in email_hashes(email):
                by_hash.setdefault(digest, []).append(email)
        if not by_hash:
            return {}
        rows = (
            cls.objects.filter(Q(connection=connection) | Q(connection__isnull=True), email_hash__in=list(by_hash))
            .values("email_hash")
            .annotate(at=Max("forgotten_at"))
        )
        found: dict[str, datetime] = {}
        for row in fetch(rows):
            for email in by_hash[row["email_hash"]]:
                if email not in found or row["at"] > found[email]:
                    found[email] = row["at"]
        return found
