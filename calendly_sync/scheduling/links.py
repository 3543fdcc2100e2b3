"""A booking URL with the invitee's details filled in, as Calendly's booking pages read them. Pure.

Why: a single-use scheduling link opens Calendly's booking page; adding ``name`` and ``email``
pre-fills the form, so the invitee books with the address Brevo already knows, and the ``utm_*``
(and ``salesforce_uuid``) parameters are recorded as the booking's ``tracking``, which the
connector maps to Brevo attributes and event properties. Calendly documents both: "How to
pre-fill invitee information in your Calendly link" (help.calendly.com, article 226766767: name,
first_name, last_name, email, a1…, guests, location) and UTM tracking on scheduling links.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from calendly_sync.calendly.invitee import TRACKING_KEYS

#: Invitee fields a booking page accepts in its URL, in the order they are added.
PREFILL_KEYS = ("name", "first_name", "last_name", "email")


def prefilled_url(
    booking_url: str,
    *,
    prefill: Mapping[str, str | None] | None = None,
    tracking: Mapping[str, str | None] | None = None,
) -> str:
    """``booking_url`` with the prefill and tracking parameters added (blank values left out).

    Parameters already on the URL are kept; ones given here replace them. Spaces are encoded as
    ``%20``, as Calendly's help page shows.
    """
    parts = urlsplit(booking_url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    for source, keys in ((prefill or {}, PREFILL_KEYS), (tracking or {}, TRACKING_KEYS)):
        for key in keys:
            value = source.get(key)
            if value is not None and str(value).strip():
                params[key] = str(value).strip()
    query = urlencode(params, quote_via=quote)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
