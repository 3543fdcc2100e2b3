"""``manage.py brevo_setup [--dry-run]``: create the Brevo attributes the field mapping needs."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from calendly_sync.brevo.errors import BrevoError
from calendly_sync.credentials.clients import MissingCredentials, brevo_client_for
from calendly_sync.management.base import TextCommand
from calendly_sync.models import Connection
from calendly_sync.push.attributes import ensure_attributes
from calendly_sync.sync.projection import Rules


class Command(TextCommand):
    help = "Create the custom Brevo attributes named by each connection's field mapping, and report what exists."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--connection", help="only this connection")
        parser.add_argument("--dry-run", action="store_true", help="report what would be created; create nothing")

    def handle(self, *args: Any, **opts: Any) -> None:
        qs = Connection.objects.filter(enabled=True)
        if opts["connection"]:
            qs = Connection.objects.filter(name=opts["connection"])
            if not qs.exists():
                raise CommandError(f"no connection named {opts['connection']!r}")
        failed = False
        for connection in qs:
            try:
                client = brevo_client_for(connection)
                existing, missing = ensure_attributes(
                    connection, client, Rules.load(connection).attribute_types, dry_run=opts["dry_run"], force=True
                )
            except (BrevoError, MissingCredentials) as exc:
                self.stderr.write(f"{connection.name}: {exc}")
                failed = True
                continue
            verb = "would create" if opts["dry_run"] else "created"
            self.stdout.write(
                f"{connection.name}: exists: {', '.join(existing) or 'none'}; {verb}: {', '.join(missing) or 'nothing'}"
            )
        if failed:
            raise CommandError("some connections could not be set up")
