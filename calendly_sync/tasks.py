"""Celery tasks: thin wrappers over the same functions the embedded worker calls."""
from __future__ import annotations

from celery import shared_task


@shared_task(name="calendly_sync.process_delivery", acks_late=True)
def process_delivery_task(delivery_id: int) -> str:
    """Drain what is due, this delivery first; if it must wait (backoff), schedule itself for then.

    When another worker is already draining, return at once: that worker takes this delivery
    along (it looks for due work again after releasing its lock), so a burst of tasks costs one
    cheap query each instead of many small, overlapping batches. Beat's sweep is the backstop.
    """
    from django.utils import timezone

    from calendly_sync.inbox.deliveries import drain
    from calendly_sync.models import WebhookDelivery

    if drain([delivery_id], background=True) is None:
        return "deferred"
    status, due = WebhookDelivery.objects.filter(pk=delivery_id).values_list(
        "status", "next_attempt_at").first() or ("missing", None)
    if status == WebhookDelivery.Status.PENDING and due is not None and due > timezone.now():
        process_delivery_task.apply_async((delivery_id,), countdown=max(1.0, (due - timezone.now()).total_seconds()))
    return str(status)


@shared_task(name="calendly_sync.sweep")
def sweep_task() -> dict[str, int]:
    from calendly_sync.inbox.deliveries import sweep

    return sweep()


@shared_task(name="calendly_sync.check_subscriptions")
def check_subscriptions_task() -> list[str]:
    from calendly_sync.inbox.subscriptions import check_all

    return check_all()
