"""Pre-filled booking URLs (scheduling/links.py): pure."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from calendly_sync.scheduling.links import prefilled_url

URL = "https://calendly.com/d/abcd-1234/discovery-call"


def test_name_email_and_tracking_are_added_as_calendlys_booking_page_reads_them() -> None:
    url = prefilled_url(
        URL,
        prefill={"name": "Ada Lovelace", "email": "ada+x@example.com"},
        tracking={"utm_source": "brevo", "utm_campaign": "spring sale", "utm_medium": None, "salesforce_uuid": ""},
    )
    parts = urlsplit(url)
    assert url.startswith(URL + "?") and "Ada%20Lovelace" in parts.query and "%2B" in parts.query
    assert parse_qsl(parts.query) == [
        ("name", "Ada Lovelace"),
        ("email", "ada+x@example.com"),
        ("utm_campaign", "spring sale"),
        ("utm_source", "brevo"),
    ]


def test_parameters_already_on_the_url_are_kept_and_given_ones_replace_them() -> None:
    url = prefilled_url(URL + "?month=2027-01&name=Old", prefill={"name": "New"})
    assert parse_qsl(urlsplit(url).query) == [("month", "2027-01"), ("name", "New")]


def test_nothing_to_add_leaves_the_url_as_it_was() -> None:
    assert prefilled_url(URL) == URL
    assert prefilled_url(URL, prefill={"name": "  ", "unknown": "x"}, tracking={"utm_foo": "bar"}) == URL
