"""The Mastodon source against the simulator's hashtag timelines: paging, federation, boosts, failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import quote

import httpx
import pytest

from monitor.ingest.poll import Ingestor
from monitor.simulator.corpus import BURST_WINDOW
from monitor.simulator.platforms import mastodon as msim
from monitor.sources.base import PollContext, SourceError
from monitor.sources.http import make_client
from monitor.sources.mastodon import MastodonSettings, MastodonSource, statuses_to_posts
from monitor.store.db import Store

TAG = "trumpputinbusiness"
START, END = BURST_WINDOW[0] - 1800, BURST_WINDOW[1]  # a quiet half hour, then the summit burst
TOPICS = [
    SimpleNamespace(
        name="thaw",
        title=None,
        hashtags=["#TrumpPutinBusiness"],
        keywords=["Dmitriev"],
        exclude=[],
        languages=None,
    )
]


def source(sim, http, instances=None, **kw):
    kw.setdefault("hashtags", [TAG])
    settings = MastodonSettings(
        name=kw.pop("name", "masto"), kind="mastodon", instances=instances or [sim.url], **kw
    )
    return MastodonSource(settings, TOPICS, http)


def at(sim, offset_s, backfill=timedelta(hours=1)):
    """Freeze the simulated clock at `offset_s`; the poll context a collector would pass then."""
    sim.clock.set_offset(offset_s)
    sim.clock.pause()
    return PollContext(now=sim.clock.now(), backfill=backfill)


def expected(sim, lo, hi, instance=msim.HOME, tag=TAG):
    """(original uris, boost uris) that `instance` shows under #tag, published in (lo, hi]."""
    by_id = {p.id: p for p in sim.corpus}
    seq = sim.index.seq
    originals, boosts = set(), set()
    for p in sim.corpus:
        original = by_id.get(p.repost_of) if p.repost_of else p
        if (
            p.platform != "mastodon"
            or not lo < p.offset_s <= hi
            or not msim.knows(instance, p)
            or tag not in {t.casefold() for t in original.hashtags}
        ):
            continue
        uri = f"{sim.url}/users/{quote(p.author, safe='')}/statuses/{msim.local_id(msim.HOME, seq[p.id])}"
        (boosts if p.repost_of else originals).add(uri + "/activity" if p.repost_of else uri)
    return originals, boosts


def uris(posts, boosts=False):
    return {p.native_id for p in posts if (p.repost_of is not None) == boosts}


# --- what gets fetched -------------------------------------------------------------------------------------------


def newest(state: dict, url: str) -> str:
    """The newest id the paging ledger holds for TAG on the instance at `url`."""
    return state["paging"]["newest"][f"{url} #{TAG}"]["id"]


def test_first_poll_backfills_the_window_and_no_more(simulator, http):
    ctx = at(simulator, END, backfill=timedelta(minutes=30))
    batch = source(simulator, http).fetch({}, ctx)
    originals, boosts = expected(simulator, END - 1800, END)
    assert originals and uris(batch.posts) == originals
    assert all(p.created_at >= ctx.backfill_since for p in batch.posts)
    assert batch.error is None and newest(batch.state, simulator.url)
    assert batch.state["paging"]["pending"] == [], "the window is covered: nothing left to read"


def test_later_polls_fetch_only_what_is_new(simulator, http):
    src = source(simulator, http)
    first = src.fetch({}, at(simulator, START))
    assert src.fetch(first.state, at(simulator, START)).posts == []  # nothing published since
    later = src.fetch(first.state, at(simulator, START + 900))
    originals, _ = expected(simulator, START, START + 900)
    assert originals and uris(later.posts) == originals


def test_a_burst_is_paged_with_min_id_until_an_empty_page(simulator, http):
    src = source(simulator, http, page_size=3, max_pages=200)
    first = src.fetch({}, at(simulator, START))
    burst = src.fetch(first.state, at(simulator, END))
    originals, boosts = expected(simulator, START, END)
    assert len(originals) > 30  # many pages of 3
    assert uris(burst.posts) == originals and uris(burst.posts, boosts=True) == boosts
    assert len(burst.posts) == len({p.native_id for p in burst.posts})  # no page read twice


def test_max_pages_leaves_the_rest_for_the_next_poll_without_a_gap(simulator, http):
    src = source(simulator, http, page_size=4, max_pages=2)
    state = src.fetch({}, at(simulator, START)).state
    seen: set[str] = set()
    for _ in range(40):
        batch = src.fetch(state, at(simulator, END))
        state = batch.state
        seen |= uris(batch.posts)
        if not batch.posts:
            break
    assert seen == expected(simulator, START, END)[0]


def test_content_is_html_and_the_content_warning_is_kept(simulator, http):
    batch = source(simulator, http).fetch({}, at(simulator, END, backfill=timedelta(hours=3)))
    warned = [p for p in batch.posts if p.title]
    assert warned and all(p.title == "uspol" for p in warned)
    assert all(p.is_html and p.text.startswith("<p>") for p in batch.posts if not p.repost_of)
    assert all(TAG in p.tags for p in batch.posts if not p.repost_of)


# --- several instances, boosts, in the store ---------------------------------------------------------------------


@pytest.fixture
def store(sqlite_url):
    s = Store(sqlite_url)
    yield s
    s.close()


def test_the_same_post_via_two_instances_is_stored_once(simulator, http, store):
    other = msim.instance_url(simulator, "hachyderm.io")
    ingestor = Ingestor(store, TOPICS, clock=simulator.clock.now)
    at(simulator, END)
    both = source(simulator, http, [simulator.url, other], backfill="2h")
    out = ingestor.poll(both)
    home, _ = expected(simulator, END - 7200, END)
    remote, _ = expected(simulator, END - 7200, END, instance="hachyderm.io")
    assert remote < home  # the other instance knows most, not all, of the posts
    assert out.outcome == "ok" and out.new_posts == len(home)
    assert {p["native_id"] for p in store.posts()} == home
    state = store.source_state("masto")["state"]
    assert newest(state, simulator.url) != newest(state, other)  # local ids differ
    # Another source reading only the second instance finds nothing new: the uri is the identity.
    again = ingestor.poll(source(simulator, http, [other], name="masto-b", backfill="2h"))
    assert again.new_posts == 0 and again.duplicates == len(remote)


def test_a_boost_is_engagement_on_its_original_not_a_post(simulator, http, store):
    by_id = {p.id: p for p in simulator.corpus}
    boost = next(
        p
        for p in simulator.corpus
        if p.platform == "mastodon"
        and p.repost_of
        and TAG in {t.casefold() for t in by_id[p.repost_of].hashtags}
    )
    original = by_id[boost.repost_of]
    ingestor = Ingestor(store, TOPICS, clock=simulator.clock.now)
    src = source(simulator, http, max_pages=50, backfill="1s")
    at(simulator, original.offset_s)
    assert ingestor.poll(src).outcome == "ok"
    at(simulator, boost.offset_s)
    out = ingestor.poll(src)
    assert out.reposts >= 1
    stored = {p["native_id"]: p for p in store.posts()}
    uri = (
        f"{simulator.url}/users/{quote(original.author, safe='')}/statuses/"
        f"{msim.local_id(msim.HOME, simulator.index.seq[original.id])}"
    )
    assert stored[uri]["reposts"] == 1
    assert not any(k.endswith("/activity") for k in stored)


def test_a_boost_yields_its_original_and_a_repost():
    boost = {
        "id": "2",
        "uri": "https://a.example/users/b/statuses/2/activity",
        "created_at": "2026-08-01T13:53:58.160Z",
        "content": "",
        "account": {"acct": "b"},
        "reblog": {
            "id": "1",
            "uri": "https://a.example/users/o/statuses/1",
            "created_at": "2026-08-01T13:50:00Z",
            "content": "<p>Toot!</p>",
            "spoiler_text": "cw",
            "account": {"acct": "o@else.example"},
            "tags": [{"name": "hoot"}],
            "favourites_count": 2,
            "reblogs_count": 1,
        },
    }
    posts, bad = statuses_to_posts([boost, {"id": "3"}, "junk"])
    assert bad == 2
    original, repost = posts
    assert original.native_id == original.canonical_id == "https://a.example/users/o/statuses/1"
    assert original.title == "cw" and original.tags == ("hoot",) and original.engagement == 3
    assert repost.repost_of == original.native_id and repost.text == "" and repost.engagement == 0


# --- failures, in words, cursor kept -----------------------------------------------------------------------------


def test_an_instance_that_wants_a_token(simulator, http, monkeypatch):
    ctx = at(simulator, END)
    msim.configure(simulator, token="s3cret")
    with pytest.raises(
        SourceError, match=r"requires an access token for hashtag timelines \(401\)"
    ) as exc:
        source(simulator, http).fetch({}, ctx)
    assert exc.value.status == 401
    with_token = source(simulator, http, [{"url": simulator.url, "token_env": "MASTO_TOKEN"}])
    with pytest.raises(SourceError, match="environment variable MASTO_TOKEN"):
        with_token.fetch({}, ctx)
    monkeypatch.setenv("MASTO_TOKEN", "wrong")
    with pytest.raises(
        SourceError, match=r"rejected the access token in MASTO_TOKEN \(401\)"
    ) as exc:
        with_token.fetch({}, ctx)
    assert "wrong" not in str(exc.value)
    monkeypatch.setenv("MASTO_TOKEN", "s3cret")
    assert with_token.fetch({}, ctx).posts


def test_an_unknown_tag_is_named_and_known_ones_still_work(simulator, http):
    ctx = at(simulator, END)
    with pytest.raises(SourceError, match=r"no timeline for #nosuchtag \(404\)"):
        source(simulator, http, hashtags=["nosuchtag"]).fetch({}, ctx)
    mixed = source(simulator, http, hashtags=["nosuchtag", TAG]).fetch({}, ctx)
    assert mixed.posts and mixed.error is None and any("#nosuchtag" in n for n in mixed.notes)


def test_a_disabled_hashtag_feed_is_an_empty_timeline(simulator, http):
    msim.configure(simulator, disabled=True)
    batch = source(simulator, http).fetch({}, at(simulator, END))
    assert batch.posts == [] and batch.error is None


def test_it_slows_down_before_the_rate_limit(simulator, http):
    msim.set_rate_limit(simulator, 8, window_s=60)
    src = source(simulator, http, page_size=4, max_pages=200)
    state = src.fetch({}, at(simulator, START)).state
    batch = src.fetch(state, at(simulator, END))
    inst = batch.state["instances"][simulator.url]
    assert (
        batch.error is None and inst.get("not_before") and any("pausing" in n for n in batch.notes)
    )
    served = msim.requests_served(simulator)
    assert served <= 8  # it never ran into a 429
    skipped = src.fetch(batch.state, at(simulator, END))
    # left alone until the reset
    assert skipped.posts == [] and msim.requests_served(simulator) == served
    # Once the window has reset (here: a new window, and the reset time moved into the past),
    # it carries on from its cursor and nothing of the burst is missing.
    msim.set_rate_limit(simulator, 1000)
    state = batch.state
    state["instances"][simulator.url]["not_before"] = "2000-01-01T00:00:00+00:00"
    rest = src.fetch(state, at(simulator, END))
    assert uris(batch.posts) | uris(rest.posts) == expected(simulator, START, END)[0]
    assert not uris(batch.posts) & uris(rest.posts)


def test_429_says_when_the_limit_resets(simulator, http):
    ctx = at(simulator, END)
    msim.set_rate_limit(simulator, 1, window_s=120)
    httpx.get(f"{simulator.url}/api/v1/timelines/tag/{TAG}")  # someone else used the window up
    with pytest.raises(SourceError, match=r"rate-limiting us \(429\); the limit resets at") as exc:
        source(simulator, http).fetch({}, ctx)
    assert exc.value.status == 429 and 60 < exc.value.retry_after <= 121


@pytest.mark.parametrize(
    "fault,words",
    [
        ({"status": 503}, r"had a server error \(503\)"),
        ({"status": 500}, r"had a server error \(500\)"),
        ({"invalid": True}, "not JSON"),
        ({"truncate": True}, "not JSON"),
    ],
)
def test_server_trouble_is_an_error_in_words(simulator, http, fault, words):
    ctx = at(simulator, END)
    simulator.set_faults(count=1, **fault)
    with pytest.raises(SourceError, match=words):
        source(simulator, http).fetch({}, ctx)


def test_a_timeout_is_an_error_in_words(simulator):
    ctx = at(simulator, END)
    simulator.set_faults(latency_s=2.0, count=1)
    with make_client(timeout=0.3) as client:
        with pytest.raises(SourceError, match="did not answer in time"):
            source(simulator, client, timeout="0.3s").fetch({}, ctx)


def test_one_failing_instance_does_not_stop_the_other(simulator, http):
    other = msim.instance_url(simulator, "fosstodon.org")
    src = source(simulator, http, [simulator.url, other])
    state = src.fetch({}, at(simulator, START)).state
    simulator.set_faults(status=502, path_prefix="/instances/fosstodon.org")
    batch = src.fetch(state, at(simulator, END))
    simulator.clear_faults()
    assert "fosstodon.org" in batch.error.message and "502" in batch.error.message
    assert batch.error.retry_after is None  # the healthy instance keeps its pace
    assert uris(batch.posts) == expected(simulator, START, END)[0]
    assert newest(batch.state, other) == newest(state, other)  # its cursor kept
    assert newest(batch.state, simulator.url) != newest(state, simulator.url)


class FailAfter(httpx.BaseTransport):
    """The simulator's real answers, until the connection dies after `n` of them."""

    def __init__(self, n: int):
        self.inner, self.left = httpx.HTTPTransport(), n

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.left == 0:
            raise httpx.ReadTimeout("injected", request=request)
        self.left -= 1
        return self.inner.handle_request(request)


def test_a_failure_half_way_keeps_the_pages_read_and_a_matching_cursor(simulator, http):
    src = source(simulator, http, page_size=5, max_pages=200)
    state = src.fetch({}, at(simulator, START)).state
    ctx = at(simulator, END)
    with httpx.Client(transport=FailAfter(2), timeout=5) as flaky:
        src.http = flaky
        part = src.fetch(state, ctx)
    assert part.error is not None and "did not answer in time" in part.error.message
    assert len(uris(part.posts)) == 10
    src.http = http
    rest = src.fetch(part.state, ctx)
    assert not uris(part.posts) & uris(rest.posts)
    assert uris(part.posts) | uris(rest.posts) == expected(simulator, START, END)[0]


def test_schema_surprises(http):
    def answer(request):
        if "weird" in request.url.path:
            return httpx.Response(200, json={"statuses": []})
        return httpx.Response(200, json=[{"id": "9", "created_at": "yesterday"}])

    client = httpx.Client(transport=httpx.MockTransport(answer))
    ctx = PollContext(now=datetime.now(UTC), backfill=timedelta(hours=1))
    src = MastodonSource(
        MastodonSettings(
            name="m", kind="mastodon", instances=["https://x.example"], hashtags=["weird"]
        ),
        [],
        client,
    )
    with pytest.raises(SourceError, match="sent dict where a list of posts belongs"):
        src.fetch({}, ctx)
    odd = MastodonSource(
        MastodonSettings(
            name="m", kind="mastodon", instances=["https://x.example"], hashtags=["odd"]
        ),
        [],
        client,
    )
    batch = odd.fetch({}, ctx)
    assert batch.posts == [] and any("unexpected shape" in n for n in batch.notes)


# --- settings ----------------------------------------------------------------------------------------------------


def test_settings_in_words():
    ok = MastodonSettings(
        name="m",
        kind="mastodon",
        instances=["mastodon.social", {"url": "https://a.example/", "token_env": "A_TOKEN"}],
    )
    assert [i.url for i in ok.instances] == ["https://mastodon.social", "https://a.example"]
    assert ok.secret_env_vars() == {"instances[1].token_env": "A_TOKEN"}
    for bad, words in [
        (["ftp://x"], "not a web address"),
        (["https://m.example/tags/x"], "is a page"),
        (["m.example", "https://m.example/"], "listed twice"),
        ([], "at least 1"),
    ]:
        with pytest.raises(ValueError, match=words):
            MastodonSettings(name="m", kind="mastodon", instances=bad)
    with pytest.raises(ValueError, match="is not a hashtag"):
        MastodonSettings(name="m", kind="mastodon", instances=["m.example"], hashtags=["two words"])


def test_no_hashtags_to_follow_is_said(http):
    src = MastodonSource(
        MastodonSettings(name="m", kind="mastodon", instances=["m.example"]),
        [SimpleNamespace(name="t", hashtags=[], keywords=["x"])],
        http,
    )
    with pytest.raises(SourceError, match="no hashtags to follow"):
        src.fetch({}, PollContext(now=datetime.now(UTC), backfill=timedelta(hours=1)))
