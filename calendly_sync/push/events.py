"""The automation outbox brought to Brevo: one custom event per fact, sent once, in batches when many.

The projection writes outbox rows (:class:`~calendly_sync.models.AutomationEvent`, unique per
fact); this module claims the due ones just before sending, so concurrent workers never send the
same event twice, waits for a contact to exist in Brevo before its event, pairs the two halves of
a reschedule, and retries by the one policy of :mod:`calendly_sync.retries`: a Brevo outage until
``RETRY_HORIZON_HOURS`` after the first failure, Brevo's refusal not at all.

Brevo's event API has no idempotency key: every ``POST /events`` that Brevo applies is one more
event, one more automation run. So an event is sent again only when Brevo surely did not apply it:

* the client never repeats an event whose answer was lost (a read timeout): it raises
  :class:`~calendly_sync.brevo.errors.BrevoOutcomeUnknown`, and the row becomes ``unconfirmed``,
  which nothing resends by itself; an operator checks the contact in Brevo, then requeues it
  (:func:`requeue_events`) or marks it sent (:func:`confirm_events`);
* a claim (``sending``) is taken over by another worker only after :data:`STALE_EVENT_CLAIM`,
  longer than the longest a send can take, so a slow send is never doubled by a second worker.

One way to a duplicate is left, and it is this: a worker dies (killed, out of memory, power) after
Brevo applied the event and before :func:`_events_sent` marked the row. The row is ``sending``
with nothing to say whether the send happened; after :data:`STALE_EVENT_CLAIM` it is sent again,
once. The row cannot tell that crash from one *before* the send (the claim is all there is), and
holding both for an operator would lose, until someone looks, every event of every worker that
was stopped at the wrong moment; so this edge is at least once. tests/push/test_events.py
simulates it, and shows that a lost answer does not duplicate.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db.models import F, Q
from django.utils import timezone

from calendly_sync import retries
from calendly_sync.brevo.client import DEFAULT_WORST_CASE_REQUEST_SECONDS, BrevoClient
from calendly_sync.brevo.errors import BrevoAuthError, BrevoError, BrevoOutcomeUnknown, is_transient
from calendly_sync.models import (
    AutomationEvent,
    Booking,
    Connection,
    Contact,
    ContactSyncLog,
)
from calendly_sync.models.claims import claim
from calendly_sync.push.ledger import record, retry_horizon
from calendly_sync.retries import Failure
from calendly_sync.sync import automation

RESCHEDULE_PAIR_WAIT = timedelta(minutes=10)

# A "sending" row older than this was left by a worker that died mid-send. It must outlast the
# longest one send can take (the Brevo client's worst case: every retry waiting out a 429, every
# attempt taking the whole timeouts, 775 s with the defaults), or a second worker would send an
# event that a slow first one is still sending. The margin covers the pacer's queue and the
# database writes around the call. tests/push/test_events.py checks the inequality.
STALE_EVENT_CLAIM = timedelta(seconds=DEFAULT_WORST_CASE_REQUEST_SECONDS) + timedelta(minutes=5)

EVENT_BATCH_MIN = 20  # from this many due events on, use POST /events/batch

EVENT_BATCH_SIZE = 100


def _event_bookings(
    connection: Connection, events: list[AutomationEvent]
) -> tuple[dict[str, Booking], dict[str, Booking]]:
    """The bookings the events describe (by invitee URI), and each reschedule's previous half
    (by the new half's URI): two queries for any number of events."""
    uris = {(e.event_properties or {}).get("invitee_uri", "") for e in events} - {""}
    bookings = {b.invitee_uri: b for b in Booking.objects.filter(connection=connection, invitee_uri__in=uris)}
    rescheduled = (
        [bookings[u] for u in uris if u in bookings]
        if any(e.event_name == automation.BOOKING_RESCHEDULED for e in events)
        else []
    )
    previous: dict[str, Booking] = {}
    if rescheduled:
        by_new = {b.invitee_uri: b for b in rescheduled}  # a cancelled half names its new half …
        by_old = {b.old_invitee_uri: b for b in rescheduled if b.old_invitee_uri}  # … and the new half its old one
        for b in (
            Booking.objects.filter(connection=connection)
            .filter(Q(new_invitee_uri__in=list(by_new)) | Q(invitee_uri__in=list(by_old)))
            .order_by("pk")
        ):
            for new in (by_new.get(b.new_invitee_uri), by_old.get(b.invitee_uri)):
                if new is not None:
                    previous.setdefault(new.invitee_uri, b)
    return bookings, previous


def send_due_events(
    connection: Connection, client: BrevoClient | None, *, emails: Iterable[str] | None = None
) -> tuple[int, int]:
    """Send pending automation events whose contact Brevo already has. Returns (sent, failed).

    A handful go one by one; a backlog goes through ``POST /events/batch``.
    """
    if client is None or not connection.sync_events:
        return 0, 0
    now = timezone.now()
    due = (
        Q(status=AutomationEvent.Status.PENDING, next_attempt_at__isnull=True)
        | Q(status=AutomationEvent.Status.PENDING, next_attempt_at__lte=now)
        # a claim older than this was left by a crashed worker: the one way to a duplicate (see above)
        | Q(status=AutomationEvent.Status.SENDING, next_attempt_at__lte=now - STALE_EVENT_CLAIM)
    )
    qs = AutomationEvent.objects.filter(connection=connection).filter(due)
    if emails is not None:
        qs = qs.filter(email__in=list(emails))
    if connection.sync_contacts:
        # The contact must exist in Brevo first, so an automation finds its attributes.
        pushed = Contact.objects.filter(connection=connection, last_pushed_at__isnull=False).values("email")
        qs = qs.filter(email__in=pushed)
    events = list(qs.order_by("event_date", "id"))
    bookings, previous = _event_bookings(connection, events)
    wanted: list[AutomationEvent] = []
    for event in events:
        booking = bookings.get((event.event_properties or {}).get("invitee_uri", ""))
        if booking is None:
            continue  # the observation that names it is not applied yet; try again later
        if (
            event.event_name == automation.BOOKING_RESCHEDULED
            and booking.invitee_uri not in previous
            and (not booking.old_invitee_uri or now - event.created_at < RESCHEDULE_PAIR_WAIT)
        ):
            # Wait for the other half so the event carries the old and the new start; past the wait,
            # send what we know rather than never.
            continue
        wanted.append(event)

    def claimed(chunk: list[AutomationEvent]) -> list[tuple[AutomationEvent, dict[str, Any]]]:
        """Claim a chunk just before sending it (one statement), so two workers never send the same
        event, and no claim waits long enough behind other sends to look abandoned."""
        ids = set(
            claim(
                AutomationEvent.objects.filter(pk__in=[e.pk for e in chunk]).filter(due),
                status=AutomationEvent.Status.SENDING,
                next_attempt_at=timezone.now(),
            )
        )
        ready = []
        for event in chunk:
            if event.pk in ids:
                booking = bookings[(event.event_properties or {}).get("invitee_uri", "")]
                props = automation.event_properties(booking, previous.get(booking.invitee_uri))
                event_date = event.event_date or booking.invitee_created_at
                ready.append(
                    (
                        event,
                        client.build_event(
                            event.event_name,
                            email=event.email,
                            event_properties=props,
                            event_date=automation.iso(event_date),
                        ),
                    )
                )
        return ready

    sent = failed = 0
    if len(wanted) >= EVENT_BATCH_MIN:
        for start in range(0, len(wanted), EVENT_BATCH_SIZE):
            ready = claimed(wanted[start : start + EVENT_BATCH_SIZE])
            if ready:
                batch_sent, batch_failed = _send_batches(connection, client, ready)
                sent, failed = sent + batch_sent, failed + batch_failed
        return sent, failed
    for candidate in wanted:
        for event, body in claimed([candidate]):
            try:
                client.send_event(
                    body["event_name"],
                    email=event.email,
                    event_date=body.get("event_date"),
                    event_properties=body.get("event_properties"),
                )
            except BrevoAuthError:
                _release([(event, body)])
                raise
            except BrevoOutcomeUnknown as err:
                _unconfirmed(connection, [event], err)
                continue
            except BrevoError as err:
                failed += _event_failed(connection, event, err)
                continue
            _events_sent(connection, [(event, body)])
            sent += 1
    return sent, failed


def requeue_events(event_ids: list[int]) -> int:
    """Admin action: failed and unconfirmed events back to pending, due now, with a fresh horizon.

    For an unconfirmed event this is the operator's decision that Brevo does not have it (or that
    a second automation run is acceptable): the connector cannot know. The next sweep sends them.
    """
    return AutomationEvent.objects.filter(
        pk__in=event_ids, status__in=[AutomationEvent.Status.FAILED, AutomationEvent.Status.UNCONFIRMED]
    ).update(
        status=AutomationEvent.Status.PENDING, attempts=0, next_attempt_at=None, first_failed_at=None, last_error=""
    )


def confirm_events(event_ids: list[int]) -> int:
    """Admin action: unconfirmed events an operator found in Brevo are sent; they never go again."""
    return AutomationEvent.objects.filter(pk__in=event_ids, status=AutomationEvent.Status.UNCONFIRMED).update(
        status=AutomationEvent.Status.SENT, next_attempt_at=None, last_error="found in Brevo by an operator"
    )


def _unconfirmed(connection: Connection, events: list[AutomationEvent], err: BrevoOutcomeUnknown) -> None:
    """Brevo's answer was lost: the events may be in Brevo. Kept out of every automatic resend."""
    message = f"{err} -- check the contact's events in Brevo, then requeue it if it is missing"
    AutomationEvent.objects.filter(pk__in=[e.pk for e in events]).update(
        status=AutomationEvent.Status.UNCONFIRMED,
        attempts=F("attempts") + 1,
        next_attempt_at=None,
        last_error=message[:2000],
    )
    for event in events:
        record(
            connection,
            None,
            event.email,
            "event",
            ContactSyncLog.Status.WARNING,
            message=message,
            http_status=err.status,
            request={"event_name": event.event_name},
        )


def _release(ready: list[tuple[AutomationEvent, dict[str, Any]]]) -> None:
    """Give back claims not sent (the key was rejected): pending again, due at once after a fix."""
    AutomationEvent.objects.filter(pk__in=[e.pk for e, _ in ready], status=AutomationEvent.Status.SENDING).update(
        status=AutomationEvent.Status.PENDING, next_attempt_at=None
    )


def _events_sent(connection: Connection, items: list[tuple[AutomationEvent, dict[str, Any]]]) -> None:
    """Mark events sent and log them: two statements for any number."""
    if not items:
        return
    AutomationEvent.objects.filter(pk__in=[e.pk for e, _ in items]).update(
        status=AutomationEvent.Status.SENT,
        sent_at=timezone.now(),
        attempts=F("attempts") + 1,
        last_error="",
        first_failed_at=None,
    )
    for event, body in items:
        event.event_properties = body.get("event_properties") or {}
    AutomationEvent.objects.bulk_update([e for e, _ in items], ["event_properties"], batch_size=200)
    ContactSyncLog.objects.bulk_create(
        [
            ContactSyncLog(
                connection=connection,
                contact=None,
                email=event.email,
                action="event",
                status=ContactSyncLog.Status.OK,
                message=event.event_name,
                http_status=204,
                request={"event_name": event.event_name, "event_properties": body.get("event_properties")},
            )
            for event, body in items
        ]
    )


def _event_failed(
    connection: Connection, event: AutomationEvent, err: BrevoError | str, transient: bool | None = None
) -> int:
    """Retry a transient failure until the horizon; give up on a rejection. Returns 1 when now failed."""
    attempts = event.attempts + 1
    message = str(err)
    if transient is None:
        transient = is_transient(err) if isinstance(err, BrevoError) else False
    verdict = retries.decide(
        Failure.TRANSIENT if transient else Failure.PERMANENT,
        attempts=attempts,
        first_failed_at=event.first_failed_at,
        now=timezone.now(),
        horizon=retry_horizon(),
    )
    if verdict.give_up:
        message = verdict.message(message)
        AutomationEvent.objects.filter(pk=event.pk).update(
            attempts=attempts,
            last_error=message[:2000],
            status=AutomationEvent.Status.FAILED,
            next_attempt_at=None,
            first_failed_at=verdict.first_failed_at,
        )
        gave_up = 1
    else:
        AutomationEvent.objects.filter(pk=event.pk).update(
            status=AutomationEvent.Status.PENDING,
            attempts=attempts,
            last_error=message[:2000],
            next_attempt_at=verdict.retry_at,
            first_failed_at=verdict.first_failed_at,
        )
        gave_up = 0
    record(
        connection,
        None,
        event.email,
        "event",
        ContactSyncLog.Status.ERROR if gave_up else ContactSyncLog.Status.RETRY,
        message=message,
        http_status=getattr(err, "status", None),
        code=getattr(err, "code", "") or "",
        request={"event_name": event.event_name},
    )
    return gave_up


def _send_batches(
    connection: Connection, client: BrevoClient, ready: list[tuple[AutomationEvent, dict[str, Any]]]
) -> tuple[int, int]:
    sent = failed = 0
    for start in range(0, len(ready), EVENT_BATCH_SIZE):
        chunk = ready[start : start + EVENT_BATCH_SIZE]
        try:
            report = client.send_events_batch([body for _, body in chunk])
        except BrevoAuthError:
            _release(ready[start:])
            raise
        except BrevoOutcomeUnknown as err:
            _unconfirmed(connection, [event for event, _ in chunk], err)
            continue
        except BrevoError as err:
            for event, _ in chunk:
                failed += _event_failed(connection, event, err)
            continue
        bad: dict[int, str] = {}
        delivered: list[tuple[AutomationEvent, dict[str, Any]]] = []
        for error in (report or {}).get("errors") or []:
            indexes = error.get("eventIndex")
            for index in indexes if isinstance(indexes, list) else [indexes]:
                if isinstance(index, int):
                    bad[index] = str(error.get("message") or "rejected by Brevo")
        for index, (event, body) in enumerate(chunk):
            if index in bad:
                failed += _event_failed(connection, event, bad[index], transient=False)
            else:
                delivered.append((event, body))
        _events_sent(connection, delivered)
        sent += len(delivered)
    return sent, failed
