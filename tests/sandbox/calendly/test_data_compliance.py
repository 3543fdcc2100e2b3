"""``POST /data_compliance/deletion/invitees`` (sandbox/calendly/data_compliance.py): Enterprise only, as documented."""

from __future__ import annotations

import pytest

from calendly_sync.calendly.client import CalendlyClient
from calendly_sync.calendly.errors import CalendlyPermissionError
from calendly_sync.sandbox.calendly import CalendlySim
from tests.sandbox.calendly.helpers import post

PATH = "/data_compliance/deletion/invitees"


def test_another_plan_gets_a_403(calendly_sim: CalendlySim, calendly_client: CalendlyClient) -> None:
    with pytest.raises(CalendlyPermissionError) as denied:
        calendly_client.delete_invitee_data(["levi@example.com"])
    assert denied.value.title == "Permission Denied" and "Enterprise" in denied.value.message
    assert calendly_sim.invitee_deletions == []


def test_enterprise_accepts_a_list_of_emails(calendly_sim: CalendlySim, calendly_client: CalendlyClient) -> None:
    calendly_sim.plan = "enterprise"
    assert calendly_client.delete_invitee_data(["Levi@Example.com", "ana@example.com"]) is None  # 202
    [request] = calendly_sim.invitee_deletions
    assert request["emails"] == ["Levi@Example.com", "ana@example.com"]
    for bad in ({}, {"emails": []}, {"emails": "levi@example.com"}, {"emails": ["levi"]}):
        resp = post(calendly_sim, PATH, bad)
        assert resp.status_code == 400 and resp.json()["title"] == "Invalid Argument"
    assert len(calendly_sim.invitee_deletions) == 1


def test_the_scope_is_needed(calendly_sim: CalendlySim) -> None:
    calendly_sim.plan = "enterprise"
    calendly_sim.add_token("scoped", calendly_sim.admin["uri"], scopes={"users:read"})
    resp = post(calendly_sim, PATH, {"emails": ["levi@example.com"]}, token="scoped")
    assert resp.status_code == 403 and "data_compliance:write" in resp.json()["message"]
