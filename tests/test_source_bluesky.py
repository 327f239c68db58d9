"""The Bluesky search source against the simulator's XRPC: sessions, since-paging, dedupe, failures."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx
import pytest

from monitor.ingest.match import TopicMatcher
from monitor.ingest.poll import Ingestor
from monitor.simulator.corpus import BURST_WINDOW
from monitor.simulator.platforms import bluesky as bsim
from monitor.simulator.platforms.atproto import at_uri
from monitor.sources.base import PollContext, SourceError
from monitor.sources.bluesky import BlueskySettings, BlueskySource, post_view_to_post
from monitor.sources.http import make_client
from monitor.store.db import Store

HANDLE, PASSWORD = "watcher.bsky.social", "abcd-efgh-ijkl-mnop"
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
def creds(monkeypatch):
    monkeypatch.setenv("BLUESKY_HANDLE", HANDLE)
    monkeypatch.setenv("BLUESKY_APP_PASSWORD", PASSWORD)


def source(sim, http, **kw):
    settings = BlueskySettings(name=kw.pop("name", "bsky"), kind="bluesky", service=sim.url, **kw)
    return BlueskySource(settings, TOPICS, http)


def at(sim, offset_s, backfill=timedelta(hours=1)):
    sim.clock.set_offset(offset_s)
    sim.clock.pause()
    return PollContext(now=sim.clock.now(), backfill=backfill)


def expected(sim, lo, hi):
    """at:// uris of the Bluesky posts published in (lo, hi] that the source's searches find."""
    matcher = TopicMatcher(TOPICS)
    seq, epoch = sim.index.seq, sim.clock.epoch
    return {
        at_uri(p, seq[p.id], epoch)
        for p in sim.corpus
        if p.platform == "bluesky"
        and lo < p.offset_s <= hi
        and (
            p.hashtags
            and {t.casefold() for t in p.hashtags} & {"trumpputinbusiness", "trumpputin"}
            or "dmitriev" in p.text.casefold()
        )
        and matcher.match(p.text, p.hashtags)
    }


def uris(batch):
    return {p.native_id for p in batch.posts}


# --- credentials and sessions ------------------------------------------------------------------------------------


def test_without_credentials_it_says_bluesky_requires_them(
    simulator, http, monkeypatch, sqlite_url
):
    monkeypatch.delenv("BLUESKY_HANDLE", raising=False)
    monkeypatch.delenv("BLUESKY_APP_PASSWORD", raising=False)
    src = source(simulator, http)
    with pytest.raises(SourceError, match="Bluesky requires an account for search") as exc:
        src.fetch({}, at(simulator, END))
    assert "BLUESKY_HANDLE" in str(exc.value) and "BLUESKY_APP_PASSWORD" in str(exc.value)
    assert bsim.stats(simulator)["searchPosts"] == 0  # never tried anonymously
    store = Store(sqlite_url)
    out = Ingestor(store, TOPICS).poll(src)  # the collector records it; nothing crashes
    assert (
        out.outcome == "error" and "requires an account" in store.source_state("bsky")["last_error"]
    )
    store.close()


def test_a_wrong_app_password_is_named_without_echoing_it(simulator, http, creds):
    bsim.configure(simulator, accounts={HANDLE: "the-right-one"})
    with pytest.raises(
        SourceError, match=rf"Bluesky rejected the app password for {HANDLE} \(401\)"
    ) as exc:
        source(simulator, http).fetch({}, at(simulator, END))
    assert PASSWORD not in str(exc.value) and exc.value.status == 401


def test_one_session_serves_many_polls(simulator, http, creds):
    src = source(simulator, http)
    state = src.fetch({}, at(simulator, START)).state
    src.fetch(state, at(simulator, END))
    counts = bsim.stats(simulator)
    assert (
        counts["createSession"] == 1
        and counts["refreshSession"] == 0
        and counts["searchPosts"] >= 6
    )


def test_the_session_is_refreshed_before_it_expires(simulator, http, creds):
    bsim.configure(simulator, access_ttl_s=2.0)
    src = source(simulator, http)
    state = src.fetch({}, at(simulator, START)).state
    time.sleep(1.6)  # inside the last quarter of the token's life: refresh before using it
    batch = src.fetch(state, at(simulator, END))
    assert batch.error is None and batch.posts
    counts = bsim.stats(simulator)
    assert counts["refreshSession"] == 1 and counts["createSession"] == 1


def test_an_expired_token_mid_use_is_refreshed_once(simulator, http, creds):
    bsim.configure(simulator, access_ttl_s=0.5)
    src = source(simulator, http)
    state = src.fetch({}, at(simulator, START)).state
    time.sleep(0.6)
    # a client clock that is wrong: the server says ExpiredToken
    src._session.expires = time.time() + 3600
    batch = src.fetch(state, at(simulator, END))
    assert batch.error is None and batch.posts and bsim.stats(simulator)["refreshSession"] >= 1


def test_a_dead_refresh_token_means_a_new_login(simulator, http, creds):
    bsim.configure(simulator, access_ttl_s=0.3, refresh_ttl_s=0.3)
    src = source(simulator, http)
    state = src.fetch({}, at(simulator, START)).state
    time.sleep(0.4)
    assert src.fetch(state, at(simulator, END)).error is None
    assert bsim.stats(simulator)["createSession"] == 2


# --- what gets fetched -------------------------------------------------------------------------------------------


def test_first_poll_backfills_the_window_then_only_new_posts(simulator, http, creds):
    src = source(simulator, http)
    ctx = at(simulator, START, backfill=timedelta(hours=2))
    first = src.fetch({}, ctx)
    assert uris(first) == expected(simulator, START - 7200, START)
    assert all(p.created_at >= ctx.backfill_since for p in first.posts)
    later = src.fetch(first.state, at(simulator, END))
    new = uris(later) - uris(first)  # the overlap repeats a couple of minutes; ingest drops those
    assert new == expected(simulator, START, END) and len(new) > 100


def test_a_post_found_by_two_searches_is_fetched_once(simulator, http, creds):
    batch = source(simulator, http).fetch({}, at(simulator, END, backfill=timedelta(hours=6)))
    both = [p for p in batch.posts if "dmitriev" in p.text.casefold() and "#TrumpPutin" in p.text]
    assert both and len(batch.posts) == len(uris(batch))


def test_it_pages_a_burst_and_reads_what_one_poll_cannot_over_the_next_ones(simulator, http, creds):
    src = source(simulator, http, page_size=10, max_pages=50)
    state = src.fetch({}, at(simulator, START)).state
    burst = src.fetch(state, at(simulator, END))
    assert expected(simulator, START, END) <= uris(burst)  # many pages, nothing missing
    small = source(simulator, http, page_size=5, max_pages=2, name="small")
    state = small.fetch({}, at(simulator, START)).state
    first = small.fetch(state, at(simulator, END))
    assert (
        first.error is None
        and first.state["paging"]["pending"]
        and any("next poll" in n for n in first.notes)
    )
    got, state = uris(first), first.state
    for _ in range(60):
        if not state["paging"]["pending"]:
            break
        batch = small.fetch(state, at(simulator, END))
        got, state = got | uris(batch), batch.state
    assert not state["paging"]["pending"] and expected(simulator, START, END) <= got


def test_posts_are_stored_once_by_uri(simulator, http, creds, sqlite_url):
    store = Store(sqlite_url)
    ingestor = Ingestor(store, TOPICS, clock=simulator.clock.now)
    src = source(simulator, http, backfill="1h")
    at(simulator, START)
    ingestor.poll(src)
    at(simulator, END)
    out = ingestor.poll(src)
    assert out.duplicates > 0  # the overlap, dropped
    stored = [p["native_id"] for p in store.posts()]
    assert len(stored) == len(set(stored)) and set(stored) >= expected(simulator, START, END)
    store.close()


# --- failures ----------------------------------------------------------------------------------------------------


def test_it_slows_down_before_the_rate_limit(simulator, http, creds):
    bsim.set_rate_limit(simulator, 4, window_s=60)
    src = source(simulator, http)
    batch = src.fetch({}, at(simulator, END))
    assert (
        batch.error is None
        and batch.state.get("not_before")
        and any("rate limit" in n for n in batch.notes)
    )
    # the other searches wait; their cursors are untouched
    assert len(batch.state["paging"]["newest"]) < 3
    before = bsim.stats(simulator)["searchPosts"]
    waiting = src.fetch(batch.state, at(simulator, END))
    assert (
        waiting.posts == []
        and waiting.error is None
        and bsim.stats(simulator)["searchPosts"] == before
    )


def test_429_honours_retry_after(simulator, http, creds):
    bsim.set_rate_limit(simulator, 1, window_s=90)
    src = source(simulator, http)
    src._ensure_session()
    # the window is used up
    httpx.get(
        f"{simulator.url}/xrpc/app.bsky.feed.searchPosts?q=x",
        headers={"Authorization": f"Bearer {src._session.access}"},
    )
    with pytest.raises(SourceError, match=r"rate-limiting us \(429\); retry in") as exc:
        src.fetch({}, at(simulator, END))
    assert exc.value.status == 429 and 60 <= exc.value.retry_after <= 90


@pytest.mark.parametrize(
    "fault,words",
    [
        ({"status": 502}, r"had a server error \(502\)"),
        ({"status": 403}, r"refused Bluesky search .* \(403\)"),
        ({"invalid": True}, "not JSON"),
        ({"truncate": True}, "not JSON"),
    ],
)
def test_server_trouble_is_an_error_in_words(simulator, http, creds, fault, words):
    ctx = at(simulator, END)
    simulator.set_faults(path_prefix="/xrpc/app.bsky.feed.searchPosts", **fault)
    with pytest.raises(SourceError, match=words):
        source(simulator, http).fetch({}, ctx)


def test_a_timeout_is_an_error_in_words(simulator, creds):
    ctx = at(simulator, END)
    # The log-in gets the default timeout so a loaded machine cannot fail it early; only the search
    # is held, and every request is held (count=None) so no retry can slip through.
    with make_client(timeout=5) as client:
        src = source(simulator, client)
        src._ensure_session()
        src.settings = src.settings.model_copy(update={"timeout": timedelta(seconds=0.5)})
        simulator.set_faults(latency_s=10.0, count=None)
        with pytest.raises(SourceError, match="did not answer in time"):
            src.fetch({}, ctx)


class FailAfter(httpx.BaseTransport):
    def __init__(self, n: int):
        self.inner, self.left = httpx.HTTPTransport(), n

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.left == 0:
            raise httpx.ConnectError("injected", request=request)
        self.left -= 1
        return self.inner.handle_request(request)


def test_a_failure_half_way_keeps_what_was_read_and_where_it_stopped(simulator, http, creds):
    src = source(simulator, http, page_size=10, max_pages=50)
    state = src.fetch({}, at(simulator, START)).state
    with httpx.Client(transport=FailAfter(3), timeout=5) as flaky:  # login, then two pages
        src._session = None
        src.http = flaky
        part = src.fetch(state, at(simulator, END))
    assert (
        part.error is not None and "could not reach" in part.error.message and len(part.posts) == 20
    )
    key = "#trumpputinbusiness"
    assert part.state["paging"]["pending"][0]["key"] == key, (
        "the range read half-way is kept, with its cursor"
    )
    assert part.state["paging"]["pending"][0]["cont"]["cursor"] == "20"
    src.http = http
    rest = src.fetch(part.state, at(simulator, END))
    assert (
        expected(simulator, START, END) <= uris(part) | uris(rest)
        and not rest.state["paging"]["pending"]
    )


def test_schema_surprises_are_errors_in_words(creds):
    def answer(request):
        if request.url.path.endswith("createSession"):
            return httpx.Response(
                200, json={"accessJwt": "a.b.c", "refreshJwt": "r", "did": "did:plc:x"}
            )
        return httpx.Response(200, json={"feed": []})

    client = httpx.Client(transport=httpx.MockTransport(answer))
    src = BlueskySource(BlueskySettings(name="b", kind="bluesky", queries=["x"]), [], client)
    with pytest.raises(SourceError, match="without a list of posts"):
        src.fetch({}, PollContext(now=datetime.now(UTC), backfill=timedelta(hours=1)))


# --- parsing and settings ----------------------------------------------------------------------------------------


def test_hashtags_come_from_facets_and_record_tags_and_times_are_bounded():
    view = {
        "uri": "at://did:plc:abc/app.bsky.feed.post/3lpk2u6qo222m",
        "author": {"handle": "a.bsky.social"},
        "indexedAt": "2025-05-19T17:10:09.813Z",
        "likeCount": 2,
        "repostCount": 1,
        "record": {
            "text": "Talks resume #Summit",
            "createdAt": "2031-01-01T00:00:00Z",
            "langs": ["en"],
            "tags": ["TrumpPutin"],
            "facets": [
                {
                    "index": {"byteStart": 13, "byteEnd": 20},
                    "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "Summit"}],
                }
            ],
        },
    }
    post, sort_at = post_view_to_post(view)
    assert post.tags == ("Summit", "TrumpPutin") and post.engagement == 3 and post.lang == "en"
    assert post.created_at == sort_at == datetime(2025, 5, 19, 17, 10, 9, 813000, tzinfo=UTC)
    assert post.url == "https://bsky.app/profile/a.bsky.social/post/3lpk2u6qo222m"
    assert post.native_id == post.canonical_id == view["uri"]


def test_searches_come_from_the_topics_or_the_settings():
    src = BlueskySource(BlueskySettings(name="b", kind="bluesky", lang="en"), TOPICS, None)
    assert [q.params for q in src.queries()] == [
        {"q": "#TrumpPutinBusiness", "tag": "TrumpPutinBusiness", "lang": "en"},
        {"q": "#TrumpPutin", "tag": "TrumpPutin", "lang": "en"},
        {"q": '"Dmitriev"', "lang": "en"},
    ]
    own = BlueskySource(
        BlueskySettings(name="b", kind="bluesky", queries=["putin trade"]), TOPICS, None
    )
    assert [q.params["q"] for q in own.queries()] == ["putin trade"]
    assert BlueskySettings(name="b", kind="bluesky").secret_env_vars() == {
        "handle_env": "BLUESKY_HANDLE",
        "app_password_env": "BLUESKY_APP_PASSWORD",
    }
    with pytest.raises(ValueError, match="has no host name; write it like https://bsky.social"):
        BlueskySettings(name="b", kind="bluesky", service="bsky social")


def test_a_log_in_that_cannot_connect_is_an_error_in_words(http, creds):
    """Nothing listens on the port: said in words, not a NameError or an exception's name."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = BlueskySettings(name="bsky", kind="bluesky", service=f"http://127.0.0.1:{port}")
    with pytest.raises(SourceError, match="refused the connection"):
        BlueskySource(settings, TOPICS, http)._ensure_session()
