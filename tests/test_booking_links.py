"""Personalised booking links: one single-use link per contact of a Brevo list, cleared once used."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from calendly_sync.credentials.clients import brevo_client_for
from calendly_sync.models import AutomationEvent, BookingLink, Contact
from calendly_sync.sync.links import attributes_to_clear, link_token, marker
from tests.fixtures_webhooks import deliver

pytestmark = pytest.mark.django_db


def make_list(connection: Any, size: int, name: str = "Prospects") -> int:
    """A Brevo list of ``size`` contacts (``p0000@example.com`` …), named Prospect <n> Test."""
    brevo = brevo_client_for(connection)
    list_id = brevo.create_list(name, brevo.create_folder("Campaigns"))
    rows = [
        {"email": f"p{i:04d}@example.com", "attributes": {"FIRSTNAME": f"Prospect {i}", "LASTNAME": "Test"}}
        for i in range(size)
    ]
    brevo.wait_for_process(brevo.import_contacts(rows, [list_id]), poll_interval=0.05)
    return list_id


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("create_booking_links", *args, stdout=out)
    return out.getvalue()


def test_links_for_a_list_of_300_are_kept_on_a_second_run_and_cleared_once_booked(
    client: Any, connection: Any, sims: Any, event_types: Any, outbox: list[dict[str, Any]]
) -> None:
    calendly_sim, brevo_sim = sims
    list_id = make_list(connection, 300)

    line = run("--list", str(list_id), "--event-type", "Discovery Call")
    assert line.strip().splitlines() == [
        f"list {list_id}: 300 contacts, created 300 booking links for 'Discovery Call' in BOOKING_LINK, "
        "0 kept an unused link"
    ]
    assert any(a["name"] == "BOOKING_LINK" and a["type"] == "text" for a in brevo_sim.attributes.values())
    links = {}
    for i in range(300):
        email = f"p{i:04d}@example.com"
        url = brevo_sim.get_contact(email)["attributes"]["BOOKING_LINK"]
        links[email] = url
        assert f"email=p{i:04d}%40example.com" in url and f"name=Prospect%20{i}%20Test" in url
        assert "utm_content=cbl-" in url
    assert len(set(links.values())) == 300  # each contact its own link
    assert BookingLink.objects.filter(used_at__isnull=True).count() == 300

    again = run("--list", str(list_id), "--event-type", event_types["discovery"]["uri"].rsplit("/", 1)[-1])
    assert "created 0 booking links" in again and "300 kept an unused link" in again
    assert BookingLink.objects.count() == 300
    assert len(calendly_sim.scheduling_links) == 300

    # p0042 books through their link: Calendly records its utm_content in the booking's tracking
    before = len(outbox)
    invitee = calendly_sim.book_link(links["p0042@example.com"])
    assert invitee["tracking"]["utm_content"].startswith("cbl-")
    created = [item for item in outbox[before:] if item["event"] == "invitee.created"]
    assert len(created) == 1
    assert deliver(client, connection, created[0]).status_code == 200
    call_command("process_deliveries", "--now", stdout=io.StringIO())

    contact = brevo_sim.get_contact("p0042@example.com")
    assert contact["attributes"]["BOOKING_STATUS"] == "booked"
    assert not contact["attributes"].get("BOOKING_LINK")  # a campaign never sends a used link
    assert [e["event_name"] for e in brevo_sim.events].count("calendly_booking_created") == 1
    assert AutomationEvent.objects.filter(event_name="calendly_booking_created").count() == 1
    used = BookingLink.objects.get(email="p0042@example.com")
    assert used.used_at is not None and used.used_by == invitee["uri"]
    assert brevo_sim.get_contact("p0043@example.com")["attributes"]["BOOKING_LINK"] == links["p0043@example.com"]
    assert Contact.objects.get(email="p0042@example.com").dirty is False

    # a single-use link books once
    with pytest.raises(ValueError, match="already been used"):
        calendly_sim.book_link(links["p0042@example.com"])


def test_dry_run_counts_and_writes_nothing(connection: Any, sims: Any, event_types: Any) -> None:
    calendly_sim, brevo_sim = sims
    list_id = make_list(connection, 12)
    calls = sum(brevo_sim.calls.values())

    line = run("--list", str(list_id), "--event-type", "discovery-call", "--dry-run", "--attribute", "my_link")
    assert f"list {list_id}: 12 contacts, would create 12 booking links for 'Discovery Call' in MY_LINK" in line
    assert not BookingLink.objects.exists()
    assert calendly_sim.scheduling_links == []
    assert not any(a["name"] == "MY_LINK" for a in brevo_sim.attributes.values())
    assert "MY_LINK" not in brevo_sim.get_contact("p0001@example.com")["attributes"]
    assert sum(brevo_sim.calls.values()) > calls  # it did read the list


def test_an_unknown_event_type_or_list_is_a_clear_error(connection: Any, sims: Any, event_types: Any) -> None:
    list_id = make_list(connection, 2)
    with pytest.raises(CommandError, match="no event type 'Nope' in this Calendly account"):
        run("--list", str(list_id), "--event-type", "Nope")
    with pytest.raises(CommandError, match="Brevo has no contact list 999"):
        run("--list", "999", "--event-type", "Discovery Call")
    with pytest.raises(CommandError, match="not a Brevo attribute name"):
        run("--list", str(list_id), "--event-type", "Discovery Call", "--attribute", "bad name")
    assert not BookingLink.objects.exists()


def test_the_marker_is_read_back_from_tracking_and_only_the_latest_used_link_is_cleared() -> None:
    assert link_token(marker("abc")) == "abc"
    assert link_token({"utm_content": "spring-promo"}) is None and link_token(None) is None
    issued = [("a@x.io", "L", True), ("b@x.io", "L", True), ("b@x.io", "L", False), ("a@x.io", "M", False)]
    assert attributes_to_clear(issued) == {"a@x.io": ["L"]}


@pytest.mark.parametrize("bad", ["Lone \ud800", "Nul\x00"], ids=["surrogate", "nul"])
def test_a_brevo_contact_no_database_can_store_fails_alone_the_others_get_links(
    connection: Any, sims: Any, event_types: Any, bad: str
) -> None:
    """Brevo's JSON with a NUL or an unpaired surrogate escape (in a name here): that contact only."""
    _, brevo_sim = sims
    list_id = make_list(connection, 2)
    brevo_sim.seed_contact("odd@example.com", {"FIRSTNAME": bad}, [list_id])
    line = run("--list", str(list_id), "--event-type", "Discovery Call")
    assert "3 contacts, created 2 booking links" in line and "1 failed (first: 'odd@example.com': " in line, line
    assert "contains" in line
    assert sorted(BookingLink.objects.values_list("email", flat=True)) == ["p0000@example.com", "p0001@example.com"]
    assert "BOOKING_LINK" not in brevo_sim.get_contact("odd@example.com")["attributes"]
