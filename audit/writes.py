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

import functools
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, connections, models, transaction

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
        self._conditions: dict[int, tuple[models.Model, str, list]] = {}  # by id(instance)

    def insert(self, instance: models.Model) -> None:
        self._steps.append((instance, None))

    def update(self, instance: models.Model, fields: list[str]) -> None:
        """Set ``fields`` of an instance already in the database."""
        self._steps.append((instance, list(fields)))

    def only_if(self, instance: models.Model, condition: str, params: list) -> None:
        """Write only if ``condition`` (SQL on ``instance``'s row) holds: if it does not, the
        instance's update changes no row, the rows that point at the instance are refused (a
        null foreign key: IntegrityError) and nothing is written. Without an update of the
        instance, one that changes nothing tests the condition first. PostgreSQL only."""
        self._conditions[id(instance)] = (instance, condition, list(params))

    @contextmanager
    def recording(self) -> Iterator[None]:
        """The events recorded inside the block (:func:`audit.services.record`) are
        appended by :meth:`write`, after the rows."""
        with collected(self.events):
            yield

    def write(self) -> None:
        if connection.vendor == "postgresql":
            self._write_in_one_statement()
        elif self._conditions:
            raise NotImplementedError("conditional updates are written on PostgreSQL only")
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
        db = connections[connection.alias]  # the wrapper itself: the proxy costs per use
        steps = self._tested_steps()
        shape, params = [], []
        positions: dict[int, int] = {}  # id(instance) → its step
        for index, (instance, fields) in enumerate(steps):
            step = (type(instance), None if fields is None else tuple(fields))
            refs, values = _values(instance, step, positions, db)
            _, condition, condition_params = self._conditions.get(id(instance), (None, "", []))
            shape.append((*step, refs, condition))
            params += values + condition_params
            positions[id(instance)] = index
        if self.events:
            append_sql, append_params = append_statement(self.events)
            params += append_params
        else:
            append_sql = ""
        with prepared_cursor() as cursor:
            cursor.execute(_statement(tuple(shape), append_sql), params)
            rows = cursor.fetchall()
        count = len(steps)
        for (instance, fields), pk in zip(steps, rows[0][:count], strict=True):
            if fields is None:
                instance.pk = pk
                instance._state.adding = False
                instance._state.db = db.alias
            for field in instance._meta.concrete_fields:
                if field.is_relation and field.is_cached(instance):
                    related = field.get_cached_value(instance)
                    if related is not None and getattr(instance, field.attname) is None:
                        # As save() does: through the object, so that it stays cached.
                        setattr(instance, field.name, related)
        if self.events:
            appended(self.events, [row[count:] for row in rows])

    def _tested_steps(self) -> list[tuple[models.Model, list[str] | None]]:
        """The steps, after an update that changes nothing for each condition whose
        instance is not updated: its condition is tested before anything is written."""
        updated = {id(instance) for instance, fields in self._steps if fields is not None}
        tests = [
            (instance, [instance._meta.pk.name])
            for instance, _, _ in self._conditions.values()
            if id(instance) not in updated
        ]
        return tests + self._steps


def _values(instance, step, positions: dict[int, int], db) -> tuple[tuple, list]:
    """The values of an insert or update (its fields chosen by ``step``), and for each
    field the step it points at (a row inserted earlier in the statement), else None."""
    adding = step[1] is None
    refs, values = [], []
    for field in _chosen(*step):
        related = field.get_cached_value(instance, None) if field.is_relation else None
        if related is not None and id(related) in positions:
            refs.append(positions[id(related)])
        else:
            refs.append(None)
            values.append(field.get_db_prep_save(field.pre_save(instance, adding), db))
    if not adding:
        values.append(instance.pk)
    return tuple(refs), values


@functools.lru_cache(maxsize=64)
def _chosen(model: type[models.Model], fields: tuple[str, ...] | None) -> list:
    meta = model._meta
    if fields is None:  # an insert: every column but an id the database assigns
        return [f for f in meta.concrete_fields if not (f.primary_key and f.db_returning)]
    return [f for f in meta.concrete_fields if {f.name, f.attname} & {*fields}]


@functools.lru_cache(maxsize=256)
def _statement(shape: tuple, append_sql: str) -> str:
    """The statement for a sequence of inserts and updates (model, fields or None for an
    insert, and which earlier step each field points at), then the appends."""
    ctes = []
    for index, (model, fields, refs, condition) in enumerate(shape):
        chosen = _chosen(model, fields)
        expressions = ["%s" if ref is None else f"(SELECT * FROM w{ref})" for ref in refs]
        table, pk = _quote(model._meta.db_table), _quote(model._meta.pk.column)
        if fields is None:
            columns = ", ".join(_quote(f.column) for f in chosen)
            sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(expressions)})"
        else:
            assignments = ", ".join(
                f"{_quote(f.column)} = {e}" for f, e in zip(chosen, expressions, strict=True)
            )
            sql = f"UPDATE {table} SET {assignments} WHERE {pk} = %s"
            if condition:
                sql += f" AND ({condition})"
        ctes.append(f"w{index} AS ({sql} RETURNING {pk})")
    ids = ", ".join(f"(SELECT * FROM w{index})" for index in range(len(shape)))
    if append_sql:
        main = f"SELECT {ids}, e.* FROM ({append_sql}) AS e ORDER BY e.sequence"
    else:
        main = f"SELECT {ids}"
    return f"WITH {', '.join(ctes)} {main}"


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)
