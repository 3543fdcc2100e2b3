"""Phone numbers to E.164 and time zones to countries (pure functions, no database)."""

from __future__ import annotations

import pytest

from calendly_sync.sync.phones import normalize_phone, region_for_timezone


@pytest.mark.parametrize(
    "raw,tz,expected",
    [
        ("+1 404-555-1234", None, "+14045551234"),
        ("06 12 34 56 78", "Europe/Paris", "+33612345678"),
        ("0033 6 12 34 56 78", None, "+33612345678"),
        ("(404) 555-1234", "America/Chicago", "+14045551234"),
        ("12345", "Europe/Paris", None),
        ("06 12 34 56 78", None, None),  # no country code and no hint: refuse, don't guess
        ("", "Europe/Paris", None),
    ],
)
def test_normalize_phone(raw: str, tz: str | None, expected: str | None) -> None:
    assert normalize_phone(raw, timezone=tz) == expected


def test_normalize_phone_default_region() -> None:
    assert normalize_phone("06 12 34 56 78", default_region="FR") == "+33612345678"


@pytest.mark.parametrize(
    "tz,region",
    [
        ("Europe/Paris", "FR"),
        ("America/New_York", "US"),
        ("Europe/London", "GB"),
        ("Asia/Kolkata", "IN"),
        ("Asia/Calcutta", "IN"),
        ("America/Sao_Paulo", "BR"),
        ("Australia/Sydney", "AU"),
        ("America/Toronto", "CA"),
        ("Africa/Lagos", "NG"),
        ("America/New York", "US"),
        ("UTC", None),
        (None, None),
        ("Not/AZone", None),
    ],
)
def test_region_for_timezone(tz: str | None, region: str | None) -> None:
    assert region_for_timezone(tz) == region


def test_a_number_is_parsed_once_and_odd_arguments_still_answer(monkeypatch) -> None:
    """A refresh maps a booking's answers more than once: the parse is cached, by its arguments."""
    import phonenumbers

    calls = []
    real = phonenumbers.parse
    monkeypatch.setattr(phonenumbers, "parse", lambda *a, **k: calls.append(a) or real(*a, **k))
    raw = "+33 6 98 76 54 32"
    assert [normalize_phone(raw, timezone="Europe/Paris") for _ in range(3)] == ["+33698765432"] * 3
    assert len(calls) == 1
    assert normalize_phone(raw, timezone=["Europe/Paris"]) == "+33698765432"  # type: ignore[arg-type]
    assert normalize_phone(4045551234, timezone="America/Chicago") == "+14045551234"  # type: ignore[arg-type]
