"""The declared shape of the file: known keys, strict types, list ids, event type URIs, defaults."""

from __future__ import annotations

import pytest

from calendly_sync.config.reader import ConfigError, load_config
from tests.config.conftest import ENV, PAGE_YAML, error_lines


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
        "connectors.calendly.field_mapping.statuss: unknown source field (did you mean status?)"
    )
    top = PAGE_YAML + "extra: 1\n"
    assert error_lines(top) == ["extra: unknown key"]
    other = PAGE_YAML + "  hubspot: {}\n"
    assert error_lines(other)[0].startswith("connectors.hubspot: unknown key")


@pytest.mark.parametrize("value", ['"true"', "1", '"yes"', "null"])
def test_booleans_must_be_real_yaml_booleans(value):
    text = PAGE_YAML.replace("    enabled: true\n", f"    enabled: {value}\n")
    assert error_lines(text) == ["connectors.calendly.enabled: expected a boolean (true or false)"]


def test_simulator_event_type_uris_are_accepted():
    text = PAGE_YAML.replace("https://api.calendly.com/event_types/abc123", "http://127.0.0.1:8765/event_types/abc123")
    [cfg] = load_config(text, ENV)
    assert cfg.event_mappings[0].event_type_uri == "http://127.0.0.1:8765/event_types/abc123"


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
        "connectors.calendly[1].name: duplicate connection name 'default' (also used by connectors.calendly[0])"
    ]


def test_default_attribute_types_follow_the_sync_rules():
    text = PAGE_YAML.replace(
        "      status: BOOKING_STATUS\n",
        "      status: BOOKING_STATUS\n      created_at: SIGNUP_DATE\n      text_reminder_number: WHATSAPP\n"
        "      start_time: {attribute: MEETING_START, type: number}\n",
    )
    [cfg] = load_config(text, ENV)
    types = {f.attribute: f.attribute_type for f in cfg.field_mappings}
    assert types["SIGNUP_DATE"] == "date" and types["WHATSAPP"] == "phone" and types["MEETING_START"] == "float"
    assert types["MEETING_DATE"] == "date" and types["SMS"] == "phone" and types["COMPANY"] == "text"
