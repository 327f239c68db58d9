"""The Reddit source against the simulator's OAuth API: token, `before` cursor, limits, fallback."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from monitor.config.feeds import Topic, check_config
from monitor.ingest.poll import normalize
from monitor.simulator.corpus import BURST_WINDOW
from monitor.simulator.platforms import reddit as sim_reddit
from monitor.sources.base import PollContext, SourceError
from monitor.sources.reddit import RedditSettings, RedditSource, build_query, thing_to_post

TOPIC = Topic(name="deal", hashtags=["#TrumpPutin"], keywords=["Dmitriev", "Trump Putin deal"])


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_REDDIT_ID", "client-id")
    monkeypatch.setenv("TEST_REDDIT_SECRET", "client-secret-value")


def source(sim, http, *, oauth: bool = True, **kw) -> RedditSource:
    kw.setdefault("subreddits", ["worldnews"])
    kw.setdefault("listing", "new")
    if oauth:
        kw.update(client_id_env="TEST_REDDIT_ID", client_secret_env="TEST_REDDIT_SECRET")
    settings = RedditSettings(name="reddit", kind="reddit", api_url=sim.url, www_url=sim.url, **kw)
    return RedditSource(settings, [TOPIC], http)


def ctx(sim, backfill=timedelta(hours=2)) -> PollContext:
    return PollContext(now=sim.clock.now(), backfill=backfill)


def published(sim, since: datetime, until: datetime | None = None) -> list[str]:
    """Fullnames of every Reddit post published in [since, until], as the listing `new` has them."""
    until = until or sim.clock.now()
    return sorted(
        sim_reddit.fullname(sim, p)
        for p in sim.published()
        if p.platform == "reddit" and since <= p.created_at(sim.clock.epoch) <= until
    )


def names(posts) -> list[str]:
    return sorted(p.native_id for p in posts)


def counting(http: httpx.Client) -> list[httpx.Request]:
    seen: list[httpx.Request] = []
    http.event_hooks["request"].append(seen.append)
    return seen


# --- the cursor -----------------------------------------------------------------------------------


def test_first_poll_backfills_exactly_the_window(sim, http):
    batch = source(sim, http).fetch({}, ctx(sim, timedelta(hours=2)))
    assert names(batch.posts) == published(sim, sim.clock.now() - timedelta(hours=2))
    newest = max(batch.posts, key=lambda p: p.created_at)
    assert batch.state["paging"]["newest"]["listing"]["name"] == newest.native_id
    assert batch.state["paging"]["pending"] == []


def test_later_polls_fetch_exactly_what_is_new(sim, http):
    src = source(sim, http)
    first = src.fetch({}, ctx(sim))
    before = sim.clock.now()
    sim.clock.set_offset(sim.clock.offset_s() + 5 * 3600)
    second = src.fetch(first.state, ctx(sim))
    assert second.posts and names(second.posts) == published(sim, before + timedelta(seconds=1))


def test_a_burst_is_read_whole_across_polls_without_gaps(sim, http):
    sim.clock.set_offset(BURST_WINDOW[0])
    src = source(sim, http, page_size=5, max_pages=2)
    state = drain(src, {}, ctx(sim))
    start = sim.clock.now()
    sim.clock.set_offset(BURST_WINDOW[1])
    got = []
    for _ in range(50):
        batch = src.fetch(state, ctx(sim))
        got += batch.posts
        state = batch.state
        if not batch.posts:
            break
    assert len(got) > 10 and len(names(got)) == len(set(names(got)))
    assert names(got) == published(sim, start + timedelta(seconds=1))


def test_a_state_from_the_before_cursor_is_taken_over(sim, http):
    """A store written with the old `before=<anchor>` cursor: its anchor is the newest position,
    even when that post is gone (the listing is read from the top, never `before=` it)."""
    src = source(sim, http)
    since = sim.clock.now() - timedelta(hours=3)
    gone = {"anchor": "t3_deleted", "anchor_ts": since.timestamp(), "recent": [], "floor_ts": 0}
    batch = src.fetch(gone, ctx(sim))
    assert batch.posts and names(batch.posts) == published(sim, since)
    assert "anchor" not in batch.state and batch.state["paging"]["pending"] == []
    assert src.fetch(batch.state, ctx(sim)).posts == []  # and nothing is fetched twice afterwards


def test_a_quiet_feed_costs_one_request(sim, http):
    src = source(sim, http)
    state = src.fetch({}, ctx(sim)).state
    requests = counting(http)
    assert src.fetch(state, ctx(sim)).posts == []
    listing_calls = [r for r in requests if "/new" in r.url.path]
    assert len(listing_calls) == 1 and "after" not in listing_calls[0].url.params


def drain(src, state: dict, context: PollContext) -> dict:
    """Poll until nothing is pending, as successive scheduled polls would."""
    for _ in range(100):
        batch = src.fetch(state, context)
        assert batch.error is None
        state = batch.state
        if not state["paging"]["pending"]:
            return state
    raise AssertionError("the backfill never finished")


def test_search_queries_the_subreddit_and_site_wide(sim, http):
    requests = counting(http)
    in_sub = source(sim, http, listing="search").fetch({}, ctx(sim))
    site = source(sim, http, listing="search", subreddits=[]).fetch({}, ctx(sim))
    assert in_sub.posts and names(in_sub.posts) == names(site.posts)
    sub_call, site_call = [r for r in requests if "search" in r.url.path]
    assert sub_call.url.path == "/r/worldnews/search" and sub_call.url.params["restrict_sr"] == "1"
    assert site_call.url.path == "/search" and "restrict_sr" not in site_call.url.params
    for call in (sub_call, site_call):
        assert call.url.params["sort"] == "new" and call.url.params["q"] == build_query([TOPIC])
        assert call.url.params["raw_json"] == "1"
        agent = call.headers["user-agent"]
        assert agent.startswith("python:reaction-monitor:") and "httpx" not in agent


def test_build_query_turns_hashtags_into_words():
    topic = Topic(
        name="t",
        hashtags=["#TrumpPutinBusiness", "#Dmitriev"],
        keywords=["Dmitriev", "US-Russia trade"],
    )
    assert build_query([topic]) == 'Dmitriev OR "US-Russia trade" OR "Trump Putin Business"'


# --- posts ----------------------------------------------------------------------------------------


def test_title_and_selftext_make_the_text_and_score_plus_comments_the_engagement(sim, http):
    batch = source(sim, http).fetch({}, ctx(sim, timedelta(hours=6)))
    post = max(batch.posts, key=lambda p: p.engagement)
    corpus = next(p for p in sim.published() if sim_reddit.fullname(sim, p) == post.native_id)
    assert post.title == corpus.title and post.text == corpus.text and not post.is_html
    assert post.engagement == corpus.engagement.likes + corpus.engagement.replies > 0
    assert post.url.startswith(f"{sim.url}/r/worldnews/comments/") and post.author == corpus.author
    assert normalize(post).text.startswith(corpus.title)


def test_a_crosspost_is_a_repost_of_its_parent():
    data = {
        "name": "t3_new",
        "created_utc": 1.7e9,
        "title": "x-post",
        "selftext": "",
        "permalink": "/r/a/comments/new/",
        "score": 3,
        "num_comments": 1,
        "crosspost_parent": "t3_orig",
        "author": "[deleted]",
    }
    post = thing_to_post(data, "https://www.reddit.com")
    assert post.repost_of == "t3_orig" and post.author is None and post.engagement == 4
    assert post.url == "https://www.reddit.com/r/a/comments/new/"


# --- OAuth ----------------------------------------------------------------------------------------


def test_the_token_is_reused_and_renewed_when_revoked(sim, http):
    src = source(sim, http)
    state = src.fetch({}, ctx(sim)).state
    src.fetch(state, ctx(sim))
    assert sim_reddit.tokens_issued(sim) == 1
    sim_reddit.revoke_tokens(sim)
    sim.clock.set_offset(sim.clock.offset_s() + 3600)
    assert src.fetch(state, ctx(sim)).posts
    assert sim_reddit.tokens_issued(sim) == 2


def test_rejected_client_credentials_are_put_in_words(sim, http):
    sim.set_faults(status=401, path_prefix="/api/v1/access_token")
    with pytest.raises(SourceError) as caught:
        source(sim, http).fetch({}, ctx(sim))
    assert str(caught.value) == "Reddit rejected the client credentials (401)"
    assert "client-secret-value" not in str(caught.value)


def test_unset_credential_variables_are_named(sim, http, monkeypatch):
    monkeypatch.delenv("TEST_REDDIT_SECRET")
    with pytest.raises(
        SourceError,
        match="Reddit credentials are missing: set the environment variable TEST_REDDIT_SECRET$",
    ):
        source(sim, http).fetch({}, ctx(sim))


def test_without_credentials_it_reads_the_atom_feed_and_says_so_once(sim, http):
    src = source(sim, http, oauth=False)
    first = src.fetch({}, ctx(sim))
    assert first.posts and len(first.notes) == 1
    assert (
        "no Reddit credentials configured" in first.notes[0]
        and "/r/worldnews/new/.rss" in first.notes[0]
    )
    sim.clock.set_offset(sim.clock.offset_s() + 3600)
    second = src.fetch(first.state, ctx(sim))
    assert second.posts and second.notes == []
    assert {p.native_id for p in first.posts} <= set(
        published(sim, sim.clock.now() - timedelta(days=3))
    )


def test_site_wide_search_without_credentials_reads_the_search_feed(sim, http):
    batch = source(sim, http, oauth=False, listing="search", subreddits=[]).fetch({}, ctx(sim))
    assert batch.posts and "/search.rss?q=Dmitriev+OR" in batch.notes[0]


def test_the_simulator_wants_basic_auth_for_a_token_and_a_token_for_listings(sim, http):
    assert (
        http.post(
            f"{sim.url}/api/v1/access_token", data={"grant_type": "client_credentials"}
        ).status_code
        == 401
    )
    token = http.post(
        f"{sim.url}/api/v1/access_token",
        auth=("id", "secret"),
        data={"grant_type": "client_credentials"},
    ).json()
    assert token["token_type"] == "bearer" and token["expires_in"] == 3600
    assert http.get(f"{sim.url}/r/worldnews/new").status_code == 401
    listing = http.get(
        f"{sim.url}/r/worldnews/new",
        params={"limit": 3},
        headers={"Authorization": f"bearer {token['access_token']}"},
    )
    assert listing.status_code == 200 and float(listing.headers["x-ratelimit-remaining"]) > 0
    data = listing.json()["data"]
    assert (
        data["dist"] == 3
        and data["before"] is None
        and data["after"] == data["children"][-1]["data"]["name"]
    )


# --- limits and failures --------------------------------------------------------------------------


def test_slows_down_before_the_rate_limit(sim, http):
    sim_reddit.set_rate_limit(sim, 3)
    src = source(sim, http, page_size=5)
    first = src.fetch({}, ctx(sim, timedelta(hours=12)))
    assert len(first.posts) == 5 and any("nearly used up" in n for n in first.notes)
    requests = counting(http)
    second = src.fetch(first.state, ctx(sim, timedelta(hours=12)))
    assert second.posts == [] and requests == [] and any("waiting until" in n for n in second.notes)


def test_a_restarted_collector_still_waits_for_the_reset(sim, http):
    """The window is saved with the poll: a new process does not spend the last requests."""
    sim_reddit.set_rate_limit(sim, 3)
    first = source(sim, http, page_size=5).fetch({}, ctx(sim, timedelta(hours=12)))
    assert first.state["rate"]["remaining"] <= 2
    requests = counting(http)
    # a new process
    second = source(sim, http, page_size=5).fetch(first.state, ctx(sim, timedelta(hours=12)))
    assert second.posts == [] and any("waiting until" in n for n in second.notes)
    assert [r for r in requests if "access_token" not in r.url.path] == []  # no listing asked for
    # a state from an older version, or edited by hand, is no reason to stop
    third = source(sim, http, page_size=5).fetch(
        {**first.state, "rate": {"remaining": "x"}}, ctx(sim)
    )
    # it asked, and saved anew
    assert third.status == 200 and isinstance(third.state["rate"]["remaining"], float)


def test_429_names_the_reset_time(sim, http):
    sim_reddit.set_rate_limit(sim, 1, window_s=300)
    source(sim, http).fetch({}, ctx(sim))
    with pytest.raises(SourceError) as caught:
        source(sim, http).fetch({}, ctx(sim))
    err = caught.value
    assert re.fullmatch(r"Reddit rate limit reached; resets at \d\d:\d\d UTC \(429\)", str(err))
    assert err.status == 429 and 290 <= err.retry_after <= 300


@pytest.mark.parametrize(
    "fault,words",
    [
        ({"status": 401}, "Reddit rejected the access token (401) even after renewing it"),
        ({"status": 403}, "Reddit refused access to r/worldnews (403)"),
        ({"status": 404}, "r/worldnews does not exist or is banned (404)"),
        ({"status": 502}, "Reddit had a server error (502)"),
        ({"invalid": True}, "Reddit sent a body that is not JSON"),
        ({"truncate": True}, "Reddit sent a body that is not JSON"),
        ({"latency_s": 2.0}, "Reddit did not answer in time (timeout)"),
    ],
)
def test_failures_are_put_in_words(sim, http, fault, words):
    src = source(sim, http, timeout="0.5s")
    state = src.fetch({}, ctx(sim)).state
    sim.set_faults(path_prefix="/r/", **fault)
    with pytest.raises(SourceError) as caught:
        src.fetch(state, ctx(sim))
    assert str(caught.value).startswith(words)


def test_schema_surprise_is_put_in_words(sim, http):
    sim_reddit.configure(sim, schema_surprise=True)
    with pytest.raises(SourceError, match=r"something other than a Listing \(schema change\?\)"):
        source(sim, http).fetch({}, ctx(sim))


def test_a_failure_after_some_pages_keeps_them_and_the_cursor_they_reached(sim, http):
    src = source(sim, http, page_size=5)
    state = drain(src, {}, ctx(sim))
    sim.clock.set_offset(sim.clock.offset_s() + 6 * 3600)
    start = datetime.fromtimestamp(
        state["paging"]["newest"]["listing"]["at"], sim.clock.now().tzinfo
    )
    listing_calls = 0

    def fail_third_page(request: httpx.Request) -> None:
        nonlocal listing_calls
        if "/new" in request.url.path:
            listing_calls += 1
            if listing_calls == 3:
                sim.set_faults(status=500, count=1)

    http.event_hooks["request"].append(fail_third_page)
    partial = src.fetch(state, ctx(sim))
    assert partial.error is not None and len(partial.posts) == 10
    assert (
        partial.state["paging"]["newest"]["listing"]["name"]
        == max(partial.posts, key=lambda p: p.created_at).native_id
    )
    assert (
        partial.state["paging"]["pending"][0]["cont"]["after"]
        == min(partial.posts, key=lambda p: p.created_at).native_id
    )
    rest = src.fetch(partial.state, ctx(sim))
    assert names(partial.posts + rest.posts) == published(sim, start + timedelta(seconds=1))


# --- config ---------------------------------------------------------------------------------------


def test_config_problems_point_at_their_lines(tmp_path: Path):
    path = tmp_path / "feeds.yaml"
    path.write_text(
        "topics:\n"
        "  - name: deal\n"
        "    keywords: [Dmitriev]\n"
        "sources:\n"
        "  - name: half-keyed\n"
        "    kind: reddit\n"
        "    client_id_env: REDDIT_CLIENT_ID\n"
        "  - name: new-everywhere\n"
        "    kind: reddit\n"
        "    listing: new\n"
        "  - name: fine\n"
        "    kind: reddit\n"
        "    subreddits: [r/worldnews, europe]\n",
        encoding="utf-8",
    )
    problems = check_config(path, env={"REDDIT_CLIENT_ID": "x"})
    assert [(p.line, p.message.split(":")[0]) for p in problems] == [
        (7, "'client_id_env' in source 'half-keyed'"),
        (10, "'listing' in source 'new-everywhere'"),
    ]
    assert "set client_secret_env too" in problems[0].message
    assert "listing 'new' needs 'subreddits'" in problems[1].message


def test_a_vanished_continuation_resumes_from_an_older_post_of_the_same_page(sim, http):
    """Reddit answers `after=<deleted post>` with an empty Listing; the range goes on from the next
    older fullname its last page showed, so the backfill neither stops early nor loses posts."""
    src = source(sim, http, page_size=5, max_pages=2)
    context = ctx(sim)
    first = src.fetch({}, context)
    (rng,) = first.state["paging"]["pending"]
    assert rng["cont"]["alt"], "older fullnames of the page are kept to resume from"
    rng["cont"]["after"] = "t3_deleted"
    got = list(first.posts)
    state = first.state
    for _ in range(100):
        batch = src.fetch(state, context)
        got += batch.posts
        state = batch.state
        if not state["paging"]["pending"]:
            break
    assert sorted(set(names(got))) == published(sim, context.backfill_since)
    assert state["paging"]["gaps"] == []


def test_a_token_endpoint_that_refuses_the_connection_is_an_error_in_words(http):
    """Nothing listens on the port: said in words, not a NameError or an exception's name."""
    import socket

    from monitor.sources.base import SourceError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = RedditSettings(
        name="reddit",
        kind="reddit",
        api_url=f"http://127.0.0.1:{port}",
        www_url=f"http://127.0.0.1:{port}",
        subreddits=["worldnews"],
        listing="new",
        client_id_env="TEST_REDDIT_ID",
        client_secret_env="TEST_REDDIT_SECRET",
    )
    src = RedditSource(settings, [TOPIC], http)
    with pytest.raises(SourceError, match="refused the connection"):
        src.fetch({}, PollContext(now=datetime.now(UTC), backfill=timedelta(hours=1)))
