"""Build API clients for a connection from its (decrypted) credentials and the settings' URLs."""
from __future__ import annotations

from django.conf import settings

from .brevo.client import BrevoClient
from .models import Connection


# Extra keyword arguments for the clients (tests swap in recording sleeps and a fast retry policy).
CLIENT_OPTIONS: dict[str, dict[str, object]] = {"brevo": {}, "calendly": {}}


class MissingCredentials(RuntimeError):
    """A connection has no token or key, and the environment offers no default."""


def brevo_client_for(connection: Connection, **kwargs: object) -> BrevoClient:
    key = connection.effective_brevo_api_key()
    if not key:
        raise MissingCredentials(
            f"Connection '{connection.name}' has no Brevo API key: set one in the admin or BREVO_API_KEY."
        )
    options = {**CLIENT_OPTIONS["brevo"], **kwargs}
    return BrevoClient(key, settings.BREVO_API_URL, **options)  # type: ignore[arg-type]


def calendly_client_for(connection: Connection, **kwargs: object):  # type: ignore[no-untyped-def]
    from .calendly.client import CalendlyClient
    from .calendly.ratelimit import limiter_for
    from .tokens import token_source_for

    source = token_source_for(connection)
    options = {**CLIENT_OPTIONS["calendly"], **kwargs}
    options.setdefault("rate_limiter", limiter_for(connection.calendly_user_uri or f"connection:{connection.pk}"))
    return CalendlyClient(source, settings.CALENDLY_API_URL, **options)  # type: ignore[arg-type]
