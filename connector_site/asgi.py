"""ASGI entry point."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connector_site.settings")
application = get_asgi_application()

# After the application: the app's modules need the app registry that get_asgi_application() loads.
from calendly_sync import server  # noqa: E402

server.started()  # refuse the development SECRET_KEY; start the embedded worker with the server
