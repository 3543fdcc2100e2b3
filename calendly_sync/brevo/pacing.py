"""How hard the Brevo client may call: per-bucket pacing, the hourly budget, and call counters.

Brevo limits ``/contacts*`` and ``/events`` to 10 requests a second each and the "all other
endpoints" bucket to 100 an hour on the General plan (shared/reference/brevo-api.md §7). These
pieces keep the client under those limits before a 429 says so; they know nothing of HTTP, so
they are tested with a fake clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class ClientStats:
    """Thread-safe counters so callers and tests can see how hard the client worked."""

    FIELDS = ("calls", "rate_limited", "retries", "paced")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0
        self.rate_limited = 0
        self.retries = 0
        self.paced = 0  # calls that had to wait for the pacer

    def incr(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return {name: getattr(self, name) for name in self.FIELDS}

    def __repr__(self) -> str:
        return f"ClientStats({self.as_dict()})"


class Pacer:
    """Spaces requests per bucket so at most ``rate_per_second`` start in any rolling second.

    Why spacing rather than a token bucket: Brevo counts a rolling second server-side and network
    jitter shifts arrival times, so even spacing with a little ``headroom`` never bursts into the
    limit. Reservations are made under a lock and the sleep happens outside it, so concurrent
    threads queue up in order. ``defer`` pushes a bucket back (used after a 429 so every thread
    sharing the client waits for the reset, not just the one that was refused).
    """

    def __init__(
        self,
        rate_per_second: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        headroom: float = 0.10,
    ) -> None:
        if rate_per_second is not None and rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive or None")
        self.rate_per_second = rate_per_second
        self.interval = (1.0 / rate_per_second) * (1.0 + headroom) if rate_per_second else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def reserve(self, bucket: str) -> float:
        """Claim the next slot in ``bucket``; returns how long the caller must wait for it."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next.get(bucket, now))
            self._next[bucket] = slot + self.interval
            return slot - now

    def acquire(self, bucket: str) -> float:
        """Wait for the next slot in ``bucket``; returns the seconds waited."""
        wait = self.reserve(bucket)
        if wait > 0:
            self._sleep(wait)
        return wait

    def defer(self, bucket: str, seconds: float) -> None:
        """Let nothing start in ``bucket`` for ``seconds`` from now."""
        with self._lock:
            until = self._clock() + max(0.0, seconds)
            self._next[bucket] = max(self._next.get(bucket, until), until)


class HourlyBudget:
    """Calls left this hour in Brevo's "all other endpoints" bucket (100/hour on the General plan).

    That bucket holds ``GET /processes/{id}``, so every bulk import spends some of it on polls.
    Counting our own calls over a sliding hour (and believing the server's
    ``x-sib-ratelimit-remaining`` when it is lower) lets the pusher choose single upserts before
    the budget runs out, instead of finding out through a 429 that can ask to wait for an hour.
    """

    WINDOW = 3600.0

    def __init__(self, per_hour: int | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_hour = per_hour
        self._clock = clock
        self._calls: list[float] = []
        self._server: tuple[int, float] | None = None  # (remaining, valid until)
        self._lock = threading.Lock()

    def spend(self) -> None:
        with self._lock:
            self._calls.append(self._clock())

    def observe(self, remaining: int | None, reset_seconds: float | None) -> None:
        if remaining is not None:
            with self._lock:
                self._server = (remaining, self._clock() + (reset_seconds if reset_seconds is not None else 60.0))

    def left(self) -> int | None:
        """Calls left, or None when unlimited."""
        if self.per_hour is None:
            return None
        with self._lock:
            now = self._clock()
            self._calls = [t for t in self._calls if now - t < self.WINDOW]
            left = self.per_hour - len(self._calls)
            if self._server is not None and now < self._server[1]:
                left = min(left, self._server[0])
            return max(0, left)


def bucket_for(path: str) -> str:
    """Brevo's rate-limit bucket for an API path (§7): contacts, events, or everything else."""
    if path == "/contacts" or path.startswith("/contacts/"):
        return "contacts"
    if path == "/events" or path.startswith("/events/"):
        return "events"
    return "other"
