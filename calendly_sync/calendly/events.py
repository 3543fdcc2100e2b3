"""Calendly's webhook event vocabulary, as the connector uses it: declared once, read everywhere.

The endpoint stores what it handles (and acknowledges the rest as ignored), the inbox applies
invitee and event-type events differently, and the subscription asks Calendly for exactly
``SUBSCRIBED_EVENTS``.
"""

from __future__ import annotations

INVITEE_EVENTS = ("invitee.created", "invitee.canceled", "invitee_no_show.created", "invitee_no_show.deleted")
EVENT_TYPE_EVENTS = ("event_type.created", "event_type.updated", "event_type.deleted")
HANDLED_EVENTS = (*INVITEE_EVENTS, *EVENT_TYPE_EVENTS)
# event_type.created tells nothing a mapping needs: a new event type has no mapping yet.
SUBSCRIBED_EVENTS = (*INVITEE_EVENTS, "event_type.updated", "event_type.deleted")
