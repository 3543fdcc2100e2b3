"""``manage.py calendly_webhooks list|ensure|delete [--url URL] [--connection NAME]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from calendly_sync.calendly.errors import CalendlyError
from calendly_sync.inbox.subscriptions import (
    callback_url,
    delete_subscriptions,
    ensure_subscription,
    list_subscriptions,
)
from calendly_sync.management.base import TextCommand
from calendly_sync.management.commands.sync_calendly import describe_runs, pick_connection
from calendly_sync.tasks import jobs_in_foreground


class Command(TextCommand):
    help = "List, create (idempotently) or delete Calendly webhook subscriptions for a connection."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "action",
            choices=["list", "ensure", "rotate", "delete"],
            help="rotate: replace the subscription so that it gets a new signing key (the old one keeps "
            "verifying for the grace period; the seconds without a subscription are backfilled)",
        )
        parser.add_argument("--url", help="callback URL (default: this connection's webhook URL under SITE_URL)")
        parser.add_argument("--connection", help="connection name (needed when there are several)")

    def handle(self, *args: Any, **opts: Any) -> None:
        connection = pick_connection(opts["connection"])
        try:
            if opts["action"] == "list":
                scope, subs = list_subscriptions(connection)
                self.stdout.write(
                    f"{connection.name}: {len(subs)} subscription(s), {scope} scope; "
                    f"this connection's URL is {callback_url(connection)}"
                )
                for s in subs:
                    self.stdout.write(
                        f"  {s.get('state', '?'):9} {s.get('scope', '?'):12} {s.get('callback_url')} "
                        f"[{', '.join(s.get('events') or [])}] {s.get('uri')}"
                    )
            elif opts["action"] in ("ensure", "rotate"):
                # A gap backfill this queues runs here before the command ends (a command may wait).
                with jobs_in_foreground() as ran:
                    result = ensure_subscription(connection, opts["url"], rotate_signing_key=opts["action"] == "rotate")
                    for warning in result.warnings:
                        self.stderr.write(f"warning: {warning}")
                    self.stdout.write(
                        f"{connection.name}: {result.action} {result.scope}-scope subscription {result.uri} → "
                        f"{result.url}"
                    )
                    if result.backfill:
                        self.stdout.write(f"gap backfill: {result.backfill}")
                for line in describe_runs(ran):
                    self.stdout.write(line)
            else:
                if not opts["url"]:
                    raise CommandError("delete needs --url (the callback URL whose subscriptions to delete)")
                deleted = delete_subscriptions(connection, opts["url"])
                self.stdout.write(f"{connection.name}: deleted {len(deleted)} subscription(s)")
        except CalendlyError as exc:
            raise CommandError(str(exc)) from exc
