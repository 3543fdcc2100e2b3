"""URLs of the app: the webhook endpoint and the admin's "Connect Calendly" entry point.

The OAuth callback itself is social-auth's (``/oauth/complete/calendly/``, see connector_site/urls.py).
"""

from django.urls import path

from calendly_sync.connect.views import start_connect
from calendly_sync.views import CalendlyWebhookView

app_name = "calendly_sync"

urlpatterns = [
    path("webhooks/calendly/", CalendlyWebhookView.as_view(), name="webhook"),
    path("webhooks/calendly/<int:connection_id>/", CalendlyWebhookView.as_view(), name="webhook-connection"),
    path("connect/calendly/start/", start_connect, name="connect-calendly"),
]
