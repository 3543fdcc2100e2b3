"""/_sim/state needs no api-key (sandbox/brevo/control.py)."""

from __future__ import annotations

import requests

from tests.sandbox.brevo.helpers import call


def test_sim_state_needs_no_auth(brevo_sim):
    call(brevo_sim, "POST", "/contacts", {"email": "a@example.com"})
    state = requests.get(f"{brevo_sim.url}/_sim/state", timeout=5).json()
    assert state["counts"]["contacts"] == 1 and state["contacts"][0]["email"] == "a@example.com"
