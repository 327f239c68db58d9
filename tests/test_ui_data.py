"""The dashboard's data layer against the fixed sample store (tests/ui_support.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ui_support import MARKUP_AUTHOR, NOW, TOPICS, FixedScores, FixedSource, sample_provider

from monitor.ingest.poll import Ingestor
from monitor.metrics.formulas import Display, summarize
from monitor.sources.base import Batch, RawPost
from monitor.store.db import Store
from monitor.store.models import Post
from monitor.ui.data import WINDOW_BY_KEY, LiveFilter, Request, StoreProvider

# --- the data layer ------------------------------------------------------------------------------


def test_overview_rows_follow_the_store_and_the_display_rules(provider: StoreProvider) -> None:
    snap = provider.fetch(Request(view="overview", window=WINDOW_BY_KEY["24h"]))
    rows = {r.info.name: r for r in snap.topics}
    assert list(rows) == [t.name for t in TOPICS]
    assert rows["trump-putin-business"].sums.total > 100
    assert rows["quiet-topic"].sums.total == 0
    assert summarize(rows["quiet-topic"].sums).display is Display.NO_DATA
    assert summarize(rows["dmitriev"].sums).display in (Display.COUNTS_ONLY, Display.MEAN_ONLY)
    assert len(rows["trump-putin-business"].series) == 96  # 24 h of 15-minute buckets
    spike = rows["trump-putin-business"].spikes.latest
    assert spike is not None and spike.start == datetime(2026, 3, 3, 13, 0, tzinfo=UTC)
    assert (
        rows["russia-sanctions"].spikes.checked and rows["russia-sanctions"].spikes.latest is None
    )


def test_collection_gaps_reach_the_series(provider: StoreProvider) -> None:
    """reddit failed for the last 80 minutes: those buckets are incomplete, earlier ones are not."""
    row = provider.fetch(Request(view="overview", window=WINDOW_BY_KEY["6h"])).topic_row(
        "trump-putin-business"
    )
    assert row is not None and row.gap
    gaps = [row.series.start(i) for i, g in enumerate(row.series.incomplete) if g]
    assert min(gaps) >= NOW - timedelta(minutes=90) and max(gaps) <= NOW


def test_buckets_before_collection_are_no_data_not_zero(provider: StoreProvider) -> None:
    row = provider.fetch(Request(view="overview", window=WINDOW_BY_KEY["30d"])).topic_row(
        "russia-sanctions"
    )
    assert row is not None
    assert row.series.sums[0] is None  # 30 days ago nothing was collected yet
    assert row.series.sums[-2] is not None


def test_topic_detail_breakdowns(provider: StoreProvider) -> None:
    snap = provider.fetch(
        Request(view="topic", window=WINDOW_BY_KEY["7d"], topic="trump-putin-business")
    )
    d = snap.detail
    assert d is not None
    assert {s.source for s in d.sources} == {"google-news", "mastodon", "reddit"}
    assert sum(s.sums.total for s in d.sources) == d.row.sums.total
    assert next(s for s in d.sources if s.source == "reddit").incomplete
    langs = {sl.lang: sl for sl in d.languages}
    assert langs["ru"].unscored == langs["ru"].posts > 0
    assert d.most_positive[0].compound >= d.most_positive[-1].compound > 0
    assert d.most_negative[0].compound <= d.most_negative[-1].compound < 0
    assert d.most_engaged[0].engagement == 99  # the markup post
    assert "trumpputinbusiness" not in dict(d.hashtags)  # the topic's own tag is not "co-occurring"
    assert dict(d.hashtags).keys() >= {"energy", "trade"}
    assert not d.capped


def test_detail_scan_is_capped_and_says_so(sample_store: Store) -> None:
    d = (
        sample_provider(sample_store, detail_scan=50)
        .fetch(Request(view="topic", window=WINDOW_BY_KEY["7d"], topic="trump-putin-business"))
        .detail
    )
    assert d is not None and d.capped and d.scanned == 50


def test_live_posts_newest_first_and_incremental(provider: StoreProvider) -> None:
    snap = provider.fetch(Request(view="live", live=LiveFilter(), live_limit=20))
    first = snap.posts
    assert len(first) == 20 and [p.id for p in first] == sorted((p.id for p in first), reverse=True)
    assert snap.live_cursor == first[0].id
    newer = provider.fetch(
        Request(view="live", live=LiveFilter(), live_after=first[1].id, live_limit=20)
    ).posts
    assert [p.id for p in newer] == [first[0].id]
    rare = provider.fetch(Request(view="live", live=LiveFilter(text="no post says this")))
    assert rare.posts == () and rare.live_cursor == first[0].id  # the next search starts after it


def test_history_cache_matches_a_fresh_read(sample_store: Store) -> None:
    """Cached old buckets plus a fresh tail give what one full read gives, as the window slides."""
    from monitor.ui.history import BucketHistory

    cached = BucketHistory(sample_store, recent_s=3600)
    end = int(NOW.timestamp()) // 900 * 900 + 900
    for shift in (0, 900, 7200):  # the same window, then later as the clock moves on
        start, stop = end - 96 * 900 + shift, end + shift
        args = (["trump-putin-business", "dmitriev"], ["*", "reddit"])
        got = cached.rows(*args, step_s=900, start_ts=start, end_ts=stop, now_ts=stop - 1)
        want = sample_store.bucket_series(*args, since_ts=start, until_ts=stop, every_s=900)
        assert {k: sorted(r["start_ts"] for r in v) for k, v in got.items()} == {
            k: sorted(r["start_ts"] for r in v) for k, v in want.items()
        }
        assert {k: sum(r["n_pos"] for r in v) for k, v in got.items()} == {
            k: sum(r["n_pos"] for r in v) for k, v in want.items()
        }


@pytest.mark.parametrize(
    "flt, check",
    [
        (LiveFilter(topic="russia-sanctions"), lambda p: "russia-sanctions" in p.topics),
        (LiveFilter(source="reddit"), lambda p: p.source == "reddit"),
        (
            LiveFilter(sentiment="negative"),
            lambda p: p.compound is not None and p.compound <= -0.05,
        ),
        (LiveFilter(sentiment="unscored"), lambda p: p.compound is None),
        (LiveFilter(text="MALLORY"), lambda p: p.author == MARKUP_AUTHOR),
        (LiveFilter(text="[/ b"), lambda p: "[/ b" in p.text),
        (LiveFilter(text="100%_"), lambda p: False),  # LIKE wildcards are literal
    ],
)
def test_live_filters(provider: StoreProvider, flt: LiveFilter, check) -> None:
    posts = provider.fetch(Request(view="live", live=flt, live_limit=300)).posts
    assert all(check(p) for p in posts)
    assert bool(posts) == (flt.text != "100%_")


def test_health_words_and_counts(provider: StoreProvider) -> None:
    snap = provider.fetch(Request(view="health"))
    by = {s.name: s for s in snap.sources}
    assert by["reddit"].status == "failing" and by["reddit"].consecutive_failures == 3
    # as the server said it (escapes: see UI tests)
    assert "[bold red]no[/]" in (by["reddit"].last_error or "")
    assert by["bluesky"].status == "never"
    assert by["mastodon"].status == "ok" and by["mastodon"].posts_24h is not None
    assert snap.most_urgent() is by["reddit"]
    # counts only on the health view
    assert provider.fetch(Request(view="overview")).sources[0].polls_24h is None


def test_overdue_when_the_collector_stopped(sample_store: Store) -> None:
    late = sample_provider(sample_store)
    late.clock = lambda: NOW + timedelta(hours=2)
    by = {s.name: s for s in late.fetch(Request(view="health")).sources}
    assert by["mastodon"].status == "overdue"


def test_request_key_ignores_what_does_not_change_the_view() -> None:
    a = Request(view="overview", topic="x", live=LiveFilter(), live_after=5)
    b = Request(view="overview", topic="y", live=LiveFilter(), live_after=9)
    assert a.key == b.key
    assert Request(view="topic", topic="x").key != Request(view="topic", topic="y").key


def test_markup_and_escapes_stored_as_text(sample_store: Store) -> None:
    """Defence in depth starts with the data: the stored text is what the stranger wrote."""
    from sqlalchemy import select

    with sample_store.read() as conn:
        author = conn.execute(select(Post.author).where(Post.native_id == "markup")).scalar_one()
    assert author == MARKUP_AUTHOR


def test_dashboard_queries_on_every_database(store: Store) -> None:
    """The store reads the dashboard adds, on SQLite and PostgreSQL (the `store` fixture runs both)."""
    scores = FixedScores()
    ingestor = Ingestor(store, TOPICS, scoring=scores, clock=lambda: NOW)  # type: ignore[arg-type]
    posts = []
    for k, (compound, author) in enumerate(
        [(0.6, "ann"), (-0.7, "Bob_%"), (None, "cy"), (0.0, "dee")]
    ):
        text = f"post {k} on #TrumpPutinBusiness" + (" #RussiaSanctions" if k == 3 else "")
        scores.by_text[text] = (compound, "en" if compound is not None else "ru")
        posts.append(
            RawPost(
                native_id=f"q{k}",
                text=text,
                created_at=NOW - timedelta(minutes=10 * k),
                author=author,
                tags=("Energy",),
                engagement=k,
            )
        )
    store.sync_sources([FixedSource("mastodon").settings])
    ingestor.store_batch(FixedSource("mastodon"), Batch(posts=posts, state={}), NOW)
    since, until = int((NOW - timedelta(hours=1)).timestamp()), int(NOW.timestamp()) + 60

    assert store.bucket_topics() == ["russia-sanctions", "trump-putin-business"]
    rows = store.bucket_series(
        ["trump-putin-business"], ["*", "mastodon"], since_ts=since, until_ts=until, every_s=3600
    )
    assert (
        sum(
            r["n_pos"] + r["n_neg"] + r["n_neu"] + r["n_unscored"]
            for r in rows[("trump-putin-business", "*")]
        )
        == 4
    )
    assert rows[("trump-putin-business", "*")] == rows[("trump-putin-business", "mastodon")]
    assert store.collecting_since("trump-putin-business") == NOW.replace(second=0) - timedelta(
        minutes=30
    )

    scan = store.topic_post_scan(
        "trump-putin-business", since=NOW - timedelta(hours=1), until=NOW + timedelta(1), limit=3
    )
    assert [r["engagement"] for r in scan] == [0, 1, 2]  # newest first, capped
    assert all("energy" in r["tags"] for r in scan)  # each post's own hashtags, as a list
    assert {p["author"] for p in store.posts_by_id([r["id"] for r in scan])} == {
        "ann",
        "Bob_%",
        "cy",
    }

    found, newest = store.latest_posts(contains="bob_%")  # case-insensitive; % and _ are literal
    assert [p["author"] for p in found] == ["Bob_%"] and found[0]["topics"] == [
        "trump-putin-business"
    ]
    assert store.latest_posts(contains="b_b")[0] == []
    assert [p["author"] for p in store.latest_posts(sentiment="unscored")[0]] == ["cy"]
    assert [
        p["author"] for p in store.latest_posts(sentiment="neutral", topic="russia-sanctions")[0]
    ] == ["dee"]
    assert store.latest_posts(after_id=newest)[0] == []
    assert store.poll_stats(NOW - timedelta(days=1), ["mastodon"]) == {
        "mastodon": {"polls": 1, "failed": 0, "new_posts": 4}
    }


# --- mean-sentiment shifts -----------------------------------------------------------------------


def _hour_rows(topic: str, start_ts: int, means: list[float], n: int = 20) -> list[dict]:
    """One minute-bucket row per hour: half the posts at mean+0.3, half at mean-0.3."""
    from monitor.metrics.formulas import classify
    from monitor.store.models import ALL_SOURCES

    rows = []
    for i, m in enumerate(means):
        acc = {
            "n_neg": 0,
            "n_neu": 0,
            "n_pos": 0,
            "sum_neg": 0.0,
            "sum_neu": 0.0,
            "sum_pos": 0.0,
            "sum_sq": 0.0,
        }
        for c in (m + 0.3, m - 0.3):
            k = {-1: "neg", 0: "neu", 1: "pos"}[classify(c)]
            acc[f"n_{k}"] += n // 2
            acc[f"sum_{k}"] += c * (n // 2)
            acc["sum_sq"] += c * c * (n // 2)
        rows.append(
            {
                "topic": topic,
                "source": ALL_SOURCES,
                "start_ts": start_ts + i * 3600,
                "width_s": 60,
                **acc,
                "n_unscored": 0,
                "engagement": 0,
                "incomplete": False,
            }
        )
    return rows


def test_a_fall_in_mean_sentiment_is_shown_as_a_mood_shift(tmp_path) -> None:
    """30 days around +0.10, then the last settled hours at -0.60: the EWMA rule the alerts use
    flags the fall, and the overview says so in words (the sample store has no such shift)."""
    import math

    from monitor.ingest.poll import upsert_buckets
    from monitor.ui.format import Palette
    from monitor.ui.screens.overview import spike_text

    store = Store(f"sqlite:///{tmp_path}/shift.db")
    now = datetime(2026, 3, 3, 14, 5, tzinfo=UTC)
    first = int((now - timedelta(days=31)).timestamp()) // 3600 * 3600
    n_hours = (int(now.timestamp()) // 3600 * 3600 - first) // 3600
    means = [0.10 + 0.04 * math.sin(i) for i in range(n_hours)]
    # 08:00-12:00 fall; 13:00 (unsettled) and 14:00 are quiet
    for i in range(n_hours - 6, n_hours - 1):
        means[i] = -0.60
    with store.write() as conn:
        upsert_buckets(conn, _hour_rows("t", first, means))
    topic = type(
        "T",
        (),
        {
            "name": "t",
            "title": None,
            "hashtags": [],
            "keywords": [],
            "exclude": [],
            "languages": None,
        },
    )()
    provider = StoreProvider(store, topics=[topic], sources=[], clock=lambda: now)
    row = provider.fetch(Request(view="overview", window=WINDOW_BY_KEY["24h"])).topic_row("t")
    assert row is not None and row.spikes.shift_checked
    shift = row.spikes.shift
    assert shift is not None and shift.direction == "down"
    assert (
        datetime(2026, 3, 3, 8, tzinfo=UTC) <= shift.start <= datetime(2026, 3, 3, 12, tzinfo=UTC)
    )
    assert shift.mean == pytest.approx(-0.60) and shift.baseline == pytest.approx(0.10, abs=0.02)
    assert spike_text(row, now, Palette()).plain.startswith("mood ▼ ")
    # no fall, no shift: the same history without the last hours' drop
    means[n_hours - 6 : n_hours - 1] = [0.10] * 5
    store2 = Store(f"sqlite:///{tmp_path}/calm.db")
    with store2.write() as conn:
        upsert_buckets(conn, _hour_rows("t", first, means))
    calm = (
        StoreProvider(store2, topics=[topic], sources=[], clock=lambda: now)
        .fetch(Request(view="overview", window=WINDOW_BY_KEY["24h"]))
        .topic_row("t")
    )
    assert calm is not None and calm.spikes.shift_checked and calm.spikes.shift is None
    store.close()
    store2.close()


def test_health_names_the_collector_holding_a_source(tmp_path) -> None:
    """Several collectors on one store: the health view says which one polls each source."""
    from monitor.sources.base import SourceSettings
    from monitor.store.leases import LEASE_TTL, Leases
    from monitor.ui.data import SourceInfo
    from monitor.ui.format import Palette
    from monitor.ui.screens.health import describe

    store = Store(f"sqlite:///{tmp_path}/lease.db")
    store.sync_sources([SourceSettings(name="feed", kind="rss")])
    assert Leases(store, "box-2:4711:a1b2c3", clock=lambda: NOW).acquire("feed")

    def health(at: datetime):
        provider = StoreProvider(
            store, topics=[], sources=[SourceInfo("feed", "rss")], clock=lambda: at
        )
        snap = provider.fetch(Request(view="health"))
        return snap, snap.sources[0]

    snap, feed = health(NOW)
    assert feed.collector == "box-2:4711:a1b2c3"
    assert "polled by   box-2:4711:a1b2c3" in describe(feed, snap, Palette()).plain
    # that collector died: nobody holds it
    snap, feed = health(NOW + LEASE_TTL + timedelta(seconds=1))
    assert feed.collector is None and "polled by" not in describe(feed, snap, Palette()).plain
    store.close()


def test_posts_without_words_are_their_own_scored_language_row(sqlite_url: str) -> None:
    """Emoji-only posts are scored and shown as language 'und', apart from English and from the unscored."""
    store = Store(sqlite_url)
    ingestor = Ingestor(store, TOPICS, clock=lambda: NOW)  # the real scoring pipeline
    texts = {
        "w1": "#TrumpPutinBusiness 😂😂😂",
        "w2": "😭😭 #TrumpPutinBusiness",
        "w3": "#TrumpPutinBusiness :) :)",
        "e1": "Putin deal is great news #TrumpPutinBusiness",
        "r1": "Сделка Путина выглядит очень странно, никто ничего не объясняет #TrumpPutinBusiness",
    }
    posts = [
        RawPost(native_id=k, text=t, created_at=NOW - timedelta(minutes=5))
        for k, t in texts.items()
    ]
    store.sync_sources([FixedSource("mastodon").settings])
    ingestor.store_batch(FixedSource("mastodon"), Batch(posts=posts, state={}), NOW)
    detail = (
        sample_provider(store)
        .fetch(Request(view="topic", window=WINDOW_BY_KEY["24h"], topic="trump-putin-business"))
        .detail
    )
    assert detail is not None
    langs = {sl.lang: (sl.posts, sl.unscored) for sl in detail.languages}
    assert langs == {"und": (3, 0), "en": (1, 0), "ru": (1, 1)}
    store.close()
