"""In-process Prometheus instruments: what only the process that did it knows.

Counts that live in the database (deliveries, backlog, contacts, events, subscriptions) are not
here: :mod:`calendly_sync.metrics` computes them at scrape time, so they are right whichever
process is scraped. What is here is counted by the process that did it, since it started: the
webhook endpoint's acknowledgement latency, the calls to Calendly and Brevo (and their 429s), the
token refreshes. With several server processes (gunicorn workers) or Celery workers, each counts
its own; a scrape sees the process that answered (README, "Metrics").

Framework-free (prometheus-client only), so the API clients' HTTP layer can count its calls.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import requests
from prometheus_client import Counter, Histogram

API_CALLS = Counter(
    "calendly_sync_api_calls",
    "HTTP calls this process made to an API, by API and response status (0: no response).",
    ["api", "status"],
)
API_RATE_LIMITED = Counter(
    "calendly_sync_api_rate_limited",
    "429 Too Many Requests answers this process received, by API.",
    ["api"],
)
TOKEN_REFRESHES = Counter(
    "calendly_sync_token_refreshes",
    "Calendly OAuth token refreshes this process attempted, by outcome (ok, failed).",
    ["outcome"],
)
ACK_LATENCY = Histogram(
    "calendly_sync_webhook_ack_seconds",
    "Seconds the webhook endpoint took to answer a delivery in this process, by response status.",
    ["status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


#: When this process last received 429s, by API (the overview counts the last 24 hours' of them:
#: a counter since the start would keep one old 429 on the dashboard until a restart).
_RATE_LIMITED_AT: dict[str, deque[float]] = {}
_RATE_LIMITED_KEPT = 10_000
_rate_limited_lock = threading.Lock()


def count_response(api: str) -> Any:
    """A ``requests`` response hook counting every answer of ``api`` (429s apart as well)."""

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        API_CALLS.labels(api=api, status=str(response.status_code)).inc()
        if response.status_code == 429:
            API_RATE_LIMITED.labels(api=api).inc()
            with _rate_limited_lock:
                _RATE_LIMITED_AT.setdefault(api, deque(maxlen=_RATE_LIMITED_KEPT)).append(time.time())

    return hook


def rate_limited_since(api: str, since: float) -> int:
    """429s from ``api`` this process received at or after ``since`` (a ``time.time()``)."""
    with _rate_limited_lock:
        return sum(1 for at in _RATE_LIMITED_AT.get(api, ()) if at >= since)


def forget_rate_limits() -> None:
    """Forget when the 429s came (tests; the Prometheus counters are left alone)."""
    with _rate_limited_lock:
        _RATE_LIMITED_AT.clear()


def token_refreshed(*, ok: bool) -> None:
    TOKEN_REFRESHES.labels(outcome="ok" if ok else "failed").inc()
