"""Retention: `monitor db prune` deletes old posts in short batches and keeps what the views count."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from scripted import ScriptedSource
from sqlalchemy import func, select
from test_ingest import TOPICS

from monitor.cli import main
from monitor.ingest.poll import Ingestor
from monitor.sources.base import Batch, RawPost, SourceSettings
from monitor.store.db import SeriesQuery, Store, to_ts
from monitor.store.models import Bucket, BucketHour, Post, PostTopic
from monitor.store.prune import prune

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
OLD = NOW - timedelta(days=40)


def _fill(store: Store) -> None:
    posts = [
        RawPost(
            native_id=f"old{i}",
            text=f"great deal #TrumpPutinBusiness {i}",
            tags=["Oil"],
            created_at=OLD + timedelta(minutes=7 * i),
        )
        for i in range(60)
    ]
    posts += [
        RawPost(
            native_id=f"new{i}",
            text=f"terrible deal Dmitriev #TrumpPutinBusiness {i}",
            created_at=NOW - timedelta(days=1, minutes=5 * i),
        )
        for i in range(20)
    ]
    Ingestor(store, TOPICS, clock=lambda: NOW).poll(
        ScriptedSource(
            SourceSettings(name="feed", kind="scripted"), TOPICS, [Batch(posts=posts, state={})]
        )
    )


def _count(store: Store, model, *where) -> int:
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def _hours(store: Store) -> list[tuple]:
    frame = store.series(
        SeriesQuery(topic="thaw", since=OLD - timedelta(days=1), until=NOW, every_s=3600)
    )
    return list(
        zip(frame["start_ts"], frame["n_pos"], frame["n_neg"], frame["n_unscored"], strict=False)
    )


def test_prune_deletes_old_posts_and_keeps_the_hourly_counts(store_url, capsys):
    store = Store(store_url)
    _fill(store)
    hours = _hours(store)
    assert _count(store, Post) == 80
    store.close()

    assert main(["--db", store_url, "db", "prune", "--before", "30d"]) == 0
    out = capsys.readouterr().out
    assert "deleted 60 posts" in out and "60 topic links" in out and "hourly rollups kept" in out

    store = Store(store_url)
    assert _count(store, Post) == 20 and _count(store, Post, Post.native_id.like("old%")) == 0
    assert _count(store, PostTopic) == 20  # no link left pointing at nothing
    assert _hours(store) == hours  # every hour still counts the deleted posts
    assert _count(store, Bucket, Bucket.start_ts < to_ts(NOW - timedelta(days=30))) == 0
    assert _count(store, BucketHour, BucketHour.start_ts < to_ts(NOW - timedelta(days=30))) > 0
    # recent minutes stay
    assert _count(store, Bucket, Bucket.start_ts >= to_ts(NOW - timedelta(days=30))) > 0
    first_hour = OLD - timedelta(seconds=to_ts(OLD) % 3600)
    assert store.collecting_since("thaw") == first_hour  # the record still starts where it started
    store.close()


def test_keep_buckets_keeps_the_minutes_and_bad_dates_are_refused(sqlite_url, capsys):
    store = Store(sqlite_url)
    _fill(store)
    minutes = _count(store, Bucket)
    store.close()
    assert main(["--db", sqlite_url, "db", "prune", "--before", "30d", "--keep-buckets"]) == 0
    store = Store(sqlite_url)
    assert _count(store, Bucket) == minutes and _count(store, Post) == 20
    store.close()
    assert main(["--db", sqlite_url, "db", "prune", "--before", "next tuesday"]) == 2
    assert "--before" in capsys.readouterr().err
    assert main(["--db", sqlite_url, "db", "prune", "--before", "2999-01-01"]) == 2
    assert "in the future" in capsys.readouterr().err


def test_each_batch_is_its_own_short_transaction(sqlite_url, tmp_path):
    """Between batches another writer (the collector) gets the write lock without waiting."""
    store = Store(sqlite_url)
    _fill(store)
    other = sqlite3.connect(tmp_path / "monitor.db", timeout=0, isolation_level=None)
    seen = []

    def between(report) -> None:
        # fails at once ("database is locked") if prune held the lock
        other.execute("BEGIN IMMEDIATE")
        other.execute("COMMIT")
        seen.append(report.posts)

    report = prune(store, NOW - timedelta(days=30), batch=7, progress=between)
    assert seen == [7, 14, 21, 28, 35, 42, 49, 56, 60]
    assert report.posts == 60 and report.bytes_before > report.bytes_after
    assert "freed" in "\n".join(report.lines())
    other.close()
    store.close()
