"""`monitor.open_store()`: frames with the export's columns and filters, and the pieces under it.

`monitor.metrics.frames` is held to `monitor.metrics.formulas.summarize` on random buckets; the option parsers
to what people type; `open_store` to the store the collector writes to.
"""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from export_support import TOPICS, Scripted, fill, written_elsewhere
from polars.testing import assert_frame_equal

from monitor.ingest.poll import Ingestor
from monitor.metrics.formulas import BucketSums, summarize
from monitor.metrics.frames import METRIC_COLUMNS, MIN_N_MEAN, MIN_N_POLARIZATION, with_metrics
from monitor.outputs.api import (
    ALL,
    SERIES_SCHEMA,
    QueryError,
    StoreReader,
    open_store,
    parse_every,
    parse_time,
)
from monitor.sources.base import Batch, RawPost
from monitor.store.db import POST_SCHEMA, Store, utcnow

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 29, 10, 30, tzinfo=UTC)  # 12:30 in Berlin, the first day of summer time


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('api')}/monitor.db")
    fill(store)
    with StoreReader(store) as r:
        yield r


# --- frames agree with metrics ------------------------------------------------------------------


def _random_bucket(rng: random.Random) -> BucketSums:
    n = rng.choice([0, 1, 2, 4, 5, 6, 9, 10, 11, 29, 30, 31, 200, rng.randrange(5000)])
    style = rng.random()
    if style < 0.15:
        scores = [0.5] * n  # identical posts: the spread must clamp at 0, not go negative
    elif style < 0.3:
        # class edges
        scores = [rng.choice([0.05, -0.05, 0.0, 0.0499, -0.0499, 1.0, -1.0]) for _ in range(n)]
    elif style < 0.45:
        scores = [rng.choice([0.7, 0.9]) for _ in range(n)]  # one-sided: empty classes
    else:
        scores = [round(rng.uniform(-1, 1), 4) for _ in range(n)]
    return BucketSums.from_scores(scores + [None] * rng.randrange(4))


def test_frames_agree_with_summarize_on_random_buckets():
    rng = random.Random(20260329)
    buckets = [_random_bucket(rng) for _ in range(3000)]
    frame = with_metrics(
        pl.DataFrame([{f: getattr(b, f) for f in BucketSums.__slots__} for b in buckets])
    )
    worst = 0.0
    for b, row in zip(buckets, frame.iter_rows(named=True), strict=False):
        expected = summarize(b)
        for column in METRIC_COLUMNS:
            got, want = row[column], getattr(expected, column)
            assert (got is None) == (want is None), (column, b, got, want)
            if want is not None:
                worst = max(worst, abs(got - want))
    assert worst < 1e-9


def test_frames_null_rules_by_n():
    sums = [BucketSums.from_scores([0.6] * k + [-0.6] * k) for k in (0, 1, 2, 3, 5, 15)]
    frame = with_metrics(
        pl.DataFrame([{f: getattr(b, f) for f in BucketSums.__slots__} for b in sums])
    )
    shown = {
        row["n"]: {c for c in METRIC_COLUMNS if row[c] is not None}
        for row in frame.iter_rows(named=True)
    }
    assert shown[0] == {"n"}
    assert (
        shown[2]
        == shown[4]
        == {"n", "pos_share", "pos_lo", "pos_hi", "neg_share", "neg_lo", "neg_hi"}
    )
    assert (
        shown[6] == shown[10] - {"er3", "b", "sigma"} == shown[2] | {"mean", "mean_lo", "mean_hi"}
    )
    assert shown[30] == set(METRIC_COLUMNS)
    assert MIN_N_MEAN == 5 and MIN_N_POLARIZATION == 10


# --- parsing what people type -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,tz,expected",
    [
        ("2026-03-29", "Europe/Berlin", datetime(2026, 3, 28, 23, tzinfo=UTC)),
        ("2026-03-30", "Europe/Berlin", datetime(2026, 3, 29, 22, tzinfo=UTC)),  # after the switch
        ("2026-03-29", "UTC", datetime(2026, 3, 29, tzinfo=UTC)),
        ("2026-03-29T14:00", "Europe/Berlin", datetime(2026, 3, 29, 12, tzinfo=UTC)),
        ("2026-03-29 14:00", "UTC", datetime(2026, 3, 29, 14, tzinfo=UTC)),
        ("2026-03-29T14:00Z", "Europe/Berlin", datetime(2026, 3, 29, 14, tzinfo=UTC)),
        ("2026-03-29T14:00:00+05:30", "UTC", datetime(2026, 3, 29, 8, 30, tzinfo=UTC)),
        ("7d", "UTC", NOW - timedelta(days=7)),
        ("1h30m", "Europe/Berlin", NOW - timedelta(minutes=90)),
        ("now", "UTC", NOW),
        ("today", "Europe/Berlin", datetime(2026, 3, 28, 23, tzinfo=UTC)),
        ("yesterday", "Europe/Berlin", datetime(2026, 3, 27, 23, tzinfo=UTC)),
        (date(2026, 3, 29), "UTC", datetime(2026, 3, 29, tzinfo=UTC)),
        (timedelta(hours=2), "UTC", NOW - timedelta(hours=2)),
    ],
)
def test_parse_time_reads_dates_times_and_durations(text, tz, expected):
    assert parse_time(text, tz=ZoneInfo(tz), now=NOW, option="--since") == expected


@pytest.mark.parametrize("text", ["2026", "last week", "2026-02-30", "7 days ago", ""])
def test_parse_time_refuses_what_it_cannot_read(text):
    with pytest.raises(QueryError, match="--until .*use a date"):
        parse_time(text, tz=BERLIN, now=NOW, option="--until")


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("1m", 60),
        ("5m", 300),
        ("15m", 900),
        ("1h", 3600),
        ("6h", 21600),
        ("1d", 86400),
        ("24h", 86400),
        ("1w", 604800),
        ("7d", 604800),
        (3600, 3600),
        (timedelta(minutes=30), 1800),
    ],
)
def test_parse_every_accepts_widths_that_nest_in_a_day(text, seconds):
    assert parse_every(text) == seconds


@pytest.mark.parametrize("text", ["7m", "90s", "2d", "0", "30s", "7h", "weekly"])
def test_parse_every_refuses_widths_that_do_not_nest(text):
    with pytest.raises(QueryError, match="--every"):
        parse_every(text)


# --- the reader ---------------------------------------------------------------------------------


def test_frames_have_the_export_columns_and_types(reader):
    series = reader.series()
    assert series.schema == pl.Schema(SERIES_SCHEMA) and series.height > 0
    assert set(series["source"]) == {ALL}
    posts = reader.posts()
    assert posts.schema == pl.Schema(POST_SCHEMA)
    assert posts["created_at"].is_sorted()
    assert reader.topics() == ["sanctions", "thaw"] and reader.sources() == ["bsky", "masto"]


def test_frames_equal_the_exported_files(reader, tmp_path):
    from monitor.cli import main

    args = [
        "--topic",
        "sanctions",
        "--since",
        "2026-03-29",
        "--until",
        "2026-10-26",
        "--tz",
        "Europe/Berlin",
    ]
    assert (
        main(
            [
                "--db",
                reader.url,
                "export",
                "series",
                *args,
                "--every",
                "1d",
                "--source",
                "all",
                "--source",
                "masto",
                "-o",
                str(tmp_path / "s.parquet"),
            ]
        )
        == 0
    )
    assert (
        main(["--db", reader.url, "export", "posts", *args, "-o", str(tmp_path / "p.parquet")]) == 0
    )
    series = reader.series(
        topic="sanctions",
        since="2026-03-29",
        until="2026-10-26",
        tz="Europe/Berlin",
        every="1d",
        source=["all", "masto"],
    )
    assert_frame_equal(pl.read_parquet(tmp_path / "s.parquet"), series)
    assert_frame_equal(
        pl.read_parquet(tmp_path / "p.parquet"),
        reader.posts(topic="sanctions", since="2026-03-29", until="2026-10-26", tz="Europe/Berlin"),
    )


def test_filters(reader):
    everything = reader.posts()
    thaw = reader.posts(topic="thaw")
    assert (
        thaw.height
        == everything.filter(pl.col("topics").list.contains("thaw")).height
        < everything.height
    )
    both = reader.posts(topic=["thaw", "sanctions"])
    assert both.height == everything.height
    bsky = reader.posts(source="bsky")
    assert set(bsky["source"]) == {"bsky"} and 0 < bsky.height < everything.height
    assert (
        reader.posts(source=ALL).height
        == reader.posts(source=["bsky", ALL]).height
        == everything.height
    )
    window = reader.posts(since="2026-03-29T00:00Z", until=datetime(2026, 3, 29, 6, tzinfo=UTC))
    assert window["created_at"].min() >= datetime(2026, 3, 29, tzinfo=UTC)
    assert window["created_at"].max() < datetime(2026, 3, 29, 6, tzinfo=UTC)
    per_source = reader.series(every="1d", source=["bsky", "masto", "all"])
    totals = dict(per_source.group_by("source").agg(pl.col("n").sum()).rows())
    assert totals["all"] == totals["bsky"] + totals["masto"]
    assert set(reader.series(topic="sanctions")["topic"]) == {"sanctions"}


def test_durations_count_back_from_now(tmp_path):
    now = utcnow()
    store = Store(f"sqlite:///{tmp_path}/recent.db")
    with StoreReader(store) as r:
        Ingestor(store, TOPICS).poll(
            Scripted(
                "recent",
                [
                    Batch(
                        posts=[
                            RawPost(
                                native_id=str(i),
                                text=f"great news #TrumpPutinBusiness {i}",
                                created_at=now - age,
                            )
                            for i, age in enumerate(
                                [
                                    timedelta(days=10),
                                    timedelta(days=3),
                                    timedelta(hours=5),
                                    timedelta(minutes=5),
                                ]
                            )
                        ],
                        state={},
                    )
                ],
            )
        )
        assert r.posts(since="7d").height == 3
        assert r.posts(since="12h").height == 2
        assert r.posts(since="7d", until="1h").height == 2
        assert r.series(since="2d", every="1h")["n"].sum() == 2


def test_iter_posts_streams_in_batches(reader):
    batches = list(reader.iter_posts(topic="thaw", batch_size=25))
    assert max(b.height for b in batches) == 25 and len(batches) > 3
    assert_frame_equal(pl.concat(batches), reader.posts(topic="thaw"))


def test_unknown_names_are_errors_with_a_suggestion(reader):
    with pytest.raises(
        QueryError, match="no topic named 'sanction' in the store; did you mean 'sanctions'"
    ):
        reader.series(topic="sanction")
    with pytest.raises(QueryError, match="no source named 'x'"):
        reader.posts(source="x")


def test_exact_buckets_even_where_the_offset_is_off_the_quarter_hour_grid(tmp_path):
    """Monrovia kept UTC-0:44:30 until 1972: 15-minute UTC buckets straddle its local hours, so the
    hours are rebuilt from the minutes (the fallback path) and still match the posts."""
    start = datetime(1971, 6, 1, 8, 0, 5, tzinfo=UTC)
    # no post in the minute a local hour starts
    minutes = [m for m in range(0, 300, 7) if m % 60 != 44]
    store = Store(f"sqlite:///{tmp_path}/1971.db")
    with StoreReader(store) as r:
        Ingestor(store, TOPICS).poll(
            Scripted(
                "old",
                [
                    Batch(
                        posts=[
                            RawPost(
                                native_id=str(m),
                                text=f"#TrumpPutinBusiness {'good' if m % 2 else 'bad'} {m}",
                                created_at=start + timedelta(minutes=m),
                            )
                            for m in minutes
                        ],
                        state={},
                    )
                ],
            )
        )
        hours = r.series(topic="thaw", every="1h", tz="Africa/Monrovia")
        posts = r.posts()
    local_hour = pl.col("created_at").dt.convert_time_zone("Africa/Monrovia").dt.truncate("1h")
    expected = (
        posts.group_by(local_hour.dt.convert_time_zone("UTC").alias("bucket_start"))
        .len()
        .sort("bucket_start")
    )
    assert hours.select("bucket_start", pl.col("n").cast(pl.UInt32).alias("len")).equals(expected)
    assert set(hours["bucket_start"].dt.strftime("%M:%S")) == {"44:30"}


# --- opening a store ----------------------------------------------------------------------------


def test_open_store_finds_the_configured_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MONITOR_DB_URL", raising=False)
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    with pytest.raises(FileNotFoundError, match=r"no store at .*storage/monitor.db"):
        open_store()
    assert not (tmp_path / "storage" / "monitor.db").exists()  # looking never creates one

    Store(f"sqlite:///{tmp_path}/storage/monitor.db").close()
    with open_store() as r:
        assert r.url.endswith("storage/monitor.db")

    (tmp_path / "feeds.yaml").write_text(
        "store: sqlite:///data/from-config.db\ntopics:\n  - name: thaw\n"
        "    hashtags: ['#TrumpPutinBusiness']\n"
    )
    Store(f"sqlite:///{tmp_path}/data/from-config.db").close()
    with open_store() as r:
        assert r.url.endswith("data/from-config.db")

    Store(f"sqlite:///{tmp_path}/env.db").close()
    monkeypatch.setenv("MONITOR_DB_URL", f"sqlite:///{tmp_path}/env.db")
    with open_store() as r:
        assert r.url.endswith("env.db")
    with open_store(url=f"sqlite:///{tmp_path}/storage/monitor.db") as r:
        assert r.url.endswith("storage/monitor.db")


def test_import_monitor_stays_cheap_and_open_store_is_there():
    code = (
        "import sys, monitor; assert 'polars' not in sys.modules and 'sqlalchemy' not in sys.modules; "
        "from monitor import open_store; assert callable(open_store) and 'polars' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --- the read API cannot write ------------------------------------------------------------------


def _filled_store(url: str) -> None:
    store = Store(url)
    fill(store)
    written_elsewhere(store)  # read as another process would: the ADBC path for posts
    store.close()


def _version(url: str) -> str | None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def _old_store(url: str, revision: str = "0005") -> None:
    """A store as an older reaction-monitor left it: migrated only up to `revision`."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from monitor.store.db import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    engine = create_engine(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    engine.dispose()


def test_open_store_takes_keywords_only(tmp_path):
    url = f"sqlite:///{tmp_path}/monitor.db"
    Store(url).close()
    with pytest.raises(TypeError):
        open_store(url)  # type: ignore[misc]
    with pytest.raises(TypeError, match="one of url, path or config"):
        open_store(url=url, path=tmp_path / "monitor.db")
    with open_store(path=tmp_path / "monitor.db") as r:
        assert r.url == url
    (tmp_path / "feeds.yaml").write_text(
        f"store: {url}\ntopics:\n  - name: thaw\n    hashtags: ['#TrumpPutinBusiness']\n"
    )
    with open_store(config=tmp_path / "feeds.yaml") as r:
        assert r.url == url


def _assert_reader_cannot_write(reader: StoreReader) -> None:
    """Neither the API nor SQL sent down its connections can change the store."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from monitor.store import arrowread

    assert not hasattr(reader, "store")
    public = [n for n in dir(reader) if not n.startswith("_")]
    assert not [n for n in public if n.startswith(("add", "ingest", "write", "insert", "prune"))]
    before = reader.posts()
    with pytest.raises(DBAPIError, match="(?i)read-?only"):
        with reader._store.write() as conn:
            conn.execute(text("DELETE FROM post_topic"))
    with pytest.raises(DBAPIError, match="(?i)read-?only"):
        with reader._store.read() as conn:
            conn.execute(text("UPDATE post SET text = 'changed'"))
    adbc = arrowread._connect(reader.url)  # the driver exports read posts through
    try:
        with adbc.cursor() as cur, pytest.raises(Exception, match="(?i)read-?only"):
            cur.execute("UPDATE post SET text = 'changed'")
    finally:
        adbc.close()
    assert_frame_equal(reader.posts(), before)
    assert before.height > 100 and "changed" not in before["text"].to_list()


def test_a_sqlite_reader_cannot_write(tmp_path):
    url = f"sqlite:///{tmp_path}/monitor.db"
    _filled_store(url)
    with open_store(url=url) as reader:
        _assert_reader_cannot_write(reader)


@pytest.mark.postgres
def test_a_postgres_reader_cannot_write(pg_url):
    _filled_store(pg_url)  # pg_url's own `options` (a search_path) must survive the read-only one
    with open_store(url=pg_url) as reader:
        assert reader.topics() == ["sanctions", "thaw"]
        _assert_reader_cannot_write(reader)


def test_an_old_store_is_refused_with_the_command_that_upgrades_it(tmp_path):
    from monitor.cli import main
    from monitor.outputs.api import StoreSchemaError

    url = f"sqlite:///{tmp_path}/old.db"
    _old_store(url)
    with pytest.raises(StoreSchemaError) as caught:
        open_store(url=url)
    message = str(caught.value)
    assert "0005" in message and f"`monitor --db {url} db upgrade`" in message
    assert _version(url) == "0005"  # reading never migrates
    command = message.split("`")[1].split()[1:]
    assert main(command) == 0  # the command named is the one that works
    with open_store(url=url) as reader:
        assert reader.series().is_empty()


def test_a_file_that_is_no_store_and_a_newer_store_are_refused(tmp_path):
    import sqlite3

    from sqlalchemy import create_engine, text

    from monitor.outputs.api import StoreSchemaError

    sqlite3.connect(tmp_path / "empty.db").close()
    with pytest.raises(StoreSchemaError, match="no reaction-monitor schema.*db upgrade"):
        open_store(path=tmp_path / "empty.db")

    url = f"sqlite:///{tmp_path}/new.db"
    Store(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(StoreSchemaError, match="9999, newer .*upgrade the package"):
        open_store(url=url)


def test_monitor_export_still_upgrades_an_old_store(tmp_path, capsys):
    """Every command migrates at start (`monitor db upgrade` says so); the read API does not."""
    from monitor.cli import main

    url = f"sqlite:///{tmp_path}/old.db"
    _old_store(url)
    out = tmp_path / "series.csv"
    assert main(["--db", url, "export", "series", "-o", str(out)]) == 0
    assert _version(url) != "0005" and out.read_text().startswith("topic,source,bucket_start")


def test_the_read_api_is_exported_from_the_package():
    import monitor
    from monitor.outputs import api

    for name in ("open_store", "StoreReader", "QueryError", "StoreSchemaError"):
        assert getattr(monitor, name) is getattr(api, name)
    assert monitor.__version__
