"""The mapping admins: which event types feed which Brevo lists, and which fields feed which attributes.

Both are edited inline on a connection and on their own pages. Their forms pick from the
connection's loaded catalog (Calendly event types and questions, Brevo lists and attributes)
instead of asking for URIs and ids, and fall back to free text while no catalog is loaded.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from calendly_sync.admin.bases import ModelAdmin, ModelForm, TabularInline
from calendly_sync.admin.display import brevo_lists
from calendly_sync.connect import catalog
from calendly_sync.models import Connection, EventTypeMapping, FieldMapping
from calendly_sync.storable import unstorable
from calendly_sync.sync.mapping import KNOWN_SOURCES, QUESTION_PREFIX

_Mapping = TypeVar("_Mapping", EventTypeMapping, FieldMapping)

# -- mapping forms: pick from the loaded catalog instead of typing URIs and ids -----------------


class DatalistTextInput(forms.TextInput):
    """A text input with suggestions (free text stays possible)."""

    def __init__(self, suggestions: list[str], list_id: str, attrs: dict[str, Any] | None = None) -> None:
        super().__init__({**(attrs or {}), "list": list_id})
        self.suggestions = suggestions
        self.list_id = list_id

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        html = super().render(name, value, attrs, renderer)
        options = format_html_join("", '<option value="{}">', ((s,) for s in self.suggestions))
        return format_html('{}<datalist id="{}">{}</datalist>', html, self.list_id, options)


class TextJSONField(forms.JSONField):
    """A JSON text box whose strings must be text: a NUL or an unpaired surrogate escape is refused.

    Django's own field parsed ``["\\ud800"]`` and rendered the form again with the parsed value,
    whose lone surrogate failed the page's UTF-8 encoding (a 500); PostgreSQL refuses a NUL.
    """

    def to_python(self, value: Any) -> Any:
        converted = super().to_python(value)
        problem = unstorable(converted)
        if problem:
            raise ValidationError(f"The JSON {problem}.", code="invalid")
        return converted

    def bound_data(self, data: Any, initial: Any) -> Any:
        bound = super().bound_data(data, initial)
        if not isinstance(bound, InvalidJSONInput) and unstorable(bound):
            return InvalidJSONInput(data)  # shown as typed (escapes are ASCII)
        return bound


def pick_brevo_lists(
    form: forms.BaseForm, name: str, conn: Connection | None, stored: list[Any] | None, *, label: str, help_text: str
) -> None:
    """Make the form's field ``name`` a multi-select of ``conn``'s loaded Brevo lists (as it is while none are loaded).

    ``stored``, the ids the row holds, are selected; one that is not among the loaded lists stays a
    choice, marked as such.
    """
    lists = catalog.list_choices(conn)
    if not lists or name not in form.fields:
        return
    current = [int(i) for i in (stored or []) if str(i).lstrip("-").isdigit()]
    known = {i for i, _ in lists}
    lists += [(i, f"#{i} (not in the loaded Brevo lists)") for i in current if i not in known]
    form.fields[name] = forms.TypedMultipleChoiceField(
        label=label,
        coerce=int,
        choices=lists,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": min(6, max(2, len(lists)))}),
        help_text=help_text,
    )
    form.initial[name] = current


class CatalogFormMixin(Generic[_Mapping]):
    """Forms whose choices come from a connection's loaded catalog (set per request by the admin)."""

    catalog_connection: Connection | None = None
    instance: _Mapping

    def catalog(self) -> Connection | None:
        if self.catalog_connection is not None:
            return self.catalog_connection
        if self.instance.connection_id:
            return self.instance.connection
        return None


class EventTypeMappingForm(CatalogFormMixin[EventTypeMapping], ModelForm[EventTypeMapping]):
    """Event type: a select of the loaded Calendly event types; lists: a multi-select of Brevo lists.

    Without a loaded catalog both stay free text (a URI and a JSON list such as ``[10, 12]``).
    """

    class Meta:
        model = EventTypeMapping
        fields = [
            "connection",
            "key",
            "event_type_uri",
            "event_type_name",
            "list_ids",
            "enabled",
            "unlink_on_cancel",
            "missing_since",
        ]
        field_classes = {"list_ids": TextJSONField}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        conn = self.catalog()
        event_types = catalog.event_type_choices(conn)
        if event_types and "event_type_uri" in self.fields:
            current = self.instance.event_type_uri
            if current and current not in dict(event_types):
                event_types.append((current, f"{self.instance.event_type_name or current} (not in the loaded catalog)"))
            self.fields["event_type_uri"] = forms.ChoiceField(
                label="Event type",
                choices=[("", "— choose a Calendly event type —"), *event_types],
                help_text="Loaded from Calendly. 'Reload event types and Brevo lists' on the connection refreshes it.",
            )
        pick_brevo_lists(
            self,
            "list_ids",
            conn,
            self.instance.list_ids,
            label="Brevo lists",
            help_text="Bookings of this event type join these lists (Ctrl/Cmd-click for several).",
        )

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        uri = cleaned.get("event_type_uri")
        if (
            uri
            and "event_type_name" in self.fields
            and (
                not cleaned.get("event_type_name")
                or ("event_type_uri" in self.changed_data and "event_type_name" not in self.changed_data)
            )
        ):
            name = catalog.event_type_name(self.catalog(), uri)
            if name:
                cleaned["event_type_name"] = name[:200]
        return cleaned


class FieldMappingForm(CatalogFormMixin[FieldMapping], ModelForm[FieldMapping]):
    """Source: the known invitee/event fields plus ``question:<name>`` for each loaded custom
    question; attribute: the loaded Brevo attributes. Free text (with suggestions) without a catalog."""

    class Meta:
        model = FieldMapping
        fields = ["connection", "source", "attribute", "attribute_type", "enabled", "position"]

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
                    help_text="Invitee/event field, or the answer to a custom question of the loaded event types.",
                )
            else:
                self.fields["source"].widget = DatalistTextInput(
                    sorted(KNOWN_SOURCES) + [f"{QUESTION_PREFIX}{q}" for q in catalog.question_names(conn)],
                    list_id="calendly-sources",
                )
        attributes = catalog.attribute_choices(conn)
        if attributes and "attribute" in self.fields:
            current = self.instance.attribute
            if current and current not in dict(attributes):
                attributes.append((current, f"{current} (not in the loaded Brevo attributes)"))
            self.fields["attribute"] = forms.ChoiceField(
                choices=[("", "— choose a Brevo attribute —"), *attributes],
                help_text="Loaded from Brevo (create missing ones with manage.py brevo_setup).",
            )

    def clean_source(self) -> str:
        value = str(self.cleaned_data.get("source") or "").strip()
        if value.casefold().startswith(QUESTION_PREFIX):
            if not value[len(QUESTION_PREFIX) :].strip():
                raise ValidationError("Name the question after 'question:'.")
            return value
        if value.casefold() in KNOWN_SOURCES:
            return value.casefold()
        if value not in KNOWN_SOURCES:
            raise ValidationError(
                f"Unknown source {value!r}: use one of {', '.join(sorted(KNOWN_SOURCES))} or question:<question text>."
            )
        return value

    def clean_attribute(self) -> str:
        return str(self.cleaned_data.get("attribute") or "").strip().upper()


class CatalogInlineMixin(Generic[_Mapping]):
    """Give the inline's forms the parent connection (its catalog fills the choices)."""

    form: type[forms.ModelForm[_Mapping]]

    def get_formset(self, request: HttpRequest, obj: Connection | None = None, **kwargs: Any) -> Any:
        kwargs["form"] = type(self.form.__name__, (self.form,), {"catalog_connection": obj})
        return super().get_formset(request, obj, **kwargs)  # type: ignore[misc]  # a mixin: the inline admin is next


class EventTypeMappingInline(CatalogInlineMixin[EventTypeMapping], TabularInline[EventTypeMapping, Connection]):
    model = EventTypeMapping
    form = EventTypeMappingForm
    extra = 0
    fields = ("key", "event_type_uri", "event_type_name", "list_ids", "enabled", "unlink_on_cancel", "missing_since")
    readonly_fields = ("missing_since",)


class FieldMappingInline(CatalogInlineMixin[FieldMapping], TabularInline[FieldMapping, Connection]):
    model = FieldMapping
    form = FieldMappingForm
    extra = 0
    fields = ("source", "attribute", "attribute_type", "enabled", "position")


class CatalogModelAdmin(ModelAdmin[_Mapping], Generic[_Mapping]):
    """Stand-alone mapping admins: the catalog is the mapping's connection's (on add: the one
    named by ``?connection=<id>``, or the only one there is)."""

    def catalog_connection(self, request: HttpRequest, obj: _Mapping | None = None) -> Connection | None:
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
class EventTypeMappingAdmin(CatalogModelAdmin[EventTypeMapping]):
    form = EventTypeMappingForm
    list_display = (
        "__str__",
        "connection",
        "event_type_name",
        "event_type_uri",
        "lists",
        "enabled",
        "missing_since",
    )
    list_filter = ("connection", "enabled", ("missing_since", admin.EmptyFieldListFilter))
    search_fields = ("key", "event_type_name", "event_type_uri")
    list_select_related = ("connection",)

    @admin.display(description="Brevo lists")
    def lists(self, obj: EventTypeMapping) -> str:
        return brevo_lists(obj.connection, obj.list_ids)


@admin.register(FieldMapping)
class FieldMappingAdmin(CatalogModelAdmin[FieldMapping]):
    form = FieldMappingForm
    list_display = ("source", "attribute", "attribute_type", "connection", "enabled", "position")
    list_filter = ("connection", "attribute_type", "enabled")
    search_fields = ("source", "attribute")
