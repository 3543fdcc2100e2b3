"""The Brevo client's pacing and hourly budget, with a fake clock (no HTTP)."""

from __future__ import annotations

import pytest

from calendly_sync.brevo.pacing import HourlyBudget, Pacer


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_pacer_spaces_calls_per_bucket_with_fake_clock():
    clock = _Clock()
    pacer = Pacer(10, clock=clock, sleep=clock.sleep, headroom=0.0)
    starts = []
    for _ in range(25):
        pacer.acquire("contacts")
        starts.append(clock.now)
    # never more than 10 starts in any rolling second
    assert all(starts[i + 10] - starts[i] >= 1.0 - 1e-9 for i in range(len(starts) - 10))
    assert clock.sleeps == pytest.approx([0.1] * 24)
    # another bucket is independent
    assert pacer.acquire("events") == 0
    # time passing frees the bucket
    clock.now += 5
    assert pacer.acquire("contacts") == 0
    # defer holds the bucket back
    pacer.defer("contacts", 2.0)
    assert pacer.acquire("contacts") == pytest.approx(2.0)
    # disabled pacer never waits
    assert Pacer(None, clock=clock, sleep=clock.sleep).acquire("contacts") == 0


def test_hourly_budget_counts_a_sliding_hour_and_believes_a_lower_server_figure():
    now = [1000.0]
    budget = HourlyBudget(3, clock=lambda: now[0])
    for _ in range(3):
        budget.spend()
    assert budget.left() == 0
    now[0] += 3601
    assert budget.left() == 3
    budget.observe(1, 120.0)  # the server says fewer are left (another process spent them)
    assert budget.left() == 1
    now[0] += 121
    assert budget.left() == 3
    assert HourlyBudget(None).left() is None
