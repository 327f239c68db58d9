"""Several collectors on one database: every source is polled by exactly one of them, a dead
collector's sources are taken over after the lease runs out, a clean stop hands them back."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from collector_support import two_feeds
from sqlalchemy import func, select

from monitor.collector import Collector
from monitor.store.db import Store, utcnow
from monitor.store.leases import LEASE_TTL
from monitor.store.models import PollLog


@pytest.fixture
def config(tmp_path, simulator):
    return two_feeds(tmp_path, simulator, "200ms")


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):
        return self.now


def polls(store: Store, source: str) -> int:
    with store.read() as conn:
        return conn.execute(
            select(func.count()).select_from(PollLog).where(PollLog.source == source)
        ).scalar_one()


@pytest.fixture
def two(config, store):
    """Collectors A and B, each with its own connection pool, as two processes would have."""
    clock_a, clock_b = Clock(), Clock()
    a = Collector(config, Store(store.url), clock=clock_a)
    b = Collector(config, Store(store.url), clock=clock_b)
    yield a, b, clock_a, clock_b
    for c in (a, b):
        c.stop()
        c.store.close()


def test_a_source_held_by_one_collector_is_skipped_by_the_other(two, store):
    a, b, _, _ = two
    a._run("all")
    assert polls(store, "all") == 1
    b._run("all")
    assert polls(store, "all") == 1  # B saw A's lease and did not poll
    state = store.source_state("all")
    assert state["lease_owner"] == a.leases.owner and state["lease_expires_at"] > utcnow()
    a._run("all")  # the holder keeps polling
    assert polls(store, "all") == 2


def test_a_dead_collectors_sources_are_taken_over_once_the_lease_runs_out(two, store):
    a, b, _, clock_b = two
    a._run("tags")  # ... and then A dies without a word
    clock_b.now = utcnow() + LEASE_TTL - timedelta(seconds=5)
    b._run("tags")
    assert polls(store, "tags") == 1
    clock_b.now = utcnow() + LEASE_TTL + timedelta(seconds=5)
    b._run("tags")
    assert polls(store, "tags") == 2
    assert store.source_state("tags")["lease_owner"] == b.leases.owner


def test_a_clean_stop_hands_the_sources_back_at_once(config, store):
    a = Collector(config, Store(store.url))
    a.start()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not all(
        (store.source_state(n) or {}).get("lease_owner") for n in ("tags", "all")
    ):
        time.sleep(0.05)
    assert store.source_state("all")["lease_owner"] == a.leases.owner
    a.stop()
    a.store.close()
    assert all(store.source_state(n)["lease_owner"] is None for n in ("tags", "all"))
    b = Collector(config, Store(store.url))
    before = polls(store, "all")
    b._run("all")
    assert polls(store, "all") == before + 1
    b.stop()
    b.store.close()


def test_two_running_collectors_never_poll_the_same_source(config, store):
    """Both run their schedules for real at once; each source's polls all come from one of them."""
    collectors = [Collector(config, Store(store.url)) for _ in range(2)]
    seen: Counter = Counter()
    lock = threading.Lock()
    for i, c in enumerate(collectors):
        real = c.ingestor.poll

        def record(source, _real=real, _i=i):
            with lock:
                seen[(source.name, _i)] += 1
            return _real(source)

        c.ingestor.poll = record
    for c in collectors:
        c.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and sum(seen.values()) < 12:
            time.sleep(0.05)
        with lock:  # while both run: the first to stop hands its sources to the other, rightly
            running = Counter(seen)
    finally:
        for c in collectors:
            c.stop()
            c.store.close()
    assert sum(running.values()) >= 12
    for name in ("tags", "all"):
        pollers = {i for (n, i) in running if n == name}
        assert len(pollers) == 1, (name, running)


class FakeStream:
    """A streaming source that runs until told to stop."""

    streaming = True

    def __init__(self, name: str) -> None:
        self.name = name
        self.running = threading.Event()
        self.stopped = threading.Event()

    def run(self, ingestor, stop, on_flush=None) -> None:
        self.running.set()
        stop.wait(30)
        self.stopped.set()


def test_a_stream_runs_on_one_collector_and_moves_when_its_lease_is_taken(two, store):
    a, b, _, clock_b = two
    stream_a, stream_b = FakeStream("tags"), FakeStream("tags")
    a.sources["tags"], b.sources["tags"] = stream_a, stream_b
    a._keep_leases()
    assert stream_a.running.wait(5)
    b._keep_leases()
    time.sleep(0.2)
    assert not stream_b.running.is_set()  # A holds it
    clock_b.now = utcnow() + LEASE_TTL + timedelta(seconds=5)  # A stalled past its lease
    b._keep_leases()
    assert stream_b.running.wait(5)
    a._keep_leases()  # A wakes up, finds the lease gone and stops its copy of the stream
    assert stream_a.stopped.wait(5)
    assert store.source_state("tags")["lease_owner"] == b.leases.owner


def test_status_names_the_collector_polling_each_source(two, store, config):
    from monitor.ui.status import build_status

    a, _, _, _ = two
    a._run("all")
    sources = {s["name"]: s for s in build_status(store, config)["sources"]}
    assert sources["all"]["collector"] == a.leases.owner
    assert sources["tags"]["collector"] is None  # nobody has polled it
    a.leases.release()
    assert {s["name"]: s for s in build_status(store, config)["sources"]}["all"][
        "collector"
    ] is None


@pytest.mark.postgres
def test_on_postgresql_leases_run_on_the_servers_clock(pg_url, config, monkeypatch):
    """Collectors on several machines share PostgreSQL: a collector whose own clock runs ten
    minutes ahead (or behind) neither takes a live lease nor loses its own early."""
    import monitor.store.leases as leases_mod
    from monitor.store.leases import Leases

    store = Store(pg_url)
    store.sync_sources(config.sources)
    with store.read() as conn:
        server_now = conn.execute(select(func.now())).scalar_one()
    a, b = Leases(store, "a"), Leases(store, "b")
    assert a.acquire("all")
    expires = store.source_state("all")["lease_expires_at"]
    assert abs((expires - (server_now + LEASE_TTL)).total_seconds()) < 30

    for skew in (timedelta(minutes=10), -timedelta(minutes=10)):
        monkeypatch.setattr(leases_mod, "utcnow", lambda skew=skew: utcnow() + skew)
        assert not b.acquire("all")  # ahead: the lease is not seen as expired
        assert a.renew() == {"all"}  # behind: the renewal does not write an expiry in the past
        assert store.source_state("all")["lease_owner"] == "a"
        assert store.source_state("all")["lease_expires_at"] > utcnow()
    # the local clock is not what decides; with the server's time past the expiry, B takes it
    with store.write() as conn:
        conn.exec_driver_sql(
            "UPDATE source_state SET lease_expires_at = now() - interval '1 second'"
        )
    assert b.acquire("all") and store.source_state("all")["lease_owner"] == "b"
    store.close()
