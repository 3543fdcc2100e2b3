"""``manage.py create_booking_links --list ID --event-type NAME``: a booking link per contact of a Brevo list.

Thin: the work is in :mod:`calendly_sync.booking_links`; this turns options into a call, shows a
progress bar on a terminal and prints one summary line.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import CommandError, CommandParser
from tqdm import tqdm

from calendly_sync.booking_links import DEFAULT_ATTRIBUTE, LinksError, create_booking_links
from calendly_sync.management.base import TextCommand
from calendly_sync.management.commands.sync_calendly import pick_connection


class Command(TextCommand):
    help = (
        "Write a single-use, prefilled Calendly booking link into a Brevo attribute of every contact of a "
        "Brevo list. Contacts holding an unused link keep it; a link used for a booking is cleared."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--list", type=int, required=True, dest="list_id", help="the Brevo list ID")
        parser.add_argument("--event-type", required=True, help="the event type's name, slug, UUID or URI")
        parser.add_argument(
            "--attribute", default=DEFAULT_ATTRIBUTE, help=f"the Brevo text attribute (default {DEFAULT_ATTRIBUTE})"
        )
        parser.add_argument("--connection", help="the connection's name (optional with one enabled connection)")
        parser.add_argument("--dry-run", action="store_true", help="count the links to create; write nothing")

    def handle(self, *args: Any, **opts: Any) -> None:
        connection = pick_connection(opts["connection"])
        bar = tqdm(desc="contacts", unit="contact", leave=False) if sys.stdout.isatty() else None

        def advance(n: int) -> None:
            if bar is not None:
                bar.update(n)

        def on_total(total: int) -> None:
            if bar is not None:
                bar.total = total
                bar.refresh()

        try:
            result = create_booking_links(
                connection,
                opts["list_id"],
                opts["event_type"],
                attribute=opts["attribute"],
                dry_run=opts["dry_run"],
                progress=advance,
                on_total=on_total,
            )
        except LinksError as exc:
            raise CommandError(f"{connection.name}: {exc}") from exc
        finally:
            if bar is not None:
                bar.close()
        self.stdout.write(result.summary())
