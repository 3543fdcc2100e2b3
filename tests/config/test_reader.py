"""Reading the configuration file: YAML as written, ${VAR} substitution, every error with its key path."""

from __future__ import annotations

import io
import os

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from calendly_sync.config.reader import load_config
from calendly_sync.models import Connection, EventTypeMapping, FieldMapping
from tests.config.conftest import ENV, PAGE_YAML, SIGNING_KEY, error_lines, run_import, write


def test_missing_variable_names_key_and_variable_and_changes_nothing(db, tmp_path, monkeypatch):
    monkeypatch.delenv("CALENDLY_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("CALENDLY_WEBHOOK_SIGNING_KEY", SIGNING_KEY)
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 error; nothing was changed"):
        call_command("import_connector_config", write(tmp_path, PAGE_YAML), stdout=io.StringIO(), stderr=err)
    assert err.getvalue().strip() == (
        "connectors.calendly.access_token: environment variable CALENDLY_ACCESS_TOKEN is not set"
    )
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
        "connectors.calendly.access_token: unterminated ${ (expected ${NAME}; a default cannot contain braces)"
    ]


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


def test_all_errors_are_reported_together(db, tmp_path, monkeypatch):
    monkeypatch.delenv("CALENDLY_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("CALENDLY_WEBHOOK_SIGNING_KEY", SIGNING_KEY)
    text = (
        PAGE_YAML.replace("{list_id: 11,", '{list_id: "ten",')
        .replace("log_webhooks: false", 'log_webhooks: "no"')
        .replace("log_level: info", "log_level: loud")
        .replace("name: FIRSTNAME", "name: first_name")
        .replace("event_types/abc123", "scheduled_events/abc123")
        .replace("    debug: false\n", "    debug: false\n    foo: bar\n")
    )
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
        "connectors.calendly.access_token: expected a string (quote it), got an integer"
    ]
    syntax = error_lines("connectors:\n  calendly: {enabled: true\n")
    assert len(syntax) == 1 and syntax[0].startswith("invalid YAML at line")
    duplicate = PAGE_YAML.replace("      demo:  ", "      discovery_call:  ").replace("xyz789", "other")
    assert error_lines(duplicate) == [
        "connectors.calendly.event_mapping.discovery_call: duplicate key (line 8; first at line 7)"
    ]
    same_uri = PAGE_YAML.replace("xyz789", "abc123")
    assert error_lines(same_uri) == [
        "connectors.calendly.event_mapping.demo.event_type_uri: the same event type is already mapped by "
        "connectors.calendly.event_mapping.discovery_call"
    ]
    no_list = PAGE_YAML.replace("{list_id: 11, ", "{")
    assert error_lines(no_list) == ["connectors.calendly.event_mapping.demo: list_id or list_ids is required"]
    oauth = PAGE_YAML.replace("    enabled: true\n", "    enabled: true\n    auth: oauth\n")
    assert error_lines(oauth)[0].startswith("connectors.calendly.access_token: not used with auth: oauth")
    bad_type = PAGE_YAML.replace("status: BOOKING_STATUS", "status: {attribute: BOOKING_STATUS, type: datetime}")
    assert error_lines(bad_type) == [
        "connectors.calendly.field_mapping.status.type: expected one of text, date, float, boolean, phone"
    ]


def test_warns_about_secrets_written_in_the_file(db, tmp_path, page_env):
    text = PAGE_YAML.replace('"${CALENDLY_ACCESS_TOKEN}"', '"literal-token-value"')
    _, err = run_import(write(tmp_path, text))
    assert "warning: connectors.calendly.access_token: the secret is written in the file" in err
    assert "literal-token-value" not in err


def test_config_block_from_the_page_gives_the_same_rules() -> None:
    """The reader is the one parser of ``field_mapping``: the page's block gives the page's rules."""
    from calendly_sync.sync.mapping import FieldRule, map_fields
    from tests.sync.test_mapping import PAGE_RULES, make_booking

    [cfg] = load_config(PAGE_YAML, ENV)
    assert cfg.warnings == []
    rules = [FieldRule(r.source, r.attribute, r.attribute_type) for r in cfg.field_mappings or []]
    # "email: email" names the contact's identifier, not an attribute: the reader keeps no row for it.
    assert {(r.source, r.attribute) for r in rules} == {
        (r.source, r.attribute) for r in PAGE_RULES if r.source != "email"
    }
    assert map_fields(make_booking(), rules, booking_status="booked").attributes["MEETING_DATE"] == "2026-08-25"


@pytest.mark.parametrize("value", ["²", "٤٢", "4" * 5000])
def test_list_ids_from_the_environment_must_be_ascii_digits(value):
    """ "²".isdigit() is true but int() refuses it: a config error, never a traceback."""
    text = PAGE_YAML.replace("list_id: 11", 'list_id: "${DEMO_LIST}"')
    assert error_lines(text, {**ENV, "DEMO_LIST": value}) == [
        "connectors.calendly.event_mapping.demo.list_id: expected an integer"
    ]


@pytest.mark.parametrize("escape", ["\\0", "\\uD800", "\\uDFFF"], ids=["nul", "high-surrogate", "low-surrogate"])
@pytest.mark.parametrize(
    "old,new,expected",
    [
        (
            "company: COMPANY",
            '"comp{}any": COMPANY',
            "connectors.calendly.field_mapping.questions_and_answers: the key",
        ),
        (
            'event_type_uri: "https://api.calendly.com/event_types/xyz789"',
            'event_type_uri: "https://api.calendly.com/event_types/x{}"',
            "connectors.calendly.event_mapping.demo.event_type_uri: contains",
        ),
    ],
    ids=["question-key", "uri-value"],
)
def test_text_no_database_can_store_is_an_error_naming_its_place(old, new, expected, escape, db):
    """YAML's "\\0" and "\\uD800" escapes: an error per place (the import failed at the save: a traceback)."""
    text = PAGE_YAML.replace(old, new.format(escape), 1)
    lines = error_lines(text)
    assert any(line.startswith(expected) and ("NUL" in line or "surrogate" in line) for line in lines), lines
    assert all(line.isascii() for line in lines), lines  # printed as is: the key is named escaped
    assert not Connection.objects.exists()


def test_an_environment_value_that_is_not_utf8_is_an_error_naming_the_variable(db):
    """Python reads an environment value's bytes that are not UTF-8 as lone surrogates (the secret's save failed)."""
    lines = error_lines(PAGE_YAML, {**ENV, "CALENDLY_ACCESS_TOKEN": "pat-" + os.fsdecode(b"\xff")})
    assert any("environment variable CALENDLY_ACCESS_TOKEN contains an unpaired UTF-16 surrogate" in x for x in lines)
