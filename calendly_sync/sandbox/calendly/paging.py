"""Query and body parsing, and Calendly's keyset pagination (§6), shared by the API routes.

Why: every list endpoint validates ``count`` (1–100), ``sort`` (``field:asc|desc``), timestamps
and booleans the same way, and pages with opaque tokens that are bound to the request's filters,
stable under inserts, and carry both ``next_page`` URLs and bare tokens.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from calendly_sync.sandbox.calendly.records import CalendlyRecords, b64, invalid, to_ts, unb64
from calendly_sync.sandbox.httpbase import Request, Response


class _Desc:
    """Wraps a sort value so descending fields can share one tuple ordering with ascending ones."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: _Desc) -> bool:
        return bool(self.v > other.v)

    def __gt__(self, other: _Desc) -> bool:
        return bool(self.v < other.v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.v == other.v

    def __hash__(self) -> int:
        return hash(self.v)


def count_param(req: Request) -> int:
    raw = req.q("count")
    if raw is None:
        return 20
    try:
        value = int(raw)
    except ValueError:
        raise invalid("count", "must be an integer between 1 and 100") from None
    if not 1 <= value <= 100:
        raise invalid("count", "must be between 1 and 100")
    return value


def sort_param(req: Request, allowed: tuple[str, ...], default: str) -> list[tuple[str, bool]]:
    raw = req.q("sort") or default
    spec = []
    for part in raw.split(","):
        field, _, direction = part.strip().partition(":")
        direction = direction or "asc"
        if field not in allowed or direction not in ("asc", "desc"):
            raise invalid("sort", f"must be one of {', '.join(a + ':asc|desc' for a in allowed)}")
        spec.append((field, direction == "desc"))
    return spec


def time_param(req: Request, name: str) -> float | None:
    raw = req.q(name)
    if raw is None or raw == "":
        return None
    try:
        return to_ts(raw)
    except ValueError:
        raise invalid(name, "must be a valid UTC timestamp like 2020-01-02T03:04:05.678123Z") from None


def bool_param(req: Request, name: str) -> bool | None:
    raw = req.q(name)
    if raw is None:
        return None
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise invalid(name, "must be true or false")


def paginate(
    sim: CalendlyRecords,
    req: Request,
    items: list[dict[str, Any]],
    sort: list[tuple[str, bool]],
    keyfn: Callable[[dict[str, Any], str], Any],
) -> Response:
    """Keyset pagination with opaque tokens bound to the request's filters (§6)."""
    count = count_param(req)
    filters = [(k, v) for k in sorted(req.query) if k not in ("count", "page_token") for v in req.query[k]]
    fhash = hashlib.sha256(json.dumps(filters).encode()).hexdigest()[:16]
    dirs = [desc for _, desc in sort] + [False]

    def raw_key(rec: dict[str, Any]) -> list[Any]:
        return [keyfn(rec, f) for f, _ in sort] + [rec["_id"]]

    def rank(values: list[Any]) -> tuple[Any, ...]:
        return tuple(_Desc(v) if d else v for v, d in zip(values, dirs, strict=False))  # a token's key may not fit

    keyed = sorted(((raw_key(r), r) for r in items), key=lambda p: rank(p[0]))
    ranks = [rank(k) for k, _ in keyed]
    token = req.q("page_token")
    start = 0
    if token:
        try:
            data = json.loads(unb64(token))
            direction, cursor, th = data["d"], data["k"], data["h"]
            cursor_rank = rank(cursor)
        except Exception:  # noqa: BLE001 - whatever is wrong with a token, Calendly answers "is invalid"
            raise invalid("page_token", "is invalid") from None
        if th != fhash:
            raise invalid("page_token", "does not match the other query parameters")
        if direction == "n":
            start = bisect.bisect_right(ranks, cursor_rank)
        else:
            start = max(0, bisect.bisect_left(ranks, cursor_rank) - count)
    page = keyed[start : start + count]
    end = start + len(page)

    def tok(direction: str, key: list[Any]) -> str:
        return b64(json.dumps({"d": direction, "k": key, "h": fhash}).encode())

    next_tok = tok("n", keyed[end - 1][0]) if page and end < len(keyed) else None
    prev_tok = tok("p", keyed[start][0]) if page and start > 0 else None

    def link(t: str | None) -> str | None:
        if t is None:
            return None
        return f"{sim.url}{req.path}?{urlencode([*filters, ('count', str(count)), ('page_token', t)])}"

    return Response(
        200,
        {
            "collection": [sim.render(r) for _, r in page],
            "pagination": {
                "count": len(page),
                "next_page": link(next_tok),
                "previous_page": link(prev_tok),
                "next_page_token": next_tok,
                "previous_page_token": prev_tok,
            },
        },
    )


def json_body(req: Request) -> dict[str, Any]:
    try:
        data = req.json()
    except (ValueError, UnicodeDecodeError):
        raise invalid("body", "must be valid JSON") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise invalid("body", "must be a JSON object")
    return data
