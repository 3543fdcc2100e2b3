"""The app's models, as a package: Django finds them here under the app label ``calendly_sync``."""

from calendly_sync.models.alerts import Alert
from calendly_sync.models.connection import Connection, EventTypeMapping, FieldMapping
from calendly_sync.models.imports import ImportNotice
from calendly_sync.models.inbox import WebhookDelivery, WebhookRejection
from calendly_sync.models.outbox import AutomationEvent, ContactSyncLog
from calendly_sync.models.privacy import Suppression
from calendly_sync.models.scheduling import BookingCall, BookingLink
from calendly_sync.models.state import Booking, Contact, HeldNumber, SyncRun

__all__ = [
    "Alert",
    "AutomationEvent",
    "Booking",
    "BookingCall",
    "BookingLink",
    "Connection",
    "Contact",
    "ContactSyncLog",
    "EventTypeMapping",
    "FieldMapping",
    "HeldNumber",
    "ImportNotice",
    "Suppression",
    "SyncRun",
    "WebhookDelivery",
    "WebhookRejection",
]
