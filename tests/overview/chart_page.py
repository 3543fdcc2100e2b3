"""A test-only URLconf: the charts partial inside Django admin's own page, as the dashboard includes it."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.urls import path

from calendly_sync.overview.charts import dashboard_charts
from connector_site import urls as site_urls

PAGE = engines["django"].from_string(
    '{% extends "admin/base_site.html" %}{% block content %}'
    '{% include "calendly_sync/overview/_charts.html" %}{% endblock %}'
)


def charts_page(request: HttpRequest) -> HttpResponse:
    now = datetime.fromisoformat(request.GET["now"])
    return HttpResponse(PAGE.render({"charts": dashboard_charts(now=now), "title": "Charts"}, request))


urlpatterns = [path("charts/", charts_page), *site_urls.urlpatterns]  # the admin's page links to its URLs
