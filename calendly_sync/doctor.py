"""``calendly_doctor``: check, and explain, what the product page's troubleshooting table lists.

Each check returns one line: OK, WARN or FAIL, what was found, and what to do about it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from django.db.models import Count

from calendly_sync.brevo.errors import BrevoAuthError, BrevoError
from calendly_sync.calendly.client import CalendlyClient
from calendly_sync.calendly.errors import CalendlyAuthError, CalendlyError, CalendlyNotFound, CalendlyPermissionError
from calendly_sync.calendly.oauth import SCHEDULING_SCOPES, parse_scopes
from calendly_sync.conf import app_settings
from calendly_sync.credentials.clients import MissingCredentials, brevo_client_for, calendly_client_for
from calendly_sync.inbox import rejections
from calendly_sync.inbox.subscriptions import callback_url
from calendly_sync.models import AutomationEvent, Connection, EventTypeMapping, WebhookDelivery
from calendly_sync.push.attributes import ensure_attributes
from calendly_sync.scheduling.pacing import plan_of, usage
from calendly_sync.sync.projection import Rules

OK, WARN, FAIL = "OK", "WARN", "FAIL"


@dataclass
class Check:
    level: str
    name: str
    message: str

    def line(self) -> str:
        return f"[{self.level:4}] {self.name}: {self.message}"


def quick_check(connection: Connection) -> tuple[bool, str]:
    """Token and key valid? Used by the admin's "Check" action; records who the token belongs to."""
    checks = [_calendly_token(connection), _brevo_key(connection)]
    ok = all(c.level != FAIL for c in checks)
    return ok, "; ".join(f"{c.name}: {c.message}" for c in checks)


def _calendly_token(connection: Connection, client: CalendlyClient | None = None) -> Check:
    try:
        client = client or calendly_client_for(connection)
        me = client.get_current_user()
    except CalendlyAuthError as exc:
        return Check(
            FAIL,
            "Calendly token",
            f"{exc} (401: the token expired or was revoked; refresh, reconnect, or issue a new Personal Access Token)",
        )
    except (CalendlyError, MissingCredentials, RuntimeError) as exc:
        return Check(FAIL, "Calendly token", str(exc))
    Connection.objects.filter(pk=connection.pk).update(
        calendly_user_uri=me.get("uri", ""),
        calendly_organization_uri=me.get("current_organization", ""),
        calendly_user_name=(me.get("name") or "")[:200],
        calendly_user_email=me.get("email") or "",
        status=Connection.Status.ACTIVE if connection.status in ("new", "error") else connection.status,
    )
    connection.refresh_from_db()
    scopes = f"; scopes: {connection.scopes}" if connection.scopes else ""
    return Check(OK, "Calendly token", f"valid, user {me.get('name')} <{me.get('email')}>{scopes}")


def _brevo_key(connection: Connection) -> Check:
    try:
        client = brevo_client_for(connection)
        client.list_attributes()
    except MissingCredentials as exc:
        return Check(FAIL, "Brevo API key", str(exc))
    except BrevoAuthError as exc:
        return Check(FAIL, "Brevo API key", str(exc))
    except BrevoError as exc:
        return Check(FAIL, "Brevo API key", f"Brevo answered {exc}")
    return Check(OK, "Brevo API key", "valid")


def run_checks(connection: Connection) -> list[Check]:
    checks: list[Check] = []
    token = _calendly_token(connection)
    checks.append(token)
    client = None
    if token.level == OK:
        client = calendly_client_for(connection)
        checks.append(_scope(connection, client))
        checks.append(_subscription(connection, client))
        checks.append(_scheduling(connection, client))
        checks.append(_clock_skew(client))
    checks.append(_callback_url(connection))
    checks.append(_rejections(connection))
    brevo = _brevo_key(connection)
    checks.append(brevo)
    if brevo.level == OK:
        checks.extend(_brevo_objects(connection))
    checks.append(_pending(connection))
    checks.append(_automation_events(connection))
    return checks


def _scope(connection: Connection, client: CalendlyClient) -> Check:
    try:
        list(client.list_webhook_subscriptions(organization=connection.calendly_organization_uri, scope="organization"))
    except CalendlyPermissionError:
        return Check(
            WARN,
            "Webhook scope",
            "the token's user is not an organization admin: only user-scoped webhooks "
            "are possible, so colleagues' bookings will not arrive (use an admin's token)",
        )
    except CalendlyError as exc:
        return Check(WARN, "Webhook scope", f"could not list subscriptions: {exc}")
    return Check(OK, "Webhook scope", "organization scope available (all bookings in the organization)")


#: What each scheduling scope allows, and a request that needs it but changes nothing (an empty body
#: is refused with 400 when the scope is granted, 403 naming the scope when it is not).
SCHEDULING_PROBES = {
    "scheduled_events:write": ("bookings (POST /api/bookings/)", "/invitee_no_shows"),
    "scheduling_links:write": ("single-use links (POST /api/scheduling-links/)", "/scheduling_links"),
}


def _probe(client: CalendlyClient, path: str) -> bool | None:
    """Whether the token holds the scope ``path`` needs: True, False, or None when Calendly did not say."""
    try:
        client.request("POST", path, json={})
    except CalendlyPermissionError as exc:
        return False if exc.missing_scopes else None
    except CalendlyError as exc:
        return True if exc.status in (400, 404, 422) else None
    return True


def _scheduling(connection: Connection, client: CalendlyClient) -> Check:
    """Can the connection book and create links (issue #13's scheduling features)?

    An OAuth connection's granted scopes are stored; a Personal Access Token's are not readable
    through the API, so each scope is probed with an empty request that Calendly refuses either
    for the missing scope (403) or for the missing fields (400): nothing is created, and no
    booking quota is spent.
    """
    enabled = app_settings.CALENDLY_SCHEDULING_FEATURES
    granted = parse_scopes(connection.scopes)
    held: dict[str, bool | None] = {}
    for scope in SCHEDULING_SCOPES:
        if "default" in granted:
            held[scope] = True  # a legacy token: full access
        elif granted:
            held[scope] = scope in granted
        else:
            held[scope] = _probe(client, SCHEDULING_PROBES[scope][1])
    how = "scopes granted" if granted else "Personal Access Token, probed with empty requests"
    plan = f"{connection.get_scheduling_plan_display()} plan: {plan_of(connection).describe()} bookings"
    quota = f"{plan}; used {usage(connection).describe()}"
    missing = [scope for scope, ok in held.items() if ok is False]
    unknown = [scope for scope, ok in held.items() if ok is None]
    if not missing and not unknown:
        return Check(OK, "Scheduling", f"bookings and single-use links possible ({how}); {quota}")
    parts = []
    if missing:
        uses = ", ".join(SCHEDULING_PROBES[s][0] for s in missing)
        parts.append(f"the token lacks {', '.join(missing)}, so {uses} are refused (403)")
    if unknown:
        parts.append(f"Calendly did not say whether the token holds {', '.join(unknown)}")
    if not enabled:
        advice = "CALENDLY_SCHEDULING_FEATURES is off; to use them, turn it on and reconnect (or use a token with them)"
        return Check(OK, "Scheduling", f"{'; '.join(parts)}. {advice}")
    advice = (
        "reconnect Calendly: the Connect button asks for them now that CALENDLY_SCHEDULING_FEATURES is on"
        if connection.auth_kind == Connection.AuthKind.OAUTH
        else "create a Personal Access Token with these scopes"
    )
    return Check(FAIL if missing else WARN, "Scheduling", f"{'; '.join(parts)}: {advice}; {quota}")


def _subscription(connection: Connection, client: CalendlyClient) -> Check:
    if not connection.webhook_subscription_uri:
        return Check(
            FAIL,
            "Webhook subscription",
            "none registered: run `manage.py calendly_webhooks ensure` (webhooks not arriving? this is why)",
        )
    try:
        sub = client.get_webhook_subscription(connection.webhook_subscription_uri)
    except CalendlyNotFound:
        return Check(FAIL, "Webhook subscription", "deleted at Calendly: run `manage.py calendly_webhooks ensure`")
    except CalendlyError as exc:
        return Check(WARN, "Webhook subscription", str(exc))
    if sub.get("state") != "active":
        return Check(
            FAIL,
            "Webhook subscription",
            f"state {sub.get('state')} (Calendly disables a hook after 24 h of "
            "failed deliveries): run `manage.py calendly_webhooks ensure`",
        )
    if sub.get("retry_started_at"):
        return Check(
            WARN,
            "Webhook subscription",
            f"active, but Calendly has been retrying failed deliveries since {sub['retry_started_at']}",
        )
    return Check(OK, "Webhook subscription", f"active, {sub.get('scope')} scope → {sub.get('callback_url')}")


def _callback_url(connection: Connection) -> Check:
    url = connection.webhook_callback_url or callback_url(connection)
    host = urlsplit(url).hostname or ""
    if not url.startswith("https://"):
        return Check(WARN, "Callback URL", f"{url} is not HTTPS: Calendly only delivers to public HTTPS URLs")
    if host in ("localhost", "127.0.0.1", "::1") or host.endswith(".local"):
        return Check(WARN, "Callback URL", f"{url} is not reachable from the internet")
    return Check(OK, "Callback URL", url)


def _rejections(connection: Connection) -> Check:
    """Refused webhook requests: noise (anyone's junk) is a note, a key or clock problem a failure
    (the rule: :func:`calendly_sync.inbox.rejections.assess`)."""
    level, message = rejections.assess(rejections.summarize(connection))
    return Check(level, "Signatures", message)


def endpoint_checks() -> list[Check]:
    """The requests no connection could be told for (the URL without an id, or an unknown id)."""
    level, message = rejections.assess(rejections.summarize(None))
    return [Check(level, "Requests to no connection", message)]


def _clock_skew(client: CalendlyClient) -> Check:
    try:
        resp = client.session.get(
            client.base_url + "/users/me",
            timeout=10,
            headers={"Authorization": f"Bearer {client.tokens.access_token()}"},
        )
        date = resp.headers.get("Date")
    except Exception:  # noqa: BLE001 - the check is advisory: any failure means "no Date header"
        date = None
    if not date:
        return Check(OK, "Clock", "no Date header to compare with")
    skew = abs(parsedate_to_datetime(date).timestamp() - time.time())
    tolerance = app_settings.CALENDLY_WEBHOOK_TOLERANCE
    level = OK if skew < tolerance / 3 else (WARN if skew < tolerance else FAIL)
    return Check(level, "Clock", f"{skew:.0f} s from Calendly's clock (signatures tolerate {tolerance} s)")


def _brevo_objects(connection: Connection) -> list[Check]:
    client = brevo_client_for(connection)
    out = []
    lists = {int(item["id"]) for item in client.list_lists()}
    wanted: set[int] = set()
    for mapping in EventTypeMapping.objects.filter(connection=connection, enabled=True):
        wanted.update(int(i) for i in mapping.list_ids or [])
    wanted.update(int(i) for i in connection.default_list_ids or [])
    missing = sorted(wanted - lists)
    out.append(
        Check(
            FAIL if missing else OK,
            "Brevo lists",
            f"missing list ids {missing}" if missing else f"all {len(wanted)} mapped lists exist",
        )
    )
    existing, absent = ensure_attributes(
        connection, client, Rules.load(connection).attribute_types, dry_run=True, force=True
    )
    out.append(
        Check(
            WARN if absent else OK,
            "Brevo attributes",
            f"missing {', '.join(absent)} (run `manage.py brevo_setup`)"
            if absent
            else f"all {len(existing)} mapped attributes exist",
        )
    )
    gone = EventTypeMapping.objects.filter(connection=connection, missing_since__isnull=False)
    if gone.exists():
        out.append(
            Check(WARN, "Event types", "deleted in Calendly but still mapped: " + ", ".join(str(m) for m in gone))
        )
    return out


def _pending(connection: Connection) -> Check:
    failed = WebhookDelivery.objects.filter(connection=connection, status="failed").count()
    pending = WebhookDelivery.objects.filter(connection=connection, status="pending").count()
    if failed:
        return Check(
            FAIL, "Deliveries", f"{failed} failed, {pending} pending: see the admin's webhook log, then reprocess them"
        )
    return Check(OK if pending < 100 else WARN, "Deliveries", f"{pending} pending, none failed")


def _automation_events(connection: Connection) -> Check:
    """Failed events (refused, or past the retry horizon) and unconfirmed ones (answer lost) wait for someone."""
    counts = dict(
        AutomationEvent.objects.filter(connection=connection)
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    failed = counts.get(AutomationEvent.Status.FAILED, 0)
    unconfirmed = counts.get(AutomationEvent.Status.UNCONFIRMED, 0)
    pending = counts.get(AutomationEvent.Status.PENDING, 0)
    if failed:
        return Check(
            FAIL,
            "Automation events",
            f"{failed} failed, {unconfirmed} unconfirmed, {pending} pending: see the admin's automation events, "
            "then requeue them",
        )
    if unconfirmed:
        return Check(
            WARN,
            "Automation events",
            f"{unconfirmed} unconfirmed (sent, Brevo's answer lost): check those contacts' events in Brevo "
            "and requeue the missing ones",
        )
    return Check(OK, "Automation events", f"{pending} pending, none failed or unconfirmed")
