"""The admin's "Connect Calendly" / "Reconnect Calendly" entry point.

A staff-only view records what the flow is for (a new connection, or which one to reconnect) in
the session, then hands over to social-auth (``/oauth/login/calendly/``), which sends the browser
to Calendly's consent page with ``state`` and a PKCE challenge. Calendly redirects back to
``/oauth/complete/calendly/``, where :mod:`calendly_sync.connect.pipeline` saves the connection.
"""

from __future__ import annotations

import time

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse

from calendly_sync.calendly.oauth import calendly_backend
from calendly_sync.conf import app_settings
from calendly_sync.connect.pipeline import SESSION_KEY
from calendly_sync.models import Connection


def oauth_configured() -> bool:
    key, secret = calendly_backend().get_key_and_secret()
    return bool(key and secret)


@staff_member_required
def start_connect(request: HttpRequest) -> HttpResponse:
    """``/connect/calendly/start/[?connection=<id>]`` → Calendly's consent page (via social-auth)."""
    changelist = reverse("admin:calendly_sync_connection_changelist")
    connection_id = request.GET.get("connection") or None
    if connection_id and not connection_id.isdigit():
        raise Http404("No such connection.")
    if connection_id:
        conn = get_object_or_404(Connection, pk=connection_id)
        if not request.user.has_perm("calendly_sync.change_connection"):
            messages.error(request, "You may not change Calendly connections.")
            return HttpResponseRedirect(changelist)
        back = reverse("admin:calendly_sync_connection_change", args=[conn.pk])
    else:
        if not request.user.has_perm("calendly_sync.add_connection"):
            messages.error(request, "You may not add Calendly connections.")
            return HttpResponseRedirect(changelist)
        back = changelist
    if not oauth_configured():
        messages.error(
            request,
            "Calendly OAuth is not configured: set CALENDLY_CLIENT_ID and CALENDLY_CLIENT_SECRET "
            f"(the app's redirect URI must be {app_settings.SITE_URL}/oauth/complete/calendly/).",
        )
        return HttpResponseRedirect(back)
    request.session[SESSION_KEY] = {
        "connection_id": int(connection_id) if connection_id else None,
        "user_id": request.user.pk,
        "started_at": time.time(),
    }
    return HttpResponseRedirect(reverse("social:begin", args=["calendly"]))
