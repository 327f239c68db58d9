"""`post_topic`'s copies of a post's score, engagement and language+hashtags key (issue 13).

The topic screen reads its newest posts from the links alone, so the copies must say what the post
rows say: after ingest, after a boost, after a deletion, and in a store migrated from before them.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from alembic import command
from alembic.config import Config as AlembicConfig
from scripted import ScriptedSource
from sqlalchemy import insert, inspect, select, text

from monitor.ingest.poll import Ingestor
from monitor.sources.base import Batch, RawPost, SourceSettings
from monitor.store import facets
from monitor.store.db import MIGRATIONS, Store, TopicPostSummary, make_engine
from monitor.store.models import Post, PostTopic, facet_key

T0 = datetime(2026, 3, 18, 12, 0, tzinfo=UTC)
WINDOW = dict(since=T0 - timedelta(days=30), until=T0 + timedelta(days=1))
TOPICS = [
    SimpleNamespace(
        name="thaw", title=None, hashtags=["#Thaw"], keywords=[], exclude=[], languages=None
    )
]


class Scripted(ScriptedSource):
    def __init__(self, script):
        super().__init__(SourceSettings(name="s", kind="scripted"), TOPICS, script)


def _links(store: Store) -> dict[int, tuple]:
    with store.read() as conn:
        return {
            r.post_id: (r.compound, r.engagement, r.facet)
            for r in conn.execute(select(PostTopic)).all()
        }


def _posts(store: Store) -> dict[int, tuple]:
    with store.read() as conn:
        return {
            r.id: (r.compound, r.engagement, facet_key(r.lang, r.tags))
            for r in conn.execute(select(Post)).all()
        }


def _summary(store: Store, limit: int = 20_000) -> TopicPostSummary:
    s = store.topic_post_summary("thaw", limit=limit, **WINDOW)
    s.languages.sort(key=str)
    s.tags.sort()
    return s


def test_facet_key_is_of_the_language_and_the_casefolded_tag_set() -> None:
    assert facet_key("en", ["Gas", "oil", "gas"]) == facet_key("en", ["OIL", "gas"])
    assert facet_key("en", ["gas"]) != facet_key("de", ["gas"])
    assert facet_key(None, []) != facet_key("", [])  # a missing language is not an empty one
    assert facet_key("en", ["ab", "c"]) != facet_key("en", ["a", "bc"])
    assert -(2**63) <= facet_key("en", ["x"]) < 2**63  # fits a signed BIGINT


def test_ingest_boosts_and_deletions_keep_the_copies_in_step(store: Store) -> None:
    ingestor = Ingestor(store, TOPICS, clock=lambda: T0 + timedelta(hours=1))
    posts = [
        RawPost(
            native_id=f"p{i}",
            text=f"#Thaw {'great wonderful' if i % 2 else 'awful terrible'} news {i}",
            created_at=T0 - timedelta(minutes=i),
            engagement=i,
        )
        for i in range(6)
    ]
    boosts = [RawPost(native_id=f"b{k}", text="", created_at=T0, repost_of="p2") for k in range(5)]
    ingestor.poll(Scripted([Batch(posts=posts, state={})]))
    assert _links(store) == _posts(store) and len(_links(store)) == 6
    before = _summary(store)
    ingestor.poll(Scripted([Batch(posts=boosts, state={})]))
    assert _links(store) == _posts(store)
    boosted = next(i for i, v in _posts(store).items() if v[1] == 2 + 5)
    after = _summary(store)
    assert after.engaged[0] == boosted and before.engaged[0] != boosted

    assert ingestor.delete_posts("s", ["p5"]) == 1
    assert _links(store) == _posts(store) and len(_links(store)) == 5
    gone = _summary(store)
    assert gone.scanned == 5 and gone.engaged[:2] == [boosted, after.engaged[2]]


def _old_store(url: str) -> None:
    """A store as the version before the copies wrote it (revision 0006), filled with posts."""
    engine = make_engine(url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0006")
        for p in _sample():
            conn.execute(insert(Post.__table__), p)  # the post table is as it was
            for topic in ("thaw", "other")[: 1 + p["id"] % 2]:
                conn.execute(
                    text("INSERT INTO post_topic (post_id, topic, created_at) VALUES (:p, :t, :c)"),
                    {"p": p["id"], "t": topic, "c": _driver(p["created_at"], url)},
                )
    engine.dispose()


def _driver(dt: datetime, url: str) -> object:
    return dt.replace(tzinfo=None).isoformat(" ") if url.startswith("sqlite") else dt


def _sample() -> list[dict]:
    rnd = random.Random(7)
    return [
        dict(
            id=i,
            source="s",
            native_id=str(i),
            text="t",
            lang=rnd.choice(["en", "de", None, ""]),
            tags=rnd.sample(["Gas", "gas", "oil", "Thaw", "g7"], k=rnd.randint(0, 3)),
            created_at=T0 - timedelta(minutes=7 * i),
            fetched_at=T0,
            engagement=rnd.choice([0, 1, 5, 5, 9]),
            reposts=0,
            compound=None if i % 5 == 0 else rnd.choice([-0.7, -0.2, 0.0, 0.4, 0.4, 0.9]),
        )
        for i in range(1, 121)
    ]


def test_a_migrated_store_shows_what_a_fresh_one_does(store_url: str, tmp_path) -> None:
    _old_store(store_url)
    migrated = Store(store_url)  # to the head: the copies filled from the posts
    fresh = Store(f"sqlite:///{tmp_path}/fresh.db")
    try:
        with fresh.write() as conn:
            conn.execute(insert(Post.__table__), _sample())
            facets.insert_links(
                conn, [(p, t) for p in _sample() for t in ("thaw", "other")[: 1 + p["id"] % 2]]
            )
        assert _links(migrated) == _posts(migrated)
        for limit in (40, 20_000):  # capped and not
            got, want = _summary(migrated, limit), _summary(fresh, limit)
            assert got == want
            assert got.scanned == min(limit, 120) and got.positive and got.tags
        with migrated.read() as conn:  # the copies are required from now on
            nullable = {c["name"]: c["nullable"] for c in inspect(conn).get_columns("post_topic")}
        assert nullable["facet"] is False and nullable["engagement"] is False
    finally:
        migrated.close()
        fresh.close()


def _reference(store: Store, since: datetime, until: datetime, limit: int) -> dict:
    """The breakdowns counted in Python from every link and post of the window, cut at `limit` in
    the index's order (newest first; posts at one time by key, score, engagement, id)."""
    with store.read() as conn:
        rows = conn.execute(
            select(PostTopic, Post.lang, Post.tags)
            .join(Post, Post.id == PostTopic.post_id)
            .where(
                PostTopic.topic == "thaw",
                PostTopic.created_at >= since,
                PostTopic.created_at < until,
            )
        ).all()
    rows.sort(
        key=lambda r: (
            -r.created_at.timestamp(),
            r.facet,
            r.compound is not None,
            r.compound or 0,
            r.engagement,
            r.post_id,
        )
    )
    rows = rows[:limit]
    langs: dict = {}
    tags: dict = {}
    for r in rows:
        n = langs.setdefault(r.lang, [0, 0])
        n[0] += 1
        n[1] += r.compound is None
        for t in {str(t).casefold() for t in r.tags or ()}:
            tags[t] = tags.get(t, 0) + 1
    scored = [r for r in rows if r.compound is not None]
    return {
        "languages": sorted(((lang, n, u) for lang, (n, u) in langs.items()), key=str),
        "tags": sorted(tags.items()),
        "positive": [
            r.post_id
            for r in sorted(scored, key=lambda r: (r.compound, r.post_id), reverse=True)
            if r.compound > 0
        ][:3],
        "negative": [
            r.post_id
            for r in sorted(scored, key=lambda r: (r.compound, -r.post_id))
            if r.compound < 0
        ][:3],
        "engaged": [
            r.post_id
            for r in sorted(rows, key=lambda r: (r.engagement, r.post_id), reverse=True)
            if r.engagement > 0
        ][:3],
        "scanned": len(rows),
    }


def _recount(store: Store) -> tuple[dict, dict]:
    """(the hours' counts, the same counted again from the links), zero rows left out."""
    with store.read() as conn:
        hours = {
            (t, h, f): (n, u)
            for t, h, f, n, u in conn.execute(
                text("SELECT topic, start_ts, facet, n, n_unscored FROM topic_facet_hour")
            )
            if n
        }
        again: dict = {}
        for r in conn.execute(select(PostTopic)).all():
            k = (r.topic, int(r.created_at.timestamp()) // 3600 * 3600, r.facet)
            n, u = again.get(k, (0, 0))
            again[k] = (n + 1, u + (r.compound is None))
    return hours, again


def test_counts_from_the_hours_are_the_counts_of_the_newest_posts(store: Store) -> None:
    """Cuts inside an hour, on an hour, at a time several posts share, and windows whose ends are
    not on the hour: the hours plus the partial ends count exactly the posts a scan would."""
    posts = _sample()
    for p in posts[::9]:  # a few posts share a time with the next one: ties at the cut
        p["created_at"] = T0 - timedelta(minutes=7 * (p["id"] + 1))
    with store.write() as conn:
        conn.execute(insert(Post.__table__), posts)
        facets.insert_links(conn, [(p, "thaw") for p in posts])
    windows = [
        (T0 - timedelta(days=30), T0 + timedelta(hours=1)),
        (
            T0 - timedelta(hours=9, minutes=13, seconds=5),
            T0 - timedelta(minutes=47, microseconds=5),
        ),
        (T0 - timedelta(hours=3), T0 - timedelta(hours=1)),
        (T0 - timedelta(minutes=50), T0 - timedelta(minutes=10)),
    ]
    for since, until in windows:
        for limit in (0, 1, 7, 9, 10, 17, 60, 1000):
            s = store.topic_post_summary("thaw", since=since, until=until, limit=limit)
            got = {
                "languages": sorted(s.languages, key=str),
                "tags": sorted(s.tags),
                "positive": s.positive,
                "negative": s.negative,
                "engaged": s.engaged,
                "scanned": s.scanned,
            }
            assert got == _reference(store, since, until, limit), (since, until, limit)


def test_deletions_and_prunes_take_posts_out_of_their_hours(store: Store) -> None:
    from monitor.store.prune import prune

    ingestor = Ingestor(store, TOPICS, clock=lambda: T0 + timedelta(hours=1))
    posts = [
        RawPost(
            native_id=f"p{i}",
            text=f"#Thaw {'great' if i % 3 else 'Привет мир'} #Gas{i % 4} news {i}",
            created_at=T0 - timedelta(minutes=25 * i),
            engagement=i,
        )
        for i in range(40)
    ]
    ingestor.poll(Scripted([Batch(posts=posts, state={})]))
    hours, again = _recount(store)
    assert hours == again and sum(u for _, u in hours.values()) > 0
    assert ingestor.delete_posts("s", ["p3", "p4", "p17"]) == 3
    hours, again = _recount(store)
    assert hours == again and sum(n for n, _ in hours.values()) == 37
    prune(store, T0 - timedelta(hours=6, minutes=10), batch=4)
    hours, again = _recount(store)
    assert hours == again and 0 < sum(n for n, _ in hours.values()) < 37
