"""Who may use the API: a DRF token (``Authorization: Token <key>``) or a staff user's session.

Why two: an app calls with a token made for it (in the admin, or with DRF's ``manage.py
drf_create_token USERNAME``); a person exploring the browsable API and its docs is signed in to the
admin. A session grants access only to staff (it is the admin's session); a token grants it to the
active user it was made for. Unsafe methods through a session need Django's CSRF token, as DRF's
``SessionAuthentication`` enforces. The webhook endpoint keeps its own (no) authentication: these
classes are set on the API's views, not as project-wide defaults.
"""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import BaseAuthentication, SessionAuthentication, TokenAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

#: Token first: an unauthenticated request gets ``401`` with ``WWW-Authenticate: Token``.
AUTHENTICATION: list[type[BaseAuthentication]] = [TokenAuthentication, SessionAuthentication]


class TokenOrStaffSession(BasePermission):
    """An active user by token, or an active staff user by session."""

    message = "Use a token (Authorization: Token <key>) or sign in to the admin as a staff user."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if user is None or not user.is_authenticated or not user.is_active:
            return False
        if isinstance(request.successful_authenticator, TokenAuthentication):
            return True
        return bool(user.is_staff)


PERMISSIONS: list[type[BasePermission]] = [TokenOrStaffSession]
