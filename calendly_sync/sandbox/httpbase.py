"""A small threaded JSON HTTP server that both simulators build on.

Why hand-written instead of a framework: the simulators must run in-process for tests (start on
an ephemeral port, stop cleanly), from the command line for the sandbox, and let tests inject
faults (latency, 5xx, 429, timeouts) per route, all with no dependency beyond the standard library.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # path parameters from the route

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body.decode("utf-8"))

    def q(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8"), keep_blank_values=True).items()}


@dataclass
class Response:
    status: int = 200
    body: Any = None  # dict/list → JSON, str → text/html, bytes → raw, None → empty
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    """One injected fault. ``times`` counts down; ``None`` means until cleared."""

    kind: str  # "status" | "latency" | "timeout" | "rate_limit" | "hold"
    route: str | None = None  # regex matched against "METHOD /path"; None → every route
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    times: int | None = 1
    # "hold": the request waits until the test sets this (at most ``seconds``, 20 by default),
    # then goes through: a slow service whose slowness the test ends when it has seen what it wants.
    release: threading.Event | None = None


Handler = Callable[[Request], Response]


class SimServer:
    """Route table + threaded server + call counters + fault injection."""

    name = "sim"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.calls: Counter[str] = Counter()
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.lock = threading.RLock()
        # called after every request has been answered (the sandbox saves its state from it)
        self.after_request: Callable[[Request], None] | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- routing -------------------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Register ``handler`` for ``method`` and a path pattern with ``{name}`` placeholders."""
        regex = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "/?$"
        self.routes.append((method.upper(), re.compile(regex), handler))

    def dispatch(self, req: Request) -> Response:
        for method, regex, handler in self.routes:
            if method != req.method:
                continue
            match = regex.match(req.path)
            if match:
                req.params = match.groupdict()
                return handler(req)
        return self.not_found(req)

    def not_found(self, req: Request) -> Response:
        return Response(404, {"message": f"No route for {req.method} {req.path}"})

    # -- faults and counters -------------------------------------------------------------------
    def inject(self, fault: Fault) -> Fault:
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def reset_counters(self) -> None:
        with self.lock:
            self.calls.clear()
            self.requests.clear()

    def count(self, pattern: str) -> int:
        """Number of calls whose "METHOD /path" matches ``pattern`` (a regex)."""
        regex = re.compile(pattern)
        with self.lock:
            return sum(n for key, n in self.calls.items() if regex.search(key))

    def _take_fault(self, key: str) -> Fault | None:
        with self.lock:
            for fault in list(self.faults):
                if fault.route is None or re.search(fault.route, key):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.faults.remove(fault)
                    return fault
        return None

    def fault_response(self, fault: Fault, req: Request) -> Response | None:
        """Turn a fault into a response; ``None`` lets the request through (after latency)."""
        if fault.kind == "latency":
            time.sleep(fault.seconds)
            return None
        if fault.kind == "hold":
            if fault.release is not None:
                fault.release.wait(fault.seconds or 20)
            return None
        if fault.kind == "timeout":
            time.sleep(fault.seconds or 30)
            return Response(504, {"message": "simulated timeout"})
        if fault.kind == "rate_limit":
            return self.rate_limited_response(fault)
        return Response(
            fault.status, fault.body if fault.body is not None else {"message": "simulated error"}, dict(fault.headers)
        )

    def rate_limited_response(self, fault: Fault) -> Response:
        return Response(429, {"message": "Too many requests"}, dict(fault.headers))

    def handle(self, req: Request) -> Response:
        try:
            return self._handle(req)
        finally:
            if self.after_request is not None:
                self.after_request(req)

    def _handle(self, req: Request) -> Response:
        key = f"{req.method} {req.path}"
        with self.lock:
            self.calls[key] += 1
            self.requests.append(req)
        fault = self._take_fault(key)
        if fault is not None:
            resp = self.fault_response(fault, req)
            if resp is not None:
                return resp
        try:
            return self.dispatch(req)
        except Exception as exc:  # noqa: BLE001 - a simulator bug must show up as a 500, like a real server
            return Response(500, {"message": f"simulator error: {exc!r}"})

    # -- lifecycle ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> SimServer:
        sim = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out at once (no 40 ms Nagle delay)

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

            def _serve(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Request(
                    method=self.command,
                    path=split.path,
                    query=parse_qs(split.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                resp = sim.handle(req)
                if resp.body is None:
                    payload, ctype = b"", None
                elif isinstance(resp.body, bytes):
                    payload, ctype = resp.body, "application/octet-stream"
                elif isinstance(resp.body, str):
                    payload, ctype = resp.body.encode("utf-8"), "text/html; charset=utf-8"
                else:
                    payload, ctype = json.dumps(resp.body).encode("utf-8"), "application/json"
                headers = dict(resp.headers)
                if ctype and "Content-Type" not in headers:
                    headers["Content-Type"] = ctype
                try:
                    self.send_response(resp.status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    if payload and self.command != "HEAD":
                        self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (a simulated timeout): fine

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        self._server = ThreadingHTTPServer((self.host, self.port), _Handler)
        self._server.daemon_threads = True
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.05), name=f"{self.name}-sim", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- lifecycle helpers ----------------------------------------------------------------------------
def quiet_disconnects(server: SimServer) -> None:
    """Don't print tracebacks when a client gave up (timeout faults): that is the point of the fault."""
    httpd = server._server
    assert httpd is not None
    default = httpd.handle_error

    def handle_error(request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)):
            return
        default(request, client_address)

    httpd.handle_error = handle_error  # type: ignore[method-assign]


def fast_stop(server: SimServer) -> None:
    """Stop a SimServer promptly: poke its socket so ``select()`` wakes and sees the shutdown flag."""
    httpd = server._server
    if httpd is None:
        return
    stopper = threading.Thread(target=httpd.shutdown, daemon=True)
    stopper.start()
    address = cast("tuple[str, int]", httpd.server_address[:2])  # AF_INET: (host, port)
    while stopper.is_alive():
        with contextlib.suppress(OSError):
            socket.create_connection(address, timeout=0.2).close()
        stopper.join(0.01)
    httpd.server_close()
    server._server = None
