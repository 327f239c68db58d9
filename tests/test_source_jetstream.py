"""The Jetstream source against the simulator's replay: filtering, batching, resume, reconnects, deletes."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from monitor.collector import Collector
from monitor.config.feeds import load_config
from monitor.core.text import sanitize
from monitor.ingest.match import TopicMatcher
from monitor.ingest.poll import Ingestor
from monitor.simulator.corpus import BURST_WINDOW
from monitor.simulator.platforms import jetstream as jsim
from monitor.simulator.platforms.atproto import at_uri, time_us
from monitor.sources.base import Batch, RawPost, Source, SourceSettings
from monitor.sources.bluesky import BlueskySettings, BlueskySource
from monitor.sources.http import make_client
from monitor.sources.jetstream import JetstreamSettings, JetstreamSource, Prefilter
from monitor.store.db import Store
from monitor.store.models import PostTopic

START, END = BURST_WINDOW[0] - 1800, BURST_WINDOW[1]
TOPICS = [
    SimpleNamespace(
        name="thaw",
        title=None,
        hashtags=["#TrumpPutinBusiness", "#TrumpPutin"],
        keywords=["Dmitriev"],
        exclude=[],
        languages=None,
    )
]


@pytest.fixture
def sqlite_store(sqlite_url):
    s = Store(sqlite_url)
    yield s
    s.close()


def source(sim, **kw):
    kw.setdefault("url", sim.url)
    kw.setdefault("catch_up_idle", "0.3s")
    kw.setdefault("reconnect_min", "50ms")
    kw.setdefault("reconnect_max", "200ms")
    return JetstreamSource(
        JetstreamSettings(name=kw.pop("name", "firehose"), kind="jetstream", **kw), TOPICS, None
    )


def freeze(sim, offset_s):
    sim.clock.set_offset(offset_s)
    sim.clock.pause()


def expected(sim, lo_s, hi_s):
    """at:// uris of matching Bluesky posts the replay sends between sim offsets lo_s and hi_s."""
    matcher = TopicMatcher(TOPICS)
    seq, epoch = sim.index.seq, sim.clock.epoch
    lo, hi = [int((epoch + timedelta(seconds=s)).timestamp() * 1e6) for s in (lo_s, hi_s)]
    return {
        at_uri(p, seq[p.id], epoch)
        for p in sim.corpus
        if p.platform == "bluesky"
        and lo <= time_us(p, seq[p.id], epoch) <= hi
        and matcher.match(sanitize(p.text), p.hashtags)
    }


def stored(store):
    ids = [p["native_id"] for p in store.posts()]
    assert len(ids) == len(set(ids)), "a post was stored twice"
    return set(ids)


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


# --- filtering ---------------------------------------------------------------------------------------------------


def test_the_prefilter_passes_every_way_a_topic_can_appear_and_little_else():
    topics = TOPICS + [SimpleNamespace(name="ru", hashtags=["#ТрампПутин"], keywords=["Straße"])]
    pf = Prefilter(topics)
    frame = '{"did":"did:plc:x","time_us":1,"kind":"commit","commit":{"operation":"create","record":{"text":%s}}}'
    for text in [
        '"so the #trumpputinbusiness talks"',
        '"DMITRIEV says"',
        '"#ТРАМППУТИН"',
        '"Russia #RussiaSanctions and #TrumpPutin"',
        '"#\\u0422\\u0440\\u0430\\u043c\\u043f\\u041f\\u0443\\u0442\\u0438\\u043d"',
        '"die STRASSE"',
        '"die Stra\u00dfe"',
    ]:
        assert pf.passes(frame % text), text
    assert pf.passes(
        '{"commit":{"operation":"delete","collection":"app.bsky.feed.post","rkey":"3x"}}'
    )
    for text in ['"my cat made my day"', '"small business saturday"', '"deleted it all"']:
        assert not pf.passes(frame % text), text


def test_settings_in_words():
    assert (
        JetstreamSettings(name="j", kind="jetstream", url="https://jet.example").url
        == "wss://jet.example/subscribe"
    )
    assert JetstreamSettings(name="j", kind="jetstream").url.startswith("wss://jetstream")
    with pytest.raises(ValueError, match="match: all would store every post on Bluesky"):
        JetstreamSettings(name="j", kind="jetstream", match="all")
    with pytest.raises(ValueError, match="without \\?query"):
        JetstreamSettings(name="j", kind="jetstream", url="wss://jet.example/subscribe?cursor=1")
    with pytest.raises(ValueError, match="not a websocket address"):
        JetstreamSettings(name="j", kind="jetstream", url="ftp://jet.example")


# --- one pass, resume, dedupe ------------------------------------------------------------------------------------


def test_a_catch_up_pass_stores_the_matching_posts_of_the_backfill_window(simulator, sqlite_store):
    jsim.configure(simulator, noise_per_post=5)
    freeze(simulator, END)
    src = source(simulator, backfill="2h")
    out = src.catch_up(Ingestor(sqlite_store, TOPICS, clock=simulator.clock.now))
    want = expected(simulator, END - 7200, END)
    assert out.outcome == "ok" and out.new_posts == len(want) > 50
    assert stored(sqlite_store) == want
    # noise never parsed
    assert src.stats.frames > 5 * len(want) and src.stats.parsed < src.stats.frames / 3
    cursor = sqlite_store.source_state("firehose")["state"]["time_us"]
    assert cursor >= max(
        time_us(p, simulator.index.seq[p.id], simulator.clock.epoch)
        for p in simulator.corpus
        if p.platform == "bluesky" and p.offset_s <= END - 1
    )


def test_after_a_restart_it_resumes_from_the_stored_cursor_minus_the_rewind(
    simulator, sqlite_store
):
    ingestor = Ingestor(sqlite_store, TOPICS, clock=simulator.clock.now)
    freeze(simulator, START)
    source(simulator, backfill="1h").catch_up(ingestor)
    cursor = sqlite_store.source_state("firehose")["state"]["time_us"]
    freeze(simulator, END)
    # a new process: the store only
    out = source(simulator, backfill="1h", rewind="5s").catch_up(ingestor)
    assert jsim.replay(simulator).cursors[-1] == cursor - 5_000_000
    assert out.outcome == "ok" and stored(sqlite_store) == expected(simulator, START - 3600, END)


def test_a_post_found_by_search_is_not_stored_again_from_the_stream(
    simulator, sqlite_store, monkeypatch
):
    monkeypatch.setenv("BLUESKY_HANDLE", "w.bsky.social")
    monkeypatch.setenv("BLUESKY_APP_PASSWORD", "x")
    ingestor = Ingestor(sqlite_store, TOPICS, clock=simulator.clock.now)
    freeze(simulator, END)
    with make_client(timeout=5) as http:
        search = BlueskySource(
            BlueskySettings(name="bsky", kind="bluesky", service=simulator.url, backfill="1h"),
            TOPICS,
            http,
        )
        found = ingestor.poll(search).new_posts
    out = source(simulator, backfill="1h").catch_up(ingestor)
    assert found > 20 and out.duplicates == found and out.new_posts == 0


# --- deletes -----------------------------------------------------------------------------------------------------


def test_deletes_remove_stored_posts_and_their_share_of_the_rollups(simulator, sqlite_store):
    matching = sorted(
        (
            p
            for p in simulator.corpus
            if p.platform == "bluesky"
            and START < p.offset_s < END - 600
            and TopicMatcher(TOPICS).match(sanitize(p.text), p.hashtags)
        ),
        key=lambda p: p.offset_s,
    )
    early, late = matching[0], matching[-1]
    # late is gone before the pass sees it
    jsim.configure(simulator, deletes={early.id: 300, late.id: 1})
    ingestor = Ingestor(sqlite_store, TOPICS, clock=simulator.clock.now)
    freeze(simulator, early.offset_s + 60)
    src = source(simulator, backfill="1h", flush_interval="10s")
    src.catch_up(ingestor)
    uri = lambda p: at_uri(p, simulator.index.seq[p.id], simulator.clock.epoch)  # noqa: E731
    assert uri(early) in stored(sqlite_store)
    before = sqlite_store.sums("thaw").total
    freeze(simulator, END)
    src.catch_up(ingestor)
    now = stored(sqlite_store)
    assert uri(early) not in now and uri(late) not in now
    assert now == expected(simulator, early.offset_s + 60 - 3600, END) - {uri(early), uri(late)}
    assert sqlite_store.sums("thaw").total == len(now) and sqlite_store.sums("thaw").total > before
    # late was never stored: its create and delete cancelled in one batch
    assert src.stats.deleted == 1


class Scripted(Source):
    kind = "scripted"
    Settings = SourceSettings

    def fetch(self, state, ctx):  # pragma: no cover - only store_batch is used
        raise NotImplementedError


def test_delete_posts_takes_them_out_of_every_bucket(store):
    """On SQLite and PostgreSQL: one transaction, bucket sums back to what the others add up to."""
    topics = [
        SimpleNamespace(
            name="thaw", title=None, hashtags=["#Thaw"], keywords=[], exclude=[], languages=None
        )
    ]
    t0 = datetime(2026, 3, 18, 12, 0, tzinfo=UTC)
    ingestor = Ingestor(store, topics, clock=lambda: t0)
    src = Scripted(SourceSettings(name="s", kind="scripted"), topics, None)
    posts = [
        RawPost(
            native_id=f"n{i}", canonical_id=f"at://x/{i}", text=text, created_at=t0, engagement=i
        )
        for i, text in enumerate(
            ["A wonderful, great #Thaw", "A terrible, awful #Thaw", "Plain #Thaw"]
        )
    ]
    ingestor.store_batch(src, Batch(posts=posts, state={}), t0)
    all_three = store.sums("thaw")
    assert ingestor.delete_posts("s", ["at://x/0", "n1", "at://x/404"]) == 2
    assert ingestor.delete_posts("s", ["at://x/0"]) == 0  # a replayed delete is harmless
    left = store.sums("thaw")
    assert left.total == 1 and all_three.total == 3
    assert abs(left.sum_pos + left.sum_neg + left.sum_neu - posts_compound(store)) < 1e-9
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(PostTopic)).scalar_one() == 1


def posts_compound(store):
    return sum(p["compound"] or 0.0 for p in store.posts())


# --- the running stream ------------------------------------------------------------------------------------------

CONFIG = """
topics:
  - name: thaw
    hashtags: ["#TrumpPutinBusiness", "#TrumpPutin"]
    keywords: ["Dmitriev"]
sources:
  - name: firehose
    kind: jetstream
    url: "{url}"
    backfill: 1h
    flush_interval: 100ms
    reconnect_min: 50ms
    reconnect_max: 200ms
"""


def test_the_collector_streams_and_reconnects_after_a_drop_losing_nothing(
    simulator, sqlite_store, tmp_path
):
    path = tmp_path / "feeds.yaml"
    path.write_text(CONFIG.format(url=simulator.url))
    freeze(simulator, START)
    collector = Collector(load_config(path), sqlite_store, clock=simulator.clock.now)
    collector.start()
    try:
        first = expected(simulator, START - 3600, START)
        assert wait_for(lambda: stored(sqlite_store) == first)
        jsim.drop_connections(simulator)
        freeze(simulator, END)
        assert wait_for(lambda: stored(sqlite_store) == expected(simulator, START - 3600, END))
        assert jsim.replay(simulator).connections >= 2
    finally:
        collector.stop()
    assert not any(t.is_alive() for t in threading.enumerate() if t.name == "stream:firehose")
    assert sqlite_store.source_state("firehose")["last_outcome"] == "ok"


def test_an_unreachable_stream_is_reported_in_words_and_retried(simulator, sqlite_store):
    freeze(simulator, START)
    simulator.set_faults(status=503, path_prefix="/subscribe")
    src = source(simulator, backfill="1h")
    stop = threading.Event()
    thread = threading.Thread(
        target=src.run, args=(Ingestor(sqlite_store, TOPICS, clock=simulator.clock.now), stop)
    )
    thread.start()
    try:
        state = lambda: sqlite_store.source_state("firehose") or {}  # noqa: E731
        assert wait_for(lambda: (state().get("consecutive_failures") or 0) >= 2)
        assert (
            "could not open the Jetstream connection" in state()["last_error"]
            and "503" in state()["last_error"]
        )
        simulator.clear_faults()
        assert wait_for(lambda: state().get("last_outcome") == "ok")
        assert state()["consecutive_failures"] == 0
        assert stored(sqlite_store) == expected(simulator, START - 3600, START)
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


def test_a_one_off_poll_reads_until_caught_up(simulator, sqlite_store, tmp_path):
    path = tmp_path / "feeds.yaml"
    path.write_text(CONFIG.format(url=simulator.url))
    freeze(simulator, END)
    collector = Collector(load_config(path), sqlite_store, clock=simulator.clock.now)
    outcome = collector.poll("firehose")
    collector.stop()
    assert outcome.outcome == "ok" and outcome.new_posts == len(
        expected(simulator, END - 3600, END)
    )
