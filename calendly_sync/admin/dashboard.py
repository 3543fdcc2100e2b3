"""The overview dashboard: the app's landing page in the admin (``/admin/calendly_sync/``).

Per connection, its health items (:mod:`calendly_sync.overview.status`) with a verdict and the
action that fixes each amber or red item; the open alerts first, the recently resolved ones
after; the 30-day charts of every connection (:mod:`calendly_sync.overview.charts`); the
app's models below. Staff only (``admin.site.admin_view``). The route is the project's
(``connector_site/urls.py`` puts it before the admin's own, so the app index and every breadcrumb
to the app land here); the admin index links to it (:data:`INDEX_TEMPLATE`).

It reads the database only: nothing here calls Calendly or Brevo.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from calendly_sync.admin.logs import ReadOnlyAdmin
from calendly_sync.models import Alert
from calendly_sync.overview import status
from calendly_sync.overview.charts import dashboard_charts

INDEX_TEMPLATE = "admin/calendly_sync/admin_index.html"
RESOLVED_SHOWN = timedelta(days=7)  # resolved alerts listed this long after they cleared …
RESOLVED_MAX = 20  # … at most this many

# The admin index gets a prominent link to the dashboard (Django's own index, extended).
admin.site.index_template = INDEX_TEMPLATE


def dashboard(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    healths = status.evaluate(now=now)
    open_alerts = list(Alert.objects.filter(resolved_at__isnull=True).select_related("connection"))
    resolved = list(
        Alert.objects.filter(resolved_at__gte=now - RESOLVED_SHOWN)
        .select_related("connection")
        .order_by("-resolved_at")[:RESOLVED_MAX]
    )
    context: dict[str, Any] = {
        **admin.site.each_context(request),
        "title": "Calendly → Brevo sync: overview",
        "healths": healths,
        "open_alerts": open_alerts,
        "resolved_alerts": resolved,
        "app_list": admin.site.get_app_list(request, "calendly_sync"),
        "charts": dashboard_charts(now=now),
        "now": now,
    }
    return TemplateResponse(request, "admin/calendly_sync/dashboard.html", context)


dashboard_view = admin.site.admin_view(dashboard)


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin[Alert]):
    list_display = ("title", "connection", "severity", "opened_at", "resolved_at", "pending", "last_send_error")
    list_filter = ("severity", ("resolved_at", admin.EmptyFieldListFilter), "connection")
    list_select_related = ("connection",)
    search_fields = ("title", "detail")
