"""A request id for every HTTP request, in the logs (``request_id``) and in the response.

An ``X-Request-ID`` sent by the proxy in front (nginx ``$request_id``, a load balancer) is kept
when it looks like an id (letters, digits, ``.``, ``_``, ``-``; at most 64), so one request can be
followed from the proxy's log to the connector's; otherwise a new one is made. The response
carries it back in ``X-Request-ID``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from calendly_sync.logging import request_id

HEADER = "X-Request-ID"
_VALID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def choose_request_id(given: str | None) -> str:
    """The proxy's id when it looks like one (never a log injection), else a new random one."""
    if given and _VALID.fullmatch(given):
        return given
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Sets :data:`calendly_sync.logging.request_id` for the time of the request (put it first)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rid = choose_request_id(request.headers.get(HEADER))
        token = request_id.set(rid)
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        response[HEADER] = rid
        return response
