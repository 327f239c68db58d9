"""The RSS/Atom source against the simulator: conditional GET, size cap, faults in words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from monitor.core.http import parse_retry_after
from monitor.sources.base import PollContext, SourceError
from monitor.sources.http import make_client
from monitor.sources.rss import RssSettings, RssSource

DAY = 86400


def ctx(now=None, backfill=timedelta(days=30)):
    return PollContext(now=now or datetime.now(UTC), backfill=backfill)


def rss(sim, path, http, **kw):
    return RssSource(RssSettings(name="feed", kind="rss", url=f"{sim.url}{path}", **kw), [], http)


@pytest.fixture
def sim_day2(simulator):
    simulator.clock.set_offset(2 * DAY)
    return simulator


@pytest.mark.parametrize(
    "path,version_hint",
    [
        ("/tags/TrumpPutin.rss", "rss"),
        ("/r/worldnews/new/.rss", "atom"),
        ("/rss/search?q=Trump+Putin&hl=en-US&gl=US&ceid=US:en", "rss"),
        ("/feeds/all.atom", "atom"),
    ],
)
def test_each_feed_format_parses_into_posts(sim_day2, http, path, version_hint):
    batch = rss(sim_day2, path, http).fetch({}, ctx())
    assert batch.status == 200 and batch.posts
    p = batch.posts[0]
    assert p.native_id and p.text and p.created_at.tzinfo is not None
    assert all(x.created_at <= datetime.now(UTC) + timedelta(seconds=5) for x in batch.posts)


def test_conditional_get_returns_not_modified_and_keeps_state(sim_day2, http):
    src = rss(sim_day2, "/tags/TrumpPutin.rss", http)
    first = src.fetch({}, ctx())
    assert first.state.get("etag")
    sim_day2.clock.pause()
    second = src.fetch(first.state, ctx())
    assert second.not_modified and second.status == 304 and second.posts == []
    assert second.state == first.state


def test_new_items_appear_as_the_clock_moves(simulator, http):
    simulator.clock.set_offset(DAY)
    src = rss(simulator, "/feeds/all.atom?limit=400", http)
    a = src.fetch({}, ctx())
    simulator.clock.set_offset(DAY + 3600)
    b = src.fetch(a.state, ctx())
    assert not b.not_modified
    assert {p.native_id for p in b.posts} - {p.native_id for p in a.posts}


def test_first_poll_backfills_only_the_window(simulator, http):
    simulator.clock.set_offset(2 * DAY)
    simulator.clock.pause()
    src = rss(simulator, "/feeds/all.atom?limit=400", http)
    sim_now = simulator.clock.now()
    first = src.fetch({}, ctx(now=sim_now, backfill=timedelta(hours=1)))
    assert first.posts and all(p.created_at >= sim_now - timedelta(hours=1) for p in first.posts)
    # Later polls take whatever is new, however old its date.
    later = src.fetch({"polled": True}, ctx(now=sim_now, backfill=timedelta(hours=1)))
    assert len(later.posts) > len(first.posts)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_server_errors_become_words_with_retry_after(sim_day2, http, status):
    sim_day2.set_faults(status=status, retry_after=42, count=1)
    with pytest.raises(SourceError) as exc:
        rss(sim_day2, "/tags/TrumpPutin.rss", http).fetch({}, ctx())
    assert exc.value.status == status and exc.value.retry_after == 42
    assert str(status) in str(exc.value) and "feed feed" in str(exc.value)


def test_invalid_body_is_an_error_in_words(sim_day2, http):
    sim_day2.set_faults(invalid=True, count=1)
    with pytest.raises(SourceError, match="not valid RSS/Atom"):
        rss(sim_day2, "/tags/TrumpPutin.rss", http).fetch({}, ctx())


def test_truncated_body_keeps_old_validators(sim_day2, http):
    src = rss(sim_day2, "/feeds/all.atom?limit=200", http)
    sim_day2.set_faults(truncate=True, count=1)
    try:
        batch = src.fetch({"etag": "old"}, ctx())
    except SourceError:
        return  # nothing parsed at all: an error, the old state stays by construction
    assert batch.state.get("etag") == "old" and batch.notes


def test_size_cap(sim_day2, http):
    sim_day2.set_faults(huge_bytes=3_000_000, count=1)
    with pytest.raises(SourceError, match="cap"):
        rss(sim_day2, "/tags/TrumpPutin.rss", http, max_bytes=1_000_000).fetch({}, ctx())


def test_timeout_is_an_error_in_words(sim_day2):
    sim_day2.set_faults(latency_s=2.0, count=1)
    with make_client(timeout=0.3) as c:
        with pytest.raises(SourceError, match="did not answer in time"):
            rss(sim_day2, "/tags/TrumpPutin.rss", c, timeout="0.3s").fetch({}, ctx())


def test_unreachable_server_is_an_error_in_words(http):
    src = RssSource(
        RssSettings(name="feed", kind="rss", url="http://127.0.0.1:9/feed.xml"), [], http
    )
    with pytest.raises(
        SourceError, match="^127.0.0.1 refused the connection on port 9: nothing listens there"
    ):
        src.fetch({}, ctx())


def test_sends_a_user_agent_naming_the_project():
    seen = {}

    def handler(request):
        seen["ua"] = request.headers["user-agent"]
        return httpx.Response(304)

    c = make_client()
    c._transport = httpx.MockTransport(handler)  # no socket needed to read a request header
    RssSource(RssSettings(name="f", kind="rss", url="http://example.invalid/f"), [], c).fetch(
        {"etag": "x"}, ctx()
    )
    assert seen["ua"].startswith("reaction-monitor/")


def test_retry_after_http_date():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", now) == 60
    assert parse_retry_after("120") == 120
    assert parse_retry_after("soon") is None


@pytest.mark.parametrize(
    "url, exc, words",
    [
        (
            "https://news.google.com/rss",
            httpx.ConnectError("[Errno -2] Name or service not known"),
            "cannot resolve news.google.com — is this machine offline?",
        ),
        (
            "https://news.google.com/rss",
            httpx.ConnectError("[Errno -3] Temporary failure in name resolution"),
            "cannot resolve news.google.com — is this machine offline?",
        ),
        (
            "https://feeds.example.org/x",
            httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
            "no secure connection to feeds.example.org: its certificate is not trusted",
        ),
        (
            "https://feeds.example.org/x",
            httpx.ConnectTimeout("timed out"),
            "no connection to feeds.example.org in time (timeout)",
        ),
        (
            "https://feeds.example.org/x",
            httpx.ReadTimeout("timed out"),
            "feed feed did not answer in time (timeout)",
        ),
    ],
)
def test_transport_failures_in_words(url, exc, words):
    """What the user reads in status and feed health: what happened, never an exception's name."""

    def fail(request: httpx.Request) -> httpx.Response:
        raise exc

    with httpx.Client(transport=httpx.MockTransport(fail)) as client:
        src = RssSource(RssSettings(name="feed", kind="rss", url=url), [], client)
        with pytest.raises(SourceError) as caught:
            src.fetch({}, ctx())
    assert caught.value.message.startswith(words) and "Error" not in caught.value.message


def test_http_status_in_words(sim_day2, http):
    with pytest.raises(SourceError, match=r"was not found \(404\)"):
        RssSource(
            RssSettings(name="feed", kind="rss", url=f"{sim_day2.url}/no/such/feed.xml"), [], http
        ).fetch({}, ctx())
