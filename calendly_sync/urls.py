"""URLs of the app: the webhook endpoint (the OAuth connect views are under /oauth/ and the admin)."""
from django.urls import path

from .webhooks import CalendlyWebhookView

app_name = "calendly_sync"

urlpatterns = [
    path("webhooks/calendly/", CalendlyWebhookView.as_view(), name="webhook"),
    path("webhooks/calendly/<int:connection_id>/", CalendlyWebhookView.as_view(), name="webhook-connection"),
]
