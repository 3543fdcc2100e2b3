"""``manage.py import_connector_config FILE``: load the YAML configuration into the database.

All or nothing: every problem in the file is printed (one per line, with its key path) and
nothing is written; a valid file is applied in one transaction. Re-running with the same file
changes nothing, so the command is safe in a deploy script.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from calendly_sync.config.apply import apply_config
from calendly_sync.config.reader import ConfigErrors, load_config


class Command(BaseCommand):
    help = (
        "Import the connector configuration (connectors: calendly: ...) from a YAML file; "
        "${VAR} placeholders are read from the environment. See docs/configuration.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="YAML file to import, or - for standard input.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Validate and report what would change, without saving anything."
        )
        parser.add_argument(
            "--no-prune",
            action="store_true",
            help="Keep event/field mappings that the file does not list (default: delete them).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        try:
            if path == "-":
                text = sys.stdin.read()
            else:
                with open(path, encoding="utf-8") as fh:
                    text = fh.read()
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None

        try:
            configs = load_config(text, os.environ)
        except ConfigErrors as exc:
            for error in exc.errors:
                self.stderr.write(str(error))
            count = len(exc.errors)
            raise CommandError(f"{path}: {count} error{'s' if count != 1 else ''}; nothing was changed") from None

        for cfg in configs:
            for warning in cfg.warnings:
                self.stderr.write(f"warning: {warning}")

        report = apply_config(configs, prune=not options["no_prune"], dry_run=options["dry_run"])
        if options["verbosity"] >= 2:
            for line in report.changes:
                self.stdout.write(f"  {line}")
        self.stdout.write(report.summary())
