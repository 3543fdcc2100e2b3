"""``manage.py purge_deliveries --older-than DAYS``: delete old finished webhook deliveries, and the
counts of refused webhook requests from before the same day (the doctor reads only the last 24 h)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from calendly_sync.models import WebhookDelivery, WebhookRejection


class Command(BaseCommand):
    help = (
        "Delete processed and ignored webhook deliveries (and their stored bodies) older than DAYS, "
        "and the counts of refused webhook requests older than DAYS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS")
        parser.add_argument("--include-failed", action="store_true", help="also delete failed deliveries")

    def handle(self, *args: Any, **opts: Any) -> None:
        days = opts["older_than"]
        if days < 0:
            raise CommandError("--older-than must be 0 or more days")
        statuses = [WebhookDelivery.Status.PROCESSED, WebhookDelivery.Status.IGNORED]
        if opts["include_failed"]:
            statuses.append(WebhookDelivery.Status.FAILED)
        cutoff = timezone.now() - timedelta(days=days)
        deleted, _ = WebhookDelivery.objects.filter(status__in=statuses, received_at__lt=cutoff).delete()
        self.stdout.write(f"deleted {deleted} deliveries received before {cutoff:%Y-%m-%d %H:%M} UTC")
        counts, _ = WebhookRejection.objects.filter(last_at__lt=cutoff).delete()
        self.stdout.write(f"deleted {counts} hourly counts of refused webhook requests")
