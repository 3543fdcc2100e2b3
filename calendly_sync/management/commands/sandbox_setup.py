"""``manage.py sandbox_setup``: a ready-to-try connector against the simulators (no accounts needed).

Creates the admin user ``admin``/``admin``, a ``sandbox`` connection with the simulators'
credentials, the product page's field mapping, a mapping of each simulated event type to a Brevo
list, a webhook subscription pointing back at this site, and runs a first backfill. Refuses to run
unless ``CONNECTOR_SANDBOX=1`` (set by ``scripts/dev.py run`` when no credentials are configured).
"""

from __future__ import annotations

import os
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from calendly_sync.backfill import BackfillOptions, run_backfill
from calendly_sync.credentials.clients import brevo_client_for, calendly_client_for
from calendly_sync.inbox.subscriptions import ensure_subscription
from calendly_sync.models import Connection, EventTypeMapping, FieldMapping
from calendly_sync.sandbox.brevo import SANDBOX_API_KEY
from calendly_sync.sandbox.calendly import SANDBOX_TOKEN
from calendly_sync.sync.mapping import PRODUCT_PAGE_MAPPING

PAGE_FIELD_MAPPING = PRODUCT_PAGE_MAPPING


class Command(BaseCommand):
    help = "Set up the sandbox connection against the simulated Calendly and Brevo."

    def handle(self, *args: Any, **opts: Any) -> None:
        if os.environ.get("CONNECTOR_SANDBOX") != "1":
            raise CommandError("sandbox_setup only runs with CONNECTOR_SANDBOX=1 (scripts/dev.py run sets it)")
        User = get_user_model()
        if not User.objects.filter(username="admin").exists():
            User.objects.create_superuser("admin", "admin@example.com", "admin")
            self.stdout.write("created admin user admin / admin")
        conn, created = Connection.objects.get_or_create(
            name="sandbox",
            defaults={"access_token": SANDBOX_TOKEN, "brevo_api_key": SANDBOX_API_KEY, "log_level": "verbose"},
        )
        if not created:
            self.stdout.write("sandbox connection exists; leaving it as it is")
            return
        for position, (source, attribute, kind) in enumerate(PAGE_FIELD_MAPPING):
            FieldMapping.objects.get_or_create(
                connection=conn,
                source=source,
                attribute=attribute,
                defaults={"attribute_type": kind, "position": position},
            )
        calendly = calendly_client_for(conn)
        me = calendly.get_current_user()
        lists = [item["id"] for item in brevo_client_for(conn).list_lists()]
        for i, et in enumerate(calendly.list_event_types(organization=me["current_organization"])):
            EventTypeMapping.objects.get_or_create(
                connection=conn,
                event_type_uri=et["uri"],
                defaults={
                    "event_type_name": et["name"],
                    "key": et.get("slug", "")[:100],
                    "list_ids": [lists[i % len(lists)]] if lists else [],
                },
            )
        result = ensure_subscription(conn)
        self.stdout.write(f"webhook subscription {result.action}: {result.url}")
        report = run_backfill(conn, BackfillOptions(trigger="sandbox"))
        self.stdout.write(f"first sync: {report.summary_line()}")
