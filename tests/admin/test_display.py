"""The one status badge and the one last-error cell every admin list uses (pure: no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from calendly_sync.admin.display import (
    LastErrorColumn,
    StatusBadgeColumn,
    last_error,
    status_badge,
    sync_progress,
    window_share,
)


def test_the_status_badge_colours_by_meaning_and_escapes_the_label():
    assert status_badge("ok", "OK") == '<b style="color:#2e7d32">OK</b>'
    assert status_badge("pending", "Pending") == '<b style="color:#f9a825">Pending</b>'
    assert status_badge("needs_reconnect", "Needs reconnect") == '<b style="color:#c62828">Needs reconnect</b>'
    assert status_badge("something-new", "?") == '<b style="color:#333">?</b>'
    assert status_badge("failed", "<script>") == '<b style="color:#c62828">&lt;script&gt;</b>'


def test_the_last_error_is_cut_to_one_cell_and_empty_stays_empty():
    assert last_error("") == ""
    assert last_error("boom") == "boom"
    assert last_error("x" * 80) == "x" * 80
    assert last_error("x" * 81) == "x" * 79 + "…"


def test_the_column_mixins_read_the_model_status_and_last_error():
    row = SimpleNamespace(status="failed", get_status_display=lambda: "Failed", last_error="e" * 100)
    assert StatusBadgeColumn().status_badge(row) == '<b style="color:#c62828">Failed</b>'
    assert LastErrorColumn().last_error_short(row) == "e" * 79 + "…"
    assert StatusBadgeColumn.status_badge.short_description == "status"
    assert StatusBadgeColumn.status_badge.admin_order_field == "status"
    assert LastErrorColumn.last_error_short.short_description == "last error"


def _job(**fields: object) -> SimpleNamespace:
    base: dict[str, object] = {
        "status": "running",
        "since": datetime(2026, 1, 1, tzinfo=UTC),
        "until": datetime(2026, 7, 1, tzinfo=UTC),
        "counts": {},
        "checkpoint": {},
        "error": "",
        "requested_at": NOW - timedelta(seconds=40),
        "heartbeat_at": NOW - timedelta(seconds=3),
        "attempts": 1,
    }
    return SimpleNamespace(**{**base, **fields})


NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_a_sync_job_says_how_far_it_is_into_its_window_and_what_it_did_so_far():
    running = _job(counts={"pages": 2, "events": 200, "invitees": 230}, checkpoint={"position": "2026-04-01T00:00:00Z"})
    assert sync_progress(running, NOW) == (
        "running: reading Calendly, 50% of the window; pages 2, events 200, invitees 230; heartbeat 3 s ago"
    )
    pushing = _job(counts={"events": 400}, checkpoint={"position": "2026-06-30T00:00:00Z", "phase": "pushing"})
    assert sync_progress(pushing, NOW).startswith("running: sending contacts to Brevo; events 400")
    assert sync_progress(_job(status="queued", attempts=0, heartbeat_at=None), NOW) == (
        "queued 40 s ago, waiting for a job runner"
    )
    resumed = sync_progress(_job(status="queued", attempts=1, counts={"events": 100}), NOW)
    assert (
        resumed
        == "queued 40 s ago, waiting for a job runner (to resume from its checkpoint, start 2); so far: events 100"
    )


def test_a_finished_sync_job_shows_its_counts_and_a_failed_one_its_reason():
    done = _job(status="completed", counts={"events": 3, "invitees": 3, "contacts_created": 3, "seconds": 1.25})
    assert sync_progress(done, NOW) == "completed in 1.2 s: events 3, invitees 3, contacts created 3"
    failed = _job(status="failed", error="CalendlyAuthError: the access token expired " + "x" * 100)
    line = sync_progress(failed, NOW)
    assert line.startswith("failed — CalendlyAuthError: the access token expired") and line.endswith("…")


def test_the_window_share_is_clamped_and_unknown_without_a_position():
    since, until = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 11, tzinfo=UTC)
    assert window_share(since, until, "2026-01-02T00:00:00.000000Z") == 10
    assert window_share(since, until, "2027-01-01T00:00:00Z") == 100
    assert window_share(since, until, None) is None
    assert window_share(None, until, "2026-01-02T00:00:00Z") is None
    assert window_share(since, until, "not a time") is None
    assert window_share(since, until, "2026-13-45T00:00:00Z") is None
