"""Bulk writes handed straight to the database driver's executemany.

Ingest writes a thousand posts, their topic links and bucket sums in every poll. Through
SQLAlchemy Core, building and type-processing the parameters of each row cost five times what
SQLite needed to store it (measured: ~70 µs against ~10 µs a post). Here the statement is built
once per table and dialect, rows are plain tuples, and only the columns whose type converts
values (UTC datetimes, JSON) go through the same bind processors SQLAlchemy would have used, so
the stored bytes are the ones an ORM insert writes. Both SQLite and PostgreSQL (psycopg 3
pipelines an executemany) take the same code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Table

__all__ = ["BulkInsert", "select_in"]

_Processor = Callable[[Any], Any]


class BulkInsert:
    """INSERT of many rows into `table` with `columns` in this order (optionally as an upsert)."""

    def __init__(self, table: Table, columns: Sequence[str], *, on_conflict: str = "") -> None:
        self.table = table
        self.columns = tuple(columns)
        self.on_conflict = on_conflict
        self._prepared: dict[str, tuple[str, list[tuple[int, _Processor]]]] = {}

    def _prepare(self, conn: Connection) -> tuple[str, list[tuple[int, _Processor]]]:
        dialect = conn.dialect
        found = self._prepared.get(dialect.name)
        if found is None:
            mark = "?" if dialect.paramstyle == "qmark" else "%s"
            quote = dialect.identifier_preparer.quote
            sql = (
                f"INSERT INTO {quote(self.table.name)} ({', '.join(quote(c) for c in self.columns)}) "
                f"VALUES ({', '.join([mark] * len(self.columns))}){self.on_conflict}"
            )
            processors: list[tuple[int, _Processor]] = []
            for i, name in enumerate(self.columns):
                col_type = self.table.c[name].type
                proc = col_type.dialect_impl(dialect).bind_processor(dialect)
                if proc is not None:
                    processors.append((i, proc))
            found = self._prepared[dialect.name] = (sql, processors)
        return found

    def __call__(
        self,
        conn: Connection,
        rows: Sequence[tuple[Any, ...]],
        chunk: int = 5000,
        *,
        returning: str = "",
    ) -> list[tuple[Any, ...]]:
        """Insert `rows`; on PostgreSQL with `returning` (columns), the inserted rows' values of those
        columns (rows an ON CONFLICT DO NOTHING skipped are not among them). Elsewhere, []."""
        if not rows:
            return []
        sql, processors = self._prepare(conn)
        if processors:
            converted = []
            for row in rows:
                values = list(row)
                for i, proc in processors:
                    values[i] = proc(values[i])
                converted.append(tuple(values))
            rows = converted
        if conn.dialect.name == "postgresql":
            return self._copy(conn, rows, returning)
        for start in range(0, len(rows), chunk):
            conn.exec_driver_sql(sql, list(rows[start : start + chunk]))
        return []

    def _copy(
        self, conn: Connection, rows: Sequence[tuple[Any, ...]], returning: str = ""
    ) -> list[tuple[Any, ...]]:
        """PostgreSQL: the rows as one COPY, in the same transaction. An executemany, even
        pipelined, had the server take ~50-90 µs a post row; COPY takes a few. A duplicate key
        still fails the whole COPY, as it failed the whole executemany. An upsert is staged: COPY
        into a temporary copy of the table, then one INSERT … SELECT with the conflict clause (so
        the rows of one call must not repeat a key, as ON CONFLICT DO UPDATE cannot touch a row
        twice in one statement). The staging table has the columns only, no defaults: a serial id
        default would draw a sequence number for every staged row."""
        quote = conn.dialect.identifier_preparer.quote
        table, columns = quote(self.table.name), ", ".join(quote(c) for c in self.columns)
        target = table
        if self.on_conflict:
            target = quote(f"_staged_{self.table.name}")
            conn.exec_driver_sql(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {target} ON COMMIT DELETE ROWS "
                f"AS SELECT {columns} FROM {table} WITH NO DATA"
            )
        dbapi = conn.connection.dbapi_connection
        with dbapi.cursor() as cur, cur.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:  # type: ignore[union-attr]
            write = copy.write_row
            for row in rows:
                write(row)
        out: list[tuple[Any, ...]] = []
        if self.on_conflict:
            result = conn.exec_driver_sql(
                f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {target}"
                f"{self.on_conflict}{f' RETURNING {returning}' if returning else ''}"
            )
            if returning:
                out = [tuple(r) for r in result.fetchall()]
            # a second call in this transaction starts empty
            conn.exec_driver_sql(f"TRUNCATE {target}")
        return out


def select_in(
    conn: Connection,
    sql: str,
    values: Sequence[Any],
    *,
    before: tuple[Any, ...] = (),
    chunk: int = 500,
) -> list[tuple[Any, ...]]:
    """Rows of `sql`, whose `{marks}` is an IN list over `values` (and `{mark}` one placeholder per
    value of `before`), in chunks that stay under SQLite's variable limit.

    Dedupe asks this twice per poll for a thousand keys; SQLAlchemy's expanding IN rendered and
    processed every value again on each call, at several times the cost of the look-up itself.
    """
    if conn.dialect.name == "postgresql" and "IN ({marks})" in sql:
        # One array parameter: one statement whatever the number of values, no chunks. What keeps
        # it fast is that every run is planned for the values at hand (`_custom_plans` in
        # store.py): a generic plan compared every post with every value.
        statement = sql.replace("IN ({marks})", "= ANY(%s)").format(mark="%s")
        return [
            tuple(r) for r in conn.exec_driver_sql(statement, (*before, list(values))).fetchall()
        ]
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    out: list[tuple[Any, ...]] = []
    for start in range(0, len(values), chunk):
        part = list(values[start : start + chunk])
        statement = sql.format(mark=mark, marks=", ".join([mark] * len(part)))
        out.extend(tuple(r) for r in conn.exec_driver_sql(statement, (*before, *part)).fetchall())
    return out
