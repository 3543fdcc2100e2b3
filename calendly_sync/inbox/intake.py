"""The acknowledgement's one write: a delivery's ``INSERT``, its SQL built once per database.

Why not ``WebhookDelivery(...).save()``: the ORM compiles the insert anew for every row (each of
the 18 columns quoted, prepared and assembled), and with persistent connections that compilation
was the largest part of an acknowledgement: 1.35 of its 2.97 profiled seconds over 2,000
deliveries (``cProfile``, SQLite), more than the database's own work. Here the statement is
built once from the model's fields, and each value is adapted by the backend's own operations
(``adapt_datetimefield_value``, ``adapt_json_value``), as the ORM would adapt it; so a row written
here is the row ``save()`` writes. A database that cannot return the new id from an ``INSERT``
goes through the ORM instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

from calendly_sync.models import WebhookDelivery


@dataclass(frozen=True)
class _Statement:
    sql: str
    fields: tuple[models.Field[Any, Any], ...]


_statements: dict[tuple[str, str], _Statement] = {}
_COLUMNS = frozenset(f.attname for f in WebhookDelivery._meta.concrete_fields if not f.primary_key)


def _statement(conn: BaseDatabaseWrapper) -> _Statement:
    key = (conn.alias, conn.vendor)
    found = _statements.get(key)
    if found is None:
        meta = WebhookDelivery._meta
        fields = tuple(f for f in meta.concrete_fields if not f.primary_key)
        quote = conn.ops.quote_name
        columns = ", ".join(quote(str(f.column)) for f in fields)  # a concrete field's column is never None
        marks = ", ".join(["%s"] * len(fields))
        assert meta.pk is not None
        pk = quote(str(meta.pk.column))
        sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({marks}) RETURNING {pk}"
        found = _statements[key] = _Statement(sql, fields)
    return found


def _adapt(conn: BaseDatabaseWrapper, field: models.Field[Any, Any], value: Any) -> Any:
    if value is None:
        return None
    if isinstance(field, models.DateTimeField):
        return conn.ops.adapt_datetimefield_value(value)
    if isinstance(field, models.JSONField):
        return conn.ops.adapt_json_value(value, field.encoder)
    return value


def insert_delivery(values: dict[str, Any], *, using: str = DEFAULT_DB_ALIAS) -> int:
    """Insert one delivery (``values`` by attribute name, the rest their defaults); its new id.

    A stored idempotency key raises :class:`django.db.IntegrityError`, as ``save()`` would.
    """
    unknown = values.keys() - _COLUMNS
    if unknown:
        raise TypeError(f"WebhookDelivery has no column {', '.join(sorted(unknown))}")
    conn = connections[using]
    if not conn.features.can_return_columns_from_insert:
        delivery = WebhookDelivery(**values)
        delivery.save(force_insert=True, using=using)
        return int(delivery.pk)
    statement = _statement(conn)
    params = [_adapt(conn, f, values[f.attname] if f.attname in values else f.get_default()) for f in statement.fields]
    with conn.cursor() as cursor:
        cursor.execute(statement.sql, params)
        row = cursor.fetchone()
    return int(row[0])
