"""Posts read as Arrow batches (ADBC) on SQLite and PostgreSQL, and exports a person can use as they are."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import polars as pl
from export_support import fill, written_elsewhere
from sqlalchemy import insert, select

from monitor.cli import main
from monitor.outputs.api import StoreReader
from monitor.store.db import PostQuery
from monitor.store.models import Post, PostTopic, SourceRow, link_row

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _insert_posts(store, n_null: int, n_full: int) -> None:
    """`n_null` posts with every nullable column NULL, then `n_full` with all of them set."""
    rows = []
    for i in range(n_null + n_full):
        full = i >= n_null
        rows.append(
            dict(
                source="feed",
                native_id=f"at://did:plc:x/app.bsky.feed.post/{i}",
                text=f"post {i}",
                tags=["ukraine", "peace"] if full else [],
                created_at=T0 + timedelta(seconds=i),
                fetched_at=T0,
                engagement=i,
                reposts=0,
                lang="en" if full else None,
                compound=0.123456789 if full else None,
                pos=0.25 if full else None,
                neu=0.5 if full else None,
                neg=0.25 if full else None,
                scorer="vader" if full else None,
                scorer_version="3.3.2" if full else None,
                author="alice" if full else None,
                url=f"https://example.org/{i}" if full else None,
            )
        )
    with store.write() as conn:
        conn.execute(insert(SourceRow).values(name="feed", kind="scripted", settings={}))
        conn.execute(insert(Post), rows)
        stored = conn.execute(select(Post).order_by(Post.id)).mappings().all()
        conn.execute(insert(PostTopic), [link_row(dict(p), "thaw") for p in stored])


def test_a_first_batch_of_nulls_does_not_break_the_stream(store):
    """SQLite's driver guesses a column's type from the first batch: all-NULL scores there must
    not make the first real score fail the read (nor be read back as anything but itself)."""
    _insert_posts(store, n_null=12, n_full=9)
    written_elsewhere(store)
    frames = list(store.iter_posts(PostQuery(), batch_size=5))
    assert store._arrow is not None  # read through ADBC
    assert max(f.height for f in frames) == 5 and sum(f.height for f in frames) == 21
    posts = pl.concat(frames)
    assert posts["compound"].null_count() == 12
    assert posts["compound"].drop_nulls().to_list() == [0.123457] * 9  # rounded to 6 decimals
    assert posts["url"].drop_nulls().to_list() == [
        f"https://example.org/{i}" for i in range(12, 21)
    ]
    assert posts["tags"].to_list() == [[]] * 12 + [["ukraine", "peace"]] * 9
    assert posts["native_id"][0] == "at://did:plc:x/app.bsky.feed.post/0"
    assert posts["created_at"].to_list() == [T0 + timedelta(seconds=i) for i in range(21)]
    # The filters reach the database: a window and a source.
    window = pl.concat(
        store.iter_posts(
            PostQuery(
                since=T0 + timedelta(seconds=3),
                until=T0 + timedelta(seconds=7),
                sources=("feed",),
                topics=("thaw",),
            )
        )
    )
    assert window["engagement"].to_list() == [3, 4, 5, 6]
    assert sum(f.height for f in store.iter_posts(PostQuery(sources=("other",)))) == 0


def test_exports_carry_hashtags_the_platform_id_and_every_post(store, tmp_path):
    fill(store)
    written_elsewhere(store)
    out = tmp_path / "posts.ndjson"
    assert main(["--db", store.url, "export", "posts", "-o", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    stored = {p["native_id"]: p for p in store.posts()}
    assert len(lines) == len(stored)
    for line in lines:
        assert line["tags"] == stored[line["native_id"]]["tags"]  # the post's own hashtags
        assert line["source"] == stored[line["native_id"]]["source"]
    assert any(line["tags"] == ["trumpputinbusiness"] for line in lines)

    series_out = tmp_path / "series.csv"
    assert (
        main(["--db", store.url, "export", "series", "--every", "1d", "-o", str(series_out)]) == 0
    )
    series = pl.read_csv(series_out)
    assert (series["posts"] == series["n"] + series["n_unscored"]).all()
    assert series.filter(pl.col("n_unscored") > 0).height > 0
    with StoreReader(store) as reader:  # ... and every post is counted in the all-sources rows
        links = sum(len(p["topics"]) for p in reader.posts().iter_rows(named=True))
    assert series.filter(pl.col("source") == "all")["posts"].sum() == links
    for c in ("mean", "mean_lo", "pos_share", "sigma", "er3"):
        values = series[c].drop_nulls()
        assert values.len() > 0 and (values.round(6) == values).all(), c
    raw = series_out.read_text()
    assert "0000000000" not in raw and "9999999999" not in raw  # no float noise in the file


def test_a_store_written_in_this_process_is_read_with_the_same_frames(sqlite_url):
    """Python's SQLite and the ADBC driver's copy cannot see each other's locks inside one process,
    so a process that writes the store reads its posts through Python's: the frames are the same."""
    from monitor.store.db import Store

    writer = Store(sqlite_url)
    _insert_posts(writer, n_null=12, n_full=9)
    here = pl.concat(writer.iter_posts(PostQuery(), batch_size=5))
    assert writer._arrow is None  # not through ADBC
    written_elsewhere(writer)
    reader = Store(sqlite_url, migrate=False)
    elsewhere = pl.concat(reader.iter_posts(PostQuery(), batch_size=5))
    assert reader._arrow is not None
    assert here.equals(elsewhere) and here.height == 21
    reader.close()
    writer.close()
