"""The sandbox's saved state: both simulators' records in one JSON file, written as they change.

Why: the sandbox's database survives a restart of ``scripts/dev.py run``, so the simulated
Calendly and Brevo must too. Otherwise the database says "subscription active" about a hook the
new simulator never heard of, Brevo is empty while every contact is marked as pushed, and new
bookings arrive under ids the database already holds for other bookings. The file is rewritten
atomically (a temporary file, then ``os.replace``) shortly after every request and once more at
shutdown, so a crash loses at most the last half second and never leaves half a file.

Each simulator says what it holds with ``snapshot()`` (called under its lock, encoded at once so
the copy is consistent) and takes it back with ``restore()``. Sets are the only value JSON cannot
carry; they are written as ``{"__set__": [...]}``.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Protocol

STATE_VERSION = 1


class Persistent(Protocol):
    """A simulator whose records can be saved and restored."""

    lock: threading.RLock

    def snapshot(self) -> dict[str, Any]: ...

    def restore(self, data: dict[str, Any]) -> None: ...


class StateFileError(Exception):
    """The state file exists but cannot be used (unreadable, not JSON, another version)."""


def _encode_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return {"__set__": sorted(value, key=str)}
    raise TypeError(f"cannot save a {type(value).__name__} in the sandbox state")


def _decode_hook(obj: dict[str, Any]) -> Any:
    if obj.keys() == {"__set__"}:
        return set(obj["__set__"])
    return obj


def encode(value: Any) -> str:
    return json.dumps(value, default=_encode_default, separators=(",", ":"), ensure_ascii=False)


def decode(text: str) -> Any:
    return json.loads(text, object_hook=_decode_hook)


def read(path: Path) -> dict[str, Any] | None:
    """The saved parts by simulator name, or ``None`` when there is no file yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateFileError(f"cannot read {path}: {exc}") from exc
    try:
        data = decode(text)
    except ValueError as exc:
        raise StateFileError(f"{path} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION or not isinstance(data.get("sims"), dict):
        raise StateFileError(f"{path} is not a version {STATE_VERSION} sandbox state file")
    sims: dict[str, Any] = data["sims"]
    return sims


def write(path: Path, sims: dict[str, Persistent]) -> None:
    """Snapshot every simulator (each under its own lock) and replace the file atomically."""
    parts = []
    for name, sim in sims.items():
        with sim.lock:
            parts.append(f"{json.dumps(name)}:{encode(sim.snapshot())}")
    text = f'{{"version":{STATE_VERSION},"sims":{{{",".join(parts)}}}}}'
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def restore(path: Path, sims: dict[str, Persistent]) -> bool:
    """Load the file into the simulators (before they start). False when there was no file."""
    saved = read(path)
    if saved is None:
        return False
    missing = [name for name in sims if not isinstance(saved.get(name), dict)]
    if missing:
        raise StateFileError(f"{path} holds no state for {', '.join(missing)}")
    for name, sim in sims.items():
        with sim.lock:
            sim.restore(saved[name])
    return True


class Autosave:
    """Writes the state file shortly after something changed, at most every ``interval`` seconds.

    ``changed()`` is cheap (it sets an event), so the simulators call it after every request; the
    writing happens in this object's thread, off the request path. ``close()`` writes once more.
    """

    def __init__(self, path: Path, sims: dict[str, Persistent], interval: float = 0.5) -> None:
        self.path = path
        self.sims = sims
        self.interval = interval
        self._dirty = threading.Event()
        self._closed = threading.Event()
        self._write_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="sandbox-autosave", daemon=True)
        self._thread.start()

    def changed(self, *_: object) -> None:
        self._dirty.set()

    def save(self) -> None:
        with self._write_lock:
            write(self.path, self.sims)

    def _run(self) -> None:
        while not self._closed.is_set():
            self._dirty.wait()
            if self._closed.is_set():
                return
            self._dirty.clear()
            self.save()
            self._closed.wait(self.interval)  # pace the writes; a burst of requests is one write

    def close(self) -> None:
        self._closed.set()
        self._dirty.set()
        self._thread.join(timeout=5)
        self.save()
