"""After a 429 the server's Retry-After wins over a rate window saved from an earlier answer."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hostile_servers import RawServer, answer, scripted

from monitor.collector import backoff_delay
from monitor.config.feeds import Topic
from monitor.sources import http
from monitor.sources.base import PollContext, SourceError
from monitor.sources.reddit import RedditSettings, RedditSource
from monitor.sources.x import XSettings, XSource

TOPIC = Topic(name="deal", hashtags=["#Dmitriev"], keywords=["Dmitriev"])
NOW = datetime.now(UTC)
SAVED = {"rate": {"remaining": 439, "reset_at": (NOW + timedelta(minutes=15)).isoformat()}}
TOKEN = answer(
    "200 OK",
    {"Content-Type": "application/json"},
    json.dumps({"access_token": "t", "token_type": "bearer", "expires_in": 86400}).encode(),
)


def limited(headers: dict[str, str]):
    def route(path: str, head: bytes) -> bytes:
        if path.startswith("/api/v1/access_token"):
            return TOKEN
        return answer(
            "429 Too Many Requests",
            {"Content-Type": "application/json", **headers},
            b'{"title": "Too Many Requests", "status": 429}',
        )

    return scripted(route)


@pytest.fixture(autouse=True)
def secrets(monkeypatch):
    monkeypatch.setenv("T_X", "token")
    monkeypatch.setenv("T_RID", "id")
    monkeypatch.setenv("T_RSECRET", "secret")


def x_source(url: str) -> XSource:
    return XSource(
        XSettings(name="x", kind="x", api_url=url, web_url=url, bearer_token_env="T_X"),
        [TOPIC],
        http.make_client(timeout=5),
    )


def reddit_source(url: str) -> RedditSource:
    return RedditSource(
        RedditSettings(
            name="r",
            kind="reddit",
            api_url=url,
            www_url=url,
            subreddits=["worldnews"],
            listing="new",
            client_id_env="T_RID",
            client_secret_env="T_RSECRET",
        ),
        [TOPIC],
        http.make_client(timeout=5),
    )


CTX = PollContext(now=NOW, backfill=timedelta(hours=1))


@pytest.mark.parametrize("make", [x_source, reddit_source], ids=["x", "reddit"])
def test_retry_after_wins_over_a_saved_window(make):
    with RawServer(limited({"Retry-After": "8"})) as server:
        with pytest.raises(SourceError) as caught:
            make(server.url).fetch(dict(SAVED), CTX)
    err = caught.value
    assert err.status == 429 and err.retry_after == 8
    delay = backoff_delay(timedelta(seconds=1), 1, err.retry_after)
    assert timedelta(seconds=8) <= delay < timedelta(seconds=9)


@pytest.mark.parametrize("make", [x_source, reddit_source], ids=["x", "reddit"])
def test_a_stale_window_with_requests_to_spare_does_not_set_the_wait(make):
    """No Retry-After and no window in the 429: the saved window (439 left) is not this limit."""
    with RawServer(limited({})) as server:
        with pytest.raises(SourceError) as caught:
            make(server.url).fetch(dict(SAVED), CTX)
    assert caught.value.status == 429 and caught.value.retry_after is None


def test_the_budget_after_a_retry_after_waits_that_long_only():
    budget = http.RateBudget()
    budget.restore(SAVED)
    budget.heard(httpx.Headers({"Retry-After": "8"}))
    assert budget.limited(NOW) == 8
    assert budget.low(NOW + timedelta(seconds=7)) and not budget.low(NOW + timedelta(seconds=9))
