"""The topic screen's post breakdowns, summed by the database, against the Python loop they replaced.

The reference below is the dashboard's former computation over `Store.topic_post_scan`, kept here
verbatim in substance: the screen must show the same numbers and the same posts whichever does it.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from monitor.store import facets
from monitor.store.db import Store
from monitor.store.models import Post
from monitor.ui.data import WINDOW_BY_KEY, StoreProvider, TopicInfo

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TOPIC = TopicInfo("summit", "Summit", frozenset({"summit"}))
CAP = 150  # fewer than the window holds, so the newest-N cut matters


def _fill(store: Store) -> None:
    """Posts with mixed and missing languages, unscored posts, repeated scores and engagement
    (ties), the topic's own tag, a tag twice in one post, tags shared by many posts, and posts
    outside the topic or window."""
    rnd = random.Random(13)
    posts, links = [], []
    for i in range(1, 401):
        created = NOW - timedelta(minutes=3 * i + 1)  # distinct times: the newest-N set is one set
        if i % 50 == 0:
            created = NOW - timedelta(days=40)  # outside the 30-day window
        tags = ["summit"] + rnd.sample(
            [
                "energy",
                "trade",
                "nato",
                "gas",
                "oil",
                "ukraine",
                "g7",
                "sanctions",
                "markets",
                "ruble",
                "tariffs",
                "china",
            ],
            k=rnd.randint(0, 4),
        )
        if i % 13 == 0:
            # not as ingest stores them: each post still counts once per tag
            tags += [
                "NATO",
                "nato",
            ]
        posts.append(
            dict(
                id=i,
                source="mastodon",
                native_id=str(i),
                text=f"post {i}",
                author=f"a{i}",
                lang=rnd.choice(["en", "en", "de", "fr", None, "es"]),
                tags=tags,
                created_at=created,
                fetched_at=NOW,
                engagement=rnd.choice([0, 0, 3, 7, 7, 12]),
                reposts=0,
                compound=None
                if i % 7 == 0
                else rnd.choice([-0.9, -0.5, -0.5, 0.0, 0.3, 0.5, 0.5, 0.9]),
                pos=0.0,
                neu=1.0,
                neg=0.0,
            )
        )
        links.append((posts[-1], "other" if i % 11 == 0 else TOPIC.name))
    with store.write() as conn:
        conn.execute(insert(Post.__table__), posts)
        facets.insert_links(conn, links)


def _former(store: Store, since: datetime, until: datetime, limit: int) -> dict[str, Any]:
    """The dashboard's Python loop before the database did it (ids where the screen shows posts)."""
    rows = store.topic_post_scan(TOPIC.name, since=since, until=until, limit=limit)
    langs: Counter[str | None] = Counter()
    unscored: Counter[str | None] = Counter()
    tags: Counter[str] = Counter()
    for r in rows:
        langs[r["lang"]] += 1
        if r["compound"] is None:
            unscored[r["lang"]] += 1
        tags.update({str(t).casefold() for t in (r["tags"] or ())} - TOPIC.tags)
    scored = [r for r in rows if r["compound"] is not None]
    return {
        "languages": [
            (lang, n, unscored[lang])
            for lang, n in sorted(langs.items(), key=lambda kv: (-kv[1], kv[0] or ""))
        ],
        "most_positive": [
            r["id"]
            for r in heapq.nlargest(3, scored, key=lambda r: (r["compound"], r["id"]))
            if r["compound"] > 0
        ],
        "most_negative": [
            r["id"]
            for r in heapq.nsmallest(3, scored, key=lambda r: (r["compound"], -r["id"]))
            if r["compound"] < 0
        ],
        "most_engaged": [
            r["id"]
            for r in heapq.nlargest(3, rows, key=lambda r: (r["engagement"], r["id"]))
            if r["engagement"] > 0
        ],
        "hashtags": sorted(tags.items(), key=lambda kv: (-kv[1], kv[0]))[:10],
        "scanned": len(rows),
        "capped": len(rows) >= limit,
    }


def _shown(provider: StoreProvider, start: datetime, end: datetime) -> dict[str, Any]:
    d = provider._scan(TOPIC, WINDOW_BY_KEY["30d"], int(start.timestamp()), int(end.timestamp()))
    return {
        "languages": [(s.lang, s.posts, s.unscored) for s in d["languages"]],
        **{k: [p.id for p in d[k]] for k in ("most_positive", "most_negative", "most_engaged")},
        "hashtags": list(d["hashtags"]),
        "scanned": d["scanned"],
        "capped": d["capped"],
    }


def test_database_breakdowns_match_the_python_loop(store: Store) -> None:
    _fill(store)
    start, end = NOW - timedelta(days=30), NOW
    for cap in (CAP, 10_000):  # capped and not
        provider = StoreProvider(
            store, topics=[TOPIC], clock=lambda: NOW, detail_scan=cap, detail_ttl_s=0.0
        )
        shown, former = _shown(provider, start, end), _former(store, start, end, cap)
        assert shown == former
        assert shown["capped"] == (cap == CAP)
        assert (
            len(shown["most_positive"])
            == len(shown["most_negative"])
            == len(shown["most_engaged"])
            == 3
        )
        assert "summit" not in dict(shown["hashtags"]) and len(shown["hashtags"]) == 10
        assert any(lang is None for lang, _, _ in shown["languages"])
        assert sum(u for _, _, u in shown["languages"]) > 0


def test_few_posts_show_only_what_qualifies(store: Store) -> None:
    """A window with no positive or engaged post shows none rather than the least negative."""
    posts = [
        dict(
            id=i,
            source="mastodon",
            native_id=str(i),
            text="t",
            lang="en",
            tags=["Summit", "Gas"],
            created_at=NOW - timedelta(hours=i),
            fetched_at=NOW,
            engagement=0,
            reposts=0,
            compound=-0.2 * i if i < 3 else None,
        )
        for i in (1, 2, 3)
    ]
    with store.write() as conn:
        conn.execute(insert(Post.__table__), posts)
        facets.insert_links(conn, [(p, TOPIC.name) for p in posts])
    provider = StoreProvider(store, topics=[TOPIC], clock=lambda: NOW, detail_ttl_s=0.0)
    shown = _shown(provider, NOW - timedelta(days=30), NOW)
    assert shown == _former(store, NOW - timedelta(days=30), NOW, 20_000)
    assert (
        shown["most_positive"] == []
        and shown["most_engaged"] == []
        and shown["most_negative"] == [2, 1]
    )
    assert shown["hashtags"] == [("gas", 3)] and shown["languages"] == [("en", 3, 1)]
