"""The one status badge and the one last-error cell every admin list uses (pure: no database)."""

from __future__ import annotations

from types import SimpleNamespace

from calendly_sync.admin.display import LastErrorColumn, StatusBadgeColumn, last_error, status_badge


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
