"""Background processes: what an import or a "remove everyone from a list" returns a ``processId`` for.

Why: Brevo answers such calls at once and does the work later; the connector polls
``GET /v3/processes/{id}``. A process finishes after ``import_delay_polls`` polls that answer
``queued`` then ``processing_status`` ("in_process", the SW2 spelling; OAS3 says "processing"),
or at once when ``import_delay_polls=0``; ``complete_processes()`` finishes them all from a test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from calendly_sync.sandbox.brevo.records import BrevoRecords, Reply, now_iso, public
from calendly_sync.sandbox.httpbase import Request, Response


class Processes(BrevoRecords):
    """Process records, their completion, and ``GET /v3/processes/{id}``."""

    import_delay_polls: int
    processing_status: str

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
