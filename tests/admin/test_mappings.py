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
