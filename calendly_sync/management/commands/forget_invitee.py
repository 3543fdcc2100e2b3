"""``manage.py forget_invitee EMAIL [--brevo delete|keep] [--calendly] [--connection NAME]``: erase one person."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from calendly_sync.management.base import TextCommand
from calendly_sync.models import Connection
from calendly_sync.privacy.erasure import NotAnEmail, forget_invitee


class Command(TextCommand):
    help = (
        "Erase one invitee: delete their bookings, contact, deliveries, sync logs and automation events, "
        "keep a suppression so no backfill or late webhook of an earlier booking brings them back, delete "
        "the Brevo contact (unless --brevo keep) and, with --calendly, ask Calendly to delete their data "
        "(Enterprise plans only)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="the invitee's email address (any case)")
        parser.add_argument(
            "--brevo",
            choices=["delete", "keep"],
            default="delete",
            help="delete the Brevo contact (default) or keep it",
        )
        parser.add_argument(
            "--calendly",
            action="store_true",
            help="also ask Calendly to delete the invitee's data (POST /data_compliance/deletion/invitees)",
        )
        parser.add_argument("--connection", help="only this connection (default: every connection)")

    def handle(self, *args: Any, **opts: Any) -> None:
        connections = None
        if opts["connection"]:
            try:
                connections = [Connection.objects.get(name=opts["connection"])]
            except Connection.DoesNotExist:
                names = ", ".join(Connection.objects.order_by("name").values_list("name", flat=True)) or "none"
                raise CommandError(f"no connection named {opts['connection']!r} (known: {names})") from None
        try:
            report = forget_invitee(
                opts["email"],
                connections=connections,
                brevo_delete=opts["brevo"] == "delete",
                calendly=opts["calendly"],
            )
        except NotAnEmail as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"forgot {opts['email'].strip()}")  # the operator's own terminal: the address is theirs
        for line in report.lines():
            self.stdout.write(f"  {line}")
        if not report.ok:
            raise CommandError(
                "the data here is erased and the suppression recorded, but: " + "; ".join(report.failures)
            )
