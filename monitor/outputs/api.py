"""The analysis API, `monitor.open_store()`, and the queries behind `monitor export`.

Both read through the same two query specs (`SeriesSpec`, `PostsSpec`), so a frame from
`open_store().series(...)` and a file from `monitor export series` with the same options hold the
same rows and columns. Options arrive as people type them ("7d", "2026-03-01", "1h",
"Europe/Berlin") from the command line and from notebooks alike; a bad one raises `QueryError`,
whose message is written to be shown as is.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl
from sqlalchemy.engine import make_url

from monitor.core.durations import format_duration, parse_duration
from monitor.metrics.frames import METRIC_COLUMNS, with_metrics
from monitor.store.db import (
    BUCKET_WIDTH_S,
    MIGRATIONS,
    POST_BATCH,
    POST_SCHEMA,
    SUM_COLUMNS,
    PostQuery,
    Store,
    utcnow,
)
from monitor.store.models import ALL_SOURCES

ALL = "all"
"""The source value that means every source together (the `*` rollup in the store)."""

DAY_S, WEEK_S = 86_400, 604_800
LOCAL_GRID_S = 900
"""Every UTC offset in use since 1970 is a multiple of 15 minutes, so 15-minute UTC buckets nest
inside local buckets of any width; `_local_buckets` checks that and falls back to 1 minute."""

SERIES_SCHEMA: dict[str, pl.DataType] = {
    "topic": pl.String(),
    "source": pl.String(),
    "bucket_start": pl.Datetime("us", "UTC"),
    "bucket_width_s": pl.Int64(),
    "posts": pl.Int64(),
    "n": pl.Int64(),
    "n_pos": pl.Int64(),
    "n_neu": pl.Int64(),
    "n_neg": pl.Int64(),
    "n_unscored": pl.Int64(),
    **{c: pl.Float64() for c in METRIC_COLUMNS if c != "n"},
    "engagement": pl.Int64(),
    "incomplete": pl.Boolean(),
}
"""Columns of a series frame, in order. `posts` counts every post, `n` the scored ones (posts =
n + n_unscored). Metrics follow the null rules of monitor.metrics.frames, rounded to METRIC_DECIMALS."""

METRIC_DECIMALS = 6
"""Metric columns are rounded to this many decimals: a reader should not meet 0.30000000000000004.
The raw sums (`with_sums`) are not: they exist to recompute coarser buckets exactly."""

SUM_SCHEMA: dict[str, pl.DataType] = {
    c: pl.Float64() for c in ("sum_neg", "sum_neu", "sum_pos", "sum_sq")
}
"""The raw sums behind the metrics, added at the end with `with_sums`: with n_* they let any
coarser bucket's mean, standard deviation and interval be recomputed exactly downstream."""


def series_schema(with_sums: bool = False) -> dict[str, pl.DataType]:
    return {**SERIES_SCHEMA, **SUM_SCHEMA} if with_sums else SERIES_SCHEMA


class QueryError(ValueError):
    """An option the user can fix: the CLI prints the message and exits with status 2."""


# --- parsing options ---------------------------------------------------------------------------


def parse_tz(name: str | None) -> ZoneInfo:
    text = (name or "UTC").strip()
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise QueryError(
            f"unknown time zone {text!r}: use an IANA name such as UTC, Europe/Berlin "
            f"or America/New_York"
        ) from None


def parse_every(value: str | int | timedelta) -> int:
    """Bucket width in seconds: a whole number of minutes that divides a day, or one week.

    Only these nest: a day is a whole number of such buckets in every time zone, so local
    buckets start at local midnight, and a week starts on Monday.
    """
    try:
        seconds = parse_duration(value).total_seconds()
    except ValueError as exc:
        raise QueryError(f"--every: {exc}") from None
    whole = seconds == int(seconds) and seconds > 0
    nests = whole and (
        seconds == WEEK_S or (int(seconds) % BUCKET_WIDTH_S == 0 and DAY_S % int(seconds) == 0)
    )
    if not nests:
        raise QueryError(
            f"--every {value}: use a whole number of minutes that divides a day "
            f"(1m, 5m, 15m, 1h, 6h, 1d) or 1w"
        )
    return int(seconds)


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_time(
    value: str | datetime | date | timedelta, *, tz: ZoneInfo, now: datetime, option: str
) -> datetime:
    """A point in time, in UTC, from what a person writes.

    A date (and `today`, `yesterday`) is local midnight in `tz`; a time without an offset is
    read in `tz`; a duration (it needs a unit: a bare `2026` is more likely a year than 2026
    seconds) counts back from `now`.
    """
    if isinstance(value, timedelta):
        return now - value
    if isinstance(value, datetime):
        return _in_utc(value, tz)
    if isinstance(value, date):
        return _in_utc(datetime.combine(value, time()), tz)
    text = str(value).strip()
    if text.lower() == "now":
        return now
    if text.lower() in ("today", "yesterday"):
        day = now.astimezone(tz).date() - timedelta(days=text.lower() == "yesterday")
        return _in_utc(datetime.combine(day, time()), tz)
    if _DATE.fullmatch(text):
        try:
            return _in_utc(datetime.combine(date.fromisoformat(text), time()), tz)
        except ValueError:
            pass
    else:
        try:
            return _in_utc(datetime.fromisoformat(text), tz)
        except ValueError:
            pass
        if re.search(r"[a-z]", text, re.IGNORECASE):
            try:
                return now - parse_duration(text)
            except ValueError:
                pass
    raise QueryError(
        f"{option} {text!r}: use a date (2026-03-01), a time (2026-03-01T14:30, in --tz unless it "
        f"has an offset such as Z or +01:00), today, yesterday, or a duration back from now "
        f"(30m, 12h, 7d)"
    )


def _in_utc(dt: datetime, tz: ZoneInfo) -> datetime:
    return (dt if dt.tzinfo is not None else dt.replace(tzinfo=tz)).astimezone(UTC)


def _names(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    return tuple(dict.fromkeys(v.strip() for v in items if v and v.strip()))


def _check_known(kind: str, wanted: Sequence[str], known: Sequence[str]) -> None:
    """An unknown name is a typo far more often than a wish for an empty file: say so."""
    for name in wanted:
        if name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1)
        hint = (
            f"; did you mean {close[0]!r}?"
            if close
            else (
                f"; the store has {', '.join(known)}"
                if known
                else f"; the store has no {kind}s yet"
            )
        )
        raise QueryError(f"no {kind} named {name!r} in the store{hint}")


# --- query specs ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    """A resolved series query: absolute UTC times already widened to whole buckets."""

    topics: tuple[str, ...]
    sources: tuple[str, ...]
    since: datetime | None
    until: datetime | None
    every_s: int
    tz: str
    with_sums: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "series",
            "topics": list(self.topics) or None,
            "sources": list(self.sources),
            "since": _iso(self.since),
            "until": _iso(self.until),
            "every": format_duration(timedelta(seconds=self.every_s)),
            "every_s": self.every_s,
            "tz": self.tz,
            "with_sums": self.with_sums,
        }


@dataclass(frozen=True, slots=True)
class PostsSpec:
    query: PostQuery

    def describe(self) -> dict[str, Any]:
        q = self.query
        return {
            "kind": "posts",
            "topics": list(q.topics) or None,
            "sources": list(q.sources) or None,
            "since": _iso(q.since),
            "until": _iso(q.until),
        }


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt is not None else None


# --- the reader ----------------------------------------------------------------------------------


class StoreReader:
    """Read-only analysis view of a store: every method returns polars frames.

    Filters accept one name or a list; `source="all"` is the all-sources rollup for series and
    no filter for posts. Times accept what `monitor export` accepts. Use as a context manager,
    or call `close()`, to release the database connection.

    The store is held privately and has no write method here: a notebook that can reach
    `reader.store.add_posts` will one day call it on the collector's database. `open_store()`
    also opens the connections read-only, so not even SQL sent through them can write.
    """

    def __init__(self, store: Store):
        self._store = store

    def __enter__(self) -> StoreReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._store.close()

    @property
    def url(self) -> str:
        """The store's URL, password included (it opens the store): show `repr(reader)` instead."""
        return self._store.url

    def __repr__(self) -> str:
        return f"<StoreReader {make_url(self.url).render_as_string(hide_password=True)}>"

    def topics(self) -> list[str]:
        return self._store.known_names()[0]

    def sources(self) -> list[str]:
        return self._store.known_names()[1]

    def _check_names(self, topics: Sequence[str], sources: Sequence[str]) -> None:
        known_topics, known_sources = self._store.known_names()
        _check_known("topic", topics, known_topics)
        _check_known("source", [s for s in sources if s != ALL], known_sources)

    # --- series ---------------------------------------------------------------------------

    def series_spec(
        self,
        topic: str | Sequence[str] | None = None,
        source: str | Sequence[str] | None = ALL,
        since: Any = None,
        until: Any = None,
        every: str | int | timedelta = "1h",
        tz: str | None = "UTC",
        now: datetime | None = None,
        with_sums: bool = False,
    ) -> SeriesSpec:
        zone = parse_tz(tz)
        every_s = parse_every(every)
        topics, sources = _names(topic), _names(source) or (ALL,)
        self._check_names(topics, sources)
        start, end = _window(since, until, zone, now or utcnow())
        # Whole buckets only: a first row labelled 14:00 that holds 14:23-15:00 would mislead.
        if start is not None:
            start = _floor(start, every_s, zone)
        if end is not None:
            floor = _floor(end, every_s, zone)
            end = floor if floor == end else _next(floor, every_s, zone)
        return SeriesSpec(topics, sources, start, end, every_s, zone.key, with_sums)

    def series(
        self,
        topic: str | Sequence[str] | None = None,
        source: str | Sequence[str] | None = ALL,
        since: Any = None,
        until: Any = None,
        every: str | int | timedelta = "1h",
        tz: str | None = "UTC",
        with_sums: bool = False,
    ) -> pl.DataFrame:
        """One row per topic, source and bucket, with the metric columns (SERIES_SCHEMA), and
        the raw sums after them with `with_sums` (SUM_SCHEMA)."""
        return self.series_frame(
            self.series_spec(topic, source, since, until, every, tz, with_sums=with_sums)
        )

    def series_frame(self, spec: SeriesSpec) -> pl.DataFrame:
        keys = tuple(ALL_SOURCES if s == ALL else s for s in spec.sources)

        def rollup(width_s: int) -> pl.DataFrame:
            return self._store.rollup(
                width_s=width_s,
                topics=spec.topics,
                sources=keys,
                since_ts=_ts(spec.since),
                until_ts=_ts(spec.until),
            )

        sums: pl.DataFrame | None
        if spec.tz == "UTC" and DAY_S % spec.every_s == 0:  # aligned in UTC: one exact GROUP BY
            sums = rollup(spec.every_s).with_columns(
                pl.from_epoch("start_ts", time_unit="s")
                .dt.replace_time_zone("UTC")
                .alias("bucket_start"),
                pl.lit(spec.every_s, pl.Int64).alias("bucket_width_s"),
            )
        else:
            grid = math.gcd(spec.every_s, LOCAL_GRID_S)
            sums = _local_buckets(rollup(grid), grid, spec)
            if sums is None:  # an offset off the 15-minute grid: regroup from the minutes
                sums = _local_buckets(rollup(BUCKET_WIDTH_S), BUCKET_WIDTH_S, spec)
            assert sums is not None
        out = with_metrics(sums.with_columns(pl.col("source").replace(ALL_SOURCES, ALL)))
        out = out.with_columns(
            (pl.col("n") + pl.col("n_unscored")).alias("posts"),
            *[pl.col(c).round(METRIC_DECIMALS) for c in METRIC_COLUMNS if c != "n"],
        )
        return out.select(
            [pl.col(c).cast(t) for c, t in series_schema(spec.with_sums).items()]
        ).sort("topic", "source", "bucket_start")

    # --- posts ----------------------------------------------------------------------------

    def posts_spec(
        self,
        topic: str | Sequence[str] | None = None,
        source: str | Sequence[str] | None = None,
        since: Any = None,
        until: Any = None,
        tz: str | None = "UTC",
        now: datetime | None = None,
    ) -> PostsSpec:
        zone = parse_tz(tz)
        topics, sources = _names(topic), _names(source)
        self._check_names(topics, sources)
        if ALL in sources:
            sources = ()
        start, end = _window(since, until, zone, now or utcnow())
        return PostsSpec(PostQuery(topics=topics, sources=sources, since=start, until=end))

    def posts(
        self,
        topic: str | Sequence[str] | None = None,
        source: str | Sequence[str] | None = None,
        since: Any = None,
        until: Any = None,
        tz: str | None = "UTC",
    ) -> pl.DataFrame:
        """Every matching post, oldest first (POST_SCHEMA). For millions, see `iter_posts`."""
        batches = list(self.iter_posts(topic, source, since, until, tz))
        return pl.concat(batches) if batches else pl.DataFrame(schema=POST_SCHEMA)

    def iter_posts(
        self,
        topic: str | Sequence[str] | None = None,
        source: str | Sequence[str] | None = None,
        since: Any = None,
        until: Any = None,
        tz: str | None = "UTC",
        batch_size: int = POST_BATCH,
    ) -> Iterator[pl.DataFrame]:
        """The same rows as `posts`, as frames of at most `batch_size` rows: memory stays flat."""
        return self.posts_frames(self.posts_spec(topic, source, since, until, tz), batch_size)

    def posts_frames(
        self, spec: PostsSpec, batch_size: int = POST_BATCH
    ) -> Generator[pl.DataFrame, None, None]:
        """The posts of a resolved spec, as `iter_posts` yields them (for `monitor export`).

        A generator, so `close()` ends the read (and its snapshot) at once when a consumer stops.
        """
        yield from self._store.iter_posts(spec.query, batch_size)

    def count_posts(self, spec: PostsSpec) -> int:
        return self._store.count_posts(spec.query)


def _window(
    since: Any, until: Any, zone: ZoneInfo, now: datetime
) -> tuple[datetime | None, datetime | None]:
    start = parse_time(since, tz=zone, now=now, option="--since") if since is not None else None
    end = parse_time(until, tz=zone, now=now, option="--until") if until is not None else None
    if start is not None and end is not None and start >= end:
        raise QueryError(
            f"--since ({start:%Y-%m-%d %H:%M} UTC) must be before --until ({end:%Y-%m-%d %H:%M} UTC)"
        )
    return start, end


def _ts(dt: datetime | None) -> int | None:
    return int(dt.timestamp()) if dt is not None else None


def _every_rule(every_s: int) -> str:
    """The polars truncate rule: calendar units for days and weeks (a local day can be 23 h)."""
    return {DAY_S: "1d", WEEK_S: "1w"}.get(every_s, f"{every_s}s")


def _floor(dt: datetime, every_s: int, tz: ZoneInfo) -> datetime:
    s = pl.Series([dt]).dt.convert_time_zone(tz.key).dt.truncate(_every_rule(every_s))
    return s.dt.convert_time_zone("UTC").item()


def _next(start: datetime, every_s: int, tz: ZoneInfo) -> datetime:
    s = pl.Series([start]).dt.convert_time_zone(tz.key).dt.offset_by(_every_rule(every_s))
    return s.dt.convert_time_zone("UTC").item()


def _local_buckets(sums: pl.DataFrame, grid_s: int, spec: SeriesSpec) -> pl.DataFrame | None:
    """Regroup UTC `grid_s` buckets into local-time buckets of `spec.every_s`.

    Exact as long as no grid bucket straddles a local boundary; None if one does, so the caller
    can retry on a finer grid. A bucket's width is measured, not assumed: the local day on which
    clocks go forward is 82,800 s long.
    """
    rule = _every_rule(spec.every_s)

    def local_start(ts: pl.Expr) -> pl.Expr:
        return (
            pl.from_epoch(ts, time_unit="s")
            .dt.replace_time_zone("UTC")
            .dt.convert_time_zone(spec.tz)
            .dt.truncate(rule)
        )

    marked = sums.with_columns(local_start(pl.col("start_ts")).alias("local_start"))
    if grid_s > BUCKET_WIDTH_S:
        last = marked.select(
            (
                local_start(pl.col("start_ts") + grid_s - BUCKET_WIDTH_S) == pl.col("local_start")
            ).all()
        )
        if not last.item():
            return None
    grouped = marked.group_by("topic", "source", "local_start").agg(
        *[pl.col(c).sum() for c in (*SUM_COLUMNS, "engagement")], pl.col("incomplete").any()
    )
    return grouped.with_columns(
        pl.col("local_start").dt.convert_time_zone("UTC").alias("bucket_start"),
        (pl.col("local_start").dt.offset_by(rule) - pl.col("local_start"))
        .dt.total_seconds()
        .alias("bucket_width_s"),
    )


# --- opening a store -----------------------------------------------------------------------------


def default_store_url(env: Mapping[str, str] = os.environ) -> str:
    """The store the collector writes to: MONITOR_DB_URL, else feeds.yaml's, else storage/monitor.db."""
    from monitor.config.feeds import DB_URL_ENV, default_config_path, load_config

    if env.get(DB_URL_ENV, "").strip():
        return env[DB_URL_ENV].strip()
    path = default_config_path(env)
    if path.exists():
        return load_config(path, env=env).store_url(env)
    return f"sqlite:///{Path('storage').resolve().as_posix()}/monitor.db"


class StoreSchemaError(RuntimeError):
    """The store's schema is not the one this version of the package reads.

    A reader never migrates (it opens the store read-only, and a notebook should not change the
    collector's database behind its back), so an old store is refused with the command that
    upgrades it rather than failing later on a missing column with a raw SQL error.
    """


def open_store(
    *,
    url: str | None = None,
    path: str | os.PathLike[str] | None = None,
    config: str | os.PathLike[str] | None = None,
) -> StoreReader:
    """Open a store for analysis, read-only.

    Give at most one of `url` (a database URL), `path` (a SQLite file) or `config` (a feeds.yaml,
    whose `store` is opened); none means the configured store (see default_store_url).

    A SQLite file that does not exist is an error rather than a new empty store: an empty
    result from a mistyped path would look like "no posts". The connections are read-only
    (SQLite `mode=ro`, PostgreSQL `default_transaction_read_only`); a store whose schema is
    older than this package raises StoreSchemaError naming the upgrade command.
    """
    given = [name for name, value in (("url", url), ("path", path), ("config", config)) if value]
    if len(given) > 1:
        raise TypeError(f"open_store() takes one of url, path or config, not {' and '.join(given)}")
    if path:
        resolved = f"sqlite:///{Path(path).expanduser().resolve().as_posix()}"
    elif config:
        from monitor.config.feeds import load_config

        resolved = load_config(Path(config)).store_url(os.environ)
    else:
        resolved = url or default_store_url()
    sa_url = make_url(resolved)
    sqlite = sa_url.get_backend_name() == "sqlite"
    if sqlite and (
        not sa_url.database or sa_url.database == ":memory:" or sa_url.database.startswith("file:")
    ):
        raise QueryError(f"{resolved}: open_store() reads a SQLite file or PostgreSQL")
    if sqlite and not Path(str(sa_url.database)).expanduser().exists():
        raise FileNotFoundError(
            f"no store at {sa_url.database} (collect first, or pass the URL of an existing store)"
        )
    store = Store(resolved, read_only=True)
    try:
        _check_schema(store, resolved)
    except BaseException:
        store.close()
        raise
    return StoreReader(store)


def _check_schema(store: Store, url: str) -> None:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    with store.read() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    script = ScriptDirectory(str(MIGRATIONS))
    head = script.get_current_head()
    if current == head:
        return
    shown = make_url(url).render_as_string(hide_password=True)
    known = {rev.revision for rev in script.walk_revisions()}
    if current is not None and current not in known:
        raise StoreSchemaError(
            f"the store {shown} has schema {current}, newer than this reaction-monitor reads "
            f"({head}): upgrade the package"
        )
    found = f"schema {current}" if current is not None else "no reaction-monitor schema"
    raise StoreSchemaError(
        f"the store {shown} has {found}, older than this reaction-monitor ({head}): "
        f"run `monitor --db {shown} db upgrade`, then open it again"
    )


__all__ = [
    "ALL",
    "SERIES_SCHEMA",
    "SUM_SCHEMA",
    "series_schema",
    "PostsSpec",
    "QueryError",
    "SeriesSpec",
    "StoreReader",
    "StoreSchemaError",
    "default_store_url",
    "open_store",
    "parse_every",
    "parse_time",
    "parse_tz",
]
