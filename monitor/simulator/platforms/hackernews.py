"""Algolia's HN Search API as the simulator serves it (docs/sources.md §4, the 2014 recordings).

    GET /api/v1/search_by_date    `query` (every word must occur, as Algolia's default), `tags`
                                  (comma = AND, `(a,b)` = OR: story, comment, author_<name>,
                                  story_<id>), `numericFilters` (`created_at_i>=N,points>1`: fields
                                  created_at_i, points, num_comments; operators < <= = >= >),
                                  `page` (from 0), `hitsPerPage` (default 20, max 1000)

The envelope is `{hits, nbHits, page, nbPages, hitsPerPage, exhaustiveNbHits, query, params,
processingTimeMS}`; hits are newest first; no more than 1,000 hits can be paged through
(`paginationLimitedTo`, adjustable with `configure`). Errors are `{"message", "status"}`.

The corpus has no story/comment structure for Hacker News, so the simulator makes one: every
fifth HN post (in time order) is a story whose title is its first sentence, and the posts after it
are its comments, HTML-encoded as HN does (`<p>`, `&#x27;`). Ids are `43000000 + corpus position`,
the same as the `item?id=` links of the all-platform Atom feed.
"""

from __future__ import annotations

import html
import json
import math
import re
import threading
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from monitor.simulator.corpus import CorpusPost
from monitor.simulator.index import WORD
from monitor.simulator.platforms import per_simulator
from monitor.simulator.routing import Request, Response, Route, Routes, SimulatorView

__all__ = ["configure", "object_id", "routes"]

_routes: Routes[SimulatorView] = Routes()


def routes() -> tuple[Route[SimulatorView], ...]:
    """This family's endpoints, in the order the server tries them (its `PLATFORMS` table)."""
    return tuple(_routes)


MAX_HITS = 1000
STORY_EVERY = 5
_NUMERIC = re.compile(
    r"\s*(created_at_i|points|num_comments)\s*(<=|>=|<|>|=)\s*(-?\d+(?:\.\d+)?)\s*"
)
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "=": lambda a, b: a == b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
}


@dataclass(frozen=True, slots=True)
class _Item:
    post: CorpusPost
    object_id: str
    created_at_i: int
    story: _Item | None  # None: this item is a story
    title: str | None
    body: str | None  # the HTML HN would send
    words: frozenset[str]
    points: int | None
    num_comments: int | None

    @property
    def tags(self) -> list[str]:
        """Algolia's `_tags`: the kind, the author and the story the item belongs to."""
        kind = "comment" if self.story else "story"
        story_id = self.story.object_id if self.story else self.object_id
        return [kind, f"author_{self.post.author}", f"story_{story_id}"]


@dataclass
class _State:
    max_hits: int = MAX_HITS
    schema_surprise: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    built: _Items | None = None


class _Items:
    """The HN timeline with its story/comment structure, oldest first."""

    def __init__(self, sim: SimulatorView):
        items: list[_Item] = []
        story: _Item | None = None
        seq = sim.index.seq
        epoch_s = int(sim.clock.epoch.timestamp())
        for n, post in enumerate(sim.index.platform("hackernews").posts):
            object_id = object_id_for(seq[post.id])
            created = epoch_s + post.offset_s
            if n % STORY_EVERY == 0 or story is None:
                title, rest = _first_sentence(post.text)
                story = _Item(
                    post,
                    object_id,
                    created,
                    None,
                    title,
                    _html(rest) if rest else None,
                    frozenset(WORD.findall(post.text.casefold())),
                    post.engagement.likes,
                    post.engagement.replies,
                )
                items.append(story)
            else:
                items.append(
                    _Item(
                        post,
                        object_id,
                        created,
                        story,
                        None,
                        _html(post.text),
                        frozenset(WORD.findall(post.text.casefold())),
                        None,
                        None,
                    )
                )
        self.items = items
        self.offsets = [i.post.offset_s for i in items]
        self.tag_sets = {i.object_id: {t.casefold() for t in i.tags} for i in items}


_state = per_simulator(lambda sim: _State())


def _items(sim: SimulatorView) -> _Items:
    state = _state(sim)
    with state.lock:
        if state.built is None:
            state.built = _Items(sim)
        return state.built


def configure(
    sim: SimulatorView, *, max_hits: int | None = None, schema_surprise: bool | None = None
) -> None:
    """`max_hits`: Algolia's paginationLimitedTo (1,000); lower it to test slicing cheaply."""
    state = _state(sim)
    if max_hits is not None:
        state.max_hits = max_hits
    if schema_surprise is not None:
        state.schema_surprise = schema_surprise


def object_id_for(seq: int) -> str:
    return str(43_000_000 + seq)


def object_id(sim: SimulatorView, post: CorpusPost) -> str:
    return object_id_for(sim.index.seq[post.id])


def _first_sentence(text: str) -> tuple[str, str]:
    m = re.search(r"(?<=[.!?])\s+", text)
    title, rest = (text[: m.start()], text[m.end() :]) if m else (text, "")
    if len(title) > 80:
        title, rest = title[:79].rstrip() + "…", text
    return title, rest


def _html(text: str) -> str:
    """HN's comment HTML: paragraphs as `<p>`, quotes as `&#x27;` / `&quot;`."""
    paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    escaped = [html.escape(p) for p in paras] or [""]
    return escaped[0] + "".join(f"<p>{p}" for p in escaped[1:])


# --- the endpoint --------------------------------------------------------------------------------


def _error(message: str, status: int = 400) -> Response:
    body = json.dumps({"message": message, "status": status}).encode()
    return Response(status=status, body=body, content_type="application/json; charset=utf-8")


@_routes.add("GET", r"/api/v1/search_by_date")
def search_by_date(sim: SimulatorView, req: Request) -> Response:
    state = _state(sim)
    try:
        numeric = _numeric_filters(req.arg("numericFilters", "") or "")
        tags = _tag_filters(req.arg("tags", "") or "")
        page = int(req.arg("page", "0") or 0)
        per_page = int(req.arg("hitsPerPage", "20") or 20)
    except ValueError as exc:
        return _error(str(exc))
    if page < 0 or per_page < 1:
        return _error("page must be >= 0 and hitsPerPage >= 1")
    per_page = min(per_page, 1000)
    query = req.arg("query", "") or ""
    words = WORD.findall(query.casefold())
    data = _items(sim)
    published = data.items[: bisect_right(data.offsets, req.offset_s)]
    hits = [
        i
        for i in reversed(published)
        if all(w in i.words for w in words)
        and all(group & data.tag_sets[i.object_id] for group in tags)
        and all(test(_field(i, name), value) for name, test, value in numeric)
    ]
    reachable = min(len(hits), state.max_hits)
    pages = math.ceil(reachable / per_page)
    chosen = hits[page * per_page : min((page + 1) * per_page, reachable)]
    if state.schema_surprise:
        body_data: dict[str, Any] = {"results": [], "page": page}
    else:
        body_data = {
            "hits": [_hit(i) for i in chosen],
            "nbHits": len(hits),
            "page": page,
            "nbPages": pages,
            "hitsPerPage": per_page,
            "exhaustiveNbHits": True,
            "exhaustiveTypo": True,
            "exhaustive": {"nbHits": True, "typo": True},
            "query": query,
            "params": urlencode({k: v[0] for k, v in req.query.items()}),
            "processingTimeMS": 1,
            "serverTimeMS": 2,
        }
    body = json.dumps(body_data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    resp = Response(body=body, content_type="application/json; charset=utf-8")
    if not state.schema_surprise:
        resp.items = [(i.object_id, len(body)) for i in chosen]
    return resp


def _numeric_filters(raw: str) -> list[tuple[str, Callable[[float, float], bool], float]]:
    out = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        m = _NUMERIC.fullmatch(part)
        if not m:
            raise ValueError(
                f"invalid numericFilters: {part!r} (expected e.g. created_at_i>1700000000)"
            )
        out.append((m.group(1), _OPS[m.group(2)], float(m.group(3))))
    return out


def _tag_filters(raw: str) -> list[set[str]]:
    """`story,(author_pg,author_dang)` -> [{story}, {author_pg, author_dang}] (AND of ORs)."""
    groups: list[set[str]] = []
    for m in re.finditer(r"\(([^()]*)\)|([^,()]+)", raw):
        names = (m.group(1) or m.group(2) or "").split(",")
        group = {n.strip().casefold() for n in names if n.strip()}
        if group:
            groups.append(group)
    if raw.count("(") != raw.count(")"):
        raise ValueError(f"invalid tags: unbalanced parentheses in {raw!r}")
    return groups


def _field(item: _Item, name: str) -> float:
    if name == "created_at_i":
        return item.created_at_i
    value = item.points if name == "points" else item.num_comments
    return value if value is not None else 0


def _hit(item: _Item) -> dict[str, Any]:
    created = datetime.fromtimestamp(item.created_at_i, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    story = item.story or item
    return {
        "created_at": created,
        "title": item.title,
        "url": None,
        "author": item.post.author,
        "points": item.points,
        "story_text": item.body if item.story is None else None,
        "comment_text": item.body if item.story is not None else None,
        "num_comments": item.num_comments,
        "story_id": int(story.object_id),
        "story_title": story.title if item.story else None,
        "story_url": None,
        "parent_id": int(story.object_id) if item.story else None,
        "created_at_i": item.created_at_i,
        "updated_at": created,
        "_tags": item.tags,
        "objectID": item.object_id,
    }
