"""``manage.py calendly_doctor``: one line per check; non-zero exit when something is wrong."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from calendly_sync.doctor import FAIL, endpoint_checks, run_checks
from calendly_sync.management.base import TextCommand
from calendly_sync.models import Connection


class Command(TextCommand):
    help = "Check tokens, scopes, webhook subscriptions, signatures, clock skew, Brevo key, lists and attributes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--connection", help="only this connection")

    def handle(self, *args: Any, **opts: Any) -> None:
        qs = Connection.objects.filter(enabled=True)
        if opts["connection"]:
            qs = Connection.objects.filter(name=opts["connection"])
        if not qs.exists():
            raise CommandError("no connection to check")
        failures = 0
        for connection in qs:
            self.stdout.write(f"{connection.name}:")
            for check in run_checks(connection):
                self.stdout.write("  " + check.line())
                failures += check.level == FAIL
        self.stdout.write("webhook endpoint:")
        for check in endpoint_checks():
            self.stdout.write("  " + check.line())
            failures += check.level == FAIL
        if failures:
            raise CommandError(f"{failures} check(s) failed")
