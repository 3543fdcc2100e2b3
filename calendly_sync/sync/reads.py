"""The reads a projection is computed from: taken under locks, or recorded to be checked under them.

The projection (:mod:`calendly_sync.sync.projection`) is a deterministic function of the rows it
reads, its rules and its clock. It reads through a :class:`Reads`:

- :meth:`Reads.locked`: read now, ``SELECT … FOR UPDATE`` where asked. Used inside the write
  transaction: the projection is computed under its locks (the way it always was).
- :meth:`Reads.recorded`: read now without locks and outside any transaction (autocommit), and
  remember each query with what it returned. The projection is computed from these rows while no
  write lock is held; then, inside the write transaction, :meth:`Reads.unchanged` runs the same
  queries again in the same order, taking the same row locks the locked computation would take
  (bookings, then contacts), and compares. If every query returns what it returned before, the
  locked computation would read exactly these rows, so its result is the one already computed and
  only the writes remain to be done. If any differs (another writer, such as a backfill, an admin
  action or another drain on PostgreSQL, changed a row meanwhile), the caller computes again
  under the locks in that same transaction, so a conflict costs one recomputation and never a
  wrong or lost write.

Comparing what the queries return, rather than a version column, needs nothing from the other
writers: every column of every row read is compared, whoever changed it and however (``update()``,
``bulk_update`` and raw statements bump no ``updated_at``), and a row that appeared or went away
counts as a change.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet


def _row(model: type[Model], row: Model) -> tuple[Any, ...]:
    return tuple(getattr(row, f.attname) for f in model._meta.concrete_fields)


def _rows_seen(model: type[Model], rows: list[Any]) -> dict[Any, tuple[Any, ...]]:
    return {row.pk: _row(model, row) for row in rows}


class Reads:
    """Where a projection's reads come from (see the module's docstring)."""

    def __init__(self, *, record: bool) -> None:
        self.record = record
        # (query, lock it when checked, rows as model instances?, what it returned)
        self.queries: list[tuple[QuerySet[Any], bool, bool, Any]] = []

    @classmethod
    def locked(cls) -> Reads:
        """Read under the write transaction's locks."""
        return cls(record=False)

    @classmethod
    def recorded(cls) -> Reads:
        """Read without locks, to be checked by :meth:`unchanged` in the write transaction."""
        return cls(record=True)

    def rows(self, queryset: QuerySet[Any], *, lock: bool = False, check: bool = True) -> list[Any]:
        """The model instances ``queryset`` returns; ``lock``: with ``FOR UPDATE`` under the locks.

        ``check=False``: a look ahead that the locked computation takes before its locks and
        whose staleness it tolerates (it decides which rows to lock, and rows read again under
        the locks are checked): not run again in the write transaction.
        """
        if not self.record:
            return list(queryset.select_for_update() if lock else queryset)
        rows = list(queryset.all())
        if check:
            self.queries.append((queryset.all(), lock, True, _rows_seen(queryset.model, rows)))
        return rows

    def values(self, queryset: QuerySet[Any], *, check: bool = True) -> list[Any]:
        """What a ``values()`` / ``values_list()`` query returns (never locked); ``check`` as for :meth:`rows`."""
        if not self.record:
            return list(queryset)
        found = list(queryset.all())
        if check:
            self.queries.append((queryset.all(), False, False, found))
        return found

    def unchanged(self) -> bool:
        """In the write transaction: run the recorded queries again, in order, with their locks;
        True when each returns what it returned when recorded (the first difference stops)."""
        for queryset, lock, instances, seen in self.queries:
            if instances:
                model = queryset.model
                names = [f.attname for f in model._meta.concrete_fields]
                current = (queryset.select_for_update() if lock else queryset).values_list(*names)
                pk_at = names.index(model._meta.pk.attname)
                if {row[pk_at]: tuple(row) for row in current} != seen:
                    return False
            elif _unordered(list(queryset.all())) != _unordered(seen):
                return False
        return True


def _unordered(found: list[Any]) -> list[Any]:
    """A query's result compared without its order (the queries read here have no ``ORDER BY``
    that matters to the projection)."""
    return sorted(found, key=repr)
