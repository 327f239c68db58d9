"""Scheduling: backoff that honours Retry-After and never gives up; one run at a time per source."""

from __future__ import annotations

import random
import threading
import time
from datetime import timedelta

import pytest
from collector_support import two_feeds

from monitor.collector import Collector, backoff_delay
from monitor.store.db import Store


def test_backoff_grows_exponentially_and_is_capped():
    rng = random.Random(1)
    interval = timedelta(minutes=5)
    delays = [backoff_delay(interval, f, rng=rng) for f in range(1, 12)]
    assert delays[0] <= interval * 1.2
    assert delays[3] >= interval * 8 * 0.8  # 2^3
    assert max(delays) <= timedelta(hours=1) * 1.2  # capped, never given up (always a finite retry)
    assert all(d > timedelta(0) for d in delays)


def test_backoff_has_jitter_and_honours_retry_after():
    interval = timedelta(seconds=30)
    spread = {backoff_delay(interval, 3, rng=random.Random(i)).total_seconds() for i in range(20)}
    assert len(spread) > 10 and min(spread) >= 96 and max(spread) <= 144
    assert backoff_delay(interval, 1, retry_after=600).total_seconds() >= 600
    assert backoff_delay(interval, 1, retry_after=10**9) <= timedelta(hours=24)


def test_a_short_interval_still_backs_off_to_a_sane_cap():
    d = backoff_delay(timedelta(seconds=1), 50, rng=random.Random(0))
    assert timedelta(seconds=40) <= d <= timedelta(seconds=72)


@pytest.fixture
def config(tmp_path, simulator):
    return two_feeds(tmp_path, simulator, "300ms")


def test_scheduled_collector_polls_every_source_and_stores_next_poll(config, sqlite_url):
    store = Store(sqlite_url)
    c = Collector(config, store)
    c.start()
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            states = {s["name"]: s for s in store.source_states()}
            if all((states.get(n) or {}).get("last_outcome") for n in ("tags", "all")) and all(
                states[n]["next_poll_at"] for n in ("tags", "all")
            ):
                break
            time.sleep(0.1)
    finally:
        # Read before stopping: at a 300 ms interval a next poll may be under way, and stopping
        # cuts it short (recorded as such), which is not what this test is about.
        states = {s["name"]: s for s in store.source_states()}
        c.stop()
    assert states["tags"]["last_outcome"] in ("ok", "not_modified")
    assert states["all"]["posts_total"] > 0
    assert states["all"]["next_poll_at"] is not None
    store.close()


def test_failing_source_backs_off_and_recovers(config, sqlite_url, simulator):
    store = Store(sqlite_url)
    c = Collector(config, store)
    simulator.set_faults(status=503, retry_after=1, path_prefix="/tags/")
    c.start()
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            st = store.source_state("tags")
            if st and st["consecutive_failures"] >= 2:
                break
            time.sleep(0.1)
        st = store.source_state("tags")
        assert st["consecutive_failures"] >= 2 and "503" in st["last_error"]
        assert st["next_poll_at"] is not None
        # the others keep going
        assert store.source_state("all")["last_outcome"] in (
            "ok",
            "not_modified",
        )
        simulator.clear_faults()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and store.source_state("tags")["consecutive_failures"]:
            time.sleep(0.1)
        st = store.source_state("tags")
        assert st["consecutive_failures"] == 0 and st["last_error"] is None
    finally:
        c.stop()
        store.close()


def test_one_run_at_a_time_per_source(config, sqlite_url, simulator):
    store = Store(sqlite_url)
    c = Collector(config, store)
    active, peak = 0, 0
    lock = threading.Lock()
    real_poll = c.ingestor.poll

    def slow_poll(source):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            time.sleep(1.0)  # longer than the 300 ms interval
            return real_poll(source)
        finally:
            with lock:
                active -= 1

    c.ingestor.poll = slow_poll
    c.sources = {"all": c.sources["all"]}
    c.start()
    time.sleep(3.5)
    c.stop()
    store.close()
    assert peak == 1
