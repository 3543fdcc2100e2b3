"""A connection's first call, made before its Calendly user is known, still counts for that user."""

from calendly_sync.calendly import ratelimit


def test_alias_carries_the_calls_already_made_over_to_the_user():
    ratelimit.reset_registry()
    clock = [100.0]
    first = ratelimit.limiter_for("connection:1", per_minute=3)
    first.clock = lambda: clock[0]
    first.acquire()
    first.acquire()
    user = ratelimit.alias("connection:1", "https://api.calendly.com/users/u")
    assert user is first and ratelimit.limiter_for("https://api.calendly.com/users/u") is first
    user.acquire()
    assert user.wait_time() > 0  # the budget of 3 is used up by the calls made under both keys


def test_alias_merges_into_an_existing_user_limiter():
    ratelimit.reset_registry()
    existing = ratelimit.limiter_for("https://api.calendly.com/users/u", per_minute=2)
    early = ratelimit.limiter_for("connection:2", per_minute=2)
    existing.acquire()
    early.acquire()
    merged = ratelimit.alias("connection:2", "https://api.calendly.com/users/u")
    assert merged is existing and merged.wait_time() > 0
    assert ratelimit.limiter_for("connection:2") is existing
