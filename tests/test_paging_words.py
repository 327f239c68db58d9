"""What the paging work shows a person and what the simulator now does like the platforms.

Feed health and `monitor status` name a backfill in progress and a collection gap in words; the
simulator keeps Mastodon's `limit` in its Link headers, caps Reddit listings and Bluesky offsets,
escapes X text as X does and fails the n-th request on demand.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from monitor.ingest.poll import Ingestor, normalize
from monitor.simulator.corpus import CorpusPost
from monitor.simulator.platforms import bluesky as sim_bsky
from monitor.simulator.platforms import reddit as sim_reddit
from monitor.simulator.server import SimClock, Simulator
from monitor.sources import paging
from monitor.sources.base import Batch, RawPost
from monitor.sources.x import tweet_to_post, unescape_text
from monitor.store.db import Store
from monitor.ui.data import Request, SourceInfo, StoreProvider
from monitor.ui.format import Palette
from monitor.ui.screens.health import describe
from monitor.ui.status import build_status

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class _Topic:
    name, hashtags, keywords, exclude, languages, title = "deal", ["#x"], [], [], None, None


class _Src:
    """A source whose state says: a backfill half done, and one range the platform could not serve."""

    kind = "reddit"
    name = "reddit"

    class settings:  # noqa: N801 - stands in for the settings model
        topics = None
        match = "all"
        backfill = timedelta(hours=24)

        @staticmethod
        def model_dump(mode: str = "json") -> dict:
            return {}


def _state() -> dict:
    ledger = paging.Ledger({})
    rng = paging.Range(
        "listing",
        "r/worldnews/new",
        edge_at=(NOW - timedelta(hours=24)).timestamp(),
        cont={"after": "t3_x"},
        top_at=NOW.timestamp(),
        oldest_at=(NOW - timedelta(hours=6)).timestamp(),
        read=1241,
        backfill=True,
    )
    ledger.pending.append(rng)
    ledger.record_gap(
        rng,
        NOW - timedelta(hours=30),
        NOW - timedelta(hours=26),
        "Reddit offers only the newest 1,000 posts of r/worldnews/new: posts from 06:00 UTC to "
        "10:00 UTC were out of reach",
        NOW.timestamp(),
    )
    return ledger.into({})


@pytest.fixture
def store(sqlite_url):
    s = Store(sqlite_url)
    gap = (NOW - timedelta(hours=30), NOW - timedelta(hours=26))
    Ingestor(s, [_Topic()], clock=lambda: NOW).store_batch(
        _Src(), Batch(posts=[], state=_state(), status=200, gaps=[gap]), NOW
    )
    yield s
    s.close()


def test_status_says_what_is_backfilling_and_what_was_out_of_reach(store):
    (src,) = build_status(store, None, now=NOW)["sources"]
    progress, gap = src["collection"]
    assert progress == (
        "backfilling r/worldnews/new: 1,241 posts so far, back to 06:00 UTC, 3,720 to go "
        "(estimated) (the window starts 2026-03-01 12:00 UTC)"
    )
    assert (
        gap.startswith("Reddit offers only the newest 1,000 posts of r/worldnews/new")
        and "out of reach" in gap
    )
    later = build_status(store, None, now=NOW + timedelta(days=8))["sources"][0]["collection"]
    assert not any("out of reach" in line for line in later), (
        "a gap is named for a week; its buckets stay marked"
    )


def test_the_gap_minutes_are_incomplete_in_the_buckets(store):
    from sqlalchemy import select

    from monitor.store.models import Bucket

    with store.read() as conn:
        minutes = list(
            conn.execute(
                select(Bucket.start_ts).where(
                    Bucket.source == "reddit", Bucket.incomplete.is_(True)
                )
            ).scalars()
        )
    assert len(minutes) == 4 * 60 + 1 and min(minutes) == int(
        (NOW - timedelta(hours=30)).timestamp()
    )


def test_feed_health_shows_the_same_words(store):
    provider = StoreProvider(store, sources=[SourceInfo("reddit", "reddit")], clock=lambda: NOW)
    snap = provider.fetch(Request(view="health"))
    (health,) = snap.sources
    assert health.collection and health.collection[0].startswith(
        "backfilling r/worldnews/new: 1,241 posts"
    )
    shown = describe(health, snap, Palette()).plain
    assert "backfilling r/worldnews/new" in shown and "were out of reach" in shown


# --- text as the author wrote it ------------------------------------------------------------------


@pytest.mark.parametrize(
    "sent,meant",
    [
        ("AT&amp;T &amp; S&amp;P 500 &lt;3", "AT&T & S&P 500 <3"),
        ("&amp;lt; is how you write &lt;", "&lt; is how you write <"),  # decoded once, never twice
        # X escapes only & < >
        (
            "caf&eacute; &quot;as typed&quot;",
            "caf&eacute; &quot;as typed&quot;",
        ),
    ],
)
def test_x_text_is_decoded_exactly_once(sent, meant):
    assert unescape_text(sent) == meant
    post = tweet_to_post(
        {"id": "1", "created_at": "2026-03-02T12:00:00.000Z", "text": sent}, {}, "https://x.com"
    )
    assert post is not None and normalize(post).text == meant


def test_every_other_platform_text_reaches_the_store_unescaped():
    """Mastodon and HN send HTML (converted to text), Reddit sends raw text with raw_json=1,
    Bluesky plain text: each ends as typed (the contract suite checks it end to end)."""
    html_post = RawPost(
        native_id="m", text="<p>AT&amp;T &amp; S&amp;P 500 &lt;3</p>", is_html=True, created_at=NOW
    )
    plain = RawPost(native_id="b", text="AT&T & S&P 500 <3", created_at=NOW)
    assert normalize(html_post).text == normalize(plain).text == "AT&T & S&P 500 <3"


# --- the simulator ----------------------------------------------------------------------------------


def _posts(platform: str, n: int) -> list[CorpusPost]:
    return [
        CorpusPost(
            id=f"p{i:04d}",
            offset_s=60 * i + 7,
            platform=platform,
            author=f"u{i % 5}",
            text=f"#TrumpPutin talks {i} AT&T <3",
            lang="en",
            hashtags=("TrumpPutin",),
        )
        for i in range(n)
    ]


@pytest.fixture
def make_sim():
    made = []

    def make(posts):
        sim = Simulator(corpus=posts, clock=SimClock(epoch=NOW - timedelta(days=1))).start()
        sim.clock.set_offset(posts[-1].offset_s + 60)
        sim.clock.pause()
        made.append(sim)
        return sim

    yield make
    for sim in made:
        sim.stop()


def test_a_fault_can_hit_the_nth_request(make_sim):
    sim = make_sim(_posts("mastodon", 5))
    sim.set_faults(status=503, skip=2, count=1)
    codes = [httpx.get(f"{sim.url}/api/v1/timelines/tag/TrumpPutin").status_code for _ in range(4)]
    assert codes == [200, 200, 503, 200]


def test_mastodon_link_headers_keep_limit_and_since_id_bounds_max_id(make_sim):
    sim = make_sim(_posts("mastodon", 30))
    first = httpx.get(f"{sim.url}/api/v1/timelines/tag/TrumpPutin", params={"limit": 5})
    assert "limit=5" in first.links["next"]["url"] and "limit=5" in first.links["prev"]["url"]
    ids = [s["id"] for s in first.json()]
    newest, oldest = ids[0], ids[-1]
    between = httpx.get(
        f"{sim.url}/api/v1/timelines/tag/TrumpPutin",
        params={"max_id": newest, "since_id": oldest, "limit": 40},
    ).json()
    assert [s["id"] for s in between] == ids[1:-1], (
        "max_id and since_id: the posts strictly between, newest first"
    )


def test_reddit_listings_hold_their_newest_items_only(make_sim):
    sim = make_sim(_posts("reddit", 30))
    sim_reddit.configure(sim, max_items=12)
    token = httpx.post(
        f"{sim.url}/api/v1/access_token", auth=("a", "b"), data={"grant_type": "client_credentials"}
    ).json()["access_token"]
    headers = {"Authorization": f"bearer {token}"}
    seen, after = [], None
    for _ in range(10):
        data = httpx.get(
            f"{sim.url}/r/worldnews/new",
            headers=headers,
            params={"limit": 5, **({"after": after} if after else {})},
        ).json()["data"]
        seen += [c["data"]["name"] for c in data["children"]]
        after = data["after"]
        if not after:
            break
    assert len(seen) == 12, "the listing ends at its cap, with after: null"


def test_bluesky_refuses_deep_offsets(make_sim):
    sim = make_sim(_posts("bluesky", 30))
    sim_bsky.configure(sim, max_offset=10)
    jwt = httpx.post(
        f"{sim.url}/xrpc/com.atproto.server.createSession",
        json={"identifier": "a.bsky.social", "password": "p"},
    ).json()["accessJwt"]
    headers = {"Authorization": f"Bearer {jwt}"}
    url = f"{sim.url}/xrpc/app.bsky.feed.searchPosts"
    page = httpx.get(
        url, headers=headers, params={"q": "#TrumpPutin", "limit": 5, "cursor": "5"}
    ).json()
    assert "cursor" not in page, "no cursor is offered past the cap"
    deep = httpx.get(url, headers=headers, params={"q": "#TrumpPutin", "limit": 5, "cursor": "10"})
    assert deep.status_code == 400 and deep.json()["error"] == "InvalidRequest"


def test_x_text_comes_escaped_as_x_sends_it(make_sim):
    sim = make_sim(_posts("x", 3))
    data = httpx.get(
        f"{sim.url}/2/tweets/search/recent",
        headers={"Authorization": "Bearer t"},
        params={"query": "#TrumpPutin", "max_results": 10},
    ).json()["data"]
    assert all(t["text"].endswith("AT&amp;T &lt;3") for t in data)
