"""The scheduling API (calendly_sync/api), over real HTTP to the Calendly simulator."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from rest_framework.test import APIClient

from calendly_sync.models import BookingCall, Connection
from tests.api.conftest import iso, slot

pytestmark = pytest.mark.django_db


def posts(sim: Any, path: str) -> int:
    return sim.calls[f"POST {path}"]


# -- access ----------------------------------------------------------------------------------
def test_no_credentials_is_a_401_asking_for_a_token(connection: Connection) -> None:
    resp = APIClient().get("/api/event-types/")
    assert resp.status_code == 401
    assert resp["WWW-Authenticate"] == "Token"
    assert resp.json()["code"] == "not_authenticated"


def test_a_wrong_token_is_a_401(connection: Connection) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef")
    assert client.get("/api/event-types/").status_code == 401


def test_a_session_must_be_staff(connection: Connection, django_user_model: Any) -> None:
    user = django_user_model.objects.create_user("someone", password="pw")
    client = APIClient()
    client.force_login(user)
    assert client.get("/api/event-types/").status_code == 403
    user.is_staff = True
    user.save()
    assert client.get("/api/event-types/").status_code == 200


def test_a_session_needs_the_csrf_token_to_book(connection: Connection, admin_user: Any, booking_body: Any) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(admin_user)
    resp = client.post("/api/bookings/", booking_body(), format="json")
    assert resp.status_code == 403 and "CSRF" in resp.json()["detail"]


def test_an_inactive_users_token_is_refused(connection: Connection, api: APIClient, api_user: Any) -> None:
    api_user.is_active = False
    api_user.save()
    assert api.get("/api/event-types/").status_code in (401, 403)


def test_drf_create_token_makes_a_working_key(connection: Connection, api_user: Any) -> None:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("drf_create_token", api_user.username, stdout=out)
    key = out.getvalue().split()[2]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/event-types/").status_code == 200


# -- which connection --------------------------------------------------------------------------
def test_the_connection_may_be_left_out_when_only_one_is_enabled(
    connection: Connection, api: APIClient, django_user_model: Any
) -> None:
    Connection.objects.create(name="old", enabled=False)
    assert api.get("/api/event-types/").status_code == 200


def test_two_enabled_connections_must_be_told_apart(connection: Connection, api: APIClient) -> None:
    from calendly_sync.sandbox.calendly import SANDBOX_TOKEN

    Connection.objects.create(name="second", access_token=SANDBOX_TOKEN)
    resp = api.get("/api/event-types/")
    assert resp.status_code == 400
    body = resp.json()
    assert body["code"] == "invalid" and "default" in body["detail"] and "second" in body["detail"]
    assert "?connection=" in body["errors"]["connection"][0]
    assert api.get("/api/event-types/?connection=second").status_code == 200


def test_an_unknown_or_disabled_connection_is_a_400(connection: Connection, api: APIClient) -> None:
    Connection.objects.create(name="off", enabled=False)
    unknown = api.get("/api/event-types/?connection=nope")
    assert unknown.status_code == 400 and "no connection is named 'nope'" in unknown.json()["detail"]
    off = api.get("/api/event-types/?connection=off")
    assert off.status_code == 400 and "disabled" in off.json()["detail"]


def test_the_connection_can_be_named_in_the_body(connection: Connection, api: APIClient, demo_type: Any) -> None:
    from calendly_sync.sandbox.calendly import SANDBOX_TOKEN

    Connection.objects.create(name="second", access_token=SANDBOX_TOKEN)
    body = {"event_type": demo_type["uri"], "connection": "second"}
    assert api.post("/api/scheduling-links/", body, format="json").status_code == 201
    del body["connection"]
    assert api.post("/api/scheduling-links/", body, format="json").status_code == 400


# -- event types -----------------------------------------------------------------------------
def test_event_types_lists_the_active_ones_with_their_questions(
    connection: Connection, api: APIClient, sims: Any, demo_type: Any
) -> None:
    calendly_sim, _ = sims
    calendly_sim.add_event_type("Retired", [], active=False, fire_webhooks=False)
    resp = api.get("/api/event-types/")
    assert resp.status_code == 200
    items = resp.json()["collection"]
    names = [item["name"] for item in items]
    assert names == sorted(names, key=str.casefold) and "Retired" not in names
    demo = next(item for item in items if item["name"] == "API Demo")
    assert set(demo) == {
        "uri",
        "uuid",
        "name",
        "slug",
        "duration",
        "scheduling_url",
        "locations",
        "custom_questions",
    }
    assert demo["uri"] == demo_type["uri"] and demo_type["uri"].endswith("/" + demo["uuid"])
    assert demo["duration"] == 30 and demo["slug"] == "api-demo"
    assert demo["locations"] == [{"kind": "zoom_conference"}, {"kind": "physical", "location": "1 Main St"}]

    def question(name: str, kind: str, position: int, required: bool = False, choices: Any = ()) -> dict[str, Any]:
        return dict(name=name, type=kind, required=required, answer_choices=list(choices), position=position)

    assert demo["custom_questions"] == [  # the disabled question is not asked
        question("Company name", "string", 0, required=True),
        question("Team size", "single_select", 1, choices=["1-10", "11-50", "51+"]),
        question("Topics", "multi_select", 2, choices=["Billing", "Onboarding", "API"]),
        question("Phone", "phone_number", 3),
    ]


# -- open times ------------------------------------------------------------------------------
def _available(api: APIClient, uuid: str, start: Any, end: Any, **extra: str) -> Any:
    params = {"start_time": iso(start), "end_time": iso(end), **extra}
    return api.get(f"/api/event-types/{uuid}/available-times/", params)


def test_a_range_longer_than_calendly_accepts_is_split_and_merged_in_order(
    connection: Connection, api: APIClient, sims: Any, demo_type: Any
) -> None:
    calendly_sim, _ = sims
    uuid = demo_type["uri"].rsplit("/", 1)[-1]
    start = slot(2, hour=0) - timedelta(hours=1)
    end = start + timedelta(days=70)
    resp = _available(api, uuid, start, end)
    assert resp.status_code == 200, resp.content
    got = [s["start_time"] for s in resp.json()["collection"]]
    assert calendly_sim.calls["GET /event_type_available_times"] == 3  # 31 + 31 + 8 days
    expected = [t for t, _ in calendly_sim._slots(calendly_sim.event_types[uuid], start.timestamp(), end.timestamp())]
    assert len(got) == len(expected) == len(set(got)) and got == sorted(got)
    first = resp.json()["collection"][0]
    assert set(first) == {"start_time", "status", "invitees_remaining"}
    assert first["status"] == "available" and first["invitees_remaining"] == 1


def test_a_calendly_that_still_accepts_7_days_gets_7_day_windows(
    connection: Connection, api: APIClient, sims: Any, demo_type: Any
) -> None:
    calendly_sim, _ = sims
    calendly_sim.max_available_days = 7
    uuid = demo_type["uri"].rsplit("/", 1)[-1]
    start = slot(2, hour=0)
    resp = _available(api, uuid, start, start + timedelta(days=20))
    assert resp.status_code == 200, resp.content
    # one refused 31-day window, then 7 + 7 + 6 days
    assert calendly_sim.calls["GET /event_type_available_times"] == 4
    got = [s["start_time"] for s in resp.json()["collection"]]
    assert len(got) == len(set(got)) and got == sorted(got) and len(got) > 16 * 10


def test_open_times_check_the_range(connection: Connection, api: APIClient, demo_type: Any) -> None:
    uuid = demo_type["uri"].rsplit("/", 1)[-1]
    start = slot(2)
    backwards = _available(api, uuid, start, start - timedelta(hours=1))
    assert backwards.status_code == 400 and "end_time" in backwards.json()["errors"]
    too_long = _available(api, uuid, start, start + timedelta(days=400))
    assert too_long.status_code == 400 and "366 days" in too_long.json()["detail"]
    missing = api.get(f"/api/event-types/{uuid}/available-times/")
    assert missing.status_code == 400 and set(missing.json()["errors"]) == {"start_time", "end_time"}
    past = _available(api, uuid, start - timedelta(days=30), start + timedelta(days=1))
    assert past.status_code == 200  # a start in the past begins now
    far = api.get(
        f"/api/event-types/{uuid}/available-times/",
        {"start_time": "9999-12-30T00:00:00Z", "end_time": "9999-12-31T23:59:59Z"},
    )
    assert far.status_code == 200, far.content  # the last window ends at the range's end, not past year 9999
    beyond = api.get(
        f"/api/event-types/{uuid}/available-times/",
        {"start_time": "0001-01-01T00:00:00+01:00", "end_time": "9999-12-31T23:59:59-01:00"},
    )
    assert beyond.status_code == 400 and set(beyond.json()["errors"]) == {"start_time", "end_time"}


def test_open_times_of_an_unknown_event_type_are_a_404(connection: Connection, api: APIClient) -> None:
    start = slot(2)
    resp = _available(api, "00000000-0000-4000-8000-000000000000", start, start + timedelta(days=1))
    assert resp.status_code == 404 and resp.json()["code"] == "not_found"
    weird = _available(api, "not a uuid!", start, start + timedelta(days=1))
    assert weird.status_code == 400 and "uuid" in weird.json()["errors"]


# -- bookings --------------------------------------------------------------------------------
def test_a_booking_is_made_at_calendly(connection: Connection, api: APIClient, sims: Any, booking_body: Any) -> None:
    calendly_sim, _ = sims
    start = slot(4, hour=11, minute=30)
    answers = {"company name": "Analytical Engines", "Team size": "11-50", "Topics": ["api", "Billing"]}
    body = booking_body(
        start,
        answers={**answers, "Phone": "+44 20 7946 0000"},
        location={"kind": "physical"},
        tracking={"utm_source": "newsletter", "utm_campaign": "spring"},
        guests=["charles@example.com"],
    )
    resp = api.post("/api/bookings/", body, format="json")
    assert resp.status_code == 201, resp.content
    out = resp.json()
    assert set(out) == {"invitee_uri", "event_uri", "start_time", "end_time", "cancel_url", "reschedule_url"}
    assert out["start_time"] == iso(start) and out["end_time"] == iso(start + timedelta(minutes=30))
    inv = calendly_sim.invitees[out["invitee_uri"].rsplit("/", 1)[-1]]
    assert inv["scheduling_method"] == "api" and inv["email"] == "ada@example.com"
    assert inv["questions_and_answers"] == [
        {"question": "Company name", "answer": "Analytical Engines", "position": 0},
        {"question": "Team size", "answer": "11-50", "position": 1},
        {"question": "Topics", "answer": "API\nBilling", "position": 2},
        {"question": "Phone", "answer": "+442079460000", "position": 3},
    ]
    assert inv["tracking"]["utm_source"] == "newsletter" and inv["tracking"]["utm_medium"] is None
    event = calendly_sim.events[inv["_event"]]
    assert event["location"] == {"type": "physical", "location": "1 Main St"}
    assert [g["email"] for g in event["event_guests"]] == ["charles@example.com"]
    assert out["event_uri"].endswith(inv["_event"]) and out["cancel_url"] == inv["cancel_url"]
    assert BookingCall.objects.count() == 1


@pytest.mark.parametrize(
    ("answers", "field", "reason"),
    [
        ({"Team size": "11-50"}, "answers.Company name", "requires an answer"),
        ({"Company name": "  "}, "answers.Company name", "requires an answer"),
        ({"Company name": "X", "Team size": "200"}, "answers.Team size", "not one of the choices"),
        ({"Company name": "X", "Topics": ["API", "Sales"]}, "answers.Topics", "not one of the choices"),
        ({"Company name": "X", "Phone": "call me"}, "answers.Phone", "not a valid phone number"),
        ({"Company name": "X", "Budget": "1M"}, "answers.Budget", "no such question"),
        ({"Company name": "X", "Old question": "y"}, "answers.Old question", "no such question"),
        ({"Company name": {"nested": 1}}, "answers.Company name", "expected text"),
    ],
)
def test_answers_are_checked_before_calendly_is_called(
    connection: Connection, api: APIClient, sims: Any, booking_body: Any, answers: Any, field: str, reason: str
) -> None:
    calendly_sim, _ = sims
    resp = api.post("/api/bookings/", booking_body(answers=answers), format="json")
    assert resp.status_code == 400, resp.content
    body = resp.json()
    assert body["code"] == "invalid" and reason in body["errors"][field][0], body
    assert posts(calendly_sim, "/invitees") == 0 and BookingCall.objects.count() == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"location": {"kind": "google_conference"}}, "location.kind"),
        ({"invitee": {"name": "Ada", "email": "ada@example.com", "timezone": "Mars/Olympus"}}, "invitee.timezone"),
        ({"invitee": {"email": "ada@example.com", "timezone": "UTC"}}, "invitee.name"),
        ({"invitee": {"name": "Ada", "email": "not-an-email", "timezone": "UTC"}}, "invitee.email"),
        ({"start_time": "2001-01-01T10:00:00Z"}, "start_time"),
        ({"start_time": "soon"}, "start_time"),
        ({"guests": [f"g{i}@example.com" for i in range(11)]}, "guests"),
        ({"tracking": {"utm_sauce": "x"}}, "tracking.utm_sauce"),
        ({"answer": {}}, "answer"),
        ({"event_type": "https://api.calendly.com/users/me"}, "event_type"),
    ],
)
def test_bad_requests_name_the_field(
    connection: Connection, api: APIClient, sims: Any, booking_body: Any, change: Any, field: str
) -> None:
    calendly_sim, _ = sims
    resp = api.post("/api/bookings/", booking_body(**change), format="json")
    assert resp.status_code == 400, resp.content
    assert field in resp.json()["errors"], resp.json()
    assert posts(calendly_sim, "/invitees") == 0


def test_malformed_bodies_are_400_or_415(connection: Connection, api: APIClient) -> None:
    bad_json = api.post("/api/bookings/", data=b"{", content_type="application/json")
    assert bad_json.status_code == 400 and bad_json.json()["code"] == "parse_error"
    form = api.post("/api/bookings/", data="a=b", content_type="application/x-www-form-urlencoded")
    assert form.status_code == 415
    not_an_object = api.post("/api/bookings/", data=b"[1, 2]", content_type="application/json")
    assert not_an_object.status_code == 400


@pytest.mark.parametrize("escape", ["\\ud800", "\\uDFFF", "a\\u0000b"])
@pytest.mark.parametrize(
    "path,where",
    [
        ("/api/bookings/", "answer"),  # a JSONField: no CharField check
        ("/api/bookings/", "answer key"),
        ("/api/bookings/", "unknown field"),  # echoed in the error: was a 500 at the response's encoding
        ("/api/bookings/", "unknown invitee field"),
        ("/api/scheduling-links/", "unknown field"),
    ],
)
def test_strings_no_database_can_store_are_a_400_wherever_they_are(
    connection: Connection, api: APIClient, sims: Any, booking_body: Any, escape: str, path: str, where: str
) -> None:
    """NUL and an unpaired surrogate escape, in a value or a key: refused before Calendly is called."""
    calendly_sim, _ = sims
    body = booking_body()
    if path == "/api/scheduling-links/":
        body = {"event_type": body["event_type"]}
    marker = "MARKER-7f3a"
    if where == "answer":
        body["answers"]["Company name"] = marker
    elif where == "answer key":
        body["answers"][marker] = "x"
    elif where == "unknown field":
        body[marker] = 1
    else:
        body["invitee"][marker] = 1
    raw = json.dumps(body).replace(marker, escape).encode()
    resp = api.post(path, data=raw, content_type="application/json")
    assert resp.status_code == 400, resp.content
    assert resp.json()["code"] == "parse_error"
    assert resp.json()["detail"].startswith("JSON body contains")
    assert posts(calendly_sim, "/invitees") == 0


def test_a_taken_slot_is_a_409(connection: Connection, api: APIClient, sims: Any, booking_body: Any) -> None:
    start = slot(5, hour=14)
    assert api.post("/api/bookings/", booking_body(start), format="json").status_code == 201
    again = api.post(
        "/api/bookings/",
        booking_body(start, invitee={"name": "Bo", "email": "bo@example.com", "timezone": "UTC"}),
        format="json",
    )
    assert again.status_code == 409, again.content
    body = again.json()
    assert body["code"] == "slot_unavailable" and "start_time" in body["errors"]
    assert iso(start) in body["detail"]


def test_a_missing_scope_is_a_403_naming_it(
    connection: Connection, api: APIClient, sims: Any, booking_body: Any, demo_type: Any
) -> None:
    calendly_sim, _ = sims
    calendly_sim.add_token(
        "read-only-token", calendly_sim.admin["uri"], scopes={"users:read", "event_types:read", "scheduled_events:read"}
    )
    connection.access_token = "read-only-token"
    connection.save()
    resp = api.post("/api/bookings/", booking_body(), format="json")
    assert resp.status_code == 403, resp.content
    body = resp.json()
    assert body["code"] == "missing_scope" and body["missing_scopes"] == ["scheduled_events:write"]
    assert "scheduled_events:write" in body["detail"]
    link = api.post("/api/scheduling-links/", {"event_type": demo_type["uri"]}, format="json")
    assert link.status_code == 403 and link.json()["missing_scopes"] == ["scheduling_links:write"]


def test_the_connectors_own_pacing_answers_429_before_calendly_is_called(
    connection: Connection, api: APIClient, sims: Any, booking_body: Any
) -> None:
    calendly_sim, _ = sims
    for i in range(10):  # the paid plan: 10 a minute
        invitee = {"name": f"P{i}", "email": f"p{i}@example.com", "timezone": "UTC"}
        body = booking_body(slot(6, hour=9 + i // 2, minute=30 * (i % 2)), invitee=invitee)
        resp = api.post("/api/bookings/", body, format="json")
        assert resp.status_code == 201, resp.content
    resp = api.post("/api/bookings/", booking_body(slot(7, hour=9)), format="json")
    assert resp.status_code == 429
    body = resp.json()
    assert body["code"] == "quota_exceeded" and body["limited_by"] == "connector"
    assert 1 <= int(resp["Retry-After"]) <= 60 and body["retry_after"] == int(resp["Retry-After"])
    assert "10 per minute" in body["detail"]
    assert posts(calendly_sim, "/invitees") == 10  # the eleventh never reached Calendly


def test_a_trial_plan_allows_5_bookings_a_day(
    connection: Connection, api: APIClient, sims: Any, booking_body: Any
) -> None:
    connection.scheduling_plan = "trial"
    connection.save()
    for i in range(5):
        assert api.post("/api/bookings/", booking_body(slot(6, hour=9 + i)), format="json").status_code == 201
    resp = api.post("/api/bookings/", booking_body(slot(6, hour=15)), format="json")
    assert resp.status_code == 429 and 3600 < int(resp["Retry-After"]) <= 86400


def test_calendlys_own_429_comes_back_with_retry_after(
    connection: Connection, api: APIClient, sims: Any, booking_body: Any, client_sleeps: Any
) -> None:
    calendly_sim, _ = sims
    connection.scheduling_plan = "enterprise"  # the connector would allow 500 a minute; Calendly says 10
    connection.save()
    for i in range(10):
        body = booking_body(slot(8, hour=9 + i // 2, minute=30 * (i % 2)))
        assert api.post("/api/bookings/", body, format="json").status_code == 201
    resp = api.post("/api/bookings/", booking_body(slot(9, hour=9)), format="json")
    assert resp.status_code == 429, resp.content
    body = resp.json()
    assert body["limited_by"] == "calendly" and 1 <= int(resp["Retry-After"]) <= 60
    assert posts(calendly_sim, "/invitees") == 11
    assert not [s for s in client_sleeps.calls if s >= 1]  # answered at once, not waited out
    assert api.get("/api/event-types/").status_code == 200  # other calls are not blocked by the quota


def test_calendly_down_is_a_503_with_retry_after(
    connection: Connection, api: APIClient, sims: Any, booking_body: Any
) -> None:
    calendly_sim, _ = sims
    calendly_sim.fail(500, times=None, route=r"^POST /invitees")
    resp = api.post("/api/bookings/", booking_body(), format="json")
    assert resp.status_code == 503 and resp.json()["code"] == "calendly_unavailable" and resp["Retry-After"]
    assert posts(calendly_sim, "/invitees") == 1  # a booking is sent once


def test_a_connection_without_a_token_is_a_503_saying_so(
    connection: Connection, api: APIClient, booking_body: Any, settings: Any
) -> None:
    settings.CALENDLY_ACCESS_TOKEN = ""
    connection.access_token = ""
    connection.save()
    resp = api.post("/api/bookings/", booking_body(), format="json")
    assert resp.status_code == 503 and resp.json()["code"] == "connection_unusable"
    assert "no" in resp.json()["detail"].lower() and "token" in resp.json()["detail"].lower()


# -- scheduling links ------------------------------------------------------------------------
def test_a_single_use_link_carries_name_email_and_tracking(
    connection: Connection, api: APIClient, sims: Any, demo_type: Any
) -> None:
    calendly_sim, _ = sims
    body = {
        "event_type": demo_type["uri"].rsplit("/", 1)[-1],
        "prefill": {"name": "Ada Lovelace", "email": "ada+vip@example.com"},
        "tracking": {"utm_source": "brevo", "utm_campaign": "spring sale"},
    }
    resp = api.post("/api/scheduling-links/", body, format="json")
    assert resp.status_code == 201, resp.content
    url = resp.json()["booking_url"]
    parts = urlsplit(url)
    assert url.startswith("https://calendly.com/d/") and "%20" in parts.query and "+" not in parts.query
    assert parse_qs(parts.query) == {
        "name": ["Ada Lovelace"],
        "email": ["ada+vip@example.com"],
        "utm_campaign": ["spring sale"],
        "utm_source": ["brevo"],
    }
    assert calendly_sim.scheduling_links[-1]["owner"].rsplit("/", 1)[-1] == demo_type["uri"].rsplit("/", 1)[-1]
    sent = [r for r in calendly_sim.requests if r.path == "/scheduling_links"][-1].json()
    assert sent["max_event_count"] == 1


def test_a_link_for_an_unknown_event_type_is_a_404(connection: Connection, api: APIClient) -> None:
    resp = api.post("/api/scheduling-links/", {"event_type": "GBGBDCAADAEDCRZ2"}, format="json")
    assert resp.status_code == 404


# -- schema and docs -------------------------------------------------------------------------
def test_the_schema_validates_without_warnings(tmp_path: Any) -> None:
    from django.core.management import call_command

    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    text = target.read_text()
    for path in (
        "/api/event-types/",
        "/api/event-types/{uuid}/available-times/",
        "/api/bookings/",
        "/api/scheduling-links/",
    ):
        assert f"  {path}:" in text
    assert "/webhooks/" not in text


def test_schema_and_docs_are_served_with_local_assets(admin_client: Any) -> None:
    from django.contrib.staticfiles import finders

    schema = admin_client.get("/api/schema/")
    assert schema.status_code == 200 and b"openapi: 3" in schema.content
    for page in ("/api/docs/", "/api/docs/redoc/"):
        html = admin_client.get(page).content.decode()
        assets = re.findall(r'(?:src|href)="([^"]*)"', html)
        assert any(a.startswith("/static/drf_spectacular_sidecar/") for a in assets), html
        assert all(a.startswith("/") for a in assets), assets  # nothing from another host (no CDN, no fonts)
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert finders.find("drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js")
    assert APIClient().get("/api/schema/").status_code == 401


def test_the_browsable_api_renders_for_a_staff_user(connection: Connection, admin_client: Any, demo_type: Any) -> None:
    uuid = demo_type["uri"].rsplit("/", 1)[-1]
    start = slot(2)
    listing = admin_client.get("/api/event-types/", HTTP_ACCEPT="text/html")
    assert listing.status_code == 200 and b"API Demo" in listing.content
    times = admin_client.get(
        f"/api/event-types/{uuid}/available-times/",
        {"start_time": iso(start), "end_time": iso(start + timedelta(days=1))},
        HTTP_ACCEPT="text/html",
    )
    assert times.status_code == 200
    for path in ("/api/bookings/", "/api/scheduling-links/"):
        page = admin_client.get(path, HTTP_ACCEPT="text/html")  # GET is not allowed: the page says so, with a form
        assert page.status_code == 405 and b"<form" in page.content


@pytest.mark.parametrize("bad", ["Bad \ud800 type", "Bad\x00type"], ids=["surrogate", "nul"])
def test_an_event_type_no_database_can_store_is_left_out_or_a_404(
    connection: Connection, api: APIClient, sims: Any, demo_type: dict[str, Any], bad: str
) -> None:
    """Calendly's JSON with a NUL or an unpaired surrogate escape: the list shows the others (a lone
    surrogate failed the answer's UTF-8 encoding: a 500), and the type itself is a 404."""
    calendly_sim, _ = sims
    odd = calendly_sim.add_event_type(bad, [{"name": "Q", "type": "string"}], fire_webhooks=False)
    listed = api.get("/api/event-types/")
    assert listed.status_code == 200
    uris = {et["uri"] for et in listed.json()["collection"]}
    assert demo_type["uri"] in uris and odd["uri"] not in uris
    uuid = odd["uri"].rsplit("/", 1)[-1]
    times = api.get(f"/api/event-types/{uuid}/available-times/?start_time={iso(slot())}&end_time={iso(slot(5))}")
    assert times.status_code == 404 and "its data contains" in times.json()["detail"]
