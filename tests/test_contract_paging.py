"""The paging contract every cursor-paginated source keeps, through the simulator, on SQLite and
PostgreSQL: whatever a poll cannot read (page budget, failure, restart, rate limit), a later poll
reads, and what the platform cannot serve at all is a recorded gap.

Each case runs the source through the real ingest path (`Ingestor.poll`, one transaction per
poll) against a synthetic timeline in the platform's wire format, and checks what a researcher
citing the numbers relies on: the stored posts are exactly the posts of the window (compared by
id, not by count), none is stored twice, and the bucket sums count every stored post once.

Budgets are small (five posts a page, two pages a poll; X's smallest page is ten) so that a
window of twenty budgets is still a few hundred posts. `PAGING_CONTRACT_TABLE=<file>` writes the
served/stored figures of every case to that file.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from monitor.config.feeds import Topic
from monitor.ingest.poll import Ingestor
from monitor.simulator.corpus import CorpusPost
from monitor.simulator.platforms import bluesky as sim_bsky
from monitor.simulator.platforms import hackernews as sim_hn
from monitor.simulator.platforms import mastodon as sim_masto
from monitor.simulator.platforms import reddit as sim_reddit
from monitor.simulator.platforms import x as sim_x
from monitor.simulator.platforms.atproto import at_uri
from monitor.simulator.server import SimClock, Simulator
from monitor.sources.base import Source
from monitor.sources.bluesky import BlueskySettings, BlueskySource
from monitor.sources.hackernews import HackerNewsSettings, HackerNewsSource
from monitor.sources.http import make_client
from monitor.sources.mastodon import MastodonSettings, MastodonSource
from monitor.sources.reddit import RedditSettings, RedditSource
from monitor.sources.x import XSettings, XSource
from monitor.store.db import Store
from monitor.ui.status import build_status

TOPIC = Topic(name="deal", hashtags=["#TrumpPutin"], keywords=["Dmitriev"])
PLATFORMS = ("mastodon", "bluesky", "reddit", "x", "hackernews")
EPOCH = datetime(2026, 3, 1, tzinfo=UTC)
STEP_S = 60  # one post a minute
HOSTILE = "AT&T & S&P 500 <3 &amp; more"  # what the author typed, entity text included
ROWS: list[tuple[str, str, str, int, int, int, str]] = []


@dataclass(frozen=True)
class Platform:
    name: str
    per_poll: int  # posts one poll may read (page size x pages)
    path: str  # request path prefix of its paged endpoint, for faults

    def settings(self, sim: Simulator, **kw) -> dict:
        return {"name": self.name, "kind": self.name, "match": "all", **kw}


SPEC = {
    "mastodon": Platform("mastodon", 10, "/api/v1/timelines/tag"),
    "bluesky": Platform("bluesky", 10, "/xrpc/app.bsky.feed.searchPosts"),
    "reddit": Platform("reddit", 10, "/r/"),
    "x": Platform("x", 20, "/2/tweets/search/recent"),
    "hackernews": Platform("hackernews", 10, "/api/v1/search_by_date"),
}


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("C_REDDIT_ID", "client-id")
    monkeypatch.setenv("C_REDDIT_SECRET", "client-secret")
    monkeypatch.setenv("C_BSKY_HANDLE", "watcher.bsky.social")
    monkeypatch.setenv("C_BSKY_PASSWORD", "abcd-efgh-ijkl-mnop")
    monkeypatch.setenv("C_X_TOKEN", "bearer-token")


def timeline(platform: str, n: int, first_s: int = 7) -> list[CorpusPost]:
    """`n` posts a minute apart (at second `first_s` of each minute), every tenth with HOSTILE text."""
    posts = []
    for i in range(n):
        text = f"#TrumpPutin Dmitriev talks, update {i}" + (f": {HOSTILE}" if i % 10 == 3 else "")
        posts.append(
            CorpusPost(
                id=f"c{i:05d}",
                offset_s=first_s + i * STEP_S,
                platform=platform,
                author=f"user{i % 17}",
                text=text,
                lang="en",
                hashtags=("TrumpPutin",),
            )
        )
    return posts


def native_id(sim: Simulator, platform: str, post: CorpusPost) -> str:
    seq = sim.index.seq[post.id]
    if platform == "mastodon":
        return f"{sim.url}/users/{quote(post.author, safe='')}/statuses/{sim_masto.local_id(sim_masto.HOME, seq)}"
    if platform == "bluesky":
        return at_uri(post, seq, sim.clock.epoch)
    if platform == "reddit":
        return sim_reddit.fullname(sim, post)
    if platform == "x":
        return sim_x.tweet_id(sim, post)
    return sim_hn.object_id(sim, post)


def make_source(platform: str, sim: Simulator, http, **kw) -> Source:
    common = {"name": platform, "kind": platform, "match": "all", **kw}
    if platform == "mastodon":
        common.setdefault("page_size", 5)
        common.setdefault("max_pages", 2)
        return MastodonSource(MastodonSettings(instances=[sim.url], **common), [TOPIC], http)
    if platform == "bluesky":
        common.setdefault("page_size", 5)
        common.setdefault("max_pages", 2)
        return BlueskySource(
            BlueskySettings(
                service=sim.url,
                queries=["#TrumpPutin"],
                handle_env="C_BSKY_HANDLE",
                app_password_env="C_BSKY_PASSWORD",
                **common,
            ),
            [TOPIC],
            http,
        )
    if platform == "reddit":
        common.setdefault("page_size", 5)
        common.setdefault("max_pages", 2)
        return RedditSource(
            RedditSettings(
                subreddits=["worldnews"],
                listing="new",
                api_url=sim.url,
                www_url=sim.url,
                client_id_env="C_REDDIT_ID",
                client_secret_env="C_REDDIT_SECRET",
                **common,
            ),
            [TOPIC],
            http,
        )
    if platform == "x":
        common.setdefault("page_size", 10)
        common.setdefault("max_pages", 2)
        return XSource(
            XSettings(api_url=sim.url, web_url=sim.url, bearer_token_env="C_X_TOKEN", **common),
            [TOPIC],
            http,
        )
    common.setdefault("hits_per_page", 5)
    common.setdefault("max_requests", 2)
    return HackerNewsSource(
        HackerNewsSettings(
            api_url=f"{sim.url}/api/v1", web_url=sim.url, queries=["Dmitriev"], **common
        ),
        [TOPIC],
        http,
    )


class Run:
    """One platform's timeline on a simulator, a store, and polls through the real ingest path."""

    def __init__(self, platform: str, store_url: str, posts: list[CorpusPost], **settings):
        self.platform, self.store_url, self.settings = platform, store_url, settings
        self.sim = Simulator(corpus=posts, clock=SimClock(epoch=EPOCH)).start()
        self.sim.clock.pause()
        self.http = make_client(timeout=5)
        self.store = Store(store_url)
        self.source = make_source(platform, self.sim, self.http, **settings)
        self.ingestor = Ingestor(self.store, [TOPIC], clock=self.sim.clock.now)
        self.outcomes: list = []

    def close(self) -> None:
        self.store.close()
        self.http.close()
        self.sim.stop()

    def at(self, offset_s: float) -> None:
        self.sim.clock.set_offset(offset_s)

    def restart(self) -> None:
        """A new process: fresh store connection, client and source on the same database."""
        self.store.close()
        self.http.close()
        self.http = make_client(timeout=5)
        self.store = Store(self.store_url)
        self.source = make_source(self.platform, self.sim, self.http, **self.settings)
        self.ingestor = Ingestor(self.store, [TOPIC], clock=self.sim.clock.now)

    def poll(self):
        out = self.ingestor.poll(self.source)
        self.outcomes.append(out)
        return out

    def state(self) -> dict:
        return (self.store.source_state(self.platform) or {}).get("state") or {}

    def pending(self) -> bool:
        state = self.state()
        return bool((state.get("paging") or {}).get("pending") or state.get("pending"))

    def drain(self, polls: int = 80, between: Callable[[], None] | None = None) -> int:
        """Poll until nothing is pending, as the scheduler would; returns the number of polls."""
        for n in range(1, polls + 1):
            self.poll()
            if not self.pending() and self.outcomes[-1].outcome == "ok":
                return n
            if between is not None:
                between()
        raise AssertionError(
            f"{self.platform}: still pending after {polls} polls: "
            f"{[o.error for o in self.outcomes if o.error][-3:]}"
        )

    def expected(self, since: datetime, until: datetime | None = None) -> set[str]:
        until = until or self.sim.clock.now()
        epoch = self.sim.clock.epoch
        return {
            native_id(self.sim, self.platform, p)
            for p in self.sim.corpus
            if since <= p.created_at(epoch) <= until
        }

    def stored(self) -> list[str]:
        return [p["native_id"] for p in self.store.posts()]

    def served(self) -> set[str]:
        every = {native_id(self.sim, self.platform, p) for p in self.sim.corpus}
        return self.sim.served_ids() & every

    def check(self, case: str, want: set[str]) -> None:
        """Stored = the window's posts, none twice, every one counted once in the buckets."""
        stored = self.stored()
        served = self.served()
        ROWS.append(
            (
                self.platform,
                case,
                self.store_url.split(":")[0],
                len(served),
                len(served & want),
                len(stored),
                "yes" if set(stored) == want else "NO",
            )
        )
        assert len(stored) == len(set(stored)), "a post was stored twice"
        missing, extra = want - set(stored), set(stored) - want
        assert not missing and not extra, f"{len(missing)} missing, {len(extra)} not in the window"
        assert set(stored) <= served, "stored only what the platform served"
        sums = self.store.sums(TOPIC.name, source=self.platform)
        assert sums.total == len(stored), "bucket totals equal the post count"
        texts = [p["text"] for p in self.store.posts() if "AT&T" in p["text"]]
        assert texts and all(HOSTILE in t for t in texts), "text is stored as the author wrote it"

    def incomplete_minutes(self) -> list[int]:
        from sqlalchemy import select

        from monitor.store.models import Bucket

        with self.store.read() as conn:
            return list(
                conn.execute(
                    select(Bucket.start_ts)
                    .where(Bucket.source == self.platform, Bucket.incomplete.is_(True))
                    .order_by(Bucket.start_ts)
                ).scalars()
            )


@pytest.fixture
def runs(store_url: str) -> Iterator[Callable[..., Run]]:
    made: list[Run] = []

    def make(platform: str, posts: list[CorpusPost], **settings) -> Run:
        run = Run(platform, store_url, posts, **settings)
        made.append(run)
        return run

    yield make
    for run in made:
        run.close()


def window_run(make, platform: str, budgets: int = 20, **settings) -> tuple[Run, datetime]:
    """A timeline whose backfill window holds `budgets` times one poll's budget, plus older posts."""
    spec = SPEC[platform]
    n_window = budgets * spec.per_poll
    run = make(
        platform, timeline(platform, n_window + 30), backfill=f"{n_window * STEP_S}s", **settings
    )
    now = (n_window + 30) * STEP_S
    run.at(now)
    return run, run.sim.clock.now() - timedelta(seconds=n_window * STEP_S)


# --- (a) a window of twenty budgets completes over successive polls --------------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_first_poll_of_twenty_budgets_completes_over_successive_polls(runs, platform):
    run, since = window_run(runs, platform)
    first = run.poll()
    assert first.outcome == "ok" and 0 < first.new_posts <= SPEC[platform].per_poll
    assert run.pending(), "one poll cannot read the window: the rest is pending, not dropped"
    polls = 1 + run.drain()
    want = run.expected(since)
    assert len(want) == 20 * SPEC[platform].per_poll and polls > 10
    run.check("a: 20 budgets", want)


# --- (b) a 503 on request k of the first poll --------------------------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_503_on_request_k_of_the_first_poll_then_the_window_completes(runs, platform):
    run, since = (
        window_run(runs, platform, budgets=4, max_pages=50)
        if platform != "hackernews"
        else window_run(runs, platform, budgets=4, max_requests=50)
    )
    # the third request fails
    run.sim.set_faults(status=503, skip=2, count=1, path_prefix=SPEC[platform].path)
    first = run.poll()
    assert first.outcome in ("partial", "error") and "503" in (first.error or "")
    run.drain()
    run.check("b: 503 on request 3", run.expected(since))


# --- (c) a burst between two polls larger than the page budget ---------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_burst_between_two_polls_larger_than_the_budget_is_read_whole(runs, platform):
    per_poll = SPEC[platform].per_poll
    quiet, burst = 30, 7 * per_poll
    run = runs(platform, timeline(platform, quiet + burst), backfill=f"{quiet * STEP_S}s")
    run.at(quiet * STEP_S)
    since = run.sim.clock.now() - timedelta(seconds=quiet * STEP_S)
    run.drain()
    run.at((quiet + burst) * STEP_S)  # seven budgets arrive before the next poll
    second = run.poll()
    assert second.new_posts <= per_poll and run.pending()
    run.drain()
    want = run.expected(since)
    assert len(want) == quiet + burst
    run.check("c: burst of 7 budgets", want)


# --- (d) a new process started mid-backfill resumes from the stored ledger ---------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_new_process_mid_backfill_resumes_from_the_stored_ledger(runs, platform):
    run, since = window_run(runs, platform, budgets=6)
    run.poll()
    run.poll()
    stored_before = len(run.stored())
    run.restart()  # the collector was killed; a new one starts on the same store
    resumed = run.poll()
    overlap = 3 if platform == "bluesky" else 0  # Bluesky re-reads two minutes for its index lag
    assert resumed.outcome == "ok" and resumed.new_posts > 0 and resumed.duplicates <= overlap, (
        "the new process goes on where the old one stopped, not from the top"
    )
    assert len(run.stored()) == stored_before + resumed.new_posts
    run.drain()
    run.check("d: restart mid-backfill", run.expected(since))


# --- (e) a rate-limit pause mid-backfill resumes after the reset -------------------------------------


RATE = {  # (limit, window in s): six requests (two are kept in reserve), then a pause until the reset
    "mastodon": (8, 1.5),
    "bluesky": (8, 1.5),
    "reddit": (8, 1.5),
    "x": (8, 1.5),
}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_rate_limit_pause_mid_backfill_resumes_after_the_reset(runs, platform):
    run, since = window_run(runs, platform, budgets=3)
    if platform == "hackernews":  # Algolia sends no rate headers: it answers 429 when over
        run.sim.set_faults(
            status=429, retry_after=1, skip=4, count=3, path_prefix=SPEC[platform].path
        )
    else:
        limit, window_s = RATE[platform]
        {"mastodon": sim_masto, "bluesky": sim_bsky, "reddit": sim_reddit, "x": sim_x}[
            platform
        ].set_rate_limit(run.sim, limit, window_s)
    started = time.monotonic()
    stalled = []

    def between() -> None:
        last = run.outcomes[-1]
        if last.new_posts == 0:
            stalled.append(last)
            time.sleep(0.3)  # the scheduler would wait for the reset; the window is short here

    run.drain(polls=200, between=between)
    assert stalled, "the limit was reached mid-backfill"
    if platform != "hackernews":
        assert time.monotonic() - started >= RATE[platform][1] * 0.5, (
            "it went on only after the reset"
        )
    run.check("e: rate-limit pause", run.expected(since))


# --- (f) a platform cap ends as a recorded gap (or is worked around, where the platform allows) ------


def test_reddit_listing_cap_ends_as_a_recorded_gap(runs):
    run, since = window_run(runs, "reddit", budgets=10, listing_cap=60)
    sim_reddit.configure(run.sim, max_items=60)  # Reddit's 1,000 at a size a test can afford
    run.drain()
    newest = sorted(run.sim.corpus, key=lambda p: p.offset_s)[-60:]
    want = {native_id(run.sim, "reddit", p) for p in newest}
    run.check("f: listing cap 60", want)
    gaps = run.state()["paging"]["gaps"]
    oldest = min(p.created_at(run.sim.clock.epoch) for p in newest)
    assert (
        len(gaps) == 1
        and gaps[0]["start"] == since.timestamp()
        and gaps[0]["end"] == oldest.timestamp()
    )
    assert gaps[0]["reason"].startswith(
        "Reddit offers only the newest 60 posts of r/worldnews/new: posts from "
    )
    minutes = run.incomplete_minutes()
    assert (
        minutes[0] == int(since.timestamp()) // 60 * 60
        and minutes[-1] == int(oldest.timestamp()) // 60 * 60
    )
    status = build_status(run.store, None, now=run.sim.clock.now())
    (mine,) = [s for s in status["sources"] if s["name"] == "reddit"]
    assert any("were out of reach" in line for line in mine["collection"])


def test_bluesky_offset_cap_is_read_past_with_until(runs):
    run, since = window_run(runs, "bluesky", budgets=10, max_pages=50)
    sim_bsky.configure(run.sim, max_offset=20)  # Bluesky's ~10,000 at a size a test can afford
    run.drain()
    run.check("f: offset cap 20", run.expected(since))
    assert run.state()["paging"]["gaps"] == [] and run.incomplete_minutes() == []


def test_x_seven_days_end_as_a_recorded_gap(runs):
    per_day = 30
    posts = timeline("x", 8 * per_day + 5, first_s=7)
    posts = [
        CorpusPost(
            id=p.id,
            offset_s=7 + i * 86400 // per_day,
            platform="x",
            author=p.author,
            text=p.text,
            lang="en",
            hashtags=p.hashtags,
        )
        for i, p in enumerate(posts)
    ]
    run = runs("x", posts, backfill="8d", max_pages=5)
    run.at(posts[-1].offset_s + 30)
    now = run.sim.clock.now()
    reach = now - timedelta(days=7) + timedelta(minutes=2)
    run.drain()
    run.check("f: 7-day reach", run.expected(reach))
    (gap,) = run.state()["paging"]["gaps"]
    assert (
        gap["start"] == int((now - timedelta(days=8)).timestamp())
        and gap["end"] == reach.timestamp()
    )
    assert gap["reason"].startswith("X recent search reaches back 7 days only")
    assert run.incomplete_minutes()[0] == int(gap["start"]) // 60 * 60


def test_hacker_news_1000_hit_cap_is_read_in_time_slices(runs):
    run, since = window_run(runs, "hackernews", budgets=10, max_requests=50)
    sim_hn.configure(run.sim, max_hits=12)  # Algolia's 1,000 at a size a test can afford
    run.drain()
    run.check("f: 1,000-hit cap (12)", run.expected(since))


# --- the figures -------------------------------------------------------------------------------------


def teardown_module() -> None:
    path = os.environ.get("PAGING_CONTRACT_TABLE")
    if not path or not ROWS:
        return
    with open(path, "a", encoding="utf-8") as fh:
        for row in ROWS:
            fh.write("| " + " | ".join(str(c) for c in row) + " |\n")
