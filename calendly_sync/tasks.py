"""Celery tasks: thin wrappers over the same functions the embedded worker calls."""
from __future__ import annotations

from celery import shared_task


@shared_task(name="calendly_sync.process_delivery", acks_late=True)
def process_delivery_task(delivery_id: int) -> str:
    """Process one delivery; if it must wait (backoff), schedule itself for then (beat's sweep is the backstop)."""
    from django.utils import timezone

    from .deliveries import BACKLOG_BATCH, due_deliveries, process_batch
    from .models import WebhookDelivery

    # When a backlog has built up, take a batch of due deliveries along (claims skip rows other
    # workers hold), so contacts and events go to Brevo in bulk instead of one call each.
    others = [pk for pk in due_deliveries(BACKLOG_BATCH) if pk != delivery_id]
    batch = [delivery_id] + (others if len(others) >= 10 else [])
    status = process_batch(batch).get(delivery_id, "skipped")
    if status == WebhookDelivery.Status.PENDING:
        due = WebhookDelivery.objects.filter(pk=delivery_id).values_list("next_attempt_at", flat=True).first()
        if due is not None:
            process_delivery_task.apply_async((delivery_id,), countdown=max(1.0, (due - timezone.now()).total_seconds()))
    return status


@shared_task(name="calendly_sync.sweep")
def sweep_task() -> dict[str, int]:
    from .deliveries import sweep

    return sweep()


@shared_task(name="calendly_sync.check_subscriptions")
def check_subscriptions_task() -> list[str]:
    from .subscriptions import check_all

    return check_all()
