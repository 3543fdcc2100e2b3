"""The booking page (/book/<uuid>/), over real HTTP to the Calendly simulator.

Posts go through a client that enforces Django's CSRF checks and holds no cookie: the page must
work as it does in a cross-site iframe, with its signed form token only.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core import signing
from django.test import Client

from calendly_sync.booking_page import forms as page_forms
from calendly_sync.booking_page.slots import day_label
from calendly_sync.models import BookingCall, Connection
from calendly_sync.scheduling.errors import InvalidRequest
from calendly_sync.scheduling.pacing import quota_key
from calendly_sync.scheduling.service import choose_connection
from tests.api.conftest import iso, slot
from tests.booking_page.conftest import day_sections, form_token, uuid_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def visitor() -> Client:
    """A browser in someone else's iframe: Django's CSRF checks on, no cookie ever sent back."""
    return Client(enforce_csrf_checks=True)


def posts(sim: Any) -> int:
    return int(sim.calls["POST /invitees"])


def text(resp: Any) -> str:
    return unescape(resp.content.decode())


def answers_form(token: str, start: datetime, tz: str = "Europe/London", **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "token": token,
        "tz": tz,
        "start_time": iso(start),
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "location": "physical",
        "q0": "Analytical Engines",
        "q1": "11-50",
        "q2": ["API", "Billing"],
        "q3": "+44 20 7946 0000",
        "q4": "First line\nSecond line",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def open_page(visitor: Client, uuid: str, query: str = "?tz=Europe/London") -> tuple[Any, str]:
    resp = visitor.get(f"/book/{uuid}/{query}")
    assert resp.status_code == 200, resp.content
    return resp, form_token(resp.content.decode())


# -- the page ---------------------------------------------------------------------------------
def test_the_page_shows_the_event_type_its_questions_and_times_in_the_visitors_zone(
    connection: Connection, visitor: Client, page_type: dict[str, Any]
) -> None:
    uuid = uuid_of(page_type)
    start = slot(3, hour=14)
    resp = visitor.get(f"/book/{uuid}/?tz=America/New_York")
    assert resp.status_code == 200 and resp["Content-Type"].startswith("text/html")
    html = text(resp)
    assert "<h1>Page Demo</h1>" in html and "30 minutes" in html
    local = start.astimezone(ZoneInfo("America/New_York"))
    days = dict(day_sections(html))
    assert iso(start) in days[day_label(local.date())]
    label = re.search(rf'value="{iso(start)}".*?<label[^>]*>(.*?)</label>', html, re.DOTALL)
    assert label and label.group(1).endswith(f"{local:%H:%M}") and f"{local:%H:%M}" != f"{start:%H:%M}"
    assert "(shown in America/New_York)" in html and '<option value="America/New_York" selected>' in html
    # one control per question type; the disabled question is not asked
    assert re.search(r'<input type="text" name="q0"[^>]*required', html)
    assert html.count('type="radio" name="q1"') == 3 and html.count('type="checkbox" name="q2"') == 3
    assert re.search(r'<input type="tel" name="q3"', html) and re.search(r'<textarea name="q4"', html)
    assert "Old question" not in html and 'Anything else? <span class="optional">(optional)</span>' in html
    assert 'type="radio" name="location" value="physical"' in html and "In person: 1 Main St" in html
    # its own assets, no CDN
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:css|js))"', html)
    assert sorted(assets) == [f"/static/calendly_sync/booking_page/book.{ext}" for ext in ("css", "js")]
    assert "data-detect-tz" not in html  # the zone was given


def test_times_are_grouped_by_the_visitors_local_day(
    connection: Connection, visitor: Client, sims: Any, page_type: dict[str, Any]
) -> None:
    calendly_sim, _ = sims
    uuid = uuid_of(page_type)
    zone = ZoneInfo("Pacific/Kiritimati")  # UTC+14: 09:00–17:00 UTC spans two local days
    html = text(visitor.get(f"/book/{uuid}/?tz=Pacific/Kiritimati"))
    sections = day_sections(html)
    now = datetime.now(UTC)
    first_local = now.astimezone(zone).date()
    end = datetime.combine(first_local + timedelta(days=14), datetime.min.time(), zone)
    expected: dict[str, list[str]] = {}
    utc_days = set()
    for t, _ in calendly_sim._slots(calendly_sim.event_types[uuid], now.timestamp(), end.timestamp()):
        moment = datetime.fromtimestamp(t, UTC)
        utc_days.add(moment.date())
        expected.setdefault(day_label(moment.astimezone(zone).date()), []).append(iso(moment))
    assert sections == list(expected.items())
    assert len(sections) > len(utc_days)  # each UTC working day is split over two local days
    assert all(values == sorted(values) for _, values in sections)


def test_without_a_zone_the_page_shows_utc_and_asks_the_browser(
    connection: Connection, visitor: Client, page_type: dict[str, Any]
) -> None:
    html = text(visitor.get(f"/book/{uuid_of(page_type)}/"))
    assert "data-detect-tz" in html and "(shown in UTC)" in html and 'name="tz" value="UTC"' in html


def test_an_unknown_zone_says_so_and_shows_utc(
    connection: Connection, visitor: Client, page_type: dict[str, Any]
) -> None:
    resp = visitor.get(f"/book/{uuid_of(page_type)}/?tz=Mars/Olympus_Mons")
    assert resp.status_code == 200
    html = text(resp)
    assert "“Mars/Olympus_Mons” is not a time zone we know, so times are shown in UTC" in html
    assert "(shown in UTC)" in html and "data-detect-tz" not in html  # no reload loop
    long = visitor.get(f"/book/{uuid_of(page_type)}/?tz=" + "A/" * 200)
    assert long.status_code == 200 and "is not a time zone we know" in text(long)


def test_later_dates_page_forward_and_back(connection: Connection, visitor: Client, page_type: dict[str, Any]) -> None:
    uuid = uuid_of(page_type)
    html = text(visitor.get(f"/book/{uuid}/?tz=UTC"))
    later = re.search(r'<a href="(\?[^"]+)">Later dates', html)
    assert later and "from=" in later.group(1) and "Earlier dates" not in html
    first_days = day_sections(html)
    html2 = text(visitor.get(f"/book/{uuid}/{unescape(later.group(1))}"))
    assert "Earlier dates" in html2 and day_sections(html2)[0][0] not in dict(first_days)
    for bad in ("yesterday", "1999-01-01", "2999-01-01"):  # unreadable, past, too far: today
        assert day_sections(text(visitor.get(f"/book/{uuid}/?tz=UTC&from={bad}"))) == first_days


def test_an_unknown_or_malformed_event_type_is_a_404_page(connection: Connection, visitor: Client) -> None:
    for uuid in ("00000000-0000-4000-8000-000000000000", "not a uuid!", "x" * 300):
        resp = visitor.get(f"/book/{uuid}/")
        assert resp.status_code == 404, uuid
        assert "This meeting type does not exist." in text(resp)
        assert "frame-ancestors" in resp["Content-Security-Policy"] and "X-Frame-Options" not in resp


def test_an_inactive_event_type_is_a_404_page(connection: Connection, visitor: Client, sims: Any) -> None:
    calendly_sim, _ = sims
    retired = calendly_sim.add_event_type("Retired", [], active=False, fire_webhooks=False)
    assert visitor.get(f"/book/{uuid_of(retired)}/").status_code == 404


def test_the_connection_follows_the_apis_rules_without_naming_connections(
    connection: Connection, visitor: Client, page_type: dict[str, Any]
) -> None:
    from calendly_sync.sandbox.calendly import SANDBOX_TOKEN

    uuid = uuid_of(page_type)
    Connection.objects.create(name="secondary-secret-name", access_token=SANDBOX_TOKEN)
    Connection.objects.create(name="off", enabled=False, access_token=SANDBOX_TOKEN)
    ambiguous = visitor.get(f"/book/{uuid}/")
    assert ambiguous.status_code == 400 and "?connection=&lt;name&gt;" in ambiguous.content.decode()
    assert "secondary-secret-name" not in text(ambiguous)
    for name in ("nope", "off"):
        resp = visitor.get(f"/book/{uuid}/?connection={name}")
        assert resp.status_code == 404 and "This booking page does not exist." in text(resp)
    for name in ("%00", "secondary-secret-name%00"):  # PostgreSQL refused the lookup: a 500
        resp = visitor.get(f"/book/{uuid}/?connection={name}")
        assert resp.status_code == 404 and "This booking page does not exist." in text(resp)
    named = visitor.get(f"/book/{uuid}/?connection=secondary-secret-name&tz=UTC")
    assert named.status_code == 200
    assert 'action="?connection=secondary-secret-name&amp;tz=UTC"' in named.content.decode()


def test_no_connection_at_all_is_a_404_page(db: Any, visitor: Client) -> None:
    assert visitor.get("/book/00000000-0000-4000-8000-000000000000/").status_code == 404


def test_calendly_down_is_a_503_page_with_retry_after(
    connection: Connection, visitor: Client, sims: Any, page_type: dict[str, Any]
) -> None:
    calendly_sim, _ = sims
    calendly_sim.fail(500, times=None, route=r"^GET /event_type_available_times")
    resp = visitor.get(f"/book/{uuid_of(page_type)}/?tz=UTC")
    assert resp.status_code == 503 and resp["Retry-After"]
    assert "Booking is temporarily unavailable" in text(resp) and "Calendly could not" not in text(resp)


def test_other_methods_are_refused(connection: Connection, visitor: Client, page_type: dict[str, Any]) -> None:
    assert visitor.put(f"/book/{uuid_of(page_type)}/").status_code == 405
    assert visitor.head(f"/book/{uuid_of(page_type)}/").status_code == 200


# -- booking ------------------------------------------------------------------------------------
def test_a_booking_is_made_without_any_cookie_and_confirmed_with_its_links(
    connection: Connection, visitor: Client, sims: Any, page_type: dict[str, Any]
) -> None:
    calendly_sim, _ = sims
    uuid = uuid_of(page_type)
    start = slot(4, hour=11, minute=30)
    _, token = open_page(visitor, uuid)
    resp = visitor.post(f"/book/{uuid}/?tz=Europe/London", answers_form(token, start))
    assert resp.status_code == 200, text(resp)
    assert not visitor.cookies  # nothing to send back from a cross-site frame
    inv = next(i for i in calendly_sim.invitees.values() if i["email"] == "ada@example.com")
    html = text(resp)
    assert "You are booked" in html and "Page Demo" in html
    local = start.astimezone(ZoneInfo("Europe/London"))
    assert f"{day_label(local.date())}, {local:%H:%M}–" in html and "(Europe/London)" in html
    assert f'href="{inv["cancel_url"]}"' in resp.content.decode() and inv["cancel_url"]
    assert f'href="{inv["reschedule_url"]}"' in resp.content.decode() and inv["reschedule_url"]
    assert inv["scheduling_method"] == "api" and inv["name"] == "Ada Lovelace" and inv["timezone"] == "Europe/London"
    assert inv["questions_and_answers"] == [
        {"question": "Company name", "answer": "Analytical Engines", "position": 0},
        {"question": "Team size", "answer": "11-50", "position": 1},
        {"question": "Topics", "answer": "API\nBilling", "position": 2},
        {"question": "Phone", "answer": "+442079460000", "position": 3},
        {"question": "Anything else?", "answer": "First line\nSecond line", "position": 4},
    ]
    assert calendly_sim.events[inv["_event"]]["location"] == {"type": "physical", "location": "1 Main St"}
    assert posts(calendly_sim) == 1 and BookingCall.objects.count() == 1


def test_sending_the_same_form_again_shows_the_confirmation_without_booking_twice(
    connection: Connection, visitor: Client, sims: Any, page_type: dict[str, Any]
) -> None:
    calendly_sim, _ = sims
    uuid = uuid_of(page_type)
    _, token = open_page(visitor, uuid)
    body = answers_form(token, slot(4, hour=15))
    first = visitor.post(f"/book/{uuid}/", body)
    again = visitor.post(f"/book/{uuid}/", body)
    assert first.status_code == again.status_code == 200 and "You are booked" in text(again)
    assert posts(calendly_sim) == 1


def assert_kept(html: str, start: datetime) -> None:
    """The visitor's input is still in the form."""
    assert 'name="name" value="Ada Lovelace"' in html and 'name="email" value="ada@example.com"' in html
    assert 'name="q0" value="Analytical Engines"' in html
    assert re.search(r'name="q1" value="11-50"[^>]*checked', html)
    assert re.search(r'name="q2" value="Billing"[^>]*checked', html) and re.search(
        r'name="q2" value="API"[^>]*checked', html
    )
    assert not re.search(r'name="q2" value="Onboarding"[^>]*checked', html)
    assert ">\nFirst line\nSecond line</textarea>" in html
    assert re.search(r'name="location" value="physical"[^>]*checked', html)


def test_an_invalid_answer_re_renders_the_form_with_the_message_and_the_input_kept(
    connection: Connection, visitor: Client, sims: Any, page_type: dict[str, Any]
) -> None:
    calendly_sim, _ = sims
    uuid = uuid_of(page_type)
    start = slot(4, hour=10)
    _, token = open_page(visitor, uuid)
    resp = visitor.post(f"/book/{uuid}/", answers_form(token, start, q3="call me"))
    assert resp.status_code == 400
    html = text(resp)
    assert re.search(r'<input type="tel" name="q3" value="call me"[^>]*aria-invalid="true"', html)
    error = re.search(r'<p class="field-error" id="id_q3_error">(.*?)</p>', html)
    assert error and "not a valid phone number" in error.group(1)
    assert "Please check the highlighted fields." in html
    assert_kept(html, start)
    assert re.search(rf'value="{iso(start)}"[^>]*checked', html)  # the time picked stays picked, its day open
    [open_day] = re.findall(r'<details class="day" open>.*?</details>', html, re.DOTALL)
    assert iso(start) in open_day
    assert form_token(html) != token  # a fresh token for the next try
    assert posts(calendly_sim) == 0 and BookingCall.objects.count() == 0


def test_a_required_answer_and_a_time_are_asked_for(
    connection: Connection, visitor: Client, sims: Any, page_type: dict[str, Any]
) -> None:
    calendly_sim, _ = sims
    uuid = uuid_of(page_type)
    _, token = open_page(visitor, uuid)
    resp = visitor.post(f"/book/{uuid}/", answers_form(token, slot(4), q0="", start_time=None, q1="200"))
    assert resp.status_code == 400
    html = text(resp)
    assert re.search(r'id="id_q0_error">This field is required.', html)
    assert re.search(r'id="id_q1_error">Select a valid choice. 200 is not one of the available choices.', html)
    assert 'id="start-time-error">Pick a time.' in html
    assert 'name="email" value="ada@example.com"' in html
    not_a_time = visitor.post(f"/book/{uuid}/", answers_form(form_token(html), slot(4), start_time="soon"))
    assert not_a_time.status_code == 400 and "Pick one of the times shown." in text(not_a_time)
    assert posts(calendly_sim) == 0


def test_a_slot_just_taken_re_renders_the_form_saying_so(
    connection: Connection, visitor: Client, sims: Any, page_type: dict[str, Any]
) -> None:
    calendly_sim, _ = sims
    uuid = uuid_of(page_type)
    start = slot(5, hour=14)
    _, token = open_page(visitor, uuid)
    calendly_sim.book(page_type["uri"], "someone@example.com", "Someone Else", start, fire_webhooks=False)
    resp = visitor.post(f"/book/{uuid}/", answers_form(token, start))
    assert resp.status_code == 409
    html = text(resp)
    assert "Sorry, that time was just taken. Please pick another time." in html
    local = start.astimezone(ZoneInfo("Europe/London"))
    assert f"{day_label(local.date())}, {local:%H:%M} is no longer open." in html
    assert f'value="{iso(start)}"' not in html  # no longer offered
    assert_kept(html, start)


def test_a_used_up_quota_re_renders_the_form_with_the_time_to_wait(
    connection: Connection, visitor: Client, sims: Any, page_type: dict[str, Any]
) -> None:
    calendly_sim, _ = sims
    uuid = uuid_of(page_type)
    _, token = open_page(visitor, uuid)
    first = visitor.post(f"/book/{uuid}/", answers_form(token, slot(6, hour=9), email="first@example.com"))
    assert first.status_code == 200
    connection.refresh_from_db()
    now = datetime.now(UTC)
    BookingCall.objects.bulk_create(  # nine more this minute: the paid plan's 10 a minute are used
        BookingCall(calendly_user=quota_key(connection), connection=connection, created_at=now) for _ in range(9)
    )
    _, token = open_page(visitor, uuid)
    start = slot(6, hour=11)
    resp = visitor.post(f"/book/{uuid}/", answers_form(token, start))
    assert resp.status_code == 429 and 1 <= int(resp["Retry-After"]) <= 60
    html = text(resp)
    assert re.search(r"Too many bookings are being made right now. Please try again in \d+ seconds.", html)
    assert_kept(html, start)
    assert posts(calendly_sim) == 1  # the refused one never reached Calendly


def test_a_missing_scope_re_renders_the_form_naming_it(
    connection: Connection, visitor: Client, sims: Any, page_type: dict[str, Any]
) -> None:
    calendly_sim, _ = sims
    calendly_sim.add_token(
        "read-only-token", calendly_sim.admin["uri"], scopes={"users:read", "event_types:read", "scheduled_events:read"}
    )
    connection.access_token = "read-only-token"
    connection.save()
    uuid = uuid_of(page_type)
    start = slot(4, hour=9)
    _, token = open_page(visitor, uuid)
    resp = visitor.post(f"/book/{uuid}/", answers_form(token, start))
    assert resp.status_code == 403
    html = text(resp)
    assert "missing the permission scheduled_events:write" in html and "let the site owner know" in html
    assert_kept(html, start)


# -- the form token ---------------------------------------------------------------------------
def test_a_post_without_a_valid_token_is_refused(
    connection: Connection, visitor: Client, sims: Any, page_type: dict[str, Any], event_types: Any
) -> None:
    calendly_sim, _ = sims
    uuid = uuid_of(page_type)
    other = page_forms.issue_token(uuid_of(event_types["demo"]))
    for token in ("", "forged", other, form_token(open_page(visitor, uuid)[0].content.decode()) + "x"):
        resp = visitor.post(f"/book/{uuid}/", answers_form(token, slot(4)))
        assert resp.status_code == 403, token
        assert "could not be verified" in text(resp)
    assert posts(calendly_sim) == 0


def test_an_expired_form_is_shown_again_with_the_input_kept(
    connection: Connection, visitor: Client, sims: Any, page_type: dict[str, Any], monkeypatch: Any
) -> None:
    calendly_sim, _ = sims
    uuid = uuid_of(page_type)
    issued_at = signing.TimestampSigner().timestamp()
    monkeypatch.setattr(
        signing.TimestampSigner,
        "timestamp",
        lambda self: signing.b62_encode(signing.b62_decode(issued_at) - page_forms.FORM_MAX_AGE - 5),
    )
    old = page_forms.issue_token(uuid)
    monkeypatch.undo()
    start = slot(4, hour=13)
    resp = visitor.post(f"/book/{uuid}/", answers_form(old, start))
    assert resp.status_code == 400
    html = text(resp)
    assert "This form was open for too long" in html
    assert_kept(html, start)
    assert posts(calendly_sim) == 0
    again = visitor.post(f"/book/{uuid}/", answers_form(form_token(html), start))
    assert again.status_code == 200 and "You are booked" in text(again)


# -- framing ----------------------------------------------------------------------------------
def test_only_the_booking_page_may_be_framed_and_only_by_the_configured_origins(
    connection: Connection, visitor: Client, page_type: dict[str, Any], settings: Any, admin_client: Client
) -> None:
    uuid = uuid_of(page_type)
    default = visitor.get(f"/book/{uuid}/?tz=UTC")
    assert "X-Frame-Options" not in default
    csp = default["Content-Security-Policy"]
    assert csp.endswith("; frame-ancestors 'self'") and "default-src 'self'" in csp
    settings.BOOKING_FRAME_ANCESTORS = ["https://shop.example.com", " http://localhost:8080/ ", "https://evil.com;x"]
    configured = visitor.get(f"/book/{uuid}/?tz=UTC")
    assert configured["Content-Security-Policy"].endswith(
        "; frame-ancestors 'self' https://shop.example.com http://localhost:8080"
    )
    _, token = open_page(visitor, uuid)
    booked = visitor.post(f"/book/{uuid}/", answers_form(token, slot(4, hour=16)))
    assert booked.status_code == 200 and "X-Frame-Options" not in booked
    assert "http://localhost:8080" in booked["Content-Security-Policy"]
    for path in ("/admin/login/", "/api/docs/", "/healthz", "/webhooks/calendly/"):
        resp = (admin_client if path.startswith("/api") else Client()).get(path)
        assert resp["X-Frame-Options"] == "DENY", path
        assert "frame-ancestors" not in resp.get("Content-Security-Policy", ""), path


def test_an_unknown_zone_in_a_post_books_in_utc_and_says_so(
    connection: Connection, visitor: Client, sims: Any, page_type: dict[str, Any]
) -> None:
    calendly_sim, _ = sims
    uuid = uuid_of(page_type)
    _, token = open_page(visitor, uuid)
    start = slot(4, hour=12)
    resp = visitor.post(f"/book/{uuid}/", answers_form(token, start, tz="Europe/Nowhere\x00" + "x" * 100))
    assert resp.status_code == 200 and "You are booked" in text(resp)
    assert f"{start:%H:%M}–" in text(resp) and "(UTC)" in text(resp)
    assert next(iter(calendly_sim.invitees.values()))["timezone"] == "UTC"


def test_a_connection_name_no_database_can_store_is_refused_before_the_query(connection: Connection) -> None:
    """The scheduling service's check, which the booking page and the API share (PostgreSQL refuses NUL)."""
    for name in ("default\x00", "\udcff"):
        with pytest.raises(InvalidRequest) as refused:
            choose_connection(name)
        assert refused.value.errors["connection"].startswith("the name contains")


def test_an_event_type_no_page_can_show_is_a_404(connection: Connection, visitor: Client, sims: Any) -> None:
    """Its name from Calendly holds an unpaired surrogate: the page could not be encoded (a 500)."""
    calendly_sim, _ = sims
    odd = calendly_sim.add_event_type("Bad \ud800 type", fire_webhooks=False)
    resp = visitor.get(f"/book/{uuid_of(odd)}/")
    assert resp.status_code == 404 and "This meeting type does not exist." in text(resp)
