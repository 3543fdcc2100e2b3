"""Bench-only timeline hooks (``bench/floor.py --timeline FILE``): loaded into the connector's
processes through ``PYTHONPATH`` when ``BENCH_TIMELINE`` names a file, they append one JSON line per
drain batch, push round, Brevo call, sleep and import wait, stamped with ``time.monotonic()`` (one
clock for every process of the machine), so ``bench/timeline/show.py`` can lay them side by side
with the bench's own marks (the last acknowledgement, Brevo complete). No product code changes."""

from __future__ import annotations

import json
import os
import sys
import threading
import time

PATH = os.environ.get("BENCH_TIMELINE")


def mark(kind: str, **fields: object) -> None:
    fields.update(kind=kind, t=time.monotonic(), pid=os.getpid(), th=threading.current_thread().name[-12:])
    line = json.dumps(fields, default=str) + "\n"
    fd = os.open(PATH or os.devnull, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _timed(kind: str, fn, describe=None):  # type: ignore[no-untyped-def]
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        t0 = time.monotonic()
        info = describe(*args, **kwargs) if describe else {}
        try:
            out = fn(*args, **kwargs)
            return out
        finally:
            mark(kind, t0=t0, **info)

    wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
    return wrapper


def _patch() -> None:
    done: set[str] = set()
    while True:
        mods = sys.modules
        drain = mods.get("calendly_sync.runtime.drain")
        if drain is not None and "drain" in done:
            pass
        if drain is not None and hasattr(drain, "sleep") and "drain" not in done:
            done.add("drain")
            drain.apply_claimed = _timed("apply", drain.apply_claimed, lambda claimed, *a, **k: {"n": len(claimed)})
            drain.claim_deliveries = _timed("claim", drain.claim_deliveries, lambda ids, *a, **k: {"n": len(ids)})
            drain.finish = _timed("push_round", drain.finish, lambda applied, *a, **k: {"n": len(applied)})
            drain.push_dirty = _timed("push_dirty", drain.push_dirty)
            drain.sleep = _timed("drain_sleep", drain.sleep, lambda s: {"s": s})
        client = mods.get("calendly_sync.brevo.client")
        if client is not None and hasattr(client, "BrevoClient") and "client" not in done:
            done.add("client")
            cls = client.BrevoClient
            cls._request = _timed(
                "brevo", cls._request, lambda self, method, path, **k: {"call": f"{method} {path.split('?')[0]}"}
            )
            cls.wait_for_processes = _timed("wait_imports", cls.wait_for_processes, lambda self, ids, **k: {"ids": ids})
        deliveries = mods.get("calendly_sync.inbox.deliveries")
        if deliveries is not None and hasattr(deliveries, "finish") and "deliveries" not in done:
            done.add("deliveries")
            for name in ("push_dirty", "send_due_events"):
                if hasattr(deliveries, name):
                    setattr(deliveries, name, _timed(name, getattr(deliveries, name)))
        contacts = mods.get("calendly_sync.push.contacts")
        if contacts is not None and hasattr(contacts, "push_dirty") and "contacts" not in done:
            done.add("contacts")
            if hasattr(contacts, "send_due_events"):
                contacts.send_due_events = _timed("send_due_events", contacts.send_due_events)
            if hasattr(contacts, "import_contacts"):
                contacts.import_contacts = _timed(
                    "import_contacts", contacts.import_contacts, lambda conn, cl, cs, *a, **k: {"n": len(cs)}
                )
        if len(done) >= 4:
            return
        time.sleep(0.02)


if PATH:
    threading.Thread(target=_patch, name="bench-timeline", daemon=True).start()
