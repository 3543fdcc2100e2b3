"""One retry policy for stored work: webhook deliveries, contacts and automation events.

Why one policy: a Brevo outage hits all three at once, and they must heal together, on the same
schedule, by the same rule. Pure functions (no Django, no clock of their own), so the policy is
tested without a database; the callers read ``RETRY_HORIZON_HOURS`` and pass the horizon in.

The rule, by kind of failure:

* **transient** (Brevo's 5xx, 429 or 425, a timeout, a connection error, a missing or rejected
  API key that an operator can fix): retry, the delay doubling from 15 s to the 1 h cap, until the
  *horizon* (``RETRY_HORIZON_HOURS``, 72 h by default) has passed since the first failure of the
  current run of failures; then ``failed``. A long outage therefore loses nothing: it is retried
  every hour for three days, and what is failed after that can be requeued from the admin.
* **permanent** (Brevo refused this request: a 4xx other than 401, 425 and 429; a payload that
  cannot be applied): ``failed`` now, with Brevo's reason. Retrying the same request cannot help.
* **unexpected** (an exception nobody classified: a bug, a database error): retried until the
  row has made :data:`UNEXPECTED_ERROR_ATTEMPTS` attempts (about 2 h), then ``failed`` with the
  error, so a bug never keeps a row busy for three days, and never leaves it stuck. The attempts
  are those of the whole run of failures: a row that already waited out a long outage fails at
  its first unexpected error (and is requeued like any other).

The first failure's time is kept on the row (``first_failed_at``), set by the first failure,
cleared by a success and by a requeue, so the horizon counts a run of failures, not the row's age:
a delivery received a week ago and requeued today gets its full horizon again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

FIRST_DELAY = timedelta(seconds=15)
MAX_DELAY = timedelta(hours=1)  # "the capped delay": how long a healed outage waits at most
DEFAULT_HORIZON_HOURS = 72  # RETRY_HORIZON_HOURS' default (calendly_sync.conf declares the setting)
UNEXPECTED_ERROR_ATTEMPTS = 10  # 15 s doubling: the 10th attempt comes about 2 h after the first


class Failure(Enum):
    """What kind of failure ended an attempt; it decides whether and how long to retry."""

    TRANSIENT = "transient"
    PERMANENT = "permanent"
    UNEXPECTED = "unexpected"


def delay(attempts: int, rng: random.Random | None = None) -> timedelta:
    """The wait after the ``attempts``-th failure: 15 s, 30 s, 1 min … capped at 1 h, with jitter.

    The jitter (between half and all of the exponential value) spreads rows that failed together,
    so a healed outage is not met by every retry in the same second.
    """
    ceiling = min(MAX_DELAY.total_seconds(), FIRST_DELAY.total_seconds() * 2 ** max(0, min(attempts, 30) - 1))
    return timedelta(seconds=(rng or random).uniform(ceiling / 2, ceiling))


@dataclass(frozen=True)
class Verdict:
    """The decision after a failed attempt: retry at ``retry_at``, or give up (``retry_at`` is None).

    ``first_failed_at`` is the value to keep on the row; ``reason`` prefixes the stored error when
    giving up after retries (empty for a permanent error, whose own message says why).
    """

    retry_at: datetime | None
    first_failed_at: datetime
    reason: str = ""

    @property
    def give_up(self) -> bool:
        return self.retry_at is None

    def message(self, error: str) -> str:
        """The error as the row stores it: ``"gave up after …: <error>"`` when retries ran out."""
        return f"{self.reason}: {error}" if self.reason else error


def decide(
    failure: Failure,
    *,
    attempts: int,
    first_failed_at: datetime | None,
    now: datetime,
    horizon: timedelta | None,
    rng: random.Random | None = None,
) -> Verdict:
    """Retry or give up after the ``attempts``-th attempt failed with ``failure``.

    ``first_failed_at`` is the row's first failure of this run (None: this is the first), and
    ``horizon`` how long transient failures are retried from then (None: for ever, for contacts,
    which are desired state rather than messages: see :mod:`calendly_sync.push.ledger`).
    """
    first = first_failed_at or now
    if failure is Failure.PERMANENT:
        return Verdict(None, first)
    if failure is Failure.UNEXPECTED and attempts >= UNEXPECTED_ERROR_ATTEMPTS:
        return Verdict(None, first, f"gave up after {attempts} attempts")
    if failure is Failure.TRANSIENT and horizon is not None and now - first >= horizon:
        return Verdict(None, first, f"gave up after {attempts} attempts over {_duration(now - first)}")
    return Verdict(now + delay(attempts, rng), first)


def _duration(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:.0f} h" if hours >= 1 else f"{span.total_seconds() / 60:.0f} min"
