"""X API v2 recent search as the simulator serves it (docs/sources.md §5, the tweepy recording).

    GET /2/tweets/search/recent    `Authorization: Bearer <any non-empty token>`; `query` (X's
                                   syntax: words, "phrases", #tags, OR, parentheses, `-` negation,
                                   lang:xx, is:retweet, is:reply, has:links, from:user; at most
                                   512 characters), `since_id`, `until_id`, `start_time`, `end_time`,
                                   `max_results` (10-100, default 10), `next_token`, `tweet.fields`,
                                   `expansions=author_id`, `user.fields`

Answers `{data, includes: {users}, meta: {newest_id, oldest_id, result_count, next_token}}` with
the posts of the last 7 days, newest first. Only the fields asked for come back (by default `id`,
`text`, `edit_history_tweet_ids`), as on X. A retweet's text is "RT @user: ..." with
`referenced_tweets: [{type: retweeted, id}]`; a text over 280 characters is cut there and sent
whole in `note_tweet.text`. In both, `&`, `<` and `>` come as `&amp;`, `&lt;`, `&gt;`, as X sends
them. Every answer carries `x-rate-limit-limit/-remaining/-reset` (reset in
UNIX seconds); past the limit the answer is 429 with no Retry-After, as X does. Ids are
`1900000000000000000 + corpus position`, the same as the status links of the all-platform feed.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.simulator.corpus import HASHTAG_RE, CorpusPost
from monitor.simulator.index import WORD
from monitor.simulator.platforms import per_simulator
from monitor.simulator.platforms.ratelimit import RateWindow
from monitor.simulator.routing import Request, Response, Route, Routes, SimulatorView, api_json

__all__ = ["configure", "routes", "set_rate_limit", "tweet_id"]

_routes: Routes[SimulatorView] = Routes()


def routes() -> tuple[Route[SimulatorView], ...]:
    """This family's endpoints, in the order the server tries them (its `PLATFORMS` table)."""
    return tuple(_routes)


ID_BASE = 1_900_000_000_000_000_000
MAX_QUERY = 512
RATE_LIMIT, RATE_WINDOW_S = 450, 900.0  # per app, per 15 minutes
RECENT = timedelta(days=7)
_DEFAULT_FIELDS = ("id", "text", "edit_history_tweet_ids")


@dataclass
class _State:
    window: RateWindow = field(default_factory=lambda: RateWindow(RATE_LIMIT, RATE_WINDOW_S))
    schema_surprise: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    words: dict[str, tuple[frozenset[str], str]] = field(default_factory=dict)


_state = per_simulator(lambda sim: _State())


def configure(sim: SimulatorView, *, schema_surprise: bool | None = None) -> None:
    if schema_surprise is not None:
        _state(sim).schema_surprise = schema_surprise


def set_rate_limit(sim: SimulatorView, limit: int, window_s: float = RATE_WINDOW_S) -> None:
    """`limit` requests per `window_s` wall-clock seconds (rate limits throttle real time), from now."""
    state = _state(sim)
    with state.lock:
        state.window = RateWindow(limit, window_s)


def tweet_id(sim: SimulatorView, post: CorpusPost) -> str:
    return str(ID_BASE + sim.index.seq[post.id])


def _user_id(author: str) -> str:
    return str(int(hashlib.sha1(author.encode()).hexdigest()[:15], 16))


# --- the query language --------------------------------------------------------------------------

Predicate = Callable[[CorpusPost, frozenset[str], str], bool]
_TOKENS = re.compile(r'\s*(\(|\)|-?"[^"]*"|[^\s()]+)')


class QueryError(ValueError):
    pass


def parse_query(query: str) -> Predicate:
    """X's operators, enough of them for the queries a client builds from topics."""
    tokens = _TOKENS.findall(query)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def any_of() -> Predicate:
        options = [all_of()]
        while peek() == "OR":
            take()
            options.append(all_of())
        return (
            options[0] if len(options) == 1 else (lambda p, w, t: any(o(p, w, t) for o in options))
        )

    def all_of() -> Predicate:
        parts = []
        while peek() not in (None, ")", "OR"):
            parts.append(unary())
        if not parts:
            raise QueryError(
                "There were errors processing your request: empty group or dangling OR"
            )
        return parts[0] if len(parts) == 1 else (lambda p, w, t: all(q(p, w, t) for q in parts))

    def unary() -> Predicate:
        token = take()
        negated = token.startswith("-") and len(token) > 1
        token = token[1:] if negated else token
        if token == "(":
            inner = any_of()
            if peek() != ")":
                raise QueryError("There were errors processing your request: missing ')'")
            take()
        else:
            inner = _atom(token)
        return (lambda p, w, t: not inner(p, w, t)) if negated else inner

    predicate = any_of()
    if peek() is not None:
        raise QueryError(f"There were errors processing your request: unexpected {peek()!r}")
    return predicate


def _atom(token: str) -> Predicate:
    if token.startswith('"'):
        phrase = " ".join(WORD.findall(token.strip('"').casefold()))
        return lambda p, w, t: f" {phrase} " in t
    if token.startswith("#"):
        tag = token[1:].casefold()
        return lambda p, w, t: tag in {h.casefold() for h in p.hashtags}
    name, colon, value = token.partition(":")
    if colon and name in ("lang", "is", "has", "from"):
        value = value.casefold()
        if name == "lang":
            return lambda p, w, t: p.lang == value
        if name == "from":
            return lambda p, w, t: p.author.casefold() == value
        checks: dict[str, Predicate] = {
            "retweet": lambda p, w, t: p.repost_of is not None,
            "reply": lambda p, w, t: p.reply_to is not None,
            "quote": lambda p, w, t: False,
            "links": lambda p, w, t: "http" in p.text,
        }
        if value in checks:
            return checks[value]
    if colon:
        raise QueryError(
            f"There were errors processing your request: Reference to invalid operator '{name}'"
        )
    words = WORD.findall(token.casefold())
    return lambda p, w, t: all(x in w for x in words)


# --- the endpoint --------------------------------------------------------------------------------


def _invalid(message: str, parameter: str, value: str, headers: dict[str, str]) -> Response:
    return api_json(
        {
            "errors": [{"parameters": {parameter: [value]}, "message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        },
        400,
        headers,
    )


@_routes.add("GET", r"/2/tweets/search/recent")
def search_recent(sim: SimulatorView, req: Request) -> Response:
    state = _state(sim)
    allowed, remaining, reset = state.window.hit()
    headers = {
        "x-rate-limit-limit": str(state.window.limit),
        "x-rate-limit-remaining": str(remaining),
        "x-rate-limit-reset": str(int(reset)),
        "Cache-Control": "no-cache, no-store, max-age=0",
    }
    scheme, _, token = req.headers.get("authorization", "").partition(" ")
    if scheme != "Bearer" or not token.strip():
        return api_json(
            {
                "title": "Unauthorized",
                "type": "about:blank",
                "status": 401,
                "detail": "Unauthorized",
            },
            401,
            headers,
        )
    if not allowed:
        return api_json(
            {
                "title": "Too Many Requests",
                "detail": "Too Many Requests",
                "type": "about:blank",
                "status": 429,
            },
            429,
            headers,
        )
    query = req.arg("query", "") or ""
    if not query.strip() or len(query) > MAX_QUERY:
        return _invalid(
            f"Invalid 'query':'{query[:40]}...'. 'query' must be a non-empty string of at most "
            f"{MAX_QUERY} characters",
            "query",
            query,
            headers,
        )
    try:
        predicate = parse_query(query)
    except QueryError as exc:
        return _invalid(str(exc), "query", query, headers)
    now = sim.clock.epoch + timedelta(seconds=req.offset_s)
    try:
        bounds = _bounds(req, now)
    except QueryError as exc:
        return _invalid(str(exc), exc.args[1], exc.args[2], headers)
    if state.schema_surprise:
        return api_json(
            {"data": {"id": "1", "text": "?"}, "meta": {"result_count": 1}}, 200, headers
        )
    page, more = _select(sim, state, predicate, bounds, req.offset_s)
    return _answer(sim, req, page, more, headers)


@dataclass
class _Bounds:
    since: int | None
    until: int | None
    start: datetime
    end: datetime | None
    limit: int


def _bounds(req: Request, now: datetime) -> _Bounds:
    oldest = now - RECENT

    def when(name: str) -> datetime | None:
        raw = req.arg(name)
        if raw is None:
            return None
        try:
            value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise QueryError(
                f"Invalid '{name}':'{raw}'. '{name}' must be an ISO 8601 time", name, raw
            ) from None
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def number(name: str, raw: str | None) -> int | None:
        if raw is None:
            return None
        if not raw.isdigit():
            raise QueryError(f"Invalid '{name}':'{raw}'", name, raw)
        return int(raw)

    start, end = when("start_time"), when("end_time")
    if start is not None and start < oldest:
        raise QueryError(
            f"Invalid 'start_time':'{req.arg('start_time')}'. 'start_time' must be on or after "
            f"{oldest:%Y-%m-%dT%H:%MZ}",
            "start_time",
            req.arg("start_time"),
        )
    limit = number("max_results", req.arg("max_results", "10"))
    if limit is None or not 10 <= limit <= 100:
        raise QueryError(
            f"The `max_results` query parameter value [{req.arg('max_results')}] is not between "
            "10 and 100",
            "max_results",
            req.arg("max_results") or "",
        )
    until = number("until_id", req.arg("until_id"))
    token = req.arg("next_token")
    if token:
        try:
            cursor = int(base64.b32decode(token.upper() + "=" * (-len(token) % 8)).decode())
        except (ValueError, UnicodeDecodeError):
            raise QueryError(f"Invalid 'next_token':'{token}'", "next_token", token) from None
        until = cursor if until is None else min(until, cursor)
    return _Bounds(
        since=number("since_id", req.arg("since_id")),
        until=until,
        start=start or oldest,
        end=end,
        limit=limit,
    )


def _select(
    sim: SimulatorView, state: _State, predicate: Predicate, b: _Bounds, offset_s: float
) -> tuple[list[CorpusPost], bool]:
    """The page (newest first) and whether older matches remain."""
    epoch = sim.clock.epoch
    seq = sim.index.seq
    out: list[CorpusPost] = []
    for post in sim.index.platform("x").newest(offset_s):
        n = ID_BASE + seq[post.id]
        created = post.created_at(epoch)
        if (b.until is not None and n >= b.until) or (b.end is not None and created >= b.end):
            continue
        if (b.since is not None and n <= b.since) or created < b.start:
            break  # newest first: everything after this is older still
        words, text = _words(state, post)
        if predicate(post, words, text):
            if len(out) == b.limit:
                return out, True
            out.append(post)
    return out, False


def _words(state: _State, post: CorpusPost) -> tuple[frozenset[str], str]:
    found = state.words.get(post.id)
    if found is None:
        words = WORD.findall(post.text.casefold())
        found = state.words[post.id] = (
            frozenset(words + [h.casefold() for h in post.hashtags]),
            " " + " ".join(words) + " ",
        )
    return found


def _answer(
    sim: SimulatorView, req: Request, page: list[CorpusPost], more: bool, headers: dict[str, str]
) -> Response:
    fields = set(_DEFAULT_FIELDS) | set(
        filter(None, (req.arg("tweet.fields", "") or "").split(","))
    )
    expansions = set(filter(None, (req.arg("expansions", "") or "").split(",")))
    user_fields = {"id", "name", "username"} | set(
        filter(None, (req.arg("user.fields", "") or "").split(","))
    )
    data = [_tweet(sim, post, fields, expansions) for post in page]
    meta: dict[str, Any] = {"result_count": len(data)}
    if data:
        meta.update(newest_id=data[0]["id"], oldest_id=data[-1]["id"])
    if more and data:
        meta["next_token"] = base64.b32encode(data[-1]["id"].encode()).decode().rstrip("=").lower()
    body: dict[str, Any] = {"data": data} if data else {}
    if data and "author_id" in expansions:
        users = {
            p.author: {
                "id": _user_id(p.author),
                "name": p.author.replace("_", " "),
                "username": p.author,
            }
            for p in page
        }
        body["includes"] = {
            "users": [{k: v for k, v in u.items() if k in user_fields} for u in users.values()]
        }
    body["meta"] = meta
    resp = api_json(body, 200, headers)
    resp.items = [(t["id"], len(resp.body)) for t in data]
    return resp


def _escape(text: str) -> str:
    """X's v2 `text` carries `&`, `<` and `>` as HTML entities, and only those three."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _tweet(
    sim: SimulatorView, post: CorpusPost, fields: set[str], expansions: set[str]
) -> dict[str, Any]:
    tid = tweet_id(sim, post)
    text = post.text if len(post.text) <= 280 else post.text[:279] + "…"
    full: dict[str, Any] = {
        "id": tid,
        "text": text,
        "edit_history_tweet_ids": [tid],
        "created_at": post.created_at(sim.clock.epoch).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "author_id": _user_id(post.author),
        "lang": post.lang or "und",
        "conversation_id": tid,
        "public_metrics": {
            "retweet_count": post.engagement.reposts,
            "reply_count": post.engagement.replies,
            "like_count": post.engagement.likes,
            "quote_count": 0,
            "bookmark_count": 0,
            "impression_count": 40 * (1 + post.engagement.total),
        },
    }
    tags = [(m.start(), m.end(), m.group(1)) for m in HASHTAG_RE.finditer(text)]
    if tags:  # entity offsets count characters of the unescaped text
        full["entities"] = {"hashtags": [{"start": s, "end": e, "tag": t} for s, e, t in tags]}
    full["text"] = _escape(text)
    if post.repost_of and post.repost_of in sim.index.seq:
        full["referenced_tweets"] = [
            {"type": "retweeted", "id": str(ID_BASE + sim.index.seq[post.repost_of])}
        ]
    if len(post.text) > 280:
        full["note_tweet"] = {"text": _escape(post.text)}
    if "author_id" in expansions:
        fields = fields | {"author_id"}
    return {k: v for k, v in full.items() if k in fields}
