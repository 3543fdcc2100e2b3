"""Text no database can store, declared once: a NUL character and an unpaired UTF-16 surrogate.

PostgreSQL's ``text`` and ``jsonb`` refuse NUL (``\\x00``); a surrogate that is not half of a pair
(``\\ud800`` – ``\\udfff`` alone) has no UTF-8 encoding, so both SQLite's and psycopg's drivers fail
to send it (``UnicodeEncodeError``), and so does every UTF-8 response that would echo it. JSON
carries them as the escapes ``\\u0000`` and ``\\uD800`` – ``\\uDFFF``; a form or a query string
can carry only NUL (``%00``: Django decodes broken UTF-8 with replacement characters); a command's
argument can carry a surrogate (Python decodes bytes that are not UTF-8 as ``\\udc80`` –
``\\udcff``). Every door refuses them with :func:`unstorable` (a 4xx, or one skipped row), before
a database or a template sees them. Pure: no Django.
"""

from __future__ import annotations

import re
from typing import Any

NUL = "contains a NUL character (\\u0000)"
SURROGATE = "contains an unpaired UTF-16 surrogate (\\uD800 to \\uDFFF without its pair)"

_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored (``"contains …"``), or None."""
    if "\x00" in text:
        return NUL
    if _SURROGATE.search(text):
        return SURROGATE
    return None


def unstorable(value: Any, raw: bytes | None = None) -> str | None:
    """Why a JSON-like value's strings (object keys included) cannot be stored, or None.

    ``raw``, the JSON text ``value`` was parsed from, lets a body without the escapes skip the walk:
    valid JSON carries these characters only as ``\\u0000`` and ``\\uD8..`` – ``\\uDF..`` (the
    parser refuses raw control characters, and raw surrogates are not UTF-8).
    """
    if raw is not None and b"\\u0000" not in raw and b"\\ud" not in raw and b"\\uD" not in raw:
        return None
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return problem
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return None
