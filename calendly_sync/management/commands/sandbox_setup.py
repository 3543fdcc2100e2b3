"""``manage.py sandbox_setup``: a ready-to-try connector against the simulators (no accounts needed).

Creates the admin user ``admin``/``admin``, a ``sandbox`` connection with the simulators'
credentials, the product page's field mapping, a mapping of each simulated event type to the Brevo
list of the same name (created when missing), a webhook subscription pointing back at this site,
loads the connection's catalog (event types with their custom questions, Brevo lists and
attributes, so the admin's mapping forms offer names in dropdowns rather than URIs and ids to type)
and runs a first backfill. Refuses to run unless ``CONNECTOR_SANDBOX=1`` (set by
``scripts/dev.py run`` and ``scripts/dev.py manage`` in the sandbox).

``scripts/dev.py run`` runs it at every start. When the connection exists it re-checks the webhook
subscription (a missing or disabled one is recreated and the gap backfilled) and reloads the
catalog (the simulators' event types, questions and lists may have changed), and when the
simulators hold another account than the one the connection was set up against (their saved state
was deleted, or belongs to another database) it resets the connection, so the database never
describes bookings, contacts or a subscription the simulators do not have.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from calendly_sync.backfill import BackfillOptions, run_backfill
from calendly_sync.brevo.client import BrevoClient
from calendly_sync.brevo.errors import BrevoError
from calendly_sync.calendly.client import uuid_from_uri
from calendly_sync.calendly.errors import CalendlyError
from calendly_sync.connect.catalog import load_catalog
from calendly_sync.credentials.clients import brevo_client_for, calendly_client_for
from calendly_sync.inbox.subscriptions import callback_url, check_health, delete_subscriptions, ensure_subscription
from calendly_sync.models import Connection, EventTypeMapping, FieldMapping
from calendly_sync.sandbox.brevo import SANDBOX_API_KEY
from calendly_sync.sandbox.calendly import SANDBOX_TOKEN
from calendly_sync.sync.mapping import PRODUCT_PAGE_MAPPING

PAGE_FIELD_MAPPING = PRODUCT_PAGE_MAPPING
LIST_FOLDER = "Calendly"


def lists_to_create(event_type_names: Iterable[str], lists: Iterable[dict[str, Any]]) -> list[str]:
    """The event type names that have no Brevo list of the same name yet (case-insensitive), once each."""
    have = {str(lst.get("name", "")).casefold() for lst in lists}
    wanted: list[str] = []
    for name in event_type_names:
        if name.casefold() not in have:
            have.add(name.casefold())
            wanted.append(name)
    return wanted


def list_ids_by_name(brevo: BrevoClient, names: list[str]) -> dict[str, int]:
    """A Brevo list for each name (the one of that name, or a new one in the "Calendly" folder)."""
    lists = brevo.list_lists()
    missing = lists_to_create(names, lists)
    if missing:
        folder = next((f["id"] for f in brevo.list_folders() if f.get("name") == LIST_FOLDER), None)
        folder = folder if folder is not None else brevo.create_folder(LIST_FOLDER)
        lists += [{"id": brevo.create_list(name, folder), "name": name} for name in missing]
    by_name = {str(lst["name"]).casefold(): int(lst["id"]) for lst in reversed(lists)}  # first wins
    return {name: by_name[name.casefold()] for name in names}


class Command(BaseCommand):
    help = "Set up the sandbox connection against the simulated Calendly and Brevo (again at every start)."

    def handle(self, *args: Any, **opts: Any) -> None:
        if os.environ.get("CONNECTOR_SANDBOX") != "1":
            raise CommandError("sandbox_setup only runs with CONNECTOR_SANDBOX=1 (scripts/dev.py run sets it)")
        User = get_user_model()
        if not User.objects.filter(username="admin").exists():
            User.objects.create_superuser("admin", "admin@example.com", "admin")
            self.stdout.write("created admin user admin / admin")
        try:
            self._setup()
        except (CalendlyError, BrevoError) as exc:  # e.g. the simulators are not running: say which host
            raise CommandError(f"sandbox setup failed: {exc}") from exc

    def _setup(self) -> None:
        existing = Connection.objects.filter(name="sandbox").first()
        if existing is not None and self._same_account(existing):
            self._recheck(existing)
            return
        if existing is not None:
            self.stdout.write(
                "The simulators hold another account than the sandbox connection in the database (their saved "
                "state was deleted or belongs to another database): resetting the sandbox connection to match."
            )
            existing.delete()
        self._create()

    def _same_account(self, conn: Connection) -> bool:
        if not conn.calendly_organization_uri:
            return True  # never identified: nothing in the database belongs to another account
        me = calendly_client_for(conn).get_current_user()
        return uuid_from_uri(me["current_organization"]) == uuid_from_uri(conn.calendly_organization_uri)

    def _recheck(self, conn: Connection) -> None:
        """The connection exists: make sure Calendly still delivers to this site."""
        self.stdout.write("sandbox connection exists; checking its webhook subscription")
        url = callback_url(conn)
        if conn.webhook_callback_url and conn.webhook_callback_url != url:
            delete_subscriptions(conn, conn.webhook_callback_url)  # the site moved (another address)
            conn.refresh_from_db()
        if conn.webhook_subscription_uri:
            self.stdout.write(check_health(conn))
        else:
            result = ensure_subscription(conn)
            self.stdout.write(f"webhook subscription {result.action}: {result.url}")
        self._load_catalog(conn)

    def _load_catalog(self, conn: Connection) -> None:
        """What the admin's mapping forms offer by name; a half that fails is said, not fatal."""
        report = load_catalog(conn)
        for _, text in report.lines:
            self.stdout.write(f"catalog: {text}")

    def _create(self) -> None:
        conn = Connection.objects.create(
            name="sandbox", access_token=SANDBOX_TOKEN, brevo_api_key=SANDBOX_API_KEY, log_level="verbose"
        )
        try:
            self._configure(conn)
        except BaseException:
            conn.delete()  # no half-made connection: the next start sets it up from the beginning
            raise
        report = run_backfill(conn, BackfillOptions(trigger="sandbox"))
        self.stdout.write(f"first sync: {report.summary_line()}")
        self._load_catalog(conn)  # after the first sync, which created the mapped Brevo attributes

    def _configure(self, conn: Connection) -> None:
        """The field mapping, each event type mapped to its list, and the webhook subscription."""
        for position, (source, attribute, kind) in enumerate(PAGE_FIELD_MAPPING):
            FieldMapping.objects.get_or_create(
                connection=conn,
                source=source,
                attribute=attribute,
                defaults={"attribute_type": kind, "position": position},
            )
        calendly = calendly_client_for(conn)
        me = calendly.get_current_user()
        event_types = list(calendly.list_event_types(organization=me["current_organization"]))
        list_ids = list_ids_by_name(brevo_client_for(conn), [et["name"] for et in event_types])
        for et in event_types:
            EventTypeMapping.objects.get_or_create(
                connection=conn,
                event_type_uri=et["uri"],
                defaults={
                    "event_type_name": et["name"],
                    "key": et.get("slug", "")[:100],
                    "list_ids": [list_ids[et["name"]]],
                },
            )
        result = ensure_subscription(conn)
        self.stdout.write(f"webhook subscription {result.action}: {result.url}")
