"""WSGI entry point (gunicorn, uWSGI, and ``runserver``, which loads it through ``WSGI_APPLICATION``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connector_site.settings")
django_application = get_wsgi_application()

# After the application: the app's modules need the app registry that get_wsgi_application() loads.
from calendly_sync import server  # noqa: E402

application = server.with_webhook_path(django_application)  # Calendly's deliveries skip the page middleware
server.started()  # refuse the development SECRET_KEY; start the embedded worker with the server
