"""Client-side pacing for Calendly's per-user limit (500 requests/min on paid plans).

Why: the limit is per *user* across every token and integration, and a backfill is N+1 calls
(events, then invitees per event), so pacing locally avoids most 429s; the ``X-RateLimit-*``
headers then tell us what the server really counts (other integrations share the budget).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from calendly_sync.http import header_seconds

DEFAULT_PER_MINUTE = 500


class RateLimiter:
    """Sliding-window limiter, adapted from response headers. Thread-safe.

    ``clock`` and ``sleep`` are injectable so tests run on a fake clock; ``sleep`` is always called
    outside the lock so other threads can keep updating the limiter.
    """

    def __init__(
        self,
        per_minute: int = DEFAULT_PER_MINUTE,
        *,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = per_minute
        self.window = window
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._stamps: deque[float] = deque()
        self._blocked_until = 0.0
        self._server_remaining: int | None = None
        self._server_reset_at = 0.0

    def _wait_time(self, now: float) -> float:
        while self._stamps and self._stamps[0] <= now - self.window:
            self._stamps.popleft()
        if now < self._blocked_until:
            return self._blocked_until - now
        if self._server_remaining is not None and now < self._server_reset_at and self._server_remaining <= 0:
            return self._server_reset_at - now
        if len(self._stamps) >= self.limit:
            return self._stamps[0] + self.window - now
        return 0.0

    def wait_time(self) -> float:
        """Seconds ``acquire()`` would block right now (0 when a request may go)."""
        with self._lock:
            return max(0.0, self._wait_time(self.clock()))

    def acquire(self) -> float:
        """Block until one request may be sent; return the total seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self.clock()
                wait = self._wait_time(now)
                if wait <= 0:
                    self._stamps.append(now)
                    if self._server_remaining is not None and now < self._server_reset_at:
                        self._server_remaining -= 1
                    return waited
            self.sleep(wait)
            waited += wait

    def update_from_headers(self, headers: Mapping[str, str]) -> None:
        """Adopt the server's view: limit, remaining budget and seconds until reset."""
        limit = header_seconds(headers, "X-RateLimit-Limit")
        remaining = header_seconds(headers, "X-RateLimit-Remaining")
        reset = header_seconds(headers, "X-RateLimit-Reset")
        with self._lock:
            now = self.clock()
            if limit is not None and limit >= 1:
                # Keep a few requests of headroom: calls already in flight (the concurrent invitee
                # fetches) are not in the server's count yet, and the two windows never align exactly.
                self.limit = max(1, int(limit) - HEADROOM)
            if remaining is not None and reset is not None:
                self._server_remaining = int(remaining)
                self._server_reset_at = now + reset
                if remaining <= 0:
                    self._blocked_until = max(self._blocked_until, now + reset)

    def block_for(self, seconds: float) -> float:
        """Hold every caller for ``seconds`` (e.g. after a 429); returns the deadline for ``release``."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self.clock() + seconds)
            return self._blocked_until

    def release(self, deadline: float) -> None:
        """The thread that set ``deadline`` has waited it out with its own sleep: don't wait twice.

        A no-op with real time (the deadline has passed); with an injected fake sleep it keeps the
        limiter from really sleeping again. A later, longer block by someone else is left alone.
        """
        with self._lock:
            if self._blocked_until == deadline:
                self._blocked_until = min(deadline, self.clock())


_registry: dict[str, RateLimiter] = {}
_registry_lock = threading.Lock()


HEADROOM = 4


def limiter_for(key: str, per_minute: int = DEFAULT_PER_MINUTE) -> RateLimiter:
    """The process-wide limiter for one Calendly user (key: the user URI or account id)."""
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = _registry[key] = RateLimiter(per_minute)
        return limiter


def alias(old_key: str, new_key: str) -> RateLimiter:
    """Let ``new_key`` use the limiter (and the calls already counted) of ``old_key``.

    A connection's first call (``/users/me``) is made before its Calendly user is known; once it
    is, the user's limiter must still count that call and any made meanwhile.
    """
    with _registry_lock:
        old = _registry.get(old_key)
        new = _registry.get(new_key)
        if old is None:
            return new or _registry.setdefault(new_key, RateLimiter())
        if new is None or new is old:
            _registry[new_key] = old
            return old
        with new._lock, old._lock:  # merge: the user's budget includes both histories
            new._stamps = deque(sorted([*new._stamps, *old._stamps]))
            new._blocked_until = max(new._blocked_until, old._blocked_until)
        _registry[old_key] = new
        return new


def reset_registry() -> None:
    """Forget all limiters (tests)."""
    with _registry_lock:
        _registry.clear()
