"""Webhook delivery: which subscriptions hear an event, the signed envelope, retries and disabling.

Why: Calendly delivers signed webhooks to every matching subscription, retries failures with
backoff and silently disables a hook that keeps failing; the connector's inbox must cope with all
of it. Envelopes are serialised and signed once, under the lock, and recorded in ``outbox``; they
are sent after the lock is released (``_send``) so a receiver may call back into the simulator.
``delivery_tamper`` corrupts outgoing deliveries on purpose (bad signature, stale, no header).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import requests

from calendly_sync.sandbox.calendly.records import API, CalendlyRecords, fmt_time
from calendly_sync.sandbox.signing import SIGNATURE_HEADER, build_delivery

INVITEE_EVENTS = ("invitee.created", "invitee.canceled", "invitee_no_show.created", "invitee_no_show.deleted")
EVENT_TYPE_EVENTS = ("event_type.created", "event_type.updated", "event_type.deleted")
ALL_WEBHOOK_EVENTS = (
    *INVITEE_EVENTS,
    "routing_form_submission.created",
    *EVENT_TYPE_EVENTS,
    "meeting_recap.created",
    "meeting_recap.updated",
    "meeting_recap.deleted",
    "contact.created",
    "contact.updated",
    "contact.deleted",
)
ORG_ONLY_EVENTS = ("routing_form_submission.created",)
PLAN_GATED_EVENTS = (
    "routing_form_submission.created",
    "meeting_recap.created",
    "meeting_recap.updated",
    "meeting_recap.deleted",
)

Outgoing = list[dict[str, Any]]  # deliveries recorded under the lock, sent once it is released


class WebhookDelivery(CalendlyRecords):
    """Subscriber matching, envelope signing and delivery with retries (see the module docstring)."""

    deliver_sync: bool
    disable_after_failures: int | None
    delivery_retries: int
    delivery_backoff: float
    delivery_timeout: tuple[float, float]
    # None | "bad_signature" | "stale" | "missing_header": corrupt outgoing deliveries on purpose
    delivery_tamper: str | None

    def _invitee_payload(self, inv: dict[str, Any]) -> dict[str, Any]:
        ev = self._strip(self.events[inv["_event"]])
        ev.pop("calendar_event", None)
        ev.pop("cancellation", None)
        payload: dict[str, Any] = self._strip(inv)
        payload["scheduled_event"] = ev
        return payload

    def _subscribers(self, event: str, org: str, host: str | None) -> list[dict[str, Any]]:
        subs = []
        for sub in sorted(self.subscriptions.values(), key=lambda s: s["_created"]):
            if sub["state"] != "active" or event not in sub["events"] or sub["_org"] != org:
                continue
            if sub["scope"] == "user" and sub["_user"] != host:
                continue
            if sub["scope"] == "group" and host not in self.groups.get(sub["_group"], {}).get("_members", set()):
                continue
            subs.append(sub)
        return subs

    def _fire_invitee(self, event: str, inv: dict[str, Any], out: Outgoing) -> None:
        ev = self.events[inv["_event"]]
        subs = self._subscribers(event, ev["_org"], ev["_host"])
        if subs:
            payload = self._invitee_payload(inv)
            for sub in subs:
                out.append(self._envelope(sub, event, payload))

    def _fire_event_type(self, event: str, et: dict[str, Any], out: Outgoing) -> None:
        for sub in self._subscribers(event, et["_org"], et["_owner"]):
            out.append(self._envelope(sub, event, self._strip(et)))

    def _envelope(self, sub: dict[str, Any], event: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Serialise + sign once (under the lock) and record in the outbox."""
        t = int(self.now())
        key = sub["_signing_key"]
        if self.delivery_tamper == "stale":
            t -= 3600
        rendered = self.render(payload)
        creator = self.render({"u": f"{API}/users/{sub['_creator']}"})["u"]
        body, headers = build_delivery(event, rendered, creator, key, t)
        if self.delivery_tamper == "bad_signature" and key:
            _body, headers2 = build_delivery(event, rendered, creator, key + "-wrong", t)
            headers[SIGNATURE_HEADER] = headers2[SIGNATURE_HEADER]
        elif self.delivery_tamper == "missing_header":
            headers.pop(SIGNATURE_HEADER, None)
        item = {
            "event": event,
            "subscription": self.render(sub)["uri"],
            "callback_url": sub["callback_url"],
            "body": body,
            "headers": headers,
            "envelope": json.loads(body),
            "_sub": sub["_id"],
        }
        self.outbox.append(item)
        return item

    def _send(self, items: Outgoing) -> None:
        """Deliver outside the lock so a receiver may call back into the simulator."""
        for item in items:
            if self.deliver_sync:
                self._deliver(item)
            else:
                threading.Thread(target=self._deliver, args=(item,), name="calendly-webhook", daemon=True).start()

    def _deliver(self, item: dict[str, Any]) -> None:
        attempts = 1 + max(0, self.delivery_retries)
        for attempt in range(1, attempts + 1):
            with self.lock:
                sub = self.subscriptions.get(item["_sub"])
                if sub is None or sub["state"] != "active":
                    return
            status: int | None = None
            error: str | None = None
            try:
                resp = requests.post(
                    item["callback_url"],
                    data=item["body"],
                    headers=item["headers"],
                    timeout=self.delivery_timeout,
                    allow_redirects=False,
                )
                status = resp.status_code
            except requests.RequestException as exc:
                error = type(exc).__name__
            ok = status is not None and 200 <= status < 300  # 3xx counts as failure
            with self._delivered:
                self.deliveries.append(
                    {
                        "event": item["event"],
                        "subscription": item["subscription"],
                        "url": item["callback_url"],
                        "attempt": attempt,
                        "status": status,
                        "error": error,
                        "ok": ok,
                        "at": self.now(),
                    }
                )
                if ok:
                    sub["_failures"] = 0
                    sub["retry_started_at"] = None
                else:
                    sub["_failures"] += 1
                    if sub["retry_started_at"] is None:
                        sub["retry_started_at"] = fmt_time(self.now())
                    if self.disable_after_failures is not None and sub["_failures"] >= self.disable_after_failures:
                        sub["state"] = "disabled"
                        sub["updated_at"] = fmt_time(self.now())
                self._delivered.notify_all()
                if ok or sub["state"] != "active":
                    return
            if attempt < attempts:
                time.sleep(self.delivery_backoff * (2 ** (attempt - 1)))

    def wait_for_deliveries(self, n: int, timeout: float = 5.0, *, ok_only: bool = False) -> list[dict[str, Any]]:
        """Block until at least ``n`` delivery attempts (or successes) are recorded; no blind sleeps."""
        deadline = time.monotonic() + timeout
        with self._delivered:
            while True:
                done = [d for d in self.deliveries if d["ok"] or not ok_only]
                if len(done) >= n:
                    return list(done)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"only {len(done)} of {n} webhook deliveries after {timeout} s")
                self._delivered.wait(remaining)

    def disable_subscription(self, uri: str) -> dict[str, Any]:
        """What Calendly does silently after 24 h of failed deliveries."""
        with self.lock:
            sub = self.subscriptions[self.uuid_of(uri, "webhook_subscriptions")]
            ts = self.now()
            sub["state"] = "disabled"
            if sub["retry_started_at"] is None:
                sub["retry_started_at"] = fmt_time(ts)
            sub["updated_at"] = fmt_time(ts)
            return self.render(sub)
