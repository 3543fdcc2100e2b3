"""The app's models, as a package: Django finds them here under the app label ``calendly_sync``."""
from calendly_sync.models.connection import (
    AutomationEvent,
    Booking,
    Connection,
    Contact,
    ContactSyncLog,
    EventTypeMapping,
    FieldMapping,
    SyncRun,
    WebhookDelivery,
)

__all__ = [
    "AutomationEvent",
    "Booking",
    "Connection",
    "Contact",
    "ContactSyncLog",
    "EventTypeMapping",
    "FieldMapping",
    "SyncRun",
    "WebhookDelivery",
]
