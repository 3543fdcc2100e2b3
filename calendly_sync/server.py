"""What a server process does as it starts: ``connector_site/wsgi.py`` and ``asgi.py`` call :func:`started`.

Here, not in ``AppConfig.ready()``: ready() runs for every management command (``migrate``,
``check``, a Celery worker) and for the tests, and none of them should start a background thread
or refuse to run. ``runserver`` loads the WSGI application (``WSGI_APPLICATION``) in the process
that serves, the autoreloader's child and never its parent, so it comes through here too.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from calendly_sync.conf import app_settings
from calendly_sync.tasks import start_with_server

INSECURE_SECRET_KEY_MESSAGE = (
    "Refusing to serve: SECRET_KEY is the built-in development key and DEBUG is off. Set the SECRET_KEY "
    "environment variable to a long random value, e.g. the output of "
    "python -c 'import secrets; print(secrets.token_urlsafe(50))' (or DEBUG=true for local development). "
    "Management commands such as migrate still run with it."
)


def refuse_insecure_secret_key() -> None:
    """Sessions signed with a key published in the source code can be forged: never serve with it.

    Only a server refuses; ``manage.py check`` reports it (``calendly_sync.W001``) and commands
    still run, so a fresh install can migrate before its environment is complete.
    """
    if not settings.DEBUG and settings.SECRET_KEY == app_settings.INSECURE_DEFAULT_SECRET_KEY:
        raise ImproperlyConfigured(INSECURE_SECRET_KEY_MESSAGE)


def started() -> None:
    """Call once the application is built, in the process that serves requests."""
    refuse_insecure_secret_key()
    start_with_server()
