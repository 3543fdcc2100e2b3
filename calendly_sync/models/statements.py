"""Set-based writes compiled before the transaction that runs them.

Django's ``bulk_update`` builds a ``CASE WHEN pk = … THEN …`` expression per field and row, and
resolving and compiling those costs far more time in Python than the database takes to run the
statement (about 1 ms of CPU per contact updated). Built inside a write transaction, that time is
lock time: on SQLite every other writer (the webhook endpoint's ``INSERT``) waits for it.
:func:`bulk_update_statements` builds and compiles the very statements ``bulk_update`` would run,
ahead of the transaction; :meth:`Statement.execute` runs one inside it. :class:`RowInsert` is
the other case: one row at a time on a hot path, its ``INSERT`` built once per database.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from django.db import connections
from django.db.models import Case, DateTimeField, Field, JSONField, Model, Value, When
from django.db.models.functions import Cast
from django.db.models.sql import InsertQuery, UpdateQuery

ValueOf = Callable[[Model, "Field[Any, Any]"], Any]


@dataclass(frozen=True)
class Statement:
    """One compiled statement, run as is."""

    sql: str
    params: tuple[Any, ...]
    using: str

    def execute(self) -> int:
        with connections[self.using].cursor() as cursor:
            cursor.execute(self.sql, self.params)
            return int(cursor.rowcount)


@dataclass(frozen=True)
class Insert(Statement):
    """A compiled multi-row ``INSERT`` of new objects; run, it gives them their ids where the
    database returns them (``RETURNING``), as ``bulk_create`` does."""

    objs: tuple[Model, ...] = ()
    returning: bool = False

    def execute(self) -> int:
        with connections[self.using].cursor() as cursor:
            cursor.execute(self.sql, self.params)
            if self.returning:
                for obj, row in zip(self.objs, cursor.fetchall(), strict=True):
                    obj.pk = row[0]
        for obj in self.objs:
            obj._state.adding = False
            obj._state.db = self.using
        return len(self.objs)


def insert_statements(model: type[Model], objs: Sequence[Model], *, using: str = "default") -> list[Insert]:
    """The statements ``model.objects.bulk_create(objs)`` runs (objects without ids), compiled now.

    Every related object the new rows point to must exist already (as for ``bulk_create``).
    """
    if not objs:
        return []
    opts = model._meta
    for obj in objs:
        if obj.pk is not None:
            raise ValueError("insert_statements takes new objects only (without ids)")
        obj._prepare_related_fields_for_save(operation_name="bulk_create")  # type: ignore[attr-defined]  # not in the stubs
    fields = [f for f in opts.concrete_fields if not f.generated and f is not opts.pk]
    connection = connections[using]
    size = max(connection.ops.bulk_batch_size(fields, objs), 1)
    returning = bool(connection.features.can_return_rows_from_bulk_insert)
    if returning and [f.attname for f in opts.db_returning_fields] != [opts.pk.attname]:
        raise ValueError(f"{model.__name__}: only the id is expected back from an insert")
    statements = []
    for start in range(0, len(objs), size):
        batch = tuple(objs[start : start + size])
        query = InsertQuery(model)
        query.insert_values(fields, list(batch), raw=False)
        compiler = query.get_compiler(using)
        if returning:
            compiler.returning_fields = list(opts.db_returning_fields)
        for sql, params in compiler.as_sql():
            statements.append(Insert(sql, tuple(params), using, batch, returning))
    return statements


def _attribute(obj: Model, field: Field[Any, Any]) -> Any:
    return getattr(obj, field.attname)


def bulk_update_statements(
    model: type[Model],
    objs: Sequence[Model],
    field_names: Sequence[str],
    *,
    batch_size: int | None = None,
    using: str = "default",
    value_of: ValueOf = _attribute,
) -> list[Statement]:
    """The statements ``model.objects.bulk_update(objs, field_names, batch_size)`` runs, compiled now.

    ``value_of(obj, field)``: the value (or an expression) a field is set to; by default the
    object's attribute, as ``bulk_update`` takes it. Every object must have its primary key.
    """
    if not objs:
        return []
    if any(obj.pk is None for obj in objs):
        raise ValueError("every object of a bulk update needs its primary key")
    opts = model._meta
    fields = [cast("Field[Any, Any]", opts.get_field(name)) for name in field_names]
    connection = connections[using]
    size = connection.ops.bulk_batch_size([opts.pk, opts.pk, *fields], objs)
    size = min(batch_size, size) if batch_size else size
    casting = connection.features.requires_casted_case_in_updates
    statements = []
    for start in range(0, len(objs), size):
        batch = objs[start : start + size]
        values: dict[str, Any] = {}
        for field in fields:
            whens = []
            for obj in batch:
                value = value_of(obj, field)
                if not hasattr(value, "resolve_expression"):
                    value = Value(value, output_field=field)
                whens.append(When(pk=obj.pk, then=value))
            case: Any = Case(*whens, output_field=field)
            values[field.attname] = Cast(case, output_field=field) if casting else case
        query = cast(
            UpdateQuery, model._base_manager.using(using).filter(pk__in=[o.pk for o in batch]).query.chain(UpdateQuery)
        )
        query.add_update_values(values)
        query.clear_select_clause()
        sql, params = query.get_compiler(using).as_sql()
        statements.append(Statement(sql, tuple(params), using))
    return statements


class RowInsert:
    """One row's ``INSERT`` of a model, its SQL built once per database and reused for every row.

    Why: the ORM compiles an insert anew for every ``save()`` (each column quoted, prepared and
    assembled), which on a path that inserts one row per request costs more than the database's
    own work (the webhook endpoint: 1.35 of an acknowledgement's 2.97 profiled seconds). Each value
    is adapted by the backend's operations (``adapt_datetimefield_value``, ``adapt_json_value``)
    as the ORM adapts it, so the row is the one ``save()`` writes. A database that cannot return the
    new id from an ``INSERT`` goes through ``save()``.
    """

    def __init__(self, model: type[Model]) -> None:
        self.model = model
        self.fields: tuple[Field[Any, Any], ...] = tuple(
            f for f in model._meta.concrete_fields if not f.primary_key and not f.generated
        )
        self.columns = frozenset(f.attname for f in self.fields)
        self._sql: dict[tuple[str, str], str] = {}

    def sql(self, using: str) -> str:
        connection = connections[using]
        key = (using, connection.vendor)
        found = self._sql.get(key)
        if found is None:
            quote = connection.ops.quote_name
            opts = self.model._meta
            columns = ", ".join(quote(str(f.column)) for f in self.fields)  # a concrete field's column is set
            marks = ", ".join(["%s"] * len(self.fields))
            assert opts.pk is not None
            pk = quote(str(opts.pk.column))
            found = self._sql[key] = f"INSERT INTO {quote(opts.db_table)} ({columns}) VALUES ({marks}) RETURNING {pk}"
        return found

    def execute(self, values: dict[str, Any], *, using: str = "default") -> int:
        """Insert one row (``values`` by attribute name, the other columns their defaults); its id.

        A unique constraint the row breaks raises :class:`django.db.IntegrityError`, as ``save()`` does.
        """
        unknown = values.keys() - self.columns
        if unknown:
            raise TypeError(f"{self.model.__name__} has no column {', '.join(sorted(unknown))}")
        connection = connections[using]
        if not connection.features.can_return_columns_from_insert:
            obj = self.model(**values)
            obj.save(force_insert=True, using=using)
            return int(obj.pk)
        params = [
            _adapt(connection, f, values[f.attname] if f.attname in values else f.get_default()) for f in self.fields
        ]
        with connection.cursor() as cursor:
            cursor.execute(self.sql(using), params)
            row = cursor.fetchone()
        return int(row[0])


def _adapt(connection: Any, field: Field[Any, Any], value: Any) -> Any:
    if value is None:
        return None
    if isinstance(field, DateTimeField):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(field, JSONField):
        return connection.ops.adapt_json_value(value, field.encoder)
    return value
