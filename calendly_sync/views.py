"""The Calendly webhook endpoint: verify, store, acknowledge, dispatch. Nothing else. (And Brevo's
wake-up at the end of a bulk import: :func:`brevo_import_notice`.)

The raw body is read before anything parses it (the HMAC covers the exact bytes), the delivery is
committed to the inbox before the 2xx, and processing happens after the commit, in the embedded
worker thread or a Celery task, so the response never waits for Calendly or Brevo.

A stranger's request is cheap and writes nothing: the signature header's shape is checked before
the body is read, signing keys are decrypted once per process (``credentials/signing``), and a
refusal is counted in memory (``inbox/rejections``), written at most once a minute.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable
from contextlib import nullcontext
from datetime import datetime
from functools import partial
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseNotFound
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from calendly_sync.calendly.events import HANDLED_EVENTS, INVITEE_EVENTS
from calendly_sync.calendly.signatures import (
    SIGNATURE_HEADER,
    RejectionKind,
    SignatureError,
    check_timestamp,
    matching_key,
    mismatch,
    no_key,
    parse_signature_header,
)
from calendly_sync.conf import app_settings
from calendly_sync.credentials.signing import WebhookTarget, enabled_targets, webhook_target
from calendly_sync.inbox import arrivals, rejections
from calendly_sync.inbox.intake import insert_delivery
from calendly_sync.instruments import ACK_LATENCY
from calendly_sync.models import WebhookDelivery
from calendly_sync.push import notices as import_notices
from calendly_sync.storable import unstorable
from calendly_sync.sync.observations import MalformedPayload, parse_time
from calendly_sync.tasks import dispatch_delivery

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # 1 MiB
_DROP_HEADERS = {"authorization", "cookie", SIGNATURE_HEADER.lower()}


def idempotency_key(connection_id: int, envelope: dict[str, Any]) -> str:
    """Stable across redeliveries (which are re-signed with a new ``t``) and across webhook/backfill.

    Built from the payload, not the signature: (connection, event, invitee URI, Calendly time);
    no-show events use the no-show URI; a no-show removal uses the envelope time.
    """
    event = str(envelope.get("event") or "")
    payload = envelope.get("payload") or {}
    if not isinstance(payload, dict):
        payload = {}
    no_show = payload.get("no_show") if isinstance(payload.get("no_show"), dict) else None
    if event == "invitee_no_show.created" and no_show and no_show.get("uri"):
        parts = [event, str(no_show["uri"])]
    elif event == "invitee_no_show.deleted":
        parts = [event, str(payload.get("uri") or ""), str(envelope.get("created_at") or "")]
    else:
        stamp = payload.get("updated_at") or payload.get("created_at") or envelope.get("created_at") or ""
        parts = [event, str(payload.get("uri") or ""), str(stamp)]
    raw = "|".join([str(connection_id), *parts])
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _reject(connection_id: int | None, error: SignatureError) -> Response:
    """401, counted in memory (:mod:`calendly_sync.inbox.rejections`): no database write and no log
    line per refused request."""
    rejections.counter.record(connection_id, error.kind, error.reason)
    return Response({"detail": f"Invalid signature: {error.reason}."}, status=401)


class _Refused(Exception):
    def __init__(self, connection_id: int | None, error: SignatureError) -> None:
        super().__init__(error.reason)
        self.connection_id = connection_id
        self.error = error


def _route_by_key(
    raw: bytes, t: int, signatures: list[str], tolerance: int, candidates: list[WebhookTarget]
) -> WebhookTarget:
    """The one enabled connection whose key verifies the delivery (the URL without an id).

    One HMAC of the body per distinct key, with keys decrypted once per process
    (:mod:`calendly_sync.credentials.signing`); raises :class:`_Refused` otherwise.
    """
    owners: dict[str, set[int]] = {}
    targets = {target.connection_id: target for target in candidates}
    for target in targets.values():
        for key in target.keys:
            owners.setdefault(key, set()).add(target.connection_id)
    if not owners:
        raise _Refused(None, no_key(t, tolerance))
    verified = matching_key(raw, t, signatures, list(owners))
    if verified is None:
        raise _Refused(None, mismatch(t, tolerance))
    if len(owners[verified]) > 1:
        raise _Refused(
            None,
            SignatureError(
                "several connections verify this delivery; use /webhooks/calendly/<id>/", RejectionKind.AMBIGUOUS
            ),
        )
    (connection_id,) = owners[verified]
    try:
        check_timestamp(t, tolerance)
    except SignatureError as exc:  # authentic, so it is this connection's clock problem
        raise _Refused(connection_id, exc) from None
    return targets[connection_id]


def _verify_for(raw: bytes, t: int, signatures: list[str], keys: tuple[str, ...], tolerance: int) -> None:
    if not keys:
        raise no_key(t, tolerance)
    if matching_key(raw, t, signatures, list(keys)) is None:
        raise mismatch(t, tolerance)
    check_timestamp(t, tolerance)


def _read_body(request: HttpRequest) -> bytes | None:
    """The raw body, or None when it is larger than MAX_BODY (checked before reading it all)."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY:
        return None
    body = request.read(MAX_BODY + 1)
    return None if len(body) > MAX_BODY else body


MAX_DEPTH = 64  # Calendly's envelopes nest about 6 levels; deeper is not a Calendly delivery


def _too_deep(raw: bytes) -> bool:
    """Whether the JSON text nests objects/arrays deeper than ``MAX_DEPTH`` (checked before parsing,
    which would otherwise recurse as deep as the attacker likes)."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:  # cannot nest deeper: skip the byte loop
        return False
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


class AnswerJSON(BaseContentNegotiation):
    """Calendly reads JSON whatever its ``Accept`` says: no negotiation (a tenth of a millisecond an
    acknowledgement, and no 406 for a sender that asks for something else)."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return None

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, str(renderer.media_type)


class CalendlyWebhookView(APIView):
    """``POST /webhooks/calendly/<connection id>/`` (or without an id when one key verifies)."""

    authentication_classes = []
    permission_classes = []
    throttle_classes = []
    # The body is read raw (the HMAC covers its bytes), and Calendly reads JSON: no parser, no
    # content negotiation between renderers.
    parser_classes = []
    renderer_classes = [JSONRenderer]
    content_negotiation_class = AnswerJSON

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        """Time every answer (``calendly_sync_webhook_ack_seconds``): Calendly waits for it."""
        started = time.perf_counter()
        response = super().dispatch(request, *args, **kwargs)
        ACK_LATENCY.labels(status=str(response.status_code)).observe(time.perf_counter() - started)
        return response

    def post(self, request: Request, connection_id: int | None = None) -> Response:
        django_request: HttpRequest = request._request
        tolerance = app_settings.CALENDLY_WEBHOOK_TOLERANCE
        # The header's shape first: a stranger's request without one costs no body read and no query.
        try:
            t, signatures = parse_signature_header(django_request.headers.get(SIGNATURE_HEADER))
        except SignatureError as exc:
            return _reject(connection_id, exc)

        # A refusal by a row this process kept (credentials/signing) is checked against a fresh read:
        # a key rotated in another process verifies at once.
        if connection_id is not None:
            target = webhook_target(connection_id)
            if target is None:
                rejections.counter.record(None, RejectionKind.UNKNOWN_CONNECTION, f"no connection {connection_id}")
                return Response({"detail": "Unknown connection."}, status=404)
            raw = _read_body(django_request)
            if raw is None:
                return Response({"detail": f"Body larger than {MAX_BODY} bytes."}, status=413)
            try:
                _verify_for(raw, t, signatures, target.keys, tolerance)
            except SignatureError:
                target = webhook_target(connection_id, fresh=True)
                if target is None:
                    return Response({"detail": "Unknown connection."}, status=404)
                try:
                    _verify_for(raw, t, signatures, target.keys, tolerance)
                except SignatureError as exc:
                    return _reject(connection_id, exc)
        else:
            raw = _read_body(django_request)
            if raw is None:
                return Response({"detail": f"Body larger than {MAX_BODY} bytes."}, status=413)
            try:
                target = _route_by_key(raw, t, signatures, tolerance, enabled_targets())
            except _Refused:
                try:
                    target = _route_by_key(raw, t, signatures, tolerance, enabled_targets(fresh=True))
                except _Refused as refused:
                    return _reject(refused.connection_id, refused.error)
        rejections.counter.flush_if_due()  # counts a process holds go out with the next request, too

        # Authentic from here on. The target came with the keys, in the same query: what storing needs.
        if _too_deep(raw):
            return Response({"detail": f"Body nests deeper than {MAX_DEPTH} levels."}, status=400)
        try:
            envelope = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
        except (UnicodeDecodeError, ValueError):
            return Response({"detail": "Body is not valid JSON."}, status=400)
        problem = unstorable(envelope, raw)
        if problem:  # no database could store it, and Calendly never sends it
            return Response({"detail": f"Body {problem}."}, status=400)
        if not isinstance(envelope, dict) or not isinstance(envelope.get("event"), str):
            return Response({"detail": "Body is not a Calendly webhook envelope (missing 'event')."}, status=400)
        event = envelope["event"]
        payload = envelope.get("payload")
        if event in HANDLED_EVENTS and not isinstance(payload, dict):
            return Response({"detail": "Envelope 'payload' must be an object."}, status=400)
        return self._store(target, envelope, raw, t, django_request)

    def _store(
        self, target: WebhookTarget, envelope: dict[str, Any], raw: bytes, signature_t: int, request: HttpRequest
    ) -> Response:
        """One autocommitted ``INSERT``: durable before the 2xx, and the only write of a new delivery.

        No transaction around it (a savepoint and a ``COMMIT`` more, holding SQLite's write lock
        longer) and no write to the connection row (:mod:`calendly_sync.inbox.arrivals`). The unique
        idempotency key makes a redelivery fail the insert, which is then counted as such.
        """
        event = envelope["event"]
        payload = envelope.get("payload")
        if not isinstance(payload, dict):
            payload = {}
        key = idempotency_key(target.connection_id, envelope)
        # A disabled connection's deliveries are kept (and acknowledged: a 410 would make Calendly
        # delete the subscription) but never applied or pushed.
        why_ignored = (
            "connection is disabled"
            if not target.enabled
            else "event not handled by the connector"
            if event not in HANDLED_EVENTS
            else ""
        )
        ignored = bool(why_ignored)
        try:
            created_at: datetime | None = parse_time(envelope.get("created_at"))
        except MalformedPayload:
            created_at = None
        now = timezone.now()
        values = {
            "idempotency_key": key,
            "connection_id": target.connection_id,
            "event": event[:100],
            "status": WebhookDelivery.Status.IGNORED if ignored else WebhookDelivery.Status.PENDING,
            "invitee_uri": str(payload.get("uri") or "")[:300] if event in INVITEE_EVENTS else "",
            "email": str(payload.get("email") or "")[:254].lower(),
            "calendly_created_at": created_at,
            "signature_timestamp": signature_t,
            "payload": envelope,
            "raw_body": raw.decode("utf-8", "replace") if target.log_webhooks else "",
            "headers": _kept_headers(request) if target.log_webhooks else {},
            "last_error": why_ignored,
            "received_at": now,
        }
        # In autocommit (every request: ATOMIC_REQUESTS is off) a refused INSERT leaves nothing to roll
        # back. Inside a caller's transaction (a test's) a savepoint keeps that transaction usable.
        guard = transaction.atomic() if transaction.get_connection().in_atomic_block else nullcontext()
        try:
            with guard:
                delivery_id = insert_delivery(values)
        except IntegrityError:
            return self._stored_before(target, key, now)
        arrivals.record(target.connection_id, target.last_delivery_at, now)
        if target.verbose:
            log.info("stored delivery %s (%s) for connection %s", delivery_id, event, target.name)
        if not ignored:
            transaction.on_commit(partial(dispatch_delivery, delivery_id))  # now, in autocommit
        return Response({"status": "ignored" if ignored else "accepted", "id": delivery_id}, status=200)

    def _stored_before(self, target: WebhookTarget, key: str, now: datetime) -> Response:
        """The insert failed: a redelivery (its key is stored), or the connection was deleted meanwhile."""
        with transaction.atomic():
            counted = WebhookDelivery.objects.filter(idempotency_key=key).update(redeliveries=F("redeliveries") + 1)
            if not counted:
                return Response({"detail": "Unknown connection."}, status=404)
            arrivals.record(target.connection_id, target.last_delivery_at, now)
            log.info("duplicate delivery %s ignored", key[:12])
            # Calendly retries what it did not see acknowledged in time: if the first copy is still
            # waiting (its hand-over may have failed), hand it over again.
            pending = WebhookDelivery.objects.filter(
                idempotency_key=key, status=WebhookDelivery.Status.PENDING
            ).values_list("pk", flat=True)
            for pk in pending:
                transaction.on_commit(partial(dispatch_delivery, pk))
        return Response({"status": "duplicate"}, status=200)


def _kept_headers(request: HttpRequest) -> dict[str, str]:
    """The request's headers without the signature and credentials (kept only with ``log_webhooks``)."""
    return {k: v for k, v in request.headers.items() if k.lower() not in _DROP_HEADERS}


def _refuse_constant(name: str) -> float:
    """``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (RFC 8259), and PostgreSQL's ``jsonb``
    refuses them: a body holding them is a 400, not a 500 at the insert."""
    raise ValueError(f"{name} is not a JSON value")


@csrf_exempt
def brevo_import_notice(request: HttpRequest, token: str) -> HttpResponse:
    """Brevo's call at the end of a bulk import (its ``notifyUrl``, see :mod:`calendly_sync.push.notices`).

    Only a wake-up for the pusher that waits on it: neither the method nor the body of Brevo's call is
    documented, so GET and POST are both taken and the body is never read. A token that names no open
    notice (forged, expired, already purged) is a 404 and writes nothing.
    """
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    if not import_notices.wake(token):
        return HttpResponseNotFound()
    return HttpResponse(status=204)
