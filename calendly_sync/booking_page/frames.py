"""Which sites may show the booking page in an iframe: ``BOOKING_FRAME_ANCESTORS`` → CSP. Pure.

Why a CSP ``frame-ancestors`` rather than ``X-Frame-Options``: XFO can only say DENY or SAMEORIGIN,
never "these other sites", and browsers that know CSP ignore XFO when ``frame-ancestors`` is sent.
The booking page is the only page that may be framed; every other page keeps ``X-Frame-Options:
DENY`` (Django's middleware).

Each entry must be an origin (``https://www.example.com``, ``http://localhost:8080``, or
``https://*.example.com`` for every subdomain): a value with a path, a query or a character that
could end the directive (``;``, ``,``, a space, a quote) is refused by the system check and left
out of the header, so a typo can never widen what the header allows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

#: A CSP host-source for an origin: scheme, host (optionally ``*.`` for subdomains), optional port.
_HOST = re.compile(r"^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$")
_IPV6 = re.compile(r"^\[[0-9A-Fa-f:.]+\]$")

#: Directives sent with ``frame-ancestors``: the page loads only its own scripts, styles and form targets.
PAGE_POLICY = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'"


def origin_problem(value: object) -> str | None:
    """Why ``value`` is not an origin a CSP ``frame-ancestors`` can name, or None when it is one."""
    if not isinstance(value, str):
        return f"expected a string, not {type(value).__name__}"
    text = value.strip()
    if not text:
        return "is empty"
    if any(c in text for c in " \t\r\n;,'\""):
        return "contains a space, a quote, ',' or ';'"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        return "must start with https:// (or http://)"
    if parts.path not in ("", "/") or parts.query or parts.fragment or text.endswith(("?", "#")):
        return "must be an origin only (scheme, host and port), without a path, query or fragment"
    if "@" in parts.netloc:
        return "must not contain a user name or password"
    return _host_port_problem(parts.netloc)


def _host_port_problem(netloc: str) -> str | None:
    host, port = netloc, ""
    if not netloc.endswith("]") and ":" in netloc:
        host, _, port = netloc.rpartition(":")
        if not port.isdigit() or not 0 < int(port) < 65536:
            return f"has an invalid port {port!r}"
    if not host:
        return "has no host"
    if not (_HOST.match(host) or _IPV6.match(host)):
        return f"has an invalid host {host!r}"
    return None


def normalize(origin: str) -> str:
    """An origin as the header names it: no surrounding space, no trailing slash, lower-case scheme and host."""
    text = origin.strip().rstrip("/")
    parts = urlsplit(text)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def frame_ancestors(origins: Iterable[object]) -> str:
    """The ``frame-ancestors`` directive: the site itself and each well-formed origin (others are left out)."""
    allowed: list[str] = []
    for origin in origins:
        if isinstance(origin, str) and origin_problem(origin) is None:
            value = normalize(origin)
            if value not in allowed:
                allowed.append(value)
    return " ".join(["frame-ancestors", "'self'", *allowed])


def content_security_policy(origins: Iterable[object]) -> str:
    """The booking page's whole ``Content-Security-Policy`` header."""
    return f"{PAGE_POLICY}; {frame_ancestors(origins)}"
