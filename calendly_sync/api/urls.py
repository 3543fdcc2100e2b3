"""The API's routes (mounted at ``/api/`` by ``calendly_sync/urls.py``), its schema and its docs.

The docs pages (Swagger UI, Redoc) load their scripts and styles from the project's own static
files (``drf-spectacular-sidecar``), never from a CDN; like the API, they need a token or a staff
session.
"""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from calendly_sync.api.auth import AUTHENTICATION, PERMISSIONS
from calendly_sync.api.views import AvailableTimesView, BookingCreateView, EventTypeListView, SchedulingLinkCreateView


class SchemaView(SpectacularAPIView):
    authentication_classes = AUTHENTICATION
    permission_classes = PERMISSIONS


class SwaggerView(SpectacularSwaggerView):
    authentication_classes = AUTHENTICATION
    permission_classes = PERMISSIONS


class RedocView(SpectacularRedocView):
    authentication_classes = AUTHENTICATION
    permission_classes = PERMISSIONS
    template_name = "calendly_sync/api/redoc.html"  # without the Google Fonts links


def only_api_endpoints(endpoints: list[tuple[Any, ...]], **kwargs: Any) -> list[tuple[Any, ...]]:
    """drf-spectacular preprocessing hook: the schema describes the API, not the webhook or the docs."""
    return [
        endpoint
        for endpoint in endpoints
        if endpoint[0].startswith("/api/") and not endpoint[0].startswith(("/api/schema/", "/api/docs/"))
    ]


urlpatterns = [
    path("event-types/", EventTypeListView.as_view(), name="api-event-types"),
    path("event-types/<str:uuid>/available-times/", AvailableTimesView.as_view(), name="api-available-times"),
    path("bookings/", BookingCreateView.as_view(), name="api-bookings"),
    path("scheduling-links/", SchedulingLinkCreateView.as_view(), name="api-scheduling-links"),
    path("schema/", SchemaView.as_view(), name="api-schema"),
    path("docs/", SwaggerView.as_view(url_name="calendly_sync:api-schema"), name="api-docs"),
    path("docs/redoc/", RedocView.as_view(url_name="calendly_sync:api-schema"), name="api-redoc"),
]
