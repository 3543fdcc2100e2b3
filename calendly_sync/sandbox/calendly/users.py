"""``GET /users/me``, ``/users/{uuid}`` and ``/organizations/{uuid}``: the caller and their organization.

Why: the connector starts every connection by asking who the token belongs to; a user outside the
caller's organization is a 403, an unknown one a 404.
"""

from __future__ import annotations

from calendly_sync.sandbox.calendly.account import Account
from calendly_sync.sandbox.calendly.auth import Caller
from calendly_sync.sandbox.calendly.records import forbidden, not_found
from calendly_sync.sandbox.calendly.webhooks import Outgoing
from calendly_sync.sandbox.httpbase import Request, Response


class UserRoutes(Account):
    """Handlers for the users and organizations endpoints."""

    def _h_me(self, req: Request, ctx: Caller, out: Outgoing) -> Response:
        return Response(200, {"resource": self.render(ctx.user)})

    def _h_user(self, req: Request, ctx: Caller, out: Outgoing) -> Response:
        user = self.users.get(req.params["uuid"])
        if user is None:
            raise not_found()
        if user["_org"] != ctx.org:
            raise forbidden("This user is not in your organization")
        return Response(200, {"resource": self.render(user)})

    def _h_org(self, req: Request, ctx: Caller, out: Outgoing) -> Response:
        org = self.orgs.get(req.params["uuid"])
        if org is None:
            raise not_found()
        if org["_id"] != ctx.org:
            raise forbidden()
        return Response(200, {"resource": self.render(org)})
