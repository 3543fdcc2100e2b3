"""Shared files and helpers of the configuration tests: the product page's YAML, an extended one."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command

from calendly_sync.config.reader import ConfigErrors, load_config
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
        "event_mappings": list(
            EventTypeMapping.objects.order_by("pk").values_list("pk", "updated_at", "list_ids", "key")
        ),
        "field_mappings": list(
            FieldMapping.objects.order_by("pk").values_list(
                "pk", "source", "attribute", "attribute_type", "position", "enabled"
            )
        ),
    }


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
