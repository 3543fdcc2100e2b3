"""Is each connection's sync healthy? A snapshot of facts, and one pure decision per health item.

:func:`gather` reads every connection's facts in a fixed number of aggregate queries (not a query
per connection per item) into :class:`Facts`. The decision functions in :data:`DECISIONS` each turn
one snapshot into one :class:`Item`: green, amber or red, a one-line detail, and for amber and red
the :class:`Action` that fixes it (an admin link, a command, or both). :func:`evaluate` runs them
all; the verdict is the worst level.

An item also declares the alert it raises (:attr:`Item.alert`), so the alerts
(:mod:`calendly_sync.overview.alerts`) are derived from the same decisions the dashboard shows:
one declaration per condition.

Nothing here calls Calendly or Brevo: the page must load when either is down, and quickly. What
only a network probe can tell (is the token still accepted, which scopes a Personal Access Token
holds, the clock skew) is ``manage.py calendly_doctor``'s; the facts here are what the connector
recorded the last time it talked to them (the connection's status, the subscription's state as the
periodic check found it, the 429s it logged).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Min, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.timesince import timesince

from calendly_sync.calendly.oauth import SCHEDULING_SCOPES, parse_scopes, scopes_for
from calendly_sync.conf import app_settings
from calendly_sync.inbox import rejections
from calendly_sync.inbox.rejections import RejectionSummary
from calendly_sync.instruments import rate_limited_since
from calendly_sync.models import AutomationEvent, Connection, Contact, ContactSyncLog, SyncRun, WebhookDelivery

GREEN, AMBER, RED = "green", "amber", "red"
LEVELS = (GREEN, AMBER, RED)  # worst last
#: How long after the hourly subscription check its result counts as stale.
SUBSCRIPTION_CHECK_STALE = timedelta(hours=3)
#: The window of the 429 counts and of the "recreated and backfilled" notice.
RECENT = timedelta(hours=24)
BREVO_REJECTED_PREFIX = "Brevo rejected the API key"  # inbox.deliveries records the error with it


# -- what the items say ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """What fixes an item: a link in the admin, the exact command, or both."""

    label: str
    url: str = ""
    command: str = ""


@dataclass(frozen=True)
class Condition:
    """An alert an item raises: its key (one open alert per connection and key) and severity.

    ``problem`` alerts send a message when they open and one when they clear; ``info`` alerts
    (news, not trouble) send one when they open and close silently.
    """

    key: str
    severity: str = "problem"


@dataclass(frozen=True)
class Item:
    key: str
    label: str
    level: str
    detail: str
    action: Action | None = None
    alert: Condition | None = None


@dataclass(frozen=True)
class LastRun:
    pk: int
    status: str
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    error: str


@dataclass(frozen=True)
class Facts:
    """What the database says about one connection, as of ``now``."""

    now: datetime
    connection_id: int
    name: str
    enabled: bool
    status: str
    auth_kind: str
    last_error: str
    has_token: bool
    has_refresh_token: bool
    token_expires_at: datetime | None
    scopes: str
    has_brevo_key: bool
    subscription_uri: str
    subscription_state: str
    subscription_checked_at: datetime | None
    last_delivery_at: datetime | None
    rejections: RejectionSummary = field(default_factory=RejectionSummary)
    deliveries_pending: int = 0
    deliveries_failed: int = 0
    oldest_pending_delivery: datetime | None = None
    contacts_dirty: int = 0
    oldest_dirty_contact: datetime | None = None
    events_pending: int = 0
    events_failed: int = 0
    events_unconfirmed: int = 0
    oldest_pending_event: datetime | None = None
    brevo_429s: int = 0
    calendly_429s: int = 0  # this process's in RECENT, all connections (Calendly's 429s are not logged per connection)
    last_run: LastRun | None = None
    gap_backfill: LastRun | None = None  # the last gap backfill that completed within RECENT
    scheduling_features: bool = False
    backlog_threshold: timedelta = timedelta(minutes=60)


@dataclass(frozen=True)
class Health:
    """One connection's items and verdict (the worst item's level)."""

    facts: Facts
    items: list[Item]

    @property
    def verdict(self) -> str:
        return max((item.level for item in self.items), key=LEVELS.index, default=GREEN)

    @property
    def conditions(self) -> list[tuple[Condition, Item]]:
        return [(item.alert, item) for item in self.items if item.alert is not None]


# -- links and commands ---------------------------------------------------------------------------


def _change(f: Facts) -> str:
    return reverse("admin:calendly_sync_connection_change", args=[f.connection_id])


def _changelist(model: str, **filters: str) -> str:
    url = reverse(f"admin:calendly_sync_{model}_changelist")
    return f"{url}?{urlencode(filters)}" if filters else url


def _command(f: Facts, command: str) -> str:
    return f"python manage.py {command} --connection {f.name}"


def _ago(at: datetime, now: datetime) -> str:
    return "just now" if now - at < timedelta(minutes=1) else f"{timesince(at, now)} ago"


def _reconnect(f: Facts) -> Action:
    if f.auth_kind == Connection.AuthKind.OAUTH:
        return Action("Reconnect Calendly", f"{reverse('calendly_sync:connect-calendly')}?connection={f.connection_id}")
    return Action("Enter a new Calendly Personal Access Token", _change(f))


# -- the decisions (pure: a Facts in, an Item out) --------------------------------------------------


def token(f: Facts) -> Item:
    label = "Calendly token"
    if f.status == Connection.Status.NEEDS_RECONNECT:
        why = f.last_error or "Calendly refused the token and it cannot be refreshed"
        return Item("token", label, RED, f"needs reconnecting: {why}", _reconnect(f), Condition("reconnect"))
    if not f.has_token:
        return Item("token", label, RED, "no token stored (and none in CALENDLY_ACCESS_TOKEN)", _reconnect(f))
    if f.auth_kind == Connection.AuthKind.OAUTH:
        if not f.has_refresh_token:
            return Item(
                "token",
                label,
                AMBER,
                "OAuth token without a refresh token: it stops working when it expires",
                _reconnect(f),
            )
        if f.token_expires_at is None:
            return Item("token", label, GREEN, "OAuth; refreshed automatically")
        if f.token_expires_at > f.now:
            return Item(
                "token",
                label,
                GREEN,
                f"OAuth; expires in {timesince(f.now, f.token_expires_at)}, refreshed automatically",
            )
        return Item(
            "token", label, GREEN, f"OAuth; expired {_ago(f.token_expires_at, f.now)}, refreshed at its next use"
        )
    if f.status == Connection.Status.NEW:
        return Item(
            "token",
            label,
            AMBER,
            "Personal Access Token, not checked yet",
            Action("Run the doctor", _change(f), _command(f, "calendly_doctor")),
        )
    return Item("token", label, GREEN, "Personal Access Token (no expiry), not refused by Calendly")


def scopes(f: Facts) -> Item:
    label = "Scopes"
    granted = parse_scopes(f.scopes)
    if not granted:
        return Item("scopes", label, GREEN, "not recorded (a Personal Access Token's scopes are probed by the doctor)")
    if "default" in granted:
        return Item("scopes", label, GREEN, "legacy token with full access")
    missing_base = [s for s in scopes_for(False) if s not in granted]
    if missing_base:
        return Item(
            "scopes", label, RED, f"missing {', '.join(missing_base)}: the sync cannot work without them", _reconnect(f)
        )
    missing = [s for s in SCHEDULING_SCOPES if s not in granted]
    if f.scheduling_features and missing:
        return Item(
            "scopes",
            label,
            AMBER,
            f"missing {', '.join(missing)} for bookings and single-use links (CALENDLY_SCHEDULING_FEATURES is on)",
            _reconnect(f),
        )
    return Item("scopes", label, GREEN, " ".join(granted))


def subscription(f: Facts) -> Item:
    label = "Webhook subscription"
    # The connection's page has the "Repair webhook subscription" button (a POST; a link cannot be one).
    repair = Action("Repair webhook subscription", _change(f), _command(f, "calendly_webhooks ensure"))
    checked = (
        f" (checked {_ago(f.subscription_checked_at, f.now)})" if f.subscription_checked_at else " (never checked)"
    )
    if not f.subscription_uri:
        return Item(
            "subscription",
            label,
            RED,
            "none registered: no booking reaches the connector by webhook",
            repair,
            Condition("subscription"),
        )
    state = f.subscription_state or "unknown"
    if state in ("disabled", "missing"):
        what = "disabled by Calendly (24 h of failed deliveries)" if state == "disabled" else "deleted at Calendly"
        return Item(
            "subscription", label, RED, f"{what}{checked}; it could not be recreated", repair, Condition("subscription")
        )
    if state != "active":
        return Item("subscription", label, AMBER, f"state {state}{checked}", repair)
    if f.subscription_checked_at is None or f.now - f.subscription_checked_at > SUBSCRIPTION_CHECK_STALE:
        return Item(
            "subscription",
            label,
            AMBER,
            f"active when last seen{checked}; the hourly check is not running",
            Action(
                "Run Celery beat (with a broker), or the server with its embedded worker",
                command="celery -A connector_site beat -l info",
            ),
        )
    if f.gap_backfill is not None:
        run = f.gap_backfill
        done = f"{_ago(run.finished_at, f.now)}" if run.finished_at else ""
        return Item(
            "subscription",
            label,
            GREEN,
            f"active{checked}; recreated after Calendly disabled or lost it, and the gap backfilled (run #{run.pk}, "
            f"{done})",
            alert=Condition(f"subscription_recreated:{run.pk}", "info"),
        )
    return Item("subscription", label, GREEN, f"active{checked}")


def last_delivery(f: Facts) -> Item:
    label = "Last delivery"
    if f.last_delivery_at is None:
        return Item(
            "last_delivery",
            label,
            AMBER,
            "no webhook delivery received yet",
            Action(
                "Run the doctor (callback URL, subscription, signatures)", _change(f), _command(f, "calendly_doctor")
            ),
        )
    return Item("last_delivery", label, GREEN, f"received {_ago(f.last_delivery_at, f.now)}")


def signatures(f: Facts) -> Item:
    label = "Signature rejections"
    level, message = rejections.assess(f.rejections)
    if level == "FAIL":
        return Item(
            "signatures",
            label,
            RED,
            message,
            Action(
                "Repair webhook subscription (new signing key)", _change(f), _command(f, "calendly_webhooks ensure")
            ),
        )
    if level == "WARN":
        return Item(
            "signatures", label, AMBER, message, Action("Check the server clock (NTP)", command="timedatectl status")
        )
    return Item("signatures", label, GREEN, message)


def deliveries(f: Facts) -> Item:
    label = "Deliveries"
    detail = f"{f.deliveries_pending} pending, {f.deliveries_failed} failed"
    if f.deliveries_failed:
        return Item(
            "deliveries",
            label,
            RED,
            f"{detail}: they failed past their retries",
            Action(
                "Retry failed deliveries",
                _changelist("webhookdelivery", connection__id__exact=str(f.connection_id), status__exact="failed"),
                "python manage.py process_deliveries --failed --now",
            ),
            Condition("deliveries_failing"),
        )
    return _backlog(
        f,
        "deliveries",
        label,
        detail,
        f.oldest_pending_delivery,
        _changelist("webhookdelivery", connection__id__exact=str(f.connection_id), status__exact="pending"),
    )


def contacts(f: Facts) -> Item:
    return _backlog(
        f,
        "contacts",
        "Contacts to push",
        f"{f.contacts_dirty} dirty",
        f.oldest_dirty_contact,
        _changelist("contact", connection__id__exact=str(f.connection_id), dirty__exact="1"),
    )


def events(f: Facts) -> Item:
    label = "Automation events"
    detail = f"{f.events_pending} pending, {f.events_failed} failed, {f.events_unconfirmed} unconfirmed"
    link = _changelist("automationevent", connection__id__exact=str(f.connection_id), status__exact="failed")
    if f.events_failed:
        return Item(
            "events",
            label,
            RED,
            f"{detail}: failed ones were refused or retried past their horizon",
            Action("Requeue failed automation events", link),
            Condition("deliveries_failing"),
        )
    if f.events_unconfirmed:
        return Item(
            "events",
            label,
            AMBER,
            f"{detail}: Brevo's answer was lost; check them in Brevo",
            Action(
                "Requeue or confirm unconfirmed events",
                _changelist("automationevent", connection__id__exact=str(f.connection_id), status__exact="unconfirmed"),
            ),
        )
    return _backlog(
        f,
        "events",
        label,
        detail,
        f.oldest_pending_event,
        _changelist("automationevent", connection__id__exact=str(f.connection_id), status__exact="pending"),
    )


def _backlog(f: Facts, key: str, label: str, detail: str, oldest: datetime | None, url: str) -> Item:
    """Waiting work is normal; waiting longer than ``ALERT_BACKLOG_MINUTES`` is not."""
    if oldest is None:
        return Item(key, label, GREEN, detail)
    age = f.now - oldest
    detail = f"{detail}, oldest waiting {timesince(oldest, f.now)}" if age >= timedelta(minutes=1) else detail
    if age > f.backlog_threshold:
        minutes = int(f.backlog_threshold.total_seconds() // 60)
        return Item(
            key,
            label,
            RED,
            f"{detail} (more than {minutes} min): is the worker running, is Brevo reachable?",
            Action("See what waits, and why", url),
            Condition("backlog"),
        )
    return Item(key, label, GREEN, detail)


def brevo_key(f: Facts) -> Item:
    label = "Brevo API key"
    change = Action("Enter a new Brevo API key", _change(f))
    if f.status == Connection.Status.ERROR and f.last_error.startswith(BREVO_REJECTED_PREFIX):
        return Item("brevo_key", label, RED, f.last_error, change, Condition("brevo_key"))
    if not f.has_brevo_key:
        return Item("brevo_key", label, RED, "none stored (and none in BREVO_API_KEY)", change)
    return Item("brevo_key", label, GREEN, "stored, and Brevo has not rejected it")


def rate_limits(f: Facts) -> Item:
    label = "429s (rate limits)"
    detail = (
        f"Brevo: {f.brevo_429s} in 24 h; Calendly: {f.calendly_429s} in 24 h (this server process, all connections)"
    )
    if f.brevo_429s or f.calendly_429s:
        return Item(
            "rate_limits",
            label,
            AMBER,
            f"{detail}; waited out and retried automatically",
            Action(
                "Nothing, unless it persists: another app may share the key's quota",
                _changelist("contactsynclog", connection__id__exact=str(f.connection_id)),
            ),
        )
    return Item("rate_limits", label, GREEN, detail)


def last_sync(f: Facts) -> Item:
    label = "Last sync run"
    run = f.last_run
    sync_now = Action("Sync now (on the connection's page)", _change(f), _command(f, "sync_calendly"))
    if run is None:
        return Item("sync", label, AMBER, "none yet: nothing before the webhook subscription was fetched", sync_now)
    when = _ago(run.finished_at or run.started_at, f.now)
    link = reverse("admin:calendly_sync_syncrun_change", args=[run.pk])
    if run.status == SyncRun.Status.FAILED:
        return Item(
            "sync",
            label,
            RED,
            f"run #{run.pk} failed {when}: {run.error[:200]}",
            Action("See the run, then Sync now", link, _command(f, "sync_calendly")),
        )
    if run.status == SyncRun.Status.INTERRUPTED:
        return Item("sync", label, AMBER, f"run #{run.pk} interrupted {when}", Action("See the run", link))
    return Item("sync", label, GREEN, f"run #{run.pk} {run.status} {when}")


#: The items, in the order the dashboard shows them.
DECISIONS: Sequence[Callable[[Facts], Item]] = (
    token,
    scopes,
    subscription,
    last_delivery,
    signatures,
    deliveries,
    contacts,
    events,
    brevo_key,
    rate_limits,
    last_sync,
)


def judge(f: Facts) -> Health:
    if not f.enabled:
        return Health(
            f,
            [
                Item(
                    "enabled",
                    "Connection",
                    AMBER,
                    "disabled: nothing is synced",
                    Action("Enable the connection", _change(f)),
                )
            ],
        )
    return Health(f, [decide(f) for decide in DECISIONS])


# -- the snapshot -----------------------------------------------------------------------------------


def _process_429s(api: str, now: datetime) -> int:
    """This process's 429s from ``api`` in the last :data:`RECENT` (in memory; never a network call)."""
    return rate_limited_since(api, (now - RECENT).timestamp())


def _grouped(queryset: QuerySet[Any], **aggregates: Any) -> dict[int, dict[str, Any]]:
    """``aggregates`` per connection id, in one query."""
    rows = queryset.order_by().values("connection_id").annotate(**aggregates)
    return {row.pop("connection_id"): row for row in rows}


def gather(connections: Sequence[Connection] | None = None, now: datetime | None = None) -> list[Facts]:
    """Every (or these) connection's facts, in a fixed number of queries whatever their number."""
    now = now or timezone.now()
    conns = list(connections) if connections is not None else list(Connection.objects.order_by("name"))
    ids = [c.pk for c in conns]
    if not ids:
        return []
    waiting = [WebhookDelivery.Status.PENDING, WebhookDelivery.Status.PROCESSING]
    delivery = _grouped(
        WebhookDelivery.objects.filter(connection_id__in=ids, status__in=[*waiting, WebhookDelivery.Status.FAILED]),
        pending=Count("id", filter=Q(status__in=waiting)),
        failed=Count("id", filter=Q(status=WebhookDelivery.Status.FAILED)),
        oldest=Min("received_at", filter=Q(status__in=waiting)),
    )
    dirty = _grouped(Contact.objects.filter(connection_id__in=ids, dirty=True), n=Count("id"), oldest=Min("updated_at"))
    ev_waiting = [AutomationEvent.Status.PENDING, AutomationEvent.Status.SENDING]
    event = _grouped(
        AutomationEvent.objects.filter(
            connection_id__in=ids,
            status__in=[*ev_waiting, AutomationEvent.Status.FAILED, AutomationEvent.Status.UNCONFIRMED],
        ),
        pending=Count("id", filter=Q(status__in=ev_waiting)),
        failed=Count("id", filter=Q(status=AutomationEvent.Status.FAILED)),
        unconfirmed=Count("id", filter=Q(status=AutomationEvent.Status.UNCONFIRMED)),
        oldest=Min("created_at", filter=Q(status__in=ev_waiting)),
    )
    brevo_429 = _grouped(
        ContactSyncLog.objects.filter(connection_id__in=ids, http_status=429, created_at__gte=now - RECENT),
        n=Count("id"),
    )
    runs = SyncRun.objects.filter(connection_id__in=ids, dry_run=False)
    latest_ids = [
        row["last"] for row in runs.order_by().values("connection_id").annotate(last=Max("id")).values("last")
    ]
    gap_ids = [
        row["last"]
        for row in runs.filter(
            trigger=SyncRun.Trigger.GAP_BACKFILL, status=SyncRun.Status.COMPLETED, finished_at__gte=now - RECENT
        )
        .order_by()
        .values("connection_id")
        .annotate(last=Max("id"))
        .values("last")
    ]
    by_id = {
        run.pk: run
        for run in SyncRun.objects.filter(pk__in=[*latest_ids, *gap_ids]).only(
            "connection_id", "status", "trigger", "started_at", "finished_at", "error"
        )
    }
    latest = {by_id[pk].connection_id: _run(by_id[pk]) for pk in latest_ids if pk in by_id}
    gaps = {by_id[pk].connection_id: _run(by_id[pk]) for pk in gap_ids if pk in by_id}
    summaries = rejections.summarize_connections(ids, now)
    calendly_429s = _process_429s("calendly", now)
    threshold = timedelta(minutes=float(app_settings.ALERT_BACKLOG_MINUTES))
    out = []
    for c in conns:
        d, k, e = delivery.get(c.pk, {}), dirty.get(c.pk, {}), event.get(c.pk, {})
        out.append(
            Facts(
                now=now,
                connection_id=c.pk,
                name=c.name,
                enabled=c.enabled,
                status=c.status,
                auth_kind=c.auth_kind,
                last_error=c.last_error,
                has_token=bool(c.effective_access_token()),
                has_refresh_token=bool(c.refresh_token),
                token_expires_at=c.token_expires_at,
                scopes=c.scopes,
                has_brevo_key=bool(c.effective_brevo_api_key()),
                subscription_uri=c.webhook_subscription_uri,
                subscription_state=c.webhook_subscription_state,
                subscription_checked_at=c.webhook_checked_at,
                last_delivery_at=summaries[c.pk].last_accepted_at,  # the column's mark or a newer delivery
                rejections=summaries[c.pk],
                deliveries_pending=int(d.get("pending") or 0),
                deliveries_failed=int(d.get("failed") or 0),
                oldest_pending_delivery=d.get("oldest"),
                contacts_dirty=int(k.get("n") or 0),
                oldest_dirty_contact=k.get("oldest"),
                events_pending=int(e.get("pending") or 0),
                events_failed=int(e.get("failed") or 0),
                events_unconfirmed=int(e.get("unconfirmed") or 0),
                oldest_pending_event=e.get("oldest"),
                brevo_429s=int(brevo_429.get(c.pk, {}).get("n") or 0),
                calendly_429s=calendly_429s,
                last_run=latest.get(c.pk),
                gap_backfill=gaps.get(c.pk),
                scheduling_features=bool(app_settings.CALENDLY_SCHEDULING_FEATURES),
                backlog_threshold=threshold,
            )
        )
    return out


def _run(run: SyncRun) -> LastRun:
    return LastRun(run.pk, run.status, run.trigger, run.started_at, run.finished_at, run.error)


def evaluate(connections: Sequence[Connection] | None = None, now: datetime | None = None) -> list[Health]:
    """Every (or these) connection's health: the snapshot, judged."""
    return [judge(f) for f in gather(connections, now)]
