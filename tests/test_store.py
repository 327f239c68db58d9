"""The store: migrations equal the models, WAL lets readers and the collector work together."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from monitor.store.db import Store


def test_migrations_build_exactly_the_models_schema(store):
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, SQLModel.metadata)
    assert diff == [], f"models and migrations disagree; add a migration: {diff}"


def test_upgrade_is_idempotent_and_records_the_head(store_url):
    Store(store_url).close()
    s = Store(store_url)  # a second start on an existing store
    with s.read() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        tables = set(inspect(conn).get_table_names())
    s.close()
    from alembic.script import ScriptDirectory

    from monitor.store.db import MIGRATIONS

    # one head, and the store is at it
    assert version == ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert {
        "post",
        "post_topic",
        "bucket",
        "source",
        "source_state",
        "poll_log",
        "repost",
    } <= tables


def test_sqlite_runs_in_wal_with_a_busy_timeout(sqlite_url):
    s = Store(sqlite_url)
    with s.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10000
    s.close()


def test_a_reader_holding_a_transaction_never_blocks_the_writer(sqlite_url):
    s = Store(sqlite_url)
    from monitor.store.models import SourceRow

    reading = threading.Event()
    release = threading.Event()

    def reader():
        with s.read() as conn:
            conn.exec_driver_sql("SELECT count(*) FROM post").scalar()
            reading.set()
            release.wait(10)

    t = threading.Thread(target=reader)
    t.start()
    assert reading.wait(5)
    with s.write() as conn:  # would raise "database is locked" after the timeout if blocked
        conn.execute(SourceRow.__table__.insert().values(name="w", kind="rss", settings={}))
    release.set()
    t.join()
    assert s.source_states()[0]["name"] == "w"
    s.close()


def test_datetimes_come_back_timezone_aware_utc(store):
    from monitor.store.models import PollLog

    when = datetime(2026, 3, 18, 9, 30, tzinfo=UTC)
    with store.write() as conn:
        conn.execute(PollLog.__table__.insert().values(source="x", started_at=when, outcome="ok"))
    (row,) = store.poll_log()
    assert row["started_at"] == when and row["started_at"].utcoffset().total_seconds() == 0


def test_a_naive_datetime_is_refused(store):
    from monitor.store.models import PollLog

    with pytest.raises(Exception, match="naive"):
        with store.write() as conn:
            conn.execute(
                PollLog.__table__.insert().values(
                    source="x", started_at=datetime(2026, 1, 1), outcome="ok"
                )
            )
