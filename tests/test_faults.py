"""Faults in words: a full disk is said once (not a traceback per poll), shows in `monitor status`,
and loses nothing; `config check` and closed pipes never traceback."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from monitor.collector import Collector
from monitor.config.feeds import load_config
from monitor.core.faults import DISK_FULL, classify
from monitor.store.db import Store
from monitor.ui.status import build_status

CONFIG = """
topics:
  - name: thaw
    keywords: ["Dmitriev"]
sources:
  - name: dataset
    kind: file
    path: "{path}"
    match: all
    interval: 1m
"""


def _full_disk(store: Store, limit: dict[str, int | None]) -> None:
    """SQLite's max_page_count makes the database file unable to grow: writes that need a new
    page fail with SQLITE_FULL ("database or disk is full"), as on a full disk."""

    @event.listens_for(store.engine, "connect")
    def _cap(dbapi_conn, _record):
        if limit["pages"] is not None:
            dbapi_conn.execute(f"PRAGMA max_page_count={limit['pages']}")

    store.engine.dispose()


def test_a_full_disk_is_said_once_shown_in_status_and_loses_nothing(tmp_path, caplog):
    now = datetime.now(UTC)
    data = tmp_path / "posts.jsonl"
    data.write_text(
        "".join(
            json.dumps(
                {
                    "id": str(i),
                    "text": f"Dmitriev says {i} " + "words " * 40,
                    "created_at": (now - timedelta(minutes=i % 600)).isoformat(),
                }
            )
            + "\n"
            for i in range(3000)
        )
    )
    (tmp_path / "feeds.yaml").write_text(CONFIG.format(path=data))
    config = load_config(tmp_path / "feeds.yaml")
    store = Store(f"sqlite:///{tmp_path}/m.db")
    collector = Collector(config, store)
    with store.read() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
    limit: dict[str, int | None] = {"pages": pages + 2}
    _full_disk(store, limit)
    caplog.set_level(logging.INFO)
    for _ in range(5):
        collector._run("dataset")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "the disk is full" in errors[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)  # no tracebacks
    status = build_status(store, config)
    [src] = status["sources"]
    assert src["last_outcome"] == "error" and src["last_error"].startswith("the disk is full")
    assert src["posts_total"] == 0

    limit["pages"] = None  # space was freed
    store.engine.dispose()
    caplog.clear()
    collector._run("dataset")
    assert any("accepts writes again" in r.getMessage() for r in caplog.records)
    assert store.post_counts() == {"dataset": 3000}  # the cursor had not moved: nothing was lost
    assert build_status(store, config)["sources"][0]["last_outcome"] == "ok"
    collector.stop()
    store.close()


def test_store_errors_are_classified_in_words():
    import sqlite3

    assert classify(sqlite3.OperationalError("database or disk is full")).kind == DISK_FULL
    assert classify(OSError(28, "No space left on device")).kind == DISK_FULL
    assert "cannot be reached" in classify(Exception("connection refused")).message


@pytest.mark.parametrize(
    "value",
    [
        ".inf",
        "-.inf",
        ".nan",
        "1e400",
        "99999999999999999999999",
        "1e20",
        "9999999999d",
        "1e308s",
        "[1, 2]",
        "{a: 1}",
    ],
)
def test_config_check_never_tracebacks_on_numbers(tmp_path, value):
    path = tmp_path / "feeds.yaml"
    path.write_text(
        f"topics:\n  - name: t\n    keywords: [x]\nsources:\n  - name: f\n    kind: rss\n"
        f"    url: https://example.org/feed\n    interval: {value}\n    timeout: {value}\n"
    )
    r = subprocess.run(
        [sys.executable, "-m", "monitor", "config", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 2 and "interval" in r.stderr


def test_a_closed_pipe_is_not_a_traceback(tmp_path):
    path = tmp_path / "feeds.yaml"
    sources = "".join(
        f"  - name: f{i}\n    kind: rss\n    url: https://example.org/{i}\n" for i in range(3000)
    )
    path.write_text(f"topics:\n  - name: t\n    keywords: [x]\nsources:\n{sources}")
    r = subprocess.run(
        f"{sys.executable} -m monitor config check {path} | head -2",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert len(r.stdout.splitlines()) == 2
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr, r.stderr
