"""The mapping admins' own parts: the free-text input with suggestions, and which connection's catalog
a stand-alone mapping page uses. (The catalog-fed forms are exercised end to end in
tests/connect/test_views.py.)"""

from __future__ import annotations

import pytest
from django.contrib import admin

from calendly_sync.admin.mappings import DatalistTextInput, FieldMappingAdmin
from calendly_sync.models import Connection, FieldMapping


def test_the_datalist_input_suggests_without_restricting():
    html = DatalistTextInput(["email", "question:Role"], list_id="calendly-sources").render("source", "custom")
    assert 'list="calendly-sources"' in html and 'value="custom"' in html
    assert html.endswith(
        '<datalist id="calendly-sources"><option value="email"><option value="question:Role"></datalist>'
    )


@pytest.mark.django_db
def test_a_stand_alone_mapping_page_uses_the_named_or_the_only_connection(rf):
    model_admin = FieldMappingAdmin(FieldMapping, admin.site)
    assert model_admin.catalog_connection(rf.get("/")) is None
    first = Connection.objects.create(name="first")
    assert model_admin.catalog_connection(rf.get("/")) == first
    second = Connection.objects.create(name="second")
    assert model_admin.catalog_connection(rf.get("/")) is None
    assert model_admin.catalog_connection(rf.get("/", {"connection": str(second.pk)})) == second
    mapping = FieldMapping.objects.create(connection=first, source="email", attribute="EMAIL")
    assert model_admin.catalog_connection(rf.get("/", {"connection": str(second.pk)}), mapping) == first


@pytest.mark.django_db
def test_brevo_lists_are_picked_by_name_and_a_stored_unknown_id_stays_a_marked_choice():
    from calendly_sync.admin.connection import ConnectionForm
    from calendly_sync.admin.mappings import EventTypeMappingForm
    from calendly_sync.models import EventTypeMapping

    conn = Connection.objects.create(
        name="main", brevo_lists=[{"id": 10, "name": "Discovery calls"}], default_list_ids=[99]
    )
    mapping = EventTypeMapping(connection=conn, key="demo", event_type_uri="https://x/et/1", list_ids=[10, 99])
    for form, name in (
        (EventTypeMappingForm(instance=mapping), "list_ids"),
        (ConnectionForm(instance=conn), "default_list_ids"),
    ):
        field = form.fields[name]
        assert field.choices == [(10, "Discovery calls (#10)"), (99, "#99 (not in the loaded Brevo lists)")]
        assert form.initial[name] == ([10, 99] if name == "list_ids" else [99])
    # No lists loaded (or a connection not saved yet): the field stays as the model makes it (free text).
    bare = Connection(name="new")
    assert "TypedMultipleChoiceField" not in type(ConnectionForm(instance=bare).fields["default_list_ids"]).__name__
