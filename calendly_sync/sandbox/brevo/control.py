"""A look inside for tests and the sandbox: ``GET /_sim/state`` (no auth) and Python helpers.

Why: tests assert on what Brevo holds (a contact as ``GET /contacts/{email}`` shows it, a list's
members) and the sandbox shows the whole state in a browser, without an API key or rate limit.
"""

from __future__ import annotations

import copy
from typing import Any

from calendly_sync.sandbox.brevo.lists import Lists
from calendly_sync.sandbox.brevo.records import public
from calendly_sync.sandbox.httpbase import Request, Response


class Control(Lists):
    """Test helpers and the ``/_sim/state`` route."""

    def get_contact(self, email: str) -> dict[str, Any] | None:
        """The contact as ``GET /contacts/{email}`` would show it (case-insensitive), or ``None``."""
        with self.lock:
            record = self._by_email(email.strip().lower())
            return self._contact_view(record) if record else None

    def seed_contact(self, email: str | None, attributes: dict[str, Any], list_ids: list[int] | None = None) -> int:
        """Create a contact the connector knows nothing of (someone else's data in the account),
        with the same validation as ``POST /contacts``; returns its id."""
        body: dict[str, Any] = {"attributes": dict(attributes), "listIds": list(list_ids or [])}
        with self.lock:
            contact = self._apply(None, self._prepare(None, body, verb="create", email=email and email.strip().lower()))
            return int(contact["id"])

    def list_members(self, list_id: int) -> list[str]:
        with self.lock:
            return sorted(c["email"] or str(c["id"]) for c in self.contacts.values() if list_id in c["_lists"])

    def _sim_state(self, req: Request) -> Response:
        with self.lock:
            return Response(
                200,
                {
                    "counts": {
                        "contacts": len(self.contacts),
                        "events": len(self.events),
                        "lists": len(self.lists),
                        "folders": len(self.folders),
                        "attributes": len(self.attributes),
                        "processes": len(self.processes),
                        "calls": sum(self.calls.values()),
                    },
                    "contacts": [self._contact_view(c) for c in sorted(self.contacts.values(), key=lambda c: c["id"])],
                    "lists": [self._list_view(lst) for lst in self.lists.values()],
                    "attributes": list(self.attributes.values()),
                    "events": copy.deepcopy(self.events[-100:]),
                    "processes": [public(p) for p in self.processes.values()],
                },
            )
