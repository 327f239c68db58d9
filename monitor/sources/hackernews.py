"""Hacker News stories and comments through Algolia's HN Search API (`search_by_date`, no key).

Algolia matches every word of a query (there is no OR), so the source runs one query per keyword
and per hashtag of the topics it serves (a hashtag as its words: HN has no hashtags), or the
`queries:` it is given, and merges the hits by `objectID`.

Paging: the shared ledger of monitor/sources/paging.py, one stream per query. A range reads
`created_at_i>=edge` newest first, where the edge is the newest item the query had reached minus
`overlap` (Algolia indexes an item a little after it is created; the ids read in the overlap are
kept with the newest position and skipped), or the start of the backfill window. Algolia serves at
most 1,000 hits per query, so every page is the first page of a time slice ending at the oldest
second read so far (see `_QueryReader`): a burst of any size is read whole. A range cut short (a
failure, the `max_requests` budget, a restart) continues from its slice bound next poll; nothing
is skipped, and times are HN's own (`created_at_i`), never our clock.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import httpx
from pydantic import AfterValidator, AnyHttpUrl, Field

from monitor.core.text import sanitize, split_camel
from monitor.sources import http, paging
from monitor.sources.base import (
    Batch,
    Duration,
    PollContext,
    RawPost,
    Source,
    SourceError,
    SourceSettings,
    count,
    epoch_time,
    read_each,
)

__all__ = ["HackerNewsSettings", "HackerNewsSource", "build_queries", "hit_to_post"]

_ANY_STATUS = tuple(range(100, 600))
_MAX_IDS = 2_000  # ids kept with the newest position: those in the overlap, read again next poll


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
    items: Annotated[list[Literal["story", "comment"]], AfterValidator(_unique_items)] = [
        "story",
        "comment",
    ]
    api_url: AnyHttpUrl = AnyHttpUrl("https://hn.algolia.com/api/v1")
    # for each item's discussion link
    web_url: AnyHttpUrl = AnyHttpUrl("https://news.ycombinator.com")
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
    tags = hit.get("_tags")
    if not isinstance(tags, list):
        tags = []
    is_comment = "comment" in tags or (
        "story" not in tags and isinstance(hit.get("comment_text"), str)
    )
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
            raise SourceError(
                "no Hacker News query: the source serves no topic with keywords; set 'queries:'"
            )
        ledger = paging.Ledger(state)
        _adopt_old_run(state, ledger, self.queries)
        ledger.mark()
        reader = _QueryReader(self)
        overlap = self.settings.overlap.total_seconds()

        def edge_for(stream: paging.Stream, newest: dict[str, Any] | None) -> float:
            at = paging.position_time(newest)
            return at - overlap if at is not None else 0.0

        streams = [paging.Stream(_key(q), f"Hacker News search {q!r}") for q in self.queries]
        out = paging.run(
            ledger,
            streams,
            reader,
            now=ctx.now,
            edge_for=edge_for,
            backfill_since=ctx.backfill_since,
            pages_per_poll=self.settings.max_requests,
        )
        if reader.skipped:
            out.notes.insert(
                0, f"skipped {reader.skipped} hit(s) Algolia sent without an objectID or a time"
            )
        new_state = ledger.into({k: v for k, v in state.items() if k not in _OLD_KEYS})
        if out.error is not None and not out.posts and not ledger.moved():
            raise out.error
        return Batch(
            posts=out.posts,
            state=new_state,
            status=200 if out.requests else None,
            error=out.error,
            notes=out.notes,
            gaps=out.gaps,
        )

    def _search(self, query: str, filters: str, page: int) -> dict[str, Any]:
        params: dict[str, Any] = {
            "query": query,
            "tags": self.tags,
            "page": page,
            "hitsPerPage": self.settings.hits_per_page,
        }
        if filters:
            params["numericFilters"] = filters
        url = str(self.settings.api_url).rstrip("/") + "/search_by_date"
        resp, body = http.get(
            self.http,
            url,
            what="Hacker News search",
            params=params,
            ok=_ANY_STATUS,
            timeout=self.settings.timeout.total_seconds(),
        )
        if resp.status_code != 200:
            raise _status_error(resp.status_code, body, resp.headers.get("Retry-After"))
        return _check(body)


_OLD_KEYS = ("since", "floor", "seen", "pending")  # the cursor before the paging ledger


def _key(query: str) -> str:
    return "q:" + query


def _adopt_old_run(state: dict[str, Any], ledger: paging.Ledger, queries: list[str]) -> None:
    """A state from before the paging ledger: `since` (and the ids seen near it) becomes every
    query's newest position, and an unfinished run becomes pending ranges over its window."""
    since = state.get("since")
    seen = [k for k in (state.get("seen") or {}) if isinstance(k, str)][-_MAX_IDS:]
    pending = state.get("pending")
    for n, query in enumerate(queries):
        key = _key(query)
        if key in ledger.newest or any(r.key == key for r in ledger.pending):
            continue
        if (
            isinstance(pending, dict)
            and isinstance(pending.get("top"), int)
            and isinstance(pending.get("lower"), int)
        ):
            ledger.newest[key] = {"at": pending["top"], "ids": seen}
            if n >= int(pending.get("query") or 0):
                upper = pending.get("upper") if n == pending.get("query") else None
                ledger.pending.append(
                    paging.Range(
                        key,
                        f"Hacker News search {query!r}",
                        edge_at=pending["lower"],
                        cont={"upper": upper if isinstance(upper, int) else pending["top"]},
                    )
                )
        elif isinstance(since, int):
            ledger.newest[key] = {"at": since, "ids": seen}


class _QueryReader:
    """One range's pages of one query, newest first, as time slices.

    Algolia serves at most 1,000 hits per query and an item indexed late can shift page numbers,
    so every page is page 0 of a slice `created_at_i <= upper`, `upper` being the oldest second
    read so far; the hits of that second already read are skipped. A range ends when a slice has
    no more hits than one page. Only more hits in one second than Algolia pages through could stop
    it, and that is recorded as a gap.
    """

    def __init__(self, source: HackerNewsSource):
        self.source = source
        self.settings = source.settings
        self._web = str(source.settings.web_url)
        self.skipped = 0

    def _skip(self) -> None:
        self.skipped += 1

    def page(self, rng: paging.Range) -> paging.Page:
        query = rng.key[len("q:") :]
        cont = rng.cont or {}
        lower = math.floor(rng.edge_at)
        upper = cont.get("upper")
        filters = f"created_at_i>={lower}" + (
            f",created_at_i<={int(upper)}" if isinstance(upper, int) else ""
        )
        number = int(cont.get("page") or 0)
        result = self.source._search(query, filters, number)
        skip = set(cont.get("skip") or ()) | set((rng.edge or {}).get("ids") or ())
        posts: list[RawPost] = []
        hits: list[tuple[str, int]] = []
        for position, post in read_each(
            result["hits"],
            lambda hit: hit_to_post(hit, self._web) if isinstance(hit, dict) else None,
            lambda i: f"Algolia search {query!r} page {number + 1} hit {i}",
            unshaped="no objectID or no plausible created_at_i",
            id_key="objectID",
            on_reject=self._skip,
        ):
            post.position = position
            hits.append((post.native_id, int(post.created_at.timestamp())))
            if post.native_id not in skip:
                posts.append(post)
        page = paging.Page(posts=posts)
        if hits:
            top, oldest = max(t for _, t in hits), min(t for _, t in hits)
            page.newest_at = datetime.fromtimestamp(top, UTC)
            page.oldest_at = datetime.fromtimestamp(oldest, UTC)
            near = top - int(self.settings.overlap.total_seconds())
            page.newest = {"at": top, "ids": [i for i, t in hits if t >= near][:_MAX_IDS]}
        per_page = self.settings.hits_per_page
        if not hits or result["nbHits"] <= (number + 1) * per_page:
            return page  # the slice had no more than this page: the range is read to its edge
        oldest = min(t for _, t in hits)
        at_oldest = [i for i, t in hits if t == oldest]
        if not isinstance(upper, int) or oldest < upper:
            page.cont = {"upper": oldest, "skip": at_oldest}
        elif number + 1 < result["nbPages"]:
            page.cont = {"upper": upper, "page": number + 1, "skip": sorted(skip | set(at_oldest))}
        else:
            when = datetime.fromtimestamp(oldest, UTC)
            page.lost = (
                datetime.fromtimestamp(lower, UTC),
                when,
                (
                    f"Hacker News search {query!r}: more items in the second {when:%H:%M:%S} UTC than Algolia "
                    f"pages through (1,000); items from {datetime.fromtimestamp(lower, UTC):%H:%M} UTC to "
                    f"{when:%H:%M:%S} UTC were out of reach"
                ),
            )
        return page


def _check(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(
            f"Hacker News search sent a body that is not JSON (truncated or damaged: {exc})",
            status=200,
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("hits"), list):
        raise SourceError(
            "Hacker News search answered without a 'hits' list (schema change?)", status=200
        )
    for key in ("nbPages", "nbHits"):
        if not isinstance(data.get(key), int):
            raise SourceError(
                f"Hacker News search answered without '{key}' (schema change?)", status=200
            )
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
        hint = (
            f"; asked to wait {math.ceil(wait)}s"
            if wait is not None
            else "; Algolia allows 10,000 requests an hour"
        )
        return SourceError(
            f"Hacker News search rate limit reached (429){hint}", status=429, retry_after=wait
        )
    return SourceError(http.describe_status("Hacker News search", status) + message, status=status)
