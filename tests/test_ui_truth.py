"""Every view reads what the store holds now: late posts (backfills, imports) show at once.

The way it broke: the overview cached buckets older than two hours, so 200 posts imported
3-10 h late never reached its 24 h count while the topic screen, `monitor status` and the store
said otherwise. Each test writes late posts from another connection (or process) while a reader
holds its caches, and checks that every view says the same number as the store.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ui_support import NOW, TOPICS, sample_provider, screen_text, settle, write_posts

from monitor.outputs.api import open_store
from monitor.store.db import Store
from monitor.ui.app import DashboardApp
from monitor.ui.data import DEFAULT_WINDOW, WINDOW_BY_KEY, Request, window_bounds
from monitor.ui.status import build_status

TOPIC = TOPICS[0].name
TESTS = Path(__file__).resolve().parent


def _views(store: Store, url: str, provider) -> dict[str, int]:
    """The first topic's 24 h count as the overview, the topic screen, status and export see it."""
    overview = provider.fetch(Request(view="overview")).topic_row(TOPIC)
    topic = provider.fetch(Request(view="topic", topic=TOPIC)).detail
    status = next(t for t in build_status(store, None, now=NOW)["topics"] if t["name"] == TOPIC)
    since, until = window_bounds(DEFAULT_WINDOW, NOW)
    with open_store(url=url) as reader:
        frame = reader.series(TOPIC, since=since, until=until, every="15m")
    exported = int(frame["n"].sum())
    return {
        "overview": overview.sums.total,
        "topic": topic.row.sums.total,
        "topic by source": sum(s.sums.total for s in topic.sources),
        "status": status["posts_24h"],
        "export": exported,
    }


def test_late_posts_reach_every_view(store_url: str) -> None:
    write_posts(
        store_url,
        first=0,
        count=300,
        newest=NOW - timedelta(minutes=1),
        oldest=NOW - timedelta(hours=20),
    )
    store = Store(store_url)
    try:
        provider = sample_provider(store)
        for key in ("24h", "7d"):  # caches for two windows, both old enough to hold the late hours
            provider.fetch(Request(view="overview", window=WINDOW_BY_KEY[key]))
        assert set(_views(store, store_url, provider).values()) == {300}
        # Another connection (a collector, `monitor import`) stores 200 posts dated 3-10 h ago.
        write_posts(
            store_url,
            first=1000,
            count=200,
            newest=NOW - timedelta(hours=3),
            oldest=NOW - timedelta(hours=10),
        )
        assert _views(store, store_url, provider) == dict.fromkeys(
            ("overview", "topic", "topic by source", "status", "export"), 500
        )
        week = provider.fetch(Request(view="overview", window=WINDOW_BY_KEY["7d"])).topic_row(TOPIC)
        assert week.sums.total == 500
        # The hourly sums the spike marks are decided on come from the same reading.
        hours = provider._hours[TOPIC].hours
        start = int((NOW - timedelta(hours=10)).timestamp()) // 3600 * 3600
        counted = sum(hours.get(t).sums.total for t in range(start, start + 8 * 3600, 3600))
        assert (
            counted
            == store.sums(
                TOPIC,
                since=NOW.fromtimestamp(start, NOW.tzinfo),
                until=NOW.fromtimestamp(start + 8 * 3600, NOW.tzinfo),
            ).total
        )
    finally:
        store.close()


def test_refresh_key_reads_everything_again(sqlite_url: str) -> None:
    """`r` drops every cache: even a change the markers cannot see (a bucket deleted by hand) shows."""
    write_posts(
        sqlite_url,
        first=0,
        count=50,
        newest=NOW - timedelta(hours=5),
        oldest=NOW - timedelta(hours=6),
    )
    store = Store(sqlite_url)
    try:
        provider = sample_provider(store)
        assert provider.fetch(Request(view="overview")).topic_row(TOPIC).sums.total == 50
        with store.write() as conn:
            conn.exec_driver_sql("DELETE FROM bucket")
        assert provider.fetch(Request(view="overview")).topic_row(TOPIC).sums.total == 50  # cached
        provider.reset()
        assert provider.fetch(Request(view="overview")).topic_row(TOPIC).sums.total == 0
    finally:
        store.close()


def test_overview_shows_posts_a_second_process_stores_late(sqlite_url: str) -> None:
    """The dashboard runs on its own refresh; another process imports 200 posts dated 3-10 h
    ago; the overview's 24 h count says 500 within 2 s of that process ending."""
    write_posts(
        sqlite_url,
        first=0,
        count=300,
        newest=NOW - timedelta(minutes=1),
        oldest=NOW - timedelta(hours=20),
    )
    script = (
        f"import sys; sys.path.insert(0, {str(TESTS)!r})\n"
        "from datetime import timedelta\n"
        "from ui_support import NOW, write_posts\n"
        f"write_posts({sqlite_url!r}, first=1000, count=200, newest=NOW - timedelta(hours=3), "
        "oldest=NOW - timedelta(hours=10))\n"
    )

    async def main() -> None:
        store = Store(sqlite_url)
        app = DashboardApp(sample_provider(store), refresh_s=0.5)
        try:
            async with app.run_test(size=(120, 40)) as pilot:
                await settle(app, pilot)
                assert " 300 " in screen_text(app)
                done = await asyncio.to_thread(
                    subprocess.run,
                    [sys.executable, "-c", script],
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                assert done.returncode == 0, done.stderr
                written = time.monotonic()
                while " 500 " not in screen_text(app) and time.monotonic() - written < 2.0:
                    await asyncio.sleep(0.05)
                assert " 500 " in screen_text(app), screen_text(app)
        finally:
            store.close()

    asyncio.run(main())


def test_the_dashboard_and_the_digest_agree_on_a_day(sqlite_url: str) -> None:
    """A day in the 7-day window counts what the digest of that day counts, late posts included."""
    from datetime import date
    from zoneinfo import ZoneInfo

    from monitor.config.digests import AlertSettings
    from monitor.outputs.digest.build import build_topic_digest

    write_posts(
        sqlite_url,
        first=0,
        count=120,
        newest=NOW - timedelta(hours=15),
        oldest=NOW - timedelta(hours=30),
    )
    store = Store(sqlite_url)
    try:
        provider = sample_provider(store)
        provider.fetch(Request(view="overview", window=WINDOW_BY_KEY["7d"]))  # caches the day
        write_posts(
            sqlite_url,
            first=500,
            count=40,
            newest=NOW - timedelta(hours=16),
            oldest=NOW - timedelta(hours=20),
        )
        row = provider.fetch(Request(view="overview", window=WINDOW_BY_KEY["7d"])).topic_row(TOPIC)
        day = date(2026, 3, 2)
        start = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp())
        on_screen = sum(
            b.total
            for i, b in enumerate(row.series.sums)
            if b is not None
            and start <= row.series.start_ts + i * row.series.step_s < start + 86400
        )
        digest = build_topic_digest(
            store,
            digest="daily",
            topic=TOPIC,
            title=TOPIC,
            day=day,
            zone=ZoneInfo("UTC"),
            sources=["mastodon"],
            settings=AlertSettings(),
            now=NOW,
        )
        assert digest.volume.total == on_screen == 160  # all on Mar 2, the late 40 included
    finally:
        store.close()
