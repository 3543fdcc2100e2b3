"""What a server process does as it starts: ``connector_site/wsgi.py`` and ``asgi.py`` call :func:`started`,
and the WSGI application's short path for Calendly's deliveries (:func:`with_webhook_path`).

Here, not in ``AppConfig.ready()``: ready() runs for every management command (``migrate``,
``check``, a Celery worker) and for the tests, and none of them should start a background thread
or refuse to run. ``runserver`` loads the WSGI application (``WSGI_APPLICATION``) in the process
that serves, the autoreloader's child and never its parent, so it comes through here too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler, get_path_info
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

from calendly_sync.conf import app_settings
from calendly_sync.requestid import RequestIdMiddleware
from calendly_sync.tasks import start_with_server
from calendly_sync.views import CalendlyWebhookView

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

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


class WebhookHandler(WSGIHandler):
    """Django's WSGI handler with only the request-id middleware, for Calendly's deliveries.

    Why: the webhook endpoint is authenticated by its signature and answers JSON to a machine.
    Sessions, CSRF, authentication, messages, clickjacking and security headers, and the common
    middleware do nothing for it, and running them cost every acknowledgement about a tenth of
    its time. The request id stays, so its log lines can still be followed.
    """

    def load_middleware(self, is_async: bool = False) -> None:
        handler: Any = self  # BaseHandler's private attributes, which the type stubs do not declare
        handler._view_middleware = []
        handler._template_response_middleware = []
        handler._exception_middleware = []
        handler._middleware_chain = convert_exception_to_response(RequestIdMiddleware(self._sized_response))

    def _sized_response(self, request: HttpRequest) -> HttpResponse:
        """The view's answer with its ``Content-Length`` (as ``CommonMiddleware`` sets it), not chunked."""
        handler: Any = self
        response: HttpResponse = handler._get_response(request)
        if not response.streaming and not response.has_header("Content-Length"):
            response.headers["Content-Length"] = str(len(response.content))
        return response


@lru_cache(maxsize=1024)
def is_webhook_path(path_info: str) -> bool:
    """Whether the URLconf sends this path to the webhook endpoint (any path the URLconf gives it)."""
    try:
        match = resolve(path_info)
    except Resolver404:
        return False
    return getattr(match.func, "view_class", None) is CalendlyWebhookView


def with_webhook_path(application: WSGIHandler) -> WSGIApp:
    """The WSGI application: webhook deliveries through :class:`WebhookHandler`, the rest through ``application``."""
    webhooks = WebhookHandler()

    def route(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST" and is_webhook_path(get_path_info(environ)):
            return webhooks(environ, start_response)
        return application(environ, start_response)

    return route
