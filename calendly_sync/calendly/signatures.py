"""Verify ``Calendly-Webhook-Signature`` headers (connector side, pure functions).

Why this shape: the HMAC must be computed over the raw request bytes (re-serialised JSON breaks
it), several keys must be accepted during a key rotation, and failures need a readable reason
for the webhook log without ever echoing a key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

SIGNATURE_HEADER = "Calendly-Webhook-Signature"
DEFAULT_TOLERANCE = 180  # seconds; Calendly's official example uses 3 minutes

_HEX = re.compile(r"^[0-9a-fA-F]+$")
# ASCII digits only (str.isdigit() also accepts "²" and other scripts' digits, which int() refuses or
# reads), and no more than a Unix time needs: a 5,000-digit number would not even convert.
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


class SignatureError(Exception):
    """The delivery could not be authenticated; ``reason`` is safe to log (no key material)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_signature_header(value: str | None) -> tuple[int, list[str]]:
    """Split ``t=<unix>,v1=<hex>[,v1=<hex>…]`` into the timestamp and the v1 signatures."""
    if value is None or not value.strip():
        raise SignatureError("missing signature header")
    t: int | None = None
    v1: list[str] = []
    for part in value.split(","):
        name, sep, val = part.strip().partition("=")
        if not sep:
            raise SignatureError("malformed signature header")
        name, val = name.strip(), val.strip()
        if name == "t":
            if not _TIMESTAMP.match(val) or t is not None:
                raise SignatureError("malformed signature header")
            t = int(val)
        elif name == "v1":
            if not _HEX.match(val):
                raise SignatureError("malformed signature header")
            v1.append(val.lower())
        # unknown schemes (future v2…) are ignored, as with other HMAC webhook schemes
    if t is None or not v1:
        raise SignatureError("malformed signature header")
    return t, v1


def verify_signature(
    raw_body: bytes,
    header: str | None,
    keys: list[str],
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> str:
    """Return the key that verified ``raw_body``; raise :class:`SignatureError` otherwise.

    The signature is checked before the timestamp so "outside tolerance" is only reported for
    authentic (replayed or clock-skewed) deliveries. Tolerance applies both ways.
    """
    t, signatures = parse_signature_header(header)
    usable = [k for k in keys if k]
    if not usable:
        raise SignatureError("no signing key configured")
    signed = f"{t}.".encode("ascii") + raw_body
    matched: str | None = None
    for key in usable:
        expected = hmac.new(key.encode("utf-8"), signed, hashlib.sha256).hexdigest()
        # compare against every candidate so timing does not depend on which one matched
        hit = False
        for candidate in signatures:
            hit |= hmac.compare_digest(expected, candidate)
        if hit and matched is None:
            matched = key
    if matched is None:
        raise SignatureError("signature mismatch")
    current = time.time() if now is None else now
    age = current - t
    if age > tolerance:
        raise SignatureError(f"timestamp outside tolerance ({int(age)} s old)")
    if -age > tolerance:
        raise SignatureError(f"timestamp outside tolerance ({int(-age)} s in the future)")
    return matched
