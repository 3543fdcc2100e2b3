"""URL configuration."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("calendly_sync.urls")),
    path("oauth/", include("social_django.urls", namespace="social")),
    path("admin/", admin.site.urls),
]
