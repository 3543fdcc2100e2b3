"""URLs of the app: the webhook endpoint, the admin's "Connect Calendly" entry point, the API and the booking page.

The OAuth callback itself is social-auth's (``/oauth/complete/calendly/``, see connector_site/urls.py).
"""

from django.urls import include, path

from calendly_sync import health, metrics
from calendly_sync.api import urls as api_urls
from calendly_sync.booking_page.views import booking_page
from calendly_sync.connect.views import start_connect
from calendly_sync.views import CalendlyWebhookView, brevo_import_notice

app_name = "calendly_sync"

urlpatterns = [
    # Probes for a deployment: exactly these paths, no trailing slash (no redirect for a probe).
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("webhooks/calendly/", CalendlyWebhookView.as_view(), name="webhook"),
    path("webhooks/calendly/<int:connection_id>/", CalendlyWebhookView.as_view(), name="webhook-connection"),
    path("webhooks/brevo/imports/<str:token>/", brevo_import_notice, name="brevo-import-notice"),
    path("connect/calendly/start/", start_connect, name="connect-calendly"),
    path("api/", include(api_urls)),
    path("book/<str:uuid>/", booking_page, name="booking-page"),
]
