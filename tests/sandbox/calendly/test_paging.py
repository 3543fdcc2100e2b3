"""Keyset pagination: shape, tokens bound to filters, count bounds, stability (sandbox/calendly/paging.py)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from calendly_sync.sandbox.calendly import CalendlySim
from calendly_sync.sandbox.calendly import seeding as calendly_data
from tests.fixtures_calendly import admin_context
from tests.sandbox.calendly.helpers import future, get


def test_pagination_shape_tokens_and_count_bounds(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    et = sim.add_event_type("Call")
    calendly_data.bulk_events(sim, 45, et["uri"])
    ctx = admin_context(sim)
    for bad in ("0", "101", "x"):
        assert get(sim, "/scheduled_events", user=ctx["user"], count=bad).status_code == 400
    first = get(sim, "/scheduled_events", user=ctx["user"], status="active").json()
    assert len(first["collection"]) == 20  # default count
    pag = first["pagination"]
    assert set(pag) == {"count", "next_page", "previous_page", "next_page_token", "previous_page_token"}
    assert pag["previous_page"] is None and pag["previous_page_token"] is None
    next_q = parse_qs(urlsplit(pag["next_page"]).query)
    assert next_q["user"] == [ctx["user"]] and next_q["status"] == ["active"]  # filters kept
    assert pag["next_page"].startswith(sim.url + "/scheduled_events?")
    seen = [e["uri"] for e in first["collection"]]
    url: str | None = pag["next_page"]
    while url:
        page = get(sim, url).json()
        seen += [e["uri"] for e in page["collection"]]
        url = page["pagination"]["next_page"]
    assert len(seen) == len(set(seen)) == 45
    assert page["pagination"]["next_page_token"] is None and page["pagination"]["next_page"] is None
    # previous page goes back
    prev = get(sim, page["pagination"]["previous_page"]).json()
    assert [e["uri"] for e in prev["collection"]] == seen[20:40]
    # a token reused with different filters is rejected
    resp = get(sim, "/scheduled_events", user=ctx["user"], page_token=pag["next_page_token"])
    assert resp.status_code == 400
    starts = [e["start_time"] for e in first["collection"]]
    assert starts == sorted(starts)


def test_keyset_pagination_is_stable_under_inserts(calendly_sim: CalendlySim) -> None:
    sim = calendly_sim
    et = sim.add_event_type("Call")
    calendly_data.bulk_events(sim, 30, et["uri"], start=future(10))
    ctx = admin_context(sim)
    first = get(sim, "/scheduled_events", user=ctx["user"], count=10).json()
    sim.book(et["uri"], "early@example.com", "Early Bird", future(2))  # sorts before the cursor
    rest = []
    token = first["pagination"]["next_page_token"]
    while token:
        page = get(sim, "/scheduled_events", user=ctx["user"], count=10, page_token=token).json()
        rest += page["collection"]
        token = page["pagination"]["next_page_token"]
    assert len(rest) == 20  # nothing skipped or repeated
