"""Hourly rollups: written with their minutes, built for old stores, and read with the same numbers.

A view whose buckets are an hour or coarser reads `bucket_hour` for the whole hours of its window
and the minute buckets for the ragged ends; these tests read the same views through the minute
buckets alone and require the very same counts (and the same sums, up to float addition order).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from scripted import ScriptedSource
from sqlalchemy import select, text
from test_ingest import TOPICS

from monitor.ingest.poll import Ingestor, upsert_buckets
from monitor.sources.base import Batch, RawPost, SourceError, SourceSettings
from monitor.store.db import MIGRATIONS, SUM_COLUMNS, SeriesQuery, Store, make_engine, to_ts
from monitor.store.models import ALL_SOURCES, Bucket, BucketHour

T0 = datetime(2026, 3, 18, 9, 0, tzinfo=UTC)
WORDS = "great terrible deal betrayal wonderful shameful talks".split()


def _posts(n: int, seed: int = 7) -> list[RawPost]:
    rng = random.Random(seed)
    return [
        RawPost(
            native_id=str(i),
            created_at=T0 + timedelta(minutes=rng.randrange(6 * 60), seconds=rng.randrange(60)),
            text=f"{' '.join(rng.sample(WORDS, 3))} #TrumpPutinBusiness"
            + (" Dmitriev" if i % 3 else ""),
            engagement=rng.randrange(50),
        )
        for i in range(n)
    ]


def _filled(store: Store) -> Store:
    """Posts over six hours through the real ingest, then a failed poll that marks minutes incomplete."""
    clock = {"now": T0 + timedelta(hours=6)}
    ingestor = Ingestor(store, TOPICS, clock=lambda: clock["now"])
    src = ScriptedSource(
        SourceSettings(name="feed", kind="scripted"),
        TOPICS,
        [
            Batch(posts=_posts(400), state={}, status=200),
            SourceError("feed had a server error (503)", status=503),
        ],
    )
    ingestor.poll(src)
    clock["now"] = T0 + timedelta(hours=6, minutes=20)
    ingestor.poll(src)  # minutes 6:00-6:20 incomplete: hour 6 is incomplete
    return store


def _minute_view(store: Store, width_s: int, since_ts: int, until_ts: int) -> pl.DataFrame:
    """The same view summed from the minute buckets only (the 60 s rollup, re-summed by polars)."""
    minutes = store.rollup(width_s=60, since_ts=since_ts, until_ts=until_ts)
    return (
        minutes.with_columns((pl.col("start_ts") // width_s * width_s).alias("start_ts"))
        .group_by("topic", "source", "start_ts", maintain_order=True)
        .agg(*[pl.col(c).sum() for c in (*SUM_COLUMNS, "engagement")], pl.col("incomplete").any())
        .sort("topic", "source", "start_ts")
    )


WINDOWS = [(0, 7 * 3600), (17 * 60, 5 * 3600 + 43 * 60), (3600, 3 * 3600), (61 * 60, 62 * 60 + 30)]


@pytest.mark.parametrize("width_s", [3600, 7200, 86400])
def test_hour_views_equal_the_minute_buckets_summed(store, width_s):
    _filled(store)
    base = to_ts(T0)
    for lo, hi in WINDOWS:
        since_ts, until_ts = base + lo, base + hi
        got = store.rollup(width_s=width_s, since_ts=since_ts, until_ts=until_ts).sort(
            "topic", "source", "start_ts"
        )
        want = _minute_view(store, width_s, since_ts, until_ts)
        assert got.height == want.height > 0
        ints = [
            "topic",
            "source",
            "start_ts",
            "n_neg",
            "n_neu",
            "n_pos",
            "n_unscored",
            "engagement",
            "incomplete",
        ]
        assert got.select(ints).to_dicts() == want.select(ints).to_dicts()  # counts exact
        for c in ("sum_neg", "sum_neu", "sum_pos", "sum_sq"):
            assert got[c].to_list() == pytest.approx(want[c].to_list(), rel=1e-12, abs=1e-12)
        # The dashboard's reader and the one-topic series give the same rows.
        series = store.bucket_series(
            ["thaw"], [ALL_SOURCES, "feed"], since_ts=since_ts, until_ts=until_ts, every_s=width_s
        )
        for (topic, source), rows in series.items():
            mine = want.filter((pl.col("topic") == topic) & (pl.col("source") == source))
            assert [
                (r["start_ts"], r["n_pos"], r["n_neg"], r["n_unscored"], bool(r["incomplete"]))
                for r in rows
            ] == list(
                zip(
                    *[
                        mine[c].to_list()
                        for c in ("start_ts", "n_pos", "n_neg", "n_unscored", "incomplete")
                    ],
                    strict=False,
                )
            )
        one = store.series(
            SeriesQuery(
                topic="thaw",
                since=T0 + timedelta(seconds=lo),
                until=T0 + timedelta(seconds=hi),
                every_s=width_s,
            )
        )
        mine = want.filter((pl.col("topic") == "thaw") & (pl.col("source") == ALL_SOURCES))
        assert one["n_pos"].to_list() == mine["n_pos"].to_list()
        assert one["incomplete"].to_list() == mine["incomplete"].to_list()


def test_hours_are_the_exact_sums_of_their_minutes_and_carry_incomplete(store):
    _filled(store)
    with store.read() as conn:
        hours = {
            tuple(r[:3]): r[3:]
            for r in conn.execute(
                select(
                    BucketHour.topic,
                    BucketHour.source,
                    BucketHour.start_ts,
                    BucketHour.n_pos,
                    BucketHour.n_neg,
                    BucketHour.n_neu,
                    BucketHour.n_unscored,
                    BucketHour.engagement,
                    BucketHour.incomplete,
                )
            ).all()
        }
    minutes = _minute_view(store, 3600, 0, 2**40)
    assert len(hours) == minutes.height
    for r in minutes.iter_rows(named=True):
        assert hours[(r["topic"], r["source"], r["start_ts"])] == (
            r["n_pos"],
            r["n_neg"],
            r["n_neu"],
            r["n_unscored"],
            r["engagement"],
            r["incomplete"],
        )
    incomplete_hours = {k[2] - to_ts(T0) for k, v in hours.items() if v[-1]}
    assert incomplete_hours == {6 * 3600}  # the failed poll's minutes, and no other hour
    assert store.sums("thaw").n == sum(
        v[0] + v[1] + v[2] for k, v in hours.items() if k[:2] == ("thaw", "*")
    )


def test_deleting_posts_takes_them_out_of_the_hours_too(store):
    _filled(store)
    before = store.sums("thaw", since=T0, until=T0 + timedelta(hours=7))
    upsert_buckets_rows = [
        {
            "topic": "thaw",
            "source": s,
            "start_ts": to_ts(T0) + 90,
            "width_s": 60,
            "n_neg": 0,
            "n_neu": 0,
            "n_pos": -1,
            "sum_neg": 0.0,
            "sum_neu": 0.0,
            "sum_pos": -0.5,
            "sum_sq": -0.25,
            "n_unscored": 0,
            "engagement": 0,
            "incomplete": False,
        }
        for s in ("feed", ALL_SOURCES)
    ]
    with store.write() as conn:
        upsert_buckets(conn, upsert_buckets_rows)
    # whole hours: read from bucket_hour
    after = store.sums("thaw", since=T0, until=T0 + timedelta(hours=7))
    assert after.n_pos == before.n_pos - 1
    minutes = _minute_view(store, 3600, to_ts(T0), to_ts(T0) + 7 * 3600)
    assert (
        after.n_pos
        == minutes.filter((pl.col("topic") == "thaw") & (pl.col("source") == ALL_SOURCES))[
            "n_pos"
        ].sum()
    )


def test_migration_builds_the_hours_of_an_existing_store(store_url):
    """A store made before the rollups (at revision 0003) gets its hours when it is opened."""
    engine = make_engine(store_url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
    rows = [
        {
            "topic": "thaw",
            "source": ALL_SOURCES,
            "start_ts": to_ts(T0) + 60 * m,
            "width_s": 60,
            "n_neg": 1,
            "n_neu": 0,
            "n_pos": 2,
            "sum_neg": -0.5,
            "sum_neu": 0.0,
            "sum_pos": 0.25 * m,
            "sum_sq": 1.0,
            "n_unscored": 1,
            "engagement": m,
            "incomplete": m == 100,
        }
        for m in range(150)
    ]
    with engine.begin() as conn:
        conn.execute(Bucket.__table__.insert(), rows)
    engine.dispose()
    store = Store(store_url)
    try:
        with store.read() as conn:
            got = conn.execute(
                text(
                    "SELECT start_ts, n_pos, n_unscored, engagement, incomplete, sum_pos "
                    "FROM bucket_hour ORDER BY start_ts"
                )
            ).all()
        base = to_ts(T0)
        assert [tuple(r[:5]) for r in got] == [
            (base, 120, 60, sum(range(60)), False),
            (base + 3600, 120, 60, sum(range(60, 120)), True),
            (base + 7200, 60, 30, sum(range(120, 150)), False),
        ]
        assert got[0][5] == pytest.approx(0.25 * sum(range(60)))
        with store.write() as conn:  # and ingest keeps them in step from there on
            upsert_buckets(conn, [{**rows[0], "start_ts": base + 7200 + 600, "incomplete": False}])
        assert store.sums("thaw", since=T0, until=T0 + timedelta(hours=3)).n_pos == 302
    finally:
        store.close()


def test_bucket_delta_counts_each_class_and_a_delete_takes_it_back_out() -> None:
    """The named bucket delta puts each post in its VADER class (0.05 is positive, -0.05
    negative), keeps unscored posts out of the sums, and the delete path's sign -1 undoes it."""
    from monitor.ingest.poll import BucketDelta

    compounds = [0.05, -0.05, 0.04, None, 0.5]
    d = BucketDelta()
    for c in compounds:
        d.count(c)
    assert (d.n_neg, d.n_neu, d.n_pos, d.n_unscored) == (1, 1, 2, 1)
    assert d.sum_pos == pytest.approx(0.55)
    assert d.sum_neg == pytest.approx(-0.05)
    assert d.sum_neu == pytest.approx(0.04)
    assert d.sum_sq == pytest.approx(0.05**2 * 2 + 0.04**2 + 0.25)
    row = d.row("t", ALL_SOURCES, 60)
    assert {c: row[c] for c in SUM_COLUMNS} == {
        "n_neg": 1,
        "n_neu": 1,
        "n_pos": 2,
        "sum_neg": d.sum_neg,
        "sum_neu": d.sum_neu,
        "sum_pos": d.sum_pos,
        "sum_sq": d.sum_sq,
        "n_unscored": 1,
    }
    assert row["incomplete"] is False and row["width_s"] == 60
    for c in compounds:
        d.count(c, sign=-1)
    assert (d.n_neg, d.n_neu, d.n_pos, d.n_unscored) == (0, 0, 0, 0)
    assert d.sum_pos == pytest.approx(0.0) and d.sum_sq == pytest.approx(0.0)
