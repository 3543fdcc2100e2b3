"""Brevo attributes the mapping writes are created once, against the Brevo simulator over HTTP."""

from __future__ import annotations

from calendly_sync.push.attributes import create_missing_attributes


def test_only_missing_attributes_are_created(brevo_client, brevo_sim):
    brevo_client.create_attribute("meeting_date", "date")
    existing, missing = create_missing_attributes(brevo_client, {"MEETING_DATE": "date", "BOOKING_STATUS": "text"})
    assert (existing, missing) == (["MEETING_DATE"], ["BOOKING_STATUS"])
    attrs = {a["name"]: a["type"] for a in brevo_client.list_attributes()}
    assert attrs["BOOKING_STATUS"] == "text"
    assert create_missing_attributes(brevo_client, {"MEETING_DATE": "date", "BOOKING_STATUS": "text"})[1] == []


def test_dry_run_creates_nothing(brevo_client, brevo_sim):
    assert create_missing_attributes(brevo_client, {"COMPANY": "text"}, dry_run=True) == ([], ["COMPANY"])
    assert "COMPANY" not in {a["name"] for a in brevo_client.list_attributes()}
