"""The Scheduling API and available times (sandbox/calendly/scheduling.py, event_types.py)."""

from __future__ import annotations

from datetime import timedelta

from calendly_sync.sandbox.calendly import CalendlySim
from tests.sandbox.calendly.helpers import get, post, weekday_future


def test_scheduling_api_and_available_times(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    et = sim.add_event_type("Discovery", [{"name": "Company name", "required": True}], split_name=True)
    start = weekday_future(3, hour=10)
    end = start + timedelta(days=1)
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ"
    assert get(sim, "/event_type_available_times", event_type=et["uri"]).status_code == 400
    too_long = get(
        sim,
        "/event_type_available_times",
        event_type=et["uri"],
        start_time=start.strftime(fmt),
        end_time=(start + timedelta(days=32)).strftime(fmt),
    )
    assert too_long.status_code == 400
    times = get(
        sim,
        "/event_type_available_times",
        event_type=et["uri"],
        start_time=start.strftime(fmt),
        end_time=end.strftime(fmt),
    ).json()
    assert set(times) == {"collection"}
    slot = times["collection"][0]["start_time"]
    assert slot == start.strftime(fmt)
    body = {
        "event_type": et["uri"],
        "start_time": slot,
        "invitee": {"name": "Ada Lovelace", "email": "ada@example.com", "timezone": "Europe/London"},
        "questions_and_answers": [{"question": "company name", "answer": "x", "position": 0}],
    }
    bad = post(sim, "/invitees", body)
    assert bad.status_code == 400  # question text must match exactly (case-sensitive)
    body["questions_and_answers"][0]["question"] = "Company name"
    ok = post(sim, "/invitees", body)
    assert ok.status_code == 201, ok.text
    inv = ok.json()["resource"]
    assert inv["scheduling_method"] == "api"
    assert (inv["first_name"], inv["last_name"]) == ("Ada", "Lovelace")  # split-name event type
    assert post(sim, "/invitees", body).status_code == 400  # the slot is taken now
    link = post(sim, "/scheduling_links", {"max_event_count": 1, "owner": et["uri"], "owner_type": "EventType"})
    assert link.status_code == 201 and link.json()["resource"]["booking_url"].startswith("https://calendly.com/d/")
