"""Backfill (`manage.py sync_calendly`) against the simulated Calendly and Brevo over real HTTP."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from calendly_sync.backfill import BackfillOptions, run_backfill
from calendly_sync.models import AutomationEvent, Booking, Contact, ContactSyncLog, SyncRun

pytestmark = pytest.mark.django_db


def sync(*args: str) -> str:
    out = io.StringIO()
    call_command("sync_calendly", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def brevo_contact(brevo_sim: Any, email: str) -> dict[str, Any]:
    contact = brevo_sim.get_contact(email)
    assert contact is not None, f"{email} not in Brevo"
    return contact


def test_backfill_creates_contacts_with_mapped_attributes_and_lists(connection, sims, book):
    _, brevo_sim = sims
    book("levi@example.com", days=3)
    book("ana@example.com", kind="demo", days=5, name="Ana Pereira", answers={"Company": "Initech"})
    book("zoe@example.com", kind="other", days=7, name="Zoe", answers={})

    out = sync()

    levi = brevo_contact(brevo_sim, "levi@example.com")
    assert levi["attributes"]["FIRSTNAME"] == "Levi" and levi["attributes"]["LASTNAME"] == "Duncan"
    assert levi["attributes"]["COMPANY"] == "Acme Inc"
    assert levi["attributes"]["JOB_TITLE"] == "CTO"
    assert levi["attributes"]["SMS"].lstrip("+") == "14045551234"
    assert levi["attributes"]["CALENDLY_EVENT_TYPE"] == "Discovery Call"
    assert levi["attributes"]["BOOKING_STATUS"] == "booked"
    assert len(levi["attributes"]["MEETING_DATE"]) == 10  # YYYY-MM-DD
    assert levi["listIds"] == [10]
    assert brevo_contact(brevo_sim, "ana@example.com")["listIds"] == [11]
    assert brevo_contact(brevo_sim, "zoe@example.com")["listIds"] == []  # unmapped, no default list
    # custom attributes were created before the first push, with the right types
    types = (
        {a["name"]: a["type"] for a in brevo_sim.attributes.values()} if isinstance(brevo_sim.attributes, dict) else {}
    )
    assert types.get("MEETING_DATE") == "date"
    assert types.get("COMPANY") == "text"
    assert "events 3, invitees 3, contacts created 3" in out
    run = SyncRun.objects.get()
    assert run.status == "completed" and run.counts["invitees"] == 3
    assert not AutomationEvent.objects.exists()  # history does not start flows by default
    assert brevo_sim.events == []


def test_second_run_sends_nothing_for_unchanged_contacts(connection, sims, book):
    _, brevo_sim = sims
    for i in range(5):
        book(f"person{i}@example.com", days=i + 1)
    sync()
    upserts = brevo_sim.count(r"^POST /v3/contacts$")
    out = sync()
    assert brevo_sim.count(r"^POST /v3/contacts$") == upserts
    assert "unchanged 5" in out
    assert len(brevo_sim.contacts) == 5


def test_cancellation_of_a_synced_meeting_is_found_by_looking_again(connection, sims, book):
    calendly_sim, brevo_sim = sims
    invitee = book("levi@example.com", days=10)
    sync()
    calendly_sim.cancel(invitee["uri"], reason="Conflict", fire_webhooks=False)
    sync()
    assert brevo_contact(brevo_sim, "levi@example.com")["attributes"]["BOOKING_STATUS"] == "cancelled"
    assert Contact.objects.get(email="levi@example.com").booking_status == "cancelled"


def test_reschedule_keeps_contact_booked_with_the_new_date(connection, sims, book):
    calendly_sim, brevo_sim = sims
    invitee = book("levi@example.com", days=10)
    sync()
    new = calendly_sim.reschedule(
        invitee["uri"],
        invitee["scheduled_event"]["start_time"]
        if "scheduled_event" in invitee
        else None or __import__("tests.conftest", fromlist=["in_days"]).in_days(20),
        fire_webhooks=False,
    )
    sync()
    attrs = brevo_contact(brevo_sim, "levi@example.com")["attributes"]
    assert attrs["BOOKING_STATUS"] == "booked"
    current = Contact.objects.get(email="levi@example.com").current_booking
    assert current.invitee_uri == new["uri"]


def test_dry_run_prints_writes_and_makes_none(connection, sims, book):
    _, brevo_sim = sims
    book("levi@example.com")
    out = sync("--dry-run")
    writes = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert writes and writes[0]["POST /contacts"]["email"] == "levi@example.com"
    assert writes[0]["POST /contacts"]["listIds"] == [10]
    assert brevo_sim.count(r"^POST ") == 0
    assert not Booking.objects.exists() and not Contact.objects.exists()
    assert "dry run" in out


def test_with_events_sends_automation_events_once(connection, sims, book):
    _, brevo_sim = sims
    book("levi@example.com")
    sync("--with-events")
    sync("--with-events")  # overlapping window: no second event
    names = [e["event_name"] for e in brevo_sim.events]
    assert names == ["calendly_booking_created"]
    event = brevo_sim.events[0]
    assert event["identifiers"] == {"email_id": "levi@example.com"}
    assert event["event_properties"]["event_type_name"] == "Discovery Call"


def test_sms_already_used_retries_without_sms_and_warns(connection, sims, book, brevo_client):
    _, brevo_sim = sims
    brevo_client.upsert_contact("other@example.com", attributes={"SMS": "+14045551234"})
    book("levi@example.com")
    sync()
    levi = brevo_contact(brevo_sim, "levi@example.com")
    assert "SMS" not in levi["attributes"] and levi["attributes"]["COMPANY"] == "Acme Inc"
    warnings = list(
        ContactSyncLog.objects.filter(email="levi@example.com", status="warning", action="upsert").values_list(
            "message", flat=True
        )
    )
    assert any("SMS" in m and "already associated" in m for m in warnings)
    assert any("sent without SMS" in m for m in warnings)


def test_invalid_phone_from_calendly_is_dropped_with_a_warning(connection, sims, book):
    _, brevo_sim = sims
    book("levi@example.com", answers={"Company name": "Acme", "Phone number": "12345"})
    sync()
    levi = brevo_contact(brevo_sim, "levi@example.com")
    assert "SMS" not in levi["attributes"] and levi["attributes"]["COMPANY"] == "Acme"
    assert ContactSyncLog.objects.filter(
        email="levi@example.com", status="warning", message__contains="not a valid phone number"
    ).exists()


def test_brevo_outage_leaves_contacts_dirty_and_the_next_run_finishes(connection, sims, book):
    from calendly_sync.sandbox.httpbase import Fault

    _, brevo_sim = sims
    book("levi@example.com")
    brevo_sim.inject(Fault("status", route=r"^POST /v3/contacts$", status=503, times=None))
    sync()
    contact = Contact.objects.get(email="levi@example.com")
    assert contact.dirty and contact.last_error
    assert brevo_sim.get_contact("levi@example.com") is None
    brevo_sim.clear_faults()
    Contact.objects.update(next_attempt_at=None)  # the backoff has passed
    sync()
    assert not Contact.objects.get(email="levi@example.com").dirty
    assert brevo_contact(brevo_sim, "levi@example.com")["attributes"]["BOOKING_STATUS"] == "booked"


def test_calendly_429_is_waited_out(connection, sims, book, client_sleeps):
    calendly_sim, brevo_sim = sims
    book("levi@example.com")
    calendly_sim.force_429(times=1, reset=2)
    out = sync()
    assert brevo_contact(brevo_sim, "levi@example.com")
    assert 2 in [round(s) for s in client_sleeps.calls]
    assert "429s 1" in out


def test_killed_run_resumes_from_its_checkpoint_and_ends_in_the_same_state(connection, sims, event_types):
    from calendly_sync.sandbox.calendly import seeding as calendly_data

    calendly_sim, brevo_sim = sims
    calendly_data.bulk_events(calendly_sim, 150, event_types["discovery"]["uri"])

    seen = {"n": 0}

    def crash_after_first_page(n: int) -> None:
        seen["n"] += n
        if seen["n"] == 101:
            raise KeyboardInterrupt  # the process is killed early in the second page

    with pytest.raises(KeyboardInterrupt):
        run_backfill(connection, BackfillOptions(), progress=crash_after_first_page)
    run = SyncRun.objects.get()
    assert run.status == "interrupted" and run.checkpoint["page_token"]
    assert Booking.objects.count() == 101

    out = sync("--resume")
    assert SyncRun.objects.count() == 1 and SyncRun.objects.get().status == "completed"
    assert Booking.objects.count() == 150
    assert (
        len(brevo_sim.contacts) == Contact.objects.count() == len(set(Booking.objects.values_list("email", flat=True)))
    )
    assert not Contact.objects.filter(dirty=True).exists()
    assert "events 150," in out  # counts continue from the checkpoint, not from the crash
    assert calendly_sim.count(r"^GET /scheduled_events$") == 3  # page 1, page 2 (crashed), page 2 again


def test_large_backfill_uses_bulk_import(connection, sims, book):
    _, brevo_sim = sims
    for i in range(12):
        book(f"bulk{i}@example.com", days=i + 1, answers={"Company name": f"Co {i}"})
    sync("--bulk-threshold", "10")
    assert brevo_sim.count(r"^POST /v3/contacts/import$") == 1
    assert brevo_sim.count(r"^POST /v3/contacts$") == 0
    assert len(brevo_sim.contacts) == 12
    assert brevo_contact(brevo_sim, "bulk3@example.com")["listIds"] == [10]
    assert not Contact.objects.filter(dirty=True).exists()


def test_event_type_filter_and_window(connection, sims, book, event_types):
    _, brevo_sim = sims
    book("levi@example.com", days=3)
    book("ana@example.com", kind="demo", days=3)
    book("late@example.com", days=120)  # outside the default 90-day window
    sync("--event-type", event_types["demo"]["uri"])
    assert [c["email"] for c in brevo_sim.contacts.values()] == ["ana@example.com"]
    sync()
    assert brevo_sim.get_contact("late@example.com") is None
    sync("--until", __import__("tests.conftest", fromlist=["in_days"]).in_days(200).date().isoformat())
    assert brevo_sim.get_contact("late@example.com") is not None


def test_unknown_connection_is_a_clear_error(connection):
    with pytest.raises(CommandError, match="no connection named 'nope'"):
        sync("--connection", "nope")
    with pytest.raises(CommandError, match="not an ISO date"):
        sync("--since", "yesterday")


@pytest.mark.django_db
def test_no_connection_points_at_the_sandbox_way():
    """Run without dev.py, a command sees the project's database, not the sandbox's: say where to go."""
    with pytest.raises(CommandError, match=r"run the command as `python3 scripts/dev\.py manage …`"):
        sync()


def test_expired_token_fails_with_a_readable_error(connection, sims):
    calendly_sim, _ = sims
    from calendly_sync.sandbox.calendly import SANDBOX_TOKEN

    calendly_sim.expire_token(SANDBOX_TOKEN)
    with pytest.raises(CommandError, match="expired"):
        sync()


def test_bulk_import_rows_rejected_by_brevo_are_resent_one_by_one(connection, sims, book):
    _, brevo_sim = sims
    for i in range(12):  # the same phone number on every booking: Brevo keeps it on one contact only
        book(f"bulk{i}@example.com", days=i + 1)
    sync("--bulk-threshold", "10")
    assert brevo_sim.count(r"^POST /v3/contacts/import$") == 1
    assert len(brevo_sim.contacts) == 12  # nobody lost
    assert not Contact.objects.filter(dirty=True).exists()
    assert ContactSyncLog.objects.filter(status="warning", message__contains="SMS").exists()


def test_the_summary_counts_the_mapping_warnings_of_its_run(connection, sims, book):
    book("levi@example.com", answers={"Company name": "Acme", "Phone number": "12345"})
    book("ana@example.com", answers={"Company name": "Initech", "Phone number": "not a number"})
    out = sync()
    assert ContactSyncLog.objects.filter(status="warning", action="mapping").count() == 2
    assert "warnings 2" in out
    assert SyncRun.objects.get().counts["warnings"] == 2


def test_an_unknown_event_type_is_an_error_naming_the_known_ones(connection, sims, book, event_types):
    book("levi@example.com", days=3)
    with pytest.raises(CommandError) as error:
        sync("--event-type", "Nope")
    message = str(error.value)
    assert "'Nope'" in message and "Discovery Call" in message and "Product Demo" in message
    calendly_sim, _ = sims
    assert calendly_sim.count(r"^GET /scheduled_events$") == 0  # nothing was read, nothing synced
    assert list(SyncRun.objects.values_list("status", flat=True)) == ["failed"]  # the run says why
    # the name, the URI and the slug all select one
    for chosen in ("Product Demo", event_types["demo"]["uri"], event_types["demo"]["slug"]):
        sync("--event-type", chosen)


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "Lone \ud800 Half"},
        {"name": "Nul\x00Byte"},
        {"answers": {"Company name": "Acme\udfff"}},
        {"answers": {"Company\x00 name": "Acme"}},  # in an answer's question: a key of the contact's answers
    ],
    ids=["surrogate-name", "nul-name", "surrogate-answer", "nul-question"],
)
def test_an_invitee_no_database_can_store_is_skipped_and_reported_the_rest_synced(connection, sims, book, bad):
    """Calendly's JSON with a NUL or an unpaired surrogate escape: that invitee skipped, the others stored."""
    _, brevo_sim = sims
    book("before@example.com", days=2)
    book("bad@example.com", days=3, **bad)
    book("after@example.com", days=4)
    out = sync()
    assert set(Booking.objects.values_list("email", flat=True)) == {"before@example.com", "after@example.com"}
    brevo_contact(brevo_sim, "before@example.com")
    brevo_contact(brevo_sim, "after@example.com")
    assert brevo_sim.get_contact("bad@example.com") is None
    run = SyncRun.objects.get()
    assert run.status == "completed" and run.counts["malformed"] == 1, (run.status, run.counts, run.error)
    assert "invitees 3" in out, out
    reason = "NUL character" if "\x00" in repr(bad) or "\\x00" in repr(bad) else "unpaired UTF-16 surrogate"
    assert (
        "skipped invitee" in run.error
        and f"payload contains a{'n' if 'unpaired' in reason else ''} {reason}" in run.error
    )
