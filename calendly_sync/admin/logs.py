"""The read-only admins: Calendly's mirror (bookings), the contacts as Brevo should see them, and the logs.

Nothing here is typed into: these pages answer an operator's questions (what arrived, what was
sent, what failed and why) and offer the few actions that retry work: push contacts now,
reprocess deliveries, mark deliveries ignored, requeue failed and unconfirmed automation events (or
mark unconfirmed ones sent, when Brevo has them); one that writes booking links to Brevo for the
selected contacts; and one that erases a person (forget).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_permission_codename
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from calendly_sync.admin.bases import ModelAdmin
from calendly_sync.admin.display import (
    LastErrorColumn,
    StatusBadgeColumn,
    brevo_lists,
    last_error,
    status_badge,
    sync_progress,
)
from calendly_sync.booking_links import DEFAULT_ATTRIBUTE, LinksError, create_booking_links
from calendly_sync.credentials.clients import brevo_client_for
from calendly_sync.models import (
    AutomationEvent,
    Booking,
    BookingLink,
    Contact,
    ContactSyncLog,
    HeldNumber,
    Suppression,
    SyncRun,
    WebhookDelivery,
)
from calendly_sync.privacy.erasure import NotAnEmail, forget_invitee
from calendly_sync.push.contacts import push_contact
from calendly_sync.push.events import confirm_events, requeue_events
from calendly_sync.sync.projection import refresh_all_contacts
from calendly_sync.tasks import reprocess as reprocess_deliveries

_M = TypeVar("_M", bound=Model)


class ReadOnlyAdmin(ModelAdmin[_M], Generic[_M]):
    """Logs and Calendly mirrors: looked at, never typed into."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_operate_permission(self, request: HttpRequest) -> bool:
        """Actions that change state (push, reprocess, mark ignored, requeue) need the model's change
        permission, although nobody edits these rows by hand: a view-only user only looks."""
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")


@admin.register(Booking)
class BookingAdmin(ReadOnlyAdmin[Booking]):
    list_display = (
        "email",
        "event_type_name",
        "status_badge",
        "rescheduled",
        "no_show",
        "start_time",
        "invitee_created_at",
        "calendly_updated_at",
        "connection",
    )
    list_filter = (
        "status",
        "rescheduled",
        "connection",
        "event_type_name",
        ("no_show_uri", admin.EmptyFieldListFilter),
    )
    search_fields = ("email", "invitee_uri", "event_uri", "event_type_uri", "event_type_name", "name")
    date_hierarchy = "start_time"
    list_select_related = ("connection",)

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Booking) -> SafeString:
        return status_badge("active" if obj.status == "active" else "failed", obj.status)

    @admin.display(boolean=True, description="no-show")
    def no_show(self, obj: Booking) -> bool:
        return obj.is_no_show


@admin.register(Contact)
class ContactAdmin(LastErrorColumn, ReadOnlyAdmin[Contact]):
    list_display = (
        "email",
        "booking_status",
        "lists",
        "dirty",
        "attempts",
        "last_pushed_at",
        "last_error_short",
        "connection",
    )
    list_filter = ("dirty", "booking_status", "connection")
    search_fields = ("email",)
    list_select_related = ("connection",)
    actions = ["push_now", "booking_links", "forget"]
    exclude = ("list_ids", "unlink_list_ids")  # shown with their Brevo names instead
    readonly_fields = ("lists", "unlink_lists")

    @admin.display(description="Brevo lists")
    def lists(self, obj: Contact) -> str:
        return brevo_lists(obj.connection, obj.list_ids)

    @admin.display(description="Brevo lists to leave")
    def unlink_lists(self, obj: Contact) -> str:
        return brevo_lists(obj.connection, obj.unlink_list_ids)

    def has_forget_permission(self, request: HttpRequest) -> bool:
        """Erasing deletes rows: it needs the contact's delete permission as well as the change one."""
        opts = self.opts
        return self.has_operate_permission(request) and request.user.has_perm(
            f"{opts.app_label}.{get_permission_codename('delete', opts)}"
        )

    @admin.action(description="Forget selected people (erase their data here, in Brevo…)", permissions=["forget"])
    def forget(self, request: HttpRequest, queryset: QuerySet[Contact]) -> TemplateResponse | None:
        """``forget_invitee`` for each selected contact's address on its connection, after a confirmation page."""
        contacts = list(queryset.select_related("connection").order_by("email"))
        if request.POST.get("confirm") != "yes":
            return TemplateResponse(
                request,
                "admin/calendly_sync/contact/forget_confirmation.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Forget these people?",
                    "opts": self.opts,
                    "contacts": contacts,
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                    "media": self.media,
                },
            )
        people: dict[str, list[Any]] = {}
        for contact in contacts:
            people.setdefault(contact.email, []).append(contact.connection)
        for email, connections in people.items():
            try:
                report = forget_invitee(
                    email,
                    connections=connections,
                    brevo_delete=request.POST.get("brevo") != "keep",
                    calendly=request.POST.get("calendly") == "on",
                )
            except NotAnEmail as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            # Messages wait in a cookie or the session until shown: they name the erasure, not the address.
            self.message_user(request, "; ".join(report.lines()), messages.SUCCESS if report.ok else messages.WARNING)
        return None

    @admin.action(description="Write booking links to Brevo for selected contacts…", permissions=["operate"])
    def booking_links(self, request: HttpRequest, queryset: QuerySet[Contact]) -> TemplateResponse | None:
        """``create_booking_links`` for the selected contacts of a Brevo list, after a form asking which."""
        contacts = list(queryset.select_related("connection").order_by("email"))
        list_id = request.POST.get("list_id", "").strip()
        values: dict[str, str | bool] = {
            "list_id": list_id,
            "event_type": request.POST.get("event_type", "").strip(),
            "attribute": request.POST.get("attribute", "").strip() or DEFAULT_ATTRIBUTE,
            "dry_run": request.POST.get("dry_run") == "on",
        }
        error = ""
        if request.POST.get("confirm") == "yes":
            if not list_id.isdigit() or not values["event_type"]:
                error = "Give the Brevo list ID (a number) and the event type."
            else:
                by_connection: dict[int, list[Contact]] = {}
                for contact in contacts:
                    by_connection.setdefault(contact.connection_id, []).append(contact)
                for group in by_connection.values():
                    connection = group[0].connection
                    try:
                        result = create_booking_links(
                            connection,
                            int(list_id),
                            str(values["event_type"]),
                            attribute=str(values["attribute"]),
                            dry_run=bool(values["dry_run"]),
                            emails=[c.email for c in group],
                        )
                    except LinksError as exc:
                        error = f"{connection.name}: {exc}"
                        break
                    level = messages.WARNING if result.failed else messages.SUCCESS
                    self.message_user(request, f"{connection.name}: {result.summary()}", level)
                else:
                    return None
        return TemplateResponse(
            request,
            "admin/calendly_sync/contact/booking_links_form.html",
            {
                **self.admin_site.each_context(request),
                "title": "Write booking links to Brevo",
                "opts": self.opts,
                "contacts": contacts,
                "values": values,
                "error": error,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "media": self.media,
            },
        )

    @admin.action(description="Push selected contacts to Brevo now", permissions=["operate"])
    def push_now(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        results: dict[str, int] = {}
        for contact in queryset.select_related("connection"):
            Contact.objects.filter(pk=contact.pk).update(pushed_hash="")
            contact.pushed_hash = ""
            try:
                outcome = push_contact(contact.connection, contact, brevo_client_for(contact.connection))
            except Exception as exc:  # noqa: BLE001 - one contact's failure is reported, the others are pushed
                outcome = "failed"
                self.message_user(request, f"{contact.email}: {exc}", messages.ERROR)
            results[outcome] = results.get(outcome, 0) + 1
        self.message_user(request, ", ".join(f"{k} {v}" for k, v in sorted(results.items())), messages.INFO)


@admin.register(BookingLink)
class BookingLinkAdmin(ReadOnlyAdmin[BookingLink]):
    """The booking links written to Brevo: who holds one, and which were used (``create_booking_links``)."""

    list_display = ("email", "attribute", "event_type_uri", "created_at", "used_at", "connection")
    list_filter = (("used_at", admin.EmptyFieldListFilter), "attribute", "connection")
    search_fields = ("email", "token", "used_by")
    list_select_related = ("connection",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(StatusBadgeColumn, LastErrorColumn, ReadOnlyAdmin[WebhookDelivery]):
    list_display = (
        "received_at",
        "event",
        "email",
        "status_badge",
        "attempts",
        "redeliveries",
        "next_attempt_at",
        "last_error_short",
        "connection",
    )
    list_filter = ("status", "event", "connection")
    search_fields = ("email", "invitee_uri", "idempotency_key")
    date_hierarchy = "received_at"
    list_select_related = ("connection",)
    exclude = ("raw_body",)
    readonly_fields = ("raw_body_if_logged",)
    actions = ["reprocess", "mark_ignored"]

    @admin.action(description="Reprocess selected deliveries", permissions=["operate"])
    def reprocess(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        n = reprocess_deliveries(list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{n} deliveries queued for processing", messages.SUCCESS)

    @admin.action(description="Mark selected deliveries as ignored", permissions=["operate"])
    def mark_ignored(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        n = queryset.exclude(status=WebhookDelivery.Status.PROCESSED).update(
            status=WebhookDelivery.Status.IGNORED, next_attempt_at=None, last_error="marked ignored by an operator"
        )
        self.message_user(request, f"{n} deliveries marked ignored", messages.SUCCESS)

    @admin.display(description="raw body")
    def raw_body_if_logged(self, obj: WebhookDelivery) -> str:
        return obj.raw_body or "(kept only when the connection's log_webhooks is on)"


@admin.register(SyncRun)
class SyncRunAdmin(StatusBadgeColumn, ReadOnlyAdmin[SyncRun]):
    """Sync jobs: what was asked, by whom, where it runs, and how far it is (the page reloads while it runs)."""

    change_form_template = "admin/calendly_sync/syncrun/change_form.html"
    list_display = (
        "requested_at",
        "connection",
        "trigger",
        "status_badge",
        "progress",
        "requested_by",
        "dry_run",
        "since",
        "until",
        "finished_at",
        "error_short",
    )
    list_filter = ("status", "trigger", "dry_run", "connection")
    date_hierarchy = "requested_at"
    list_select_related = ("connection",)
    fields = (
        "connection",
        "trigger",
        "status",
        "progress",
        "requested_by",
        "requested_at",
        "since",
        "until",
        "dry_run",
        "runner",
        "attempts",
        "started_at",
        "heartbeat_at",
        "finished_at",
        "counts_summary",
        "error",
        "options",
        "checkpoint",
    )
    readonly_fields = ("progress", "counts_summary")

    REFRESH_SECONDS = 5

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        run = SyncRun.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        refresh = self.REFRESH_SECONDS if run is not None and run.is_active else None
        return super().change_view(request, object_id, form_url, {"refresh_seconds": refresh, **(extra_context or {})})

    @admin.display(description="progress")
    def progress(self, obj: SyncRun) -> str:
        return sync_progress(obj, timezone.now())

    @admin.display(description="counts")
    def counts_summary(self, obj: SyncRun) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted((obj.counts or {}).items()))

    @admin.display(description="error")
    def error_short(self, obj: SyncRun) -> str:
        return last_error(obj.error)


@admin.register(ContactSyncLog)
class ContactSyncLogAdmin(StatusBadgeColumn, ReadOnlyAdmin[ContactSyncLog]):
    list_display = (
        "created_at",
        "email",
        "action",
        "status_badge",
        "http_status",
        "brevo_code",
        "message_short",
        "connection",
    )
    list_filter = ("status", "action", "connection")
    search_fields = ("email", "message", "brevo_code")
    date_hierarchy = "created_at"
    list_select_related = ("connection",)

    @admin.display(description="message")
    def message_short(self, obj: ContactSyncLog) -> str:
        return Truncator(obj.message).chars(100)


@admin.register(Suppression)
class SuppressionAdmin(ReadOnlyAdmin[Suppression]):
    """Who was forgotten, when: a keyed hash of each address (forget_invitee), never the address."""

    list_display = ("email_hash", "forgotten_at", "connection")
    list_filter = ("connection",)
    date_hierarchy = "forgotten_at"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deleting one would let an erased person's old bookings come back


@admin.register(AutomationEvent)
class AutomationEventAdmin(StatusBadgeColumn, LastErrorColumn, ReadOnlyAdmin[AutomationEvent]):
    list_display = (
        "created_at",
        "event_name",
        "email",
        "status_badge",
        "attempts",
        "event_date",
        "sent_at",
        "last_error_short",
        "connection",
    )
    list_filter = ("status", "event_name", "connection")
    search_fields = ("email", "event_name", "key")
    actions = ["requeue", "confirm_sent"]

    @admin.action(description="Requeue selected failed or unconfirmed events", permissions=["operate"])
    def requeue(self, request: HttpRequest, queryset: QuerySet[AutomationEvent]) -> None:
        """Send them again at the next sweep, with a fresh retry horizon.

        An unconfirmed event may already be in Brevo (its answer was lost): requeue it only after
        checking the contact's events there, or a second automation run may start.
        """
        n = requeue_events(list(queryset.values_list("pk", flat=True)))
        skipped = queryset.count() - n
        self.message_user(
            request,
            f"{n} events queued; the next sweep sends them"
            + (f" ({skipped} neither failed nor unconfirmed were left as they are)" if skipped else ""),
            messages.SUCCESS,
        )

    @admin.action(description="Mark selected unconfirmed events as sent (found in Brevo)", permissions=["operate"])
    def confirm_sent(self, request: HttpRequest, queryset: QuerySet[AutomationEvent]) -> None:
        """The operator found these in the contact's events in Brevo: they are never sent again."""
        n = confirm_events(list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{n} unconfirmed events marked sent", messages.SUCCESS)


@admin.register(HeldNumber)
class HeldNumberAdmin(ReadOnlyAdmin[HeldNumber]):
    """SMS numbers Brevo holds for contacts outside the connection: nobody here is sent them."""

    list_display = ("number", "holder", "refused_for", "discovered_at", "connection")
    list_filter = ("connection",)
    search_fields = ("number", "holder", "refused_for")
    list_select_related = ("connection",)
    actions = ["forget"]

    @admin.action(
        description="Forget: send these numbers again (Brevo's other contact let them go)", permissions=["delete"]
    )
    def forget(self, request: HttpRequest, queryset: QuerySet[HeldNumber]) -> None:
        forgotten = 0
        for held in queryset.select_related("connection"):
            claimants = list(
                Contact.objects.filter(connection=held.connection, sms_number=held.number).values_list(
                    "email", flat=True
                )
            )
            held.delete()
            refresh_all_contacts(held.connection, claimants)  # the number's owner is sent it with its next push
            forgotten += 1
        self.message_user(request, f"{forgotten} number(s) forgotten: their owners are sent them again", messages.INFO)
