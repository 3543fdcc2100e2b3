"""Shared helper for the Brevo simulator tests: raw HTTP to /v3 with the sandbox api-key."""

from __future__ import annotations

import requests

from calendly_sync.sandbox.brevo import SANDBOX_API_KEY, BrevoSim

KEY = {"api-key": SANDBOX_API_KEY}


def call(sim: BrevoSim, method: str, path: str, json=None, params=None, headers=KEY) -> requests.Response:
    return requests.request(method, f"{sim.url}/v3{path}", json=json, params=params, headers=headers, timeout=5)
