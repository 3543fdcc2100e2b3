"""Applying a validated configuration to the database: connections and their mappings, in one go.

:func:`apply_config` takes the :class:`~calendly_sync.config.reader.ConnectionConfig` objects the
reader produced and makes the rows match them (:class:`~calendly_sync.models.Connection`,
:class:`~calendly_sync.models.EventTypeMapping`, :class:`~calendly_sync.models.FieldMapping`) in
one transaction. It saves only rows whose values differ, so importing the same file twice is a
no-op (no ``updated_at`` moves, the report says "unchanged"), and its report never shows a secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from calendly_sync.config.reader import ConnectionConfig, EventMappingConfig, FieldMappingConfig
from calendly_sync.config.schema import SECRETS, list_id_set
from calendly_sync.models import Connection, EventTypeMapping, FieldMapping

__all__ = ["ApplyReport", "Counts", "apply_config"]


@dataclass
class Counts:
    """Rows created / updated / deleted / left as they were, for one model."""

    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return f"{self.created} created, {self.updated} updated, {self.deleted} deleted, {self.unchanged} unchanged"


@dataclass
class ApplyReport:
    """What an import did (or, in a dry run, would do). ``changes`` never contains secret values."""

    connections: Counts = field(default_factory=Counts)
    event_mappings: Counts = field(default_factory=Counts)
    field_mappings: Counts = field(default_factory=Counts)
    changes: list[str] = field(default_factory=list)
    dry_run: bool = False

    def _total(self, attr: str) -> int:
        return sum(getattr(c, attr) for c in (self.connections, self.event_mappings, self.field_mappings))

    @property
    def created(self) -> int:
        return self._total("created")

    @property
    def updated(self) -> int:
        return self._total("updated")

    @property
    def deleted(self) -> int:
        return self._total("deleted")

    @property
    def unchanged(self) -> int:
        return self._total("unchanged")

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)

    def summary(self) -> str:
        """One line for the command's output."""
        head = "Dry run, nothing saved: " if self.dry_run else ""
        return (
            f"{head}{self.created} created, {self.updated} updated, {self.deleted} deleted, "
            f"{self.unchanged} unchanged (connections: {self.connections}; event mappings: "
            f"{self.event_mappings}; field mappings: {self.field_mappings})"
        )


def apply_config(configs: Sequence[ConnectionConfig], *, prune: bool = True, dry_run: bool = False) -> ApplyReport:
    """Make the database match ``configs`` in one transaction; only rows that differ are saved.

    With ``prune``, mapping rows of the named connections that a present ``event_mapping`` /
    ``field_mapping`` section does not list are deleted (the file is the whole list). Connections
    the file does not name are never touched. ``dry_run`` computes the same report and rolls back.
    """
    report = ApplyReport(dry_run=dry_run)
    with transaction.atomic():
        for cfg in configs:
            conn = _apply_connection(cfg, report)
            if cfg.event_mappings is not None:
                _apply_event_mappings(conn, cfg.event_mappings, prune, report)
            if cfg.field_mappings is not None:
                _apply_field_mappings(conn, cfg.field_mappings, prune, report)
        if dry_run:
            transaction.set_rollback(True)
    return report


def _apply_connection(cfg: ConnectionConfig, report: ApplyReport) -> Connection:
    wanted: dict[str, Any] = {
        "enabled": cfg.enabled,
        "auth_kind": cfg.auth_kind,
        "access_token": cfg.access_token,
        "sync_contacts": cfg.sync_contacts,
        "sync_events": cfg.sync_events,
        "sync_cancellations": cfg.sync_cancellations,
        "webhook_signing_key": cfg.webhook_signing_key,
        "brevo_api_key": cfg.brevo_api_key,
        "debug": cfg.debug,
        "log_level": cfg.log_level,
        "log_webhooks": cfg.log_webhooks,
        "default_list_ids": cfg.default_list_ids,
    }
    wanted = {k: v for k, v in wanted.items() if v is not None}  # absent keys keep the stored value
    conn = Connection.objects.select_for_update().filter(name=cfg.name).first()
    if conn is None:
        conn = Connection(name=cfg.name, **wanted)
        conn.save()
        report.connections.created += 1
        report.changes.append(f"connection {cfg.name}: created")
        return conn

    changed: list[str] = []
    for name, value in wanted.items():
        current = getattr(conn, name)
        same = list_id_set(current) == value if name == "default_list_ids" else current == value
        if not same:
            changed.append(name)
    if not changed:
        report.connections.unchanged += 1
        return conn

    extra: list[str] = []
    if "webhook_signing_key" in changed and conn.webhook_signing_key and wanted["webhook_signing_key"]:
        # A rotation: deliveries signed with the old key stay valid for the grace period.
        conn.previous_signing_key = conn.webhook_signing_key
        conn.signing_key_rotated_at = timezone.now()
        extra += ["previous_signing_key", "signing_key_rotated_at"]
    # OAuth leftovers would make the client try to refresh a Personal Access Token.
    if (
        "auth_kind" in changed
        and wanted["auth_kind"] == Connection.AuthKind.PAT
        and (conn.refresh_token or conn.token_expires_at)
    ):
        conn.refresh_token = ""
        conn.token_expires_at = None
        extra += ["refresh_token", "token_expires_at"]
    for name in changed:
        setattr(conn, name, wanted[name])
    conn.save(update_fields=changed + extra + ["updated_at"])
    report.connections.updated += 1
    shown = [f"{n} (secret)" if n in SECRETS else f"{n}={wanted[n]!r}" for n in changed]
    report.changes.append(f"connection {cfg.name}: updated {', '.join(shown)}")
    return conn


def _apply_event_mappings(conn: Connection, wanted: list[EventMappingConfig], prune: bool, report: ApplyReport) -> None:
    existing = {m.event_type_uri: m for m in EventTypeMapping.objects.select_for_update().filter(connection=conn)}
    for spec in wanted:
        row = existing.pop(spec.event_type_uri, None)
        values: dict[str, Any] = {
            "key": spec.key,
            "list_ids": spec.list_ids,
            "unlink_on_cancel": spec.unlink_on_cancel,
            "enabled": spec.enabled,
        }
        if spec.event_type_name is not None:
            values["event_type_name"] = spec.event_type_name
        if row is None:
            EventTypeMapping.objects.create(connection=conn, event_type_uri=spec.event_type_uri, **values)
            report.event_mappings.created += 1
            report.changes.append(f"connection {conn.name}: event mapping {spec.key} created")
            continue
        changed = [
            name
            for name, value in values.items()
            if (list_id_set(row.list_ids) != value if name == "list_ids" else getattr(row, name) != value)
        ]
        if not changed:
            report.event_mappings.unchanged += 1
            continue
        for name in changed:
            setattr(row, name, values[name])
        row.save(update_fields=[*changed, "updated_at"])
        report.event_mappings.updated += 1
        report.changes.append(f"connection {conn.name}: event mapping {spec.key} updated {', '.join(changed)}")
    if prune:
        for row in existing.values():
            row.delete()
            report.event_mappings.deleted += 1
            report.changes.append(f"connection {conn.name}: event mapping {row.key or row.event_type_uri} deleted")


def _apply_field_mappings(conn: Connection, wanted: list[FieldMappingConfig], prune: bool, report: ApplyReport) -> None:
    rows = list(FieldMapping.objects.select_for_update().filter(connection=conn).order_by("position", "id"))
    existing = {(r.source, r.attribute): r for r in rows}
    # Positions are rewritten only when the file's order differs from the stored order, so rows
    # the admin created (all position 0, ordered by id) export and re-import without a change.
    stored_order = [
        (r.source, r.attribute) for r in rows if (r.source, r.attribute) in {(w.source, w.attribute) for w in wanted}
    ]
    file_order = [(w.source, w.attribute) for w in wanted]
    keep_positions = stored_order == file_order

    for spec in wanted:
        row = existing.pop((spec.source, spec.attribute), None)
        values: dict[str, Any] = {"attribute_type": spec.attribute_type, "enabled": spec.enabled}
        if not keep_positions:
            values["position"] = spec.position
        label = f"{spec.source} → {spec.attribute}"
        if row is None:
            FieldMapping.objects.create(
                connection=conn,
                source=spec.source,
                attribute=spec.attribute,
                position=spec.position,
                attribute_type=spec.attribute_type,
                enabled=spec.enabled,
            )
            report.field_mappings.created += 1
            report.changes.append(f"connection {conn.name}: field mapping {label} created")
            continue
        changed = [name for name, value in values.items() if getattr(row, name) != value]
        if not changed:
            report.field_mappings.unchanged += 1
            continue
        for name in changed:
            setattr(row, name, values[name])
        row.save(update_fields=changed)
        report.field_mappings.updated += 1
        report.changes.append(f"connection {conn.name}: field mapping {label} updated {', '.join(changed)}")
    if prune:
        for row in existing.values():
            row.delete()
            report.field_mappings.deleted += 1
            report.changes.append(f"connection {conn.name}: field mapping {row.source} → {row.attribute} deleted")
