"""The app's models, as a package: Django finds them here under the app label ``calendly_sync``."""

from calendly_sync.models.connection import Connection, EventTypeMapping, FieldMapping
from calendly_sync.models.inbox import WebhookDelivery
from calendly_sync.models.outbox import AutomationEvent, ContactSyncLog
from calendly_sync.models.state import Booking, Contact, HeldNumber, SyncRun

__all__ = [
    "AutomationEvent",
    "Booking",
    "Connection",
    "Contact",
    "ContactSyncLog",
    "EventTypeMapping",
    "FieldMapping",
    "HeldNumber",
    "SyncRun",
    "WebhookDelivery",
]
