"""Webhook subscriptions: create the right one, reuse an identical one, heal a disabled one.

Calendly disables a subscription after 24 h of failed deliveries and never re-enables it; it
sends no alert. So a periodic check recreates it and asks for a backfill of the gap since the last
delivery (the ``subscription_gap`` signal: the backfill queues it as a sync job, run by the same code
as ``sync_calendly``): nothing is lost while the endpoint was unreachable.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.dispatch import Signal
from django.urls import reverse
from django.utils import timezone

from calendly_sync.calendly.client import CalendlyClient
from calendly_sync.calendly.errors import CalendlyConflict, CalendlyNotFound, CalendlyPermissionError
from calendly_sync.calendly.events import SUBSCRIBED_EVENTS
from calendly_sync.conf import app_settings
from calendly_sync.credentials.clients import calendly_client_for, identify
from calendly_sync.models import Connection
from calendly_sync.sync.observations import parse_time

log = logging.getLogger(__name__)
GAP_MARGIN = timedelta(hours=1)
USER_SCOPE_WARNING = (
    "The token's user is not an organization owner or admin, so the subscription is user-scoped: "
    "bookings with colleagues will not arrive. Connect with an admin's token for organization scope."
)


@dataclass
class EnsureResult:
    action: str  # reused | created | recreated
    scope: str
    uri: str
    url: str
    warnings: list[str] = field(default_factory=list)
    backfill: str = ""


def callback_url(connection: Connection) -> str:
    return app_settings.SITE_URL + reverse("calendly_sync:webhook-connection", args=[connection.pk])


def list_subscriptions(
    connection: Connection, client: CalendlyClient | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """(scope, subscriptions): organization scope when allowed, else the user's own."""
    client = client or calendly_client_for(connection)
    identify(connection, client)
    try:
        subs = list(
            client.list_webhook_subscriptions(organization=connection.calendly_organization_uri, scope="organization")
        )
        return "organization", subs
    except CalendlyPermissionError:
        subs = list(
            client.list_webhook_subscriptions(
                organization=connection.calendly_organization_uri, scope="user", user=connection.calendly_user_uri
            )
        )
        return "user", subs


def ensure_subscription(
    connection: Connection,
    url: str | None = None,
    *,
    client: CalendlyClient | None = None,
    backfill_gap: bool = True,
    rotate_signing_key: bool = False,
) -> EnsureResult:
    """Make sure Calendly delivers to ``url`` with a key this connection holds.

    ``rotate_signing_key``: replace even an identical active subscription, so that it gets a new
    signing key (Calendly cannot change a subscription's key). The old key keeps verifying for the
    grace period, and what was booked while no subscription existed is backfilled.
    """
    rotation_started = timezone.now()
    client = client or calendly_client_for(connection)
    url = url or callback_url(connection)
    scope, subs = list_subscriptions(connection, client)
    warnings = [USER_SCOPE_WARNING] if scope == "user" else []
    if not url.startswith("https://"):
        warnings.append(f"Callback URL {url} is not HTTPS: Calendly only delivers to public HTTPS URLs.")
    was_disabled = False
    gap_start = connection.last_delivery_at
    for sub in [s for s in subs if s.get("callback_url") == url]:
        identical = (
            sub.get("state") == "active"
            and set(SUBSCRIBED_EVENTS) <= set(sub.get("events") or [])
            and sub.get("scope") == scope
            and bool(connection.webhook_signing_key)
        )
        if identical and not rotate_signing_key:
            _store(connection, sub, scope, url)
            return EnsureResult("reused", scope, sub["uri"], url, warnings)
        if sub.get("state") == "disabled":
            was_disabled = True
            started = sub.get("retry_started_at")
            if started and gap_start is None:
                gap_start = parse_time(started)
        client.delete_webhook_subscription(sub["uri"])
    sub, scope = _create(connection, client, url, scope, warnings)
    action = "recreated" if was_disabled else "rotated" if rotate_signing_key else "created"
    result = EnsureResult(action, scope, sub["uri"], url, warnings)
    if was_disabled and backfill_gap:
        result.backfill = backfill_since(connection, gap_start)
    elif rotate_signing_key and backfill_gap:
        result.backfill = backfill_since(connection, rotation_started)
    return result


def _create(
    connection: Connection, client: CalendlyClient, url: str, scope: str, warnings: list[str]
) -> tuple[dict[str, Any], str]:
    key = secrets.token_urlsafe(32)
    kwargs: dict[str, Any] = dict(
        url=url, events=list(SUBSCRIBED_EVENTS), organization=connection.calendly_organization_uri, signing_key=key
    )
    for attempt in range(2):
        try:
            if scope == "organization":
                sub = client.create_webhook_subscription(scope="organization", **kwargs)
            else:
                sub = client.create_webhook_subscription(scope="user", user=connection.calendly_user_uri, **kwargs)
            break
        except CalendlyPermissionError:
            if scope != "organization":
                raise
            scope = "user"
            warnings.append(USER_SCOPE_WARNING)
        except CalendlyConflict:
            if attempt:
                raise
            # A subscription for this URL exists in the other scope: remove it and try once more.
            for other in ("user", "organization"):
                try:
                    extra = {"user": connection.calendly_user_uri} if other == "user" else {}
                    for s in client.list_webhook_subscriptions(
                        organization=connection.calendly_organization_uri, scope=other, **extra
                    ):
                        if s.get("callback_url") == url:
                            client.delete_webhook_subscription(s["uri"])
                except CalendlyPermissionError:
                    continue
    # Rotate: the old key stays valid for a grace period (deliveries in flight were signed with it).
    rotated = ["webhook_signing_key"]
    if connection.webhook_signing_key and connection.webhook_signing_key != key:
        connection.previous_signing_key = connection.webhook_signing_key
        connection.signing_key_rotated_at = timezone.now()
        rotated += ["previous_signing_key", "signing_key_rotated_at"]
    connection.webhook_signing_key = key
    _store(connection, sub, scope, url, also=rotated)
    return sub, scope


def _store(connection: Connection, sub: dict[str, Any], scope: str, url: str, also: Sequence[str] = ()) -> None:
    """Record the subscription, writing only these fields: the Calendly calls before may have
    refreshed the OAuth tokens in the database, and a full save would write the spent ones back."""
    connection.webhook_subscription_uri = sub.get("uri", "")
    connection.webhook_subscription_state = sub.get("state", "active")
    connection.webhook_scope = scope
    connection.webhook_callback_url = url
    connection.webhook_checked_at = timezone.now()
    connection.save(
        update_fields=[
            "webhook_subscription_uri",
            "webhook_subscription_state",
            "webhook_scope",
            "webhook_callback_url",
            "webhook_checked_at",
            *also,
            "updated_at",
        ]
    )
    connection.record_working(brevo=False)


def delete_subscriptions(
    connection: Connection, url: str | None = None, client: CalendlyClient | None = None
) -> list[str]:
    client = client or calendly_client_for(connection)
    _, subs = list_subscriptions(connection, client)
    deleted = []
    for sub in subs:
        if url is None or sub.get("callback_url") == url:
            client.delete_webhook_subscription(sub["uri"])
            deleted.append(sub["uri"])
    if connection.webhook_subscription_uri in deleted:
        connection.webhook_subscription_uri = ""
        connection.webhook_subscription_state = ""
        connection.save(update_fields=["webhook_subscription_uri", "webhook_subscription_state", "updated_at"])
    return deleted


#: Sent when a subscription was recreated after Calendly disabled or lost it, with ``connection``
#: and ``since`` (when the gap began, with a margin): a receiver has what the subscription missed
#: fetched and returns a one-line summary. The backfill (a door, above this layer) connects to it
#: and queues a background job: this runs in the drain's thread or a request, never the fetch.
subscription_gap = Signal()


def backfill_since(connection: Connection, since: datetime | None) -> str:
    """Have what the subscription missed fetched (a queued backfill, with automation events)."""
    start = (since or timezone.now() - timedelta(days=1)) - GAP_MARGIN
    answers = subscription_gap.send(sender=Connection, connection=connection, since=start)
    return "; ".join(str(answer) for _, answer in answers) or "no gap backfill is connected"


def check_health(connection: Connection, client: CalendlyClient | None = None) -> str:
    """Recreate the subscription when Calendly disabled or lost it. Returns what it found."""
    client = client or calendly_client_for(connection)
    if not connection.webhook_subscription_uri:
        return f"{connection.name}: no subscription registered"
    try:
        sub = client.get_webhook_subscription(connection.webhook_subscription_uri)
    except CalendlyNotFound:
        sub = {"state": "missing"}
    state = sub.get("state", "")
    Connection.objects.filter(pk=connection.pk).update(
        webhook_subscription_state=state, webhook_checked_at=timezone.now()
    )
    if state == "active":
        connection.record_working(brevo=False)
        return f"{connection.name}: subscription active"
    result = ensure_subscription(connection, connection.webhook_callback_url or None, client=client)
    if state == "missing" and not result.backfill:
        result.backfill = backfill_since(connection, connection.last_delivery_at)
    return f"{connection.name}: subscription was {state}; {result.action} ({result.backfill})"


def check_all() -> list[str]:
    out = []
    for connection in Connection.objects.filter(enabled=True).exclude(webhook_subscription_uri=""):
        try:
            out.append(check_health(connection))
        except Exception as exc:  # noqa: BLE001 - one broken connection must not stop the others
            log.warning("subscription check failed for %s: %s", connection.name, exc)
            out.append(f"{connection.name}: check failed: {exc}")
    return out
