"""Retry and backoff decisions shared by the Calendly and Brevo clients.

Pure functions, so the policy is testable without a network.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

import requests

from calendly_sync.instruments import count_response

DEFAULT_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds
USER_AGENT = "calendly-brevo-connector/0.1 (+https://github.com/)"


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4  # attempts after the first
    base_delay: float = 0.5
    max_delay: float = 30.0  # cap for exponential backoff without server guidance
    max_rate_limit_wait: float = 120.0  # never wait longer than this for a 429 reset
    # False: a 429 is raised at once (with the server's reset) instead of waited out. For calls made
    # while a person waits (the scheduling API): they get a 429 with Retry-After, not a hung request.
    wait_on_rate_limit: bool = True

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Capped exponential backoff with full jitter for attempt 1, 2, 3…"""
        r = rng or random
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(0, attempt - 1)))
        return r.uniform(ceiling / 2, ceiling)

    def worst_case_seconds(self, timeout: float | tuple[float, float]) -> float:
        """The longest one logical request can take, all its attempts and waits included.

        Every attempt may first wait the longest wait there is (a 429's reset, up to
        ``max_rate_limit_wait``, or the backoff cap; the pacer can hold even the first attempt that
        long after another thread's 429), then take the whole connect timeout and the whole read
        timeout. A claim on work that outlives a request must be longer than this (see
        ``calendly_sync.push.events.STALE_EVENT_CLAIM``), or a second worker could take the work
        over while the first is still waiting for Brevo's answer.
        """
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        longest_wait = max(self.max_delay, self.max_rate_limit_wait)
        return (self.max_retries + 1) * (longest_wait + connect + read)


def header_seconds(headers: Mapping[str, str], *names: str) -> float | None:
    """The first of ``names`` that parses as a non-negative number of seconds, else ``None``."""
    for name in names:
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            continue
        if seconds >= 0:
            return seconds
    return None


def new_session(api: str = "other") -> requests.Session:
    """A pooled session with an explicit User-Agent (some CDNs block library defaults).

    Every answer is counted under ``api`` (``calendly_sync_api_calls_total``, and the 429s).
    """
    session = requests.Session()
    session.hooks["response"].append(count_response(api))
    adapter = requests.adapters.HTTPAdapter(pool_connections=10, pool_maxsize=32)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session
