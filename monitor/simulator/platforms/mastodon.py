"""Mastodon's REST API as the simulator serves it: the hashtag timeline on several instances.

    GET /api/v1/timelines/tag/<tag>                      the home instance (the simulator's root)
    GET /instances/<name>/api/v1/timelines/tag/<tag>     another instance, federated with it

Shapes follow docs/sources.md §1 and the recorded 4.6.4 responses: an Array<Status> newest first,
`max_id` / `since_id` / `min_id` / `limit` (default 20, max 40), a `Link` header with
`rel="next"` (older, `max_id`) and `rel="prev"` (newer, `min_id`) on non-empty pages,
`X-RateLimit-Limit/Remaining/Reset` (Reset as ISO-8601 with microseconds) on every answer, 429
`{"error": "Too many requests"}` past the limit, 401 `{"error": "The access token is invalid"}`
when an instance wants a token, 404 `{"error": "Record not found"}` for a tag no post carries, and
an empty array when an instance has disabled its hashtag feeds.

Federation: every instance shows the same post under its own local id but the same ActivityPub
`uri` and `url` (those of the home instance), so a client must dedupe on the uri. The home
instance knows every post; another knows a deterministic four fifths of them. Local ids are
18-digit numbers that sort like Mastodon's (by length, then lexically); the home ids are the
ones the tag RSS feed links to.

One liberty: a boost of a tagged post appears in that tag's timeline (as an outer Status with
empty content and the original under `reblog`). Real instances leave boosts out of tag feeds;
serving them here is the only way the corpus's boosts reach a tag-timeline client.
"""

from __future__ import annotations

import threading
import zlib
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlencode

from monitor.simulator.corpus import CorpusPost
from monitor.simulator.platforms import per_simulator
from monitor.simulator.platforms.markup import paragraphs
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

__all__ = ["configure", "instance_url", "requests_served", "routes", "set_rate_limit"]

_routes: Routes[SimulatorView] = Routes()


def routes() -> tuple[Route[SimulatorView], ...]:
    """This family's endpoints, in the order the server tries them (its `PLATFORMS` table)."""
    return tuple(_routes)


HOME = ""  # the instance served at the simulator's root
DEFAULT_LIMIT, MAX_LIMIT = 20, 40
_HOME_BASE = 110 * 10**15  # the tag RSS feed's ids: 110_000_000_000_000_000 + corpus position


# --- per-simulator state -------------------------------------------------------------------------


@dataclass
class _Instance:
    token: str | None = None  # when set, requests must carry `Authorization: Bearer <token>`
    disabled: bool = False  # hashtag feeds disabled: every timeline is an empty array
    requests: int = 0
    window: RateWindow = field(default_factory=lambda: RateWindow(300, 300.0))


@dataclass(frozen=True, slots=True)
class _Entry:
    seq: int
    offset_s: int
    post: CorpusPost


class _State:
    def __init__(self, sim: SimulatorView):
        self.sim = sim
        self.lock = threading.Lock()
        self.instances: dict[str, _Instance] = {}
        self.limit, self.window_s = 300, 300.0
        self._timelines: dict[tuple[str, str], tuple[list[_Entry], list[int]] | None] = {}
        by_id = {p.id: p for p in sim.corpus}
        self.tagged: dict[str, list[CorpusPost]] = {}
        for post in sim.corpus:
            if post.platform != "mastodon":
                continue
            original = by_id.get(post.repost_of) if post.repost_of else post
            if original is None or original.platform != "mastodon":
                continue
            for tag in {t.casefold() for t in original.hashtags}:
                self.tagged.setdefault(tag, []).append(post)

    def instance(self, name: str) -> _Instance:
        with self.lock:
            inst = self.instances.get(name)
            if inst is None:
                inst = self.instances[name] = _Instance(
                    window=RateWindow(self.limit, self.window_s)
                )
            return inst

    def timeline(self, name: str, tag: str) -> tuple[list[_Entry], list[int]] | None:
        """The posts `name` knows carrying `tag` (boosts included), oldest first, with offsets."""
        key = (name, tag)
        with self.lock:
            if key not in self._timelines:
                posts = self.tagged.get(tag)
                if posts is None:
                    self._timelines[key] = None
                else:
                    seq = self.sim.index.seq
                    entries = [_Entry(seq[p.id], p.offset_s, p) for p in posts if knows(name, p)]
                    self._timelines[key] = (entries, [e.offset_s for e in entries])
            return self._timelines[key]


_state = per_simulator(_State)


# --- control (for tests, the demo and benchmarks) ------------------------------------------------


def instance_url(sim: SimulatorView, name: str = HOME) -> str:
    """The base URL a client configures for instance `name` ('' is the home instance)."""
    return sim.url if name == HOME else f"{sim.url}/instances/{quote(name)}"


def configure(
    sim: SimulatorView, name: str = HOME, *, token: str | None = None, disabled: bool = False
) -> None:
    """Make instance `name` require a bearer token (None: open) and/or disable its tag feeds."""
    inst = _state(sim).instance(name)
    inst.token, inst.disabled = token, disabled


def set_rate_limit(sim: SimulatorView, limit: int, window_s: float = 300.0) -> None:
    """Every instance (present and future) allows `limit` requests per `window_s`, starting now."""
    state = _state(sim)
    with state.lock:
        state.limit, state.window_s = limit, window_s
        instances = list(state.instances.values())
    for inst in instances:
        inst.window = RateWindow(limit, window_s)


def requests_served(sim: SimulatorView, name: str = HOME) -> int:
    """Timeline requests instance `name` has answered (any status)."""
    return _state(sim).instance(name).requests


# --- federation and ids --------------------------------------------------------------------------


def knows(instance: str, post: CorpusPost) -> bool:
    """Which posts reached which instance: all for home, a stable four fifths elsewhere."""
    return instance == HOME or zlib.crc32(f"{instance}/{post.id}".encode()) % 5 != 0


def _id_base(instance: str) -> int:
    return _HOME_BASE if instance == HOME else (111 + zlib.crc32(instance.encode()) % 800) * 10**15


def local_id(instance: str, seq: int) -> str:
    return str(_id_base(instance) + seq)


def _seq_bound(instance: str, raw: str | None, name: str) -> int | None:
    """A client's id back to a corpus position (ids of other instances sort outside the range)."""
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        raise HttpError(422, f"{name} must be a status id, got {raw[:40]!r}")
    return int(raw) - _id_base(instance)


# --- the endpoint --------------------------------------------------------------------------------


@_routes.add(
    "GET", r"(?:/instances/(?P<instance>[A-Za-z0-9.\-]+))?/api/v1/timelines/tag/(?P<tag>[^/]+)"
)
def tag_timeline(sim: SimulatorView, req: Request) -> Response:
    name = req.params.get("instance") or HOME
    state = _state(sim)
    inst = state.instance(name)
    with state.lock:
        inst.requests += 1
    allowed, remaining, reset = inst.window.hit()
    headers = {
        "X-RateLimit-Limit": str(inst.window.limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": _iso_micro(reset),
        "Cache-Control": "private, no-store",
        "Vary": "Authorization, Origin",
    }
    if not allowed:
        return api_json({"error": "Too many requests"}, 429, headers)
    if inst.token is not None and req.headers.get("authorization") != f"Bearer {inst.token}":
        return api_json({"error": "The access token is invalid"}, 401, headers)
    tag = unquote(req.params["tag"]).lstrip("#").casefold()
    found = state.timeline(name, tag)
    if found is None:
        return api_json({"error": "Record not found"}, 404, headers)
    if inst.disabled:
        return api_json([], 200, headers)
    entries, offsets = found
    page = _page(entries, offsets, req, name)
    base = f"{req.base_url}" if name == HOME else f"{req.base_url}/instances/{quote(name)}"
    if page:
        headers["Link"] = _link(base, req.params["tag"], req, name, page)
    body_items = [_status(sim, req.base_url, name, e) for e in page]
    resp = api_json(body_items, 200, headers)
    resp.items = [(uri, len(resp.body)) for item in body_items for uri in _uris(item)]
    return resp


def _page(entries: list[_Entry], offsets: list[int], req: Request, name: str) -> list[_Entry]:
    """Mastodon's paging over one instance's view of a tag, newest first."""
    limit = req.limit(DEFAULT_LIMIT, MAX_LIMIT)
    published = bisect_right(offsets, req.offset_s)
    seqs = [e.seq for e in entries[:published]]
    max_seq = _seq_bound(name, req.arg("max_id"), "max_id")
    min_seq = _seq_bound(name, req.arg("min_id"), "min_id")
    since_seq = _seq_bound(name, req.arg("since_id"), "since_id")
    hi = published if max_seq is None else bisect_left(seqs, max_seq)
    if min_seq is not None:
        # min_id: the `limit` posts just above the bound (paging forward), still newest first.
        lo = bisect_right(seqs, min_seq)
        chosen = entries[lo : min(hi, lo + limit)]
    else:
        lo = 0 if since_seq is None else bisect_right(seqs, since_seq)
        chosen = entries[max(lo, hi - limit) : hi]
    return chosen[::-1]


def _link(base: str, raw_tag: str, req: Request, name: str, page: list[_Entry]) -> str:
    extra = {"limit": req.arg("limit")} if req.arg("limit") else {}
    url = f"{base}/api/v1/timelines/tag/{raw_tag}"
    older = urlencode({**extra, "max_id": local_id(name, page[-1].seq)})
    newer = urlencode({**extra, "min_id": local_id(name, page[0].seq)})
    return f'<{url}?{older}>; rel="next", <{url}?{newer}>; rel="prev"'


def _status(sim: SimulatorView, root: str, name: str, entry: _Entry) -> dict[str, Any]:
    post = entry.post
    index = sim.index
    if post.repost_of:
        original = sim.corpus[index.seq[post.repost_of]]
        outer = _status_fields(sim, root, name, entry.seq, post)
        home_id = local_id(HOME, entry.seq)
        user = quote(post.author, safe="")
        outer.update(
            content="",
            spoiler_text="",
            sensitive=False,
            language=None,
            tags=[],
            uri=f"{root}/users/{user}/statuses/{home_id}/activity",
            url=f"{root}/users/{user}/statuses/{home_id}/activity",
            replies_count=0,
            reblogs_count=0,
            favourites_count=0,
            reblog=_status_fields(sim, root, name, index.seq[original.id], original),
        )
        return outer
    return _status_fields(sim, root, name, entry.seq, post)


def _status_fields(
    sim: SimulatorView, root: str, name: str, seq: int, post: CorpusPost
) -> dict[str, Any]:
    home_id = local_id(HOME, seq)
    user = quote(post.author, safe="")
    host = root.split("://", 1)[-1]
    created = post.created_at(sim.clock.epoch)
    # a content warning now and then, as on real instances
    spoiler = "uspol" if seq % 17 == 0 else ""
    tags = list(dict.fromkeys(t.casefold() for t in post.hashtags))
    return {
        "id": local_id(name, seq),
        "created_at": created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "in_reply_to_id": None,
        "in_reply_to_account_id": None,
        "sensitive": bool(spoiler),
        "spoiler_text": spoiler,
        "visibility": "public",
        "language": post.lang,
        "uri": f"{root}/users/{user}/statuses/{home_id}",
        "url": f"{root}/@{user}/{home_id}",
        "replies_count": post.engagement.replies,
        "reblogs_count": post.engagement.reposts,
        "favourites_count": post.engagement.likes,
        "quotes_count": 0,
        "edited_at": None,
        "content": paragraphs(post.text, lambda t: f"{root}/tags/{quote(t)}"),
        "reblog": None,
        "application": None,
        "account": {
            "id": str(100_000 + zlib.crc32(post.author.encode()) % 10**8),
            "username": post.author,
            "acct": post.author if name == HOME else f"{post.author}@{host}",
            "display_name": post.author,
            "locked": False,
            "bot": False,
            "url": f"{root}/@{user}",
            "uri": f"{root}/users/{user}",
            "followers_count": 10 + zlib.crc32(post.author.encode()) % 2000,
        },
        "media_attachments": [],
        "mentions": [],
        "tags": [{"name": t, "url": f"{root}/tags/{quote(t)}"} for t in tags],
        "emojis": [],
        "card": None,
        "poll": None,
    }


def _uris(status: dict[str, Any]) -> list[str]:
    inner = status.get("reblog")
    return [status["uri"]] + ([inner["uri"]] if inner else [])


def _iso_micro(unix_s: float) -> str:
    """Mastodon's X-RateLimit-Reset: `2026-08-01T14:00:00.070144Z`."""
    return datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
