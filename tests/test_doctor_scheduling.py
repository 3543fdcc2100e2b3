"""The doctor's scheduling check (doctor.py): can the connection book and create links, and on which plan."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from calendly_sync.doctor import FAIL, OK, Check, run_checks
from calendly_sync.models import Connection

pytestmark = pytest.mark.django_db
READ_ONLY = {"users:read", "event_types:read", "scheduled_events:read", "webhooks:write"}


def scheduling_check(connection: Connection) -> Check:
    return next(c for c in run_checks(connection) if c.name == "Scheduling")


def test_a_full_access_token_is_probed_without_creating_anything(connection: Connection, sims: Any) -> None:
    calendly_sim, _ = sims
    check = scheduling_check(connection)
    assert check.level == OK, check.line()
    assert "bookings and single-use links possible (Personal Access Token, probed" in check.message
    assert "Paid, non-Enterprise" in check.message and "used 0 of 10 per minute" in check.message
    assert calendly_sim.calls["POST /scheduling_links"] == 1 and calendly_sim.calls["POST /invitee_no_shows"] == 1
    assert calendly_sim.scheduling_links == [] and calendly_sim.no_shows == {}
    assert calendly_sim.calls["POST /invitees"] == 0  # no booking quota spent


def test_missing_scopes_are_named_and_fail_only_when_the_features_are_on(
    connection: Connection, sims: Any, settings: Any
) -> None:
    calendly_sim, _ = sims
    calendly_sim.add_token("read-only", calendly_sim.admin["uri"], scopes=READ_ONLY)
    connection.access_token = "read-only"
    connection.save()
    settings.CALENDLY_SCHEDULING_FEATURES = False
    check = scheduling_check(connection)
    assert check.level == OK and "lacks scheduling_links:write, scheduled_events:write" in check.message
    assert "CALENDLY_SCHEDULING_FEATURES is off" in check.message
    settings.CALENDLY_SCHEDULING_FEATURES = True
    check = scheduling_check(connection)
    assert check.level == FAIL and "create a Personal Access Token with these scopes" in check.message


def _oauth(connection: Connection, sim: Any, scopes: set[str]) -> None:
    sim.add_token("oauth-token", sim.admin["uri"], scopes=scopes, kind="oauth")
    connection.auth_kind = Connection.AuthKind.OAUTH
    connection.access_token = "oauth-token"
    connection.refresh_token = "unused"
    connection.token_expires_at = timezone.now() + timedelta(hours=2)
    connection.scopes = " ".join(sorted(scopes))
    connection.save()


def test_an_oauth_connection_is_judged_by_its_granted_scopes(connection: Connection, sims: Any, settings: Any) -> None:
    calendly_sim, _ = sims
    settings.CALENDLY_SCHEDULING_FEATURES = True
    _oauth(connection, calendly_sim, READ_ONLY)
    check = scheduling_check(connection)
    assert check.level == FAIL and "reconnect Calendly" in check.message
    assert "scheduling_links:write" in check.message
    connection.scopes += " scheduled_events:write scheduling_links:write"
    connection.scheduling_plan = "enterprise"
    connection.save()
    check = scheduling_check(connection)
    assert check.level == OK and "(scopes granted)" in check.message and "500 per minute" in check.message
    assert calendly_sim.calls["POST /scheduling_links"] == 0  # known scopes: nothing probed
