"""Saving and restoring both simulators (sandbox/statefile.py and the records' snapshot/restore)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from calendly_sync.sandbox import statefile
from calendly_sync.sandbox.brevo import SANDBOX_API_KEY, BrevoSim
from calendly_sync.sandbox.calendly import CalendlySim
from tests.sandbox.calendly.helpers import AUTH, future

BREVO = {"api-key": SANDBOX_API_KEY}


def _fresh() -> tuple[CalendlySim, BrevoSim]:
    return CalendlySim(default_token=True, allow_http_callbacks=True), BrevoSim()


def _fill(calendly: CalendlySim, brevo: BrevoSim) -> dict[str, object]:
    """Records of every awkward kind: sets (group members, token scopes, list membership), a
    subscription, a cancelled booking, a pending import."""
    et = calendly.add_event_type("Call", fire_webhooks=False)
    booked = calendly.book(et["uri"], "a@example.com", "A", future(2), fire_webhooks=False)
    calendly.cancel(booked["uri"], "changed plans", fire_webhooks=False)
    calendly.add_group("Sales", [calendly.admin["uri"]])
    calendly.add_token("scoped-token", calendly.admin["uri"], scopes={"users:read", "webhooks:write"})
    sub = requests.post(
        calendly.url + "/webhook_subscriptions",
        json={
            "url": "http://127.0.0.1:9/hooks",
            "events": ["invitee.created"],
            "organization": calendly.admin["current_organization"],
            "scope": "organization",
        },
        headers=AUTH,
        timeout=5,
    )
    assert sub.status_code == 201
    assert (
        requests.post(
            brevo.url + "/v3/contacts", json={"email": "b@example.com", "listIds": [10, 11]}, headers=BREVO, timeout=5
        ).status_code
        == 201
    )
    imported = requests.post(
        brevo.url + "/v3/contacts/import",
        json={"jsonBody": [{"email": "late@example.com"}], "listIds": [12]},
        headers=BREVO,
        timeout=5,
    )
    return {"invitee": booked["uri"], "subscription": sub.json()["resource"]["uri"], "process": imported.json()}


def test_both_simulators_come_back_as_they_were(tmp_path: Path) -> None:
    calendly, brevo = _fresh()
    calendly.start()
    brevo.start()
    try:
        made = _fill(calendly, brevo)
        old_url = calendly.url
        path = tmp_path / "state" / "simulators.json"
        statefile.write(path, {"calendly": calendly, "brevo": brevo})
    finally:
        calendly.stop()
        brevo.stop()

    calendly2, brevo2 = _fresh()
    assert statefile.restore(path, {"calendly": calendly2, "brevo": brevo2}) is True
    calendly2.start()
    brevo2.start()
    try:
        for name in CalendlySim.SAVED:
            assert getattr(calendly2, name) == getattr(calendly, name), name
        assert calendly2._admin_id == calendly._admin_id and calendly2.oauth_user_uri.endswith(calendly._admin_id)
        inv = requests.get(str(made["invitee"]).replace(old_url, calendly2.url), headers=AUTH, timeout=5)
        assert inv.status_code == 200 and inv.json()["resource"]["status"] == "canceled"
        sub = requests.get(str(made["subscription"]).replace(old_url, calendly2.url), headers=AUTH, timeout=5)
        assert sub.json()["resource"]["state"] == "active"
        assert requests.get(calendly2.url + "/users/me", headers={"Authorization": "Bearer scoped-token"}, timeout=5).ok

        assert brevo2.get_contact("b@example.com")["listIds"] == [10, 11]  # type: ignore[index]
        assert brevo2.lists == brevo.lists and brevo2._ids == brevo._ids
        # the import Brevo had not finished finishes after the restart, with its contacts
        process_id = made["process"]["processId"]  # type: ignore[index]
        for _ in range(3):
            status = requests.get(f"{brevo2.url}/v3/processes/{process_id}", headers=BREVO, timeout=5).json()
        assert status["status"] == "completed"
        assert brevo2.list_members(12) == ["late@example.com"]
    finally:
        calendly2.stop()
        brevo2.stop()


def test_ids_are_never_issued_twice_across_restarts(tmp_path: Path) -> None:
    """A seeded simulator reissued the same ids at every start: new bookings took old bookings' ids."""
    calendly, brevo = CalendlySim(seed=1, default_token=True), BrevoSim()
    path = tmp_path / "simulators.json"
    statefile.write(path, {"calendly": calendly, "brevo": brevo})
    before = set(calendly.invitees) | set(calendly.events)
    et = next(iter(calendly.event_types.values()))["uri"]
    booked_before = calendly.book(et, "x@example.com", "X", future(3), fire_webhooks=False)  # after the save
    new_ids = set()
    for _ in range(2):  # the same file twice: each start draws its own ids
        again, brevo_again = _fresh()
        statefile.restore(path, {"calendly": again, "brevo": brevo_again})
        inv = again.book(et, "x@example.com", "X", future(3), fire_webhooks=False)
        new_ids.add(inv["uri"])
    assert booked_before["uri"] not in new_ids and len(new_ids) == 2
    assert not {CalendlySim.uuid_of(uri) for uri in new_ids} & before


def test_a_file_that_cannot_be_used_is_refused_with_its_name(tmp_path: Path) -> None:
    calendly, brevo = _fresh()
    sims: dict[str, statefile.Persistent] = {"calendly": calendly, "brevo": brevo}
    assert statefile.restore(tmp_path / "absent.json", sims) is False
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(statefile.StateFileError, match=r"broken\.json is not valid JSON"):
        statefile.restore(broken, sims)
    old = tmp_path / "old.json"
    old.write_text('{"version": 0, "sims": {}}')
    with pytest.raises(statefile.StateFileError, match="not a version 1 sandbox state file"):
        statefile.restore(old, sims)
    partial = tmp_path / "partial.json"
    partial.write_text('{"version": 1, "sims": {"calendly": {}}}')
    with pytest.raises(statefile.StateFileError, match="holds no state for brevo"):
        statefile.restore(partial, sims)


def test_autosave_writes_after_a_change_and_at_close(tmp_path: Path) -> None:
    calendly, brevo = _fresh()
    path = tmp_path / "simulators.json"
    autosave = statefile.Autosave(path, {"calendly": calendly, "brevo": brevo}, interval=0.05)
    brevo.after_request = autosave.changed
    brevo.start()
    try:
        requests.post(brevo.url + "/v3/contacts", json={"email": "c@example.com"}, headers=BREVO, timeout=5)
        deadline = time.monotonic() + 5
        while not (path.exists() and "c@example.com" in path.read_text()):
            assert time.monotonic() < deadline, "the change was not saved"
            time.sleep(0.01)
        brevo.lists[99] = {"id": 99, "name": "made without a request", "folderId": 1, "createdAt": ""}
    finally:
        brevo.stop()
        autosave.close()
    assert "made without a request" in path.read_text()
    assert not list(tmp_path.glob(".*.tmp"))  # written through a temporary file, replaced atomically
