"""Wake-ups for bulk imports: Brevo calls a URL of the connector's when an import ends.

``POST /contacts/import`` accepts ``notifyUrl``, "URL that will be called once the import process is
finished" (Brevo's reference); what it sends there — the method, the body — is not documented. So
the call is only a wake-up: the connector gives every import its own URL, with a token signed with
``SECRET_KEY`` naming an :class:`~calendly_sync.models.ImportNotice` row and that row's random
nonce; the endpoint (``views.brevo_import_notice``) marks the row and reads nothing of the body; the
pusher, which may run in another process (the embedded worker's, a Celery worker), waits on the row
with database reads and then reads the import's outcome with one ``GET /processes/{id}``, instead of
polling that endpoint, which sits in Brevo's bucket of 100 calls an hour.

Used only when ``BREVO_IMPORT_NOTIFY`` is on (by default when ``SITE_URL`` is set) and the pusher is
not inside a transaction (the endpoint must see the row). An import whose wake-up does not come in
``NOTICE_WAIT`` seconds is polled as before; one that had ended by then means the wake-ups are not
arriving (``SITE_URL`` unreachable from Brevo, say), and this process polls for ``MISSED_BACKOFF``
seconds before it asks for them again.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Iterable
from datetime import timedelta

from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from calendly_sync.conf import app_settings
from calendly_sync.models import Connection, ImportNotice

log = logging.getLogger(__name__)

SALT = "calendly_sync.push.notices"
NOTICE_MAX_AGE = timedelta(hours=2)  # a token older than this is refused; rows older than this are purged
NOTICE_WAIT = 60.0  # seconds a pusher waits for an import's wake-up before it polls instead
NOTICE_CHECK = 0.05  # seconds between the pusher's reads of its notices (one SELECT each)
MISSED_BACKOFF = 900.0  # seconds this process polls after a wake-up failed to come for an ended import

_missed_until = 0.0
_missed_lock = threading.Lock()


def usable() -> bool:
    """Whether the next imports of this thread may be followed by wake-ups."""
    return (
        bool(app_settings.BREVO_IMPORT_NOTIFY)
        and transaction.get_autocommit()  # a row inside a transaction stays invisible to the endpoint
        and time.monotonic() >= _missed_until
    )


def missed() -> None:
    """An import ended without its wake-up: poll for a while before trusting them again."""
    global _missed_until
    with _missed_lock:
        _missed_until = time.monotonic() + MISSED_BACKOFF
    log.warning(
        "a Brevo import ended but its notifyUrl was not called within %.0f s: check that Brevo can reach "
        "SITE_URL=%s (or set BREVO_IMPORT_NOTIFY=false); polling /processes for the next %.0f minutes",
        NOTICE_WAIT,
        app_settings.SITE_URL,
        MISSED_BACKOFF / 60,
    )


def open_notices(connection: Connection, n: int) -> list[ImportNotice]:
    """``n`` committed notices for this connection's next imports (and old ones purged)."""
    ImportNotice.objects.filter(created_at__lt=timezone.now() - NOTICE_MAX_AGE).delete()
    return [ImportNotice.objects.create(connection=connection, nonce=secrets.token_urlsafe(18)) for _ in range(n)]


def notify_url(notice: ImportNotice) -> str:
    token = signing.dumps([notice.pk, notice.nonce], salt=SALT, compress=False)
    return app_settings.SITE_URL + reverse("calendly_sync:brevo-import-notice", args=[token])


def woken(notices: Iterable[ImportNotice]) -> set[int]:
    """The primary keys of these notices whose URL has been called (one SELECT)."""
    pks = [n.pk for n in notices]
    return set(ImportNotice.objects.filter(pk__in=pks, notified_at__isnull=False).values_list("pk", flat=True))


def close(notices: Iterable[ImportNotice]) -> None:
    ImportNotice.objects.filter(pk__in=[n.pk for n in notices]).delete()


def wake(token: str) -> bool:
    """Record the call of a notice's URL; False (nothing written) for a token that names no open notice."""
    try:
        value = signing.loads(token, salt=SALT, max_age=NOTICE_MAX_AGE)
    except signing.BadSignature:
        return False
    if not (isinstance(value, list) and len(value) == 2 and type(value[0]) is int and isinstance(value[1], str)):
        return False
    pk, nonce = value
    notice = ImportNotice.objects.filter(pk=pk, nonce=nonce)
    if notice.filter(notified_at__isnull=True).update(notified_at=timezone.now()):
        return True
    return notice.exists()  # called again: still a known notice
