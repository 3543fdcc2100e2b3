"""``manage.py export_connector_config``: write the stored configuration as YAML.

The output is what ``import_connector_config`` accepts, so a set-up made in the admin can be
committed, reviewed and replayed elsewhere. Secrets are written as ``${VAR}`` placeholders,
never their values, so the file is safe to share.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from calendly_sync.config.export import export_config
from calendly_sync.management.base import TextCommand
from calendly_sync.models import Connection


class Command(TextCommand):
    paths = ("output",)
    help = "Export the connector configuration as YAML (secrets as ${VAR} placeholders)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--connection",
            action="append",
            metavar="NAME",
            help="Export only this connection (repeat for several; default: all).",
        )
        parser.add_argument("-o", "--output", metavar="FILE", help="Write to FILE instead of standard output.")

    def handle(self, *args: Any, **options: Any) -> None:
        names = options["connection"]
        if names:
            found = {c.name: c for c in Connection.objects.filter(name__in=names)}
            missing = [n for n in names if n not in found]
            if missing:
                known = ", ".join(Connection.objects.values_list("name", flat=True)) or "none"
                raise CommandError(f"no connection named {', '.join(missing)} (known: {known})")
            connections = [found[n] for n in dict.fromkeys(names)]
        else:
            connections = list(Connection.objects.order_by("name"))
        if not connections:
            raise CommandError("there is no connection to export")

        text = export_config(connections)
        if options["output"]:
            try:
                with open(options["output"], "w", encoding="utf-8") as fh:
                    fh.write(text)
            except OSError as exc:
                raise CommandError(f"cannot write {options['output']}: {exc.strerror or exc}") from None
            count = len(connections)
            self.stdout.write(f"Wrote {options['output']} ({count} connection{'s' if count != 1 else ''}).")
        else:
            self.stdout.write(text, ending="")
