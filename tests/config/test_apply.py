"""Applying a configuration: the page's file imported as written, idempotent, pruning, one transaction."""

from __future__ import annotations

import pytest
from django.db import connection as db_connection

from calendly_sync.config import apply as apply_module
from calendly_sync.config.apply import apply_config
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


def test_page_yaml_imports_as_written(db, tmp_path, page_env):
    out, err = run_import(write(tmp_path, PAGE_YAML))

    assert "10 created, 0 updated, 0 deleted, 0 unchanged" in out
    assert err == ""
    conn = Connection.objects.get()
    assert conn.name == "default"
    assert conn.enabled and conn.auth_kind == "pat"
    assert conn.access_token == TOKEN and conn.webhook_signing_key == SIGNING_KEY
    assert (conn.sync_contacts, conn.sync_events, conn.sync_cancellations) == (True, True, True)
    assert (conn.debug, conn.log_level, conn.log_webhooks) == (False, "info", False)

    mappings = {m.key: m for m in conn.event_type_mappings.all()}
    assert set(mappings) == {"discovery_call", "demo"}
    assert mappings["discovery_call"].list_ids == [10]
    assert mappings["discovery_call"].event_type_uri == "https://api.calendly.com/event_types/abc123"
    assert mappings["demo"].list_ids == [11]
    assert mappings["demo"].event_type_uri == "https://api.calendly.com/event_types/xyz789"

    rows = [(f.source, f.attribute, f.attribute_type) for f in conn.field_mappings.order_by("position")]
    assert rows == [
        ("name", "FIRSTNAME", "text"),
        ("question:company", "COMPANY", "text"),
        ("question:role", "JOB_TITLE", "text"),
        ("question:phone", "SMS", "phone"),
        ("event_type_name", "CALENDLY_EVENT_TYPE", "text"),
        ("scheduled_at", "MEETING_DATE", "date"),
        ("status", "BOOKING_STATUS", "text"),
    ]


def test_secrets_are_encrypted_at_rest(db, page_env):
    apply_config(load_config(PAGE_YAML, ENV))
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT access_token, webhook_signing_key FROM calendly_sync_connection")
        raw_token, raw_key = cursor.fetchone()
    assert TOKEN not in raw_token and raw_token.startswith("enc1:")
    assert SIGNING_KEY not in raw_key and raw_key.startswith("enc1:")
    assert Connection.objects.get().access_token == TOKEN


def test_importing_twice_changes_nothing(db, tmp_path, page_env):
    path = write(tmp_path, PAGE_YAML)
    run_import(path)
    before = snapshot()
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM calendly_sync_connection")
        raw_before = cursor.fetchall()

    out, _ = run_import(path)

    assert "0 created, 0 updated, 0 deleted, 10 unchanged" in out
    assert snapshot() == before
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM calendly_sync_connection")
        assert cursor.fetchall() == raw_before  # not even re-encrypted

    report = apply_config(load_config(PAGE_YAML, ENV))
    assert (report.created, report.updated, report.deleted, report.unchanged) == (0, 0, 0, 10)
    assert report.changes == [] and not report.changed


def test_extensions(db):
    configs = load_config(EXTENDED_YAML, EXTENDED_ENV)
    report = apply_config(configs)
    assert report.connections.created == 2

    sales = Connection.objects.get(name="sales")
    assert sales.access_token == "sales-token-123456789"
    assert sales.brevo_api_key == BREVO_KEY
    assert sales.default_list_ids == [5, 6]
    assert (sales.log_level, sales.debug, sales.log_webhooks) == ("verbose", True, True)
    demo = sales.event_type_mappings.get()
    assert (demo.key, demo.list_ids, demo.event_type_name, demo.unlink_on_cancel) == (
        "demo",
        [11, 12, 13],
        "Product demo",
        True,
    )
    rows = [(f.source, f.attribute, f.attribute_type, f.enabled) for f in sales.field_mappings.order_by("position")]
    assert rows == [
        ("first_name", "FIRSTNAME", "text", True),
        ("last_name", "LASTNAME", "text", True),
        ("start_time", "MEETING_START", "date", True),
        ("tracking.utm_source", "UTM_SOURCE", "text", True),
        ("tracking.utm_source", "LEAD_SOURCE", "text", False),
        ("question:company", "COMPANY", "text", True),
        ("question:How many seats?", "SEATS", "float", True),
    ]

    support = Connection.objects.get(name="support")
    assert support.access_token == "support-default-token"
    assert support.sync_events is False and support.sync_contacts is True  # absent keys: model defaults
    assert support.event_type_mappings.get().list_ids == [20]
    assert support.field_mappings.count() == 0


def test_absent_settings_keep_stored_values(db):
    apply_config(load_config(PAGE_YAML, ENV))
    Connection.objects.update(debug=True, brevo_api_key="kept-in-admin")
    minimal = "connectors:\n  calendly:\n    log_level: warning\n"
    report = apply_config(load_config(minimal, {}))
    conn = Connection.objects.get()
    assert report.connections.updated == 1 and report.event_mappings.deleted == 0
    assert conn.debug is True and conn.log_level == "warning"
    assert conn.access_token == TOKEN and conn.brevo_api_key == "kept-in-admin"
    assert conn.event_type_mappings.count() == 2 and conn.field_mappings.count() == 7


def test_changing_the_signing_key_keeps_the_old_one_for_the_grace_period(db):
    apply_config(load_config(PAGE_YAML, ENV))
    report = apply_config(load_config(PAGE_YAML, {**ENV, "CALENDLY_WEBHOOK_SIGNING_KEY": "new-key"}))
    conn = Connection.objects.get()
    assert conn.webhook_signing_key == "new-key" and conn.previous_signing_key == SIGNING_KEY
    assert conn.signing_keys() == ["new-key", SIGNING_KEY]
    assert report.changes == ["connection default: updated webhook_signing_key (secret)"]
    assert "new-key" not in report.summary()


def test_switching_to_a_token_drops_oauth_leftovers(db):
    conn = Connection.objects.create(
        name="default", auth_kind="oauth", access_token="oauth-access", refresh_token="oauth-refresh"
    )
    apply_config(load_config(PAGE_YAML, ENV))
    conn.refresh_from_db()
    assert conn.auth_kind == "pat" and conn.access_token == TOKEN and conn.refresh_token == ""


# --- prune, dry run, transaction ---------------------------------------------------------------


def test_prune_removes_mappings_dropped_from_the_file(db, tmp_path, page_env):
    run_import(write(tmp_path, PAGE_YAML))
    smaller = PAGE_YAML.replace(
        '      demo:           {list_id: 11, event_type_uri: "https://api.calendly.com/event_types/xyz789"}\n', ""
    ).replace("      status: BOOKING_STATUS\n", "")
    path = write(tmp_path, smaller, "smaller.yaml")

    out, _ = run_import(path, "--no-prune")
    assert "0 deleted" in out and EventTypeMapping.objects.count() == 2

    out, _ = run_import(path)
    assert "2 deleted" in out
    assert list(EventTypeMapping.objects.values_list("key", flat=True)) == ["discovery_call"]
    assert not FieldMapping.objects.filter(source="status").exists()
    assert FieldMapping.objects.count() == 6


def test_prune_never_touches_connections_the_file_does_not_name(db):
    other = Connection.objects.create(name="other")
    EventTypeMapping.objects.create(
        connection=other, event_type_uri="https://api.calendly.com/event_types/o", list_ids=[1]
    )
    apply_config(load_config(PAGE_YAML, ENV))
    assert other.event_type_mappings.count() == 1


def test_dry_run_saves_nothing(db, tmp_path, page_env):
    out, _ = run_import(write(tmp_path, PAGE_YAML), "--dry-run")
    assert out.startswith("Dry run, nothing saved: 10 created")
    assert Connection.objects.count() == 0


def test_a_failure_half_way_rolls_everything_back(db, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(apply_module, "_apply_field_mappings", boom)
    with pytest.raises(RuntimeError):
        apply_config(load_config(PAGE_YAML, ENV))
    assert Connection.objects.count() == 0 and EventTypeMapping.objects.count() == 0
