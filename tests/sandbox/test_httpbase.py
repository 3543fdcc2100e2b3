"""The simulators' shared fault injection (sandbox/httpbase.py): a held request waits for the test."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from calendly_sync.sandbox.httpbase import Fault, Response, SimServer


def test_a_held_request_waits_until_released_then_goes_through():
    server = SimServer()
    server.route("GET", "/ping", lambda req: Response(200, {"pong": True}))
    release = threading.Event()
    server.inject(Fault("hold", route=r"^GET /ping$", release=release, seconds=10, times=1))
    with server, ThreadPoolExecutor(1) as pool:
        pending = pool.submit(requests.get, f"{server.url}/ping", timeout=15)
        deadline = time.monotonic() + 10
        while server.count(r"^GET /ping$") < 1:  # the request arrives
            assert time.monotonic() < deadline, "the request never arrived"
            time.sleep(0.01)
        assert not pending.done()  # arrived, and held
        release.set()
        assert pending.result(timeout=10).json() == {"pong": True}
        assert requests.get(f"{server.url}/ping", timeout=5).status_code == 200  # times=1: only the first waited
