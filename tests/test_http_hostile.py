"""Servers that misbehave, over loopback: a trickle never holds a poll past its timeout, and a
redirect never leads a source to the metadata service, this machine or a private network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import httpx
import pytest
from hostile_servers import RawServer, answer, elapsed, scripted, trickle

from monitor.ingest.poll import Ingestor
from monitor.sources import http
from monitor.sources.base import PollContext, SourceError
from monitor.sources.mastodon import MastodonSettings, MastodonSource
from monitor.sources.rss import RssSettings, RssSource

CTX = PollContext(now=datetime.now(UTC), backfill=timedelta(days=3650))
TOPIC = SimpleNamespace(
    name="t", title=None, hashtags=["#x"], keywords=["x"], exclude=[], languages=None
)
FEED = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
    b"<item><guid>1</guid><title>x marks the spot</title><link>https://news.example/1</link>"
    b"<pubDate>Wed, 18 Mar 2026 12:00:00 GMT</pubDate></item></channel></rss>"
)
SLOW = 0.25  # seconds between two bytes; each read sees a byte well within the timeout
TIMEOUT = 1.0


def rss(url: str, **kw) -> RssSource:
    return RssSource(
        RssSettings(
            name="feed",
            kind="rss",
            url=url,
            timeout=TIMEOUT,
            match="all",
            backfill=timedelta(days=3650),
            **kw,
        ),
        [TOPIC],
        http.make_client(timeout=TIMEOUT),
    )


HEAD_TRICKLE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
    + b"X-Pad: "
    + b"a" * 200
    + b"\r\n\r\n"
)
BODY_TRICKLE = answer("200 OK", {"Content-Type": "application/rss+xml"}, FEED * 3)


@pytest.mark.parametrize("payload", [HEAD_TRICKLE, BODY_TRICKLE], ids=["slow headers", "slow body"])
def test_a_trickling_feed_ends_at_its_timeout(payload):
    """Each byte arrives well within the per-read timeout; the request as a whole still ends."""
    with RawServer(trickle(payload, SLOW)) as server:
        took, out = elapsed(lambda: rss(server.url + "/feed.xml").fetch({}, CTX))
    assert isinstance(out, SourceError) and "did not answer in time" in str(out)
    assert "within 1s" in str(out)
    assert took < len(payload) * SLOW / 4  # stopped long before the trickle would have ended


def test_a_trickling_mastodon_instance_ends_at_its_timeout():
    with RawServer(trickle(HEAD_TRICKLE, SLOW)) as server:
        src = MastodonSource(
            MastodonSettings(
                name="m", kind="mastodon", instances=[server.url], hashtags=["x"], timeout=TIMEOUT
            ),
            [TOPIC],
            http.make_client(timeout=TIMEOUT),
        )
        took, out = elapsed(lambda: src.fetch({}, CTX))
    assert isinstance(out, SourceError) and "did not answer in time" in str(out)
    assert took < len(HEAD_TRICKLE) * SLOW / 4


def test_a_deadline_also_holds_for_a_client_a_caller_built():
    with RawServer(trickle(HEAD_TRICKLE, SLOW)) as server, httpx.Client(timeout=TIMEOUT) as client:
        took, out = elapsed(
            lambda: http.get(client, server.url + "/", what="plain client", timeout=TIMEOUT)
        )
    assert isinstance(out, SourceError) and took < len(HEAD_TRICKLE) * SLOW / 4


# --- redirects ---------------------------------------------------------------------------------


def redirect_to(location: str, status: str = "302 Found"):
    def route(path: str, head: bytes) -> bytes:
        if path.startswith("/feed"):
            return answer(status, {"Location": location})
        return answer("200 OK", {"Content-Type": "application/rss+xml"}, FEED)

    return scripted(route)


@pytest.mark.parametrize(
    "location,words",
    [
        (
            "http://169.254.169.254/latest/meta-data/iam/",
            "169.254.169.254 is a link-local address (cloud metadata)",
        ),
        ("http://[fd00:ec2::254]/latest/", "private-network address"),
        ("http://10.1.2.3/internal", "10.1.2.3 is a private-network address"),
        ("http://0.0.0.0:5432/", "not a public address"),
        ("file:///etc/passwd", "only http and https are followed"),
        ("gopher://example.org/", "only http and https are followed"),
    ],
)
def test_a_redirect_off_the_public_internet_is_refused_in_words(location, words):
    with RawServer(redirect_to(location)) as server:
        out = elapsed(lambda: rss(server.url + "/feed.xml").fetch({}, CTX))[1]
        assert len(server.requests) == 1  # nothing was fetched from the target
    assert isinstance(out, SourceError) and "redirected to" in str(out) and words in str(out), out
    assert "not followed" in str(out)


def test_a_redirect_to_another_local_service_is_refused_and_the_poll_stores_nothing(store):
    with (
        RawServer(scripted(lambda p, h: answer("200 OK", {}, b"secret"))) as other,
        RawServer(redirect_to(f"http://127.0.0.1:{other.port}/")) as server,
    ):
        src = rss(server.url + "/feed.xml")
        out = Ingestor(store, [TOPIC]).poll(src)
        assert other.requests == []
    assert out.outcome == "error" and "loopback" in out.error and out.new_posts == 0
    assert store.source_state("feed")["last_error"] == out.error
    assert store.posts() == []


def test_a_redirect_within_the_sources_own_host_is_followed():
    with RawServer(redirect_to("/moved.xml", "301 Moved Permanently")) as server:
        batch = rss(server.url + "/feed.xml").fetch({}, CTX)
    assert [p.native_id for p in batch.posts] == ["1"]


def test_redirect_hosts_lets_a_configured_host_in_and_strips_credentials(store):
    with (
        RawServer(
            scripted(lambda p, h: answer("200 OK", {"Content-Type": "application/rss+xml"}, FEED))
        ) as mirror,
        RawServer(redirect_to(f"http://127.0.0.1:{mirror.port}/feed.xml")) as server,
    ):
        src = rss(server.url + "/feed.xml", redirect_hosts=[f"127.0.0.1:{mirror.port}"])
        out = Ingestor(store, [TOPIC]).poll(src)
        assert out.outcome == "ok" and out.new_posts == 1
        with http.redirect_policy([f"127.0.0.1:{mirror.port}"]):
            http.get(
                src.http,
                server.url + "/feed.xml",
                what="feed",
                headers={"Authorization": "Bearer s3cret"},
            )
        assert b"s3cret" in server.requests[-1] and b"s3cret" not in mirror.requests[-1]


def test_a_redirect_loop_gives_up_in_words():
    with RawServer(redirect_to("/feed.xml")) as server:
        out = elapsed(lambda: rss(server.url + "/feed.xml").fetch({}, CTX))[1]
    assert isinstance(out, SourceError) and "redirected more than 5 times" in str(out)


def test_public_addresses_pass_the_check():
    origin = httpx.URL("http://127.0.0.1:8080/feed")
    assert http.check_redirect(origin, httpx.URL("https://93.184.216.34/x")) is None
    # same host, https upgrade
    assert http.check_redirect(origin, httpx.URL("https://127.0.0.1/x")) is None
    assert "loopback" in http.check_redirect(origin, httpx.URL("http://127.0.0.1:5432/"))
    assert "loopback" in http.check_redirect(origin, httpx.URL("http://[::ffff:127.0.0.1]:80/"))
