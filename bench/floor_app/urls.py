from __future__ import annotations

from django.urls import path

from floor_app.views import Hook

urlpatterns = [path("hook/", Hook.as_view())]
