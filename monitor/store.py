"""The store: engine set-up, migrations, and the read queries every view shares.

SQLite by default (WAL, so the dashboard reads while the collector writes), PostgreSQL when a
URL says so. Writes of a poll live in `monitor.ingest`; this module owns everything around them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import (Connection, Engine, Integer, String, Text, cast, create_engine, event, exists, func, select,
                        text, type_coerce)
from sqlalchemy.engine import make_url

from monitor import models
from monitor.metrics import BucketSums
from monitor.models import ALL_SOURCES, Bucket, Post, PostTopic, SourceRow, SourceState

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
BUCKET_WIDTH_S = 60  # the finest rollup; every coarser width is an exact sum of these
SUM_COLUMNS = ("n_neg", "n_neu", "n_pos", "sum_neg", "sum_neu", "sum_pos", "sum_sq", "n_unscored")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def to_ts(dt: datetime) -> int:
    return int(dt.timestamp())


def from_ts(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


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


def make_engine(url: str) -> Engine:
    """An engine tuned for one writer and many readers.

    On SQLite: WAL (readers never block the collector), a busy timeout (writers queue instead of
    failing), and BEGIN IMMEDIATE for write transactions (a deferred transaction that later
    needs the write lock fails at once, bypassing the busy timeout).
    """
    sa_url = make_url(url)
    if sa_url.get_backend_name() != "sqlite":
        engine = create_engine(url, pool_pre_ping=True, future=True)
        if sa_url.get_backend_name() == "postgresql":
            event.listen(engine, "connect", _custom_plans)
        return engine
    if sa_url.database and sa_url.database != ":memory:":
        Path(sa_url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        # SQLite's default page cache is 2 MiB; the post indexes (URLs, ids) take random inserts,
        # and once they outgrow it every insert re-reads pages (measured: 30k posts went from
        # ~30 to ~23 µs a row with 64 MiB). A cap, not an allocation: pages are taken as used.
        cur.execute("PRAGMA cache_size=-65536")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


_upgrade_lock = threading.Lock()


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
    "id": pl.Int64(), "source": pl.String(), "native_id": pl.String(),
    "created_at": pl.Datetime("us", "UTC"), "topics": pl.List(pl.String()), "lang": pl.String(),
    "compound": pl.Float64(), "pos": pl.Float64(), "neu": pl.Float64(), "neg": pl.Float64(),
    "scorer": pl.String(), "scorer_version": pl.String(), "author": pl.String(), "url": pl.String(),
    "text": pl.String(), "engagement": pl.Int64(), "reposts": pl.Int64(),
}
"""The columns of `Store.iter_posts` frames, in order: one post per row, topics as a sorted list."""

POST_BATCH = 10_000
"""Posts per `iter_posts` frame: Python row objects, not the columns, are most of a batch's memory."""

ROLLUP_SCHEMA: dict[str, pl.DataType] = {
    "topic": pl.String(), "source": pl.String(), "start_ts": pl.Int64(),
    **{c: (pl.Int64() if c.startswith("n_") else pl.Float64()) for c in SUM_COLUMNS},
    "engagement": pl.Int64(), "incomplete": pl.Boolean(),
}

_SQL_TIME_FORMAT = "%Y-%m-%d %H:%M:%S%.f"  # SQLAlchemy's SQLite DATETIME text, and our to_char on PostgreSQL


class Store:
    """One database. Construct with a URL; the schema is migrated on open."""

    def __init__(self, url: str, *, migrate: bool = True):
        self.url = url
        self.engine = make_engine(url)
        if migrate:
            upgrade(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction (BEGIN IMMEDIATE on SQLite): all of it is stored, or none."""
        with self.engine.connect() as conn:
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
                    conn.execute(SourceRow.__table__.update().where(SourceRow.name == s.name)
                                 .values(kind=s.kind, settings=settings))
                else:  # another collector starting at the same moment may insert it first
                    conn.execute(self._insert(SourceRow).values(name=s.name, kind=s.kind, settings=settings)
                                 .on_conflict_do_nothing())
                    conn.execute(self._insert(SourceState).values(source=s.name, state={}).on_conflict_do_nothing())

    def _insert(self, model: Any) -> Any:
        from sqlalchemy.dialects import postgresql, sqlite

        return (postgresql if self.dialect == "postgresql" else sqlite).insert(model)

    def source_state(self, name: str) -> dict[str, Any] | None:
        with self.read() as conn:
            row = conn.execute(select(SourceState).where(SourceState.source == name)).mappings().first()
        return dict(row) if row else None

    def source_states(self) -> list[dict[str, Any]]:
        with self.read() as conn:
            rows = conn.execute(
                select(SourceRow.name, SourceRow.kind, SourceState)
                .join(SourceState, SourceState.source == SourceRow.name, isouter=True)
                .order_by(SourceRow.name)).mappings().all()
        return [dict(r) for r in rows]

    # --- reads for views -----------------------------------------------------------------

    def topics(self) -> list[str]:
        with self.read() as conn:
            return list(conn.execute(select(PostTopic.topic).distinct().order_by(PostTopic.topic)).scalars())

    def sums(self, topic: str, *, source: str = ALL_SOURCES, since: datetime | None = None,
             until: datetime | None = None) -> BucketSums:
        """Every metric of a topic over a window, from the bucket sums (O(buckets), not posts)."""
        cols = [func.coalesce(func.sum(getattr(Bucket, c)), 0) for c in SUM_COLUMNS]
        q = select(*cols).where(Bucket.topic == topic, Bucket.source == source)
        if since is not None:
            q = q.where(Bucket.start_ts >= to_ts(since))
        if until is not None:
            q = q.where(Bucket.start_ts < to_ts(until))
        with self.read() as conn:
            row = conn.execute(q).one()
        return BucketSums(**{c: (int(v) if c.startswith("n_") else float(v)) for c, v in zip(SUM_COLUMNS, row)})

    def series(self, query: SeriesQuery) -> pl.DataFrame:
        """Buckets re-summed to `every_s` (exact: sums of sums), one row per topic and bucket."""
        w = int(query.every_s)
        if w % BUCKET_WIDTH_S:
            raise ValueError(f"bucket width must be a multiple of {BUCKET_WIDTH_S}s, got {w}s")
        start = ((Bucket.start_ts // w) * w).label("start_ts")
        cols = [func.sum(getattr(Bucket, c)).label(c) for c in SUM_COLUMNS]
        q = (select(Bucket.topic, start, *cols,
                    func.sum(Bucket.engagement).label("engagement"),
                    func.max(cast(Bucket.incomplete, Integer)).label("incomplete"))
             .where(Bucket.source == query.source, Bucket.width_s == BUCKET_WIDTH_S)
             .group_by(Bucket.topic, start).order_by(Bucket.topic, start))
        if query.topic is not None:
            q = q.where(Bucket.topic == query.topic)
        if query.since is not None:
            q = q.where(Bucket.start_ts >= to_ts(query.since))
        if query.until is not None:
            q = q.where(Bucket.start_ts < to_ts(query.until))
        with self.read() as conn:
            rows = conn.execute(q).all()
        schema = {"topic": pl.Utf8, "start_ts": pl.Int64, **{c: (pl.Int64 if c.startswith("n_") else pl.Float64)
                                                              for c in SUM_COLUMNS},
                  "engagement": pl.Int64, "incomplete": pl.Boolean}
        df = pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")
        return df.with_columns(pl.from_epoch("start_ts", time_unit="s").dt.replace_time_zone("UTC").alias("start"))

    def rollup(self, *, width_s: int, topics: Sequence[str] = (), sources: Sequence[str] = (),
               since_ts: int | None = None, until_ts: int | None = None) -> pl.DataFrame:
        """1-minute buckets summed to UTC-aligned `width_s` buckets, per topic and bucket source.

        Like `series` but for several topics and sources at once (`sources` holds bucket keys,
        so `ALL_SOURCES` for the all-sources rollup; empty means every key, rollup included).
        Columns: ROLLUP_SCHEMA. Time-zone bucketing builds on this with a width that nests in
        the local buckets (see monitor.api).
        """
        if width_s <= 0 or width_s % BUCKET_WIDTH_S:
            raise ValueError(f"bucket width must be a positive multiple of {BUCKET_WIDTH_S}s, got {width_s}s")
        start = ((Bucket.start_ts // width_s) * width_s).label("start_ts")
        q = (select(Bucket.topic, Bucket.source, start, *[func.sum(getattr(Bucket, c)).label(c) for c in SUM_COLUMNS],
                    func.sum(Bucket.engagement).label("engagement"),
                    func.max(cast(Bucket.incomplete, Integer)).label("incomplete"))
             .where(Bucket.width_s == BUCKET_WIDTH_S)
             .group_by(Bucket.topic, Bucket.source, start).order_by(Bucket.topic, Bucket.source, start))
        if topics:
            q = q.where(Bucket.topic.in_(list(topics)))
        if sources:
            q = q.where(Bucket.source.in_(list(sources)))
        if since_ts is not None:
            q = q.where(Bucket.start_ts >= since_ts)
        if until_ts is not None:
            q = q.where(Bucket.start_ts < until_ts)
        with self.read() as conn:
            rows = conn.execute(q).all()
        return pl.DataFrame([tuple(r) for r in rows], schema=ROLLUP_SCHEMA, orient="row")

    def known_names(self) -> tuple[list[str], list[str]]:
        """(topics with buckets, registered sources), sorted: the names a query can use.

        Sources come from the `source` table (every poll and import registers its source), so a
        source that has not stored anything yet is still a valid, empty, filter.
        """
        with self.read() as conn:
            topics = conn.execute(select(Bucket.topic).distinct().order_by(Bucket.topic)).scalars().all()
            sources = conn.execute(select(SourceRow.name).order_by(SourceRow.name)).scalars().all()
        return list(topics), list(sources)

    def _filter_posts(self, q: Any, query: PostQuery) -> Any:
        if query.topics:
            q = q.where(exists().where(PostTopic.post_id == Post.id, PostTopic.topic.in_(list(query.topics))))
        if query.sources:
            q = q.where(Post.source.in_(list(query.sources)))
        if query.since is not None:
            q = q.where(Post.created_at >= query.since)
        if query.until is not None:
            q = q.where(Post.created_at < query.until)
        return q

    def count_posts(self, query: PostQuery) -> int:
        with self.read() as conn:
            return int(conn.execute(self._filter_posts(select(func.count()).select_from(Post), query)).scalar_one())

    def iter_posts(self, query: PostQuery, batch_size: int = POST_BATCH) -> Iterator[pl.DataFrame]:
        """The matching posts, oldest first, as frames of at most `batch_size` rows (POST_SCHEMA).

        One read transaction (a consistent snapshot) and a streaming cursor (server-side on
        PostgreSQL), so memory is bounded by the batch, not the result. Times and topic lists
        leave the database as text and are parsed by polars a column at a time: making a Python
        datetime per row would add about half again to the read.
        """
        if self.dialect == "postgresql":
            created = func.to_char(func.timezone("UTC", Post.created_at), "YYYY-MM-DD HH24:MI:SS.US")
            topics = func.coalesce(cast(func.json_agg(PostTopic.topic), Text), "[]")
        else:
            created = type_coerce(Post.created_at, String)  # the stored text, unparsed
            topics = func.json_group_array(PostTopic.topic)
        topic_list = select(topics).where(PostTopic.post_id == Post.id).scalar_subquery()
        special = {"created_at": created.label("created_at"), "topics": topic_list.label("topics")}
        columns = [special.get(c, getattr(Post, c, None)) for c in POST_SCHEMA]
        q = self._filter_posts(select(*columns), query).order_by(Post.created_at, Post.id)
        raw_schema = {**POST_SCHEMA, "created_at": pl.String(), "topics": pl.String()}
        with self.read() as conn:
            result = conn.execution_options(yield_per=batch_size).execute(q)
            for rows in result.partitions():
                raw = pl.DataFrame(rows, schema=raw_schema, orient="row")
                yield raw.with_columns(
                    pl.col("created_at").str.to_datetime(_SQL_TIME_FORMAT, time_unit="us", time_zone="UTC"),
                    pl.col("topics").str.json_decode(pl.List(pl.String())).list.sort(),
                )

    def post_counts(self) -> dict[str, int]:
        with self.read() as conn:
            return dict(conn.execute(select(Post.source, func.count()).group_by(Post.source)).all())

    def topic_post_counts(self, since: datetime | None = None) -> dict[str, int]:
        q = select(PostTopic.topic, func.count()).group_by(PostTopic.topic)
        if since is not None:
            q = q.where(PostTopic.created_at >= since)
        with self.read() as conn:
            return dict(conn.execute(q).all())

    def posts(self, *, topic: str | None = None, since: datetime | None = None, until: datetime | None = None,
              order: str = "created_at", limit: int | None = None) -> list[dict[str, Any]]:
        q = select(Post)
        if topic is not None:
            q = q.join(PostTopic, PostTopic.post_id == Post.id).where(PostTopic.topic == topic)
        if since is not None:
            q = q.where(Post.created_at >= since)
        if until is not None:
            q = q.where(Post.created_at < until)
        q = q.order_by(getattr(Post, order).desc(), Post.id.desc())
        if limit is not None:
            q = q.limit(limit)
        with self.read() as conn:
            return [dict(r) for r in conn.execute(q).mappings().all()]

    def poll_log(self, source: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        q = select(models.PollLog).order_by(models.PollLog.id.desc()).limit(limit)
        if source is not None:
            q = q.where(models.PollLog.source == source)
        with self.read() as conn:
            return [dict(r) for r in conn.execute(q).mappings().all()]

    # --- reads for the dashboard: each bounded, each on an index -----------------------------

    def bucket_series(self, topics: Sequence[str], sources: Sequence[str] = (ALL_SOURCES,), *, since_ts: int,
                      until_ts: int, every_s: int) -> dict[tuple[str, str], list[dict[str, Any]]]:
        """Buckets of some topics × sources re-summed to `every_s`, as plain rows per (topic, source).

        What `series` returns, minus the polars frame (the dashboard reads this every second and
        building a frame costs more than the query), for many topics and sources in one query
        that walks the primary key (topic, source, start_ts) as ranges.
        """
        if every_s % BUCKET_WIDTH_S:
            raise ValueError(f"bucket width must be a multiple of {BUCKET_WIDTH_S}s, got {every_s}s")
        out: dict[tuple[str, str], list[dict[str, Any]]] = {(t, s): [] for t in topics for s in sources}
        if not out:
            return out
        start = ((Bucket.start_ts // every_s) * every_s).label("start_ts")
        q = (select(Bucket.topic, Bucket.source, start, *[func.sum(getattr(Bucket, c)) for c in SUM_COLUMNS],
                    func.sum(Bucket.engagement), func.max(cast(Bucket.incomplete, Integer)))
             .where(Bucket.topic.in_(list(topics)), Bucket.source.in_(list(sources)),
                    Bucket.start_ts >= since_ts, Bucket.start_ts < until_ts, Bucket.width_s == BUCKET_WIDTH_S)
             .group_by(Bucket.topic, Bucket.source, start))
        names = ("start_ts", *SUM_COLUMNS, "engagement", "incomplete")
        with self.read() as conn:
            for topic, source, *values in conn.execute(q).all():
                out[(topic, source)].append(dict(zip(names, values)))
        return out

    def changed_buckets(self, *, since_ms: int | None, before_ts: int) -> tuple[int, list[tuple[str, str, int, int]]]:
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
            q = (select(Bucket.topic, Bucket.source, Bucket.start_ts, Bucket.changed_ms)
                 .where(Bucket.changed_ms >= since_ms, Bucket.start_ts < before_ts,
                        Bucket.width_s == BUCKET_WIDTH_S))
            return now_ms, [(t, s, int(ts), int(ms)) for t, s, ts, ms in conn.execute(q).all()]

    def bucket_topics(self) -> list[str]:
        """Topics that have buckets, one index seek per topic (DISTINCT would read every bucket)."""
        found: list[str] = []
        with self.read() as conn:
            while True:
                q = select(func.min(Bucket.topic))
                if found:
                    q = q.where(Bucket.topic > found[-1])
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
            first_bucket = conn.execute(
                select(Bucket.start_ts).where(Bucket.topic == topic, Bucket.source == ALL_SOURCES)
                .order_by(Bucket.start_ts).limit(1)).scalar()
            first_poll = conn.execute(
                select(models.PollLog.started_at).order_by(models.PollLog.id).limit(1)).scalar()
        found = [t for t in (from_ts(first_bucket) if first_bucket is not None else None, first_poll) if t]
        return min(found) if found else None

    def topic_post_scan(self, topic: str, *, since: datetime, until: datetime,
                        limit: int) -> list[dict[str, Any]]:
        """The newest `limit` posts of a topic in a window, without their text.

        For breakdowns that need posts (languages, top posts, co-occurring tags): walking the
        (topic, created_at) index backwards bounds the cost whatever the size of the store.
        """
        q = (select(Post.id, Post.lang, Post.compound, Post.engagement, Post.tags)
             .join(PostTopic, PostTopic.post_id == Post.id)
             .where(PostTopic.topic == topic, PostTopic.created_at >= since, PostTopic.created_at < until)
             .order_by(PostTopic.created_at.desc()).limit(limit))
        with self.read() as conn:
            return [dict(r) for r in conn.execute(q).mappings().all()]

    def posts_by_id(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        """Whole posts for a few ids (in no particular order), each with its sorted topics."""
        if not ids:
            return []
        with self.read() as conn:
            rows = [dict(r) for r in conn.execute(select(Post).where(Post.id.in_(list(ids)))).mappings().all()]
        return self._with_topics(rows)

    def latest_posts(self, *, after_id: int | None = None, limit: int = 300, topic: str | None = None,
                     source: str | None = None, sentiment: str | None = None, contains: str | None = None,
                     scan: int = 50_000) -> tuple[list[dict[str, Any]], int | None]:
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
            q = select(Post).where(Post.id > max(newest - scan, after_id or 0))
            if topic is not None:
                q = q.where(select(PostTopic.post_id).where(PostTopic.post_id == Post.id,
                                                            PostTopic.topic == topic).exists())
            if source is not None:
                q = q.where(Post.source == source)
            if sentiment is not None:
                q = q.where(_sentiment_clause(sentiment))
            if contains:
                q = q.where(Post.text.icontains(contains, autoescape=True)
                            | Post.author.icontains(contains, autoescape=True))
            q = q.order_by(Post.id.desc()).limit(limit)
            rows = [dict(r) for r in conn.execute(q).mappings().all()]
        return self._with_topics(rows), newest

    def _with_topics(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        by_id: dict[int, list[str]] = {r["id"]: [] for r in rows}
        ids = list(by_id)
        with self.read() as conn:
            for i in range(0, len(ids), 500):
                q = select(PostTopic.post_id, PostTopic.topic).where(PostTopic.post_id.in_(ids[i:i + 500]))
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
        failed = func.sum(cast(log_.outcome.in_(("error", "partial")), Integer))
        q = (select(log_.source, func.count(), failed, func.sum(log_.new_posts))
             .where(log_.source.in_(list(sources)), log_.started_at >= since).group_by(log_.source))
        with self.read() as conn:
            rows = conn.execute(q).all()
        return {s: {"polls": int(n), "failed": int(f or 0), "new_posts": int(p or 0)} for s, n, f, p in rows}


def _sentiment_clause(sentiment: str) -> Any:
    """A VADER class as SQL: positive >= 0.05, negative <= -0.05 (metrics.md §1), unscored is NULL."""
    from monitor.metrics import POS_THRESHOLD

    if sentiment == "positive":
        return Post.compound >= POS_THRESHOLD
    if sentiment == "negative":
        return Post.compound <= -POS_THRESHOLD
    if sentiment == "neutral":
        return (Post.compound > -POS_THRESHOLD) & (Post.compound < POS_THRESHOLD)
    if sentiment == "unscored":
        return Post.compound.is_(None)
    raise ValueError(f"unknown sentiment class {sentiment!r} (positive, negative, neutral or unscored)")


def default_window(now: datetime | None = None, hours: int = 24) -> tuple[datetime, datetime]:
    now = now or utcnow()
    return now - timedelta(hours=hours), now
