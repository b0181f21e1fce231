"""Model rows read with SQL built once, for the queries every request makes.

Building a query with the ORM (filters, joins, annotations, compiling) costs
more CPU than running it does when the query is a primary-key or unique
look-up. :class:`Prebuilt` joins whole rows of one or more models, builds its
SQL the first time it runs, and turns each row into model instances the way
the ORM does (``from_db``, with the database's converters). On PostgreSQL the
statement is also prepared (:func:`config.prepared.hot_cursor`).
"""

import functools
from collections.abc import Callable

from django.db import connection, models

from config.prepared import hot_cursor


class Prebuilt:
    """``<head> SELECT <every column of each model>[, <also>] FROM <tables> <tail>``: :meth:`one`
    row or :meth:`all`.

    ``sources`` are (model, table alias) pairs; ``tail()`` gives the rest, after
    ``FROM``: the tables with those aliases and the conditions, with ``%s`` parameters.
    ``also()``: more columns (without parameters), whose values follow the instances.
    """

    def __init__(
        self,
        sources: list[tuple[type[models.Model], str]],
        tail: Callable[[], str],
        head: Callable[[], str] = str,
        also: Callable[[], str] | None = None,
    ) -> None:
        self.sources = sources
        # Functions: the table names are known once the apps are loaded. ``head`` comes
        # before ``SELECT`` (a ``WITH`` clause; its parameters come first).
        self.tail = tail
        self.head = head
        self.also = also

    def one(self, params: list) -> tuple | None:
        """The instances of the first row (one per source, then ``also``'s values), or None
        when there is none."""
        with hot_cursor() as cursor:
            cursor.execute(self._sql_parts[0], params)
            row = cursor.fetchone()
        return None if row is None else self._instances(row)

    def all(self, params: list) -> list[tuple]:
        """The instances of every row (one per source in each, then ``also``'s values)."""
        with hot_cursor() as cursor:
            cursor.execute(self._sql_parts[0], params)
            rows = cursor.fetchall()
        return [self._instances(row) for row in rows]

    def _instances(self, row) -> tuple:
        _, names, converters = self._sql_parts
        values = list(row)
        for index, convert in converters:
            values[index] = convert(values[index])
        instances, start = [], 0
        for (model, _), fields in zip(self.sources, names, strict=True):
            end = start + len(fields)
            instances.append(model.from_db(connection.alias, fields, values[start:end]))
            start = end
        return (*instances, *values[start:])

    @functools.cached_property
    def _sql_parts(self) -> tuple[str, list[list[str]], list[tuple[int, Callable]]]:
        columns: list[str] = []
        names: list[list[str]] = []
        converters: list[tuple[int, Callable]] = []
        for model, alias in self.sources:
            names.append([])
            for field in model._meta.concrete_fields:
                column = field.get_col(model._meta.db_table)
                for convert in [
                    *connection.ops.get_db_converters(column),
                    *field.get_db_converters(connection),
                ]:  # what the ORM applies to what the driver returns (SQLite's UUIDs, times…)
                    converters.append(
                        (len(columns), lambda value, c=convert, e=column: c(value, e, connection))
                    )
                columns.append(f"{alias}.{connection.ops.quote_name(field.column)}")
                names[-1].append(field.attname)
        if self.also is not None:
            columns.append(self.also())
        sql = f"{self.head()} SELECT {', '.join(columns)} FROM {self.tail()}".lstrip()
        return sql, names, converters
