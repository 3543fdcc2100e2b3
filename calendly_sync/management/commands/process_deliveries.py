"""``manage.py process_deliveries``: retry pending webhook deliveries, dirty contacts and events now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from calendly_sync.inbox.deliveries import BATCH_SIZE, process_batch
from calendly_sync.models import WebhookDelivery
from calendly_sync.runtime.drain import sweep


class Command(BaseCommand):
    help = (
        "Process pending or retryable webhook deliveries (ignoring their backoff with --now), then push "
        "dirty contacts and pending automation events. Safe to run any time, any number of times."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--now", action="store_true", help="do not wait for backoff: retry pending ones now")
        parser.add_argument("--failed", action="store_true", help="also retry deliveries marked failed")
        parser.add_argument("--limit", type=int, default=1000)

    def handle(self, *args: Any, **opts: Any) -> None:
        forced = 0
        if opts["now"] or opts["failed"]:
            statuses = [WebhookDelivery.Status.PENDING] + ([WebhookDelivery.Status.FAILED] if opts["failed"] else [])
            ids = list(
                WebhookDelivery.objects.filter(status__in=statuses)
                .order_by("received_at", "id")
                .values_list("pk", flat=True)[: opts["limit"]]
            )
            if opts["failed"]:
                WebhookDelivery.objects.filter(pk__in=ids, status=WebhookDelivery.Status.FAILED).update(
                    status=WebhookDelivery.Status.PENDING, attempts=0, first_failed_at=None
                )
            for start in range(0, len(ids), BATCH_SIZE):
                forced += len(process_batch(ids[start : start + BATCH_SIZE], force=True))
        counts = sweep(limit=opts["limit"], wait=True)  # waits for a worker's drain to end, then sweeps
        left = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING).count()
        failed = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.FAILED).count()
        self.stdout.write(
            f"deliveries processed {counts['deliveries'] + forced}, contacts pushed {counts['contacts']}, "
            f"events sent {counts['events']}; still pending {left}, failed {failed}"
        )
