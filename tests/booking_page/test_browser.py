"""The booking page in a real browser, inside an iframe of another site.

A tiny HTTP server on another host and port (``http://127.0.0.1:<port>``, while the connector is
pytest-django's ``live_server`` on ``http://localhost:<port>``: another origin and another site)
serves a page that embeds ``/book/<uuid>/`` in an ``<iframe>``. Chromium (through Playwright, as
in the other browser tests: ``tests/browser.py``) books in the frame, where the connector's cookies
would be third-party, sees the confirmation, and the simulated Calendly's ``invitee.created`` webhook brings the booking
to the Brevo simulator. Screenshots go to ``artifacts/screenshots/book-NN-step.png``.

Skipped without Chromium or Playwright unless ``CONNECTOR_REQUIRE_BROWSER=1`` (then it fails).
"""

from __future__ import annotations

import io
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.management import call_command

from calendly_sync.calendly.events import SUBSCRIBED_EVENTS
from calendly_sync.models import WebhookDelivery
from tests.booking_page.conftest import uuid_of
from tests.browser import SCREENSHOTS, browser_missing, page_fixture
from tests.fixtures_webhooks import KEY

pytestmark = pytest.mark.browser

ZONE = "America/New_York"


class ParentSite:
    """Another site: one page that embeds the booking page in an iframe."""

    def __init__(self, frame_url: str) -> None:
        html = (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Acme: talk to us</title></head>"
            "<body style='font-family: sans-serif; background: #f4f4f8; margin: 2rem'>"
            "<h1>Acme Inc. &mdash; book a demo</h1><p>This page is on another site; the form below is embedded.</p>"
            f"<iframe id='booking' title='Book a meeting' src='{frame_url}' "
            "style='width: 760px; height: 1900px; border: 1px solid #ccc; background: #fff'></iframe>"
            "</body></html>"
        ).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(html)))
                self.end_headers()
                self.wfile.write(html)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ParentSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# A Chromium page in New York's time zone, or a string saying why there is none.
browser_page = page_fixture(
    "book-", name="browser_page", viewport={"width": 900, "height": 2000}, timezone_id=ZONE, locale="en-US"
)


@pytest.mark.django_db(transaction=True)
def test_a_visitor_books_inside_an_iframe_of_another_site_and_the_booking_reaches_brevo(
    browser_page: Any, live_server: Any, sims: Any, connection: Any, settings: Any, calendly_client: Any
) -> None:
    if isinstance(browser_page, str):
        browser_missing(browser_page)  # a failure under CONNECTOR_REQUIRE_BROWSER=1, else a skip
    page = browser_page
    calendly_sim, brevo_sim = sims
    from tests.booking_page.conftest import QUESTIONS

    event_type = calendly_sim.add_event_type(
        "Product Demo (30 min)",
        QUESTIONS,
        locations=[{"kind": "zoom_conference"}, {"kind": "physical", "location": "1 Main St"}],
        fire_webhooks=False,
    )
    # Calendly sends invitee.created to the connector's webhook endpoint, as in production.
    calendly_sim.allow_http_callbacks = True
    calendly_sim.deliver_sync = True
    calendly_client.create_webhook_subscription(
        url=f"{live_server.url}/webhooks/calendly/{connection.pk}/",
        events=list(SUBSCRIBED_EVENTS),
        organization=calendly_sim.org["uri"],
        scope="organization",
        signing_key=KEY,
    )
    frame_url = f"{live_server.url}/book/{uuid_of(event_type)}/"
    n = 0

    def shot(step: str, *, inside: bool = True) -> None:
        """The booking page inside the frame (scrolled into view, whole), or the other site's whole page."""
        nonlocal n
        n += 1
        path = str(SCREENSHOTS / f"book-{n:02d}-{step}.png")
        if inside:
            page.frame_locator("#booking").locator("main").screenshot(path=path)
        else:
            page.screenshot(path=path, full_page=True)

    with ParentSite(frame_url) as parent:
        assert parent.origin.split("://")[1].split(":")[0] != live_server.url.split("://")[1].split(":")[0]

        # 1. Not allowed yet: the browser refuses to show the page in the other site's frame.
        settings.BOOKING_FRAME_ANCESTORS = []
        page.goto(parent.origin + "/")
        frame = page.frame_locator("#booking")
        assert len(page.frames) == 2 and page.frames[1].locator("text=Product Demo").count() == 0
        shot("refused-before-the-origin-is-allowed", inside=False)

        # 2. BOOKING_FRAME_ANCESTORS names the site: the page shows, times in the browser's zone.
        settings.BOOKING_FRAME_ANCESTORS = [parent.origin]
        page.goto(parent.origin + "/")
        frame.locator(f"text=(shown in {ZONE})").wait_for()
        assert frame.locator("h1").inner_text() == "Product Demo (30 min)"
        assert page.frames[1].url.endswith(f"?tz={ZONE.replace('/', '%2F')}")
        shot("embedded-in-another-site", inside=False)
        shot("times-in-new-york")

        # 3. Pick a time and answer the questions, one answer wrong.
        first = frame.locator("input.slot-input").first
        start = first.get_attribute("value")
        frame.locator("label.slot").first.click()
        frame.get_by_label("Your name").fill("Grace Hopper")
        frame.get_by_label("Email").fill("grace@example.com")
        frame.get_by_label("In person: 1 Main St").check()
        frame.get_by_label("Company name").fill("US Navy")
        frame.get_by_label("11-50").check()
        frame.get_by_label("API").check()
        frame.get_by_label("Phone").fill("call me")
        frame.get_by_label("Anything else?").fill("COBOL questions\nand compilers")
        shot("form-filled")
        frame.get_by_role("button", name="Book this meeting").click()

        # 4. Re-rendered with the reason, and everything typed still there.
        frame.locator("#id_q3_error").wait_for()
        assert "not a valid phone number" in frame.locator("#id_q3_error").inner_text()
        assert frame.get_by_label("Your name").input_value() == "Grace Hopper"
        assert frame.get_by_label("Anything else?").input_value() == "COBOL questions\nand compilers"
        assert frame.locator(f"input.slot-input[value='{start}']").is_checked()
        assert calendly_sim.calls["POST /invitees"] == 0
        shot("invalid-answer-kept-input")

        # 5. Fixed and booked: the confirmation, with Calendly's cancel and reschedule links.
        frame.get_by_label("Phone").fill("+1 404 555 0100")
        frame.get_by_role("button", name="Book this meeting").click()
        frame.locator("text=You are booked").wait_for()
        shot("confirmed")
        inv = next(i for i in calendly_sim.invitees.values() if i["email"] == "grace@example.com")
        assert frame.locator("a.cancel").get_attribute("href") == inv["cancel_url"]
        assert frame.locator("a.reschedule").get_attribute("href") == inv["reschedule_url"]
        assert re.search(r"\d{2}:\d{2}–\d{2}:\d{2} \(America/New_York\)", frame.locator(".when").inner_text())
        assert inv["timezone"] == ZONE and inv["scheduling_method"] == "api"
        assert not [c for c in page.context.cookies() if "localhost" in c["domain"]]  # no cookie was needed

    # 6. The webhook Calendly fired is stored; processing it brings the booking to Brevo.
    assert WebhookDelivery.objects.filter(connection=connection, email="grace@example.com").count() == 1
    call_command("process_deliveries", "--now", stdout=io.StringIO())
    contact = brevo_sim.get_contact("grace@example.com")
    assert contact is not None and contact["attributes"]["BOOKING_STATUS"] == "booked"
    [event] = [e for e in brevo_sim.events if e["event_name"] == "calendly_booking_created"]
    assert event["identifiers"]["email_id"] == "grace@example.com"
    assert event["event_properties"]["invitee_uri"].endswith(inv["uri"].rsplit("/", 1)[-1])
