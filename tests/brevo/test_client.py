"""BrevoClient against the Brevo simulator over real HTTP."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
import requests

from calendly_sync.brevo import (
    BrevoAuthError,
    BrevoClient,
    BrevoDuplicateIdentifier,
    BrevoError,
    BrevoInvalidPhone,
    BrevoNotFound,
    BrevoOutcomeUnknown,
    BrevoRateLimited,
    BrevoServerError,
    BrevoTooEarly,
    BrevoTransportError,
    BrevoValidationError,
    UpsertResult,
    is_transient,
)
from calendly_sync.brevo.errors import error_from_response
from calendly_sync.http import RetryPolicy
from calendly_sync.sandbox.brevo.server import SANDBOX_API_KEY

# -- upsert ---------------------------------------------------------------------------------------


def test_upsert_creates_then_updates_same_contact_case_insensitively(brevo_client, brevo_sim):
    first = brevo_client.upsert_contact("Jane@Example.com", {"FIRSTNAME": "Jane"}, list_ids=[12])
    assert first.created is True and isinstance(first.id, int)

    second = brevo_client.upsert_contact("jane@example.com", {"LASTNAME": "Doe"})
    assert second == UpsertResult(created=False, id=None)

    third = brevo_client.upsert_contact("  JANE@EXAMPLE.COM ", {"firstname": "Janet"})
    assert third.created is False

    assert len(brevo_sim.contacts) == 1
    contact = brevo_sim.get_contact("jane@example.com")
    assert contact["id"] == first.id
    assert contact["attributes"] == {"FIRSTNAME": "Janet", "LASTNAME": "Doe"}
    assert contact["listIds"] == [12]
    assert brevo_client.get_contact("JANE@example.com")["id"] == first.id


def test_upsert_refuses_email_attribute_without_calling_brevo(brevo_client, brevo_sim):
    with pytest.raises(ValueError, match="EMAIL"):
        brevo_client.upsert_contact("a@example.com", {"Email": "a@example.com"})
    assert brevo_sim.count("POST /v3/contacts") == 0


def test_plus_address_round_trips_through_the_path(brevo_client):
    created = brevo_client.upsert_contact("jane+calendly@example.com")
    assert brevo_client.get_contact("jane+calendly@example.com")["id"] == created.id
    brevo_client.update_contact("jane+calendly@example.com", {"LASTNAME": "Plus"}, list_ids=[10])
    contact = brevo_client.get_contact("jane+calendly@example.com")
    assert contact["attributes"]["LASTNAME"] == "Plus" and contact["listIds"] == [10]


def test_update_contact_unlinks_lists_and_404s_for_unknown(brevo_client):
    brevo_client.upsert_contact("a@example.com", list_ids=[10, 11])
    brevo_client.update_contact("a@example.com", unlink_list_ids=[10])
    assert brevo_client.get_contact("a@example.com")["listIds"] == [11]
    with pytest.raises(BrevoNotFound):
        brevo_client.update_contact("nobody@example.com", {"FIRSTNAME": "X"})


# -- typed errors -------------------------------------------------------------------------------


def test_invalid_phone_is_typed_with_brevo_message(brevo_client):
    with pytest.raises(BrevoInvalidPhone) as info:
        brevo_client.upsert_contact("a@example.com", {"SMS": "0612345678"})  # no country code
    err = info.value
    assert err.status == 400 and err.message == "Invalid phone number"
    assert isinstance(err, BrevoValidationError) and not is_transient(err)


def test_duplicate_sms_is_typed_with_identifiers(brevo_client):
    brevo_client.upsert_contact("a@example.com", {"SMS": "+33612345678"})
    with pytest.raises(BrevoDuplicateIdentifier) as info:
        brevo_client.upsert_contact("b@example.com", {"SMS": "0033612345678"})  # same number, other spelling
    err = info.value
    assert err.identifiers == ["SMS"]
    assert err.message == "Unable to create contact, SMS is already associated with another Contact"
    assert err.code == "duplicate_parameter"
    # the documented workaround: retry without SMS
    assert brevo_client.upsert_contact("b@example.com").created is True

    with pytest.raises(BrevoDuplicateIdentifier) as info:
        brevo_client.upsert_contact("b@example.com", {"SMS": "+33612345678"})
    assert info.value.message == "Unable to update contact, SMS is already associated with another Contact"


def test_invalid_email_bad_key_and_missing_contact(brevo_client, make_brevo_client):
    with pytest.raises(BrevoValidationError, match="Invalid email address") as info:
        brevo_client.upsert_contact("not-an-email")
    assert info.value.code == "invalid_parameter"

    bad = make_brevo_client(api_key="xkeysib-wrong-1234")
    with pytest.raises(BrevoAuthError) as auth:
        bad.list_attributes()
    assert auth.value.status == 401 and auth.value.message == "Key not found"
    assert "xkeysib-wrong" not in str(auth.value) and "xkeysib-wrong" not in repr(bad)

    with pytest.raises(BrevoNotFound) as missing:
        brevo_client.get_contact("ghost@example.com")
    assert missing.value.code == "document_not_found"


def test_ip_allow_list_401_is_explained(brevo_client, brevo_sim):
    brevo_sim.blocked_ip = "203.0.113.7"
    with pytest.raises(BrevoAuthError) as info:
        brevo_client.list_lists()
    assert info.value.ip_not_allowed
    assert "allow-list" in str(info.value)


@pytest.mark.parametrize(
    ("status", "body", "cls", "identifiers"),
    [
        (
            400,
            {
                "code": "invalid_parameter",
                "message": "Unable to update contact, email is already associated with another Contact",
                "metadata": {"duplicate_identifiers": ["email"]},
            },
            BrevoDuplicateIdentifier,
            ["email"],
        ),
        (
            400,
            {"code": "invalid_parameter", "message": "SMS is already associate with another Contact"},
            BrevoDuplicateIdentifier,
            ["SMS"],
        ),
        (
            400,
            {
                "code": "duplicate_parameter",
                "message": "Unable to update contact, SMS or EXT_ID are already associated with another Contact",
            },
            BrevoDuplicateIdentifier,
            ["SMS", "EXT_ID"],
        ),
        (400, {"code": "duplicate_parameter", "message": "Contact already exist"}, BrevoDuplicateIdentifier, ["email"]),
        (400, {"code": "something_new", "message": "Invalid phone number"}, BrevoInvalidPhone, None),
        (425, {"code": "account_in_process", "message": "wait"}, BrevoTooEarly, None),
        (502, "<html>bad gateway</html>", BrevoServerError, None),
        (403, {"code": "permission_denied", "message": "nope"}, BrevoError, None),
    ],
)
def test_error_classification_matches_message_and_metadata(status, body, cls, identifiers):
    err = error_from_response(status, body)
    assert type(err) is cls
    if identifiers is not None:
        assert err.identifiers == identifiers
    assert is_transient(err) == (status in (425, 429) or status >= 500)


# -- retries and rate limits --------------------------------------------------------------------


def test_429_waits_for_reset_header_and_succeeds(brevo_client, brevo_sim, brevo_clock):
    brevo_sim.force_429(times=2, reset=3, route=r"POST /v3/contacts$")
    result = brevo_client.upsert_contact("a@example.com")
    assert result.created is True
    assert brevo_clock.sleeps.count(3.0) == 2
    assert brevo_client.stats.rate_limited == 2 and brevo_client.stats.retries == 2
    assert brevo_sim.count(r"POST /v3/contacts$") == 3


def test_429_that_persists_raises_rate_limited(make_brevo_client, brevo_sim):
    client = make_brevo_client(retry=RetryPolicy(max_retries=1, base_delay=0.01))
    brevo_sim.force_429(times=5, reset=2)
    with pytest.raises(BrevoRateLimited) as info:
        client.list_attributes()
    assert info.value.reset == 2.0 and is_transient(info.value)


def test_429_with_reset_beyond_cap_is_not_waited(make_brevo_client, brevo_sim, brevo_clock):
    client = make_brevo_client(retry=RetryPolicy(max_rate_limit_wait=60))
    brevo_sim.force_429(times=1, reset=3600)
    with pytest.raises(BrevoRateLimited):
        client.list_attributes()
    assert brevo_clock.sleeps == []


def test_5xx_is_retried_then_succeeds(brevo_client, brevo_sim):
    brevo_sim.fail_next(502, b"", route=r"GET /v3/contacts/attributes", times=2)
    names = [a["name"] for a in brevo_client.list_attributes()]
    assert names == ["FIRSTNAME", "LASTNAME", "SMS"]
    assert brevo_client.stats.retries == 2


def test_425_is_retried(brevo_client, brevo_sim):
    brevo_sim.too_early(times=1)
    assert brevo_client.upsert_contact("a@example.com").created


def test_persistent_5xx_raises_server_error(brevo_client, brevo_sim):
    brevo_sim.fail_next(500, {"message": "boom"}, times=10)
    with pytest.raises(BrevoServerError) as info:
        brevo_client.get_contact("a@example.com")
    assert info.value.status == 500 and is_transient(info.value)
    assert brevo_sim.count("GET") == 4  # 1 + max_retries(3)


def test_timeout_is_retried(make_brevo_client, brevo_sim):
    client = make_brevo_client(timeout=(2.0, 0.3))
    brevo_sim.timeout_next(seconds=1.5, route=r"POST /v3/contacts$")
    assert client.upsert_contact("a@example.com").created is True
    assert client.stats.retries == 1


def test_persistent_connection_failure_is_transport_error(make_brevo_client):
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_brevo_client(
        base_url=f"http://127.0.0.1:{port}/v3", retry=RetryPolicy(max_retries=1, base_delay=0.01)
    )
    with pytest.raises(BrevoTransportError) as info:
        client.list_lists()
    assert is_transient(info.value) and info.value.status is None
    # the message names the host first: the simulator, or the real Brevo by mistake?
    assert str(info.value).startswith(f"Could not reach http://127.0.0.1:{port}/v3: ConnectionError after 2 attempts")
    assert info.value.host == f"http://127.0.0.1:{port}/v3"


# -- requests that must not be repeated: events ----------------------------------------------------


def wait_for(predicate, what: str, timeout: float = 5.0) -> None:
    """Poll the simulator with a deadline (it finishes a slowed request after the client gave up)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_post_to_events_is_not_sent_again_after_a_read_timeout(make_brevo_client, brevo_sim):
    """Brevo applies the event after the client stopped waiting: a second send would be a second event."""
    client = make_brevo_client(timeout=(2.0, 0.3))
    brevo_sim.slow_next(0.6, route=r"^POST /v3/events$")
    with pytest.raises(BrevoOutcomeUnknown) as info:
        client.send_event("calendly_booking_created", email="a@example.com")
    assert "ReadTimeout" in str(info.value) and not is_transient(info.value)
    wait_for(lambda: len(brevo_sim.events) == 1, "Brevo to record the slow event")
    assert brevo_sim.count(r"^POST /v3/events$") == 1 and len(brevo_sim.events) == 1


def test_a_batch_of_events_is_not_sent_again_after_a_read_timeout(make_brevo_client, brevo_sim):
    client = make_brevo_client(timeout=(2.0, 0.3))
    brevo_sim.slow_next(0.6, route=r"^POST /v3/events/batch$")
    events = [BrevoClient.build_event("calendly_booking_created", email=f"{n}@example.com") for n in "ab"]
    with pytest.raises(BrevoOutcomeUnknown):
        client.send_events_batch(events)
    wait_for(lambda: len(brevo_sim.events) == 2, "Brevo to record the slow batch")
    assert brevo_sim.count(r"^POST /v3/events/batch$") == 1


def test_a_gateway_timeout_on_events_is_not_sent_again(brevo_client, brevo_sim):
    brevo_sim.fail_next(504, b"", route=r"^POST /v3/events$")
    with pytest.raises(BrevoOutcomeUnknown) as info:
        brevo_client.send_event("calendly_booking_created", email="a@example.com")
    assert info.value.status == 504 and not is_transient(info.value)
    assert brevo_sim.count(r"^POST /v3/events$") == 1


def test_an_event_that_brevo_says_it_did_not_take_is_sent_again(brevo_client, brevo_sim):
    """A 429 or a 503 is Brevo's word that nothing was recorded: retrying it cannot duplicate."""
    brevo_sim.force_429(times=1, reset=0, route=r"^POST /v3/events$")
    brevo_sim.fail_next(503, route=r"^POST /v3/events$")
    brevo_client.send_event("calendly_booking_created", email="a@example.com")
    assert brevo_sim.count(r"^POST /v3/events$") == 3 and len(brevo_sim.events) == 1


def test_an_event_whose_connection_was_never_made_is_sent_again(make_brevo_client, brevo_sim):
    """Connection refused: the request never left, so it is safe to send (the first try goes to a closed port)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    session = requests.Session()
    real = session.request
    tries: list[str] = []

    def first_to_a_closed_port(method, url, **kwargs):
        tries.append(url)
        if len(tries) == 1:
            url = url.replace(brevo_sim.url, closed)
        return real(method, url, **kwargs)

    session.request = first_to_a_closed_port  # type: ignore[method-assign]
    client = make_brevo_client(session=session)
    client.send_event("calendly_booking_created", email="a@example.com")
    assert len(tries) == 2 and len(brevo_sim.events) == 1


def test_a_contact_upsert_is_still_sent_again_after_a_read_timeout(make_brevo_client, brevo_sim):
    """Desired state: repeating it is harmless, so a lost answer is simply retried."""
    client = make_brevo_client(timeout=(2.0, 0.3))
    brevo_sim.slow_next(0.6, route=r"^POST /v3/contacts$")
    assert client.upsert_contact("a@example.com", attributes={"FIRSTNAME": "A"}) is not None
    assert brevo_sim.count(r"^POST /v3/contacts$") == 2


def test_the_worst_case_request_time_comes_from_the_policy_and_the_timeouts():
    client = BrevoClient("xkeysib-test")  # the defaults, as a connection's client is built
    assert client.worst_case_request_seconds == (4 + 1) * (120 + 5 + 30) == 775
    fast = BrevoClient("xkeysib-test", retry=RetryPolicy(max_retries=1, max_rate_limit_wait=2), timeout=3)
    assert fast.worst_case_request_seconds == 2 * (30 + 3 + 3)


# -- lists, attributes, events, imports ---------------------------------------------------------


def test_add_contacts_to_list_chunks_at_150(brevo_client, brevo_sim):
    emails = [f"user{i}@example.com" for i in range(320)]
    pid = brevo_client.import_contacts([{"email": e} for e in emails], [10])
    brevo_client.wait_for_process(pid, poll_interval=0.01)

    result = brevo_client.add_contacts_to_list(11, emails)
    assert brevo_sim.count(r"POST /v3/contacts/lists/11/contacts/add") == 3
    bodies = [r.json()["emails"] for r in brevo_sim.requests if r.path.endswith("/11/contacts/add")]
    assert [len(b) for b in bodies] == [150, 150, 20]
    assert len(result["success"]) == 320 and result["failure"] == []
    assert len(brevo_sim.list_members(11)) == 320


def test_add_contacts_to_list_already_in_list_is_not_an_error(brevo_client):
    brevo_client.upsert_contact("a@example.com", list_ids=[12])
    result = brevo_client.add_contacts_to_list(12, ["a@example.com", "ghost@example.com"])
    assert result == {"success": [], "failure": ["a@example.com", "ghost@example.com"]}
    with pytest.raises(BrevoNotFound, match="List ID not found"):
        brevo_client.add_contacts_to_list(999, ["a@example.com"])


def test_attributes_list_and_create_date(brevo_client, brevo_sim):
    brevo_client.create_attribute("meeting_date", "date")
    attrs = {a["name"]: a for a in brevo_client.list_attributes()}
    assert attrs["MEETING_DATE"] == {"name": "MEETING_DATE", "category": "normal", "type": "date"}
    with pytest.raises(BrevoValidationError, match="must be unique"):
        brevo_client.create_attribute("MEETING_DATE", "date")

    brevo_client.upsert_contact("a@example.com", {"MEETING_DATE": "2025-03-14"})
    assert brevo_sim.get_contact("a@example.com")["attributes"]["MEETING_DATE"] == "2025-03-14"
    with pytest.raises(BrevoValidationError, match="MEETING_DATE"):
        brevo_client.upsert_contact("a@example.com", {"MEETING_DATE": "14.03.2025"})


def test_lists_and_folders_paginate(brevo_client):
    folder = brevo_client.create_folder("Connector")
    assert any(f["id"] == folder for f in brevo_client.list_folders())
    created = [brevo_client.create_list(f"List {i}", folder) for i in range(60)]
    lists = brevo_client.list_lists()
    assert len(lists) == 63  # 3 seeded + 60
    assert set(created) <= {lst["id"] for lst in lists}


def test_send_event_is_stored_with_identifiers(brevo_client, brevo_sim):
    brevo_client.upsert_contact("jane@example.com")
    brevo_client.send_event(
        "calendly_booking_created",
        email="Jane@Example.com",
        event_date="2025-03-14T10:00:00+01:00",
        event_properties={"event_type": "30min-intro"},
        contact_properties={"FIRSTNAME": "Jane"},
    )
    [event] = brevo_sim.events
    assert event["event_name"] == "calendly_booking_created"
    assert event["identifiers"] == {"email_id": "jane@example.com"}
    assert event["event_properties"] == {"event_type": "30min-intro"}
    assert event["contact_id"] == brevo_sim.get_contact("jane@example.com")["id"]
    assert brevo_sim.get_contact("jane@example.com")["attributes"]["FIRSTNAME"] == "Jane"


def test_send_event_bad_name_is_typed_400(brevo_client, brevo_sim):
    with pytest.raises(BrevoValidationError) as info:
        brevo_client.send_event("booking.created", email="a@example.com")
    assert info.value.status == 400 and info.value.code == "invalid_parameter"
    assert brevo_sim.events == []


def test_send_events_batch(brevo_client, brevo_sim):
    ok = BrevoClient.build_event("booking_created", email="a@example.com")
    bad = BrevoClient.build_event("bad name", email="b@example.com")
    assert brevo_client.send_events_batch([ok, ok])["count"] == 2
    partial = brevo_client.send_events_batch([ok, bad])
    assert partial["successful_events"] == 1 and partial["errors"][0]["eventIndex"] == [1]
    assert len(brevo_sim.events) == 3


def test_import_and_process_polling(brevo_client, brevo_sim, brevo_clock):
    brevo_sim.import_delay_polls = 2
    brevo_sim.import_report = "counts"  # the SW2 report shape, with counts (the simulator's default is URLs)
    pid = brevo_client.import_contacts(
        [
            {"email": "A@example.com", "attributes": {"FIRSTNAME": "A"}},
            {"email": "b@example.com", "attributes": {"SMS": "12"}},  # invalid phone: counted, not fatal
            {"email": "c@example.com"},
        ],
        [12],
    )
    assert brevo_sim.get_contact("a@example.com") is None  # asynchronous: nothing yet
    process = brevo_client.wait_for_process(pid, poll_interval=2.0)
    assert process["status"] == "completed"
    assert process["info"]["import"]["new_contacts"] == 2
    assert process["info"]["import"]["invalid_sms"] == 1
    assert brevo_clock.sleeps.count(2.0) == 1 and 3.0 in brevo_clock.sleeps  # interval grows
    assert brevo_sim.get_contact("a@example.com")["listIds"] == [12]
    with pytest.raises(BrevoNotFound, match="Process ID not found"):
        brevo_client.get_process(999)


def test_polls_can_start_later_and_space_out_faster(brevo_client, brevo_sim, brevo_clock):
    """The import's schedule (push.bulk): no poll at once, then 1 s, ×2 (0.5, 1.5, 3.5, 7.5 s)."""
    brevo_sim.import_delay_polls = 3  # done at the 4th poll
    pid = brevo_client.import_contacts([{"email": "a@example.com"}], [12])
    before = len(brevo_clock.sleeps)
    outcome = brevo_client.wait_for_processes([pid], first_poll=0.5, poll_interval=1.0, growth=2.0)
    assert outcome[pid]["status"] == "completed"
    assert brevo_clock.sleeps[before:] == [0.5, 1.0, 2.0, 4.0]


def test_wait_for_process_times_out(brevo_client, brevo_sim):
    brevo_sim.import_delay_polls = 1000
    pid = brevo_client.import_contacts([{"email": "a@example.com"}], [12])
    with pytest.raises(BrevoError, match="still"):
        brevo_client.wait_for_process(pid, poll_interval=1.0, timeout=10)


# -- pacing ---------------------------------------------------------------------------------------


def test_client_pacing_avoids_brevo_429s_for_real(make_brevo_sim):
    sim = make_brevo_sim(rate_limit_per_second=10)
    client = BrevoClient(SANDBOX_API_KEY, f"{sim.url}/v3")  # default pacing, real clock and sleep
    started = time.monotonic()
    for i in range(30):
        client.upsert_contact(f"user{i}@example.com")
    elapsed = time.monotonic() - started
    assert sim.rate_limited == 0 and client.stats.rate_limited == 0
    assert len(sim.contacts) == 30
    assert elapsed >= 2.9  # pacing really spaced the calls


def test_unpaced_client_trips_the_simulated_limit(make_brevo_sim):
    sim = make_brevo_sim(rate_limit_per_second=10)
    client = BrevoClient(
        SANDBOX_API_KEY,
        f"{sim.url}/v3",
        requests_per_second=None,
        sleep=lambda s: None,
        retry=RetryPolicy(max_retries=0),
    )
    with pytest.raises(BrevoRateLimited) as info:
        for i in range(15):
            client.upsert_contact(f"user{i}@example.com")
    assert info.value.code == "too_many_requests"
    assert sim.rate_limited == 1


def test_session_is_injectable_and_headers_are_sent(make_brevo_client, brevo_sim):
    session = requests.Session()
    client = make_brevo_client(session=session)
    client.list_lists()
    req = brevo_sim.requests[-1]
    assert req.headers["api-key"] == SANDBOX_API_KEY
    assert req.headers["accept"] == "application/json"
    assert req.headers["content-type"] == "application/json"


def test_delete_contact_by_email(brevo_client, brevo_sim):
    """``DELETE /contacts/{email}?identifierType=email_id``: a plus-address or an all-digit local part is an email."""
    for email in ("Levi+Calendly@Example.com", "12345@example.com"):
        brevo_client.upsert_contact(email)
        brevo_client.delete_contact(email)
        assert brevo_sim.get_contact(email.lower()) is None
        with pytest.raises(BrevoNotFound):
            brevo_client.delete_contact(email)
    deletes = [r for r in brevo_sim.requests if r.method == "DELETE"]
    assert [r.path for r in deletes[:2]] == ["/v3/contacts/levi%2Bcalendly%40example.com"] * 2
    assert {r.q("identifierType") for r in deletes} == {"email_id"}


def test_iter_list_contacts_pages_through_a_list_and_an_unknown_list_is_not_found(brevo_client: Any) -> None:
    from calendly_sync.brevo.errors import BrevoNotFound

    list_id = brevo_client.create_list("Prospects", brevo_client.create_folder("Campaigns"))
    for i in range(7):
        brevo_client.upsert_contact(f"member{i}@example.com", list_ids=[list_id])
    brevo_client.upsert_contact("outsider@example.com")
    emails = [c["email"] for c in brevo_client.iter_list_contacts(list_id, page_size=3)]
    assert emails == [f"member{i}@example.com" for i in range(7)]
    assert brevo_client.get_list(list_id)["uniqueSubscribers"] == 7
    with pytest.raises(BrevoNotFound):
        list(brevo_client.iter_list_contacts(999))
    with pytest.raises(BrevoNotFound):
        brevo_client.get_list(999)
