"""Reddit's OAuth API as the simulator serves it (docs/sources.md §3 and the asyncpraw recordings).

    POST /api/v1/access_token        HTTP Basic `client_id:secret` (any non-empty pair) and
                                     `grant_type=client_credentials` -> {"access_token", "token_type":
                                     "bearer", "expires_in", "scope"}
    GET  /r/<sub>[+<sub>...]/new     Listing of every Reddit post, newest first (every subreddit
                                     serves the whole corpus, as the Atom feed does)
    GET  /r/<sub>/search             `q` (any of its words matches; operators are ignored),
    GET  /search                     `restrict_sr`, `sort=new`; site-wide search is the same corpus
    GET  /search.rss                 the Atom search feed a client without credentials can read

Listings take `limit` (default 25, max 100), `after` (older than that fullname) and `before` (the
`limit` posts just newer than it, still newest first); a `before` or `after` naming a post the
listing does not hold (deleted, removed, never existed, or sunk below the listing's end) gives an
empty Listing, as on Reddit. A listing holds only its newest 1,000 items (`configure(max_items=)`):
the page holding the last of them has `after: null`. Every
API answer carries `X-Ratelimit-Used`, `X-Ratelimit-Remaining` (a float string, "590.0") and
`X-Ratelimit-Reset` (seconds left in the window); past the limit the answer is 429. Tokens are
signed with their expiry, so any token this simulator issued works until it expires or
`revoke_tokens` is called. Without `raw_json=1`, `&`, `<` and `>` in text come HTML-escaped, as
Reddit's legacy JSON does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import math
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote

from monitor.simulator.corpus import CorpusPost
from monitor.simulator.index import DEFAULT_SUBREDDIT, WORD
from monitor.simulator.platforms import per_simulator
from monitor.simulator.platforms.feeds import feed_response, query_words, reddit_entry
from monitor.simulator.platforms.markup import iso, paragraphs, xml_text
from monitor.simulator.platforms.ratelimit import RateWindow
from monitor.simulator.routing import Request, Response, Route, Routes, SimulatorView, api_json

__all__ = ["configure", "fullname", "revoke_tokens", "routes", "set_rate_limit", "tokens_issued"]

_routes: Routes[SimulatorView] = Routes()


def routes() -> tuple[Route[SimulatorView], ...]:
    """This family's endpoints, in the order the server tries them (its `PLATFORMS` table)."""
    return tuple(_routes)


TOKEN_LIFETIME_S = 3600
MAX_ITEMS = 1000  # "listings stop at about 1000 items": deeper posts are not served at all
RATE_LIMIT, RATE_WINDOW_S = 1000, 600.0  # "100 queries per minute", averaged over 10 minutes


@dataclass
class _State:
    key: bytes = field(default_factory=lambda: os.urandom(16))
    token_lifetime_s: float = TOKEN_LIFETIME_S
    window: RateWindow = field(default_factory=lambda: RateWindow(RATE_LIMIT, RATE_WINDOW_S))
    schema_surprise: bool = False  # listings come back in a shape no client expects
    max_items: int = MAX_ITEMS  # a listing holds only its newest this many items, as on Reddit
    tokens: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


_state = per_simulator(lambda sim: _State())


# --- control (tests, the demo) -------------------------------------------------------------------


def configure(
    sim: SimulatorView,
    *,
    token_lifetime_s: float | None = None,
    schema_surprise: bool | None = None,
    max_items: int | None = None,
) -> None:
    state = _state(sim)
    if max_items is not None:
        state.max_items = max_items
    if token_lifetime_s is not None:
        state.token_lifetime_s = token_lifetime_s
    if schema_surprise is not None:
        state.schema_surprise = schema_surprise


def set_rate_limit(sim: SimulatorView, limit: int, window_s: float = RATE_WINDOW_S) -> None:
    """`limit` requests per `window_s` wall-clock seconds (rate limits throttle real time), from now."""
    state = _state(sim)
    with state.lock:
        state.window = RateWindow(limit, window_s)


def revoke_tokens(sim: SimulatorView) -> None:
    """Every token issued so far stops working (a new signing key), as a revoked app's would."""
    _state(sim).key = os.urandom(16)


def tokens_issued(sim: SimulatorView) -> int:
    return _state(sim).tokens


def fullname(sim: SimulatorView, post: CorpusPost) -> str:
    return f"t3_{sim.index.reddit_id(post)}"


# --- auth ----------------------------------------------------------------------------------------


def _sign(key: bytes, expires: int) -> str:
    return hmac.new(key, str(expires).encode(), hashlib.sha256).hexdigest()[:32]


def _token_ok(state: _State, header: str | None) -> bool:
    scheme, _, token = (header or "").partition(" ")
    expires, _, signature = token.strip().partition(".")
    if scheme.lower() != "bearer" or not expires.isdigit():
        return False
    return (
        hmac.compare_digest(signature, _sign(state.key, int(expires)))
        and int(expires) > time.time()
    )


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Reddit's JSON, whose content type spells the charset in capitals."""
    return api_json(data, status, headers, content_type="application/json; charset=UTF-8")


@_routes.add("POST", r"/api/v1/access_token")
def access_token(sim: SimulatorView, req: Request) -> Response:
    state = _state(sim)
    scheme, _, encoded = req.headers.get("authorization", "").partition(" ")
    try:
        client_id, _, secret = (
            base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
        )
    except (ValueError, UnicodeDecodeError):
        client_id = secret = ""
    if scheme.lower() != "basic" or not client_id or not secret:
        return _json({"message": "Unauthorized", "error": 401}, 401)
    form = parse_qs(req.body.decode("utf-8", "replace"))
    if form.get("grant_type") != ["client_credentials"]:
        return _json({"error": "unsupported_grant_type"})
    expires = int(time.time() + state.token_lifetime_s)
    with state.lock:
        state.tokens += 1
    return _json(
        {
            "access_token": f"{expires}.{_sign(state.key, expires)}",
            "token_type": "bearer",
            "expires_in": int(state.token_lifetime_s),
            "scope": "*",
        }
    )


# --- listings ------------------------------------------------------------------------------------


@_routes.add("GET", r"/r/(?P<sub>[A-Za-z0-9_+]{2,200})/new")
def subreddit_new(sim: SimulatorView, req: Request) -> Response:
    return _listing(sim, req, req.params["sub"].split("+")[0], query=None)


@_routes.add("GET", r"/r/(?P<sub>[A-Za-z0-9_+]{2,200})/search")
def subreddit_search(sim: SimulatorView, req: Request) -> Response:
    return _listing(sim, req, req.params["sub"].split("+")[0], query=req.arg("q", "") or "")


@_routes.add("GET", r"/search")
def site_search(sim: SimulatorView, req: Request) -> Response:
    return _listing(sim, req, DEFAULT_SUBREDDIT, query=req.arg("q", "") or "")


def _listing(sim: SimulatorView, req: Request, sub: str, query: str | None) -> Response:
    state = _state(sim)
    allowed, remaining, reset = state.window.hit()
    headers = {
        "x-ratelimit-used": str(state.window.limit - remaining if allowed else state.window.limit),
        "x-ratelimit-remaining": f"{remaining:.1f}",
        "x-ratelimit-reset": str(max(0, math.ceil(reset - time.time()))),
        "Cache-Control": "private, s-maxage=0, max-age=0, must-revalidate, no-store",
    }
    if not allowed:
        return _json({"message": "Too Many Requests", "error": 429}, 429, headers)
    if not _token_ok(state, req.headers.get("authorization")):
        return _json({"message": "Unauthorized", "error": 401}, 401, headers)
    if state.schema_surprise:
        return _json({"kind": "Listing", "data": {"things": []}}, 200, headers)
    posts = _matching(sim, req, query)[: state.max_items]
    chosen, newer, older = _page(sim, posts, req)
    raw = req.arg("raw_json") == "1"
    children = [{"kind": "t3", "data": _thing(sim, req.base_url, sub, p, raw)} for p in chosen]
    data = {
        "kind": "Listing",
        "data": {
            "after": fullname(sim, chosen[-1]) if chosen and older else None,
            "dist": len(children),
            "modhash": None,
            "geo_filter": "",
            "children": children,
            "before": fullname(sim, chosen[0]) if chosen and newer else None,
        },
    }
    resp = _json(data, 200, headers)
    resp.items = [(fullname(sim, p), len(resp.body)) for p in chosen]
    return resp


def _matching(sim: SimulatorView, req: Request, query: str | None) -> list[CorpusPost]:
    """Published Reddit posts, newest first; for a search, those sharing a word with `q`."""
    posts = sim.index.platform("reddit").newest(req.offset_s)
    if query is None:
        return posts
    words = query_words(query)
    return [
        p
        for p in posts
        if not words or words & set(WORD.findall(f"{p.title or ''} {p.text}".casefold()))
    ]


def _page(
    sim: SimulatorView, posts: list[CorpusPost], req: Request
) -> tuple[list[CorpusPost], bool, bool]:
    """(page, newer posts exist, older posts exist) for `limit` / `before` / `after`."""
    limit = req.limit(25, 100)
    before, after = req.arg("before"), req.arg("after")
    position = {fullname(sim, p): i for i, p in enumerate(posts)} if (before or after) else {}
    anchor = before or after
    if anchor and anchor not in position:
        return [], False, False
    if before:
        end = position[before]
        start = max(0, end - limit)
    else:
        start = position[after] + 1 if after else 0
        end = start + limit
    chosen = posts[start:end]
    return chosen, start > 0, start + len(chosen) < len(posts)


def _thing(
    sim: SimulatorView, base: str, sub: str, post: CorpusPost, raw_json: bool
) -> dict[str, Any]:
    created = float(post.created_at(sim.clock.epoch).timestamp())
    reddit_id = sim.index.reddit_id(post)
    permalink = sim.index.reddit_permalink("", sub, post)
    text, title = post.text, post.title or ""
    selftext_html = (
        f'<!-- SC_OFF --><div class="md">{paragraphs(text)}</div><!-- SC_ON -->' if text else None
    )
    if not raw_json:  # Reddit's legacy JSON escapes these three in every string
        text, title = html.escape(text, quote=False), html.escape(title, quote=False)
        selftext_html = html.escape(selftext_html, quote=False) if selftext_html else None
    author_hash = hashlib.sha1(post.author.encode()).hexdigest()
    return {
        "approved_at_utc": None,
        "subreddit": sub,
        "selftext": text,
        "author_fullname": f"t2_{int(author_hash[:10], 16) % 36**8:x}",
        "saved": False,
        "gilded": 0,
        "clicked": False,
        "title": title,
        "subreddit_name_prefixed": f"r/{sub}",
        "hidden": False,
        "downs": 0,
        "hide_score": False,
        "name": f"t3_{reddit_id}",
        "quarantine": False,
        "upvote_ratio": 0.95,
        "subreddit_type": "public",
        "ups": post.engagement.likes,
        "is_original_content": False,
        "is_reddit_media_domain": False,
        "is_meta": False,
        "link_flair_text": None,
        "score": post.engagement.likes,
        "edited": False,
        "is_self": True,
        "created": created,
        "domain": f"self.{sub}",
        "selftext_html": selftext_html,
        "likes": None,
        "archived": False,
        "no_follow": True,
        "over_18": False,
        "spoiler": False,
        "locked": False,
        "subreddit_id": "t5_2qh13",
        "removed_by_category": None,
        "id": reddit_id,
        "author": post.author,
        "num_comments": post.engagement.replies,
        "num_crossposts": post.engagement.reposts,
        "permalink": permalink,
        "url": f"{base}{permalink}",
        "stickied": False,
        "created_utc": created,
        "is_video": False,
    }


# --- the Atom search feed (no credentials) -------------------------------------------------------


@_routes.add("GET", r"/search\.rss")
def search_atom(sim: SimulatorView, req: Request) -> Response:
    query = req.arg("q", "") or ""
    posts = _matching(sim, req, query)[: req.limit(25, 100)]
    base, epoch = req.base_url, sim.clock.epoch
    updated = iso(posts[0].created_at(epoch) if posts else epoch)
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media="http://search.yahoo.com/mrss/">'
        f"<updated>{updated}</updated><id>/search.rss?q={xml_text(quote(query))}</id>"
        f"<title>reddit.com: search results - {xml_text(query)}</title>\n"
    )
    items = [
        (fullname(sim, p), reddit_entry(sim, p, DEFAULT_SUBREDDIT, base, epoch)) for p in posts
    ]
    return feed_response(
        items, posts, sim, head, "</feed>\n", "application/atom+xml; charset=UTF-8"
    )
