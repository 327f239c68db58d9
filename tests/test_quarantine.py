"""One malformed item never blocks a source: it is quarantined with its position and a reason,
the rest of the poll is stored and the cursor advances; and the same post is never stored twice,
even when two sources' transactions interleave on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from test_ingest import T0, TOPICS, Scripted, count, post

from monitor.ingest.poll import Ingestor
from monitor.sources.base import Batch, RawPost, Rejected
from monitor.store.models import Bucket, PollLog, Post, Quarantine

NOW = T0 + timedelta(hours=1)


@pytest.fixture
def ingestor(store):
    return Ingestor(store, TOPICS, clock=lambda: NOW)


def quarantined(store):
    with store.read() as conn:
        return [
            dict(r) for r in conn.execute(select(Quarantine).order_by(Quarantine.id)).mappings()
        ]


HOSTILE = [
    ("lone surrogate", dict(text="Dmitriev \ud83d")),
    ("surrogate in the id", dict(native_id="id-\udc00")),
    ("NUL in text", dict(text="Dmitriev \x00 said")),
]

BROKEN = [
    ("object as author", dict(author={"name": "x"}), "the author is an object, not text"),
    ("list as text", dict(text=["Dmitriev"]), "the text is a list, not text"),
    (
        "year 9999 at -14:00",
        dict(created_at=datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14)))),
        "out of range",
    ),
    (
        "far future",
        dict(created_at=datetime(3000, 1, 1, tzinfo=UTC)),
        "more than a day in the future",
    ),
    ("before 1970", dict(created_at=datetime(1969, 12, 31, tzinfo=UTC)), "before 1970"),
    ("time as a number", dict(created_at=1e20), "created_at is a number, not a time"),
    ("empty id", dict(native_id="  "), "the id is empty"),
    ("id as a number", dict(native_id=7), "the id is a number, not text"),
    ("huge id", dict(native_id="x" * 600), "over 512"),
    ("hashtags as an object", dict(tags={"a": 1}), "the hashtags are an object"),
]


def _bad(i: int, **overrides) -> RawPost:
    raw = post(f"bad-{i}", "Dmitriev is in town #TrumpPutinBusiness", 5)
    for k, v in overrides.items():
        object.__setattr__(raw, k, v)
    return raw


@pytest.mark.parametrize("name,overrides,reason", BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_item_is_quarantined_and_the_rest_stored(store, ingestor, name, overrides, reason):
    good = [post(i, f"Dmitriev, take {i} #TrumpPutinBusiness", i) for i in range(3)]
    batch = Batch(
        posts=[good[0], _bad(1, **overrides), *good[1:]], state={"cursor": "next"}, status=200
    )
    out = ingestor.poll(Scripted(script=[batch]))
    assert (out.outcome, out.new_posts, out.quarantined) == ("ok", 3, 1)
    assert store.source_state("scripted")["state"] == {"cursor": "next"}  # the cursor moved on
    [q] = quarantined(store)
    assert q["position"] == "item 2 of 4" and reason in q["reason"] and q["source"] == "scripted"
    assert q["raw"].isascii() and "\x1b" not in q["raw"]
    assert store.poll_log()[0]["quarantined"] == 1


@pytest.mark.parametrize("name,overrides", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_damaged_text_is_repaired_and_stored(store, ingestor, name, overrides):
    out = ingestor.poll(
        Scripted(script=[Batch(posts=[_bad(1, **overrides)], state={}, status=200)])
    )
    assert (out.new_posts, out.quarantined) == (1, 0)
    [row] = store.posts()
    assert "\x00" not in row["text"] and not any(
        0xD800 <= ord(c) <= 0xDFFF for c in row["text"] + row["native_id"]
    )


def test_a_lone_surrogate_keeps_the_rest_of_the_text_and_its_pair_is_joined(store, ingestor):
    posts = [post(1, "Dmitriev \ud83d great deal"), post(2, "Dmitriev \ud83d\ude00 great deal")]
    assert ingestor.poll(Scripted(script=[Batch(posts=posts, state={}, status=200)])).new_posts == 2
    texts = sorted(p["text"] for p in store.posts())
    assert texts == sorted(["Dmitriev \U0001f600 great deal", "Dmitriev \ufffd great deal"])


def test_an_item_served_again_on_every_poll_is_one_quarantine_row(store, ingestor):
    bad = _bad(1, author=["a", "b"])
    src = Scripted(script=[Batch(posts=[bad], state={"n": i}, status=200) for i in range(3)])
    for _ in range(3):
        ingestor.poll(src)
    [q] = quarantined(store)
    assert q["times_seen"] == 3 and q["native_id"] == "bad-1"


def test_a_source_may_quarantine_what_it_could_not_read(store, ingestor):
    batch = Batch(
        posts=[post(1, "Dmitriev #TrumpPutinBusiness")],
        state={},
        status=200,
        rejected=[
            Rejected(
                position="page 1 item 4",
                reason="a status without a uri",
                raw={"id": "\x1b]0;x\x07"},
            )
        ],
    )
    out = ingestor.poll(Scripted(script=[batch]))
    assert (out.new_posts, out.quarantined) == (1, 1)
    [q] = quarantined(store)
    assert (
        q["position"] == "page 1 item 4"
        and "\x1b" not in q["raw"]
        and q["item_key"].startswith("sha1:")
    )


def test_a_scorer_that_fails_on_one_text_quarantines_that_post_only(store, ingestor):
    real = ingestor.scoring.score

    def picky(texts, langs):
        if any("poison" in t for t in texts):
            raise RuntimeError("the model choked")
        return real(texts, langs)

    ingestor.scoring.score = picky  # type: ignore[method-assign]
    posts = [post(1, "Dmitriev fine"), post(2, "Dmitriev poison"), post(3, "Dmitriev fine too")]
    out = ingestor.poll(Scripted(script=[Batch(posts=posts, state={}, status=200)]))
    assert (out.new_posts, out.quarantined) == (2, 1)
    assert "the model choked" in quarantined(store)[0]["reason"]


# --- never stored twice --------------------------------------------------------------------


def _shared(i: int, native: str) -> RawPost:
    """The same post seen by two sources: different native ids, one canonical URL / id."""
    return post(
        native,
        f"Dmitriev, take {i} #TrumpPutinBusiness",
        i % 5,
        url=f"https://news.test/story/{i}",
        canonical_id=f"at://did:plc:x/app.bsky.feed.post/{i}",
    )


def test_a_dedupe_read_that_missed_cannot_store_a_post_twice(store, ingestor, monkeypatch):
    """Whatever the read saw, the unique keys decide: here dedupe is made to find nothing."""
    a, b = Scripted(name="a"), Scripted(name="b")
    posts_a = [_shared(i, f"a{i}") for i in range(10)]
    posts_b = [_shared(i, f"b{i}") for i in range(5, 15)]
    assert ingestor.store_batch(a, Batch(posts=posts_a, state={}, status=200), T0).new_posts == 10
    monkeypatch.setattr(Ingestor, "_dedupe", lambda self, conn, source, posts: posts)
    out = ingestor.store_batch(b, Batch(posts=posts_b, state={}, status=200), T0)
    assert (out.new_posts, out.duplicates) == (5, 5)
    assert count(store, Post) == 15
    with store.read() as conn:
        total = conn.execute(
            select(func.sum(Bucket.n_neg + Bucket.n_neu + Bucket.n_pos + Bucket.n_unscored)).where(
                Bucket.source == "*", Bucket.topic == "thaw"
            )
        ).scalar_one()
    assert total == 15  # the skipped posts added to no bucket


@pytest.mark.postgres
def test_two_sources_interleaved_on_postgresql_store_each_post_once(pg_url):
    """Both transactions read (and find nothing) before either inserts: the forced interleaving
    that stored posts twice. The later insert waits for the earlier commit, then skips."""
    from monitor.store.db import Store

    stores = [Store(pg_url), Store(pg_url)]
    ingestors = [Ingestor(s, TOPICS, clock=lambda: NOW) for s in stores]
    both_read = threading.Barrier(2, timeout=30)
    for ing in ingestors:
        real = ing._dedupe

        def dedupe_then_wait(conn, source, posts, _real=real):
            found = _real(conn, source, posts)
            both_read.wait()  # neither has inserted yet
            return found

        ing._dedupe = dedupe_then_wait  # type: ignore[method-assign]
    outcomes: dict[str, object] = {}

    def run(i: int, name: str, natives: str) -> None:
        batch = Batch(posts=[_shared(k, f"{natives}{k}") for k in range(20)], state={}, status=200)
        try:
            outcomes[name] = ingestors[i].store_batch(Scripted(name=name), batch, T0)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            outcomes[name] = exc

    threads = [
        threading.Thread(target=run, args=(0, "reddit-api", "r")),
        threading.Thread(target=run, args=(1, "reddit-rss", "t3_")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    new = [o.new_posts for o in outcomes.values()]  # type: ignore[attr-defined]
    assert sorted(new) == [0, 20]
    with stores[0].read() as conn:
        assert conn.execute(select(func.count()).select_from(Post)).scalar_one() == 20
        assert (
            conn.execute(select(func.count(func.distinct(Post.canonical_url)))).scalar_one() == 20
        )
        total = conn.execute(
            select(func.sum(Bucket.n_neg + Bucket.n_neu + Bucket.n_pos + Bucket.n_unscored)).where(
                Bucket.source == "*", Bucket.topic == "thaw"
            )
        ).scalar_one()
        assert total == 20
        polls = conn.execute(select(func.count()).select_from(PollLog)).scalar_one()
    assert polls == 2  # both polls finished and saved their state
    for s in stores:
        s.close()


def test_quarantined_items_are_counted_in_status_and_feed_health(store, ingestor):
    from monitor.ui.data import StoreProvider
    from monitor.ui.status import build_status

    batch = Batch(
        posts=[post(1, "Dmitriev ok"), _bad(2, author={"x": 1}), _bad(3, created_at=None)],
        state={},
        status=200,
    )
    ingestor.poll(Scripted(script=[batch]))
    [row] = build_status(store, None)["sources"]
    assert row["quarantined"] == 2 and row["last_outcome"] == "ok"
    [health] = StoreProvider(store)._health(NOW, with_counts=True)
    assert health.quarantined == 2
    listed = store.quarantined("scripted")
    assert {q["position"] for q in listed} == {"item 2 of 3", "item 3 of 3"}


def test_an_item_the_store_refuses_for_an_unforeseen_reason_is_quarantined_alone(
    store, ingestor, monkeypatch
):
    """The last line of defence: with the per-item checks switched off, a value the database
    itself refuses (a lone surrogate in a URL cannot be encoded) fails the poll as a whole; the
    items are then stored one by one and only the refused one is quarantined, in the store's words."""
    from monitor.ingest import poll as ingest_mod

    monkeypatch.setattr(ingest_mod, "vet_all", lambda posts, now: (list(posts), []))
    posts = [
        post(i, f"Dmitriev, take {i} #TrumpPutinBusiness", i, url=f"https://news.test/{i}")
        for i in range(5)
    ]
    posts[2].url = "https://news.test/\ud83d"
    out = ingestor.poll(Scripted(script=[Batch(posts=posts, state={"cursor": "next"}, status=200)]))
    assert (out.outcome, out.new_posts, out.quarantined) == ("ok", 4, 1)
    assert store.source_state("scripted")["state"] == {"cursor": "next"}
    [q] = quarantined(store)
    assert q["position"] == "item 3 of 5" and q["native_id"] == "2" and "Error" in q["reason"]
    assert store.source_state("scripted")["posts_total"] == 4
    with store.read() as conn:
        total = conn.execute(
            select(func.sum(Bucket.n_neg + Bucket.n_neu + Bucket.n_pos + Bucket.n_unscored)).where(
                Bucket.source == "*", Bucket.topic == "thaw"
            )
        ).scalar_one()
    assert total == 4


def test_a_whole_page_the_store_refuses_alike_is_kept_for_the_next_poll(
    store, ingestor, monkeypatch
):
    """When every item fails the same way the store is at fault, not the items: nothing is
    quarantined and the cursor stays, so the next poll fetches them again."""
    from monitor.ingest import poll as ingest_mod

    def boom(*a, **k):
        raise RuntimeError("an unforeseen store failure")

    monkeypatch.setattr(ingest_mod, "upsert_buckets", boom)
    posts = [post(i, f"Dmitriev, take {i}") for i in range(3)]
    with pytest.raises(RuntimeError):
        ingestor.poll(Scripted(script=[Batch(posts=posts, state={"cursor": "next"}, status=200)]))
    assert quarantined(store) == [] and count(store, Post) == 0
    assert (store.source_state("scripted") or {}).get("state", {}) == {}


def test_the_migration_keeps_posts_an_earlier_version_stored_twice(store_url):
    """A store from before the unique keys may hold the same post twice (the bug); upgrading keeps
    both rows (their sums are in the buckets) and leaves the key on the first copy only."""
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from sqlalchemy import text

    from monitor.store.db import MIGRATIONS, Store, make_engine

    engine = make_engine(store_url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as conn, conn.begin():
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
        conn.execute(
            text(
                "INSERT INTO source (name, kind, settings) VALUES ('a', 'rss', '{}'), ('b', 'rss', '{}')"
            )
        )
        for i, (src, native) in enumerate([("a", "1"), ("b", "t3_1"), ("b", "t3_2")]):
            conn.execute(
                text(
                    "INSERT INTO post (source, native_id, canonical_url, canonical_id, text, tags,"
                    " created_at, fetched_at,"
                    " engagement, reposts) VALUES (:s, :n, :u, :c, 'x', '[]', :t, :t, 0, 0)"
                ),
                {
                    "s": src,
                    "n": native,
                    "u": "https://news.test/1" if i < 2 else "https://news.test/2",
                    "c": "at://x/1" if i < 2 else None,
                    "t": "2026-03-18 12:00:00",
                },
            )
    engine.dispose()
    store = Store(store_url)  # migrates to the head
    with store.read() as conn:
        rows = conn.execute(
            text("SELECT source, native_id, canonical_url, canonical_id FROM post ORDER BY id")
        ).all()
    assert [tuple(r) for r in rows] == [
        ("a", "1", "https://news.test/1", "at://x/1"),
        ("b", "t3_1", None, None),
        ("b", "t3_2", "https://news.test/2", None),
    ]
    store.close()


def test_quarantined_items_not_seen_for_a_month_are_forgotten(store):
    clock = [NOW]
    ingestor = Ingestor(store, TOPICS, clock=lambda: clock[0])
    ingestor.poll(Scripted(script=[Batch(posts=[_bad(1, author=[1])], state={}, status=200)]))
    clock[0] += timedelta(days=31)
    ingestor.poll(Scripted(script=[Batch(posts=[_bad(2, author=[2])], state={}, status=200)]))
    assert [q["native_id"] for q in quarantined(store)] == ["bad-2"]


def test_an_item_served_on_every_poll_is_logged_once(store, ingestor, caplog):
    import logging

    caplog.set_level(logging.WARNING, logger="monitor.ingest.poll")
    src = Scripted(
        script=[Batch(posts=[_bad(1, author={"x": "\x1b[31m"})], state={}, status=200)] * 4
    )
    for _ in range(4):
        assert ingestor.poll(src).quarantined == 1
    said = [r.getMessage() for r in caplog.records if "quarantined" in r.getMessage()]
    assert len(said) == 1 and "item 1 of 1: the author is an object, not text" in said[0]
