"""The connector's own count of bookings against the plan's quotas (scheduling/pacing.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from calendly_sync.models import BookingCall, Connection
from calendly_sync.scheduling.errors import QuotaExceeded
from calendly_sync.scheduling.pacing import reserve_booking, usage

pytestmark = pytest.mark.django_db
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
USER = "https://api.calendly.com/users/AAAA"


@pytest.fixture
def conn(db: Any) -> Connection:
    return Connection.objects.create(name="pace", calendly_user_uri=USER)


def test_the_paid_plan_allows_10_a_minute_then_says_when_to_retry(conn: Connection) -> None:
    for i in range(10):
        reserve_booking(conn, now=NOW + timedelta(seconds=i))
    with pytest.raises(QuotaExceeded) as info:
        reserve_booking(conn, now=NOW + timedelta(seconds=20))
    assert info.value.retry_after == 40 and info.value.source == "connector"
    assert "10 per minute" in info.value.message
    assert BookingCall.objects.count() == 10  # a refused reservation is not counted
    reserve_booking(conn, now=NOW + timedelta(seconds=60))  # the oldest left the minute


def test_the_hour_and_the_day_count_too(conn: Connection) -> None:
    for i in range(50):
        reserve_booking(conn, now=NOW + timedelta(minutes=i))
    with pytest.raises(QuotaExceeded) as info:
        reserve_booking(conn, now=NOW + timedelta(minutes=55))
    assert info.value.retry_after == 5 * 60
    assert usage(conn, now=NOW + timedelta(minutes=55)).describe() == (
        "0 of 10 per minute, 50 of 50 per hour, 50 of 100 per day"
    )


def test_the_quota_is_per_calendly_user_across_connections(conn: Connection) -> None:
    other = Connection.objects.create(name="same-user", calendly_user_uri=USER)
    for i in range(5):
        reserve_booking(conn, now=NOW + timedelta(seconds=i))
        reserve_booking(other, now=NOW + timedelta(seconds=i))
    with pytest.raises(QuotaExceeded):
        reserve_booking(conn, now=NOW + timedelta(seconds=10))
    third = Connection.objects.create(name="another-user", calendly_user_uri=USER + "B")
    reserve_booking(third, now=NOW + timedelta(seconds=10))


def test_trial_and_enterprise(conn: Connection) -> None:
    conn.scheduling_plan = "trial"
    for i in range(5):
        reserve_booking(conn, now=NOW + timedelta(hours=i))
    with pytest.raises(QuotaExceeded) as info:
        reserve_booking(conn, now=NOW + timedelta(hours=5))
    assert info.value.retry_after == 19 * 3600
    conn.scheduling_plan = "enterprise"
    for i in range(20):  # more than the paid plan allows in a minute
        reserve_booking(conn, now=NOW + timedelta(hours=6, milliseconds=i))


def test_calls_older_than_a_day_are_deleted(conn: Connection) -> None:
    reserve_booking(conn, now=NOW)
    reserve_booking(conn, now=NOW + timedelta(days=1, seconds=1))
    assert BookingCall.objects.count() == 1
