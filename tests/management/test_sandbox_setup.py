"""``manage.py sandbox_setup`` (management/commands/sandbox_setup.py), against the simulators."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from calendly_sync.management.commands.sandbox_setup import lists_to_create
from calendly_sync.models import Booking, Connection
from calendly_sync.sandbox.calendly import CalendlySim

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(sims: tuple[Any, Any], event_types: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> Any:
    calendly_sim, _ = sims
    calendly_sim.allow_http_callbacks = True  # the sandbox's site is http://127.0.0.1:8000
    monkeypatch.setenv("CONNECTOR_SANDBOX", "1")
    return sims


def setup() -> str:
    out = io.StringIO()
    call_command("sandbox_setup", stdout=out)
    return out.getvalue()


def test_lists_to_create_names_each_missing_list_once() -> None:
    lists = [{"id": 10, "name": "Discovery calls"}, {"id": 11, "name": "product demo"}]
    assert lists_to_create(["Discovery Call", "Product Demo", "Coffee Chat", "coffee chat"], lists) == [
        "Discovery Call",
        "Coffee Chat",
    ]


def test_each_event_type_goes_to_the_brevo_list_of_its_name(sandbox: Any) -> None:
    """The sandbox mapped event types to the seeded lists by position: "Product Demo" → "Discovery calls"."""
    _, brevo_sim = sandbox
    setup()
    conn = Connection.objects.get(name="sandbox")
    mappings = list(conn.event_type_mappings.all())
    assert len(mappings) == 3
    for mapping in mappings:
        assert [brevo_sim.lists[i]["name"] for i in mapping.list_ids] == [mapping.event_type_name]
    lists_before = dict(brevo_sim.lists)
    assert "sandbox connection exists" in setup()  # a second start creates nothing
    assert brevo_sim.lists == lists_before and conn.event_type_mappings.count() == 3


def test_a_lost_subscription_is_recreated_at_the_next_start(sandbox: Any) -> None:
    """Simulators restarted empty: the admin said "active" about a hook Calendly no longer had."""
    calendly_sim, _ = sandbox
    setup()
    calendly_sim.subscriptions.clear()
    out = setup()
    assert "subscription was missing; created" in out
    conn = Connection.objects.get(name="sandbox")
    sub = calendly_sim.subscriptions[calendly_sim.uuid_of(conn.webhook_subscription_uri)]
    assert sub["state"] == conn.webhook_subscription_state == "active"


def test_a_moved_site_gets_its_subscription_moved(sandbox: Any, settings: Any) -> None:
    calendly_sim, _ = sandbox
    setup()
    settings.SITE_URL = "http://127.0.0.1:8765"
    setup()
    urls = [sub["callback_url"] for sub in calendly_sim.subscriptions.values()]
    conn = Connection.objects.get(name="sandbox")
    assert urls == [conn.webhook_callback_url] and urls[0].startswith("http://127.0.0.1:8765/webhooks/calendly/")


def test_simulators_holding_another_account_reset_the_connection(sandbox: Any) -> None:
    """A database kept while the simulators' saved state was deleted: reset both, and say so."""
    setup()
    old = Connection.objects.get(name="sandbox")
    Booking.objects.create(connection=old, invitee_uri="https://api.calendly.com/x/invitees/gone", email="g@x.io")
    Connection.objects.filter(pk=old.pk).update(
        calendly_organization_uri="https://api.calendly.com/organizations/another-account"
    )
    out = setup()
    assert "resetting the sandbox connection to match" in out
    conn = Connection.objects.get(name="sandbox")
    assert conn.pk != old.pk and not Booking.objects.filter(email="g@x.io").exists()
    assert conn.event_type_mappings.count() == 3 and conn.webhook_subscription_state == "active"


def test_unreachable_simulators_are_named(db: Any, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTOR_SANDBOX", "1")
    sim = CalendlySim(default_token=True).start()
    settings.CALENDLY_API_URL = url = sim.url
    sim.stop()  # nothing listens there any more
    with pytest.raises(CommandError, match=f"sandbox setup failed: Could not reach {url}: ConnectionError"):
        setup()
    assert not Connection.objects.filter(name="sandbox").exists()  # the next start begins afresh


def test_the_catalog_is_loaded_so_mappings_are_picked_by_name(sandbox: Any, admin_client: Any, book: Any) -> None:
    """The connection's page offers event types, questions, lists and attributes by name, not URIs and ids."""
    calendly_sim, brevo_sim = sandbox
    book("jane@example.com")  # the first sync pushes her, creating the mapping's attributes in Brevo
    out = setup()
    assert "catalog: Loaded 3 Calendly event types (5 custom questions)." in out
    conn = Connection.objects.get(name="sandbox")
    assert conn.catalog_loaded_at is not None
    assert {et["name"] for et in conn.calendly_event_types} == {"Discovery Call", "Product Demo", "Coffee Chat"}
    assert {lst["name"] for lst in conn.brevo_lists} >= {"Discovery Call", "Product Demo", "Coffee Chat"}
    page = admin_client.get(reverse("admin:calendly_sync_connection_change", args=[conn.pk])).content.decode()
    for mapping in conn.event_type_mappings.all():
        name = brevo_sim.lists[mapping.list_ids[0]]["name"]
        # a select of event type names with this one chosen, and the list by name
        assert f'<option value="{mapping.event_type_uri}" selected>{mapping.event_type_name}</option>' in page
        assert f'<option value="{mapping.list_ids[0]}" selected>{name} (#{mapping.list_ids[0]})</option>' in page
    assert '<option value="question:Company name">question:Company name</option>' in page
    assert '<option value="FIRSTNAME">FIRSTNAME (text)</option>' in page
    # Loaded after the first sync, which created the mapping's attributes in Brevo: they are offered too.
    assert '<option value="MEETING_DATE">MEETING_DATE (date)</option>' in page

    # Refreshed at every start: an event type added in "Calendly" meanwhile is offered next time.
    calendly_sim.add_event_type("Onboarding", ["Goal"], fire_webhooks=False)
    assert "catalog: Loaded 4 Calendly event types (6 custom questions)." in setup()
    conn.refresh_from_db()
    assert "Onboarding" in {et["name"] for et in conn.calendly_event_types}
