"""URL configuration. ``/`` sends people to the admin, where the connector is configured.

``/admin/calendly_sync/`` (the app's index in the admin) is the connector's overview dashboard.
"""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from calendly_sync.admin.dashboard import dashboard_view

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index"), name="home"),
    path("", include("calendly_sync.urls")),
    path("oauth/", include("social_django.urls", namespace="social")),
    # Before the admin's own URLs: the app's index in the admin is the overview dashboard.
    path("admin/calendly_sync/", dashboard_view, name="calendly-sync-dashboard"),
    path("admin/", admin.site.urls),
]
