"""URLs of the app (webhooks; the OAuth connect views live under /oauth/ and the admin)."""
from django.urls import path

urlpatterns: list = []
