"""Bluesky's XRPC API as the simulator serves it: sessions and post search.

    POST /xrpc/com.atproto.server.createSession    {"identifier", "password"} -> accessJwt, refreshJwt
    POST /xrpc/com.atproto.server.refreshSession   Bearer refreshJwt -> a new pair (the old one revoked)
    GET  /xrpc/app.bsky.feed.searchPosts           Bearer accessJwt; q, tag (repeatable, AND), sort,
                                                   since, until, lang, limit (1-100, default 25), cursor

Shapes follow docs/sources.md §2.1 and the recorded bsky.social responses: `{"posts": [PostView],
"cursor"}` where the cursor is an offset (never past 10,000: a deeper cursor is refused with 400
InvalidRequest and none is offered past it; `configure(max_offset=)`), `RateLimit-
Limit/Remaining/Reset/Policy` (Reset in UNIX seconds) on every answer, 429 `{"error":
"RateLimitExceeded"}` with `Retry-After`, and XRPC errors as `{"error", "message"}`: 401 AuthMissing
without a token (search has needed an account since January 2025), 400 ExpiredToken for an expired
one, 401 AuthenticationRequired for a wrong app password. Tokens are real HS256 JWTs with `exp`, so
a client can refresh before they expire.

`q` understands what the corpus needs from Lucene: words (all must occur), "quoted phrases" and
#hashtags; other `key:value` operators are ignored. `since`/`until` compare with a post's sortAt
(its createdAt here; indexedAt is a fraction of a second later).

The ids and records here (DIDs, TIDs, at:// uris, facets with UTF-8 byte offsets) are shared with
the Jetstream replay, so the same corpus post has the same uri on both.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.simulator.index import WORD
from monitor.simulator.platforms import per_simulator
from monitor.simulator.platforms.atproto import at_uri, cid_for, did_for, iso_ms, post_record
from monitor.simulator.platforms.ratelimit import RateWindow
from monitor.simulator.routing import (
    HttpError,
    Request,
    Response,
    Route,
    Routes,
    SimulatorView,
    api_json,
)

__all__ = ["configure", "routes", "set_rate_limit", "stats"]

_routes: Routes[SimulatorView] = Routes()


def routes() -> tuple[Route[SimulatorView], ...]:
    """This family's endpoints, in the order the server tries them (its `PLATFORMS` table)."""
    return tuple(_routes)


MAX_OFFSET = 10_000  # search serves no hit past this offset (Elasticsearch's result window)
_QUERY_TOKEN = re.compile(r'"([^"]*)"|(\S+)')


# --- per-simulator state -------------------------------------------------------------------------


@dataclass
class _Account:
    did: str
    handle: str


class _State:
    def __init__(self, sim: SimulatorView):
        self.sim = sim
        self.lock = threading.Lock()
        self.secret = secrets.token_bytes(32)
        self.accounts: dict[str, str] | None = None  # handle -> app password; None: any pair works
        self.access_ttl_s, self.refresh_ttl_s = 7200.0, 90 * 86400.0
        self.refresh_tokens: dict[str, _Account] = {}  # live refresh jti -> account
        self.counts = {"createSession": 0, "refreshSession": 0, "searchPosts": 0}
        self.window = RateWindow(3000, 300.0)
        self.max_offset = MAX_OFFSET
        self.session_window = RateWindow(30, 300.0)
        seq = sim.index.seq
        self.posts = [p for p in sim.corpus if p.platform == "bluesky"]
        self.seqs = [seq[p.id] for p in self.posts]
        self.folded = [p.text.casefold() for p in self.posts]
        self.words = [frozenset(WORD.findall(f)) for f in self.folded]
        self.tags = [frozenset(t.casefold() for t in p.hashtags) for p in self.posts]


_state = per_simulator(_State)


def configure(
    sim: SimulatorView,
    *,
    accounts: dict[str, str] | None = None,
    access_ttl_s: float = 7200.0,
    refresh_ttl_s: float = 90 * 86400.0,
    max_offset: int = MAX_OFFSET,
) -> None:
    """Accepted handle -> app password pairs (None: any non-empty pair), token lifetimes, and how
    deep a search cursor may go."""
    state = _state(sim)
    with state.lock:
        state.max_offset = max_offset
        state.accounts = (
            None if accounts is None else {h.casefold(): p for h, p in accounts.items()}
        )
        state.access_ttl_s, state.refresh_ttl_s = access_ttl_s, refresh_ttl_s


def set_rate_limit(sim: SimulatorView, limit: int, window_s: float = 300.0) -> None:
    _state(sim).window = RateWindow(limit, window_s)


def stats(sim: SimulatorView) -> dict[str, int]:
    """How many times each XRPC method was called (any outcome)."""
    state = _state(sim)
    with state.lock:
        return dict(state.counts)


# --- tokens --------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _jwt(state: _State, claims: dict[str, Any]) -> str:
    head = _b64(json.dumps({"typ": "at+jwt", "alg": "HS256"}).encode())
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(state.secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(sig)}"


def _verify(state: _State, token: str, scope: str) -> dict[str, Any]:
    """Claims of a token we issued for `scope`; XRPC errors for anything else."""
    try:
        head, body, sig = token.split(".")
        expected = hmac.new(state.secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(_unb64(sig), expected):
            raise ValueError("bad signature")
        claims = json.loads(_unb64(body))
    except (ValueError, TypeError):
        raise _XrpcError(401, "InvalidToken", "Token could not be verified") from None
    if claims.get("scope") != scope:
        raise _XrpcError(400, "InvalidToken", "Bad token scope")
    if claims.get("exp", 0) <= time.time():
        raise _XrpcError(400, "ExpiredToken", "Token has expired")
    return claims


def _issue(state: _State, account: _Account) -> dict[str, Any]:
    now = time.time()
    jti = secrets.token_urlsafe(16)
    access = _jwt(
        state,
        {
            "scope": "com.atproto.appPass",
            "sub": account.did,
            "aud": "did:web:sim.bsky",
            "iat": int(now),
            "exp": now + state.access_ttl_s,
        },
    )
    refresh = _jwt(
        state,
        {
            "scope": "com.atproto.refresh",
            "sub": account.did,
            "aud": "did:web:sim.bsky",
            "jti": jti,
            "iat": int(now),
            "exp": now + state.refresh_ttl_s,
        },
    )
    with state.lock:
        state.refresh_tokens[jti] = account
    return {
        "did": account.did,
        "handle": account.handle,
        "accessJwt": access,
        "refreshJwt": refresh,
        "active": True,
    }


def _bearer(req: Request) -> str | None:
    value = req.headers.get("authorization", "")
    return value[7:].strip() if value.lower().startswith("bearer ") else None


# --- errors and responses ------------------------------------------------------------------------


class _XrpcError(Exception):
    def __init__(self, status: int, error: str, message: str):
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def _rate_headers(window: RateWindow, remaining: int, reset: float) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(window.limit),
        "RateLimit-Remaining": str(remaining),
        "RateLimit-Reset": str(int(reset)),
        "RateLimit-Policy": f"{window.limit};w={int(window.window_s)}",
    }


def _xrpc(state: _State, method: str, window: RateWindow, answer) -> Response:
    """Count, rate-limit, run `answer()` and turn XRPC errors into their JSON shape."""
    with state.lock:
        state.counts[method] += 1
    allowed, remaining, reset = window.hit()
    headers = _rate_headers(window, remaining, reset)
    if not allowed:
        headers["Retry-After"] = str(max(1, int(reset - time.time() + 0.999)))
        return api_json(
            {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}, 429, headers
        )
    try:
        resp = answer()
    except _XrpcError as exc:
        return api_json({"error": exc.error, "message": exc.message}, exc.status, headers)
    resp.headers.update(headers)
    return resp


# --- endpoints -----------------------------------------------------------------------------------


@_routes.add("POST", r"/xrpc/com\.atproto\.server\.createSession")
def create_session(sim: SimulatorView, req: Request) -> Response:
    state = _state(sim)

    def answer() -> Response:
        try:
            body = req.json()
        except HttpError:
            raise _XrpcError(400, "InvalidRequest", "Request body must be JSON") from None
        ident, password = (
            (body.get("identifier"), body.get("password"))
            if isinstance(body, dict)
            else (None, None)
        )
        if not isinstance(ident, str) or not isinstance(password, str) or not ident or not password:
            raise _XrpcError(
                400, "InvalidRequest", 'Input must have the properties "identifier" and "password"'
            )
        handle = ident.casefold().lstrip("@")
        if state.accounts is not None and state.accounts.get(handle) != password:
            raise _XrpcError(401, "AuthenticationRequired", "Invalid identifier or password")
        return api_json(_issue(state, _Account(did_for(handle), handle)))

    return _xrpc(state, "createSession", state.session_window, answer)


@_routes.add("POST", r"/xrpc/com\.atproto\.server\.refreshSession")
def refresh_session(sim: SimulatorView, req: Request) -> Response:
    state = _state(sim)

    def answer() -> Response:
        token = _bearer(req)
        if token is None:
            raise _XrpcError(401, "AuthMissing", "Authentication Required")
        claims = _verify(state, token, "com.atproto.refresh")
        with state.lock:
            account = state.refresh_tokens.pop(str(claims.get("jti")), None)
        if account is None:
            raise _XrpcError(400, "ExpiredToken", "Token has been revoked")
        return api_json(_issue(state, account))

    return _xrpc(state, "refreshSession", state.window, answer)


@_routes.add("GET", r"/xrpc/app\.bsky\.feed\.searchPosts")
def search_posts(sim: SimulatorView, req: Request) -> Response:
    state = _state(sim)

    def answer() -> Response:
        token = _bearer(req)
        if token is None:
            raise _XrpcError(401, "AuthMissing", "Authentication Required")
        _verify(state, token, "com.atproto.appPass")
        return _search(sim, state, req)

    return _xrpc(state, "searchPosts", state.window, answer)


def _search(sim: SimulatorView, state: _State, req: Request) -> Response:
    q = req.arg("q")
    if not q:
        raise _XrpcError(400, "InvalidRequest", 'Error: Params must have the property "q"')
    limit = _int_param(req, "limit", 25, 1, 100)
    offset = _int_param(req, "cursor", 0, 0, 10**9)
    if offset >= state.max_offset:
        raise _XrpcError(
            400,
            "InvalidRequest",
            f"cursor too deep: results past {state.max_offset} are not served",
        )
    since, until = _when(req.arg("since"), "since"), _when(req.arg("until"), "until")
    words, phrases, tags = _parse_query(q)
    tags |= {t.lstrip("#").casefold() for t in req.query.get("tag", []) if t}
    lang = req.arg("lang")
    epoch = sim.clock.epoch
    hits = []
    for i, post in enumerate(state.posts):
        if post.offset_s > req.offset_s:
            break
        when = post.created_at(epoch)
        if (since and when < since) or (until and when >= until) or (lang and post.lang != lang):
            continue
        if not (tags <= state.tags[i] and words <= state.words[i]):
            continue
        if phrases and not all(_has_phrase(state.folded[i], ph) for ph in phrases):
            continue
        hits.append(i)
    if req.arg("sort", "latest") == "top":
        hits.sort(key=lambda i: -state.posts[i].engagement.total)
    else:
        hits.reverse()
    page = hits[offset : min(offset + limit, state.max_offset)]
    body: dict[str, Any] = {"posts": [_post_view(sim, state, i) for i in page]}
    if offset + limit < min(len(hits), state.max_offset):
        body["cursor"] = str(offset + limit)
    resp = api_json(body)
    resp.items = [(view["uri"], len(resp.body)) for view in body["posts"]]
    return resp


def _parse_query(q: str) -> tuple[set[str], list[str], set[str]]:
    words: set[str] = set()
    phrases: list[str] = []
    tags: set[str] = set()
    for m in _QUERY_TOKEN.finditer(q):
        phrase, token = m.group(1), m.group(2)
        if phrase is not None:
            if phrase.strip():
                phrases.append(" ".join(phrase.casefold().split()))
        elif token.startswith("#") and len(token) > 1:
            tags.add(token[1:].casefold())
        elif ":" in token or token in ("AND", "OR", "NOT"):
            continue  # from:, lang:, domain: ... are not modelled
        else:
            words.update(WORD.findall(token.casefold()))
    return words, phrases, tags


def _has_phrase(folded: str, phrase: str) -> bool:
    return (
        re.search(r"(?<!\w)" + r"\s+".join(map(re.escape, phrase.split())) + r"(?!\w)", folded)
        is not None
    )


def _int_param(req: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = req.arg(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _XrpcError(400, "InvalidRequest", f"{name} must be an integer") from None
    if not lo <= value <= hi:
        raise _XrpcError(400, "InvalidRequest", f"{name} must be between {lo} and {hi}")
    return value


def _when(raw: str | None, name: str) -> datetime | None:
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _XrpcError(
            400, "InvalidRequest", f"{name} must be a datetime or YYYY-MM-DD"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _post_view(sim: SimulatorView, state: _State, i: int) -> dict[str, Any]:
    post, seq, epoch = state.posts[i], state.seqs[i], sim.clock.epoch
    did = did_for(post.author)
    created = post.created_at(epoch)
    return {
        "uri": at_uri(post, seq, epoch),
        "cid": cid_for(post.id),
        "author": {
            "did": did,
            "handle": post.author,
            "displayName": post.author.split(".")[0],
            "avatar": f"https://cdn.bsky.app/img/avatar/plain/{did}/{cid_for(did)}@jpeg",
            "labels": [],
            "createdAt": "2024-09-04T11:55:00.863Z",
        },
        "record": post_record(post, seq, epoch),
        "replyCount": post.engagement.replies,
        "repostCount": post.engagement.reposts,
        "likeCount": post.engagement.likes,
        "quoteCount": 0,
        "bookmarkCount": 0,
        "indexedAt": iso_ms(created + timedelta(milliseconds=200 + seq % 7 * 300)),
        "labels": [],
        "viewer": {"threadMuted": False, "embeddingDisabled": False},
    }
