"""Phone numbers compare by their E.164 digits (sandbox/brevo/records.py)."""

from __future__ import annotations

from calendly_sync.sandbox.brevo import phone_key


def test_phone_key_spellings():
    assert phone_key("+33612345678") == phone_key("0033612345678") == phone_key("33 6 12 34 56 78") == "33612345678"
    assert phone_key("0612345678") is None and phone_key("hello") is None and phone_key(True) is None
