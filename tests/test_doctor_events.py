"""The doctor's checks that are not about Calendly's subscription (those are in tests/inbox/test_subscriptions.py)."""

from __future__ import annotations

import pytest

from calendly_sync.doctor import run_checks
from calendly_sync.models import AutomationEvent

pytestmark = pytest.mark.django_db


def automation_line(connection) -> str:
    [check] = [c for c in run_checks(connection) if c.name == "Automation events"]
    return check.line()


def event(connection, key: str, status: str) -> AutomationEvent:
    return AutomationEvent.objects.create(
        connection=connection, key=key, email="levi@example.com", event_name="calendly_booking_created", status=status
    )


def test_the_doctor_points_at_failed_and_unconfirmed_automation_events(connection, sims):
    event(connection, "k1", "pending")
    assert automation_line(connection) == "[OK  ] Automation events: 1 pending, none failed or unconfirmed"
    event(connection, "k2", "unconfirmed")
    line = automation_line(connection)
    assert line.startswith("[WARN] Automation events: 1 unconfirmed") and "requeue the missing ones" in line
    event(connection, "k3", "failed")
    line = automation_line(connection)
    assert line.startswith("[FAIL] Automation events: 1 failed, 1 unconfirmed, 1 pending") and "requeue" in line
