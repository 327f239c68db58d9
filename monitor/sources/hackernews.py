"""Hacker News stories and comments through Algolia's HN Search API (`search_by_date`, no key).

Algolia matches every word of a query (there is no OR), so the source runs one query per keyword
and per hashtag of the topics it serves (a hashtag as its words: HN has no hashtags), or the
`queries:` it is given, and merges the hits by `objectID`.

Cursor: each run reads every query over one window, `created_at_i>=lower,created_at_i<=top`.
`top` is the newest item on HN when the run starts (one `hitsPerPage=1` request: HN's clock, not
ours), `lower` is the previous run's `top` minus `overlap`, because Algolia indexes an item a
little after it is created; hits in the overlap are recognised by the ids kept in the state. The
first run starts at the backfill window instead. Pages are followed until `nbPages`; as Algolia
serves at most 1,000 hits per query, a query with more is read in time slices ending at the oldest
hit read so far, so a burst is read whole. A run cut short (a failure, the `max_requests` budget)
is kept as `pending` with the query and the bound where it stopped, and the next poll resumes it
before starting a new one: nothing is skipped, nothing is returned twice, and `since` moves only
when every query has been read over the whole window.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Literal

import httpx
from pydantic import AfterValidator, AnyHttpUrl, Field

from monitor.sources import http
from monitor.sources.base import (Batch, Duration, PollContext, RawPost, Source, SourceError, SourceSettings, count,
                                  epoch_time, reject)
from monitor.text import sanitize, split_camel

__all__ = ["HackerNewsSettings", "HackerNewsSource", "build_queries", "hit_to_post"]

_ANY_STATUS = tuple(range(100, 600))
_MAX_SEEN = 20_000  # ids remembered across polls (only those in the overlap, or of an unfinished poll)


def _query(value: str) -> str:
    text = " ".join(value.split())
    if not text:
        raise ValueError("empty query")
    return text


def _unique_items(values: list[str]) -> list[str]:
    if not values:
        raise ValueError("empty list; leave 'items' out to read stories and comments")
    return list(dict.fromkeys(values))


class HackerNewsSettings(SourceSettings):
    queries: list[Annotated[str, AfterValidator(_query)]] | None = Field(default=None, min_length=1)
    items: Annotated[list[Literal["story", "comment"]], AfterValidator(_unique_items)] = ["story", "comment"]
    api_url: AnyHttpUrl = AnyHttpUrl("https://hn.algolia.com/api/v1")
    web_url: AnyHttpUrl = AnyHttpUrl("https://news.ycombinator.com")  # for each item's discussion link
    hits_per_page: int = Field(default=100, ge=1, le=1000)
    max_requests: int = Field(default=50, ge=1, le=1000)  # per poll, over all queries
    overlap: Duration = timedelta(minutes=2)


def build_queries(topics: list[Any]) -> list[str]:
    """One Algolia query per keyword and per hashtag ('TrumpPutin' -> 'Trump Putin')."""
    out: dict[str, str] = {}
    for topic in topics:
        for value in [*topic.keywords, *(split_camel(tag) for tag in topic.hashtags)]:
            text = " ".join(value.split())
            if text:
                out.setdefault(text.casefold(), text)
    return list(out.values())


def hit_to_post(hit: dict[str, Any], web_url: str) -> RawPost | None:
    """A story or comment hit in the common shape; None when it lacks an id or a time."""
    object_id, created = hit.get("objectID"), epoch_time(hit.get("created_at_i"))
    if not isinstance(object_id, str) or not object_id or created is None:
        return None
    tags = hit.get("_tags") if isinstance(hit.get("_tags"), list) else []
    is_comment = "comment" in tags or ("story" not in tags and isinstance(hit.get("comment_text"), str))
    author = hit.get("author")
    if is_comment:
        body, title = hit.get("comment_text"), None
    else:
        body, title = hit.get("story_text"), hit.get("title")
    return RawPost(
        native_id=object_id,
        text=body if isinstance(body, str) else "",
        is_html=True,  # story_text and comment_text are HTML (<p>, &#x27;)
        title=title if isinstance(title, str) and title else None,
        created_at=created,
        url=f"{web_url.rstrip('/')}/item?id={object_id}",  # the discussion; a story's link is someone else's page
        author=author if isinstance(author, str) else None,
        engagement=_count(hit.get("points")) + _count(hit.get("num_comments")),
    )


_count = count


class HackerNewsSource(Source):
    kind = "hackernews"
    Settings = HackerNewsSettings

    def __init__(self, settings: HackerNewsSettings, topics: list[Any], http_client: httpx.Client):
        super().__init__(settings, topics, http_client)
        self.settings: HackerNewsSettings = settings
        self.queries = settings.queries or build_queries(topics)
        items = settings.items
        self.tags = items[0] if len(items) == 1 else "(" + ",".join(items) + ")"

    def fetch(self, state: dict[str, Any], ctx: PollContext) -> Batch:
        if not self.queries:
            raise SourceError("no Hacker News query: the source serves no topic with keywords; set 'queries:'")
        seen = {k: v for k, v in (state.get("seen") or {}).items() if isinstance(v, int)}
        poll = _Poll(seen, self.settings)
        run = _Run.resume(state.get("pending"))
        try:
            if run is None:
                run = self._new_run(state, ctx, poll)
                if run is None:  # nothing on HN at all yet
                    floor = state.get("floor", run_floor(ctx))
                    return Batch(posts=[], state=dict(state, since=state.get("since", floor), floor=floor), status=200)
            while run.query < len(self.queries):
                if not self._read_query(self.queries[run.query], run, poll):
                    poll.notes.append(f"more new items than {self.settings.max_requests} requests can read; "
                                      "the rest follows next poll")
                    return Batch(posts=poll.posts, state=self._unfinished(state, run, poll), status=200,
                                 notes=poll.notes)
                run.query, run.upper = run.query + 1, None
        except SourceError as exc:
            if not poll.requests or run is None:
                raise
            return Batch(posts=poll.posts, state=self._unfinished(state, run, poll), status=200, error=exc,
                         notes=poll.notes)
        return Batch(posts=poll.posts, state=self._finished(state, run, poll), status=200, notes=poll.notes)

    def _new_run(self, state: dict[str, Any], ctx: PollContext, poll: "_Poll") -> "_Run | None":
        """A run reads every query over [lower, top], top being the newest item on HN right now.

        Freezing `top` (HN's clock, not ours: the demo's simulated time runs days behind) is what
        lets a run span several polls and still cover every query over the same window.
        """
        since, floor = state.get("since"), state.get("floor")
        if not isinstance(since, int) or not isinstance(floor, int):
            lower = run_floor(ctx)
        else:  # the overlap never reaches back past the first poll's backfill window
            lower = max(floor, since - int(self.settings.overlap.total_seconds()))
        newest = self._search("", "", 0, poll, per_page=1)["hits"]
        top = newest[0].get("created_at_i") if newest and isinstance(newest[0], dict) else None
        if not isinstance(top, int):
            return None
        return _Run(lower=lower, top=top)

    def _read_query(self, query: str, run: "_Run", poll: "_Poll") -> bool:
        """Every hit of one query in the run's window, newest first; False when out of requests.

        Algolia serves at most 1,000 hits per query, so when there are more, the rest is read as
        another slice ending at the oldest hit read so far. `run.upper` always holds where to
        resume: everything above it has been read.
        """
        while True:
            upper = run.top if run.upper is None else run.upper
            oldest, page = None, 0
            while True:
                if poll.requests >= self.settings.max_requests:
                    return False
                result = self._search(query, f"created_at_i>={run.lower},created_at_i<={upper}", page, poll)
                for i, hit in enumerate(result["hits"], start=1):
                    created = poll.add(hit, f"Algolia search {query!r} page {page + 1} hit {i}")
                    if created is not None:
                        oldest = created if oldest is None else min(oldest, created)
                        run.upper = min(run.upper if run.upper is not None else upper, created)
                page += 1
                pages = result["nbPages"]
                capped = result["nbHits"] > pages * self.settings.hits_per_page
                if page >= pages or not result["hits"]:
                    break
            if not capped or oldest is None or oldest >= upper:
                return True

    def _search(self, query: str, filters: str, page: int, poll: "_Poll", per_page: int | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"query": query, "tags": self.tags, "page": page,
                                  "hitsPerPage": per_page or self.settings.hits_per_page}
        if filters:
            params["numericFilters"] = filters
        url = str(self.settings.api_url).rstrip("/") + "/search_by_date"
        resp, body = http.get(self.http, url, what="Hacker News search", params=params, ok=_ANY_STATUS,
                              timeout=self.settings.timeout.total_seconds())
        if resp.status_code != 200:
            raise _status_error(resp.status_code, body, resp.headers.get("Retry-After"))
        result = _check(body)
        poll.requests += 1
        return result

    # --- state ----------------------------------------------------------------------------

    def _finished(self, state: dict[str, Any], run: "_Run", poll: "_Poll") -> dict[str, Any]:
        previous = state.get("since")
        # Never backwards: when HN's newest item is older than the cursor, the cursor stays.
        since = max(run.top, previous if isinstance(previous, int) else run.lower)
        keep_from = since - int(self.settings.overlap.total_seconds())
        seen = {k: v for k, v in {**poll.seen, **poll.created}.items() if v >= keep_from}
        new = {k: v for k, v in state.items() if k != "pending"}
        return dict(new, since=since, floor=state.get("floor", run.lower), seen=_bounded(seen))

    @staticmethod
    def _unfinished(state: dict[str, Any], run: "_Run", poll: "_Poll") -> dict[str, Any]:
        return dict(state, pending=run.as_state(), floor=state.get("floor", run.lower),
                    seen=_bounded({**poll.seen, **poll.created}))


def run_floor(ctx: PollContext) -> int:
    """The first poll reads back to the start of the backfill window."""
    return int(ctx.backfill_since.timestamp())


@dataclass(slots=True)
class _Run:
    """Which window is being read, and how far: query index and, within it, the resume bound."""

    lower: int
    top: int
    query: int = 0
    upper: int | None = None

    @classmethod
    def resume(cls, pending: Any) -> "_Run | None":
        if not isinstance(pending, dict):
            return None
        try:
            upper = pending.get("upper")
            return cls(int(pending["lower"]), int(pending["top"]), int(pending["query"]),
                       int(upper) if upper is not None else None)
        except (KeyError, TypeError, ValueError):
            return None

    def as_state(self) -> dict[str, Any]:
        return {"lower": self.lower, "top": self.top, "query": self.query, "upper": self.upper}


class _Poll:
    """One poll's hits, merged across queries and slices by objectID."""

    def __init__(self, seen: dict[str, int], settings: HackerNewsSettings):
        self.seen = seen
        self.created: dict[str, int] = {}
        self.posts: list[RawPost] = []
        self.notes: list[str] = []
        self.requests = 0
        self._web = str(settings.web_url)
        self._skipped = 0

    def add(self, hit: Any, position: str = "Algolia hit") -> int | None:
        """Take a hit unless seen; returns its creation time (for slicing) or None if unusable."""
        try:
            post = hit_to_post(hit, self._web) if isinstance(hit, dict) else None
            why = "no objectID or no plausible created_at_i"
        except Exception as exc:  # noqa: BLE001 - one hit's damage stays with that hit
            post, why = None, f"unreadable ({type(exc).__name__}: {exc})"
        if post is None:
            reject(position, why, hit,
                   hit.get("objectID") if isinstance(hit, dict) else None)
            self._skipped += 1
            if self._skipped == 1:
                self.notes.append("skipped hit(s) Algolia sent without an objectID or a time")
            return None
        post.position = position
        created = int(post.created_at.timestamp())
        if post.native_id not in self.seen and post.native_id not in self.created:
            self.created[post.native_id] = created
            self.posts.append(post)
        return created


def _bounded(seen: dict[str, int]) -> dict[str, int]:
    if len(seen) <= _MAX_SEEN:
        return seen
    return dict(sorted(seen.items(), key=lambda kv: kv[1], reverse=True)[:_MAX_SEEN])


def _check(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(f"Hacker News search sent a body that is not JSON (truncated or damaged: {exc})",
                          status=200) from None
    if not isinstance(data, dict) or not isinstance(data.get("hits"), list):
        raise SourceError("Hacker News search answered without a 'hits' list (schema change?)", status=200)
    for key in ("nbPages", "nbHits"):
        if not isinstance(data.get(key), int):
            raise SourceError(f"Hacker News search answered without '{key}' (schema change?)", status=200)
    return data


def _status_error(status: int, body: bytes, retry_after: str | None) -> SourceError:
    message = ""
    try:
        data = json.loads(body)
        if isinstance(data, dict) and data.get("message"):
            message = ": " + " ".join(sanitize(str(data["message"])).split())[:200]
    except (ValueError, UnicodeDecodeError):
        pass
    if status == 400:
        return SourceError(f"Hacker News search rejected the query (400){message}", status=400)
    if status == 404:
        return SourceError("Hacker News search was not found (404); check api_url", status=404)
    if status == 429:
        wait = http.parse_retry_after(retry_after)
        hint = f"; asked to wait {math.ceil(wait)}s" if wait is not None else "; Algolia allows 10,000 requests an hour"
        return SourceError(f"Hacker News search rate limit reached (429){hint}", status=429, retry_after=wait)
    return SourceError(http.describe_status("Hacker News search", status) + message, status=status)
