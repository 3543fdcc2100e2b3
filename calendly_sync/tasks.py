"""Celery tasks: thin wrappers over the same functions the embedded worker calls."""
from __future__ import annotations

from celery import shared_task


@shared_task(name="calendly_sync.process_delivery", acks_late=True)
def process_delivery_task(delivery_id: int) -> str:
    from .deliveries import process_delivery

    return process_delivery(delivery_id)


@shared_task(name="calendly_sync.sweep")
def sweep_task() -> dict[str, int]:
    from .deliveries import sweep

    return sweep()


@shared_task(name="calendly_sync.check_subscriptions")
def check_subscriptions_task() -> list[str]:
    from .subscriptions import check_all

    return check_all()
