"""A fake Brevo v3 API that behaves like the documented one (shared/reference/brevo-api.md).

Why: the connector's hardest failure modes (204 upserts with no body, duplicate SMS, invalid phone
numbers, 429 with ``x-sib-ratelimit-reset``, asynchronous imports) can only be tested against
something that reproduces them over real HTTP. The same server backs the no-account sandbox:
``python -m calendly_sync.sandbox.brevo --port 8026``.

Simulator decisions where Brevo's behaviour is UNCONFIRMED (documented here so tests can rely on it):

* ``strict_dates=True`` (default): a date attribute value that is not ``YYYY-MM-DD`` gives
  ``400 invalid_parameter`` naming the attribute. Brevo's docs say mismatching values are *ignored*
  (one third-party report saw ``400 "invalid date format"``); pass ``strict_dates=False`` for the
  documented silent drop. Other type mismatches (float/boolean) are always dropped silently.
* Unknown attribute keys (including mis-cased ones) are dropped silently and recorded in
  ``ignored_attributes`` for inspection.
* Unknown ``listIds`` on contact writes and imports → ``404 document_not_found "List ID not found"``,
  the only documented unknown-list answer (§2.6). Unknown folder on list creation → 404 likewise.
* An ``ext_id`` owned by another contact → ``400 duplicate_parameter`` naming ``EXT_ID``.
* ``SMS`` must parse as an international number (``+33…``, ``0033…`` or ``33…``) and be valid per
  ``phonenumbers``; it is stored as sent and compared by its E.164 digits.
* Contacts expose ``ext_id`` as ``attributes.EXT_ID``.
* Events for unknown contacts are stored (``contact_id: None``) but do not create a contact.
* ``/events/batch`` where every event is invalid → ``400`` (not a 207).
* Imports apply when the process completes: after ``import_delay_polls`` polls of
  ``GET /processes/{id}`` that answer ``queued`` then ``processing_status`` ("in_process", the SW2
  spelling; OAS3 says "processing"). ``import_delay_polls=0`` applies at once; ``import_seconds``
  (off by default) finishes an import on its own that long after it was accepted, as Brevo does.
  An import's ``notifyUrl`` is POSTed to when it finishes, with a body of no fixed shape (Brevo
  documents none). ``fileUrl`` is refused.
  A row is rejected whole when Brevo would refuse it as a single write (an SMS another contact, or
  an earlier row of the same import, holds). The finished process reports rejected rows the way
  ``import_report`` says: ``"urls"`` (default; the current reference: per reason a CSV URL or null,
  served under ``/_sim/import-reports/``), ``"counts"`` (the SW2 example) or ``"mixed"``.
* ``GET /contacts`` filters on ``modifiedSince`` / ``createdSince`` (full date-time with a zone).
* Rate limiting (off unless ``rate_limit_per_second`` is set) covers the contacts and events buckets
  only, as a rolling one-second window of accepted requests; ``reset`` is whole seconds.
  ``other_rate_limit_per_hour`` (off by default; Brevo's General plan: 100) limits every other
  endpoint, ``GET /processes/{id}`` among them, over a sliding hour.

The simulator is assembled from parts, one module each: ``records`` (the account's data, the
error shape, shared validators), ``contacts``, ``lists`` (attributes, lists, folders), ``events``,
``imports``, ``processes``, ``limits`` (rate limits and faults) and ``control`` (``/_sim/state``
and test helpers). This module puts them together: the constructor, the request pipeline every
``/v3`` call passes through (api-key → rate limit → handler under the state lock, with Brevo-shaped
errors), the route table and the command line.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, cast

from calendly_sync.sandbox.brevo.control import Control
from calendly_sync.sandbox.brevo.events import Events
from calendly_sync.sandbox.brevo.imports import IMPORT_REPORTS, Imports
from calendly_sync.sandbox.brevo.limits import Limits
from calendly_sync.sandbox.brevo.records import Reply, now_iso, phone_key
from calendly_sync.sandbox.httpbase import Request, Response

__all__ = ["SANDBOX_API_KEY", "BrevoSim", "main", "phone_key"]

SANDBOX_API_KEY = "xkeysib-sandbox-0000"


class BrevoSim(Control, Imports, Events, Limits):
    """Brevo v3 under ``/v3``: contacts, attributes, lists, folders, events, imports, processes."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_keys: set[str] | None = None,
        rate_limit_per_second: int | None = None,
        other_rate_limit_per_hour: int | None = None,
        strict_dates: bool = True,
        import_delay_polls: int = 1,
        import_seconds: float | None = None,
        processing_status: str = "in_process",
        import_report: str = "urls",
        seed_lists: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(host, port)
        self.api_keys: set[str] = set(api_keys) if api_keys is not None else {SANDBOX_API_KEY}
        self.rate_limit_per_second = rate_limit_per_second
        self.other_rate_limit_per_hour = other_rate_limit_per_hour  # "all other endpoints", e.g. /processes
        self.strict_dates = strict_dates
        self.import_delay_polls = import_delay_polls
        self.import_seconds = import_seconds  # an import also finishes on its own this long after it is accepted
        self.notifications: list[dict[str, Any]] = []  # calls of imports' notifyUrl: {"url", "status" | "error"}
        self.processing_status = processing_status
        if import_report not in IMPORT_REPORTS:
            raise ValueError(f"import_report must be one of {', '.join(IMPORT_REPORTS)}")
        self.import_report = import_report  # how a finished import describes its rejected rows
        self.import_reports: dict[tuple[int, str], str] = {}  # (process id, reason) → CSV of rejected rows
        self.blocked_ip: str | None = None  # set to simulate the "unrecognised IP address" 401
        self.clock = clock
        if seed_lists:
            folder = self._new_folder("Calendly")
            for list_id, list_name in ((10, "Discovery calls"), (11, "Demos"), (12, "Calendly bookings")):
                self.lists[list_id] = {"id": list_id, "name": list_name, "folderId": folder, "createdAt": now_iso()}
        self._register_routes()

    # -- lifecycle tweaks ----------------------------------------------------------------------
    def start(self) -> BrevoSim:
        """Start, then disable Nagle on accepted sockets.

        The base handler writes headers and body in two sends; with Nagle on, the body waits for
        the client's delayed ACK (~40 ms per response), which made paced tests measure the network.
        """
        super().start()
        server = self._server
        assert server is not None
        accept = server.get_request

        def get_request() -> tuple[socket.socket, Any]:
            conn, addr = accept()
            with contextlib.suppress(OSError):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return conn, addr

        server.get_request = get_request  # type: ignore[method-assign]
        return self

    def stop(self) -> None:
        """Stop without waiting out ``serve_forever``'s 0.5 s poll: poke the socket to wake it."""
        server, thread = self._server, self._thread
        if server is not None and thread is not None:
            address = cast("tuple[str, int]", server.server_address[:2])  # AF_INET: (host, port)

            def poke() -> None:
                for _ in range(50):
                    if not thread.is_alive():
                        return
                    try:
                        socket.create_connection(address, timeout=0.2).close()
                    except OSError:
                        return
                    time.sleep(0.02)

            threading.Thread(target=poke, name="brevo-sim-stop", daemon=True).start()
        super().stop()

    # -- request pipeline ----------------------------------------------------------------------
    def not_found(self, req: Request) -> Response:
        return Response(404, {"code": "not_found", "message": f"Invalid route: {req.method} {req.path}"})

    def dispatch(self, req: Request) -> Response:
        """Auth → rate limit → handler (under the state lock), with Brevo-shaped errors."""
        if req.path.startswith("/_sim/"):
            return super().dispatch(req)
        if not req.path.startswith("/v3/"):
            return self.not_found(req)
        key = req.headers.get("api-key")
        if not key:
            return Response(401, {"message": "authentication not found in headers", "code": "unauthorized"})
        if key not in self.api_keys:
            return Response(401, {"message": "Key not found", "code": "unauthorized"})
        if self.blocked_ip:
            return Response(
                401,
                {
                    "code": "unauthorized",
                    "message": (
                        f"We have detected you are using an unrecognised IP address {self.blocked_ip}. If you "
                        "performed this action make sure to add the new IP address in this link: "
                        "https://app.brevo.com/security/authorised_ips"
                    ),
                },
            )
        with self.lock:
            limited, rl_headers = self._rate_check(req.path)
            if limited is not None:
                return limited
            try:
                resp = super().dispatch(req)
            except Reply as reply:
                resp = reply.response
        resp.headers.update(rl_headers)
        resp.headers.setdefault("sib-request-id", str(uuid.uuid4()))
        return resp

    def _register_routes(self) -> None:
        r = self.route
        r("GET", "/_sim/state", self._sim_state)
        r("GET", "/_sim/import-reports/{process_id}/{name}.csv", self._import_report_file)
        r("GET", "/v3/contacts/attributes", self._get_attributes)
        r("POST", "/v3/contacts/attributes/{category}/{name}", self._create_attribute)
        r("GET", "/v3/contacts/folders", self._get_folders)
        r("POST", "/v3/contacts/folders", self._create_folder)
        r("GET", "/v3/contacts/lists", self._get_lists)
        r("POST", "/v3/contacts/lists", self._create_list)
        r("GET", "/v3/contacts/lists/{list_id}", self._get_list)
        r("GET", "/v3/contacts/lists/{list_id}/contacts", self._get_list_contacts)
        r("POST", "/v3/contacts/lists/{list_id}/contacts/add", self._list_add)
        r("POST", "/v3/contacts/lists/{list_id}/contacts/remove", self._list_remove)
        r("POST", "/v3/contacts/batch", self._batch_update)
        r("POST", "/v3/contacts/import", self._import)
        r("GET", "/v3/contacts", self._get_contacts)
        r("POST", "/v3/contacts", self._create_contact)
        r("GET", "/v3/contacts/{identifier}", self._get_contact)
        r("PUT", "/v3/contacts/{identifier}", self._update_contact)
        r("DELETE", "/v3/contacts/{identifier}", self._delete_contact)
        r("GET", "/v3/processes/{process_id}", self._get_process)
        r("POST", "/v3/events", self._post_event)
        r("POST", "/v3/events/batch", self._post_events_batch)
        r("GET", "/v3/events", self._get_events)


def _block_forever() -> None:
    while True:
        time.sleep(1)


def main(argv: Iterable[str] | None = None) -> int:
    """Run the simulator until Ctrl-C (the no-account sandbox)."""
    parser = argparse.ArgumentParser(description="Fake Brevo v3 API for the connector sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8026)
    parser.add_argument("--rate-limit", type=int, default=None, help="enforce N requests/second on contacts and events")
    parser.add_argument(
        "--lenient-dates", action="store_true", help="drop bad date values silently (Brevo's documented behaviour)"
    )
    parser.add_argument("--import-delay-polls", type=int, default=1)
    parser.add_argument(
        "--import-seconds", type=float, default=None, help="imports also finish on their own after this many seconds"
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    sim = BrevoSim(
        args.host,
        args.port,
        rate_limit_per_second=args.rate_limit,
        strict_dates=not args.lenient_dates,
        import_delay_polls=args.import_delay_polls,
        import_seconds=args.import_seconds,
    ).start()
    print(f"Brevo simulator at {sim.url}/v3  (api-key: {SANDBOX_API_KEY})", flush=True)
    print(f"State: {sim.url}/_sim/state  -- Ctrl-C to stop", flush=True)
    try:
        _block_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
