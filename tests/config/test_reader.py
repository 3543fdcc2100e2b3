"""The configuration file: the product page's YAML as written, strict errors, idempotent import, export."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection as db_connection

from calendly_sync.config import reader as config_module
from calendly_sync.config.reader import (
    ConfigError,
    ConfigErrors,
    apply_config,
    export_config,
    load_config,
)
from calendly_sync.models import Connection, EventTypeMapping, FieldMapping

# The product page's configuration, verbatim from MISSION.md.
PAGE_YAML = """\
connectors:
  calendly:
    enabled: true
    access_token: "${CALENDLY_ACCESS_TOKEN}"
    sync: {contacts: true, events: true, cancellations: true}
    event_mapping:
      discovery_call: {list_id: 10, event_type_uri: "https://api.calendly.com/event_types/abc123"}
      demo:           {list_id: 11, event_type_uri: "https://api.calendly.com/event_types/xyz789"}
    webhook:
      signing_key: "${CALENDLY_WEBHOOK_SIGNING_KEY}"
    field_mapping:
      email: email
      name: FIRSTNAME
      questions_and_answers: {company: COMPANY, role: JOB_TITLE, phone: SMS}
      event_type_name: CALENDLY_EVENT_TYPE
      scheduled_at: MEETING_DATE
      status: BOOKING_STATUS
    debug: false
    log_level: info
    log_webhooks: false
"""

TOKEN = "pat-secret-eyJhbGciOiJIUzI1NiJ9.token-value-0123456789"
SIGNING_KEY = "whsec-signing-key-abcdef0123456789"
BREVO_KEY = "xkeysib-brevo-key-9876543210fedcba"
ENV = {"CALENDLY_ACCESS_TOKEN": TOKEN, "CALENDLY_WEBHOOK_SIGNING_KEY": SIGNING_KEY}


@pytest.fixture
def page_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return ENV


def write(tmp_path: Path, text: str, name: str = "connector.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run_import(path: str, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_connector_config", path, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def error_lines(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigErrors) as info:
        load_config(text, ENV if environ is None else environ)
    return [str(e) for e in info.value.errors]


def snapshot() -> dict[str, list[tuple]]:
    return {
        "connections": list(Connection.objects.order_by("pk").values_list("pk", "updated_at")),
        "event_mappings": list(EventTypeMapping.objects.order_by("pk").values_list("pk", "updated_at", "list_ids", "key")),
        "field_mappings": list(FieldMapping.objects.order_by("pk").values_list(
            "pk", "source", "attribute", "attribute_type", "position", "enabled")),
    }


# --- the page's file, as written ---------------------------------------------------------------

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


# --- errors ------------------------------------------------------------------------------------

def test_missing_variable_names_key_and_variable_and_changes_nothing(db, tmp_path, monkeypatch):
    monkeypatch.delenv("CALENDLY_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("CALENDLY_WEBHOOK_SIGNING_KEY", SIGNING_KEY)
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 error; nothing was changed"):
        call_command("import_connector_config", write(tmp_path, PAGE_YAML), stdout=io.StringIO(), stderr=err)
    assert err.getvalue().strip() == (
        "connectors.calendly.access_token: environment variable CALENDLY_ACCESS_TOKEN is not set")
    assert Connection.objects.count() == 0
    assert EventTypeMapping.objects.count() == 0 and FieldMapping.objects.count() == 0


def test_missing_variable_exits_non_zero(db, tmp_path, monkeypatch):
    """A CommandError is what manage.py turns into a non-zero exit status."""
    from django.core.management import call_command
    from django.core.management.base import CommandError

    monkeypatch.delenv("CALENDLY_ACCESS_TOKEN", raising=False)
    monkeypatch.delenv("CALENDLY_WEBHOOK_SIGNING_KEY", raising=False)
    with pytest.raises(CommandError) as info:
        call_command("import_connector_config", write(tmp_path, PAGE_YAML))
    assert info.value.returncode == 1
    assert Connection.objects.count() == 0


def test_variable_default_and_literal_dollar():
    text = PAGE_YAML.replace('"${CALENDLY_ACCESS_TOKEN}"', '"${UNSET_TOKEN:-fallback}-$${x}"')
    [cfg] = load_config(text, {"CALENDLY_WEBHOOK_SIGNING_KEY": "k"})
    assert cfg.access_token == "fallback-${x}"
    assert "fallback" not in repr(cfg)  # secrets stay out of logs
    [cfg] = load_config(text, {"CALENDLY_WEBHOOK_SIGNING_KEY": "k", "UNSET_TOKEN": "set"})
    assert cfg.access_token == "set-${x}"
    broken = PAGE_YAML.replace('"${CALENDLY_ACCESS_TOKEN}"', '"${CALENDLY_ACCESS_TOKEN"')
    assert error_lines(broken) == [
        "connectors.calendly.access_token: unterminated ${ (expected ${NAME}; a default cannot contain braces)"]


def test_list_id_must_be_an_integer():
    text = PAGE_YAML.replace("demo:           {list_id: 11,", 'demo:           {list_id: "ten",')
    assert error_lines(text) == ["connectors.calendly.event_mapping.demo.list_id: expected an integer"]
    assert str(ConfigError("a.b", "boom")) == "a.b: boom"


def test_list_ids_must_be_positive_and_not_booleans():
    text = PAGE_YAML.replace("{list_id: 11,", "{list_ids: [0, true, 12],")
    assert error_lines(text) == [
        "connectors.calendly.event_mapping.demo.list_ids[0]: expected a positive integer",
        "connectors.calendly.event_mapping.demo.list_ids[1]: expected an integer",
    ]


def test_unknown_keys_are_errors():
    text = PAGE_YAML.replace("    debug: false\n", "    debug: false\n    foo: 1\n    log_webhook: true\n")
    assert error_lines(text) == [
        "connectors.calendly.foo: unknown key",
        "connectors.calendly.log_webhook: unknown key (did you mean log_webhooks?)",
    ]
    nested = PAGE_YAML.replace("{contacts: true,", "{contacts: true, invitees: true,")
    assert error_lines(nested) == ["connectors.calendly.sync.invitees: unknown key"]
    source = PAGE_YAML.replace("status: BOOKING_STATUS", "statuss: BOOKING_STATUS")
    assert error_lines(source)[0].startswith(
        "connectors.calendly.field_mapping.statuss: unknown source field (did you mean status?)")
    top = PAGE_YAML + "extra: 1\n"
    assert error_lines(top) == ["extra: unknown key"]
    other = PAGE_YAML + "  hubspot: {}\n"
    assert error_lines(other)[0].startswith("connectors.hubspot: unknown key")


@pytest.mark.parametrize("value", ['"true"', "1", '"yes"', "null"])
def test_booleans_must_be_real_yaml_booleans(value):
    text = PAGE_YAML.replace("    enabled: true\n", f"    enabled: {value}\n")
    assert error_lines(text) == ["connectors.calendly.enabled: expected a boolean (true or false)"]


def test_all_errors_are_reported_together(db, tmp_path, monkeypatch):
    monkeypatch.delenv("CALENDLY_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("CALENDLY_WEBHOOK_SIGNING_KEY", SIGNING_KEY)
    text = (PAGE_YAML
            .replace("{list_id: 11,", '{list_id: "ten",')
            .replace("log_webhooks: false", 'log_webhooks: "no"')
            .replace("log_level: info", "log_level: loud")
            .replace("name: FIRSTNAME", "name: first_name")
            .replace("event_types/abc123", "scheduled_events/abc123")
            .replace("    debug: false\n", "    debug: false\n    foo: bar\n"))
    err = io.StringIO()
    with pytest.raises(CommandError, match="7 errors"):
        call_command("import_connector_config", write(tmp_path, text), stdout=io.StringIO(), stderr=err)
    assert err.getvalue().splitlines() == [  # one per line, in file order
        "connectors.calendly.access_token: environment variable CALENDLY_ACCESS_TOKEN is not set",
        "connectors.calendly.event_mapping.discovery_call.event_type_uri: expected a Calendly event type URI "
        "like https://api.calendly.com/event_types/<uuid>",
        "connectors.calendly.event_mapping.demo.list_id: expected an integer",
        "connectors.calendly.field_mapping.name: expected a Brevo attribute name in upper case (A-Z, 0-9, _), "
        "e.g. FIRSTNAME",
        "connectors.calendly.foo: unknown key",
        "connectors.calendly.log_level: expected one of info, verbose, debug, warning",
        "connectors.calendly.log_webhooks: expected a boolean (true or false)",
    ]
    assert Connection.objects.count() == 0


def test_structural_errors():
    assert error_lines("") == ["connectors: required (the file is empty)"]
    assert error_lines("connectors: [1]\n") == ["connectors: expected a mapping, got a list"]
    assert error_lines("connectors:\n  calendly: {access_token: 12}\n") == [
        "connectors.calendly.access_token: expected a string (quote it), got an integer"]
    syntax = error_lines("connectors:\n  calendly: {enabled: true\n")
    assert len(syntax) == 1 and syntax[0].startswith("invalid YAML at line")
    duplicate = PAGE_YAML.replace("      demo:  ", "      discovery_call:  ").replace("xyz789", "other")
    assert error_lines(duplicate) == [
        "connectors.calendly.event_mapping.discovery_call: duplicate key (line 8; first at line 7)"]
    same_uri = PAGE_YAML.replace("xyz789", "abc123")
    assert error_lines(same_uri) == [
        "connectors.calendly.event_mapping.demo.event_type_uri: the same event type is already mapped by "
        "connectors.calendly.event_mapping.discovery_call"]
    no_list = PAGE_YAML.replace("{list_id: 11, ", "{")
    assert error_lines(no_list) == ["connectors.calendly.event_mapping.demo: list_id or list_ids is required"]
    oauth = PAGE_YAML.replace("    enabled: true\n", "    enabled: true\n    auth: oauth\n")
    assert error_lines(oauth)[0].startswith("connectors.calendly.access_token: not used with auth: oauth")
    bad_type = PAGE_YAML.replace("status: BOOKING_STATUS", "status: {attribute: BOOKING_STATUS, type: datetime}")
    assert error_lines(bad_type) == [
        "connectors.calendly.field_mapping.status.type: expected one of text, date, float, boolean, phone"]


def test_simulator_event_type_uris_are_accepted():
    text = PAGE_YAML.replace("https://api.calendly.com/event_types/abc123", "http://127.0.0.1:8765/event_types/abc123")
    [cfg] = load_config(text, ENV)
    assert cfg.event_mappings[0].event_type_uri == "http://127.0.0.1:8765/event_types/abc123"


def test_warns_about_secrets_written_in_the_file(db, tmp_path, page_env):
    text = PAGE_YAML.replace('"${CALENDLY_ACCESS_TOKEN}"', '"literal-token-value"')
    _, err = run_import(write(tmp_path, text))
    assert "warning: connectors.calendly.access_token: the secret is written in the file" in err
    assert "literal-token-value" not in err


# --- extensions --------------------------------------------------------------------------------

EXTENDED_YAML = """\
connectors:
  calendly:
    name: sales
    auth: pat
    access_token: "${SALES_TOKEN}"
    event_mapping:
      demo:
        list_id: 11
        list_ids: [12, 11, 13]
        event_type_uri: "https://api.calendly.com/event_types/xyz789"
        name: Product demo
        unlink_on_cancel: true
    default_list_id: 5
    default_list_ids: [6, 5]
    brevo: {api_key: "${BREVO_KEY}"}
    field_mapping:
      first_name: FIRSTNAME
      last_name: {attribute: LASTNAME}
      start_time: {attribute: MEETING_START, type: date}
      tracking.utm_source: [UTM_SOURCE, {attribute: LEAD_SOURCE, enabled: false}]
      questions_and_answers:
        company: COMPANY
        "How many seats?": {attribute: SEATS, type: float}
    log_level: verbose
    debug: true
    log_webhooks: true
  calendly_support:
    access_token: "${SUPPORT_TOKEN:-support-default-token}"
    sync: {events: false}
    event_mapping:
      onboarding: {list_ids: [20], event_type_uri: "https://api.calendly.com/event_types/onb"}
"""
EXTENDED_ENV = {"SALES_TOKEN": "sales-token-123456789", "BREVO_KEY": BREVO_KEY}


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
        "demo", [11, 12, 13], "Product demo", True)
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


def test_connections_as_a_list_and_duplicate_names():
    text = """\
connectors:
  calendly:
    - {name: one, access_token: "${A}"}
    - {name: two}
"""
    assert [c.name for c in load_config(text, {"A": "x"})] == ["one", "two"]
    clash = "connectors:\n  calendly:\n    - {enabled: true}\n    - {enabled: false}\n"
    assert error_lines(clash, {}) == [
        "connectors.calendly[1].name: duplicate connection name 'default' (also used by connectors.calendly[0])"]


def test_integers_and_booleans_from_environment_variables():
    text = PAGE_YAML.replace("list_id: 11", 'list_id: "${DEMO_LIST}"').replace("debug: false", 'debug: "${DEBUG}"')
    [cfg] = load_config(text, {**ENV, "DEMO_LIST": "42", "DEBUG": "true"})
    assert cfg.event_mappings[1].list_ids == [42] and cfg.debug is True
    assert error_lines(text, {**ENV, "DEMO_LIST": "forty", "DEBUG": "maybe"}) == [
        "connectors.calendly.event_mapping.demo.list_id: expected an integer",
        "connectors.calendly.debug: expected a boolean (true or false)",
    ]
    assert error_lines(text, {**ENV, "DEMO_LIST": "0", "DEBUG": "yes"}) == [
        "connectors.calendly.event_mapping.demo.list_id: expected a positive integer",
        "connectors.calendly.debug: expected a boolean (true or false)",
    ]


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
    conn = Connection.objects.create(name="default", auth_kind="oauth", access_token="oauth-access",
                                     refresh_token="oauth-refresh")
    apply_config(load_config(PAGE_YAML, ENV))
    conn.refresh_from_db()
    assert conn.auth_kind == "pat" and conn.access_token == TOKEN and conn.refresh_token == ""


# --- prune, dry run, transaction ---------------------------------------------------------------

def test_prune_removes_mappings_dropped_from_the_file(db, tmp_path, page_env):
    run_import(write(tmp_path, PAGE_YAML))
    smaller = (PAGE_YAML
               .replace('      demo:           {list_id: 11, event_type_uri: "https://api.calendly.com/event_types/xyz789"}\n', "")
               .replace("      status: BOOKING_STATUS\n", ""))
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
    EventTypeMapping.objects.create(connection=other, event_type_uri="https://api.calendly.com/event_types/o",
                                    list_ids=[1])
    apply_config(load_config(PAGE_YAML, ENV))
    assert other.event_type_mappings.count() == 1


def test_dry_run_saves_nothing(db, tmp_path, page_env):
    out, _ = run_import(write(tmp_path, PAGE_YAML), "--dry-run")
    assert out.startswith("Dry run, nothing saved: 10 created")
    assert Connection.objects.count() == 0


def test_a_failure_half_way_rolls_everything_back(db, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(config_module, "_apply_field_mappings", boom)
    with pytest.raises(RuntimeError):
        apply_config(load_config(PAGE_YAML, ENV))
    assert Connection.objects.count() == 0 and EventTypeMapping.objects.count() == 0


# --- export ------------------------------------------------------------------------------------

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
        "list_id": 11, "event_type_uri": "https://api.calendly.com/event_types/xyz789"}
    assert block["field_mapping"]["questions_and_answers"] == {"company": "COMPANY", "role": "JOB_TITLE", "phone": "SMS"}
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

    env = {**ENV, "CALENDLY_ACCESS_TOKEN_SALES": "sales-token-123456789", "BREVO_API_KEY_SALES": BREVO_KEY,
           "CALENDLY_ACCESS_TOKEN_SUPPORT": "support-default-token"}
    report = apply_config(load_config(text, env))
    assert (report.created, report.updated, report.deleted) == (0, 0, 0), report.changes
    assert snapshot() == before

    only_sales = export_config(["sales"], secret_env={"access_token": "TOKEN"})
    assert yaml.safe_load(only_sales)["connectors"]["calendly"]["name"] == "sales"
    assert "${TOKEN_SALES}" in only_sales


def test_export_of_admin_made_rows_round_trips(db):
    """Rows typed in the admin (no key, unsorted lists, positions all 0) re-import unchanged."""
    conn = Connection.objects.create(name="default", default_list_ids=[9, 3])
    EventTypeMapping.objects.create(connection=conn, key="demo", list_ids=[12, 10],
                                    event_type_uri="https://api.calendly.com/event_types/d", enabled=False)
    FieldMapping.objects.create(connection=conn, source="status", attribute="BOOKING_STATUS")
    FieldMapping.objects.create(connection=conn, source="question:company", attribute="COMPANY")
    FieldMapping.objects.create(connection=conn, source="name", attribute="FIRSTNAME")
    FieldMapping.objects.create(connection=conn, source="question:role", attribute="JOB_TITLE",
                                attribute_type="text", enabled=False)
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


def test_default_attribute_types_follow_the_sync_rules():
    text = PAGE_YAML.replace(
        "      status: BOOKING_STATUS\n",
        "      status: BOOKING_STATUS\n      created_at: SIGNUP_DATE\n      text_reminder_number: WHATSAPP\n"
        "      start_time: {attribute: MEETING_START, type: number}\n")
    [cfg] = load_config(text, ENV)
    types = {f.attribute: f.attribute_type for f in cfg.field_mappings}
    assert types["SIGNUP_DATE"] == "date" and types["WHATSAPP"] == "phone" and types["MEETING_START"] == "float"
    assert types["MEETING_DATE"] == "date" and types["SMS"] == "phone" and types["COMPANY"] == "text"
