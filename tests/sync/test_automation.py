"""Automation facts: which Brevo events an observation proves, one per fact (pure, no DB)."""

from __future__ import annotations

from calendly_sync.sync.automation import BOOKING_CANCELED, BOOKING_CREATED, BOOKING_RESCHEDULED, NO_SHOW, facts_for
from tests.sync.invitees import A, B, a_created, a_resched, b_canceled, b_created, b_no_show, observations


def test_reschedule_halves_name_the_same_automation_fact():
    obs = {o.invitee_uri + str(o.status): o for o in observations([a_resched, b_created])}
    from_cancel = facts_for(obs[A + "canceled"], "invitee.canceled")
    from_create = facts_for(obs[B + "active"], "invitee.created")
    assert [f.event_name for f in from_cancel] == [BOOKING_RESCHEDULED]
    assert [f.event_name for f in from_create] == [BOOKING_RESCHEDULED]
    assert from_cancel[0].fact_id == from_create[0].fact_id == B


def test_backfill_snapshot_proves_each_visible_fact():
    created, canceled, no_show = observations([a_created, b_canceled, b_no_show])
    assert [f.event_name for f in facts_for(created)] == [BOOKING_CREATED]
    assert [f.event_name for f in facts_for(canceled)] == [BOOKING_RESCHEDULED, BOOKING_CANCELED]
    assert NO_SHOW in [f.event_name for f in facts_for(no_show)]
