"""The shared paging model (monitor/sources/paging.py) on a scripted platform, without HTTP.

The platform here is a list of posts, newest first, paged by an offset below a position: small
enough to see every rule of the ledger at work (new posts first, pending ranges continued where
they stopped, only a completed range closed, gaps recorded) independent of any real API.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.sources import paging
from monitor.sources.base import RawPost, SourceError

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STREAM = paging.Stream("tag", "#tag")


class Platform:
    """Posts one a minute; a page is the `size` newest posts below `cont["below"]` and above the edge."""

    def __init__(self, n: int, size: int = 3, *, cap: int | None = None):
        self.times = [T0 + timedelta(minutes=i) for i in range(n)]
        self.size, self.cap = size, cap
        self.fail_at: set[int] = set()
        self.pause_at: set[int] = set()
        self.requests = 0

    def add(self, k: int) -> None:
        last = self.times[-1]
        self.times += [last + timedelta(minutes=i + 1) for i in range(k)]

    def page(self, rng: paging.Range) -> paging.Page:
        self.requests += 1
        if self.requests in self.pause_at:
            raise paging.Pause("few requests left")
        if self.requests in self.fail_at:
            raise SourceError("server error (503)", status=503)
        below = (rng.cont or {}).get("below", len(self.times))
        edge = (rng.edge or {}).get("index", -1)
        edge_at = datetime.fromtimestamp(rng.edge_at, UTC)
        visible = range(len(self.times) - 1, -1, -1)
        if self.cap is not None:
            visible = visible[: self.cap]
        chosen = [i for i in visible if edge < i < below and self.times[i] >= edge_at][: self.size]
        posts = [RawPost(native_id=str(i), text="x", created_at=self.times[i]) for i in chosen]
        page = paging.Page(posts=posts)
        if chosen:
            page.newest = {"index": chosen[0], "at": self.times[chosen[0]].isoformat()}
            page.newest_at, page.oldest_at = self.times[chosen[0]], self.times[chosen[-1]]
        deeper = [
            i
            for i in visible
            if edge < i < (chosen[-1] if chosen else below) and self.times[i] >= edge_at
        ]
        if deeper:
            page.cont = {"below": chosen[-1]}
        elif (
            self.cap is not None and chosen and chosen[-1] == visible[-1] and visible[-1] > edge + 1
        ):
            page.lost = (edge_at, self.times[chosen[-1]], "out of reach")
        return page


def poll(
    ledger: paging.Ledger, platform: Platform, now: datetime, pages: int = 2
) -> paging.Outcome:
    return paging.run(
        ledger,
        [STREAM],
        platform,
        now=now,
        edge_for=lambda s, n: paging.position_time(n) or 0.0,
        backfill_since=T0,
        pages_per_stream=pages,
    )


def drain(state: dict, platform: Platform, now: datetime) -> tuple[list[str], dict]:
    got: list[str] = []
    for _ in range(100):
        ledger = paging.Ledger(state)
        out = poll(ledger, platform, now)
        got += [p.native_id for p in out.posts]
        state = ledger.into(state)
        if not state["paging"]["pending"]:
            return got, state
    raise AssertionError("never finished")


def test_a_window_larger_than_a_poll_is_read_over_several_and_only_then_closes():
    platform = Platform(20)
    ledger = paging.Ledger({})
    out = poll(ledger, platform, T0 + timedelta(hours=1))
    assert [p.native_id for p in out.posts] == ["19", "18", "17", "16", "15", "14"]
    assert ledger.newest["tag"]["index"] == 19, (
        "the newest position moves at once: the range owns the span below"
    )
    (rng,) = ledger.pending
    assert rng.cont == {"below": 14} and rng.read == 6 and rng.backfill
    got, state = drain(ledger.into({}), platform, T0 + timedelta(hours=1))
    assert sorted(map(int, got)) == list(range(14)) and state["paging"]["pending"] == []


def test_new_posts_come_first_then_the_pending_range_goes_on_where_it_stopped():
    platform = Platform(20)
    ledger = paging.Ledger({})
    poll(ledger, platform, T0)
    platform.add(2)  # posts 20, 21 arrive while the backfill is pending
    out = poll(ledger, platform, T0)
    assert [p.native_id for p in out.posts] == ["21", "20", "13", "12", "11"], (
        "new first, then the backlog"
    )
    got, _ = drain(ledger.into({}), platform, T0)
    assert sorted(map(int, got)) == list(range(11))


def test_a_burst_bigger_than_a_poll_leaves_a_range_that_later_polls_finish():
    platform = Platform(3)
    _, state = drain({}, platform, T0)
    platform.add(20)
    ledger = paging.Ledger(state)
    first = poll(ledger, platform, T0)
    assert (
        len(first.posts) == 6 and len(ledger.pending) == 1 and ledger.pending[0].edge["index"] == 2
    )
    got, state = drain(ledger.into(state), platform, T0)
    assert sorted(map(int, got + [p.native_id for p in first.posts])) == list(range(3, 23))


@pytest.mark.parametrize("stop", ["error", "pause"])
def test_an_error_or_a_pause_leaves_the_range_with_its_continuation(stop):
    platform = Platform(20)
    (platform.fail_at if stop == "error" else platform.pause_at).add(2)
    ledger = paging.Ledger({})
    out = poll(ledger, platform, T0)
    assert [p.native_id for p in out.posts] == ["19", "18", "17"]
    assert (out.error is not None) == (stop == "error") and out.paused == (stop == "pause")
    assert ledger.pending[0].cont == {"below": 17}
    # a new process: only the stored state goes over
    got, _ = drain(ledger.into({}), platform, T0)
    assert sorted(map(int, got)) == list(range(17))


def test_a_range_never_started_is_not_kept():
    platform = Platform(5)
    platform.fail_at.add(1)
    ledger = paging.Ledger({})
    ledger.mark()
    out = poll(ledger, platform, T0)
    assert out.error is not None and not ledger.moved() and ledger.dump()["pending"] == []


def test_what_the_platform_cannot_serve_closes_as_a_recorded_gap():
    platform = Platform(20, cap=8)
    got, state = drain({}, platform, T0 + timedelta(hours=1))
    assert sorted(map(int, got)) == list(range(12, 20))
    (gap,) = state["paging"]["gaps"]
    assert gap["start"] == T0.timestamp() and gap["end"] == platform.times[12].timestamp()
    assert gap["reason"] == "out of reach" and state["paging"]["pending"] == []


def test_progress_and_gaps_in_words():
    platform = Platform(40)
    ledger = paging.Ledger({})
    poll(ledger, platform, T0 + timedelta(hours=1))
    progress, gaps = paging.describe(ledger.into({}), T0 + timedelta(hours=1))
    assert progress == [
        "backfilling #tag: 6 posts so far, back to 12:34 UTC, 34 to go (estimated) "
        "(the window starts 12:00 UTC)"
    ]
    assert gaps == []


def test_a_damaged_ledger_entry_is_dropped_not_fatal():
    ledger = paging.Ledger(
        {"paging": {"pending": [{"key": "tag"}, "junk"], "newest": {"tag": "junk"}}}
    )
    assert ledger.pending == [] and ledger.newest == {}
