"""The Scheduling API and available times (sandbox/calendly/scheduling.py, event_types.py)."""

from __future__ import annotations

from datetime import timedelta

import requests

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


def _invitee_posts(sim: CalendlySim, n: int) -> list[int]:
    """``n`` bookings refused for their (empty) body: Calendly counts every request against the quota."""
    return [post(sim, "/invitees", {}).status_code for _ in range(n)]


def test_booking_quota_of_a_paid_plan_is_10_a_minute(calendly_sim: CalendlySim) -> None:
    assert _invitee_posts(calendly_sim, 10) == [400] * 10
    refused = post(calendly_sim, "/invitees", {})
    assert refused.status_code == 429
    assert refused.headers["X-RateLimit-Limit"] == "10" and refused.headers["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(refused.headers["X-RateLimit-Reset"]) <= 60 and "Retry-After" not in refused.headers
    assert "10 requests per user per minute" in refused.json()["message"]
    assert get(calendly_sim, "/users/me").status_code == 200  # the endpoint's own quota, not the general limit


def test_booking_quota_of_a_trial_is_5_a_day_and_enterprise_500_a_minute(calendly_sim: CalendlySim) -> None:
    calendly_sim.invitee_tier = "trial"
    assert _invitee_posts(calendly_sim, 6) == [400] * 5 + [429]
    assert int(post(calendly_sim, "/invitees", {}).headers["X-RateLimit-Reset"]) > 86000
    calendly_sim.invitee_tier = "enterprise"
    assert 429 not in _invitee_posts(calendly_sim, 20)
    calendly_sim.invitee_tier = None
    assert 429 not in _invitee_posts(calendly_sim, 20)


def test_answers_outside_the_choices_or_not_a_phone_are_refused(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    et = sim.add_event_type(
        "Choices",
        [
            {"name": "Size", "type": "single_select", "answer_choices": ["S", "M"]},
            {"name": "Tags", "type": "multi_select", "answer_choices": ["a", "b"]},
            {"name": "Other", "type": "single_select", "answer_choices": ["x"], "include_other": True},
            {"name": "Phone", "type": "phone_number"},
        ],
    )
    start = weekday_future(4, hour=10)

    def book(answers: dict[str, str]) -> requests.Response:
        qas = [{"question": q, "answer": a, "position": i} for i, (q, a) in enumerate(answers.items())]
        body = {
            "event_type": et["uri"],
            "start_time": start.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "invitee": {"name": "Ada", "email": "ada@example.com", "timezone": "UTC"},
            "questions_and_answers": qas,
        }
        return post(sim, "/invitees", body)

    for answers in ({"Size": "XL"}, {"Tags": "a\nz"}, {"Phone": "call me"}, {"Size": 1}):
        resp = book(answers)  # type: ignore[arg-type]
        assert resp.status_code == 400, answers
        assert resp.json()["details"][0]["parameter"] == "questions_and_answers"
    assert book({"Size": "M", "Tags": "a\nb", "Other": "free text", "Phone": "+1 404 555 0100"}).status_code == 201


def test_booking_through_a_single_use_link_records_its_prefill_and_tracking_once(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    et = sim.add_event_type("Discovery", [], fire_webhooks=False)
    link = post(sim, "/scheduling_links", {"max_event_count": 1, "owner": et["uri"], "owner_type": "EventType"})
    url = link.json()["resource"]["booking_url"] + "?name=Ada%20Lovelace&email=ada%40example.com&utm_content=cbl-t0k"
    booked = requests.post(f"{sim.url}/_sim/book_link", json={"url": url}, timeout=5)
    assert booked.status_code == 201, booked.text
    inv = booked.json()["resource"]
    assert (inv["email"], inv["name"]) == ("ada@example.com", "Ada Lovelace")
    assert inv["tracking"]["utm_content"] == "cbl-t0k" and inv["tracking"]["utm_source"] is None
    again = requests.post(f"{sim.url}/_sim/book_link", json={"url": url}, timeout=5)
    assert again.status_code == 400 and "already been used" in again.json()["message"]
    unknown = requests.post(f"{sim.url}/_sim/book_link", json={"url": "https://calendly.com/d/none"}, timeout=5)
    assert unknown.status_code == 400 and "no scheduling link" in unknown.json()["message"]
    assert requests.post(f"{sim.url}/_sim/book_link", json={}, timeout=5).status_code == 400
