"""Apply stored webhook deliveries: observation → reducer → Brevo, with retries and backoff.

A delivery is done (``processed``) only when its observation is applied *and* its contact is in
Brevo; a Brevo outage leaves it ``pending`` with a growing backoff, so it heals by itself. Retries
follow :mod:`calendly_sync.retries`: a Brevo outage (or a missing or rejected key, which an
operator can fix) is retried until ``RETRY_HORIZON_HOURS`` after the first failure, Brevo's refusal
fails the delivery at once, a payload that cannot be read fails it at once, and an unexpected
error (a bug) fails it after a few attempts. A failed delivery says why, and is requeued from the
admin (``Reprocess``) with a fresh horizon.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db.models import F, Q
from django.utils import timezone

from calendly_sync import retries
from calendly_sync.brevo.errors import BrevoAuthError, BrevoError, is_transient
from calendly_sync.calendly.events import EVENT_TYPE_EVENTS, INVITEE_EVENTS
from calendly_sync.credentials.clients import MissingCredentials, brevo_client_for
from calendly_sync.models import Connection, Contact, EventTypeMapping, WebhookDelivery
from calendly_sync.models.claims import claim
from calendly_sync.models.inbox import BODY_CLEARED
from calendly_sync.push.contacts import push_dirty
from calendly_sync.push.ledger import retry_horizon
from calendly_sync.retries import Failure
from calendly_sync.sync.observations import MalformedPayload, Observation, observe_invitee, parse_time
from calendly_sync.sync.projection import IngestResult, Rules, ingest

log = logging.getLogger(__name__)

BULK_THRESHOLD = 50  # contacts pushed together above this go through Brevo's bulk import
BATCH_SIZE = 500  # deliveries claimed and applied together
# A "processing" row older than this was left by a crash. Longer than following an import
# (bulk.IMPORT_TIMEOUT: 30 min) and than any one Brevo request (brevo.client's worst case, 13 min),
# so nobody re-claims deliveries in flight. (Applying one twice would be harmless, only wasted.)
STALE_CLAIM = timedelta(minutes=35)

# Per batch: each connection and its rules, loaded once. Keyed by the delivery's connection_id, which
# the column allows to be NULL: such a delivery fails its Connection lookup like a deleted one.
RulesCache = dict[int | None, tuple[Connection, Rules]]
Applied = tuple[WebhookDelivery, str | None]  # a delivery applied to the database, and the email it touched


def _due_q(now: datetime) -> Q:
    """Deliveries a worker may take: pending and due, or claimed so long ago that a crash left them."""
    return (
        Q(status=WebhookDelivery.Status.PENDING) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    ) | (
        Q(status=WebhookDelivery.Status.PROCESSING)
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now - STALE_CLAIM))
    )


def claim_deliveries(delivery_ids: list[int], *, force: bool = False) -> list[WebhookDelivery]:
    """Claim the due ones among these deliveries with one statement; they come back in the given order.

    ``force`` (the admin's and ``process_deliveries --force``'s way) takes them whatever their state.
    """
    now = timezone.now()
    qs = WebhookDelivery.objects.filter(pk__in=delivery_ids)
    if not force:
        qs = qs.filter(_due_q(now))
    claimed = set(
        claim(qs, status=WebhookDelivery.Status.PROCESSING, attempts=F("attempts") + 1, next_attempt_at=now)
    )  # the claim time, for stale-claim detection
    rows = {d.pk: d for d in WebhookDelivery.objects.filter(pk__in=claimed)}
    return [rows[pk] for pk in dict.fromkeys(delivery_ids) if pk in rows]


def process_delivery(delivery_id: int, *, force: bool = False) -> str:
    """Process one delivery if it is due (or ``force``). Returns its resulting status."""
    return process_batch([delivery_id], force=force).get(delivery_id, "skipped")


def process_batch(delivery_ids: list[int], *, force: bool = False) -> dict[int, str]:
    """Apply several deliveries, then bring their contacts to Brevo together.

    One at a time this is one upsert and one event per delivery; when a backlog builds up (a
    Brevo outage that ends, a burst of bookings) the same work goes out as one bulk import and
    batched events, so the backlog drains as fast as Brevo's limits allow. The database side is
    set-based too (one claim, one transaction per connection for the observations, one status
    update), so the connector's own work stays well below the time Brevo's limits impose.
    """
    results: dict[int, str] = {}
    cache: RulesCache = {}  # loaded once per batch, not per delivery
    applied = apply_claimed(claim_deliveries(delivery_ids, force=force), cache, results)
    finish(applied, cache, results)
    return results


def apply_claimed(claimed: list[WebhookDelivery], cache: RulesCache, results: dict[int, str]) -> list[Applied]:
    """Apply claimed deliveries to the database (no Brevo call): [(delivery, email it touched)]."""
    by_connection: dict[int | None, list[WebhookDelivery]] = {}
    for delivery in claimed:
        by_connection.setdefault(delivery.connection_id, []).append(delivery)
    applied: list[Applied] = []
    for deliveries in by_connection.values():
        try:
            applied.extend(_apply_all(deliveries, cache, results))
        except Exception as exc:  # one broken connection (its rules, its row) stops only itself
            log.exception("deliveries of connection %s could not be applied", deliveries[0].connection_id)
            for delivery in deliveries:
                if delivery.pk not in results:
                    results[delivery.pk] = _retry(delivery, f"{type(exc).__name__}: {exc}", Failure.UNEXPECTED)
    return applied


def finish(applied: list[Applied], cache: RulesCache, results: dict[int, str]) -> None:
    """Bring the applied deliveries' contacts and events to Brevo, then record each delivery's outcome.

    A processed delivery keeps its body only when its connection logs webhooks (``BODY_CLEARED``).
    """
    done: list[int] = []
    unlogged: list[int] = []  # done, and their connection keeps no webhook bodies
    grouped: dict[int | None, list[Applied]] = {}
    for delivery, email in applied:
        grouped.setdefault(delivery.connection_id, []).append((delivery, email))
    for connection_id, items in grouped.items():
        connection = cache[connection_id][0]
        emails = sorted({email for _, email in items if email})
        crashed = False
        try:
            error = _push(connection, cache[connection_id][1], emails) if emails else None
            waiting = _still_dirty(connection, emails) if error is None and emails else set()
        except Exception as exc:  # a database error, a bug: retry them later, keep the error visible
            log.exception("pushing %d contacts of connection %s failed", len(emails), connection.name)
            error, waiting, crashed = (f"{type(exc).__name__}: {exc}", Failure.UNEXPECTED), set(), True
        for delivery, email in items:
            if error is not None and (email or crashed):
                results[delivery.pk] = _retry(delivery, *error)
            elif email in waiting:  # its contact's push failed transiently (the contact says why)
                results[delivery.pk] = _retry(
                    delivery, f"Brevo does not have {email} yet; will retry", Failure.TRANSIENT
                )
            else:
                done.append(delivery.pk)
                if not connection.log_webhooks:
                    unlogged.append(delivery.pk)
    if done:
        WebhookDelivery.objects.filter(pk__in=done).update(
            status=WebhookDelivery.Status.PROCESSED,
            processed_at=timezone.now(),
            last_error="",
            next_attempt_at=None,
            first_failed_at=None,
        )
        WebhookDelivery.objects.filter(pk__in=unlogged).update(**BODY_CLEARED)
        results.update(dict.fromkeys(done, WebhookDelivery.Status.PROCESSED))


def _apply_all(deliveries: list[WebhookDelivery], cache: RulesCache, results: dict[int, str]) -> list[Applied]:
    """Apply one connection's claimed deliveries: invitee events in one batch, the rest one by one.

    A delivery that cannot be applied is retried or failed on its own; if the batch as a whole
    fails (a concurrent writer created one of its rows first), it is applied one by one instead.
    """
    connection, rules = _connection_rules(deliveries[0].connection_id, cache)
    if not connection.enabled:  # disabled since these arrived: kept, never pushed
        WebhookDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(
            status=WebhookDelivery.Status.IGNORED, last_error="connection is disabled", next_attempt_at=None
        )
        results.update({d.pk: WebhookDelivery.Status.IGNORED for d in deliveries})
        return []
    applied: list[Applied] = []
    batch: list[tuple[WebhookDelivery, Observation]] = []
    singles: list[WebhookDelivery] = []
    for delivery in deliveries:
        if delivery.event not in INVITEE_EVENTS:
            singles.append(delivery)
            continue
        try:
            batch.append((delivery, _observe(connection, delivery)))
        except MalformedPayload as exc:
            results[delivery.pk] = _fail(delivery, f"malformed payload: {exc}")
        except Exception as exc:  # unexpected: this delivery alone retries, the error kept visible
            log.exception("delivery %s could not be read", delivery.pk)
            results[delivery.pk] = _retry(delivery, f"{type(exc).__name__}: {exc}", Failure.UNEXPECTED)
    if len(batch) > 1:
        try:
            outcomes = ingest(connection, [(obs, d.event) for d, obs in batch], rules=rules, with_events=True)
            for (each, its_obs), outcome in zip(batch, outcomes, strict=True):
                _settle(each, its_obs, outcome, applied, results)
            batch = []
        except Exception as exc:  # noqa: BLE001 - any failure: fall back to one at a time, nothing lost
            log.info("batch of %d deliveries applied one by one instead (%s: %s)", len(batch), type(exc).__name__, exc)
    # Observed above already: applied with that observation, so its log lines are written once.
    observed = {d.pk: obs for d, obs in batch}
    for delivery in [d for d, _ in batch] + singles:
        try:
            obs = observed.get(delivery.pk)
            if obs is not None:
                _settle(delivery, obs, _apply_observation(connection, rules, delivery, obs), applied, results)
            else:
                applied.append((delivery, apply_delivery(delivery, cache)))
        except MalformedPayload as exc:
            results[delivery.pk] = _fail(delivery, f"malformed payload: {exc}")
        except Exception as exc:  # unexpected: retry a bounded number of times, keep the error visible
            log.exception("delivery %s failed", delivery.pk)
            results[delivery.pk] = _retry(delivery, f"{type(exc).__name__}: {exc}", Failure.UNEXPECTED)
    return applied


def _settle(
    delivery: WebhookDelivery, obs: Observation, outcome: IngestResult, applied: list[Applied], results: dict[int, str]
) -> None:
    """An applied delivery goes on to Brevo; one an erasure suppressed is done, and forgets its invitee too."""
    if outcome.suppressed:
        results[delivery.pk] = _erased(delivery)
    else:
        applied.append((delivery, obs.email))


ERASED_REASON = "not applied: its invitee was erased (forget_invitee) before this booking was made"


def _erased(delivery: WebhookDelivery) -> str:
    """Ignore a delivery about an erased person's earlier booking, keeping nothing that identifies them."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        **BODY_CLEARED,
        status=WebhookDelivery.Status.IGNORED,
        email="",
        invitee_uri="",
        last_error=ERASED_REASON,
        next_attempt_at=None,
        processed_at=timezone.now(),
    )
    return WebhookDelivery.Status.IGNORED


def _connection_rules(connection_id: int | None, cache: RulesCache) -> tuple[Connection, Rules]:
    if connection_id not in cache:
        if connection_id is None:
            raise Connection.DoesNotExist("the delivery has no connection")
        connection = Connection.objects.get(pk=connection_id)
        cache[connection_id] = (connection, Rules.load(connection))
    return cache[connection_id]


def _observe(connection: Connection, delivery: WebhookDelivery) -> Observation:
    envelope: dict[str, Any] = delivery.payload or {}
    obs = observe_invitee(
        envelope.get("payload"), event_name=delivery.event, envelope_created_at=envelope.get("created_at")
    )
    for warning in obs.warnings:
        log.warning("delivery %s: %s", delivery.pk, warning)
    if connection.verbose:
        log.info(
            "delivery %s: %s for invitee %s (observed at %s)",
            delivery.pk,
            delivery.event,
            obs.invitee_uri,
            obs.observed_at.isoformat(),
        )
    return obs


def _retry(delivery: WebhookDelivery, error: str, failure: Failure) -> str:
    """Record a failed attempt: pending again after the policy's delay, or failed (see the module docstring)."""
    now = timezone.now()
    verdict = retries.decide(
        failure,
        attempts=delivery.attempts,  # counted when it was claimed, so this attempt included
        first_failed_at=delivery.first_failed_at,
        now=now,
        horizon=retry_horizon(),
    )
    if verdict.give_up:
        return _fail(delivery, verdict.message(error), first_failed_at=verdict.first_failed_at)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.PENDING,
        last_error=error[:4000],
        next_attempt_at=verdict.retry_at,
        first_failed_at=verdict.first_failed_at,
    )
    return WebhookDelivery.Status.PENDING


def _fail(delivery: WebhookDelivery, error: str, *, first_failed_at: datetime | None = None) -> str:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.FAILED,
        last_error=error[:4000],
        next_attempt_at=None,
        first_failed_at=first_failed_at or delivery.first_failed_at or timezone.now(),
    )
    return WebhookDelivery.Status.FAILED


def _push(connection: Connection, rules: Rules, emails: list[str]) -> tuple[str, Failure] | None:
    """Push these contacts and their events; the error, and its kind, when the deliveries must wait.

    A missing or rejected Brevo key is transient here: the connection shows the problem, an
    operator fixes it, and the deliveries go through then (within the horizon), none lost.
    """
    if not (connection.sync_contacts or connection.sync_events):
        return None
    try:
        client = brevo_client_for(connection)
    except MissingCredentials as exc:
        return str(exc), Failure.TRANSIENT
    try:
        push_dirty(
            connection, client, attribute_types=rules.attribute_types, emails=emails, bulk_threshold=BULK_THRESHOLD
        )
    except BrevoAuthError as exc:
        connection.record_error(f"Brevo rejected the API key: {exc.message}", Connection.Status.ERROR)
        return str(exc), Failure.TRANSIENT
    except BrevoError as exc:
        return str(exc), Failure.TRANSIENT if is_transient(exc) else Failure.PERMANENT
    connection.record_working(brevo=True)
    return None


def _still_dirty(connection: Connection, emails: list[str]) -> set[str]:
    """Which of these contacts are still due for Brevo (a transient failure left them dirty)."""
    if not connection.sync_contacts:
        return set()
    return set(
        Contact.objects.filter(connection=connection, email__in=emails, dirty=True).values_list("email", flat=True)
    )


def apply_delivery(delivery: WebhookDelivery, cache: RulesCache | None = None) -> str | None:
    """Apply the delivery's observation (database only). Returns the email whose contact changed."""
    connection, rules = _connection_rules(delivery.connection_id, {} if cache is None else cache)
    envelope: dict[str, Any] = delivery.payload or {}
    event = delivery.event
    if event in INVITEE_EVENTS:
        return _apply_invitee_event(connection, rules, delivery, envelope)
    if event in EVENT_TYPE_EVENTS:
        _apply_event_type_event(connection, envelope)
    return None


def _apply_invitee_event(
    connection: Connection, rules: Rules, delivery: WebhookDelivery, envelope: dict[str, Any]
) -> str | None:
    obs = _observe(connection, delivery)
    if _apply_observation(connection, rules, delivery, obs).suppressed:
        _erased(delivery)
        return None
    return obs.email


def _apply_observation(
    connection: Connection, rules: Rules, delivery: WebhookDelivery, obs: Observation
) -> IngestResult:
    [result] = ingest(connection, [(obs, delivery.event)], rules=rules, with_events=True)
    if connection.verbose:
        log.info(
            "delivery %s: booking changed=%s, contact dirty=%s, events queued=%s",
            delivery.pk,
            result.booking_changed,
            result.contact_dirty,
            result.events_queued,
        )
    return result


def _apply_event_type_event(connection: Connection, envelope: dict[str, Any]) -> None:
    """Refresh a mapping's name; flag it when Calendly deleted its event type (order-proof by Calendly time)."""
    payload = envelope.get("payload") or {}
    uri = str(payload.get("uri") or "")
    if not uri:
        raise MalformedPayload("event type payload has no uri")
    at = (
        parse_time(payload.get("deleted_at"))
        or parse_time(payload.get("updated_at"))
        or parse_time(envelope.get("created_at"))
        or timezone.now()
    )
    for mapping in EventTypeMapping.objects.filter(connection=connection, event_type_uri=uri):
        if envelope.get("event") == "event_type.deleted":
            if mapping.missing_since is None or mapping.missing_since > at:
                mapping.missing_since = at
        elif mapping.missing_since is not None and mapping.missing_since <= at:
            mapping.missing_since = None  # an update newer than the deletion: the type is back
        if payload.get("name") and (
            mapping.missing_since is None
            or envelope.get("event") == "event_type.deleted"
            or at <= mapping.missing_since
        ):
            mapping.event_type_name = str(payload["name"])[:200]
        mapping.save(update_fields=["missing_since", "event_type_name", "updated_at"])


def due_deliveries(limit: int = BATCH_SIZE) -> list[int]:
    """The oldest due deliveries' ids, at most ``limit``."""
    qs = WebhookDelivery.objects.filter(_due_q(timezone.now())).order_by("received_at", "id")
    return list(qs.values_list("pk", flat=True)[:limit])


def stored_since(since: datetime, *, at_least: int) -> bool:
    """Whether at least ``at_least`` deliveries were stored since ``since`` (one bounded index range read)."""
    return WebhookDelivery.objects.filter(received_at__gte=since).order_by()[:at_least].count() >= at_least
