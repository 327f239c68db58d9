"""The X source against the simulator's API v2 recent search: cursor, paging, limits, failures."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from monitor.config.feeds import Topic, check_config, load_config
from monitor.ingest.poll import Ingestor
from monitor.simulator.corpus import BURST_WINDOW
from monitor.simulator.platforms import x as sim_x
from monitor.sources.base import PollContext, SourceError
from monitor.sources.x import XSettings, XSource, build_query
from monitor.store.db import Store

TOPIC = Topic(
    name="deal",
    hashtags=["#TrumpPutin", "#TrumpPutinBusiness", "#Dmitriev"],
    keywords=["Dmitriev", "Trump Putin deal", "sanctions"],
)


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_X_TOKEN", "any-token-the-simulator-accepts")


def source(sim, http, topics=(TOPIC,), **kw) -> XSource:
    kw.setdefault("bearer_token_env", "TEST_X_TOKEN")
    settings = XSettings(name="x", kind="x", api_url=sim.url, web_url=sim.url, **kw)
    return XSource(settings, list(topics), http)


def ctx(sim, backfill=timedelta(hours=1)) -> PollContext:
    return PollContext(now=sim.clock.now(), backfill=backfill)


def drain(src: XSource, state: dict, context: PollContext) -> tuple[list, dict]:
    """Poll until no run is pending, as successive scheduled polls would."""
    posts = []
    for _ in range(100):
        batch = src.fetch(state, context)
        assert batch.error is None
        posts += batch.posts
        state = batch.state
        if not pending(state):
            return posts, state
    raise AssertionError("the run never finished")


def pending(state: dict) -> list[dict]:
    return state["paging"]["pending"]


def newest_id(state: dict) -> str:
    return state["paging"]["newest"]["search"]["id"]


def ids(posts) -> list[str]:
    return [p.native_id for p in posts]


# --- the cursor -----------------------------------------------------------------------------------


def test_first_poll_backfills_only_the_window(sim, http):
    now = sim.clock.now()
    short = source(sim, http).fetch({}, ctx(sim, timedelta(hours=1)))
    longer = source(sim, http).fetch({}, ctx(sim, timedelta(hours=3)))
    assert short.posts and all(now - timedelta(hours=1) <= p.created_at <= now for p in short.posts)
    assert set(ids(short.posts)) < set(ids(longer.posts))
    assert newest_id(short.state) == max(ids(short.posts), key=int) and not pending(short.state)


def test_later_polls_fetch_only_what_is_new(sim, http):
    src = source(sim, http)
    first = src.fetch({}, ctx(sim))
    sim.clock.set_offset(sim.clock.offset_s() + 2 * 3600)
    second = src.fetch(first.state, ctx(sim))
    assert second.posts and not set(ids(first.posts)) & set(ids(second.posts))
    newest_before = max(p.created_at for p in first.posts)
    assert all(p.created_at >= newest_before for p in second.posts)
    # Exactly what a fresh two-hour backfill sees after the first poll's newest post.
    fresh = source(sim, http).fetch({}, ctx(sim, timedelta(hours=2, minutes=5)))
    assert sorted(ids(second.posts)) == sorted(
        p.native_id for p in fresh.posts if p.created_at > newest_before
    )


def test_a_burst_is_paged_without_gaps_across_polls(sim, http):
    sim.clock.set_offset(BURST_WINDOW[0])
    small = source(sim, http, page_size=10, max_pages=2)
    _, state = drain(small, {}, ctx(sim))
    sim.clock.set_offset(BURST_WINDOW[1])
    context = ctx(sim)
    batch = small.fetch(state, context)
    assert pending(batch.state), "a burst bigger than two pages leaves a range pending"
    assert any("next poll" in note for note in batch.notes)
    rng = pending(batch.state)[0]
    assert rng["edge"]["id"] == newest_id(state), (
        "the range reaches back to the newest post before the burst"
    )
    assert rng["cont"]["until_id"] == min(ids(batch.posts), key=int), (
        "and continues below what was read"
    )
    rest, final = drain(small, batch.state, context)
    got = ids(batch.posts) + ids(rest)
    assert len(got) == len(set(got)), "nothing is fetched twice"
    whole = source(sim, http).fetch(state, context)
    assert sorted(got) == sorted(ids(whole.posts)) and len(got) > 20
    assert newest_id(final) == newest_id(whole.state)


def test_a_page_that_fails_half_way_keeps_what_came_before(sim, http):
    sim.clock.set_offset(BURST_WINDOW[0] + 3600)
    calls = 0

    def fail_second_request(request: httpx.Request) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            sim.set_faults(status=503, count=1)

    http.event_hooks["request"].append(fail_second_request)
    src = source(sim, http, page_size=10)
    batch = src.fetch({}, ctx(sim))
    assert batch.error is not None and "server error (503)" in str(batch.error)
    assert len(batch.posts) == 10 and pending(batch.state)[0]["cont"]["until_id"]
    rest, _ = drain(src, batch.state, ctx(sim))
    whole = source(sim, http).fetch({}, ctx(sim))
    assert sorted(ids(batch.posts) + ids(rest)) == sorted(ids(whole.posts))


def test_a_week_old_cursor_restarts_from_the_oldest_time_x_keeps(sim, http):
    now = sim.clock.now()
    old = {"newest_id": "1", "newest_at": (now - timedelta(days=8)).isoformat()}
    batch = source(sim, http).fetch(old, ctx(sim))
    assert batch.posts and any("7 days" in note for note in batch.notes)
    assert int(newest_id(batch.state)) > 1
    ((start, end),) = batch.gaps  # the day beyond X's seven is a recorded gap, its minutes marked
    assert abs(start - (now - timedelta(days=8))) < timedelta(seconds=1)
    assert end == now - timedelta(days=7) + timedelta(minutes=2)
    assert "7 days" in batch.state["paging"]["gaps"][0]["reason"]


# --- posts ----------------------------------------------------------------------------------------


def test_posts_carry_author_metrics_tags_and_full_text(sim, http):
    batch = source(sim, http).fetch({}, ctx(sim, timedelta(hours=24)))
    post = max(batch.posts, key=lambda p: p.engagement)
    assert post.author and post.url == f"{sim.url}/{post.author}/status/{post.native_id}"
    assert post.engagement > 0 and post.lang in ("en", "ru")
    tagged = [p for p in batch.posts if p.tags]
    assert tagged and all(f"#{t}".casefold() in p.text.casefold() for p in tagged for t in p.tags)
    assert all(len(p.text) < 280 or not p.text.endswith("…") for p in batch.posts)


def test_retweets_are_left_out_by_default_and_become_reposts_when_asked(sim, http):
    context = ctx(sim, timedelta(hours=36))
    default = source(sim, http).fetch({}, context)
    assert not [p for p in default.posts if p.repost_of or p.text.startswith("RT @")]
    assert "-is:retweet" in source(sim, http).query
    with_rts = source(sim, http, include_retweets=True).fetch({}, context)
    reposts = [p for p in with_rts.posts if p.repost_of]
    assert reposts and all(p.text.startswith("RT @") and p.repost_of.isdigit() for p in reposts)


def test_build_query_from_topics():
    ru = Topic(
        name="ru",
        hashtags=["#ТрампПутин"],
        keywords=["US-Russia", "снятие санкций"],
        languages=["ru"],
        exclude=["#airdrop"],
    )
    en = Topic(
        name="en",
        keywords=["Dmitriev", "sanctions relief"],
        languages=["en"],
        exclude=["#airdrop", "crypto"],
    )
    assert (
        build_query([ru])
        == '(#ТрампПутин OR "US-Russia" OR "снятие санкций") -is:retweet lang:ru -#airdrop'
    )
    both = build_query([ru, en])
    assert both == (
        '(#ТрампПутин OR "US-Russia" OR "снятие санкций" OR Dmitriev OR "sanctions relief") '
        "-is:retweet (lang:ru OR lang:en) -#airdrop"
    )
    assert (
        build_query([Topic(name="one", keywords=["Dmitriev"])], include_retweets=True) == "Dmitriev"
    )


def test_the_simulator_wants_a_bearer_token_and_sends_only_the_fields_asked_for(sim, http):
    url = f"{sim.url}/2/tweets/search/recent"
    assert http.get(url, params={"query": "Dmitriev"}).status_code == 401
    auth = {"Authorization": "Bearer anything"}
    plain = http.get(url, params={"query": "Dmitriev"}, headers=auth)
    assert plain.headers["x-rate-limit-limit"] == "450" and "retry-after" not in plain.headers
    assert set(plain.json()["data"][0]) == {"id", "text", "edit_history_tweet_ids"}
    rich = http.get(
        url,
        params={
            "query": "Dmitriev",
            "tweet.fields": "created_at,public_metrics",
            "expansions": "author_id",
        },
        headers=auth,
    ).json()
    assert {"created_at", "public_metrics", "author_id"} <= set(rich["data"][0])
    assert rich["includes"]["users"][0].keys() == {"id", "name", "username"}
    assert http.get(url, params={"query": "x" * 513}, headers=auth).status_code == 400


# --- limits and failures --------------------------------------------------------------------------


def test_slows_down_before_the_rate_limit(sim, http):
    sim_x.set_rate_limit(sim, 3)
    src = source(sim, http, page_size=10)
    first = src.fetch({}, ctx(sim, timedelta(hours=6)))
    assert len(first.posts) == 10 and pending(first.state), "stops with 2 requests left"
    assert any("nearly used up" in note for note in first.notes)
    served = sim.status()["requests"]
    second = src.fetch(first.state, ctx(sim, timedelta(hours=6)))
    assert (
        second.posts == []
        and second.state == first.state
        and any("waiting until" in n for n in second.notes)
    )
    assert sim.status()["requests"] == served, "no request is made while waiting for the reset"


def test_a_restarted_collector_still_waits_for_the_reset(sim, http):
    """The window is saved with the poll: a new process does not spend the last requests."""
    sim_x.set_rate_limit(sim, 3)
    first = source(sim, http, page_size=10).fetch({}, ctx(sim, timedelta(hours=6)))
    assert first.state["rate"]["remaining"] <= 2
    served = sim.status()["requests"]
    # a new process
    second = source(sim, http, page_size=10).fetch(first.state, ctx(sim, timedelta(hours=6)))
    assert second.posts == [] and any("waiting until" in n for n in second.notes)
    assert sim.status()["requests"] == served


def test_429_names_the_reset_time_from_the_header(sim, http):
    sim_x.set_rate_limit(sim, 1, window_s=600)
    source(sim, http).fetch({}, ctx(sim))
    with pytest.raises(SourceError) as caught:
        source(sim, http).fetch({}, ctx(sim))  # a fresh process knows nothing of the window yet
    err = caught.value
    assert err.status == 429 and re.fullmatch(
        r"X rate limit reached; resets at \d\d:\d\d UTC \(429\)", str(err)
    )
    assert 590 <= err.retry_after <= 601


@pytest.mark.parametrize(
    "fault,words",
    [
        ({"status": 401}, "X rejected the bearer token (401)"),
        ({"status": 403}, "X refused access (403)"),
        ({"status": 404}, "X answered 404 for recent search; check api_url"),
        ({"status": 503}, "X had a server error (503)"),
        ({"invalid": True}, "X sent a body that is not JSON"),
        ({"truncate": True}, "X sent a body that is not JSON"),
        ({"latency_s": 2.0}, "X did not answer in time (timeout)"),
    ],
)
def test_failures_are_put_in_words(sim, http, fault, words):
    sim.set_faults(**fault)
    with pytest.raises(SourceError) as caught:
        source(sim, http, timeout="0.5s").fetch({"newest_id": "5"}, ctx(sim))
    assert str(caught.value).startswith(words)
    assert "any-token" not in str(caught.value)


def test_schema_surprise_and_missing_token_are_put_in_words(sim, http, monkeypatch):
    sim_x.configure(sim, schema_surprise=True)
    with pytest.raises(SourceError, match=r"'data' as dict, not a list \(schema change\?\)"):
        source(sim, http).fetch({}, ctx(sim))
    monkeypatch.delenv("TEST_X_TOKEN")
    with pytest.raises(
        SourceError,
        match="X needs a bearer token: the environment variable TEST_X_TOKEN is not set",
    ):
        source(sim, http).fetch({}, ctx(sim))


def test_a_failed_poll_keeps_the_stored_cursor_and_the_next_one_resumes(sim, http, sqlite_url):
    store = Store(sqlite_url)
    try:
        ingest = Ingestor(store, [TOPIC], clock=sim.clock.now)
        src = source(sim, http, topics=[TOPIC])
        assert ingest.poll(src).outcome == "ok"
        cursor = store.source_state("x")["state"]
        sim.clock.set_offset(sim.clock.offset_s() + 3600)
        sim.set_faults(status=503)
        failed = ingest.poll(src)
        assert failed.outcome == "error" and failed.error == "X had a server error (503)"
        assert store.source_state("x")["state"] == cursor
        sim.clear_faults()
        resumed = ingest.poll(src)
        assert resumed.outcome == "ok" and resumed.new_posts > 0 and resumed.duplicates == 0
    finally:
        store.close()


# --- config ---------------------------------------------------------------------------------------


def _config(tmp_path: Path, keywords: int, source_extra: str = "") -> Path:
    words = "\n".join(f"      - keyword number {i}" for i in range(keywords))
    text = (
        "topics:\n"
        "  - name: big\n"
        "    keywords:\n"
        f"{words}\n"
        "sources:\n"
        "  - name: x-search\n"
        "    kind: x\n"
        "    topics: [big]\n"
        f"{source_extra}"
    )
    path = tmp_path / "feeds.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_query_over_512_characters_is_a_config_problem_at_its_line(tmp_path):
    fine = _config(tmp_path, 10)
    assert check_config(fine, env={"X_BEARER_TOKEN": "set"}) == []
    too_long = _config(tmp_path, 40)
    problems = check_config(too_long, env={"X_BEARER_TOKEN": "set"})
    assert len(problems) == 1
    p = problems[0]
    assert (p.line, p.column) == (47, 13)  # the `topics:` value of the source
    assert re.search(
        r"the X query built from topic\(s\) big is \d{3} characters; X accepts at most 512",
        p.message,
    )


def test_an_explicit_query_is_checked_too(tmp_path):
    path = _config(tmp_path, 1, f"    query: '{'a' * 513}'\n")
    [problem] = check_config(path, env={"X_BEARER_TOKEN": "set"})
    assert problem.line == 9 and "'query' is 513 characters" in problem.message
    assert "is 513 characters" not in str(
        check_config(_config(tmp_path, 1, "    query: Dmitriev\n"), env={"X_BEARER_TOKEN": "set"})
    )


def test_config_check_names_the_token_variable(tmp_path):
    [problem] = check_config(_config(tmp_path, 1), env={})
    assert "environment variable X_BEARER_TOKEN is not set (bearer_token_env)" in problem.message
    config = load_config(_config(tmp_path, 1), env={})
    assert config.source("x-search").secret_env_vars() == {"bearer_token_env": "X_BEARER_TOKEN"}
