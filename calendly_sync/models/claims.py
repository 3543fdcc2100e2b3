"""Claim rows for work in one statement: ``UPDATE … SET <claim> WHERE <still due> RETURNING id``.

Several workers (embedded threads in each server process, Celery children, ``process_deliveries``)
may list the same due rows. The claim is the one atomic step that decides who works on which row:
a row is returned to exactly one caller, because the ``WHERE`` is re-checked on the row as the
database updates it. One statement per batch instead of a locked read and a write per row.
"""

from __future__ import annotations

from typing import Any, cast

from django.db import connections, transaction
from django.db.models import QuerySet
from django.db.models.sql import UpdateQuery


def supports_returning(using: str) -> bool:
    """PostgreSQL and SQLite ≥ 3.35 can return the updated rows' ids."""
    return bool(connections[using].features.can_return_columns_from_insert)


def claim(queryset: QuerySet[Any], **values: Any) -> list[int]:
    """Apply ``values`` to the rows ``queryset`` matches now; return the primary keys it changed."""
    model = queryset.model
    using = queryset.db
    if not supports_returning(using):  # pragma: no cover - other databases: lock, then update
        with transaction.atomic(using=using):
            pks = list(queryset.select_for_update(skip_locked=True).values_list("pk", flat=True))
            model._base_manager.using(using).filter(pk__in=pks).update(**values)
        return pks
    query = cast(UpdateQuery, queryset.query.chain(UpdateQuery))  # chain(klass) returns a klass
    query.add_update_values(values)
    sql, params = query.get_compiler(using).as_sql()
    if not sql:
        return []
    pk_column = connections[using].ops.quote_name(model._meta.pk.column)
    with connections[using].cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {pk_column}", params)
        return [row[0] for row in cursor.fetchall()]
