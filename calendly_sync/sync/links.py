"""The marker a personalised booking link carries, and finding it in a booking's tracking. Pure.

Why: ``create_booking_links`` writes one single-use link per Brevo contact; each carries
``utm_content=cbl-<token>``, which Calendly records in the booking's ``tracking``. The projection
reads it back to know that the link was used, so the contact's link attribute is cleared.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: Where the marker goes in the link's tracking, and how it starts.
MARKER_KEY = "utm_content"
MARKER_PREFIX = "cbl-"


def marker(token: str) -> dict[str, str]:
    """The tracking parameters a link with this token carries."""
    return {MARKER_KEY: f"{MARKER_PREFIX}{token}"}


def link_token(tracking: Mapping[str, Any] | None) -> str | None:
    """The token of the link a booking came through, or ``None`` (no marker, or another utm_content)."""
    value = (tracking or {}).get(MARKER_KEY)
    if not isinstance(value, str) or not value.startswith(MARKER_PREFIX):
        return None
    token = value[len(MARKER_PREFIX) :].strip()
    return token or None


def attributes_to_clear(issued: Iterable[tuple[str, str, bool]]) -> dict[str, list[str]]:
    """Per email, the link attributes to empty: those whose latest link was used.

    ``issued`` is ``(email, attribute, used)`` per link, oldest first. A newer unused link in the
    same attribute is the one the contact holds now, so that attribute is left alone.
    """
    latest: dict[tuple[str, str], bool] = {}
    for email, attribute, used in issued:
        latest[(email, attribute)] = used
    cleared: dict[str, list[str]] = {}
    for (email, attribute), used in sorted(latest.items()):
        if used:
            cleared.setdefault(email, []).append(attribute)
    return cleared
