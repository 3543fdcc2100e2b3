"""/metrics: Prometheus text that prometheus_client's own parser reads, with the database's counts
as they are at the scrape, this process's instruments, and access limited by token or loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from django.db.models import Count
from prometheus_client.parser import text_string_to_metric_families

from calendly_sync.models import AutomationEvent, Connection, Contact, WebhookDelivery
from calendly_sync.runtime.drain import drain
from tests.ops.test_health import ROOT, closed_port
from tests.test_tasks import signed_booking


def scrape(client: Any, **headers: Any) -> dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """{family: {(sample name, sorted labels): value}} of one scrape."""
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    families: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        families[family.name] = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value for sample in family.samples
        }
    return families


def value(families: dict, family: str, sample: str | None = None, **labels: str) -> float:
    return families.get(family, {}).get((sample or family, tuple(sorted(labels.items()))), 0.0)


def post(client: Any, connection: Any, body: bytes, signature: str) -> Any:
    return client.post(
        f"/webhooks/calendly/{connection.pk}/",
        data=body,
        content_type="application/json",
        HTTP_CALENDLY_WEBHOOK_SIGNATURE=signature,
    )


@pytest.mark.django_db
def test_metrics_match_the_database_after_some_deliveries(client, connection, sims, event_types):
    calendly_sim, brevo_sim = sims
    before = scrape(client)

    deliveries = [signed_booking(calendly_sim, event_types, f"m{i}@example.com") for i in range(3)]
    for body, signature in deliveries:
        assert post(client, connection, body, signature).status_code == 200
    waiting = scrape(client)
    assert value(waiting, "calendly_sync_backlog", kind="deliveries") == 3
    assert value(waiting, "calendly_sync_backlog_oldest_age_seconds", kind="deliveries") >= 0
    assert value(waiting, "calendly_sync_webhook_deliveries", event="invitee.created", status="pending") == 3

    brevo_sim.force_429(times=1, reset=0.01)  # the first Brevo call is refused once, then retried
    drain(WebhookDelivery.objects.values_list("pk", flat=True))
    assert post(client, connection, *deliveries[0]).json() == {"status": "duplicate"}
    after = scrape(client)

    by_status = WebhookDelivery.objects.values_list("event", "status").annotate(n=Count("id")).order_by()
    assert {(e, s): n for e, s, n in by_status} == {("invitee.created", "processed"): 3}
    assert {
        (dict(labels)["event"], dict(labels)["status"]): v
        for (_, labels), v in after["calendly_sync_webhook_deliveries"].items()
    } == {("invitee.created", "processed"): 3}
    assert value(after, "calendly_sync_backlog", kind="deliveries") == 0
    assert value(after, "calendly_sync_backlog_oldest_age_seconds", kind="deliveries") == 0
    pushed = Contact.objects.filter(dirty=False).count()
    assert pushed == 3 and all(brevo_sim.get_contact(f"m{i}@example.com") for i in range(3))
    assert value(after, "calendly_sync_contacts", state="pushed") == pushed
    assert value(after, "calendly_sync_contacts", state="dirty") == 0
    sent = AutomationEvent.objects.filter(status="sent").count()
    assert sent == 3
    assert value(after, "calendly_sync_automation_events", event_name="calendly_booking_created", status="sent") == 3
    state = Connection.objects.get(pk=connection.pk).webhook_subscription_state or "none"
    assert value(after, "calendly_sync_subscription_state", connection=connection.name, state=state) == 1

    # This process's own counts: 4 answers timed, Brevo's calls and its one 429.
    ack = "calendly_sync_webhook_ack_seconds"
    assert value(after, ack, f"{ack}_count", status="200") - value(before, ack, f"{ack}_count", status="200") == 4
    calls = "calendly_sync_api_calls"
    brevo_calls = sum(
        v for (name, labels), v in after[calls].items() if dict(labels)["api"] == "brevo" and name == f"{calls}_total"
    ) - sum(
        v
        for (name, labels), v in before.get(calls, {}).items()
        if dict(labels)["api"] == "brevo" and name == f"{calls}_total"
    )
    assert brevo_calls >= 4  # three contacts and three events at least, one refused
    limited = "calendly_sync_api_rate_limited"
    assert (
        value(after, limited, f"{limited}_total", api="brevo") - value(before, limited, f"{limited}_total", api="brevo")
        == 1
    )


@pytest.mark.django_db
def test_with_a_token_only_its_bearer_reads_the_metrics(client, settings):
    settings.METRICS_TOKEN = "s3cret-metrics-token"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics")["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic czNjcmV0").status_code == 401
    # A token is enough from anywhere: not only loopback.
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token", REMOTE_ADDR="203.0.113.9")
    assert ok.status_code == 200
    assert b"calendly_sync_backlog" in ok.content


@pytest.mark.django_db
def test_without_a_token_only_loopback_addresses_read_the_metrics(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.5").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200


@pytest.mark.django_db
def test_a_scrape_costs_a_few_queries(client, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        assert client.get("/metrics").status_code == 200


def test_a_scrape_during_a_database_outage_answers_503_not_500():
    """A real outage: a process whose DATABASE_URL points at a port where no PostgreSQL listens."""
    script = (
        "import json, django; django.setup()\n"
        "from django.test.utils import setup_test_environment; setup_test_environment()\n"
        "from django.test import Client\n"
        "r = Client().get('/metrics')\n"
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "connector_site.settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{closed_port()}/nowhere",
        "CONNECTOR_EMBEDDED_WORKER": "false",
        "METRICS_TOKEN": "",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer == {"status": 503, "body": {"detail": "database unreachable: OperationalError"}}
