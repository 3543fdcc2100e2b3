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
from enum import StrEnum

SIGNATURE_HEADER = "Calendly-Webhook-Signature"
DEFAULT_TOLERANCE = 180  # seconds; Calendly's official example uses 3 minutes

# Calendly's header is ``t=<unix time>,v1=<64 hex digits>`` (HMAC-SHA256). Several ``v1`` values are
# accepted (a rotation may sign twice), and schemes this code does not know (a future ``v2``) are
# skipped; 512 characters leave room for several signatures and bound what a stranger can send.
MAX_HEADER_LENGTH = 512
_SIGNATURE = re.compile(r"^[0-9a-fA-F]{64}$")
# ASCII digits only (str.isdigit() also accepts "²" and other scripts' digits, which int() refuses or
# reads), and no more than a Unix time needs: a 5,000-digit number would not even convert.
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


class RejectionKind(StrEnum):
    """Why the webhook endpoint refused a request: counted per connection and kind, and read by the
    doctor, which tells internet noise from a real key or clock problem by these kinds.

    Noise (anyone can send it): ``malformed_header``, ``unknown_connection``, ``bad_signature_old``.
    What Calendly itself would cause (only the signing key can make it, or it carries Calendly's
    current time): ``bad_signature``, ``no_signing_key``, ``stale_timestamp``, ``ambiguous``.
    """

    MALFORMED_HEADER = "malformed_header"
    """The header is absent, or not ``t=<1–12 digits>,v1=<64 hex digits>``: refused before the body is read."""
    UNKNOWN_CONNECTION = "unknown_connection"
    """The URL names no connection (``/webhooks/calendly/<id>/`` with an id that does not exist)."""
    BAD_SIGNATURE = "bad_signature"
    """Well-formed header, timestamp within the tolerance, but no signing key verifies the body."""
    BAD_SIGNATURE_OLD = "bad_signature_old"
    """Well-formed header, no key verifies it, and its timestamp is outside the tolerance."""
    NO_SIGNING_KEY = "no_signing_key"
    """Well-formed header with a current timestamp, but the connection has no signing key at all."""
    STALE_TIMESTAMP = "stale_timestamp"
    """A signing key verifies the body, but the timestamp is outside the tolerance (clock or replay)."""
    AMBIGUOUS = "ambiguous"
    """``POST /webhooks/calendly/``: the key that verifies belongs to several connections."""


class SignatureError(Exception):
    """The delivery could not be authenticated; ``reason`` is safe to log (no key material) and
    ``kind`` says which :class:`RejectionKind` it is."""

    def __init__(self, reason: str, kind: RejectionKind = RejectionKind.BAD_SIGNATURE) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


def parse_signature_header(value: str | None) -> tuple[int, list[str]]:
    """Split ``t=<unix>,v1=<hex>[,v1=<hex>…]`` into the timestamp and the v1 signatures.

    Only the header's shape is checked, so a request can be refused before its body is read.
    """
    if value is None or not value.strip():
        raise SignatureError("missing signature header", RejectionKind.MALFORMED_HEADER)
    malformed = SignatureError("malformed signature header", RejectionKind.MALFORMED_HEADER)
    if len(value) > MAX_HEADER_LENGTH:
        raise malformed
    t: int | None = None
    v1: list[str] = []
    for part in value.split(","):
        name, sep, val = part.strip().partition("=")
        if not sep:
            raise malformed
        name, val = name.strip(), val.strip()
        if name == "t":
            if not _TIMESTAMP.match(val) or t is not None:
                raise malformed
            t = int(val)
        elif name == "v1":
            if not _SIGNATURE.match(val):
                raise malformed
            v1.append(val.lower())
        # unknown schemes (future v2…) are ignored, as with other HMAC webhook schemes
    if t is None or not v1:
        raise malformed
    return t, v1


def is_current(t: int, tolerance: int = DEFAULT_TOLERANCE, now: float | None = None) -> bool:
    """Whether the signature time ``t`` is within ``tolerance`` seconds of now, either way."""
    current = time.time() if now is None else now
    return abs(current - t) <= tolerance


def matching_key(raw_body: bytes, t: int, signatures: list[str], keys: list[str]) -> str | None:
    """The first of ``keys`` whose HMAC of ``t.raw_body`` is one of ``signatures``, or None.

    Each key costs one HMAC over the whole body: callers pass each distinct key once.
    """
    prefix = f"{t}.".encode("ascii")
    matched: str | None = None
    for key in keys:
        if not key:
            continue
        mac = hmac.new(key.encode("utf-8"), prefix, hashlib.sha256)
        mac.update(raw_body)
        expected = mac.hexdigest()
        # compare against every candidate so timing does not depend on which one matched
        hit = False
        for candidate in signatures:
            hit |= hmac.compare_digest(expected, candidate)
        if hit and matched is None:
            matched = key
    return matched


def mismatch(t: int, tolerance: int = DEFAULT_TOLERANCE, now: float | None = None) -> SignatureError:
    """The error for a well-formed header that no key verifies: its kind says whether the timestamp
    was current (what a wrong key on a real Calendly delivery looks like) or not (noise)."""
    current = is_current(t, tolerance, now)
    return SignatureError(
        "signature mismatch", RejectionKind.BAD_SIGNATURE if current else RejectionKind.BAD_SIGNATURE_OLD
    )


def no_key(t: int, tolerance: int = DEFAULT_TOLERANCE, now: float | None = None) -> SignatureError:
    """The error when there is no key to verify with (an old timestamp makes it noise, as above)."""
    current = is_current(t, tolerance, now)
    return SignatureError(
        "no signing key configured", RejectionKind.NO_SIGNING_KEY if current else RejectionKind.BAD_SIGNATURE_OLD
    )


def check_timestamp(t: int, tolerance: int = DEFAULT_TOLERANCE, now: float | None = None) -> None:
    """Raise a ``stale_timestamp`` :class:`SignatureError` when ``t`` is outside the tolerance."""
    current = time.time() if now is None else now
    age = current - t
    if age > tolerance:
        raise SignatureError(f"timestamp outside tolerance ({int(age)} s old)", RejectionKind.STALE_TIMESTAMP)
    if -age > tolerance:
        raise SignatureError(
            f"timestamp outside tolerance ({int(-age)} s in the future)", RejectionKind.STALE_TIMESTAMP
        )


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
    usable = list(dict.fromkeys(k for k in keys if k))
    if not usable:
        raise no_key(t, tolerance, now)
    matched = matching_key(raw_body, t, signatures, usable)
    if matched is None:
        raise mismatch(t, tolerance, now)
    check_timestamp(t, tolerance, now)
    return matched


def signature_header(raw_body: bytes, key: str, t: int | None = None) -> str:
    """The header Calendly would send with ``raw_body`` signed by ``key`` at ``t`` (now by default).

    The connector signs only its own synthetic test bookings (the admin's "Send a test booking"),
    so that they pass the same verification as Calendly's deliveries.
    """
    ts = int(time.time()) if t is None else int(t)
    mac = hmac.new(key.encode("utf-8"), f"{ts}.".encode("ascii"), hashlib.sha256)
    mac.update(raw_body)
    return f"t={ts},v1={mac.hexdigest()}"
