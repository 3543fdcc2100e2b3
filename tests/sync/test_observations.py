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
