"""Rows and the audit events that record them, written together in one statement.

A chat message stores its conversation, the message, the pending answer and
its subject-index rows, and appends its audit events. Saved one by one, that
is a round trip per row inside a transaction, and the chain's lock (taken by
the first append) is held until the commit. :class:`Writes` gathers the rows
and events and, on PostgreSQL, sends them as one statement: data-modifying
CTEs whose rows refer to each other's new ids, then the events' appends. A
statement is atomic by itself, so outside a transaction there is no BEGIN
or COMMIT to wait for, and the chain's lock ends with the statement. On
other databases the rows are saved in turn in a transaction, then the events
appended.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, models, transaction

from audit.models import AuditEvent
from audit.services import append_events, append_statement, appended, collected
from config.prepared import prepared_cursor


class Writes:
    """Inserts and updates of model instances, in order, and the events recorded meanwhile.

    An instance may point (a foreign key) at one inserted before it in the same
    ``Writes``: its id comes from that row's insert. After :meth:`write`, every
    inserted instance has its primary key and its foreign keys' ids, as after
    ``save()``. Neither ``save()`` nor model signals run.
    """

    def __init__(self) -> None:
        self._steps: list[tuple[models.Model, list[str] | None]] = []
        self.events: list[AuditEvent] = []

    def insert(self, instance: models.Model) -> None:
        self._steps.append((instance, None))

    def update(self, instance: models.Model, fields: list[str]) -> None:
        """Set ``fields`` of an instance already in the database."""
        self._steps.append((instance, list(fields)))

    @contextmanager
    def recording(self) -> Iterator[None]:
        """The events recorded inside the block (:func:`audit.services.record`) are
        appended by :meth:`write`, after the rows."""
        with collected(self.events):
            yield

    def write(self) -> None:
        if connection.vendor == "postgresql":
            self._write_in_one_statement()
        else:
            with transaction.atomic():
                for instance, fields in self._steps:
                    if fields is None:
                        instance.save(force_insert=True)
                    else:
                        instance.save(update_fields=fields)
                if self.events:
                    append_events(self.events)

    # --- PostgreSQL -------------------------------------------------------------------

    def _write_in_one_statement(self) -> None:
        ctes, params = [], []
        names: dict[int, str] = {}  # id(instance) → its CTE
        for index, (instance, fields) in enumerate(self._steps):
            name = f"w{index}"
            sql, values = self._statement(instance, fields, names)
            ctes.append(f"{name} AS ({sql} RETURNING {_pk_column(instance)})")
            params += values
            names[id(instance)] = name
        ids = ", ".join(f"(SELECT * FROM {name})" for name in names.values())
        if self.events:
            append_sql, append_params = append_statement(self.events)
            main = f"SELECT {ids}, e.* FROM ({append_sql}) AS e ORDER BY e.sequence"
            params += append_params
        else:
            main = f"SELECT {ids}"
        with prepared_cursor() as cursor:
            cursor.execute(f"WITH {', '.join(ctes)} {main}", params)
            rows = cursor.fetchall()
        count = len(self._steps)
        for (instance, fields), pk in zip(self._steps, rows[0][:count], strict=True):
            if fields is None:
                instance.pk = pk
                instance._state.adding = False
                instance._state.db = connection.alias
            for field in instance._meta.concrete_fields:
                if field.is_relation and field.is_cached(instance):
                    related = field.get_cached_value(instance)
                    if related is not None and getattr(instance, field.attname) is None:
                        # As save() does: through the object, so that it stays cached.
                        setattr(instance, field.name, related)
        if self.events:
            appended(self.events, [row[count:] for row in rows])

    @staticmethod
    def _statement(instance, fields, names) -> tuple[str, list]:
        meta = instance._meta
        quote = connection.ops.quote_name
        adding = fields is None
        chosen = [
            f
            for f in meta.concrete_fields
            if (
                not (f.primary_key and f.db_returning)
                if adding
                else {f.name, f.attname} & {*fields}
            )
        ]
        expressions, values = [], []
        for field in chosen:
            related = field.get_cached_value(instance, None) if field.is_relation else None
            if related is not None and id(related) in names:
                expressions.append(f"(SELECT * FROM {names[id(related)]})")
            else:
                expressions.append("%s")
                values.append(field.get_db_prep_save(field.pre_save(instance, adding), connection))
        table = quote(meta.db_table)
        if adding:
            columns = ", ".join(quote(f.column) for f in chosen)
            return f"INSERT INTO {table} ({columns}) VALUES ({', '.join(expressions)})", values
        assignments = ", ".join(
            f"{quote(f.column)} = {e}" for f, e in zip(chosen, expressions, strict=True)
        )
        sql = f"UPDATE {table} SET {assignments} WHERE {quote(meta.pk.column)} = %s"
        return sql, [*values, instance.pk]


def _pk_column(instance: models.Model) -> str:
    return connection.ops.quote_name(instance._meta.pk.column)
