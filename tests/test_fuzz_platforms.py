"""Each platform's JSON, damaged item by item (tests/fuzz_support.py), through the real source and
the real ingest: never a traceback, never a failed page for a damaged item, every undamaged item
stored, and every damaged item either stored or reported by its position in the answer."""

from __future__ import annotations

import random
import re
from datetime import UTC, timedelta
from types import SimpleNamespace

import httpx
import pytest
from fuzz_support import Damager
from sqlalchemy import delete, select

from monitor.ingest.poll import Ingestor
from monitor.simulator.corpus import BURST_WINDOW
from monitor.sources.base import PollContext, collecting_rejections
from monitor.sources.bluesky import BlueskySettings, BlueskySource
from monitor.sources.hackernews import HackerNewsSettings, HackerNewsSource
from monitor.sources.mastodon import MastodonSettings, MastodonSource
from monitor.sources.reddit import RedditSettings, RedditSource
from monitor.sources.x import XSettings, XSource
from monitor.store.db import Store
from monitor.store.models import Bucket, Post, PostTopic, Quarantine, Repost

TOPICS = [
    SimpleNamespace(
        name="thaw",
        title=None,
        hashtags=["#TrumpPutinBusiness", "#TrumpPutin"],
        keywords=["Dmitriev", "Trump", "Putin"],
        exclude=[],
        languages=None,
    )
]
ROUNDS = 25  # answers damaged per platform (three items each); about a second a platform


def _get(item, *keys):
    for k in keys:
        item = item.get(k) if isinstance(item, dict) else None
    return item if isinstance(item, str) else None


PLATFORMS = {
    "mastodon": (
        lambda u: MastodonSource(
            MastodonSettings(
                name="m",
                kind="mastodon",
                instances=[u],
                hashtags=["trumpputinbusiness"],
                match="all",
                backfill=timedelta(hours=12),
            ),
            TOPICS,
            None,
        ),
        lambda p: p.startswith("/api/v1/timelines/tag/"),
        lambda b: b,
        lambda i: _get(i, "uri"),
    ),
    "bluesky": (
        lambda u: BlueskySource(
            BlueskySettings(
                name="b", kind="bluesky", service=u, match="all", backfill=timedelta(hours=12)
            ),
            TOPICS,
            None,
        ),
        lambda p: p.endswith("searchPosts"),
        lambda b: b["posts"],
        lambda i: _get(i, "uri"),
    ),
    "reddit": (
        lambda u: RedditSource(
            RedditSettings(
                name="r",
                kind="reddit",
                api_url=u,
                www_url=u,
                subreddits=["worldnews"],
                listing="new",
                match="all",
                client_id_env="FUZZ_RID",
                client_secret_env="FUZZ_RS",
                backfill=timedelta(hours=12),
            ),
            TOPICS,
            None,
        ),
        lambda p: p.startswith("/r/"),
        lambda b: b["data"]["children"],
        lambda i: _get(i, "data", "name"),
    ),
    "x": (
        lambda u: XSource(
            XSettings(
                name="x",
                kind="x",
                api_url=u,
                web_url=u,
                bearer_token_env="FUZZ_X",
                match="all",
                backfill=timedelta(hours=12),
            ),
            TOPICS,
            None,
        ),
        lambda p: p.startswith("/2/tweets"),
        lambda b: b["data"],
        lambda i: _get(i, "id"),
    ),
    "hackernews": (
        lambda u: HackerNewsSource(
            HackerNewsSettings(
                name="hn",
                kind="hackernews",
                api_url=f"{u}/api/v1",
                web_url=u,
                match="all",
                backfill=timedelta(hours=12),
            ),
            TOPICS,
            None,
        ),
        lambda p: p.endswith("search_by_date"),
        lambda b: b["hits"],
        lambda i: _get(i, "objectID"),
    ),
}


@pytest.fixture
def secrets(monkeypatch):
    for name, value in {
        "BLUESKY_HANDLE": "fuzz.bsky.social",
        "BLUESKY_APP_PASSWORD": "app-pass",
        "FUZZ_RID": "id",
        "FUZZ_RS": "secret",
        "FUZZ_X": "token",
    }.items():
        monkeypatch.setenv(name, value)


def _clear(store: Store) -> None:
    with store.write() as conn:
        for table in (PostTopic, Repost, Post, Bucket, Quarantine):
            conn.execute(delete(table))


@pytest.mark.slow
@pytest.mark.parametrize("platform", list(PLATFORMS))
def test_damaged_items_never_block_a_page(platform, simulator, secrets, tmp_path):
    simulator.clock.set_offset(BURST_WINDOW[1] + 3600)
    simulator.clock.pause()
    make, target, items, id_of = PLATFORMS[platform]
    source = make(simulator.url)
    store = Store(f"sqlite:///{tmp_path}/fuzz.db")
    ingestor = Ingestor(store, TOPICS)
    problems: list[str] = []
    with httpx.Client(timeout=10) as real:
        for seed in range(ROUNDS):
            damager = Damager(real, target, items, id_of, random.Random(f"{platform}-{seed}"))
            source.http = httpx.Client(transport=damager.transport())
            ctx = PollContext(now=simulator.clock.now(), backfill=source.settings.backfill)
            _clear(store)
            with collecting_rejections() as unread:
                batch = source.fetch({}, ctx)  # any exception here fails the test: a page blocked
            batch.rejected = [*unread, *batch.rejected]
            assert damager.done, "the damaged endpoint was never asked"
            assert batch.error is None, (
                f"{platform} seed {seed}: {batch.error} after {damager.damaged}"
            )
            outcome = ingestor.store_batch(source, batch, ctx.now)
            with store.read() as conn:  # a boost is kept as a repost of its original
                stored = set(conn.execute(select(Post.native_id)).scalars()) | set(
                    conn.execute(select(Repost.native_id)).scalars()
                )
            reported = [r.position for r in outcome.rejected]
            damaged_at = {d.index for d in damager.damaged}
            for index, original in enumerate(damager.ids, start=1):

                def here(position: str | None, index: int = index) -> bool:
                    return (
                        bool(position)
                        and re.search(rf"\b{index}( \(the boosted post\))?$", position) is not None
                    )

                at_index = any(here(p) for p in reported)
                # a damaged id is stored under what the item said (or merged with the item it now repeats)
                as_sent = any(here(p.position) and p.native_id in stored for p in batch.posts)
                if index in damaged_at:
                    if original not in stored and not at_index and not as_sent:
                        problems.append(
                            f"seed {seed}: damaged item {index} neither stored nor reported: "
                            f"{[str(d) for d in damager.damaged if d.index == index]}"
                        )
                elif original is not None and original not in stored and not at_index:
                    problems.append(
                        f"seed {seed}: undamaged item {index} ({original}) lost; damage: "
                        f"{[str(d) for d in damager.damaged]}"
                    )
    store.close()
    assert not problems, "\n".join(problems[:20])


@pytest.mark.slow
def test_damaged_jetstream_frames_never_stop_the_stream(tmp_path):
    """Jetstream's JSON frames, damaged one field at a time: the stream stores every undamaged
    post and each damaged frame is stored or quarantined by its number."""
    import json
    from datetime import datetime

    from fuzz_support import HOSTILE, leaf_paths, set_path

    from monitor.sources.jetstream import JetstreamSettings, JetstreamSource, _Pending

    store = Store(f"sqlite:///{tmp_path}/j.db")
    ingestor = Ingestor(store, TOPICS)
    now_us = int(datetime.now(UTC).timestamp() * 1_000_000)
    problems = []
    for seed in range(25):
        rng = random.Random(f"jetstream-{seed}")
        src = JetstreamSource(
            JetstreamSettings(name="js", kind="jetstream", url="ws://127.0.0.1:9"), TOPICS, None
        )
        events = [
            {
                "did": f"did:plc:{seed}x{i}",
                "time_us": now_us - 1000 * (20 - i),
                "kind": "commit",
                "commit": {
                    "rev": "r",
                    "operation": "create",
                    "collection": "app.bsky.feed.post",
                    "rkey": f"k{i}",
                    "record": {
                        "$type": "app.bsky.feed.post",
                        "text": f"Dmitriev and Putin, take {i} #TrumpPutin",
                        "createdAt": datetime.now(UTC).isoformat(),
                        "langs": ["en"],
                    },
                },
            }
            for i in range(20)
        ]
        uris = [f"at://{e['did']}/app.bsky.feed.post/k{i}" for i, e in enumerate(events)]
        damaged = set(rng.sample(range(20), 3))
        for i in damaged:
            path = rng.choice(leaf_paths(events[i]))
            events[i] = set_path(events[i], path, rng.choice(HOSTILE))
        _clear(store)
        pending = _Pending()
        for e in events:
            src._take(json.dumps(e, allow_nan=True), pending)
        src._flush(ingestor, pending, None)
        with store.read() as conn:
            stored = set(conn.execute(select(Post.native_id)).scalars())
            kept = set(conn.execute(select(Quarantine.position)).scalars())

        def ignored(e, src=src) -> bool:
            """A frame the stream rightly passes over: no longer a new post about a topic."""
            commit = e.get("commit") if isinstance(e, dict) else None
            record = commit.get("record") if isinstance(commit, dict) else None
            text = record.get("text") if isinstance(record, dict) else None
            return (
                not src._prefilter.passes(json.dumps(e, allow_nan=True))
                or e.get("kind") != "commit"
                or not isinstance(commit, dict)
                or commit.get("collection") != "app.bsky.feed.post"
                or commit.get("operation") != "create"
                or (isinstance(text, str) and not src._matcher.match(text, []))
            )

        def uri_now(e) -> str | None:
            commit = e.get("commit") if isinstance(e, dict) else None
            if isinstance(commit, dict):
                return f"at://{e.get('did')}/app.bsky.feed.post/{commit.get('rkey')}"
            return None

        for i, uri in enumerate(uris):
            if i not in damaged and uri not in stored:
                problems.append(f"seed {seed}: undamaged frame {i + 1} lost")
            if (
                i in damaged
                and uri not in stored
                and uri_now(events[i]) not in stored
                and not ignored(events[i])
                and not any(
                    k.startswith(f"Jetstream frame {i + 1} of this connection") for k in kept
                )
            ):
                problems.append(
                    f"seed {seed}: damaged frame {i + 1} neither stored nor quarantined "
                    f"(a post of no topic is not stored: {events[i]!r:.200})"
                )
    store.close()
    assert not problems, "\n".join(problems[:10])
