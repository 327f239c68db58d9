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
from sqlalchemy import Connection, Engine, Integer, cast, create_engine, event, func, select, text
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


def bucket_start(dt: datetime, width_s: int = BUCKET_WIDTH_S) -> int:
    ts = to_ts(dt)
    return ts - ts % width_s


def make_engine(url: str) -> Engine:
    """An engine tuned for one writer and many readers.

    On SQLite: WAL (readers never block the collector), a busy timeout (writers queue instead of
    failing), and BEGIN IMMEDIATE for write transactions (a deferred transaction that later
    needs the write lock fails at once, bypassing the busy timeout).
    """
    sa_url = make_url(url)
    if sa_url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, future=True)
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
                else:
                    conn.execute(SourceRow.__table__.insert().values(name=s.name, kind=s.kind, settings=settings))
                    conn.execute(SourceState.__table__.insert().values(source=s.name, state={}))

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


def default_window(now: datetime | None = None, hours: int = 24) -> tuple[datetime, datetime]:
    now = now or utcnow()
    return now - timedelta(hours=hours), now
