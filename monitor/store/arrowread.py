"""Posts read from the store as Arrow record batches, through an ADBC driver.

An export of a million posts through SQLAlchemy spent most of its time making a Python tuple per
row and building frames back from the tuples (measured: 54% + 22% of 11 s). ADBC drivers hand
the rows over as columns: `adbc-driver-sqlite` steps SQLite in C, `adbc-driver-postgresql`
reads PostgreSQL's binary COPY. Each batch becomes a polars frame without a Python object per
value, so memory is one batch (plus what the writer buffers), whatever the size of the result.

The SQLite driver infers a column's Arrow type from the first batch, and a column that is all
NULL there (the scores of unscored posts, say) is taken as int64, after which the first real
value fails the read. The query therefore starts with one typed row that is dropped on arrival.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Generator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import polars as pl
from sqlalchemy.engine import URL, make_url

log = logging.getLogger(__name__)

_SEP = "\x1f"  # between topic names

# (column, SQL on SQLite, SQL on PostgreSQL, value of the typed first row on SQLite)
_COLUMNS: list[tuple[str, str, str, str]] = [
    ("id", "p.id", "p.id", "0"),
    ("source", "p.source", "p.source", "''"),
    ("native_id", "p.native_id", "p.native_id", "''"),
    # UNIX microseconds from the stored text ('2026-03-01 12:00:01.123456'): an integer column is
    # free for polars to take as a time, where parsing the text cost ~1 µs a post.
    (
        "created_at",
        "CAST(strftime('%s', p.created_at) AS INTEGER) * 1000000"
        " + CAST(substr(p.created_at, 21, 6) AS INTEGER)",
        "p.created_at",
        "0",
    ),
    # Topic names in code-point order joined by the unit separator (no configured name contains
    # it): splitting is far cheaper than decoding a JSON array per post, and sorting each list in
    # polars cost more than the rest of the frame. On SQLite the (post_id, topic) key gives
    # the order (the aggregate takes its subquery's rows in order); "C" is code-point order.
    (
        "topics",
        "(SELECT group_concat(topic, char(31)) FROM (SELECT t.topic FROM post_topic t "
        "WHERE t.post_id = p.id ORDER BY t.topic))",
        '(SELECT string_agg(t.topic, chr(31) ORDER BY t.topic COLLATE "C") FROM post_topic t '
        "WHERE t.post_id = p.id)",
        "''",
    ),
    ("tags", "p.tags", "p.tags::text", "'[]'"),
    ("lang", "p.lang", "p.lang", "''"),
    ("compound", "p.compound", "p.compound", "0.5"),
    ("pos", "p.pos", "p.pos", "0.5"),
    ("neu", "p.neu", "p.neu", "0.5"),
    ("neg", "p.neg", "p.neg", "0.5"),
    ("scorer", "p.scorer", "p.scorer", "''"),
    ("scorer_version", "p.scorer_version", "p.scorer_version", "''"),
    ("author", "p.author", "p.author", "''"),
    ("url", "p.url", "p.url", "''"),
    ("text", "p.text", "p.text", "''"),
    ("engagement", "p.engagement", "p.engagement", "0"),
    ("reposts", "p.reposts", "p.reposts", "0"),
]
FLOAT_DECIMALS = 6
"""Scores are rounded to this many decimals in every export (VADER's own are 4): a file a person
reads should not show 0.30000000000000004."""


def available(url: str) -> bool:
    """Whether this store can be read through ADBC: a SQLite file or PostgreSQL."""
    u = make_url(url)
    if u.get_backend_name() == "postgresql":
        return True
    return u.get_backend_name() == "sqlite" and bool(u.database) and u.database != ":memory:"


def _sql(dialect: str, query: Any) -> tuple[str, list[Any]]:
    """The posts query in the driver's own parameter style, with its parameters in order."""
    pg = dialect == "postgresql"
    params: list[Any] = []

    def mark(value: Any) -> str:
        if isinstance(value, datetime):
            value = value.astimezone(UTC)
            if not pg:  # the stored text (monitor.store.bulk writes the same)
                value = value.replace(tzinfo=None).isoformat(" ", "microseconds")
        params.append(value)
        return f"${len(params)}" if pg else "?"

    where = []
    if query.topics:
        where.append(
            "EXISTS (SELECT 1 FROM post_topic t WHERE t.post_id = p.id AND t.topic IN ("
            + ", ".join(mark(t) for t in query.topics)
            + "))"
        )
    if query.sources:
        where.append("p.source IN (" + ", ".join(mark(s) for s in query.sources) + ")")
    if query.since is not None:
        where.append(f"p.created_at >= {mark(query.since)}")
    if query.until is not None:
        where.append(f"p.created_at < {mark(query.until)}")
    select = ", ".join(f"{pg_sql if pg else lite} AS {name}" for name, lite, pg_sql, _ in _COLUMNS)
    sql = (
        f"SELECT {select} FROM post p"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + " ORDER BY p.created_at, p.id"
    )
    if not pg:
        typed = ", ".join(f"{first} AS {name}" for name, _, _, first in _COLUMNS)
        sql = f"SELECT {typed} UNION ALL SELECT * FROM ({sql})"
    return sql, params


def _libpq_uri(u: URL) -> str:
    """The URL as libpq reads it: SQLAlchemy writes a space in the query as `+`, which libpq
    keeps as a plus, so `options=-c a=1 -c b=2` would reach the server as one broken setting."""
    base = u.set(drivername="postgresql", query={}).render_as_string(hide_password=False)
    if not u.query:
        return base
    return f"{base}?{urlencode(u.query, doseq=True, quote_via=quote)}"


def _connect(url: str) -> Any:
    """A connection in autocommit: each read is its own snapshot, and none is held between reads
    (a held one would keep the WAL from ever being checkpointed)."""
    u = make_url(url)
    if u.get_backend_name() == "postgresql":
        import adbc_driver_postgresql.dbapi

        return adbc_driver_postgresql.dbapi.connect(_libpq_uri(u), autocommit=True)
    import adbc_driver_sqlite.dbapi

    # Read-only: this copy of SQLite must never checkpoint or delete the WAL (as the last
    # connection to close would), as another copy in this process may be using it.
    conn = adbc_driver_sqlite.dbapi.connect(
        f"file:{quote(str(u.database))}?mode=ro", autocommit=True
    )
    # wait, as the store's own connections do, when a checkpoint holds the lock
    with conn.cursor() as cur:
        cur.execute("PRAGMA busy_timeout=30000")
        cur.fetchall()
    return conn


class Connections:
    """ADBC connections to one store, opened when needed and kept open until `close()`.

    Kept open because the SQLite driver carries its own copy of SQLite: POSIX locks belong to the
    process, so when one copy closes a descriptor of the database, the kernel drops the locks the
    other copy holds on it (https://sqlite.org/howtocorrupt.html, 2.2.1), and a checkpoint can
    then rewrite the WAL under a reader (seen in tests: "database disk image is malformed").
    Closing only when the store closes (with SQLAlchemy's connections) keeps every lock in place
    while anything reads or writes.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._idle: list[Any] = []
        self._all: list[Any] = []
        self._lock = threading.Lock()

    def take(self) -> Any:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        conn = _connect(self.url)
        with self._lock:
            self._all.append(conn)
        return conn

    def give_back(self, conn: Any) -> None:
        with self._lock:
            self._idle.append(conn)

    def close(self) -> None:
        with self._lock:
            conns, self._all, self._idle = self._all, [], []
        for conn in conns:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - a connection still reading (abandoned iterator)
                log.debug("ADBC connection did not close cleanly", exc_info=True)


def _frame(batch: Any, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    raw = batch if isinstance(batch, pl.DataFrame) else pl.from_arrow(batch)
    assert isinstance(raw, pl.DataFrame)
    created = pl.col("created_at")
    kind = raw.schema["created_at"]
    if kind.is_integer():  # SQLite: UNIX microseconds
        created = created.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    elif isinstance(kind, pl.Datetime) and kind.time_zone is None:
        created = created.dt.replace_time_zone("UTC")
    else:
        created = created.dt.convert_time_zone("UTC")
    return raw.with_columns(
        created.dt.cast_time_unit("us").alias("created_at"),
        pl.col("topics").str.split(_SEP).fill_null(pl.lit([], dtype=pl.List(pl.String()))),
        pl.col("tags").str.json_decode(pl.List(pl.String())),
        *[
            pl.col(c).cast(pl.Float64).round(FLOAT_DECIMALS)
            for c in ("compound", "pos", "neu", "neg")
        ],
    ).select([pl.col(c).cast(t) for c, t in schema.items()])


def iter_posts(
    pool: Connections, query: Any, schema: dict[str, pl.DataType], batch_size: int
) -> Generator[pl.DataFrame, None, None]:
    """The posts of `query`, oldest first, as frames of at most `batch_size` rows (`schema`).

    One statement in autocommit, so one consistent snapshot on either database, released as
    soon as the iterator ends or is closed (export wraps it in `closing()`).
    """
    sqlite = make_url(pool.url).get_backend_name() == "sqlite"
    conn = pool.take()
    try:
        sql, params = _sql("sqlite" if sqlite else "postgresql", query)
        with conn.cursor() as cur:
            if sqlite:
                cur.adbc_statement.set_options(
                    **{"adbc.sqlite.query.batch_rows": str(max(batch_size, 2))}
                )
            cur.execute(sql, params or None)
            skip = sqlite  # the typed first row
            for batch in cur.fetch_record_batch():
                if skip:
                    batch, skip = batch.slice(1), False
                for start in range(0, batch.num_rows, batch_size):
                    yield _frame(batch.slice(start, batch_size), schema)
    finally:
        pool.give_back(conn)


def iter_posts_sqlite3(
    dbapi_conn: Any, query: Any, schema: dict[str, pl.DataType], batch_size: int
) -> Generator[pl.DataFrame, None, None]:
    """The same frames through Python's own SQLite, for a process that also writes this store.

    The ADBC driver's copy of SQLite and Python's cannot see each other's locks inside one
    process (POSIX locks belong to the process, and each copy only tracks its own), so a
    checkpoint run here could rewrite the WAL under an ADBC read. The caller holds a read
    transaction on `dbapi_conn`, which makes this one snapshot too.
    """
    sql, params = _sql("sqlite", query)
    raw_schema = {**schema, "created_at": pl.Int64(), "topics": pl.String(), "tags": pl.String()}
    cur = dbapi_conn.cursor()
    try:
        cur.execute(sql, params)
        cur.fetchone()  # the typed first row
        while rows := cur.fetchmany(batch_size):
            yield _frame(pl.DataFrame(rows, schema=raw_schema, orient="row"), schema)
    finally:
        cur.close()


__all__ = ["FLOAT_DECIMALS", "Connections", "available", "iter_posts", "iter_posts_sqlite3"]
