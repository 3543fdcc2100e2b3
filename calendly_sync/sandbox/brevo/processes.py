"""Background processes: what an import or a "remove everyone from a list" returns a ``processId`` for.

Why: Brevo answers such calls at once and does the work later; the connector polls
``GET /v3/processes/{id}``. A process finishes after ``import_delay_polls`` polls that answer
``queued`` then ``processing_status`` ("in_process", the SW2 spelling; OAS3 says "processing"),
or at once when ``import_delay_polls=0``, or on its own ``import_seconds`` after it was accepted
(when set, as Brevo's imports do); ``complete_processes()`` finishes them all from a test.

An import given a ``notifyUrl`` has it called when it finishes, however it finishes ("URL that will
be called once the import process is finished": Brevo documents neither the method nor the body).
The simulator POSTs a small JSON object of a shape that changes from call to call, so a client can
only take the call as a wake-up; each call is recorded in ``notifications`` (url, HTTP status or
the error).
"""

from __future__ import annotations

import json
import secrets
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from calendly_sync.sandbox.brevo.records import BrevoRecords, Reply, now_iso, public
from calendly_sync.sandbox.httpbase import Request, Response


class Processes(BrevoRecords):
    """Process records, their completion, and ``GET /v3/processes/{id}``."""

    import_delay_polls: int
    import_seconds: float | None
    processing_status: str
    notifications: list[dict[str, Any]]

    def _new_process(self, name: str, job: Callable[[], dict[str, Any]] | None) -> dict[str, Any]:
        self._ids["process"] += 1
        process: dict[str, Any] = {
            "id": self._ids["process"],
            "name": name,
            "status": "queued",
            "info": None,
            "export_url": None,
            "error": None,
            "created_at": now_iso(),
            "completed_at": None,
            "_polls": 0,
            "_job": job,
        }
        self.processes[process["id"]] = process
        return process

    def _finish_process(self, process: dict[str, Any]) -> None:
        job = process.get("_job")
        process["info"] = {"import": job()} if job else None
        process["_job"] = None
        process.pop("_import", None)
        process["status"] = "completed"
        process["completed_at"] = now_iso()
        url = process.pop("_notify", None)
        if url:
            threading.Thread(target=self._notify, args=(url,), name="brevo-sim-notify", daemon=True).start()

    def _finish_later(self, process_id: int, seconds: float) -> None:
        """Finish this process on its own after ``seconds`` (unless a poll or a test finished it first)."""

        def run() -> None:
            with self.lock:
                process = self.processes.get(process_id)
                if process is not None and process["status"] not in ("completed", "failed"):
                    self._finish_process(process)

        timer = threading.Timer(seconds, run)
        timer.daemon = True
        timer.start()

    def _notify(self, url: str) -> None:
        """Call an import's ``notifyUrl`` (outside the state lock), with a body of no fixed shape."""
        body = json.dumps({secrets.token_hex(4): secrets.token_hex(8)}).encode()
        request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
        entry: dict[str, Any] = {"url": url}
        with self.lock:
            self.notifications.append(entry)  # the outcome is filled in when the call has ended
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                entry["status"] = resp.status
        except urllib.error.HTTPError as err:
            entry["status"] = err.code
        except OSError as err:
            entry["error"] = str(err)

    def complete_processes(self) -> None:
        """Finish every pending import now (as if polled to completion)."""
        with self.lock:
            for process in self.processes.values():
                if process["status"] not in ("completed", "failed"):
                    self._finish_process(process)

    def _get_process(self, req: Request) -> Response:
        process_id = self._int_param(req.params["process_id"], "processId")
        process = self.processes.get(process_id)
        if process is None:
            raise Reply(404, "document_not_found", "Process ID not found")
        if process["status"] not in ("completed", "failed"):
            process["_polls"] += 1
            if process["_polls"] > self.import_delay_polls:
                self._finish_process(process)
            else:
                process["status"] = "queued" if process["_polls"] == 1 else self.processing_status
        return Response(200, public(process))
