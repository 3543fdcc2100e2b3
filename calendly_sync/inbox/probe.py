"""A synthetic test booking, signed and posted to the connector's own webhook endpoint over HTTP.

Why: "is it working?" is best answered end to end — the address, the proxy and TLS in front of
the site, the signature check, the inbox, the drain and Brevo — without booking a real meeting
(for a real Calendly connection nothing is created at Calendly). The delivery is an
``invitee.created`` for a clearly fake invitee (``test+<random>@example.com``, named "Test
Booking"), signed with the connection's own signing key exactly as Calendly signs, and it travels
through real HTTP, so whatever would stop Calendly's deliveries stops it too and is reported.
The contact it creates in Brevo is a real one: delete it there (or ``forget_invitee``) afterwards.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from django.db import OperationalError
from django.urls import reverse

from calendly_sync.calendly.signatures import SIGNATURE_HEADER, signature_header
from calendly_sync.models import Connection, ContactSyncLog, WebhookDelivery

TIMEOUT = 10.0  # seconds for the POST: an endpoint that takes longer is reported as unreachable
WAIT_FOR_APPLY = 10.0  # seconds the action waits for the delivery to be applied before reporting it pending
POLL = 0.2
FAKE_HOST = "https://api.calendly.com"  # the URIs' shape; their ids are random and exist nowhere
TEST_NAME = "Test Booking"


# A delivery in one of these states will not change by itself: no need to wait any longer.
FINAL = (WebhookDelivery.Status.PROCESSED, WebhookDelivery.Status.FAILED, WebhookDelivery.Status.IGNORED)


class ProbeError(Exception):
    """The test booking could not be sent or was refused; the message says why and what to do."""


@dataclass
class ProbeResult:
    url: str
    email: str
    http_status: int
    answer: dict[str, Any]
    delivery: WebhookDelivery | None = None
    brevo: list[ContactSyncLog] = field(default_factory=list)


def _time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_email() -> str:
    """A clearly fake address no one owns (``example.com`` is reserved for examples)."""
    return f"test+{secrets.token_hex(4)}@example.com"


def _event_type(conn: Connection) -> tuple[str, str, list[str]]:
    """(URI, name, question names) of the event type the test booking is for: the first mapped
    one (so the contact lands in its lists), else the first in the catalog, else a made-up one."""
    catalog = {et.get("uri"): et for et in (conn.calendly_event_types or []) if isinstance(et, dict)}
    mapping = conn.event_type_mappings.filter(enabled=True).order_by("pk").first()
    if mapping is not None:
        et = catalog.get(mapping.event_type_uri, {})
        name = mapping.event_type_name or str(et.get("name") or "")
        return mapping.event_type_uri, name or TEST_NAME, _questions(et)
    if catalog:
        et = next(iter(catalog.values()))
        return str(et["uri"]), str(et.get("name") or TEST_NAME), _questions(et)
    return f"{FAKE_HOST}/event_types/{uuid.uuid4()}", TEST_NAME, []


def _questions(et: dict[str, Any]) -> list[str]:
    """The questions the test invitee answers: all but phone numbers (a made-up number could be
    someone's, and would be written to Brevo's SMS attribute)."""
    return [
        str(q["name"])
        for q in et.get("custom_questions") or []
        if isinstance(q, dict)
        and q.get("name")
        and q.get("type") != "phone_number"
        and "phone" not in str(q["name"]).lower()
    ]


def synthetic_invitee_created(conn: Connection, email: str, now: datetime | None = None) -> dict[str, Any]:
    """The envelope of an ``invitee.created`` delivery as Calendly sends it, for a fake invitee."""
    now = now or datetime.now(UTC)
    event_type_uri, event_type_name, questions = _event_type(conn)
    event_uri = f"{FAKE_HOST}/scheduled_events/{uuid.uuid4()}"
    start = (now + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    created = _time(now)
    return {
        "created_at": created,
        "created_by": conn.calendly_user_uri or f"{FAKE_HOST}/users/{uuid.uuid4()}",
        "event": "invitee.created",
        "payload": {
            "uri": f"{event_uri}/invitees/{uuid.uuid4()}",
            "email": email,
            "name": TEST_NAME,
            "first_name": "Test",
            "last_name": "Booking",
            "status": "active",
            "timezone": "UTC",
            "event": event_uri,
            "created_at": created,
            "updated_at": created,
            "rescheduled": False,
            "old_invitee": None,
            "new_invitee": None,
            "text_reminder_number": None,
            "questions_and_answers": [
                {"question": q, "answer": "Test answer", "position": i} for i, q in enumerate(questions)
            ],
            "tracking": {},
            "no_show": None,
            "scheduled_event": {
                "uri": event_uri,
                "name": event_type_name,
                "status": "active",
                "event_type": event_type_uri,
                "start_time": _time(start),
                "end_time": _time(start + timedelta(minutes=30)),
                "created_at": created,
                "updated_at": created,
                "location": {"type": "custom", "location": "Test booking sent from the connector's admin"},
                "event_memberships": [
                    {
                        "user": conn.calendly_user_uri,
                        "user_name": conn.calendly_user_name,
                        "user_email": conn.calendly_user_email,
                    }
                ],
            },
        },
    }


def endpoint_path(conn: Connection) -> str:
    return reverse("calendly_sync:webhook-connection", args=[conn.pk])


def send_test_booking(
    conn: Connection, base_url: str, *, wait: float = WAIT_FOR_APPLY, email: str | None = None
) -> ProbeResult:
    """Post a signed test booking to ``base_url`` + this connection's webhook path and report it.

    Waits up to ``wait`` seconds for the worker (embedded or Celery) to apply it, so the result can
    say what Brevo answered; a delivery still pending then is reported as such, with its link.
    Raises :class:`ProbeError` (never anything else for a network problem) when it cannot be sent
    or the endpoint refuses it.
    """
    keys = conn.signing_keys()
    if not keys:
        raise ProbeError(
            "this connection has no webhook signing key yet: register the webhook subscription first "
            "(action 'Register (or repair) the Calendly webhook subscription'), or set CALENDLY_WEBHOOK_SIGNING_KEY."
        )
    url = base_url.rstrip("/") + endpoint_path(conn)
    email = email or test_email()
    body = json.dumps(synthetic_invitee_created(conn, email)).encode("utf-8")
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature_header(body, keys[0])}
    try:
        response = requests.post(url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        raise ProbeError(
            f"could not reach {url} ({type(exc).__name__}): the connector's own webhook endpoint does not answer "
            "from the server at this address (a single-threaded server cannot answer itself: run gunicorn with "
            "the shipped deploy/gunicorn.conf.py). Calendly needs it reachable at the connection's webhook URL."
        ) from exc
    if response.is_redirect:
        raise ProbeError(
            f"{url} answered {response.status_code} redirecting to {response.headers.get('Location', '?')}: Calendly "
            "does not follow redirects. Behind a TLS proxy set SECURE_PROXY_SSL_HEADER (see docs/deployment.md)."
        )
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if not isinstance(answer, dict):
        answer = {}
    if response.status_code != 200:
        detail = answer.get("detail") or response.text[:200] or response.reason
        raise ProbeError(f"{url} answered {response.status_code}: {detail}")
    result = ProbeResult(url=url, email=email, http_status=response.status_code, answer=answer)
    delivery_id = answer.get("id")
    if isinstance(delivery_id, int):
        result.delivery = _applied(delivery_id, wait)
    if result.delivery is not None and result.delivery.status == WebhookDelivery.Status.PROCESSED:
        result.brevo = list(ContactSyncLog.objects.filter(connection=conn, email=email).order_by("created_at", "pk"))
    return result


def _applied(delivery_id: int, wait: float) -> WebhookDelivery | None:
    """The delivery once it is processed or failed, or as it is when ``wait`` seconds have passed."""
    deadline = time.monotonic() + wait
    delivery: WebhookDelivery | None = None
    while True:
        try:
            delivery = WebhookDelivery.objects.filter(pk=delivery_id).first()
        except OperationalError:  # SQLite: the table is being written by the worker; look again
            if time.monotonic() >= deadline:
                return delivery
            time.sleep(POLL)
            continue
        if delivery is None or delivery.status in FINAL:
            return delivery
        if time.monotonic() >= deadline:
            return delivery
        time.sleep(POLL)
