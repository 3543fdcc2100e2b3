"""storable: which text no database can store (pure, no database)."""

from __future__ import annotations

import json

import pytest

from calendly_sync.storable import NUL, SURROGATE, text_problem, unstorable


@pytest.mark.parametrize(
    "raw,expected",
    [
        (b'{"a": "x\\u0000"}', NUL),
        (b'{"a": ["ok", {"b": "\\ud800"}]}', SURROGATE),
        (b'{"\\uDFFF": 1}', SURROGATE),  # in a key
        (b'{"a": "\\ud83d\\ude00"}', None),  # a pair: one character
        (b'{"a": "\\\\ud800 \\\\u0000"}', None),  # escaped backslashes, then letters
        (b'{"a": "caf\\u00e9", "n": 1, "t": true, "z": null}', None),
    ],
)
def test_unstorable_walks_values_and_keys(raw: bytes, expected: str | None) -> None:
    value = json.loads(raw)
    assert unstorable(value) == expected
    assert unstorable(value, raw) == expected  # the fast path agrees


def test_text_problem() -> None:
    assert text_problem("plain") is None and text_problem("\U0001f600") is None
    assert text_problem("a\x00") == NUL and text_problem("\udcff") == SURROGATE
