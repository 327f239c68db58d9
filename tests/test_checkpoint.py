"""SQLite checkpoints on their own thread: commits stop checkpointing, the WAL stays bounded,
and the dashboard's and exports' reads go on while the collector writes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import polars as pl
from sqlalchemy import func, insert, select

from monitor.ingest.poll import upsert_buckets
from monitor.store.checkpoint import Checkpointer
from monitor.store.db import PostQuery, Store
from monitor.store.models import ALL_SOURCES, Post, PostTopic, link_row

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def _write_batch(store: Store, k: int, n: int = 200) -> None:
    """One poll's worth: n posts, their topic links and bucket sums, in one transaction."""
    with store.write() as conn:
        first = conn.execute(select(func.coalesce(func.max(Post.id), 0))).scalar_one() + 1
        conn.execute(
            insert(Post),
            [
                dict(
                    source="feed",
                    native_id=f"{k}-{i}",
                    text="x" * 300,
                    tags=["a"],
                    created_at=T0 + timedelta(seconds=k * n + i),
                    fetched_at=T0,
                    compound=0.5,
                )
                for i in range(n)
            ],
        )
        conn.execute(
            insert(PostTopic),
            [
                link_row(
                    dict(
                        id=first + i,
                        created_at=T0 + timedelta(seconds=k * n + i),
                        compound=0.5,
                        tags=["a"],
                    ),
                    "thaw",
                )
                for i in range(n)
            ],
        )
        upsert_buckets(
            conn,
            [
                {
                    "topic": "thaw",
                    "source": s,
                    "start_ts": int(T0.timestamp()) + 60 * (k % 50),
                    "width_s": 60,
                    "n_neg": 0,
                    "n_neu": 0,
                    "n_pos": n,
                    "sum_neg": 0.0,
                    "sum_neu": 0.0,
                    "sum_pos": 0.5 * n,
                    "sum_sq": 0.25 * n,
                    "n_unscored": 0,
                    "engagement": 0,
                    "incomplete": False,
                }
                for s in ("feed", ALL_SOURCES)
            ],
        )


def _autocheckpoint(store: Store) -> int:
    with store.write() as conn:
        return conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()


def test_commits_do_not_checkpoint_while_the_thread_does(sqlite_url):
    store = Store(sqlite_url)
    assert _autocheckpoint(store) == 1000
    assert store.start_checkpointer(interval_s=60)
    assert _autocheckpoint(store) == 0
    store.stop_checkpointer()
    # a store used on after the collector stops checkpoints again
    assert _autocheckpoint(store) == 1000
    store.close()


def test_the_wal_is_emptied_once_past_its_bound_after_a_reader_let_it_grow(sqlite_url, tmp_path):
    store = Store(sqlite_url)
    store.start_checkpointer(interval_s=3600)  # only the explicit rounds below
    _write_batch(store, 0, 10)
    cp = Checkpointer(tmp_path / "monitor.db", max_wal_bytes=256 * 1024)
    # a long export holds its snapshot: a PASSIVE checkpoint cannot finish
    with store.read() as conn:
        conn.execute(select(func.count()).select_from(Post)).scalar_one()
        for k in range(1, 8):
            _write_batch(store, k)
        assert cp.wal.stat().st_size > cp.max_wal_bytes
        busy, pages, copied = cp.run_once()
        assert copied < pages  # the reader's snapshot keeps the newest frames in the WAL
    assert cp.run_once()[0] == 0  # reader gone: TRUNCATE empties the file
    assert cp.wal.stat().st_size == 0 and cp.truncations == 2
    cp.stop()
    assert store.sums("thaw").n_pos == 10 + 7 * 200
    store.close()


def test_reads_keep_working_while_the_collector_writes_and_checkpoints_run(sqlite_url, tmp_path):
    store = Store(sqlite_url)
    store.start_checkpointer(interval_s=0.005, max_wal_bytes=512 * 1024)
    reader = Store(sqlite_url, migrate=False)  # the dashboard or an export: another process's view
    errors: list[BaseException] = []
    done = threading.Event()
    seen: list[int] = []

    def write() -> None:
        try:
            for k in range(40):
                _write_batch(store, k)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            done.set()

    def read() -> None:
        try:
            while not done.is_set():
                rows = reader.bucket_series(
                    ["thaw"], [ALL_SOURCES], since_ts=0, until_ts=2**40, every_s=3600
                )
                posts = pl.concat(
                    [
                        pl.DataFrame(schema={"id": pl.Int64}),
                        *reader.iter_posts(PostQuery(topics=("thaw",)), batch_size=500),
                    ],
                    how="diagonal",
                )
                n_buckets = sum(r["n_pos"] for r in rows[("thaw", ALL_SOURCES)])
                # whole polls only, never half of one
                assert n_buckets % 200 == 0 and posts.height % 200 == 0
                seen.append(posts.height)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=write),
        threading.Thread(target=read),
        threading.Thread(target=read),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert seen and store.sums("thaw").n_pos == 40 * 200
    assert sum(f.height for f in reader.iter_posts(PostQuery())) == 40 * 200
    cp = store._checkpointer
    store.stop_checkpointer()  # one last round on stop: past its bound, the WAL is emptied
    assert cp.checkpoints > 1
    assert (tmp_path / "monitor.db-wal").stat().st_size <= 512 * 1024
    store.close()
    reader.close()


def test_exports_through_adbc_read_whole_polls_while_another_process_writes(sqlite_url):
    """The usual set-up: the collector (with its checkpoint thread) in one process, an export or a
    notebook reading the posts through ADBC in another."""
    import subprocess
    import sys
    from pathlib import Path

    Store(sqlite_url).close()  # the schema; nothing written from this process
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys; sys.path.insert(0, sys.argv[2]);"
                "from test_checkpoint import _write_batch; from monitor.store.db import Store;"
                "s = Store(sys.argv[1]); s.start_checkpointer(interval_s=0.005, max_wal_bytes=256 * 1024);"
                "[_write_batch(s, k) for k in range(40)]; s.close()"
            ),
            sqlite_url,
            str(Path(__file__).parent),
        ]
    )
    reader = Store(sqlite_url, migrate=False)
    heights = []
    try:
        while child.poll() is None:
            frames = list(reader.iter_posts(PostQuery(topics=("thaw",)), batch_size=300))
            heights.append(sum(f.height for f in frames))
            assert heights[-1] % 200 == 0  # one snapshot: whole polls only
            assert all(f["id"].is_sorted() for f in frames)
        assert child.wait() == 0
        assert reader._arrow is not None  # it was the ADBC path
        assert sum(f.height for f in reader.iter_posts(PostQuery())) == 40 * 200
    finally:
        child.kill()
        reader.close()
    assert len(heights) > 1
