"""The Connection admin: every credential editable and never shown, every failure visible, and the
operator's actions on a connection (connect, check, sync, register webhooks, resend, disconnect).

A connection's mappings are edited inline (see ``mappings``); the logs have their own read-only
admins (see ``logs``). Also here: social-auth's internal models, taken off the admin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from social_django.models import Association, Code, Nonce, Partial, UserSocialAuth

from calendly_sync import crypto
from calendly_sync.admin.bases import ModelAdmin, ModelForm
from calendly_sync.admin.display import LastErrorColumn, StatusBadgeColumn, status_badge, sync_progress
from calendly_sync.admin.mappings import EventTypeMappingInline, FieldMappingInline, TextJSONField, pick_brevo_lists
from calendly_sync.backfill import SyncBusy, queue_resync, queue_sync
from calendly_sync.calendly.errors import CalendlyError
from calendly_sync.connect import catalog
from calendly_sync.credentials.tokens import disconnect
from calendly_sync.doctor import quick_check
from calendly_sync.inbox import rejections
from calendly_sync.inbox.probe import ProbeError, ProbeResult, send_test_booking
from calendly_sync.inbox.subscriptions import callback_url, delete_subscriptions, ensure_subscription
from calendly_sync.models import Connection, Contact, ContactSyncLog, SyncRun, WebhookDelivery, WebhookRejection

SECRET_FIELDS = ("access_token", "refresh_token", "webhook_signing_key", "previous_signing_key", "brevo_api_key")


class SecretInput(forms.PasswordInput):
    """Write-only: renders empty, shows the last four characters of what is stored as a hint."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs, render_value=False)


class ConnectionForm(ModelForm[Connection]):
    """Secrets are write-only: a blank field keeps the stored value; tick "clear" to remove it."""

    clear_secrets = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[(f, f.replace("_", " ")) for f in SECRET_FIELDS],
        help_text="Tick to erase a stored secret.",
    )

    class Meta:
        model = Connection
        fields = "__all__"  # ConnectionAdmin's fieldsets choose the fields; this form adds behaviour to them
        widgets = {f: SecretInput() for f in SECRET_FIELDS}
        field_classes = {"default_list_ids": TextJSONField}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in SECRET_FIELDS:
            if name not in self.fields:
                continue
            field = self.fields[name]
            field.required = False
            stored = getattr(self.instance, name, "") if self.instance.pk else ""
            hint = f"Stored: {crypto.mask(stored)}. Leave blank to keep it." if stored else "Not set."
            field.help_text = f"{hint} {field.help_text or ''}".strip()
            field.initial = ""
            self.initial[name] = ""  # so only a typed value counts as a change (see ConnectionAdmin.save_model)
        pick_brevo_lists(  # picked by name once the Brevo lists are loaded
            self,
            "default_list_ids",
            self.instance if self.instance.pk else None,
            self.instance.default_list_ids,
            label="Default Brevo lists",
            help_text="Bookings of unmapped event types join these lists (none: no list).",
        )

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        cleared = set(cleaned.get("clear_secrets") or [])
        for name in SECRET_FIELDS:
            if name in cleared:
                cleaned[name] = ""
            elif not cleaned.get(name) and self.instance.pk:
                cleaned[name] = getattr(self.instance, name)
        return cleaned


@admin.register(Connection)
class ConnectionAdmin(StatusBadgeColumn, LastErrorColumn, ModelAdmin[Connection]):
    form = ConnectionForm
    change_list_template = "admin/calendly_sync/connection/change_list.html"
    change_form_template = "admin/calendly_sync/connection/change_form.html"
    list_display = (
        "name",
        "status_badge",
        "auth_kind",
        "calendly_user_name",
        "organization_short",
        "token_hint",
        "token_expires_at",
        "mapping_count",
        "dirty_contacts",
        "last_delivery_at",
        "refused_requests",
        "last_error_short",
    )
    list_filter = ("status", "auth_kind", "enabled")
    search_fields = ("name", "calendly_user_email", "calendly_user_name", "calendly_organization_uri")
    readonly_fields = (
        "status",
        "last_error",
        "last_error_at",
        "calendly_user_uri",
        "calendly_user_name",
        "calendly_user_email",
        "calendly_organization_uri",
        "scopes",
        "token_expires_at",
        "webhook_subscription_uri",
        "webhook_subscription_state",
        "webhook_scope",
        "webhook_callback_url",
        "webhook_checked_at",
        "last_delivery_at",
        "refused_requests_verdict",
        "signing_key_rotated_at",
        "catalog_loaded_at",
        "last_synced_at",
        "created_at",
        "updated_at",
        "webhook_url",
        "catalog_summary",
        "sync_jobs",
    )
    fieldsets = (
        (None, {"fields": ("name", "enabled", "status", "last_error", "last_error_at")}),
        ("Sync jobs", {"fields": ("sync_jobs", "last_synced_at")}),
        (
            "Calendly",
            {
                "fields": (
                    "auth_kind",
                    "access_token",
                    "refresh_token",
                    "token_expires_at",
                    "scopes",
                    "calendly_user_name",
                    "calendly_user_email",
                    "calendly_user_uri",
                    "calendly_organization_uri",
                    "scheduling_plan",
                    "owner",
                )
            },
        ),
        (
            "Webhooks",
            {
                "fields": (
                    "webhook_url",
                    "webhook_signing_key",
                    "previous_signing_key",
                    "signing_key_rotated_at",
                    "webhook_subscription_uri",
                    "webhook_subscription_state",
                    "webhook_scope",
                    "webhook_callback_url",
                    "webhook_checked_at",
                    "last_delivery_at",
                    "refused_requests_verdict",
                )
            },
        ),
        ("Brevo", {"fields": ("brevo_api_key", "default_list_ids")}),
        (
            "Behaviour",
            {"fields": ("sync_contacts", "sync_events", "sync_cancellations", "debug", "log_level", "log_webhooks")},
        ),
        ("Catalog (what the mappings below offer)", {"fields": ("catalog_summary", "catalog_loaded_at")}),
        ("Secrets", {"classes": ("collapse",), "fields": ("clear_secrets",)}),
        ("Times", {"classes": ("collapse",), "fields": ("created_at", "updated_at")}),
    )
    raw_id_fields = ("owner",)
    inlines = [EventTypeMappingInline, FieldMappingInline]
    actions = [
        "check_connection",
        "sync_now",
        "register_webhooks",
        "resync_contacts",
        "reload_catalog",
        "send_test_booking",
        "disconnect_calendly",
    ]

    # -- connect / reconnect / reload / disconnect ------------------------------------------------
    def get_urls(self) -> list[Any]:
        app_label, model_name = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/reload-catalog/",
                self.admin_site.admin_view(self.reload_catalog_view),
                name=f"{app_label}_{model_name}_reload_catalog",
            ),
            path(
                "<path:object_id>/repair-webhooks/",
                self.admin_site.admin_view(self.repair_webhooks_view),
                name=f"{app_label}_{model_name}_repair_webhooks",
            ),
            path(
                "<path:object_id>/sync-now/",
                self.admin_site.admin_view(self.sync_now_view),
                name=f"{app_label}_{model_name}_sync_now",
            ),
            *super().get_urls(),
        ]

    @staticmethod
    def connect_url(conn: Connection | None = None) -> str:
        url = reverse("calendly_sync:connect-calendly")
        return f"{url}?connection={conn.pk}" if conn is not None and conn.pk else url

    @staticmethod
    def can_reconnect(conn: Connection | None) -> bool:
        return bool(
            conn is not None
            and conn.pk
            and (
                conn.status == Connection.Status.NEEDS_RECONNECT
                or (conn.auth_kind == Connection.AuthKind.OAUTH and not conn.refresh_token)
            )
        )

    def _banner_context(self) -> dict[str, Any]:
        stuck = list(Connection.objects.filter(status=Connection.Status.NEEDS_RECONNECT).order_by("name"))
        return {
            "reconnect_needed": [
                {
                    "name": c.name,
                    "reason": c.last_error,
                    "url": self.connect_url(c),
                    "change_url": reverse("admin:calendly_sync_connection_change", args=[c.pk]),
                }
                for c in stuck
            ]
        }

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = {**self._banner_context(), "connect_calendly_url": self.connect_url(), **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Connection | None = None,
    ) -> HttpResponse:
        context.update(self._banner_context())
        if obj is not None and obj.pk:
            context.update(
                {
                    "show_reconnect": self.can_reconnect(obj),
                    "reconnect_calendly_url": self.connect_url(obj),
                    "reload_catalog_url": reverse("admin:calendly_sync_connection_reload_catalog", args=[obj.pk]),
                    "sync_now_url": reverse("admin:calendly_sync_connection_sync_now", args=[obj.pk]),
                    "repair_webhooks_url": reverse("admin:calendly_sync_connection_repair_webhooks", args=[obj.pk]),
                }
            )
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def reload_catalog_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._change_page_button(request, object_id, self._report_catalog)

    def sync_now_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The change page's "Sync now" button: the same as the list's action, for this connection."""
        return self._change_page_button(request, object_id, self._queue_sync)

    def repair_webhooks_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The change page's "Repair webhook subscription" button (the overview's fix for a red subscription)."""
        return self._change_page_button(request, object_id, self._register_webhooks)

    def _change_page_button(
        self, request: HttpRequest, object_id: str, act: Callable[[HttpRequest, Connection], object]
    ) -> HttpResponse:
        """A button's POST on a connection's change page: ``act`` on it (it says what it did), then back to the page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        conn = get_object_or_404(Connection, pk=object_id)
        if not self.has_change_permission(request, conn):
            raise PermissionDenied
        act(request, conn)
        return HttpResponseRedirect(reverse("admin:calendly_sync_connection_change", args=[conn.pk]))

    def _queue_sync(self, request: HttpRequest, conn: Connection, *, resync: bool = False) -> None:
        """Queue the job and say where to watch it; the request never waits for Calendly or Brevo."""
        queue = queue_resync if resync else queue_sync
        try:
            run = queue(conn, requested_by=request.user.get_username())
        except SyncBusy as busy:
            self.message_user(
                request,
                format_html('{}: {} (<a href="{}">see run #{}</a>).', conn.name, busy, _run_url(busy.run), busy.run.pk),
                messages.WARNING,
            )
            return
        what = "recompute and resend every contact" if resync else "sync"
        self.message_user(
            request,
            format_html(
                '{}: {} queued as <a href="{}">run #{}</a>; it runs in the background, its page shows its progress.',
                conn.name,
                what,
                _run_url(run),
                run.pk,
            ),
            messages.SUCCESS,
        )

    def _report_catalog(self, request: HttpRequest, conn: Connection) -> None:
        try:
            report = catalog.load_catalog(conn)
        except Exception as exc:  # noqa: BLE001 - whatever failed is shown to the operator
            self.message_user(request, f"{conn.name}: loading the catalog failed: {exc}", messages.ERROR)
            return
        for level, text in report.lines:
            self.message_user(request, f"{conn.name}: {text}", level)

    @admin.action(description="Reload event types and Brevo lists", permissions=["change"])
    def reload_catalog(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        for conn in queryset:
            self._report_catalog(request, conn)

    @admin.action(description="Send a test booking", permissions=["change"])
    def send_test_booking(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        """A signed synthetic ``invitee.created`` for a fake invitee, posted over HTTP to this site's own
        webhook endpoint (at the address this request came to): nothing is booked at Calendly."""
        base = request.build_absolute_uri("/")
        for conn in queryset:
            try:
                result = send_test_booking(conn, base)
            except ProbeError as exc:
                self.message_user(request, f"{conn.name}: test booking not delivered: {exc}", messages.ERROR)
                continue
            level, text = _describe_probe(conn, result)
            self.message_user(request, text, level)

    @admin.action(
        description="Disconnect Calendly (revoke the OAuth tokens at Calendly and delete them)", permissions=["change"]
    )
    def disconnect_calendly(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        for conn in queryset:
            if conn.auth_kind != Connection.AuthKind.OAUTH:
                self.message_user(
                    request,
                    f"{conn.name}: not an OAuth connection (clear its token in the form instead).",
                    messages.WARNING,
                )
                continue
            try:  # first, while the token still works: Calendly stops sending to this connection
                deleted = delete_subscriptions(conn)
            except CalendlyError as exc:
                deleted = []
                self.message_user(
                    request,
                    f"{conn.name}: the webhook subscription could not be deleted at Calendly ({exc}); "
                    "its deliveries will be refused, since the signing key is deleted too.",
                    messages.WARNING,
                )
            report = disconnect(conn.pk, by=request.user.get_username())
            subscriptions = f"; deleted {len(deleted)} webhook subscription(s) at Calendly" if deleted else ""
            self.message_user(
                request,
                f"{conn.name}: disconnected; {report.summary()}{subscriptions}.",
                messages.WARNING if report.problems else messages.SUCCESS,
            )

    def save_model(
        self, request: HttpRequest, obj: Connection, form: forms.ModelForm[Connection], change: bool
    ) -> None:
        """Write only what the form edits: tokens rotated by a refresh while the form was open (and
        the status, errors and webhook state kept by the connector) are never overwritten."""
        if not change:
            return super().save_model(request, obj, form, change)
        cleared = set(form.cleaned_data.get("clear_secrets") or [])
        names = [
            f.name
            for f in obj._meta.concrete_fields
            if not f.primary_key
            and f.name in form.cleaned_data
            and (f.name not in SECRET_FIELDS or f.name in form.changed_data or f.name in cleared)
        ]
        obj.save(update_fields=[*names, "updated_at"])
        return None

    @admin.display(description="loaded catalog")
    def catalog_summary(self, obj: Connection) -> str:
        if not obj.pk or not obj.catalog_loaded_at:
            return "Not loaded yet: connect Calendly, or press 'Reload event types and Brevo lists'."
        event_types = obj.calendly_event_types or []
        questions = catalog.question_names(obj)
        return format_html(
            "{} Calendly event types ({} custom questions: {}); {} Brevo lists; {} Brevo attributes.",
            len(event_types),
            len(questions),
            ", ".join(questions) or "none",
            len(obj.brevo_lists or []),
            len(obj.brevo_attributes or []),
        )

    @admin.action(description="Check Calendly and Brevo credentials", permissions=["change"])
    def check_connection(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        for conn in queryset:
            ok, message = quick_check(conn)
            self.message_user(request, f"{conn.name}: {message}", messages.SUCCESS if ok else messages.ERROR)

    @admin.action(description="Sync now (backfill the default window, in the background)", permissions=["change"])
    def sync_now(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        for conn in queryset:
            self._queue_sync(request, conn)

    @admin.action(description="Register (or repair) the Calendly webhook subscription", permissions=["change"])
    def register_webhooks(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        for conn in queryset:
            self._register_webhooks(request, conn)

    def _register_webhooks(self, request: HttpRequest, conn: Connection) -> None:
        try:
            result = ensure_subscription(conn)
        except Exception as exc:  # noqa: BLE001 - shown to the operator and kept; the other connections go on
            conn.record_error(str(exc))
            self.message_user(request, f"{conn.name}: {exc}", messages.ERROR)
            return
        for warning in result.warnings:
            self.message_user(request, f"{conn.name}: {warning}", messages.WARNING)
        self.message_user(
            request,
            f"{conn.name}: {result.action} {result.scope}-scope subscription → {result.url}",
            messages.SUCCESS,
        )
        if result.backfill:  # a recreated subscription: what it missed is fetched by a sync job
            self.message_user(request, f"{conn.name}: {result.backfill}", messages.INFO)

    @admin.action(description="Recompute and resend every contact (in the background)", permissions=["change"])
    def resync_contacts(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        for conn in queryset:
            self._queue_sync(request, conn, resync=True)

    @admin.display(description="sync jobs")
    def sync_jobs(self, obj: Connection) -> SafeString | str:
        """The job running or waiting now, and the last one that ended, each linked to its page."""
        if not obj.pk:
            return "—"
        now = timezone.now()
        runs = SyncRun.objects.filter(connection=obj, dry_run=False)
        shown = list(runs.filter(status__in=SyncRun.ACTIVE).order_by("-status", "requested_at"))
        last = runs.exclude(status__in=SyncRun.ACTIVE).order_by("-started_at").first()
        if last is not None:
            shown.append(last)
        if not shown:
            return "No sync yet: press Sync now."
        return format_html_join(
            "",
            '<div><a href="{}">run #{}</a> ({}, {}): {} {}</div>',
            (
                (
                    _run_url(run),
                    run.pk,
                    run.get_trigger_display(),
                    f"{run.requested_at:%Y-%m-%d %H:%M}",
                    status_badge(run.status, run.get_status_display()),
                    sync_progress(run, now),
                )
                for run in shown
            ),
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Connection]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                _mappings=Count("event_type_mappings", distinct=True),
                _dirty=Count("contacts", filter=Q(contacts__dirty=True), distinct=True),
                _refused=Coalesce(
                    Subquery(
                        WebhookRejection.objects.filter(
                            connection=OuterRef("pk"), last_at__gte=timezone.now() - rejections.WINDOW
                        )
                        .values("connection")
                        .annotate(n=Sum("count"))
                        .values("n")
                    ),
                    0,
                ),
            )
        )

    @admin.display(description="organization")
    def organization_short(self, obj: Connection) -> str:
        return obj.calendly_organization_uri.rsplit("/", 1)[-1] if obj.calendly_organization_uri else "—"

    @admin.display(description="token")
    def token_hint(self, obj: Connection) -> str:
        if obj.access_token:
            return crypto.mask(obj.access_token)
        return "from environment" if obj.effective_access_token() else "—"

    @admin.display(description="mappings", ordering="_mappings")
    def mapping_count(self, obj: Connection) -> int:
        return getattr(obj, "_mappings", 0)

    @admin.display(description="contacts to push", ordering="_dirty")
    def dirty_contacts(self, obj: Connection) -> int:
        return getattr(obj, "_dirty", 0)

    @admin.display(description="refused requests (24 h)", ordering="_refused")
    def refused_requests(self, obj: Connection) -> int:
        return getattr(obj, "_refused", 0)

    @admin.display(description="refused webhook requests")
    def refused_requests_verdict(self, obj: Connection) -> str:
        """The doctor's verdict on them: noise, or a key or clock problem."""
        if not obj.pk:
            return "—"
        level, message = rejections.assess(rejections.summarize(obj))
        return f"{level}: {message}"

    @admin.display(description="webhook URL")
    def webhook_url(self, obj: Connection) -> str:
        if not obj.pk:
            return "Saved connections get their own URL."
        return callback_url(obj)


def _describe_probe(conn: Connection, result: ProbeResult) -> tuple[int, SafeString]:
    """Where the test booking went: the URL, the delivery (linked) and its status, the contact
    (linked) and, once applied, what Brevo answered."""
    delivery = result.delivery
    where = format_html(
        "{}: test booking for {} sent to {} ({})", conn.name, result.email, result.url, result.http_status
    )
    if delivery is None:
        return messages.WARNING, format_html(
            "{}; the endpoint answered {} but stored no delivery.", where, result.answer
        )
    delivery_link = format_html(
        '<a href="{}">delivery #{}</a>',
        reverse("admin:calendly_sync_webhookdelivery_change", args=[delivery.pk]),
        delivery.pk,
    )
    contact = Contact.objects.filter(connection=conn, email=result.email).first()
    contact_part = (
        format_html(
            '; contact <a href="{}">{}</a>',
            reverse("admin:calendly_sync_contact_change", args=[contact.pk]),
            contact.email,
        )
        if contact is not None
        else ""
    )
    if delivery.status == WebhookDelivery.Status.IGNORED:
        return messages.WARNING, format_html(
            "{}: {} was ignored: {}", where, delivery_link, delivery.last_error or "not applied"
        )
    if delivery.status == WebhookDelivery.Status.FAILED:
        return messages.ERROR, format_html(
            "{}: {} failed: {}{}", where, delivery_link, delivery.last_error, contact_part
        )
    if delivery.status != WebhookDelivery.Status.PROCESSED:
        return messages.WARNING, format_html(
            "{}: {} is {} (not applied yet: is the worker running?){}",
            where,
            delivery_link,
            delivery.status,
            contact_part,
        )
    brevo = format_html_join(
        "; ",
        "{}{} {}{}",
        (
            (
                log.action,
                f" {log.http_status}" if log.http_status else "",
                log.status,
                f" ({log.message})" if log.status != ContactSyncLog.Status.OK and log.message else "",
            )
            for log in result.brevo
        ),
    )
    failed = any(log.status != ContactSyncLog.Status.OK for log in result.brevo) if result.brevo else False
    return (
        messages.WARNING if failed else messages.SUCCESS,
        format_html(
            "{}: {} processed{}; Brevo: {}",
            where,
            delivery_link,
            contact_part,
            brevo or "nothing sent (see the contact)",
        ),
    )


def _run_url(run: SyncRun) -> str:
    return reverse("admin:calendly_sync_syncrun_change", args=[run.pk])


# social-auth's internal models (associations, nonces, codes, partial pipelines, user social auths)
# are its bookkeeping, not the operator's: the Connect Calendly flow stores no UserSocialAuth row at
# all, and extra_data can hold tokens. They are taken off the admin.
def _unregister_social_auth() -> None:
    for model in (UserSocialAuth, Nonce, Association, Code, Partial):
        if admin.site.is_registered(model):
            admin.site.unregister(model)


_unregister_social_auth()
