"""Rate limits and injected faults, in Brevo's shape (``x-sib-ratelimit-*`` headers).

Why: the connector paces itself on Brevo's headers and retries 429, 425 and 5xx. The limiter is
off unless ``rate_limit_per_second`` is set; it covers the contacts and events buckets as a rolling
one-second window of accepted requests (``reset`` in whole seconds). ``other_rate_limit_per_hour``
(off by default; Brevo's General plan: 100) limits every other endpoint, ``GET /processes/{id}``
among them, over a sliding hour. Tests force 429s, errors, timeouts and latency per route.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from calendly_sync.sandbox.brevo.records import BrevoRecords
from calendly_sync.sandbox.httpbase import Fault, Response


class Limits(BrevoRecords):
    """The per-bucket rate limiter and the fault helpers tests call."""

    rate_limit_per_second: int | None
    other_rate_limit_per_hour: int | None
    clock: Callable[[], float]

    def force_429(self, times: int = 1, reset: int | float = 1, route: str | None = None) -> Fault:
        """Answer the next ``times`` matching calls with Brevo's 429 (headers included)."""
        return self.inject(
            Fault(kind="rate_limit", route=route, times=times, headers={"x-sib-ratelimit-reset": str(reset)})
        )

    def fail_next(
        self,
        status: int = 500,
        body: Any = None,
        route: str | None = None,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
    ) -> Fault:
        """Answer the next ``times`` matching calls with ``status``. ``body=b""`` sends an empty body."""
        return self.inject(
            Fault(kind="status", route=route, status=status, body=body, times=times, headers=dict(headers or {}))
        )

    def too_early(self, times: int = 1, route: str | None = None) -> Fault:
        """Brevo's 425 (contact error model, ``account_in_process``)."""
        return self.fail_next(
            425, {"code": "account_in_process", "message": "Account is being processed"}, route, times=times
        )

    def timeout_next(self, seconds: float = 2.0, route: str | None = None, *, times: int = 1) -> Fault:
        """Hold the next matching calls for ``seconds`` (then 504) so client read-timeouts fire."""
        return self.inject(Fault(kind="timeout", route=route, seconds=seconds, times=times))

    def slow_next(self, seconds: float, route: str | None = None, *, times: int = 1) -> Fault:
        return self.inject(Fault(kind="latency", route=route, seconds=seconds, times=times))

    def rate_limited_response(self, fault: Fault) -> Response:
        limit = self.rate_limit_per_second or 10
        headers = {
            "x-sib-ratelimit-limit": str(limit),
            "x-sib-ratelimit-remaining": "0",
            "x-sib-ratelimit-reset": fault.headers.get("x-sib-ratelimit-reset", "1"),
        }
        return Response(429, self._too_many_body(), headers)

    @staticmethod
    def _too_many_body() -> dict[str, str]:
        return {
            "code": "too_many_requests",
            "message": "The rate limit for this endpoint has been exceeded; retry after x-sib-ratelimit-reset seconds",
        }

    def _bucket(self, path: str) -> str:
        if path == "/v3/contacts" or path.startswith("/v3/contacts/"):
            return "contacts"
        if path == "/v3/events" or path.startswith("/v3/events/"):
            return "events"
        return "other"

    def _rate_check(self, path: str) -> tuple[Response | None, dict[str, str]]:
        bucket = self._bucket(path)
        if path.startswith("/_sim/"):
            return None, {}
        limit, span = (
            (self.other_rate_limit_per_hour, 3600.0) if bucket == "other" else (self.rate_limit_per_second, 1.0)
        )
        if limit is None:
            return None, {}
        now = self.clock()
        window = self._windows[bucket]
        while window and window[0] <= now - span:
            window.popleft()
        if len(window) >= limit:
            reset = max(1, math.ceil(window[0] + span - now))
            headers = {
                "x-sib-ratelimit-limit": str(limit),
                "x-sib-ratelimit-remaining": "0",
                "x-sib-ratelimit-reset": str(reset),
            }
            self.rate_limited += 1
            return Response(429, self._too_many_body(), headers), {}
        window.append(now)
        return None, {
            "x-sib-ratelimit-limit": str(limit),
            "x-sib-ratelimit-remaining": str(limit - len(window)),
            "x-sib-ratelimit-reset": str(max(1, math.ceil(window[0] + span - now))),
        }
