"""The request pipeline's api-key check and the command line (sandbox/brevo/server.py)."""

from __future__ import annotations

from calendly_sync.sandbox.brevo import SANDBOX_API_KEY
from tests.sandbox.brevo.helpers import call


def test_missing_and_unknown_keys(brevo_sim):
    missing = call(brevo_sim, "GET", "/contacts/attributes", headers={})
    assert missing.status_code == 401
    assert missing.json() == {"message": "authentication not found in headers", "code": "unauthorized"}
    unknown = call(brevo_sim, "GET", "/contacts/attributes", headers={"api-key": "xkeysib-nope"})
    assert unknown.status_code == 401 and unknown.json() == {"message": "Key not found", "code": "unauthorized"}


def test_custom_api_keys(make_brevo_sim):
    sim = make_brevo_sim(api_keys={"xkeysib-custom"})
    assert call(sim, "GET", "/contacts/lists").status_code == 401
    assert call(sim, "GET", "/contacts/lists", headers={"api-key": "xkeysib-custom"}).status_code == 200


def test_main_runs_until_interrupted(monkeypatch, capsys):
    from calendly_sync.sandbox.brevo import server as module

    def interrupt() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "_block_forever", interrupt)
    assert module.main(["--port", "0"]) == 0
    out = capsys.readouterr().out
    assert "/v3" in out and SANDBOX_API_KEY in out
