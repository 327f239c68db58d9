"""The store: engine set-up, migrations, and the read queries every view shares.

SQLite by default (WAL, so the dashboard reads while the collector writes), PostgreSQL when a
URL says so. Writes of a poll live in `monitor.ingest.poll`; this module owns everything around them.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import polars as pl
from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    Select,
    Table,
    cast,
    create_engine,
    event,
    exists,
    func,
    select,
    text,
    union_all,
)
from sqlalchemy.engine import make_url
from sqlmodel import col

from monitor.metrics.formulas import BucketSums
from monitor.store import facets, models
from monitor.store.models import (
    ALL_SOURCES,
    Bucket,
    BucketHour,
    Post,
    PostTopic,
    SourceRow,
    SourceState,
    table_of,
)

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
BUCKET_WIDTH_S = 60  # the finest rollup; every coarser width is an exact sum of these
SUM_COLUMNS = ("n_neg", "n_neu", "n_pos", "sum_neg", "sum_neu", "sum_pos", "sum_sq", "n_unscored")


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_ts(dt: datetime) -> int:
    return int(dt.timestamp())


def from_ts(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def db_clock_ms(conn: Connection) -> int:
    """The database server's clock in UNIX ms: one clock for every writer and reader of a store.

    Bucket change markers (`Bucket.changed_ms`) are compared across processes and machines; the
    server's clock keeps a collector whose own clock runs late from hiding its writes.
    """
    if conn.dialect.name == "postgresql":
        sql = "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
    else:
        sql = "SELECT CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
    return int(conn.exec_driver_sql(sql).scalar() or 0)


def bucket_start(dt: datetime, width_s: int = BUCKET_WIDTH_S) -> int:
    ts = to_ts(dt)
    return ts - ts % width_s


HOUR_S = 3600  # the width of `bucket_hour` rows


def bucket_rows(
    every_s: int,
    since_ts: int | None,
    until_ts: int | None,
    where: Callable[[Table], list[Any]] = lambda t: [],
) -> Any:
    """The bucket rows a query of `every_s`-wide buckets over [since_ts, until_ts) should sum.

    A subquery of (topic, source, start_ts, sums…, engagement, incomplete) rows. When `every_s`
    is a whole number of hours, the whole hours of the window come from `bucket_hour` and only
    the ragged minutes at either end from `bucket`; otherwise every row is a minute. Either way
    the sums are the same minutes' sums (hours are written with their minutes), so a view gives
    the same numbers whichever table it reads. `where(table)` adds filters to each part.
    """
    minute, hour = table_of(Bucket), table_of(BucketHour)

    def part(t: Table, lo: int | None, hi: int | None) -> Select[Any]:
        q: Select[Any] = select(
            t.c.topic,
            t.c.source,
            t.c.start_ts,
            *[t.c[c] for c in SUM_COLUMNS],
            t.c.engagement,
            t.c.incomplete,
        ).where(*where(t))
        if t is minute:
            q = q.where(t.c.width_s == BUCKET_WIDTH_S)
        if lo is not None:
            q = q.where(t.c.start_ts >= lo)
        if hi is not None:
            q = q.where(t.c.start_ts < hi)
        return q

    if every_s % HOUR_S:
        return part(minute, since_ts, until_ts).subquery()
    lo = None if since_ts is None else -(-since_ts // HOUR_S) * HOUR_S  # first whole hour
    hi = None if until_ts is None else until_ts // HOUR_S * HOUR_S  # end of the last whole hour
    if lo is not None and hi is not None and hi < lo:  # inside one hour: minutes only
        return part(minute, since_ts, until_ts).subquery()
    parts: list[Select[Any]] = [part(hour, lo, hi)]
    if since_ts is not None and lo is not None and since_ts < lo:
        parts.append(part(minute, since_ts, lo))
    if until_ts is not None and hi is not None and hi < until_ts:
        parts.append(part(minute, hi, until_ts))
    if len(parts) == 1:
        return parts[0].subquery()
    return union_all(*parts).subquery()


@dataclass
class TopicPostSummary:
    """What the topic screen shows of a topic's newest posts (`Store.topic_post_summary`)."""

    scanned: int = 0
    # (lang, posts, unscored)
    languages: list[tuple[str | None, int, int]] = field(default_factory=list)
    positive: list[int] = field(default_factory=list)  # post ids, most positive first
    negative: list[int] = field(default_factory=list)  # most negative first
    engaged: list[int] = field(default_factory=list)  # most engaged first
    tags: list[tuple[str, int]] = field(default_factory=list)  # (casefolded tag, posts), unsorted


def _driver_time(dt: datetime, postgresql: bool) -> Any:
    """A time as the database driver takes it for a `UTCDateTime` column: aware on PostgreSQL, the
    stored text on SQLite (as `monitor.store.bulk` writes it)."""
    dt = dt.astimezone(UTC)
    return dt if postgresql else dt.replace(tzinfo=None).isoformat(" ", "microseconds")


def first_bucket_ts(conn: Connection, topic: str) -> int | None:
    """The start of a topic's first minute bucket, or of its first hour where the minutes before
    were pruned (`monitor db prune` keeps the hours): where its record begins."""
    first: list[int | None] = []
    for t in (table_of(Bucket), table_of(BucketHour)):
        first.append(
            conn.execute(
                select(t.c.start_ts)
                .where(t.c.topic == topic, t.c.source == ALL_SOURCES)
                .order_by(t.c.start_ts)
                .limit(1)
            ).scalar()
        )
    minute, hour = first
    if hour is not None and (minute is None or hour + HOUR_S <= minute):
        return int(hour)
    return None if minute is None else int(minute)


def _custom_plans(dbapi_conn: Any, _record: Any) -> None:
    """Plan every statement for its own parameters (PostgreSQL >= 12).

    psycopg prepares a statement once it has run five times, and PostgreSQL may then switch to a
    generic plan. For ingest's look-ups of a thousand ids at once, that plan scanned the posts and
    compared each with every id (measured: ~150 ms a look-up on a 7,000-post table, 2 ms planned for
    the ids at hand). Planning an insert or a look-up is cheap next to that.
    """
    try:
        with dbapi_conn.cursor() as cur:
            cur.execute("SET plan_cache_mode = force_custom_plan")
        dbapi_conn.commit()
    except Exception:  # noqa: BLE001 - an older server: its default planning stays
        dbapi_conn.rollback()


READ_ONLY_OPTION = "-c default_transaction_read_only=on"


def read_only_url(url: str) -> str:
    """A PostgreSQL URL whose every session is read-only: libpq's `options` reach psycopg and
    ADBC alike, so no path of a reader can write. Other URLs come back as they are."""
    u = make_url(url)
    if u.get_backend_name() != "postgresql":
        return url
    given = u.query.get("options") or ()
    options = " ".join([*([given] if isinstance(given, str) else given), READ_ONLY_OPTION])
    return u.update_query_dict({"options": options}).render_as_string(hide_password=False)


def make_engine(url: str, *, read_only: bool = False) -> Engine:
    """An engine tuned for one writer and many readers.

    On SQLite: WAL (readers never block the collector), a busy timeout (writers queue instead of
    failing), and BEGIN IMMEDIATE for write transactions (a deferred transaction that later
    needs the write lock fails at once, bypassing the busy timeout). `read_only` opens the file
    with `mode=ro` (SQLite itself refuses writes) and PostgreSQL sessions read-only.
    """
    sa_url = make_url(url)
    if sa_url.get_backend_name() != "sqlite":
        engine = create_engine(
            read_only_url(url) if read_only else url, pool_pre_ping=True, future=True
        )
        if sa_url.get_backend_name() == "postgresql":
            event.listen(engine, "connect", _custom_plans)
        return engine
    if read_only:
        path = Path(str(sa_url.database)).expanduser().resolve()
        url = f"sqlite:///file:{quote(str(path))}?mode=ro&uri=true"
    elif sa_url.database and sa_url.database != ":memory:":
        Path(sa_url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cur = dbapi_conn.cursor()
        if not read_only:  # the writer set it; a read-only connection may not
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        # SQLite's default page cache is 2 MiB; the post indexes (URLs, ids) take random inserts,
        # and once they outgrow it every insert re-reads pages (measured: 30k posts went from
        # ~30 to ~23 µs a row with 64 MiB). A cap, not an allocation: pages are taken as used.
        cur.execute("PRAGMA cache_size=-65536")
        # A WAL that grew while a long reader held an old snapshot is cut back to this when reset.
        cur.execute("PRAGMA journal_size_limit=67108864")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


_upgrade_lock = threading.Lock()
_WRITTEN_HERE: set[str] = set()
"""SQLite files this process has written to: its reads of posts there avoid the ADBC driver's
own copy of SQLite, whose locks the writer's copy cannot see inside one process."""


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration; a no-op on an up-to-date store."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with _upgrade_lock, engine.connect() as conn:
        conn = conn.execution_options(immediate=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                # Several collectors may start at once: migrate one at a time.
                conn.execute(text("SELECT pg_advisory_xact_lock(727274)"))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")


@dataclass(slots=True)
class SeriesQuery:
    topic: str | None = None
    source: str = ALL_SOURCES
    since: datetime | None = None
    until: datetime | None = None
    every_s: int = 3600


@dataclass(frozen=True, slots=True)
class PostQuery:
    """Which posts to read. Every field narrows the selection; empty or None means no limit.

    A post matches `topics` when it belongs to at least one of them; `since` is inclusive and
    `until` exclusive, on `created_at`.
    """

    topics: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None


POST_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.Int64(),
    "source": pl.String(),
    "native_id": pl.String(),
    "created_at": pl.Datetime("us", "UTC"),
    "topics": pl.List(pl.String()),
    "tags": pl.List(pl.String()),
    "lang": pl.String(),
    "compound": pl.Float64(),
    "pos": pl.Float64(),
    "neu": pl.Float64(),
    "neg": pl.Float64(),
    "scorer": pl.String(),
    "scorer_version": pl.String(),
    "author": pl.String(),
    "url": pl.String(),
    "text": pl.String(),
    "engagement": pl.Int64(),
    "reposts": pl.Int64(),
}
"""The columns of `Store.iter_posts` frames, in order: one post per row, topics as a sorted list, the
post's own hashtags (`tags`, lower case, as extracted at ingest) as a list; scores rounded to 6 decimals."""

POST_BATCH = 10_000
"""Posts per `iter_posts` frame (an Arrow batch from the driver)."""

ROLLUP_SCHEMA: dict[str, pl.DataType] = {
    "topic": pl.String(),
    "source": pl.String(),
    "start_ts": pl.Int64(),
    **{c: (pl.Int64() if c.startswith("n_") else pl.Float64()) for c in SUM_COLUMNS},
    "engagement": pl.Int64(),
    "incomplete": pl.Boolean(),
}


class Store:
    """One database. Construct with a URL; the schema is migrated on open."""

    def __init__(self, url: str, *, migrate: bool = True, read_only: bool = False):
        """`read_only`: for readers of another process's store (`monitor.open_store`); it never
        migrates, and its connections (ADBC's too, through `url`) cannot write."""
        self.url = read_only_url(url) if read_only else url
        self.engine = make_engine(url, read_only=read_only)
        migrate = migrate and not read_only
        self._checkpointer: Any = None
        self._arrow: Any = (
            None  # ADBC connections (monitor.store.arrowread), opened by the first posts read
        )
        self._lock = threading.Lock()
        if migrate:
            upgrade(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.stop_checkpointer()
        if self._arrow is not None:
            self._arrow.close()
            self._arrow = None
        self.engine.dispose()

    def start_checkpointer(self, **options: Any) -> bool:
        """SQLite: checkpoint the WAL on a thread of its own from now on (monitor.store.checkpoint), with
        the automatic checkpoint off on this store's writing connections. For a long-running
        writer (the collector); False (and nothing started) on PostgreSQL or in memory."""
        from monitor.store.checkpoint import Checkpointer

        database = make_url(self.url).database
        if (
            self.dialect != "sqlite"
            or not database
            or database == ":memory:"
            or self._checkpointer is not None
        ):
            return False
        self._mark_written()
        self._checkpointer = Checkpointer(database, **options)
        self._checkpointer.start()
        return True

    def stop_checkpointer(self) -> None:
        """Back to SQLite's own checkpoints (in the commit), after one last checkpoint here."""
        found, self._checkpointer = self._checkpointer, None
        if found is not None:
            found.stop()

    def _sqlite_path(self) -> str:
        return os.path.realpath(make_url(self.url).database or ":memory:")

    def _mark_written(self) -> None:
        """Remember that this process writes this SQLite file: its posts are read from now on
        through Python's SQLite, not ADBC's copy (see arrowread.iter_posts_sqlite3)."""
        path = self._sqlite_path()
        if path not in _WRITTEN_HERE:
            _WRITTEN_HERE.add(path)
            if self._arrow is not None:
                self._arrow.close()
                self._arrow = None

    def _set_autocheckpoint(self, conn: Connection) -> None:
        """Pages after which a commit checkpoints: never while our own thread does it, else SQLite's 1000."""
        if self.dialect != "sqlite":
            return
        want = 0 if self._checkpointer is not None else 1000
        info = conn.connection.info
        if info.get("wal_autocheckpoint", 1000) != want:
            conn.connection.dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={want}")  # type: ignore[union-attr]
            info["wal_autocheckpoint"] = want

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction (BEGIN IMMEDIATE on SQLite): all of it is stored, or none."""
        if self.dialect == "sqlite":
            self._mark_written()
        with self.engine.connect() as conn:
            self._set_autocheckpoint(conn)
            conn = conn.execution_options(immediate=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    # --- sources -------------------------------------------------------------------------

    def sync_sources(self, sources: Sequence[Any]) -> None:
        """Record the configured sources (name, kind, settings without secrets' values)."""
        with self.write() as conn:
            existing = {r.name: r for r in conn.execute(select(SourceRow)).all()}
            for s in sources:
                settings = s.model_dump(mode="json")
                if s.name in existing:
                    conn.execute(
                        table_of(SourceRow)
                        .update()
                        .where(col(SourceRow.name) == s.name)
                        .values(kind=s.kind, settings=settings)
                    )
                else:  # another collector starting at the same moment may insert it first
                    conn.execute(
                        self._insert(SourceRow)
                        .values(name=s.name, kind=s.kind, settings=settings)
                        .on_conflict_do_nothing()
                    )
                    conn.execute(
                        self._insert(SourceState)
                        .values(source=s.name, state={})
                        .on_conflict_do_nothing()
                    )

    def _insert(self, model: Any) -> Any:
        from sqlalchemy.dialects import postgresql, sqlite

        return (postgresql if self.dialect == "postgresql" else sqlite).insert(model)

    def source_state(self, name: str) -> dict[str, Any] | None:
        with self.read() as conn:
            row = (
                conn.execute(select(SourceState).where(col(SourceState.source) == name))
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def source_states(self) -> list[dict[str, Any]]:
        with self.read() as conn:
            rows = (
                conn.execute(
                    select(col(SourceRow.name), col(SourceRow.kind), SourceState)
                    .join(SourceState, col(SourceState.source) == SourceRow.name, isouter=True)
                    .order_by(col(SourceRow.name))
                )
                .mappings()
                .all()
            )
        return [dict(r) for r in rows]

    # --- quarantine and the disk ----------------------------------------------------------

    def quarantine_counts(self) -> dict[str, int]:
        """Items each source could not store (distinct items; one seen on every poll counts once)."""
        with self.read() as conn:
            return dict(
                conn.execute(
                    select(col(models.Quarantine.source), func.count()).group_by(
                        col(models.Quarantine.source)
                    )
                ).all()
            )

    def quarantined(self, source: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The most recently seen quarantined items, newest first."""
        q = select(models.Quarantine).order_by(
            col(models.Quarantine.last_seen_at).desc(), col(models.Quarantine.id).desc()
        )
        if source is not None:
            q = q.where(col(models.Quarantine.source) == source)
        with self.read() as conn:
            return [dict(r) for r in conn.execute(q.limit(limit)).mappings().all()]

    def disk_free(self) -> int | None:
        """Bytes free on the disk holding a SQLite store (None for a server database)."""
        url = make_url(self.url)
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return None
        try:
            return shutil.disk_usage(Path(url.database).expanduser().resolve().parent).free
        except OSError:
            return None

    # --- reads for views -----------------------------------------------------------------

    def topics(self) -> list[str]:
        with self.read() as conn:
            return list(
                conn.execute(
                    select(col(PostTopic.topic)).distinct().order_by(col(PostTopic.topic))
                ).scalars()
            )

    def sums(
        self,
        topic: str,
        *,
        source: str = ALL_SOURCES,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> BucketSums:
        """Every metric of a topic over a window, from the bucket sums (O(buckets), not posts)."""
        b = bucket_rows(
            HOUR_S,
            None if since is None else to_ts(since),
            None if until is None else to_ts(until),
            lambda t: [t.c.topic == topic, t.c.source == source],
        )
        q = select(*[func.coalesce(func.sum(b.c[c]), 0) for c in SUM_COLUMNS])
        with self.read() as conn:
            row = conn.execute(q).one()
        return BucketSums.from_row(row)

    def series(self, query: SeriesQuery) -> pl.DataFrame:
        """Buckets re-summed to `every_s` (exact: sums of sums), one row per topic and bucket."""
        w = int(query.every_s)
        if w % BUCKET_WIDTH_S:
            raise ValueError(f"bucket width must be a multiple of {BUCKET_WIDTH_S}s, got {w}s")
        b = bucket_rows(
            w,
            None if query.since is None else to_ts(query.since),
            None if query.until is None else to_ts(query.until),
            lambda t: (
                [t.c.source == query.source] + ([t.c.topic == query.topic] if query.topic else [])
            ),
        )
        start = ((b.c.start_ts // w) * w).label("start_ts")
        q = (
            select(
                b.c.topic,
                start,
                *[func.sum(b.c[c]).label(c) for c in SUM_COLUMNS],
                func.sum(b.c.engagement).label("engagement"),
                func.max(cast(b.c.incomplete, Integer)).label("incomplete"),
            )
            .group_by(b.c.topic, start)
            .order_by(b.c.topic, start)
        )
        with self.read() as conn:
            rows = conn.execute(q).all()
        schema = {
            "topic": pl.Utf8,
            "start_ts": pl.Int64,
            **{c: (pl.Int64 if c.startswith("n_") else pl.Float64) for c in SUM_COLUMNS},
            "engagement": pl.Int64,
            "incomplete": pl.Boolean,
        }
        df = pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")
        return df.with_columns(
            pl.from_epoch("start_ts", time_unit="s").dt.replace_time_zone("UTC").alias("start")
        )

    def rollup(
        self,
        *,
        width_s: int,
        topics: Sequence[str] = (),
        sources: Sequence[str] = (),
        since_ts: int | None = None,
        until_ts: int | None = None,
    ) -> pl.DataFrame:
        """1-minute buckets summed to UTC-aligned `width_s` buckets, per topic and bucket source.

        Like `series` but for several topics and sources at once (`sources` holds bucket keys,
        so `ALL_SOURCES` for the all-sources rollup; empty means every key, rollup included).
        Columns: ROLLUP_SCHEMA. Time-zone bucketing builds on this with a width that nests in
        the local buckets (see monitor.outputs.api).
        """
        if width_s <= 0 or width_s % BUCKET_WIDTH_S:
            raise ValueError(
                f"bucket width must be a positive multiple of {BUCKET_WIDTH_S}s, got {width_s}s"
            )

        def where(t: Table) -> list[Any]:
            return ([t.c.topic.in_(list(topics))] if topics else []) + (
                [t.c.source.in_(list(sources))] if sources else []
            )

        b = bucket_rows(width_s, since_ts, until_ts, where)
        start = ((b.c.start_ts // width_s) * width_s).label("start_ts")
        q = (
            select(
                b.c.topic,
                b.c.source,
                start,
                *[func.sum(b.c[c]).label(c) for c in SUM_COLUMNS],
                func.sum(b.c.engagement).label("engagement"),
                func.max(cast(b.c.incomplete, Integer)).label("incomplete"),
            )
            .group_by(b.c.topic, b.c.source, start)
            .order_by(b.c.topic, b.c.source, start)
        )
        with self.read() as conn:
            rows = conn.execute(q).all()
        return pl.DataFrame([tuple(r) for r in rows], schema=ROLLUP_SCHEMA, orient="row")

    def known_names(self) -> tuple[list[str], list[str]]:
        """(topics with buckets, registered sources), sorted: the names a query can use.

        Sources come from the `source` table (every poll and import registers its source), so a
        source that has not stored anything yet is still a valid, empty, filter.
        """
        with self.read() as conn:
            topics = (
                conn.execute(select(col(Bucket.topic)).distinct().order_by(col(Bucket.topic)))
                .scalars()
                .all()
            )
            sources = (
                conn.execute(select(col(SourceRow.name)).order_by(col(SourceRow.name)))
                .scalars()
                .all()
            )
        return list(topics), list(sources)

    def _filter_posts(self, q: Any, query: PostQuery) -> Any:
        if query.topics:
            q = q.where(
                exists().where(
                    col(PostTopic.post_id) == Post.id, col(PostTopic.topic).in_(list(query.topics))
                )
            )
        if query.sources:
            q = q.where(col(Post.source).in_(list(query.sources)))
        if query.since is not None:
            q = q.where(col(Post.created_at) >= query.since)
        if query.until is not None:
            q = q.where(col(Post.created_at) < query.until)
        return q

    def count_posts(self, query: PostQuery) -> int:
        with self.read() as conn:
            return int(
                conn.execute(
                    self._filter_posts(select(func.count()).select_from(Post), query)
                ).scalar_one()
            )

    def iter_posts(
        self, query: PostQuery, batch_size: int = POST_BATCH
    ) -> Generator[pl.DataFrame, None, None]:
        """The matching posts, oldest first, as frames of at most `batch_size` rows (POST_SCHEMA).

        Read as Arrow batches through ADBC (monitor.store.arrowread): one statement, so a consistent
        snapshot, and memory bounded by the batch, not the result. A generator, so a reader that
        stops early can `close()` it to end the read at once.
        """
        from monitor.store import arrowread

        if not arrowread.available(self.url):
            raise ValueError(
                f"reading posts needs a SQLite file or PostgreSQL, not {make_url(self.url).drivername}"
            )
        if self.dialect == "sqlite" and self._sqlite_path() in _WRITTEN_HERE:
            return self._iter_posts_sqlite3(query, batch_size)
        with self._lock:
            if self._arrow is None:
                self._arrow = arrowread.Connections(self.url)
        return arrowread.iter_posts(self._arrow, query, POST_SCHEMA, batch_size)

    def _iter_posts_sqlite3(
        self, query: PostQuery, batch_size: int
    ) -> Generator[pl.DataFrame, None, None]:
        """`iter_posts` for a store this process writes to (see arrowread.iter_posts_sqlite3)."""
        from monitor.store import arrowread

        with self.read() as conn:
            yield from arrowread.iter_posts_sqlite3(
                conn.connection.dbapi_connection, query, POST_SCHEMA, batch_size
            )

    def post_counts(self) -> dict[str, int]:
        with self.read() as conn:
            return dict(
                conn.execute(
                    select(col(Post.source), func.count()).group_by(col(Post.source))
                ).all()
            )

    def topic_post_counts(self, since: datetime | None = None) -> dict[str, int]:
        q = select(col(PostTopic.topic), func.count()).group_by(col(PostTopic.topic))
        if since is not None:
            q = q.where(col(PostTopic.created_at) >= since)
        with self.read() as conn:
            return dict(conn.execute(q).all())

    def posts(
        self,
        *,
        topic: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        order: str = "created_at",
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        q = select(Post)
        if topic is not None:
            q = q.join(PostTopic, col(PostTopic.post_id) == Post.id).where(
                col(PostTopic.topic) == topic
            )
        if since is not None:
            q = q.where(col(Post.created_at) >= since)
        if until is not None:
            q = q.where(col(Post.created_at) < until)
        q = q.order_by(col(getattr(Post, order)).desc(), col(Post.id).desc())
        if limit is not None:
            q = q.limit(limit)
        with self.read() as conn:
            return [dict(r) for r in conn.execute(q).mappings().all()]

    def poll_log(self, source: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        q = select(models.PollLog).order_by(col(models.PollLog.id).desc()).limit(limit)
        if source is not None:
            q = q.where(col(models.PollLog.source) == source)
        with self.read() as conn:
            return [dict(r) for r in conn.execute(q).mappings().all()]

    # --- reads for the dashboard: each bounded, each on an index -----------------------------

    def bucket_series(
        self,
        topics: Sequence[str],
        sources: Sequence[str] = (ALL_SOURCES,),
        *,
        since_ts: int,
        until_ts: int,
        every_s: int,
    ) -> dict[tuple[str, str], list[dict[str, Any]]]:
        """Buckets of some topics × sources re-summed to `every_s`, as plain rows per (topic, source).

        What `series` returns, minus the polars frame (the dashboard reads this every second and
        building a frame costs more than the query), for many topics and sources in one query
        that walks the primary key (topic, source, start_ts) as ranges.
        """
        if every_s % BUCKET_WIDTH_S:
            raise ValueError(
                f"bucket width must be a multiple of {BUCKET_WIDTH_S}s, got {every_s}s"
            )
        out: dict[tuple[str, str], list[dict[str, Any]]] = {
            (t, s): [] for t in topics for s in sources
        }
        if not out:
            return out
        b = bucket_rows(
            every_s,
            since_ts,
            until_ts,
            lambda t: [t.c.topic.in_(list(topics)), t.c.source.in_(list(sources))],
        )
        start = ((b.c.start_ts // every_s) * every_s).label("start_ts")
        q = select(
            b.c.topic,
            b.c.source,
            start,
            *[func.sum(b.c[c]) for c in SUM_COLUMNS],
            func.sum(b.c.engagement),
            func.max(cast(b.c.incomplete, Integer)),
        ).group_by(b.c.topic, b.c.source, start)
        names = ("start_ts", *SUM_COLUMNS, "engagement", "incomplete")
        with self.read() as conn:
            for topic, source, *values in conn.execute(q).all():
                out[(topic, source)].append(dict(zip(names, values, strict=False)))
        return out

    def changed_buckets(
        self, *, since_ms: int | None, before_ts: int
    ) -> tuple[int, list[tuple[str, str, int, int]]]:
        """(the database clock now, the 1-minute buckets upserted at or after `since_ms` that start
        before `before_ts`), each as (topic, source, start_ts, changed_ms).

        The clock is read first, in the same transaction: the next call passes it (less a margin
        for writes in flight) as `since_ms`, so no change falls between two calls. One range scan
        of `ix_bucket_changed_ms`; None reads nothing (a reader's first call only takes the clock).
        """
        with self.read() as conn:
            now_ms = db_clock_ms(conn)
            if since_ms is None:
                return now_ms, []
            q = select(
                col(Bucket.topic), col(Bucket.source), col(Bucket.start_ts), col(Bucket.changed_ms)
            ).where(
                col(Bucket.changed_ms) >= since_ms,
                col(Bucket.start_ts) < before_ts,
                col(Bucket.width_s) == BUCKET_WIDTH_S,
            )
            return now_ms, [(t, s, int(ts), int(ms)) for t, s, ts, ms in conn.execute(q).all()]

    def bucket_topics(self) -> list[str]:
        """Topics that have buckets, one index seek per topic (DISTINCT would read every bucket)."""
        found: list[str] = []
        with self.read() as conn:
            while True:
                q = select(func.min(Bucket.topic))
                if found:
                    q = q.where(col(Bucket.topic) > found[-1])
                topic = conn.execute(q).scalar()
                if topic is None:
                    return found
                found.append(topic)

    def collecting_since(self, topic: str) -> datetime | None:
        """When this topic's record starts: its first bucket or the first poll, whichever is earlier.

        Before that instant a missing bucket means "not collected", not "quiet", and the
        dashboard draws it as no data instead of 0.
        """
        with self.read() as conn:
            first_bucket = first_bucket_ts(conn, topic)
            first_poll = conn.execute(
                select(col(models.PollLog.started_at)).order_by(col(models.PollLog.id)).limit(1)
            ).scalar()
        found = [
            t
            for t in (from_ts(first_bucket) if first_bucket is not None else None, first_poll)
            if t
        ]
        return min(found) if found else None

    def topic_post_scan(
        self, topic: str, *, since: datetime, until: datetime, limit: int
    ) -> list[dict[str, Any]]:
        """The newest `limit` posts of a topic in a window, without their text.

        For breakdowns that need posts (languages, top posts, co-occurring tags): walking the
        (topic, created_at) index backwards bounds the cost whatever the size of the store.
        """
        # The driver's own cursor: SQLAlchemy's result rows cost more than the query (~8 µs a post
        # of 20,000); tags leave as JSON text, decoded in one call for all rows (a json.loads per
        # row was a third of this scan).
        pg = self.dialect == "postgresql"
        mark = "%s" if pg else "?"
        sql = (
            f"SELECT p.id, p.lang, p.compound, p.engagement, {'p.tags::text' if pg else 'p.tags'} "
            f"FROM post_topic t JOIN post p ON p.id = t.post_id "
            f"WHERE t.topic = {mark} AND t.created_at >= {mark} AND t.created_at < {mark} "
            f"ORDER BY t.created_at DESC LIMIT {mark}"
        )
        bounds = [_driver_time(dt, pg) for dt in (since, until)]
        with self.read() as conn:
            cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                # a bounded scan: a parallel worker's start-up and merge cost more than it saves
                if pg:
                    cur.execute("SET LOCAL max_parallel_workers_per_gather = 0")
                cur.execute(sql, (topic, *bounds, int(limit)))
                rows = cur.fetchall()
            finally:
                cur.close()
        decoded = json.loads("[" + ",".join(r[4] or "[]" for r in rows) + "]")
        return [
            {"id": r[0], "lang": r[1], "compound": r[2], "engagement": r[3], "tags": t}
            for r, t in zip(rows, decoded, strict=False)
        ]

    def topic_post_summary(
        self, topic: str, *, since: datetime, until: datetime, limit: int, top: int = 3
    ) -> TopicPostSummary:
        """The breakdowns of `topic_post_scan`'s posts (the same newest `limit`), summed by the
        database from the hourly facet counts and `ix_post_topic_recent` without reading a post
        row: `monitor.store.facets` says how (issue 13)."""
        pg = self.dialect == "postgresql"
        with self.read() as conn:
            cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                # bounded scans: parallel workers and JIT compiling cost more than they save
                if pg:
                    cur.execute("SET LOCAL max_parallel_workers_per_gather = 0")
                    cur.execute("SET LOCAL jit = off")
                found = facets.summarize(
                    cur,
                    pg=pg,
                    topic=topic,
                    since=since,
                    until=until,
                    limit=limit,
                    top=top,
                    driver_time=lambda dt: _driver_time(dt, pg),
                )
            finally:
                cur.close()
        out = TopicPostSummary()
        langs: dict[str | None, list[int]] = {}
        tags: dict[str, int] = {}
        for key, (n, unscored) in found["groups"].items():
            lang, tag_set = found["meanings"][key]
            seen = langs.setdefault(lang, [0, 0])
            seen[0] += n
            seen[1] += unscored
            for tag in tag_set:  # a post counts once per tag
                tags[tag] = tags.get(tag, 0) + n
        out.languages = [(lang, n, u) for lang, (n, u) in langs.items()]
        out.tags = list(tags.items())
        # (value, id); ties: the newest id first
        pos = sorted({(r[2], int(r[0])) for r in found["pos"]}, reverse=True)
        neg = sorted({(r[2], -int(r[0])) for r in found["neg"]})
        eng = sorted({(int(r[3]), int(r[0])) for r in found["eng"]}, reverse=True)
        out.positive = [i for _, i in pos[:top]]
        out.negative = [-i for _, i in neg[:top]]
        out.engaged = [i for _, i in eng[:top]]
        out.scanned = sum(n for _, n, _ in out.languages)
        return out

    def posts_by_id(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        """Whole posts for a few ids (in no particular order), each with its sorted topics."""
        if not ids:
            return []
        with self.read() as conn:
            rows = [
                dict(r)
                for r in conn.execute(select(Post).where(col(Post.id).in_(list(ids))))
                .mappings()
                .all()
            ]
        return self._with_topics(rows)

    def latest_posts(
        self,
        *,
        after_id: int | None = None,
        limit: int = 300,
        topic: str | None = None,
        source: str | None = None,
        sentiment: str | None = None,
        contains: str | None = None,
        scan: int = 50_000,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """The newest posts by arrival (id) newer than `after_id`, newest first, each with its sorted
        topics; and the newest post id in the store, from which the next call can go on.

        Filters: topic, source, sentiment class (positive/negative/neutral/unscored, by the VADER
        thresholds) and a case-insensitive substring of the text or author. Only the newest
        `scan` posts are searched, so a rare filter over a million posts stays a bounded scan,
        and passing the returned id as the next `after_id` makes the next scan cover new posts only.
        """
        with self.read() as conn:
            newest = conn.execute(select(func.max(Post.id))).scalar()
            if newest is None:
                return [], None
            q = select(Post).where(col(Post.id) > max(newest - scan, after_id or 0))
            if topic is not None:
                q = q.where(
                    select(col(PostTopic.post_id))
                    .where(col(PostTopic.post_id) == Post.id, col(PostTopic.topic) == topic)
                    .exists()
                )
            if source is not None:
                q = q.where(col(Post.source) == source)
            if sentiment is not None:
                q = q.where(_sentiment_clause(sentiment))
            if contains:
                q = q.where(
                    col(Post.text).icontains(contains, autoescape=True)
                    | col(Post.author).icontains(contains, autoescape=True)
                )
            q = q.order_by(col(Post.id).desc()).limit(limit)
            rows = [dict(r) for r in conn.execute(q).mappings().all()]
        return self._with_topics(rows), newest

    def _with_topics(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        by_id: dict[int, list[str]] = {r["id"]: [] for r in rows}
        ids = list(by_id)
        with self.read() as conn:
            for i in range(0, len(ids), 500):
                q = select(col(PostTopic.post_id), col(PostTopic.topic)).where(
                    col(PostTopic.post_id).in_(ids[i : i + 500])
                )
                for pid, topic in conn.execute(q).all():
                    by_id[pid].append(topic)
        for r in rows:
            r["topics"] = sorted(by_id[r["id"]])
        return rows

    def poll_stats(self, since: datetime, sources: Sequence[str]) -> dict[str, dict[str, int]]:
        """Per source since `since`: polls, failed polls (error or partial) and new posts stored."""
        if not sources:
            return {}
        log_ = models.PollLog
        failed = func.sum(cast(col(log_.outcome).in_(("error", "partial")), Integer))
        q = (
            select(col(log_.source), func.count(), failed, func.sum(log_.new_posts))
            .where(col(log_.source).in_(list(sources)), col(log_.started_at) >= since)
            .group_by(col(log_.source))
        )
        with self.read() as conn:
            rows = conn.execute(q).all()
        return {
            s: {"polls": int(n), "failed": int(f or 0), "new_posts": int(p or 0)}
            for s, n, f, p in rows
        }


def _sentiment_clause(sentiment: str) -> Any:
    """A VADER class as SQL: positive >= 0.05, negative <= -0.05 (metrics.md §1), unscored is NULL."""
    from monitor.metrics.formulas import POS_THRESHOLD

    if sentiment == "positive":
        return col(Post.compound) >= POS_THRESHOLD
    if sentiment == "negative":
        return col(Post.compound) <= -POS_THRESHOLD
    if sentiment == "neutral":
        return (col(Post.compound) > -POS_THRESHOLD) & (col(Post.compound) < POS_THRESHOLD)
    if sentiment == "unscored":
        return col(Post.compound).is_(None)
    raise ValueError(
        f"unknown sentiment class {sentiment!r} (positive, negative, neutral or unscored)"
    )


def default_window(now: datetime | None = None, hours: int = 24) -> tuple[datetime, datetime]:
    now = now or utcnow()
    return now - timedelta(hours=hours), now
