"""Observations: what Calendly said about an invitee, validated (pure, no DB)."""

from __future__ import annotations

import pytest

from calendly_sync.sync.observations import MalformedPayload, observe_invitee
from tests.sync.invitees import A, a_created, observations


def test_email_is_lower_cased_and_payload_validated():
    obs = observations([a_created])[0]
    assert obs.email == "levi@example.com"
    with pytest.raises(MalformedPayload):
        observe_invitee({"email": "x@example.com"})
    with pytest.raises(MalformedPayload):
        observe_invitee({"uri": A})


@pytest.mark.parametrize(
    "field,value",
    [
        ("cancellation", "by the host"),
        ("tracking", "utm=newsletter"),
        ("questions_and_answers", 42),
        ("questions_and_answers", True),
        ("scheduled_event", ["not", "an", "object"]),
    ],
)
def test_unexpected_shapes_of_optional_fields_are_ignored_with_a_warning(field, value):
    body = {
        "uri": A,
        "email": "levi@example.com",
        "name": "Levi Duncan",
        "created_at": "2026-08-22T17:13:17.150860Z",
        field: value,
    }
    obs = observe_invitee(body, event_name="invitee.created")
    assert (obs.invitee_uri, obs.email, obs.name) == (A, "levi@example.com", "Levi Duncan")
    assert len(obs.warnings) == 1 and field in obs.warnings[0]


def test_a_bad_optional_time_is_ignored_with_a_warning():
    body = {
        "uri": A,
        "email": "levi@example.com",
        "created_at": "2026-08-22T17:13:17.150860Z",
        "scheduled_event": {"start_time": "next tuesday", "event_memberships": {"user_name": "Host"}},
    }
    obs = observe_invitee(body, event_name="invitee.created")
    assert obs.start_time is None
    assert [w.split(" ")[0] for w in obs.warnings] == [
        "payload.scheduled_event.event_memberships",
        "payload.scheduled_event.start_time",
    ]
