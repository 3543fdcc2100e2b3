"""The admin: everything editable, every failure visible, no secret ever shown in full."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from calendly_sync import crypto
from calendly_sync.connect import catalog
from calendly_sync.sync.mapping import KNOWN_SOURCES, QUESTION_PREFIX
from calendly_sync.models import (
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

SECRET_FIELDS = ("access_token", "refresh_token", "webhook_signing_key", "previous_signing_key", "brevo_api_key")


class SecretInput(forms.PasswordInput):
    """Write-only: renders empty, shows the last four characters of what is stored as a hint."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, render_value=False, **kwargs)


class ConnectionForm(forms.ModelForm):
    """Secrets are write-only: a blank field keeps the stored value; tick "clear" to remove it."""

    clear_secrets = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple,
        choices=[(f, f.replace("_", " ")) for f in SECRET_FIELDS],
        help_text="Tick to erase a stored secret.",
    )

    class Meta:
        model = Connection
        fields = "__all__"
        widgets = {f: SecretInput() for f in SECRET_FIELDS}

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

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        cleared = set(cleaned.get("clear_secrets") or [])
        for name in SECRET_FIELDS:
            if name in cleared:
                cleaned[name] = ""
            elif not cleaned.get(name) and self.instance.pk:
                cleaned[name] = getattr(self.instance, name)
        return cleaned


# -- mapping forms: pick from the loaded catalog instead of typing URIs and ids -----------------

class DatalistTextInput(forms.TextInput):
    """A text input with suggestions (free text stays possible)."""

    def __init__(self, suggestions: list[str], list_id: str, attrs: dict[str, Any] | None = None) -> None:
        super().__init__({**(attrs or {}), "list": list_id})
        self.suggestions = suggestions
        self.list_id = list_id

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> str:
        html = super().render(name, value, attrs, renderer)
        options = format_html_join("", '<option value="{}">', ((s,) for s in self.suggestions))
        return format_html('{}<datalist id="{}">{}</datalist>', html, self.list_id, options)


class CatalogFormMixin:
    """Forms whose choices come from a connection's loaded catalog (set per request by the admin)."""

    catalog_connection: Connection | None = None
    instance: Any

    def catalog(self) -> Connection | None:
        if self.catalog_connection is not None:
            return self.catalog_connection
        if getattr(self.instance, "connection_id", None):
            return self.instance.connection
        return None


class EventTypeMappingForm(CatalogFormMixin, forms.ModelForm):
    """Event type: a select of the loaded Calendly event types; lists: a multi-select of Brevo lists.

    Without a loaded catalog both stay free text (a URI and a JSON list such as ``[10, 12]``).
    """

    class Meta:
        model = EventTypeMapping
        fields = "__all__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        conn = self.catalog()
        event_types = catalog.event_type_choices(conn)
        if event_types and "event_type_uri" in self.fields:
            current = self.instance.event_type_uri
            if current and current not in dict(event_types):
                event_types.append((current, f"{self.instance.event_type_name or current} (not in the loaded catalog)"))
            self.fields["event_type_uri"] = forms.ChoiceField(
                label="Event type", choices=[("", "— choose a Calendly event type —"), *event_types],
                help_text="Loaded from Calendly. 'Reload event types and Brevo lists' on the connection refreshes it.")
        lists = catalog.list_choices(conn)
        if lists and "list_ids" in self.fields:
            current_ids = [int(i) for i in (self.instance.list_ids or []) if str(i).lstrip("-").isdigit()]
            known = {i for i, _ in lists}
            lists += [(i, f"#{i} (not in the loaded Brevo lists)") for i in current_ids if i not in known]
            self.fields["list_ids"] = forms.TypedMultipleChoiceField(
                label="Brevo lists", coerce=int, choices=lists, required=False,
                widget=forms.SelectMultiple(attrs={"size": min(6, max(2, len(lists)))}),
                help_text="Bookings of this event type join these lists (Ctrl/Cmd-click for several).")
            self.initial["list_ids"] = current_ids

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        uri = cleaned.get("event_type_uri")
        if uri and "event_type_name" in self.fields and (
                not cleaned.get("event_type_name")
                or ("event_type_uri" in self.changed_data and "event_type_name" not in self.changed_data)):
            name = catalog.event_type_name(self.catalog(), uri)
            if name:
                cleaned["event_type_name"] = name[:200]
        return cleaned


class FieldMappingForm(CatalogFormMixin, forms.ModelForm):
    """Source: the known invitee/event fields plus ``question:<name>`` for each loaded custom
    question; attribute: the loaded Brevo attributes. Free text (with suggestions) without a catalog."""

    class Meta:
        model = FieldMapping
        fields = "__all__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        conn = self.catalog()
        if "source" in self.fields:
            current = self.instance.source
            if conn is not None and (conn.catalog_loaded_at or conn.calendly_event_types):
                groups = catalog.source_choices(conn)
                offered = {value for _, items in groups for value, _ in items}
                if current and current not in offered:
                    groups.append(("Current value", [(current, current)]))
                self.fields["source"] = forms.ChoiceField(
                    choices=[("", "— choose a Calendly field or question —"), *groups],
                    help_text="Invitee/event field, or the answer to a custom question of the loaded event types.")
            else:
                self.fields["source"].widget = DatalistTextInput(
                    sorted(KNOWN_SOURCES) + [f"{QUESTION_PREFIX}{q}" for q in catalog.question_names(conn)],
                    list_id="calendly-sources")
        attributes = catalog.attribute_choices(conn)
        if attributes and "attribute" in self.fields:
            current = self.instance.attribute
            if current and current not in dict(attributes):
                attributes.append((current, f"{current} (not in the loaded Brevo attributes)"))
            self.fields["attribute"] = forms.ChoiceField(
                choices=[("", "— choose a Brevo attribute —"), *attributes],
                help_text="Loaded from Brevo (create missing ones with manage.py brevo_setup).")

    def clean_source(self) -> str:
        value = str(self.cleaned_data.get("source") or "").strip()
        if value.casefold().startswith(QUESTION_PREFIX):
            if not value[len(QUESTION_PREFIX):].strip():
                raise ValidationError("Name the question after 'question:'.")
            return value
        if value.casefold() in KNOWN_SOURCES:
            return value.casefold()
        if value not in KNOWN_SOURCES:
            raise ValidationError(f"Unknown source {value!r}: use one of {', '.join(sorted(KNOWN_SOURCES))} "
                                  "or question:<question text>.")
        return value

    def clean_attribute(self) -> str:
        return str(self.cleaned_data.get("attribute") or "").strip().upper()


class CatalogInlineMixin:
    """Give the inline's forms the parent connection (its catalog fills the choices)."""

    form: type[forms.ModelForm]

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        kwargs["form"] = type(self.form.__name__, (self.form,), {"catalog_connection": obj})
        return super().get_formset(request, obj, **kwargs)  # type: ignore[misc]


class EventTypeMappingInline(CatalogInlineMixin, admin.TabularInline):
    model = EventTypeMapping
    form = EventTypeMappingForm
    extra = 0
    fields = ("key", "event_type_uri", "event_type_name", "list_ids", "enabled", "unlink_on_cancel", "missing_since")
    readonly_fields = ("missing_since",)


class FieldMappingInline(CatalogInlineMixin, admin.TabularInline):
    model = FieldMapping
    form = FieldMappingForm
    extra = 0
    fields = ("source", "attribute", "attribute_type", "enabled", "position")


def _status_badge(status: str, label: str) -> str:
    colours = {
        "active": "#2e7d32", "processed": "#2e7d32", "completed": "#2e7d32", "ok": "#2e7d32", "sent": "#2e7d32",
        "new": "#616161", "pending": "#f9a825", "running": "#1565c0", "processing": "#1565c0", "retry": "#f9a825",
        "ignored": "#757575", "skipped": "#757575", "dry_run": "#757575", "warning": "#ef6c00",
        "needs_reconnect": "#c62828", "error": "#c62828", "failed": "#c62828", "interrupted": "#ef6c00",
        "disabled": "#757575",
    }
    return format_html('<b style="color:{}">{}</b>', colours.get(status, "#333"), label)


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    form = ConnectionForm
    change_list_template = "admin/calendly_sync/connection/change_list.html"
    change_form_template = "admin/calendly_sync/connection/change_form.html"
    list_display = (
        "name", "status_badge", "auth_kind", "calendly_user_name", "organization_short", "token_hint",
        "token_expires_at", "mapping_count", "dirty_contacts", "last_delivery_at", "signature_rejections",
        "last_error_short",
    )
    list_filter = ("status", "auth_kind", "enabled")
    search_fields = ("name", "calendly_user_email", "calendly_user_name", "calendly_organization_uri")
    readonly_fields = (
        "status", "last_error", "last_error_at", "calendly_user_uri", "calendly_user_name", "calendly_user_email",
        "calendly_organization_uri", "scopes", "token_expires_at", "webhook_subscription_uri",
        "webhook_subscription_state", "webhook_scope", "webhook_callback_url", "webhook_checked_at",
        "last_delivery_at", "signature_rejections", "last_rejection_reason", "last_rejection_at",
        "signing_key_rotated_at", "catalog_loaded_at", "last_synced_at", "created_at", "updated_at", "webhook_url",
        "catalog_summary",
    )
    fieldsets = (
        (None, {"fields": ("name", "enabled", "status", "last_error", "last_error_at")}),
        ("Calendly", {"fields": (
            "auth_kind", "access_token", "refresh_token", "token_expires_at", "scopes", "calendly_user_name",
            "calendly_user_email", "calendly_user_uri", "calendly_organization_uri", "owner")}),
        ("Webhooks", {"fields": (
            "webhook_url", "webhook_signing_key", "previous_signing_key", "signing_key_rotated_at",
            "webhook_subscription_uri", "webhook_subscription_state", "webhook_scope", "webhook_callback_url",
            "webhook_checked_at", "last_delivery_at", "signature_rejections", "last_rejection_reason",
            "last_rejection_at")}),
        ("Brevo", {"fields": ("brevo_api_key", "default_list_ids")}),
        ("Behaviour", {"fields": (
            "sync_contacts", "sync_events", "sync_cancellations", "debug", "log_level", "log_webhooks")}),
        ("Catalog (what the mappings below offer)", {"fields": ("catalog_summary", "catalog_loaded_at")}),
        ("Secrets", {"classes": ("collapse",), "fields": ("clear_secrets",)}),
        ("Times", {"classes": ("collapse",), "fields": ("last_synced_at", "created_at", "updated_at")}),
    )
    raw_id_fields = ("owner",)
    inlines = [EventTypeMappingInline, FieldMappingInline]
    actions = ["check_connection", "sync_now", "register_webhooks", "resync_contacts", "reload_catalog",
               "disconnect_calendly"]

    # -- connect / reconnect / reload / disconnect ------------------------------------------------
    def get_urls(self) -> list[Any]:
        info = self.opts.app_label, self.opts.model_name
        return [
            path("<path:object_id>/reload-catalog/", self.admin_site.admin_view(self.reload_catalog_view),
                 name="%s_%s_reload_catalog" % info),
            *super().get_urls(),
        ]

    @staticmethod
    def connect_url(conn: Connection | None = None) -> str:
        url = reverse("calendly_sync:connect-calendly")
        return f"{url}?connection={conn.pk}" if conn is not None and conn.pk else url

    @staticmethod
    def can_reconnect(conn: Connection | None) -> bool:
        return bool(conn is not None and conn.pk and (
            conn.status == Connection.Status.NEEDS_RECONNECT
            or (conn.auth_kind == Connection.AuthKind.OAUTH and not conn.refresh_token)))

    def _banner_context(self) -> dict[str, Any]:
        stuck = list(Connection.objects.filter(status=Connection.Status.NEEDS_RECONNECT).order_by("name"))
        return {"reconnect_needed": [
            {"name": c.name, "reason": c.last_error, "url": self.connect_url(c),
             "change_url": reverse("admin:calendly_sync_connection_change", args=[c.pk])} for c in stuck]}

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        context = {**self._banner_context(), "connect_calendly_url": self.connect_url(), **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], add: bool = False,
                           change: bool = False, form_url: str = "", obj: Connection | None = None) -> HttpResponse:
        context.update(self._banner_context())
        if obj is not None and obj.pk:
            context.update({
                "show_reconnect": self.can_reconnect(obj),
                "reconnect_calendly_url": self.connect_url(obj),
                "reload_catalog_url": reverse("admin:calendly_sync_connection_reload_catalog", args=[obj.pk]),
            })
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def reload_catalog_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        conn = get_object_or_404(Connection, pk=object_id)
        if not self.has_change_permission(request, conn):
            raise PermissionDenied
        self._report_catalog(request, conn)
        return HttpResponseRedirect(reverse("admin:calendly_sync_connection_change", args=[conn.pk]))

    def _report_catalog(self, request: HttpRequest, conn: Connection) -> None:
        try:
            report = catalog.load_catalog(conn)
        except Exception as exc:  # shown to the operator
            self.message_user(request, f"{conn.name}: loading the catalog failed: {exc}", messages.ERROR)
            return
        for level, text in report.lines:
            self.message_user(request, f"{conn.name}: {text}", level)

    @admin.action(description="Reload event types and Brevo lists")
    def reload_catalog(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        for conn in queryset:
            self._report_catalog(request, conn)

    @admin.action(description="Disconnect Calendly (revoke the OAuth tokens at Calendly and delete them)")
    def disconnect_calendly(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        from calendly_sync.credentials.tokens import disconnect

        for conn in queryset:
            if conn.auth_kind != Connection.AuthKind.OAUTH:
                self.message_user(request, f"{conn.name}: not an OAuth connection (clear its token in the form "
                                           "instead).", messages.WARNING)
                continue
            report = disconnect(conn.pk, by=request.user.get_username())
            self.message_user(request, f"{conn.name}: disconnected; {report.summary()}.",
                              messages.WARNING if report.problems else messages.SUCCESS)

    def save_model(self, request: HttpRequest, obj: Connection, form: forms.ModelForm, change: bool) -> None:
        """Write only what the form edits: tokens rotated by a refresh while the form was open (and
        the status, errors and webhook state kept by the connector) are never overwritten."""
        if not change:
            return super().save_model(request, obj, form, change)
        cleared = set(form.cleaned_data.get("clear_secrets") or [])
        names = [f.name for f in obj._meta.concrete_fields if not f.primary_key and f.name in form.cleaned_data
                 and (f.name not in SECRET_FIELDS or f.name in form.changed_data or f.name in cleared)]
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
            len(event_types), len(questions), ", ".join(questions) or "none", len(obj.brevo_lists or []),
            len(obj.brevo_attributes or []))

    @admin.action(description="Check Calendly and Brevo credentials")
    def check_connection(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        from calendly_sync.doctor import quick_check

        for conn in queryset:
            ok, message = quick_check(conn)
            self.message_user(request, f"{conn.name}: {message}", messages.SUCCESS if ok else messages.ERROR)

    @admin.action(description="Sync now (backfill the default window)")
    def sync_now(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        from calendly_sync.backfill import BackfillOptions, run_backfill

        for conn in queryset:
            try:
                report = run_backfill(conn, BackfillOptions(trigger="admin"))
            except Exception as exc:  # shown to the operator, and kept on the connection
                conn.record_error(str(exc))
                self.message_user(request, f"{conn.name}: sync failed: {exc}", messages.ERROR)
                continue
            self.message_user(request, f"{conn.name}: {report.summary_line()}", messages.SUCCESS)

    @admin.action(description="Register (or repair) the Calendly webhook subscription")
    def register_webhooks(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        from calendly_sync.inbox.subscriptions import ensure_subscription

        for conn in queryset:
            try:
                result = ensure_subscription(conn)
            except Exception as exc:
                conn.record_error(str(exc))
                self.message_user(request, f"{conn.name}: {exc}", messages.ERROR)
                continue
            for warning in result.warnings:
                self.message_user(request, f"{conn.name}: {warning}", messages.WARNING)
            self.message_user(request, f"{conn.name}: {result.action} {result.scope}-scope subscription → {result.url}",
                              messages.SUCCESS)

    @admin.action(description="Recompute and resend every contact")
    def resync_contacts(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        from calendly_sync.sync.projection import refresh_all_contacts

        for conn in queryset:
            Contact.objects.filter(connection=conn).update(pushed_hash="", desired_hash="")
            dirty = refresh_all_contacts(conn)
            self.message_user(request, f"{conn.name}: {dirty} contacts queued for Brevo", messages.SUCCESS)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Connection]:
        return super().get_queryset(request).annotate(
            _mappings=Count("event_type_mappings", distinct=True),
            _dirty=Count("contacts", filter=Q(contacts__dirty=True), distinct=True),
        )

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Connection) -> str:
        return _status_badge(obj.status, obj.get_status_display())

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

    @admin.display(description="last error")
    def last_error_short(self, obj: Connection) -> str:
        return Truncator(obj.last_error).chars(80) if obj.last_error else ""

    @admin.display(description="webhook URL")
    def webhook_url(self, obj: Connection) -> str:
        from django.conf import settings

        if not obj.pk:
            return "Saved connections get their own URL."
        return f"{settings.SITE_URL}/webhooks/calendly/{obj.pk}/"


class CatalogModelAdmin(admin.ModelAdmin):
    """Stand-alone mapping admins: the catalog is the mapping's connection's (on add: the one
    named by ``?connection=<id>``, or the only one there is)."""

    def catalog_connection(self, request: HttpRequest, obj: Any = None) -> Connection | None:
        if obj is not None and obj.connection_id:
            return obj.connection
        wanted = request.GET.get("connection") or request.POST.get("connection") or ""
        if wanted.isdigit():
            return Connection.objects.filter(pk=int(wanted)).first()
        only = list(Connection.objects.all()[:2])
        return only[0] if len(only) == 1 else None

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"catalog_connection": self.catalog_connection(request, obj)})


@admin.register(EventTypeMapping)
class EventTypeMappingAdmin(CatalogModelAdmin):
    form = EventTypeMappingForm
    list_display = ("__str__", "connection", "event_type_name", "event_type_uri", "list_ids", "enabled", "missing_since")
    list_filter = ("connection", "enabled", ("missing_since", admin.EmptyFieldListFilter))
    search_fields = ("key", "event_type_name", "event_type_uri")


@admin.register(FieldMapping)
class FieldMappingAdmin(CatalogModelAdmin):
    form = FieldMappingForm
    list_display = ("source", "attribute", "attribute_type", "connection", "enabled", "position")
    list_filter = ("connection", "attribute_type", "enabled")
    search_fields = ("source", "attribute")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Logs and Calendly mirrors: looked at, never typed into."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Booking)
class BookingAdmin(ReadOnlyAdmin):
    list_display = ("email", "event_type_name", "status_badge", "rescheduled", "no_show", "start_time",
                    "invitee_created_at", "calendly_updated_at", "connection")
    list_filter = ("status", "rescheduled", "connection", "event_type_name", ("no_show_uri", admin.EmptyFieldListFilter))
    search_fields = ("email", "invitee_uri", "event_uri", "event_type_uri", "event_type_name", "name")
    date_hierarchy = "start_time"
    list_select_related = ("connection",)

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Booking) -> str:
        return _status_badge("active" if obj.status == "active" else "failed", obj.status)

    @admin.display(boolean=True, description="no-show")
    def no_show(self, obj: Booking) -> bool:
        return obj.is_no_show


@admin.register(Contact)
class ContactAdmin(ReadOnlyAdmin):
    list_display = ("email", "booking_status", "list_ids", "dirty", "attempts", "last_pushed_at", "last_error_short",
                    "connection")
    list_filter = ("dirty", "booking_status", "connection")
    search_fields = ("email",)
    list_select_related = ("connection",)
    actions = ["push_now"]

    @admin.action(description="Push selected contacts to Brevo now")
    def push_now(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        from calendly_sync.credentials.clients import brevo_client_for
        from calendly_sync.push.contacts import push_contact

        results: dict[str, int] = {}
        for contact in queryset.select_related("connection"):
            Contact.objects.filter(pk=contact.pk).update(pushed_hash="")
            contact.pushed_hash = ""
            try:
                outcome = push_contact(contact.connection, contact, brevo_client_for(contact.connection))
            except Exception as exc:
                outcome = "failed"
                self.message_user(request, f"{contact.email}: {exc}", messages.ERROR)
            results[outcome] = results.get(outcome, 0) + 1
        self.message_user(request, ", ".join(f"{k} {v}" for k, v in sorted(results.items())), messages.INFO)

    @admin.display(description="last error")
    def last_error_short(self, obj: Contact) -> str:
        return Truncator(obj.last_error).chars(80) if obj.last_error else ""


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "event", "email", "status_badge", "attempts", "redeliveries", "next_attempt_at",
                    "last_error_short", "connection")
    list_filter = ("status", "event", "connection")
    search_fields = ("email", "invitee_uri", "idempotency_key")
    date_hierarchy = "received_at"
    list_select_related = ("connection",)
    exclude = ("raw_body",)
    readonly_fields = ("raw_body_if_logged",)
    actions = ["reprocess", "mark_ignored"]

    @admin.action(description="Reprocess selected deliveries")
    def reprocess(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        from calendly_sync.tasks import reprocess

        n = reprocess(list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{n} deliveries queued for processing", messages.SUCCESS)

    @admin.action(description="Mark selected deliveries as ignored")
    def mark_ignored(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        n = queryset.exclude(status=WebhookDelivery.Status.PROCESSED).update(
            status=WebhookDelivery.Status.IGNORED, next_attempt_at=None, last_error="marked ignored by an operator")
        self.message_user(request, f"{n} deliveries marked ignored", messages.SUCCESS)

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: WebhookDelivery) -> str:
        return _status_badge(obj.status, obj.get_status_display())

    @admin.display(description="last error")
    def last_error_short(self, obj: WebhookDelivery) -> str:
        return Truncator(obj.last_error).chars(80) if obj.last_error else ""

    @admin.display(description="raw body")
    def raw_body_if_logged(self, obj: WebhookDelivery) -> str:
        return obj.raw_body or "(kept only when the connection's log_webhooks is on)"


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "connection", "status_badge", "dry_run", "since", "until", "counts_summary",
                    "finished_at", "error_short")
    list_filter = ("status", "dry_run", "connection", "trigger")
    date_hierarchy = "started_at"

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: SyncRun) -> str:
        return _status_badge(obj.status, obj.get_status_display())

    @admin.display(description="counts")
    def counts_summary(self, obj: SyncRun) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted((obj.counts or {}).items()))

    @admin.display(description="error")
    def error_short(self, obj: SyncRun) -> str:
        return Truncator(obj.error).chars(80) if obj.error else ""


@admin.register(ContactSyncLog)
class ContactSyncLogAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "email", "action", "status_badge", "http_status", "brevo_code", "message_short",
                    "connection")
    list_filter = ("status", "action", "connection")
    search_fields = ("email", "message", "brevo_code")
    date_hierarchy = "created_at"
    list_select_related = ("connection",)

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: ContactSyncLog) -> str:
        return _status_badge(obj.status, obj.get_status_display())

    @admin.display(description="message")
    def message_short(self, obj: ContactSyncLog) -> str:
        return Truncator(obj.message).chars(100)


@admin.register(AutomationEvent)
class AutomationEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "event_name", "email", "status_badge", "attempts", "event_date", "sent_at",
                    "last_error_short", "connection")
    list_filter = ("status", "event_name", "connection")
    search_fields = ("email", "event_name", "key")

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: AutomationEvent) -> str:
        return _status_badge(obj.status, obj.get_status_display())

    @admin.display(description="last error")
    def last_error_short(self, obj: AutomationEvent) -> str:
        return Truncator(obj.last_error).chars(80) if obj.last_error else ""


def _secret_key(key: str) -> bool:
    key = key.lower()
    return any(word in key for word in ("token", "secret", "code", "key", "password"))


# social-auth's own admin shows extra_data (which can hold tokens) in plain text: replace it.
# (The Connect Calendly flow stores no UserSocialAuth rows at all; this covers any other backend.)
try:
    from social_django.admin import UserSocialAuthOption
    from social_django.models import UserSocialAuth

    admin.site.unregister(UserSocialAuth)

    @admin.register(UserSocialAuth)
    class MaskedUserSocialAuthAdmin(UserSocialAuthOption):
        exclude = ("extra_data",)
        readonly_fields = ("extra_data_masked",)

        @admin.display(description="extra data")
        def extra_data_masked(self, obj: UserSocialAuth) -> str:
            data = obj.extra_data or {}
            return format_html_join(
                "", "<div><b>{}</b>: {}</div>",
                ((k, crypto.mask(str(v)) if _secret_key(k) or isinstance(v, (dict, list)) else v)
                 for k, v in sorted(data.items())),
            )
except admin.sites.NotRegistered:  # pragma: no cover - social_django admin not loaded
    pass
