"""What the operator configures: connections (Calendly ↔ Brevo credentials and switches) and mappings.

The other models follow the flow (see README, "Architecture"): :mod:`~calendly_sync.models.inbox`
(webhook deliveries), :mod:`~calendly_sync.models.state` (bookings, contacts, sync runs) and
:mod:`~calendly_sync.models.outbox` (automation events and the log of Brevo writes).
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from calendly_sync.calendly.limits import DEFAULT_PLAN, PLANS
from calendly_sync.conf import app_settings
from calendly_sync.models.fields import EncryptedTextField, validate_list_ids

SIGNING_KEY_GRACE_HOURS = 24  # the previous signing key is still accepted this long after a rotation


def effective_signing_keys(
    current: str, previous: str, rotated_at: datetime | None, grace_hours: int = SIGNING_KEY_GRACE_HOURS
) -> list[str]:
    """The rule for which keys verify a connection's deliveries, from its (decrypted) key fields.

    The current key (blank: ``CALENDLY_WEBHOOK_SIGNING_KEY``), then the previous one during its grace
    period. A function of the fields, so the webhook endpoint's key cache and the model share it.
    """
    keys = [current or app_settings.CALENDLY_WEBHOOK_SIGNING_KEY]
    if previous and rotated_at and (timezone.now() - rotated_at).total_seconds() < grace_hours * 3600:
        keys.append(previous)
    return [k for k in keys if k]


class Connection(models.Model):
    """One Calendly account (PAT or OAuth) linked to one Brevo account."""

    class AuthKind(models.TextChoices):
        PAT = "pat", "Personal Access Token"
        OAUTH = "oauth", "OAuth 2.0"

    class Status(models.TextChoices):
        NEW = "new", "Not checked yet"
        ACTIVE = "active", "Active"
        NEEDS_RECONNECT = "needs_reconnect", "Needs reconnect"
        ERROR = "error", "Error"
        DISABLED = "disabled", "Disabled"

    class LogLevel(models.TextChoices):
        INFO = "info", "info"
        VERBOSE = "verbose", "verbose"
        DEBUG = "debug", "debug"
        WARNING = "warning", "warning"

    name = models.SlugField(
        max_length=100,
        unique=True,
        default="default",
        help_text="Short name used by commands (--connection) and the config file.",
    )
    enabled = models.BooleanField(default=True)
    auth_kind = models.CharField(max_length=10, choices=AuthKind.choices, default=AuthKind.PAT)

    # Calendly credentials (encrypted; blank access token → CALENDLY_ACCESS_TOKEN for a PAT connection)
    access_token = EncryptedTextField(help_text="Personal Access Token, or the current OAuth access token.")
    refresh_token = EncryptedTextField()
    token_expires_at = models.DateTimeField(null=True, blank=True)
    scopes = models.CharField(max_length=500, blank=True, help_text="Space-separated scopes granted to the token.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="calendly_connections",
        help_text="Staff user who connected it.",
    )

    calendly_user_uri = models.URLField(max_length=300, blank=True)
    calendly_user_name = models.CharField(max_length=200, blank=True)
    calendly_user_email = models.EmailField(blank=True)
    calendly_organization_uri = models.URLField(max_length=300, blank=True)

    # Webhooks
    webhook_signing_key = EncryptedTextField(help_text="Blank: CALENDLY_WEBHOOK_SIGNING_KEY.")
    previous_signing_key = EncryptedTextField(help_text="Still accepted for a grace period after a rotation.")
    signing_key_rotated_at = models.DateTimeField(null=True, blank=True)
    webhook_subscription_uri = models.URLField(max_length=300, blank=True)
    webhook_subscription_state = models.CharField(max_length=20, blank=True)
    webhook_scope = models.CharField(max_length=20, blank=True)
    webhook_callback_url = models.URLField(max_length=500, blank=True)
    webhook_checked_at = models.DateTimeField(null=True, blank=True)
    last_delivery_at = models.DateTimeField(null=True, blank=True)
    # Rejected webhook requests are counted in models.inbox.WebhookRejection (by kind and hour).

    # The Calendly billing tier whose booking quotas the scheduling API paces itself by
    scheduling_plan = models.CharField(
        max_length=20,
        choices=[(key, plan.label) for key, plan in PLANS.items()],
        default=DEFAULT_PLAN,
        help_text="Calendly plan of the token's user: bookings through the API are paced by its quotas "
        "(trial 5 a day; paid 10 a minute, 50 an hour, 100 a day; Enterprise 500 a minute).",
    )

    # Brevo
    brevo_api_key = EncryptedTextField(help_text="Blank: BREVO_API_KEY.")
    default_list_ids = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_list_ids],
        help_text="Lists for bookings of unmapped event types (empty: no list).",
    )

    # Behaviour switches (the config file's sync: and debug keys)
    sync_contacts = models.BooleanField(default=True)
    sync_events = models.BooleanField(default=True, help_text="Send Brevo automation events.")
    sync_cancellations = models.BooleanField(default=True)
    debug = models.BooleanField(default=False)
    log_level = models.CharField(max_length=10, choices=LogLevel.choices, default=LogLevel.INFO)
    log_webhooks = models.BooleanField(default=False, help_text="Keep raw webhook bodies (contain personal data).")

    # Loaded catalogues, so mappings are picked from lists rather than typed
    calendly_event_types = models.JSONField(default=list, blank=True)
    brevo_lists = models.JSONField(default=list, blank=True)
    brevo_attributes = models.JSONField(default=list, blank=True)
    catalog_loaded_at = models.DateTimeField(null=True, blank=True)

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    # -- effective credentials -----------------------------------------------------------------
    def effective_access_token(self) -> str:
        if self.access_token:
            return self.access_token
        if self.auth_kind == self.AuthKind.PAT:
            return app_settings.CALENDLY_ACCESS_TOKEN
        return ""

    def effective_brevo_api_key(self) -> str:
        return self.brevo_api_key or app_settings.BREVO_API_KEY

    def signing_keys(self, grace_hours: int = SIGNING_KEY_GRACE_HOURS) -> list[str]:
        """Keys a delivery may be signed with: current, then the previous one during its grace period."""
        return effective_signing_keys(
            self.webhook_signing_key, self.previous_signing_key, self.signing_key_rotated_at, grace_hours
        )

    @property
    def verbose(self) -> bool:
        """Log each step of this connection's work (the config's ``debug`` or ``log_level: verbose``)."""
        return self.is_verbose(self.debug, self.log_level)

    @classmethod
    def is_verbose(cls, debug: bool, log_level: str) -> bool:
        """:attr:`verbose` from the two column values (for code that reads columns, not rows)."""
        return debug or log_level in (cls.LogLevel.VERBOSE, cls.LogLevel.DEBUG)

    def record_working(self, *, brevo: bool) -> None:
        """A real call just succeeded: a connection "Not checked yet" is now active.

        ``brevo``: the success was Brevo's, which also clears ``ERROR`` (set only when Brevo
        rejected the API key, see :func:`calendly_sync.inbox.deliveries`); a Calendly success
        leaves that error in place, since its cause is not gone. One conditional UPDATE that
        matches no row once the connection is active, so calling it per batch costs no write.
        """
        clears = [self.Status.NEW, self.Status.ERROR] if brevo else [self.Status.NEW]
        if Connection.objects.filter(pk=self.pk, status__in=clears).update(
            status=self.Status.ACTIVE, updated_at=timezone.now()
        ):
            self.status = self.Status.ACTIVE

    def record_error(self, message: str, status: str | None = None) -> None:
        self.last_error = message[:2000]
        self.last_error_at = timezone.now()
        fields = ["last_error", "last_error_at", "updated_at"]
        if status:
            self.status = status
            fields.append("status")
        self.save(update_fields=fields)


class EventTypeMapping(models.Model):
    """A Calendly event type → the Brevo lists its bookings join."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="event_type_mappings")
    key = models.SlugField(max_length=100, blank=True, help_text="Name in the config file (e.g. discovery_call).")
    event_type_uri = models.URLField(max_length=300)
    event_type_name = models.CharField(max_length=200, blank=True)
    list_ids = models.JSONField(
        default=list, validators=[validate_list_ids], help_text="Brevo list ids, e.g. [10, 12]."
    )
    enabled = models.BooleanField(default=True)
    unlink_on_cancel = models.BooleanField(
        default=False, help_text="Remove the contact from these lists when the booking is cancelled."
    )
    missing_since = models.DateTimeField(
        null=True, blank=True, help_text="Set when Calendly reports the event type deleted."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["connection", "key", "event_type_name"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "event_type_uri"], name="uniq_mapping_event_type"),
        ]

    def __str__(self) -> str:
        return self.key or self.event_type_name or self.event_type_uri


class FieldMapping(models.Model):
    """An invitee/event field or a custom question answer → a Brevo attribute."""

    class AttributeType(models.TextChoices):
        TEXT = "text", "text"
        DATE = "date", "date"
        FLOAT = "float", "number"
        BOOLEAN = "boolean", "boolean"
        PHONE = "phone", "phone (E.164)"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="field_mappings")
    source = models.CharField(
        max_length=300,
        help_text="Invitee or event field (email, name, first_name, timezone, tracking.utm_source, "
        "event_type_name, scheduled_at, …) or 'question:<text>' for a custom question.",
    )
    attribute = models.CharField(max_length=100, help_text="Brevo attribute, upper case (e.g. COMPANY).")
    attribute_type = models.CharField(max_length=10, choices=AttributeType.choices, default=AttributeType.TEXT)
    enabled = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["connection", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "source", "attribute"], name="uniq_field_mapping"),
        ]

    def __str__(self) -> str:
        return f"{self.source} → {self.attribute}"
