"""Build signed Calendly webhook deliveries (the sender's side of §8 of the reference).

Kept separate from the simulator so tests can forge deliveries (stale, tampered, re-signed)
without running a server, using exactly the bytes the simulator would send.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any

SIGNATURE_HEADER = "Calendly-Webhook-Signature"


def sign(body: bytes, key: str, t: int | None = None) -> str:
    """Header value ``t=<unix>,v1=<hex HMAC-SHA256(key, "t.body")>`` as Calendly sends it."""
    ts = int(time.time()) if t is None else int(t)
    mac = hmac.new(key.encode("utf-8"), f"{ts}.".encode("ascii") + body, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def envelope_time(t: int) -> str:
    """Envelope ``created_at``: second precision with a ``.000000Z`` suffix (§13.10)."""
    return datetime.fromtimestamp(int(t), UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def build_delivery(
    event: str, payload: dict[str, Any], created_by: str, key: str | None, t: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """Serialise the envelope once and sign those exact bytes; ``key=None`` sends no signature."""
    ts = int(time.time()) if t is None else int(t)
    envelope = {"created_at": envelope_time(ts), "created_by": created_by, "event": event, "payload": payload}
    body = json.dumps(envelope).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if key:
        headers[SIGNATURE_HEADER] = sign(body, key, ts)
    return body, headers
