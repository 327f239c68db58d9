"""The Hacker News source against the simulator's Algolia search: cursor, slicing, failures."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import httpx
import pytest

from monitor.config.feeds import Topic
from monitor.ingest.poll import normalize
from monitor.simulator.corpus import BURST_WINDOW
from monitor.simulator.platforms import hackernews as sim_hn
from monitor.sources.base import PollContext, SourceError
from monitor.sources.hackernews import HackerNewsSettings, HackerNewsSource, build_queries

TOPIC = Topic(name="deal", hashtags=["#TrumpPutin"], keywords=["Dmitriev", "rare earth"])


def source(sim, http, **kw) -> HackerNewsSource:
    settings = HackerNewsSettings(
        name="hn", kind="hackernews", api_url=f"{sim.url}/api/v1", web_url=sim.url, **kw
    )
    return HackerNewsSource(settings, [TOPIC], http)


def ctx(sim, backfill=timedelta(hours=6)) -> PollContext:
    return PollContext(now=sim.clock.now(), backfill=backfill)


def expected(sim, queries: list[str], since: datetime, until: datetime | None = None) -> list[str]:
    """objectIDs of the HN items in [since, until] holding every word of at least one query."""
    until = until or sim.clock.now()
    wanted = [set(re.findall(r"\w+", q.casefold())) for q in queries]
    out = []
    for p in sim.published():
        words = set(re.findall(r"\w+", p.text.casefold()))
        if (
            p.platform == "hackernews"
            and since <= p.created_at(sim.clock.epoch) <= until
            and any(w <= words for w in wanted)
        ):
            out.append(sim_hn.object_id(sim, p))
    return sorted(out)


def drain(
    src: HackerNewsSource, state: dict, context: PollContext, posts: list | None = None
) -> dict:
    """Poll until no run is pending, as successive scheduled polls would; collects the posts."""
    for _ in range(50):
        batch = src.fetch(state, context)
        assert batch.error is None
        if posts is not None:
            posts += batch.posts
        state = batch.state
        if not state["paging"]["pending"]:
            return state
    raise AssertionError("the run never finished")


def position(state: dict, query: str) -> dict:
    """The newest position the paging ledger holds for one query."""
    return state["paging"]["newest"]["q:" + query]


def newest_at(state: dict, query: str) -> float:
    from monitor.sources.paging import position_time

    return position_time(position(state, query))


def ids(posts) -> list[str]:
    return sorted(p.native_id for p in posts)


# --- the cursor -----------------------------------------------------------------------------------


def test_first_poll_backfills_exactly_the_window(sim, http):
    batch = source(sim, http).fetch({}, ctx(sim, timedelta(hours=6)))
    queries = build_queries([TOPIC])
    assert queries == ["Dmitriev", "rare earth", "Trump Putin"]
    assert batch.posts and ids(batch.posts) == expected(
        sim, queries, sim.clock.now() - timedelta(hours=6)
    )
    assert len(ids(batch.posts)) == len(set(ids(batch.posts))), (
        "an item matching two queries is kept once"
    )


def test_later_polls_fetch_exactly_what_is_new(sim, http):
    src = source(sim, http, queries=["Trump"])
    first = src.fetch({}, ctx(sim))
    before = sim.clock.now()
    sim.clock.set_offset(sim.clock.offset_s() + 4 * 3600)
    second = src.fetch(first.state, ctx(sim))
    assert second.posts and not set(ids(first.posts)) & set(ids(second.posts))
    assert ids(second.posts) == expected(sim, ["Trump"], before + timedelta(seconds=1))
    assert newest_at(second.state, "Trump") == max(
        int(p.created_at.timestamp()) for p in second.posts
    )


def test_a_quiet_spell_neither_backfills_more_nor_moves_the_cursor_back(sim, http):
    src = source(sim, http, queries=["Trump"])
    context = ctx(sim, timedelta(seconds=1))  # HN's newest item is older than that
    first = src.fetch({}, context)
    second = src.fetch(first.state, context)
    assert first.posts == [] and second.posts == []
    assert (
        newest_at(second.state, "Trump")
        == newest_at(first.state, "Trump")
        == context.backfill_since.timestamp()
    )


def test_an_item_indexed_late_is_still_picked_up(sim, http):
    """Algolia indexes an item a little after its creation time: the overlap re-reads those seconds."""
    src = source(sim, http, queries=["Trump"], overlap="10m")
    first = src.fetch({}, ctx(sim))
    newest = max(first.posts, key=lambda p: p.created_at)
    forgotten = {
        "paging": {
            **first.state["paging"],
            "newest": {"q:Trump": dict(position(first.state, "Trump"), ids=[])},
        }
    }
    # as if `newest` had not been indexed at the last poll
    again = src.fetch(forgotten, ctx(sim))
    assert newest.native_id in ids(again.posts)
    assert src.fetch(first.state, ctx(sim)).posts == [], "items in the overlap are recognised by id"


def test_more_hits_than_algolia_pages_through_are_read_in_time_slices(sim, http):
    # Algolia stops at 1,000; the same logic at a size a test can afford
    sim_hn.configure(sim, max_hits=12)
    batch = source(sim, http, queries=["Trump"], hits_per_page=5).fetch(
        {}, ctx(sim, timedelta(hours=30))
    )
    want = expected(sim, ["Trump"], sim.clock.now() - timedelta(hours=30))
    assert len(want) > 36 and ids(batch.posts) == want


def test_a_request_budget_too_small_for_a_burst_finishes_next_poll(sim, http):
    sim.clock.set_offset(BURST_WINDOW[0])
    src = source(sim, http, queries=["Trump"], hits_per_page=5, max_requests=3)
    state = drain(src, {}, ctx(sim))
    start = datetime.fromtimestamp(newest_at(state, "Trump"), sim.clock.now().tzinfo)
    sim.clock.set_offset(BURST_WINDOW[1])
    first = src.fetch(state, ctx(sim))
    # three requests of five hits; each slice after the first starts at the second the one
    # before ended in, and skips the hits of that second it has read
    assert 10 < len(first.posts) <= 15
    (rng,) = first.state["paging"]["pending"]
    assert rng["edge_at"] == newest_at(state, "Trump") - 120 and rng["cont"]["upper"]
    assert any("next poll" in n for n in first.notes)
    sim.clock.set_offset(BURST_WINDOW[1] + 3600)  # more arrives while the backlog is read
    rest = []
    state = drain(src, first.state, ctx(sim), rest)
    got = first.posts + rest
    assert newest_at(state, "Trump") > newest_at(first.state, "Trump")
    assert len(ids(got)) == len(set(ids(got))), "nothing is returned twice"
    assert ids(got) == expected(sim, ["Trump"], start + timedelta(seconds=1)), (
        "the backlog and what came since"
    )
    assert src.fetch(state, ctx(sim)).posts == []


# --- posts ----------------------------------------------------------------------------------------


def test_stories_and_comments_become_readable_posts(sim, http):
    batch = source(sim, http).fetch({}, ctx(sim, timedelta(hours=24)))
    stories = [p for p in batch.posts if p.title]
    comments = [p for p in batch.posts if not p.title]
    assert stories and comments and all(p.is_html for p in batch.posts)
    assert any(p.engagement > 0 for p in stories) and all(p.engagement == 0 for p in comments)
    assert all(p.url == f"{sim.url}/item?id={p.native_id}" for p in batch.posts)
    apostrophe = [p for p in comments if "&#x27;" in p.text]
    assert apostrophe, "the corpus has HN comments with apostrophes, sent as HN does"
    text = normalize(apostrophe[0]).text
    assert "'" in text and "&#x27;" not in text and "<p>" not in text
    story = stories[0]
    assert normalize(story).text.startswith(story.title)


def test_the_simulator_filters_tags_and_numbers_as_algolia_does(sim, http):
    url = f"{sim.url}/api/v1/search_by_date"
    both = http.get(url, params={"tags": "(story,comment)", "hitsPerPage": 1000}).json()
    stories = http.get(url, params={"tags": "story", "hitsPerPage": 1000}).json()
    assert 0 < stories["nbHits"] < both["nbHits"] and all(
        "story" in h["_tags"] for h in stories["hits"]
    )
    pivot = both["hits"][10]["created_at_i"]
    newer = http.get(
        url, params={"numericFilters": f"created_at_i>{pivot}", "hitsPerPage": 1000}
    ).json()
    assert [h["objectID"] for h in newer["hits"]] == [h["objectID"] for h in both["hits"][:10]]
    bad = http.get(url, params={"numericFilters": "created_at_i>>1"})
    assert bad.status_code == 400 and "numericFilters" in bad.json()["message"]


# --- failures -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault,words",
    [
        ({"status": 400}, "Hacker News search rejected the query (400)"),
        ({"status": 403}, "Hacker News search refused access (403)"),
        ({"status": 404}, "Hacker News search was not found (404); check api_url"),
        (
            {"status": 429, "retry_after": 30},
            "Hacker News search rate limit reached (429); asked to wait 30s",
        ),
        ({"status": 500}, "Hacker News search had a server error (500)"),
        ({"invalid": True}, "Hacker News search sent a body that is not JSON"),
        ({"truncate": True}, "Hacker News search sent a body that is not JSON"),
        ({"latency_s": 2.0}, "Hacker News search did not answer in time (timeout)"),
    ],
)
def test_failures_are_put_in_words(sim, http, fault, words):
    sim.set_faults(**fault)
    with pytest.raises(SourceError) as caught:
        source(sim, http, timeout="0.5s").fetch({"since": 0}, ctx(sim))
    assert str(caught.value).startswith(words)
    if fault.get("status") == 429:
        assert caught.value.retry_after == 30


def test_schema_surprise_is_put_in_words(sim, http):
    sim_hn.configure(sim, schema_surprise=True)
    with pytest.raises(SourceError, match=r"without a 'hits' list \(schema change\?\)"):
        source(sim, http).fetch({}, ctx(sim))


def test_a_failure_part_way_keeps_the_posts_and_the_cursor(sim, http):
    src = source(sim, http)
    state = src.fetch({}, ctx(sim)).state
    sim.clock.set_offset(sim.clock.offset_s() + 8 * 3600)
    calls = 0

    def fail_second_query(request: httpx.Request) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:  # the first query, the second, then the third
            sim.set_faults(status=502, count=1)

    http.event_hooks["request"].append(fail_second_query)
    partial = src.fetch(state, ctx(sim))
    assert partial.error is not None and partial.posts
    third = build_queries([TOPIC])[2]
    assert position(partial.state, third) == position(state, third), (
        "the failed query's cursor stays"
    )
    assert newest_at(partial.state, "Dmitriev") > newest_at(state, "Dmitriev"), "the others' move"
    rest = src.fetch(partial.state, ctx(sim))
    # (an item two queries find comes once per query: the store keeps one)
    assert rest.error is None
    start = datetime.fromtimestamp(newest_at(state, third), sim.clock.now().tzinfo)
    assert sorted(set(ids(partial.posts + rest.posts))) == expected(
        sim, build_queries([TOPIC]), start + timedelta(seconds=1)
    )
