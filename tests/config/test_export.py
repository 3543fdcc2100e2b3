"""Exporting: secrets as ${VAR} placeholders, and an export re-imports as a no-op."""

from __future__ import annotations

import io

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from calendly_sync.config.apply import apply_config
from calendly_sync.config.export import export_config
from calendly_sync.config.reader import load_config
from calendly_sync.models import Connection, EventTypeMapping, FieldMapping
from tests.config.conftest import (
    BREVO_KEY,
    ENV,
    EXTENDED_ENV,
    EXTENDED_YAML,
    PAGE_YAML,
    SIGNING_KEY,
    TOKEN,
    run_import,
    snapshot,
    write,
)


def test_export_writes_placeholders_and_reimports_as_a_no_op(db, tmp_path, page_env):
    run_import(write(tmp_path, PAGE_YAML))
    Connection.objects.update(brevo_api_key=BREVO_KEY)
    before = snapshot()

    out_file = tmp_path / "export.yaml"
    call_command("export_connector_config", "-o", str(out_file), stdout=io.StringIO())
    text = out_file.read_text()

    for secret in (TOKEN, SIGNING_KEY, BREVO_KEY):
        assert secret not in text
    assert 'access_token: "${CALENDLY_ACCESS_TOKEN}"' in text
    assert 'signing_key: "${CALENDLY_WEBHOOK_SIGNING_KEY}"' in text
    assert 'api_key: "${BREVO_API_KEY}"' in text
    data = yaml.safe_load(text)
    block = data["connectors"]["calendly"]
    assert list(block["event_mapping"]) == ["discovery_call", "demo"]
    assert block["event_mapping"]["demo"] == {
        "list_id": 11,
        "event_type_uri": "https://api.calendly.com/event_types/xyz789",
    }
    assert block["field_mapping"]["questions_and_answers"] == {
        "company": "COMPANY",
        "role": "JOB_TITLE",
        "phone": "SMS",
    }
    assert block["field_mapping"]["email"] == "email"

    env = {**ENV, "BREVO_API_KEY": BREVO_KEY}
    report = apply_config(load_config(text, env))
    assert (report.created, report.updated, report.deleted) == (0, 0, 0)
    assert snapshot() == before

    # and through the command, with the printed export
    stdout = io.StringIO()
    call_command("export_connector_config", stdout=stdout)
    assert stdout.getvalue() == text


def test_export_of_several_connections_round_trips(db):
    apply_config(load_config(EXTENDED_YAML, EXTENDED_ENV))
    apply_config(load_config(PAGE_YAML, ENV))
    before = snapshot()

    text = export_config()
    data = yaml.safe_load(text)
    assert [b["name"] for b in data["connectors"]["calendly"]] == ["default", "sales", "support"]
    assert "${CALENDLY_ACCESS_TOKEN_SALES}" in text and "${BREVO_API_KEY_SALES}" in text
    assert "${CALENDLY_ACCESS_TOKEN_SUPPORT}" in text
    for secret in (TOKEN, SIGNING_KEY, BREVO_KEY, "sales-token-123456789", "support-default-token"):
        assert secret not in text

    env = {
        **ENV,
        "CALENDLY_ACCESS_TOKEN_SALES": "sales-token-123456789",
        "BREVO_API_KEY_SALES": BREVO_KEY,
        "CALENDLY_ACCESS_TOKEN_SUPPORT": "support-default-token",
    }
    report = apply_config(load_config(text, env))
    assert (report.created, report.updated, report.deleted) == (0, 0, 0), report.changes
    assert snapshot() == before

    only_sales = export_config(["sales"], secret_env={"access_token": "TOKEN"})
    assert yaml.safe_load(only_sales)["connectors"]["calendly"]["name"] == "sales"
    assert "${TOKEN_SALES}" in only_sales


def test_export_of_admin_made_rows_round_trips(db):
    """Rows typed in the admin (no key, unsorted lists, positions all 0) re-import unchanged."""
    conn = Connection.objects.create(name="default", default_list_ids=[9, 3])
    EventTypeMapping.objects.create(
        connection=conn,
        key="demo",
        list_ids=[12, 10],
        event_type_uri="https://api.calendly.com/event_types/d",
        enabled=False,
    )
    FieldMapping.objects.create(connection=conn, source="status", attribute="BOOKING_STATUS")
    FieldMapping.objects.create(connection=conn, source="question:company", attribute="COMPANY")
    FieldMapping.objects.create(connection=conn, source="name", attribute="FIRSTNAME")
    FieldMapping.objects.create(
        connection=conn, source="question:role", attribute="JOB_TITLE", attribute_type="text", enabled=False
    )
    before = snapshot()

    text = export_config()
    assert "access_token" not in text  # nothing stored: nothing to export
    report = apply_config(load_config(text, {}))
    assert (report.created, report.updated, report.deleted) == (0, 0, 0), report.changes
    assert snapshot() == before


def test_export_command_errors(db):
    with pytest.raises(CommandError, match="no connection to export"):
        call_command("export_connector_config", stdout=io.StringIO())
    Connection.objects.create(name="default")
    with pytest.raises(CommandError, match="no connection named nope"):
        call_command("export_connector_config", "--connection", "nope", stdout=io.StringIO())
