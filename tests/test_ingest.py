"""The ingest spine on SQLite and on a real PostgreSQL: one transaction per poll, dedupe, rollups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import polars as pl
import pytest
from scripted import ScriptedSource
from sqlalchemy import func, select

from monitor.ingest import poll as ingest_mod
from monitor.ingest.poll import Ingestor
from monitor.metrics.formulas import BucketSums
from monitor.sources.base import Batch, RawPost, SourceError, SourceSettings
from monitor.store.models import Bucket, PollLog, Post, PostTopic

T0 = datetime(2026, 3, 18, 12, 0, tzinfo=UTC)


def topic(name, hashtags=(), keywords=(), exclude=(), languages=None):
    return SimpleNamespace(
        name=name,
        title=None,
        hashtags=list(hashtags),
        keywords=list(keywords),
        exclude=list(exclude),
        languages=languages,
    )


TOPICS = [
    topic(
        "thaw",
        hashtags=["#TrumpPutinBusiness", "#ТрампПутин"],
        keywords=["Dmitriev"],
        exclude=["giveaway"],
    ),
    topic("sanctions", hashtags=["#RussiaSanctions"], keywords=["Russia sanctions"]),
]


class Scripted(ScriptedSource):
    def __init__(self, name="scripted", script=(), **settings):
        super().__init__(SourceSettings(name=name, kind="scripted", **settings), TOPICS, script)


def post(i, text, minutes=0, **kw):
    return RawPost(native_id=str(i), text=text, created_at=T0 + timedelta(minutes=minutes), **kw)


@pytest.fixture
def ingestor(store):
    return Ingestor(store, TOPICS, clock=lambda: T0 + timedelta(hours=1))


def count(store, model):
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def test_poll_stores_posts_links_buckets_and_state_together(store, ingestor):
    posts = [
        post(1, "Great news, a wonderful deal! #TrumpPutinBusiness", 0),
        post(2, "This deal is a terrible, shameful betrayal #TrumpPutinBusiness", 1),
        post(3, "Dmitriev says talks continue", 1),
        post(4, "Russia sanctions may be lifted soon", 2),
        post(5, "Nothing to do with the story at all", 2),
    ]
    src = Scripted(script=[Batch(posts=posts, state={"cursor": "abc"}, status=200)])
    out = ingestor.poll(src)
    assert out.outcome == "ok" and out.new_posts == 4 and out.unmatched == 1

    stored = store.posts()
    assert {p["native_id"] for p in stored} == {"1", "2", "3", "4"}
    assert all(p["created_at"].tzinfo is not None for p in stored)
    assert all(p["scorer"] == "vader" and p["scorer_version"] for p in stored)

    # Bucket sums equal the sums over the stored posts, per topic, for the source and for all.
    for name in ("thaw", "sanctions"):
        compounds = [p["compound"] for p in store.posts(topic=name)]
        expected = BucketSums.from_scores(compounds)
        for source in ("scripted", "*"):
            got = store.sums(name, source=source)
            assert (
                got.n == expected.n and got.n_pos == expected.n_pos and got.n_neg == expected.n_neg
            )
            assert got.sum_sq == pytest.approx(expected.sum_sq)
    assert store.sums("thaw").n == 3 and store.sums("sanctions").n == 1

    state = store.source_state("scripted")
    assert state["state"] == {"cursor": "abc"} and state["last_outcome"] == "ok"
    assert state["posts_total"] == 4 and state["consecutive_failures"] == 0
    assert count(store, PollLog) == 1


def test_second_poll_of_the_same_items_stores_nothing_twice(store, ingestor):
    batch = Batch(
        posts=[post(1, "#TrumpPutinBusiness good"), post(2, "#TrumpPutinBusiness bad")], state={}
    )
    src = Scripted(script=[batch, batch])
    assert ingestor.poll(src).new_posts == 2
    again = ingestor.poll(src)
    assert again.new_posts == 0 and again.duplicates == 2
    assert count(store, Post) == 2
    assert store.sums("thaw").total == 2  # buckets were not added to twice


def test_same_item_twice_in_one_batch_is_one_post(store, ingestor):
    p = post(1, "#TrumpPutinBusiness deal")
    out = ingestor.poll(Scripted(script=[Batch(posts=[p, p], state={})]))
    assert out.new_posts == 1 and count(store, Post) == 1


def test_dedupe_across_sources_by_canonical_url_and_canonical_id(store, ingestor):
    a = Scripted(
        "a",
        script=[
            Batch(
                posts=[
                    post(
                        "x1",
                        "#TrumpPutinBusiness story",
                        url="https://Example.org/story/?utm_source=rss",
                    ),
                    post(
                        "x2",
                        "#TrumpPutinBusiness toot",
                        canonical_id="https://mastodon.example/users/u/statuses/9",
                    ),
                ],
                state={},
            )
        ],
    )
    b = Scripted(
        "b",
        script=[
            Batch(
                posts=[
                    post("y1", "#TrumpPutinBusiness story", url="https://example.org/story"),
                    post(
                        "y2",
                        "#TrumpPutinBusiness toot",
                        canonical_id="https://mastodon.example/users/u/statuses/9",
                    ),
                ],
                state={},
            )
        ],
    )
    assert ingestor.poll(a).new_posts == 2
    out = ingestor.poll(b)
    assert out.new_posts == 0 and out.duplicates == 2


def test_repost_adds_engagement_to_its_original_once(store, ingestor):
    orig = post("o", "#TrumpPutinBusiness original", engagement=3)
    boost = post("b1", "", repost_of="o")
    src = Scripted(script=[Batch(posts=[orig, boost], state={}), Batch(posts=[boost], state={})])
    out = ingestor.poll(src)
    assert out.new_posts == 1 and out.reposts == 1
    ingestor.poll(src)
    (p,) = store.posts()
    assert p["reposts"] == 1 and p["engagement"] == 4
    assert store.sums("thaw").total == 1
    from monitor.store.db import SeriesQuery

    series = store.series(SeriesQuery(topic="thaw", every_s=3600))
    assert series["engagement"].sum() == 4  # the boost counts in the buckets too


def test_deleting_a_boosted_post_takes_its_boosts_out_of_the_series(store, ingestor):
    """The boosts reached the buckets with the post, so an author's delete must take them out too:
    otherwise the engagement chart keeps a bump from a post that no longer exists. After the
    delete, every view reads what it would had the post never been published."""
    from monitor.store.db import SeriesQuery

    gone = post("o", "#TrumpPutinBusiness original", engagement=3)
    kept = post("k", "#TrumpPutinBusiness another", minutes=1, engagement=5)
    boosts = [post(f"b{i}", "", repost_of="o") for i in range(2)]
    src = Scripted(
        script=[Batch(posts=[gone, kept, *boosts, post("bk", "", repost_of="k")], state={})]
    )
    ingestor.poll(src)
    assert ingestor.delete_posts("scripted", ["o"]) == 1
    (left,) = store.posts()
    assert left["native_id"] == "k" and left["engagement"] == 6  # its own boost stays
    minute = int((T0 + timedelta(minutes=1)).timestamp())
    for every_s in (60, 3600):  # the minute buckets and the hourly rollups
        for source in ("scripted", "*"):
            series = store.series(SeriesQuery(topic="thaw", source=source, every_s=every_s))
            engagement = dict(zip(series["start_ts"], series["engagement"], strict=True))
            assert {t: e for t, e in engagement.items() if e} == {minute - minute % every_s: 6}, (
                every_s,
                source,
            )


def test_a_boost_changes_only_engagement_and_a_boost_seen_again_is_no_error(store, ingestor):
    """A boost is attention, not a new opinion: the views must read the same counts, sentiment
    and completeness as before it, with engagement one higher. A feed repeats the boosts it
    showed last time; polling them again counts nothing and is no failure of the source."""
    from monitor.store.db import SeriesQuery

    orig = post("o", "#TrumpPutinBusiness a wonderful deal", engagement=3)
    boost = post("b1", "", repost_of="o")
    src = Scripted(
        script=[
            Batch(posts=[orig], state={}),
            Batch(posts=[orig, boost], state={}),
            Batch(posts=[orig, boost], state={}),
        ]
    )
    first = ingestor.poll(src)
    assert first.new_posts == 1 and first.reposts == 0
    views = [SeriesQuery(topic="thaw", every_s=w) for w in (60, 3600)]
    before = [store.series(q) for q in views]
    assert ingestor.poll(src).reposts == 1
    again = ingestor.poll(src)
    assert again.outcome == "ok" and again.reposts == 0 and again.error is None
    assert again.quarantined == 0 and not again.rejected  # a known boost is no broken item
    for q, was in zip(views, before, strict=True):
        now = store.series(q)
        assert now["engagement"].to_list() == [e + 1 for e in was["engagement"]]
        assert now.drop("engagement").equals(was.drop("engagement")), q.every_s
        assert not now["incomplete"].any()
    assert store.posts()[0]["engagement"] == 4


def test_deleting_posts_leaves_every_series_column_as_if_they_were_never_stored(store, ingestor):
    """An author's delete must leave no trace in any view: counts (scored and unscored), the
    sentiment sums behind mean and sigma, engagement, and completeness are what the posts that
    remain would give on their own."""
    from monitor.store.db import SeriesQuery

    kept = post("k", "#TrumpPutinBusiness a plain update", engagement=2)
    gone = [
        post("p", "#TrumpPutinBusiness a wonderful, great deal", engagement=7),
        post("n", "#TrumpPutinBusiness a terrible, shameful deal", minutes=1, engagement=1),
        post("r", "Это ужасная сделка, позор #ТрампПутин", minutes=2, engagement=40),
    ]
    src = Scripted(script=[Batch(posts=[kept], state={}), Batch(posts=gone, state={})])
    ingestor.poll(src)
    views = [
        SeriesQuery(topic="thaw", source=s, every_s=w)
        for s in ("scripted", "*")
        for w in (60, 3600)
    ]
    alone = [
        store.series(q).filter(
            pl.col("n_neg") + pl.col("n_neu") + pl.col("n_pos") + pl.col("n_unscored") > 0
        )
        for q in views
    ]
    assert ingestor.poll(src).new_posts == 3
    assert {p["compound"] is None for p in store.posts()} == {True, False}
    assert ingestor.delete_posts("scripted", []) == 0
    assert ingestor.delete_posts("scripted", ["p", "n", "r"]) == 3
    for q, want in zip(views, alone, strict=True):
        got = store.series(q).filter(pl.col("start_ts").is_in(want["start_ts"].to_list()))
        assert got.drop(*FLOATS).equals(want.drop(*FLOATS)), (q.source, q.every_s)
        for col in FLOATS:
            assert got[col].to_list() == pytest.approx(want[col].to_list(), abs=1e-12), col
        rest = store.series(q).filter(~pl.col("start_ts").is_in(want["start_ts"].to_list()))
        assert not rest["incomplete"].any()
        for col in rest.select(*FLOATS, "n_neg", "n_neu", "n_pos", "n_unscored", "engagement"):
            assert set(col.to_list()) <= {0}, col.name  # emptied minutes hold nothing


FLOATS = ("sum_neg", "sum_neu", "sum_pos", "sum_sq")


def test_a_poll_over_many_minutes_leaves_its_hour_complete(store, ingestor):
    """The hourly rollups behind the spike baseline add up 60 minutes: an hour whose minutes all
    arrived is complete, whatever the posts in it, so it counts in the baseline."""
    from monitor.metrics.spikes import Hours

    texts = ["a plain update", "a wonderful deal", "a terrible deal"]
    posts = [post(i, f"#TrumpPutinBusiness {t}", minutes=i * 7) for i, t in enumerate(texts)]
    ingestor.poll(Scripted(script=[Batch(posts=posts, state={})]))
    hour = int(T0.timestamp())
    hours = Hours(store, "thaw")
    hours.ensure(hour, hour + 3600)
    assert hours.get(hour).total == 3 and not hours.get(hour).incomplete


def test_matching_rules_reach_the_store(store, ingestor):
    posts = [
        post(1, "Сделка века #ТрампПутин"),  # Cyrillic hashtag
        post(2, "no tag in text", tags=("TrumpPutinBusiness",)),  # platform's own tag list
        post(3, "#TrumpPutinBusiness crypto GIVEAWAY click here"),  # exclusion
        post(4, "DMITRIEV, again."),  # keyword, any case
    ]
    ingestor.poll(Scripted(script=[Batch(posts=posts, state={})]))
    assert {p["native_id"] for p in store.posts(topic="thaw")} == {"1", "2", "4"}


def test_match_all_and_bound_topics(store, ingestor):
    src = Scripted(
        "news",
        match="all",
        topics=["sanctions"],
        script=[Batch(posts=[post(1, "A headline with no keyword at all")], state={})],
    )
    assert ingestor.poll(src).new_posts == 1
    with store.read() as conn:
        assert conn.execute(select(PostTopic.topic)).scalars().all() == ["sanctions"]


def test_non_english_is_stored_and_counted_but_unscored(store, ingestor):
    ingestor.poll(
        Scripted(
            script=[
                Batch(
                    posts=[
                        post(1, "Это ужасная сделка, позор для всей страны #ТрампПутин"),
                        post(2, "What a fantastic, hopeful deal #TrumpPutinBusiness"),
                    ],
                    state={},
                )
            ]
        )
    )
    ru = next(p for p in store.posts() if p["native_id"] == "1")
    assert ru["lang"] == "ru" and ru["compound"] is None and ru["scorer"] is None
    sums = store.sums("thaw")
    assert sums.n_unscored == 1 and sums.n == 1 and sums.total == 2


def test_engagement_of_unscored_posts_counts_in_the_buckets(store, ingestor):
    """Engagement is about attention, not sentiment: a Russian post nobody scores still drew its
    likes, and the bucket sums (what every view reads) must hold all of them."""
    ingestor.poll(
        Scripted(
            script=[
                Batch(
                    posts=[
                        post(
                            1,
                            "Это ужасная сделка, позор для всей страны #ТрампПутин",
                            engagement=40,
                        ),
                        post(2, "What a fantastic, hopeful deal #TrumpPutinBusiness", engagement=2),
                    ],
                    state={},
                )
            ]
        )
    )
    stored = {p["native_id"]: p for p in store.posts()}
    assert stored["1"]["compound"] is None and stored["1"]["engagement"] == 40
    with store.read() as conn:
        for source in ("scripted", "*"):
            total = conn.execute(
                select(func.sum(Bucket.engagement)).where(
                    Bucket.topic == "thaw", Bucket.source == source
                )
            ).scalar_one()
            assert total == 42, source


def test_a_failure_inside_the_transaction_stores_nothing(store, ingestor, monkeypatch):
    src = Scripted(
        script=[
            Batch(posts=[post(1, "#TrumpPutinBusiness a")], state={"cursor": "new"}),
            Batch(posts=[post(1, "#TrumpPutinBusiness a")], state={"cursor": "new"}),
        ]
    )

    def boom(*a, **k):
        import sqlite3

        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(ingest_mod, "upsert_buckets", boom)
    with pytest.raises(Exception, match="disk is full"):
        ingestor.poll(src)
    assert count(store, Post) == 0 and count(store, PostTopic) == 0 and count(store, PollLog) == 0
    assert (store.source_state("scripted") or {}).get("state", {}) == {}
    monkeypatch.undo()
    assert ingestor.poll(src).new_posts == 1  # the next poll fetches it again from the old cursor


def test_failed_poll_keeps_the_cursor_and_marks_a_gap(store, ingestor):
    ok = Batch(posts=[post(1, "#TrumpPutinBusiness a")], state={"cursor": "c1"})
    src = Scripted(
        script=[ok, SourceError("feed had a server error (503)", status=503, retry_after=30)]
    )
    ingestor.poll(src)
    out = ingestor.poll(src)
    assert out.outcome == "error" and out.retry_after == 30
    st = store.source_state("scripted")
    assert st["state"] == {"cursor": "c1"}
    assert st["last_error"] == "feed had a server error (503)" and st["consecutive_failures"] == 1
    assert st["failing_since"] is not None
    with store.read() as conn:
        flagged = conn.execute(
            select(func.count()).select_from(Bucket).where(Bucket.incomplete)
        ).scalar_one()
    assert flagged > 0
    from monitor.store.db import SeriesQuery

    df = store.series(SeriesQuery(topic="thaw", every_s=3600))
    assert df["incomplete"].any()


def test_pages_read_before_a_stop_are_kept_without_calling_the_source_failing(store, ingestor):
    """A stop mid-poll (the collector aborts its requests) keeps what was read and the cursor that
    resumes the rest, and says nothing against the source: no failure, no incomplete minutes."""
    ingestor.poll(Scripted(script=[Batch(posts=[post(1, "#TrumpPutinBusiness a")], state={})]))
    cut = Batch(
        posts=[post(2, "#TrumpPutinBusiness b", 3)],
        state={"cursor": "c2", "pending": ["older"]},
        error=SourceError("feed: request cut short, the collector is stopping"),
    )
    ingestor.stopping = lambda: True
    out = ingestor.poll(Scripted(script=[cut]))
    assert out.outcome == "stopped" and out.new_posts == 1 and out.error is None
    st = store.source_state("scripted")
    assert st["state"] == {"cursor": "c2", "pending": ["older"]}
    assert st["last_outcome"] == "ok" and st["consecutive_failures"] == 0
    assert st["last_error"] is None and st["posts_total"] == 2
    assert count(store, Post) == 2
    with store.read() as conn:
        assert not conn.execute(
            select(func.count()).select_from(Bucket).where(Bucket.incomplete)
        ).scalar_one()
    # the same cut while running is a partial poll, with its gap marked
    ingestor.stopping = lambda: False
    cut.error = SourceError("feed had a server error (503)", status=503)
    cut.posts = [post(3, "#TrumpPutinBusiness c", 4)]
    assert ingestor.poll(Scripted(script=[cut])).outcome == "partial"
    assert store.source_state("scripted")["consecutive_failures"] == 1


def test_unexpected_exception_in_a_source_becomes_readable_state(store, ingestor):
    out = ingestor.poll(Scripted(script=[KeyError("entries")]))
    assert out.outcome == "error"
    assert "KeyError" in store.source_state("scripted")["last_error"]


def test_hostile_text_is_stored_without_control_characters(store, ingestor):
    evil = "[bold red]x[/] \x1b]0;pwned\x07 \u202eevil #TrumpPutinBusiness \x9b31m"
    ingestor.poll(Scripted(script=[Batch(posts=[post(1, evil, author="\x1b[31mbob")], state={})]))
    (p,) = store.posts()
    assert "\x1b" not in p["text"] and "\u202e" not in p["text"] and "\x9b" not in p["text"]
    assert "[bold red]" in p["text"]  # kept as text; it is the views' job never to parse it
    assert p["author"] == "bob" or "\x1b" not in p["author"]


def test_series_rebuckets_exactly(store, ingestor):
    from monitor.store.db import SeriesQuery

    posts = [
        post(i, f"#TrumpPutinBusiness {'great' if i % 3 else 'awful'} deal {i}", minutes=i * 7)
        for i in range(40)
    ]
    ingestor.poll(Scripted(script=[Batch(posts=posts, state={})]))
    hourly = store.series(SeriesQuery(topic="thaw", every_s=3600))
    minutely = store.series(SeriesQuery(topic="thaw", every_s=60))
    assert hourly["n_pos"].sum() == minutely["n_pos"].sum()
    assert hourly["sum_sq"].sum() == pytest.approx(minutely["sum_sq"].sum())
    assert (hourly["start"].dt.minute() == 0).all()
    assert str(hourly["start"].dtype) == "Datetime(time_unit='us', time_zone='UTC')"


def test_error_text_from_a_server_is_stored_without_control_characters(store, ingestor):
    ingestor.poll(
        Scripted(script=[SourceError("feed said: \x1b]0;pwned\x07 \u202eboom", status=500)])
    )
    err = store.source_state("scripted")["last_error"]
    assert "\x1b" not in err and "\u202e" not in err and "boom" in err
    assert "\x1b" not in store.poll_log()[0]["error"]


@pytest.mark.parametrize("first_id", [None, 9_223_372_036_854_775_807])
def test_topic_links_point_at_their_own_posts(store, ingestor, first_id):
    """Links are written against the ids the posts just got, also where SQLite picks new ids at
    random (after the largest rowid)."""
    if first_id is not None:
        with store.write() as conn:
            conn.execute(
                Post.__table__.insert().values(
                    id=first_id,
                    source="other",
                    native_id="x",
                    text="old",
                    tags=[],
                    created_at=T0,
                    fetched_at=T0,
                    reposts=0,
                )
            )
    for poll in range(3):
        posts = [
            post(
                f"{poll}-{i}",
                f"post {poll}-{i} #TrumpPutinBusiness" + (" #RussiaSanctions" * (i % 2)),
                i,
            )
            for i in range(40)
        ]
        ingestor.poll(Scripted(script=[Batch(posts=posts, state={}, status=200)]))
    with store.read() as conn:
        linked = conn.execute(
            select(Post.native_id, Post.text, PostTopic.topic).join(
                PostTopic, PostTopic.post_id == Post.id
            )
        ).all()
    assert len(linked) == 3 * 40 + 3 * 20
    for native_id, text, name in linked:
        assert text == f"post {native_id} #TrumpPutinBusiness" + (
            " #RussiaSanctions" * (int(native_id[2:]) % 2)
        )
        assert name == "thaw" or (name == "sanctions" and int(native_id[2:]) % 2)


def test_a_topic_limited_to_languages_keeps_only_posts_detected_in_them(store):
    """The language is the detected one (no platform tag here); a post with no language passes: an emoji-only
    post is scored and stored as 'und', and a topic limited to Russian keeps it."""
    topics = [
        topic(
            "ru_only", hashtags=["#Dmitriev"], keywords=["Dmitriev", "Дмитриев"], languages=["ru"]
        ),
        topic("any", hashtags=["#Dmitriev"], keywords=["Dmitriev", "Дмитриев"]),
    ]
    ingestor = Ingestor(store, topics, clock=lambda: T0 + timedelta(hours=1))
    posts = [
        post(1, "Дмитриев опять что-то сказал про санкции, всё это выглядит странно"),
        post(2, "Dmitriev says the talks went really well and the deal is close"),
        post(3, "🙂 😂 100%", tags=("Dmitriev",)),
    ]
    assert ingestor.poll(Scripted(script=[Batch(posts=posts, state={}, status=200)])).new_posts == 3
    by_topic = {
        name: sorted(p["native_id"] for p in store.posts(topic=name)) for name in ("ru_only", "any")
    }
    assert by_topic == {"ru_only": ["1", "3"], "any": ["1", "2", "3"]}
    emoji = next(p for p in store.posts(topic="ru_only") if p["native_id"] == "3")
    assert emoji["lang"] == "und" and emoji["compound"] > 0


@pytest.mark.postgres
def test_two_collectors_storing_the_same_poll_at_once_store_it_once(pg_url):
    """A collector that stalled past its lease can store the same items as the one that took the
    lease over. PostgreSQL lets both transactions run: the later one must fail as a whole (the
    unique key on source + native id), leaving every post and every bucket sum there once, and its
    next poll must find the posts already stored."""
    import threading

    from monitor.store.db import Store

    stores = [Store(pg_url), Store(pg_url)]
    clock = lambda: T0 + timedelta(hours=1)  # noqa: E731
    stalled, fast = (
        Ingestor(stores[0], TOPICS, clock=clock),
        Ingestor(stores[1], TOPICS, clock=clock),
    )
    posts = [
        post(i, f"Dmitriev, take {i}: a good deal #TrumpPutinBusiness", i % 5) for i in range(30)
    ]
    other_done = threading.Event()
    looked = threading.Event()
    real_score = stalled._score

    # dedupe has run (and found nothing); now wait for the other
    def stall_after_dedupe(batch, *rest):
        looked.set()
        assert other_done.wait(30)
        return real_score(batch, *rest)

    stalled._score = stall_after_dedupe
    errors: list[BaseException] = []

    def run_stalled():
        try:
            stalled.store_batch(Scripted(), Batch(posts=posts, state={"n": 1}, status=200), T0)
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            errors.append(exc)

    thread = threading.Thread(target=run_stalled)
    thread.start()
    assert looked.wait(30)
    assert (
        fast.store_batch(Scripted(), Batch(posts=posts, state={"n": 2}, status=200), T0).new_posts
        == 30
    )
    other_done.set()
    thread.join(60)
    assert len(errors) == 1 and "uq_post_source_native" in str(errors[0])

    assert count(stores[0], Post) == 30 and count(stores[0], PostTopic) == 30
    assert stores[0].sums("thaw").n == 30 and stores[0].sums("thaw", source="scripted").n == 30
    assert stores[0].source_state("scripted")["state"] == {"n": 2}
    stalled._score = real_score
    again = stalled.store_batch(Scripted(), Batch(posts=posts, state={"n": 3}, status=200), T0)
    assert again.new_posts == 0 and again.duplicates == 30 and stores[0].sums("thaw").n == 30
    for s in stores:
        s.close()


def test_bucket_upserts_add_up_repeated_keys_and_calls_in_one_transaction(store):
    """One statement cannot update a bucket twice, so repeated keys are added up first; and a
    second upsert in the same transaction (PostgreSQL stages rows in a temporary table) adds only
    its own rows."""
    from monitor.ingest.poll import upsert_buckets

    def row(n_pos, sum_pos, engagement=0, incomplete=False, start=1_774_000_000):
        return {
            "topic": "thaw",
            "source": "s",
            "start_ts": start,
            "width_s": 60,
            "n_neg": 0,
            "n_neu": 0,
            "n_pos": n_pos,
            "sum_neg": 0.0,
            "sum_neu": 0.0,
            "sum_pos": sum_pos,
            "sum_sq": sum_pos**2,
            "n_unscored": 0,
            "engagement": engagement,
            "incomplete": incomplete,
        }

    with store.write() as conn:
        upsert_buckets(
            conn, [row(1, 0.5), row(2, 0.75, engagement=3), row(1, 0.25, start=1_774_000_060)]
        )
        upsert_buckets(conn, [row(1, 0.5, incomplete=True)])
    with store.write() as conn:
        upsert_buckets(conn, [row(4, 1.0, engagement=1)])
    with store.read() as conn:
        got = {r.start_ts: r for r in conn.execute(select(Bucket)).all()}
    first = got[1_774_000_000]
    assert (first.n_pos, first.sum_pos, first.engagement, first.incomplete) == (8, 2.75, 4, True)
    assert first.sum_sq == pytest.approx(0.25 + 0.5625 + 0.25 + 1.0)
    assert (got[1_774_000_060].n_pos, got[1_774_000_060].sum_pos) == (1, 0.25)
