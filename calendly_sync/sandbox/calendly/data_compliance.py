"""``POST /data_compliance/deletion/invitees``: an organization asks Calendly to delete invitees' data.

Why: ``forget_invitee --calendly`` must be tried without an Enterprise account. As documented, the
endpoint needs an Enterprise plan (another plan gets a 403 Permission Denied) and the
``data_compliance:write`` scope, takes ``{"emails": [...]}`` and answers 202 Accepted; Calendly
completes the deletion within 7 days, so the simulator only records the request (``invitee_deletions``)
and keeps serving the invitees meanwhile, as Calendly would.
"""

from __future__ import annotations

from typing import Any

from calendly_sync.sandbox.calendly.auth import Caller
from calendly_sync.sandbox.calendly.paging import json_body
from calendly_sync.sandbox.calendly.records import CalendlyRecords, forbidden, invalid
from calendly_sync.sandbox.calendly.webhooks import Outgoing
from calendly_sync.sandbox.httpbase import Request, Response

ENTERPRISE = "enterprise"


class DataComplianceRoutes(CalendlyRecords):
    """The handler of ``POST /data_compliance/deletion/invitees``."""

    plan: str  # "enterprise" allows data-compliance requests
    invitee_deletions: list[dict[str, Any]]  # every accepted request: {"emails", "organization", "user"}

    def _h_delete_invitee_data(self, req: Request, ctx: Caller, out: Outgoing) -> Response:
        if self.plan != ENTERPRISE:
            raise forbidden("This endpoint requires an Enterprise subscription.")
        emails = json_body(req).get("emails")
        if not isinstance(emails, list) or not emails or not all(isinstance(e, str) and "@" in e for e in emails):
            raise invalid("emails", "must be a non-empty list of email addresses")
        self.invitee_deletions.append({"emails": list(emails), "organization": ctx.org, "user": ctx.uid})
        return Response(202, {})
