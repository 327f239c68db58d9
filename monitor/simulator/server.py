"""A local stand-in for the platforms, replaying the bundled corpus in each one's real wire format.

The demo must run offline, and the sources, the scheduler and the UI need something to poll that
misbehaves on demand (slow, rate-limited, truncated, garbage, endless) and that can prove nothing
was lost or stored twice. So this server plays the corpus against a simulated clock: a post
appears in the feeds once `epoch + offset_s <= sim now`, newest first, shaped like the real feed
(see docs/sources.md and the fixtures it cites), and it remembers every item id it delivered.

Endpoints (one handler function per endpoint; a family is a module of `monitor/simulator/platforms/` whose
functions are decorated with `@route`; the server, the clock, faults and the control family are
here):

RSS / Atom family (monitor/simulator/platforms/feeds.py)
    GET /rss/search?q=...&hl=en-US&gl=US&ceid=US:en   Google News search RSS 2.0 (news posts whose
                                                      title/text has any query word; operators such
                                                      as `when:1h` are ignored; at most 100 items)
    GET /tags/<tag>.rss                               Mastodon tag RSS 2.0 (latest 20; `?limit=` up
                                                      to 200 is a simulator extension)
    GET /r/<sub>/new/.rss                             Reddit Atom (latest 25, `?limit=` up to 100;
                                                      every sub serves every Reddit post)
    GET /feeds/all.atom                               every platform as Atom 1.0 (latest 200,
                                                      `?limit=` up to 1000): for tests and the demo
    Every feed sends a strong ETag (hash of the body) and Last-Modified (its newest item) and
    answers If-None-Match / If-Modified-Since with an empty 304.

Control family (JSON, never faulted, not counted as served requests)
    GET  /_sim/status        sim time, published count, requests served, active faults
    GET|POST|DELETE /_sim/faults   read / replace / clear the faults (POST body: Faults fields)
    POST /_sim/clock         {"offset_s": ..., "speed": ..., "paused": ...}, any subset
    GET|DELETE /_sim/served  sorted item ids delivered in 200 bodies so far / forget them

Item ids in /_sim/served are what a client sees: the RSS guid (Google: the corpus id; Mastodon:
the status URL), the Atom entry id (Reddit: `t3_...`; all.atom: `urn:reaction-monitor:sim:<id>`).
An item counts as served only when its whole element reached the client, so a truncated body
records the items before the cut and garbage bodies record none.

Characters XML 1.0 forbids (C0 controls, NUL) cannot travel raw in a feed; in HTML content they
are sent as numeric character references (`&#27;`) so hostile text still reaches the HTML-to-text
layer, and in plain-text fields (titles, authors) they become U+FFFD.

Run it: `python -m monitor.simulator.server --port 8765 --speed 600` (the three days take about 7 minutes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import signal
import socket
import sys
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from monitor.core.durations import parse_duration
from monitor.simulator.corpus import SPAN_S, CorpusPost, load_corpus
from monitor.simulator.platforms.markup import assemble, iso, rfc822

__all__ = [
    "Faults",
    "HttpError",
    "ROUTES",
    "Request",
    "Response",
    "Route",
    "SimClock",
    "Simulator",
    "default_epoch",
    "main",
    "route",
]

DEFAULT_SUBREDDIT = "worldnews"
_MAX_CONTROL_BODY = 64 * 1024


# --- clock --------------------------------------------------------------------------------------


def default_epoch(now: datetime | None = None) -> datetime:
    """Three days before the current hour: at high speed the corpus plays out entirely in the past."""
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=3)


class SimClock:
    """Simulated time: `epoch + start_offset + elapsed * speed`, adjustable while the server runs."""

    default_epoch = staticmethod(default_epoch)

    def __init__(
        self, epoch: datetime | None = None, speed: float = 1.0, start_offset_s: float = 0.0
    ):
        if epoch is not None and epoch.tzinfo is None:
            raise ValueError("SimClock epoch must be timezone-aware (UTC)")
        self._epoch = (epoch or default_epoch()).astimezone(UTC)
        self._speed = _check_speed(speed)
        self._base = float(start_offset_s)
        self._t0 = time.monotonic()
        self._paused = False
        self._lock = threading.Lock()

    @property
    def epoch(self) -> datetime:
        return self._epoch

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def paused(self) -> bool:
        return self._paused

    def offset_s(self) -> float:
        """Seconds of simulated time since the epoch."""
        with self._lock:
            return self._offset_locked()

    def now(self) -> datetime:
        return self._epoch + timedelta(seconds=self.offset_s())

    def set_offset(self, seconds: float) -> None:
        with self._lock:
            self._base, self._t0 = float(seconds), time.monotonic()

    def set_speed(self, speed: float) -> None:
        with self._lock:
            self._base, self._t0 = self._offset_locked(), time.monotonic()
            self._speed = _check_speed(speed)

    def pause(self) -> None:
        with self._lock:
            if not self._paused:
                self._base, self._paused = self._offset_locked(), True

    def resume(self) -> None:
        with self._lock:
            if self._paused:
                self._t0, self._paused = time.monotonic(), False

    def _offset_locked(self) -> float:
        if self._paused:
            return self._base
        return self._base + (time.monotonic() - self._t0) * self._speed


def _check_speed(speed: float) -> float:
    if not speed >= 0:
        raise ValueError(f"speed must be >= 0, got {speed!r}")
    return float(speed)


# --- faults -------------------------------------------------------------------------------------


@dataclass
class Faults:
    """Misbehaviour for the next `count` matching requests (None: until cleared), after `skip`
    matching requests have been answered normally (`skip=2, count=1`: the third request fails).

    When several are set, latency is served first, then the first of status, huge_bytes, invalid,
    truncate. A truncated body keeps the full body's ETag/Last-Modified, as a cutting proxy would.
    """

    latency_s: float = 0.0
    status: int | None = None
    retry_after: float | None = None
    truncate: bool = False
    invalid: bool = False
    huge_bytes: int = 0
    count: int | None = None
    path_prefix: str | None = None
    skip: int = 0

    def __post_init__(self) -> None:
        if self.skip < 0:
            raise ValueError("skip must be >= 0")
        if self.latency_s < 0:
            raise ValueError("latency_s must be >= 0")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError("status must be an HTTP status code")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError("retry_after must be >= 0")
        if self.huge_bytes < 0:
            raise ValueError("huge_bytes must be >= 0")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be >= 1 (or null for 'until cleared')")

    @property
    def active(self) -> bool:
        return bool(
            self.latency_s or self.status or self.truncate or self.invalid or self.huge_bytes
        )

    def applies_to(self, path: str) -> bool:
        return self.path_prefix is None or path.startswith(self.path_prefix)

    @classmethod
    def from_json(cls, data: Any) -> Faults:
        if not isinstance(data, dict):
            raise ValueError("faults must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown fault fields: {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        try:
            return cls(**data)
        except TypeError as exc:
            raise ValueError(str(exc)) from None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# --- requests, responses, routing ---------------------------------------------------------------


class HttpError(Exception):
    """Raised by a handler to answer with an error status and a JSON `{"error": message}`."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Request:
    """What a handler sees. `offset_s` is the sim time taken once, so one response is consistent."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    params: Mapping[str, str]
    base_url: str
    offset_s: float

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def limit(self, default: int, maximum: int) -> int:
        raw = self.arg("limit")
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise HttpError(400, f"limit must be an integer, got {raw!r}") from None
        if value < 1:
            raise HttpError(400, "limit must be >= 1")
        return min(value, maximum)

    def json(self) -> Any:
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise HttpError(400, f"body is not JSON: {exc}") from None


@dataclass
class Response:
    """A handler's answer. Feeds list their item ids with the byte offset where each item ends."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/xml; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    items: list[tuple[str, int]] = field(default_factory=list)
    last_modified: datetime | None = None
    cacheable: bool = False


Handler = Callable[["Simulator", Request], Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    control: bool = False


ROUTES: list[Route] = []


def route(method: str, path: str, *, control: bool = False) -> Callable[[Handler], Handler]:
    """Register a handler for `method` and a full-match path regex (named groups become params)."""

    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(method, re.compile(path), handler, control))
        return handler

    return register


def _json_response(data: Any, status: int = 200) -> Response:
    body = json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")
    return Response(status=status, body=body, content_type="application/json; charset=utf-8")


# --- the corpus as the server sees it -----------------------------------------------------------


class _Timeline:
    """Posts oldest first, with their offsets, so 'published by t' is one bisect."""

    def __init__(self, posts: Iterable[CorpusPost]):
        self.posts = list(posts)
        self.offsets = [p.offset_s for p in self.posts]

    def published(self, offset_s: float) -> int:
        return bisect_right(self.offsets, offset_s)

    def newest(
        self,
        offset_s: float,
        limit: int | None = None,
        keep: Callable[[CorpusPost], bool] | None = None,
    ) -> list[CorpusPost]:
        out: list[CorpusPost] = []
        for i in range(self.published(offset_s) - 1, -1, -1):
            post = self.posts[i]
            if keep is None or keep(post):
                out.append(post)
                if limit is not None and len(out) >= limit:
                    break
        return out


class _Index:
    """Per-endpoint views of the corpus and stable native ids, built once per simulator."""

    def __init__(self, corpus: Sequence[CorpusPost]):
        self.all = _Timeline(corpus)
        self.seq = {p.id: n for n, p in enumerate(corpus)}
        self.by_platform = {
            name: _Timeline(p for p in corpus if p.platform == name)
            for name in sorted({p.platform for p in corpus})
        }
        tags: dict[str, list[CorpusPost]] = {}
        for p in self.platform("mastodon").posts:
            for tag in {t.casefold() for t in p.hashtags}:
                tags.setdefault(tag, []).append(p)
        self.mastodon_tags = {tag: _Timeline(posts) for tag, posts in tags.items()}
        self.words = {
            p.id: frozenset(_WORD.findall(f"{p.title or ''} {p.text}".casefold()))
            for p in self.platform("news").posts
        }

    def platform(self, name: str) -> _Timeline:
        return self.by_platform.get(name) or _Timeline(())

    def mastodon_id(self, post: CorpusPost) -> str:
        # 18 digits, ordered like Mastodon's
        return str(110_000_000_000_000_000 + self.seq[post.id])

    def reddit_id(self, post: CorpusPost) -> str:
        return _base36(3_000_000_000 + self.seq[post.id])


_WORD = re.compile(r"\w+")


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"


def atom_id(post: CorpusPost) -> str:
    return f"urn:reaction-monitor:sim:{post.id}"


def _feed(
    items: Sequence[tuple[str, str]],
    posts: Sequence[CorpusPost],
    sim: Simulator,
    head: str,
    tail: str,
    content_type: str,
) -> Response:
    body, ends = assemble(head, items, tail)
    newest = posts[0].created_at(sim.clock.epoch) if posts else None
    return Response(
        body=body, content_type=content_type, items=ends, last_modified=newest, cacheable=True
    )


def _permalink(sim: Simulator, base: str, post: CorpusPost) -> str:
    """Where a post would live on its platform, served (or not) by this host."""
    seq, author = sim._index.seq[post.id], quote(post.author, safe="")
    if post.platform == "mastodon":
        return f"{base}/@{author}/{sim._index.mastodon_id(post)}"
    if post.platform == "reddit":
        return _reddit_permalink(sim, base, DEFAULT_SUBREDDIT, post)
    if post.platform == "news":
        return f"{base}/articles/{quote(post.id)}?oc=5"
    if post.platform == "bluesky":
        return f"{base}/profile/{author}/post/{_base36(10**12 + seq)}"
    if post.platform == "x":
        return f"{base}/{author}/status/{1_900_000_000_000_000_000 + seq}"
    return f"{base}/item?id={43_000_000 + seq}"


def _reddit_permalink(sim: Simulator, base: str, sub: str, post: CorpusPost) -> str:
    words = re.findall(r"[a-z0-9]+", (post.title or "").lower())
    slug = "_".join(words)[:50].rstrip("_") or "post"
    return f"{base}/r/{sub}/comments/{sim._index.reddit_id(post)}/{slug}/"


# --- control family -----------------------------------------------------------------------------


@route("GET", r"/_sim/status", control=True)
def sim_status(sim: Simulator, req: Request) -> Response:
    return _json_response(sim.status())


@route("GET", r"/_sim/faults", control=True)
def get_faults(sim: Simulator, req: Request) -> Response:
    return _json_response(sim.status()["faults"])


@route("POST", r"/_sim/faults", control=True)
def post_faults(sim: Simulator, req: Request) -> Response:
    try:
        sim.set_faults(**Faults.from_json(req.json()).to_json())
    except ValueError as exc:
        raise HttpError(400, str(exc)) from None
    return _json_response(sim.status())


@route("DELETE", r"/_sim/faults", control=True)
def delete_faults(sim: Simulator, req: Request) -> Response:
    sim.clear_faults()
    return _json_response(sim.status())


@route("POST", r"/_sim/clock", control=True)
def post_clock(sim: Simulator, req: Request) -> Response:
    data = req.json()
    if not isinstance(data, dict) or set(data) - {"offset_s", "speed", "paused"}:
        raise HttpError(
            400, 'clock body must be an object with "offset_s", "speed" and/or "paused"'
        )
    if data.get("paused", False) not in (True, False):
        raise HttpError(400, '"paused" must be true or false')
    try:
        if "speed" in data:
            sim.clock.set_speed(float(data["speed"]))
        if "offset_s" in data:
            sim.clock.set_offset(float(data["offset_s"]))
    except (TypeError, ValueError) as exc:
        raise HttpError(400, str(exc)) from None
    if data.get("paused") is True:
        sim.clock.pause()
    elif data.get("paused") is False:
        sim.clock.resume()
    return _json_response(sim.status())


@route("GET", r"/_sim/served", control=True)
def get_served(sim: Simulator, req: Request) -> Response:
    return _json_response(sorted(sim.served_ids()))


@route("DELETE", r"/_sim/served", control=True)
def delete_served(sim: Simulator, req: Request) -> Response:
    sim.reset_served()
    return _json_response([])


# --- HTTP plumbing ------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # never wait on a client's idle keep-alive connection when stopping

    def __init__(self, address: tuple[str, int], sim: Simulator):
        self.sim = sim
        self._sockets: set[socket.socket] = set()
        self._sockets_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def track(self, sock: socket.socket, open_: bool) -> None:
        with self._sockets_lock:
            (self._sockets.add if open_ else self._sockets.discard)(sock)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up (killed collectors, size caps, pooled connections) is routine here."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    def hang_up_all(self) -> None:
        """Cut open keep-alive connections so clients fail fast instead of waiting on a dead server."""
        with self._sockets_lock:
            sockets = list(self._sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "reaction-monitor-sim/0.1"
    timeout = 30  # an idle keep-alive connection releases its thread eventually
    disable_nagle_algorithm = True  # headers and body go out as separate writes; don't wait 40 ms
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        try:
            super().finish()
        except OSError:
            pass

    def do_GET(self) -> None:
        self.server.sim._dispatch(self)

    do_POST = do_DELETE = do_PUT = do_GET

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # tests and the demo run many requests; access logs would drown their output


class Simulator:
    """The local server. `with Simulator(clock=SimClock(speed=600)) as sim: httpx.get(sim.url + ...)`."""

    def __init__(
        self,
        corpus: Sequence[CorpusPost] | None = None,
        clock: SimClock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        link_origin: str | None = None,
    ):
        """`link_origin` is the origin written into served links and permalinks (default: where the
        simulator listens). A real platform's links name a public host; feedparser-rs drops links
        to loopback hosts, so the ingest benchmark names one to measure the path real feeds take.
        Paging links name it too, so only a client that never follows them can use it."""
        posts = load_corpus() if corpus is None else list(corpus)
        self.corpus: tuple[CorpusPost, ...] = tuple(sorted(posts, key=lambda p: p.offset_s))
        self.clock = clock or SimClock()
        self.host, self._port, self.link_origin = host, port, link_origin
        self._index = _Index(self.corpus)
        self._lock = threading.Lock()
        self._faults: Faults | None = None
        self._served: set[str] = set()
        self._requests = 0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> Simulator:
        if self._server is None:
            self._stopping.clear()
            self._server = _Server((self.host, self._port), self)
            self._port = self._server.server_address[1]
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"simulator:{self._port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.hang_up_all()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulator is not running; call start() first")
        return f"http://{self.host}:{self._port}"

    # state

    def set_faults(self, **kw: Any) -> Faults:
        faults = Faults(**kw)
        with self._lock:
            self._faults = faults if faults.active else None
        return faults

    def clear_faults(self) -> None:
        with self._lock:
            self._faults = None

    def served_ids(self) -> set[str]:
        with self._lock:
            return set(self._served)

    def reset_served(self) -> None:
        with self._lock:
            self._served.clear()

    def published(self) -> list[CorpusPost]:
        """Posts visible at the current sim time, oldest first."""
        return list(self.corpus[: self._index.all.published(self.clock.offset_s())])

    def feed_ids(self, post: CorpusPost) -> dict[str, str]:
        """The id each feed gives this post, as recorded in served_ids (for tests' bookkeeping)."""
        ids = {"atom": atom_id(post)}
        if post.platform == "news":
            ids["news_rss"] = post.id
        elif post.platform == "mastodon":
            ids["mastodon_rss"] = _permalink(self, self.url, post)
        elif post.platform == "reddit":
            ids["reddit_atom"] = f"t3_{self._index.reddit_id(post)}"
        return ids

    def status(self) -> dict[str, Any]:
        offset = self.clock.offset_s()
        with self._lock:
            faults = self._faults.to_json() if self._faults else None
            requests, served = self._requests, len(self._served)
        return {
            "now": iso(self.clock.epoch + timedelta(seconds=offset)),
            "epoch": iso(self.clock.epoch),
            "offset_s": round(offset, 3),
            "speed": self.clock.speed,
            "paused": self.clock.paused,
            "published": self._index.all.published(offset),
            "total": len(self.corpus),
            "span_s": SPAN_S,
            "requests": requests,
            "served_items": served,
            "faults": faults,
        }

    # request handling

    def _take_fault(self, path: str) -> Faults | None:
        with self._lock:
            faults = self._faults
            if faults is None or not faults.applies_to(path):
                return None
            if faults.skip > 0:
                faults.skip -= 1
                return None
            if faults.count is not None:
                faults.count -= 1
                if faults.count <= 0:
                    self._faults = None
            return faults

    def _dispatch(self, h: _RequestHandler) -> None:
        try:
            self._answer(h)
        except (ConnectionError, TimeoutError):
            h.close_connection = True  # the client went away; nothing to tell it

    def _answer(self, h: _RequestHandler) -> None:
        split = urlsplit(h.path)
        body = self._read_body(h)
        found = self._match(h.command, split.path)
        if isinstance(found, Response):
            return self._send(h, found, found.body)
        rt, params = found
        if rt.control:
            return self._send(h, self._run(rt, self._request(h, body, params)), None)
        with self._lock:
            self._requests += 1
        fault = self._take_fault(split.path)
        if fault is not None and fault.latency_s and self._stopping.wait(fault.latency_s):
            return
        if fault is not None and (fault.status or fault.huge_bytes or fault.invalid):
            return self._send_fault(h, fault)
        resp = self._run(rt, self._request(h, body, params))
        self._send_feed(h, resp, truncate=bool(fault and fault.truncate))

    def _request(self, h: _RequestHandler, body: bytes, params: dict[str, str]) -> Request:
        """Taken after any injected latency, so a slow answer shows the feed as of when it is sent."""
        split = urlsplit(h.path)
        return Request(
            h.command,
            split.path,
            parse_qs(split.query, keep_blank_values=True),
            {k.lower(): v for k, v in h.headers.items()},
            body,
            params,
            self.link_origin or f"http://{self.host}:{self._port}",
            self.clock.offset_s(),
        )

    def _read_body(self, h: _RequestHandler) -> bytes:
        try:
            length = int(h.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length > _MAX_CONTROL_BODY:
            h.close_connection = True  # the unread rest would be parsed as the next request
        return h.rfile.read(min(length, _MAX_CONTROL_BODY)) if length > 0 else b""

    def _match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | Response:
        allowed = []
        for rt in ROUTES:
            m = rt.pattern.fullmatch(path)
            if m:
                if rt.method == method:
                    return rt, m.groupdict()
                allowed.append(rt.method)
        if allowed:
            resp = _json_response({"error": f"method {method} not allowed"}, 405)
            resp.headers["Allow"] = ", ".join(allowed)
            return resp
        return _json_response({"error": f"no such endpoint: {path}"}, 404)

    def _run(self, rt: Route, req: Request) -> Response:
        try:
            return rt.handler(self, req)
        except HttpError as exc:
            return _json_response({"error": exc.message}, exc.status)
        except Exception as exc:  # a handler bug must answer 500, not kill the connection
            print(f"simulator: {rt.handler.__name__} failed: {exc!r}", file=sys.stderr)
            return _json_response({"error": f"internal error: {exc!r}"}, 500)

    def _send_feed(self, h: _RequestHandler, resp: Response, truncate: bool) -> None:
        if resp.cacheable and resp.status == 200:
            resp.headers["ETag"] = '"' + hashlib.sha256(resp.body).hexdigest()[:32] + '"'
            if resp.last_modified is not None:
                resp.headers["Last-Modified"] = rfc822(resp.last_modified)
            if _not_modified(h.headers, resp.headers["ETag"], resp.last_modified):
                return self._send(h, Response(status=304, headers=resp.headers), b"")
        body = resp.body[: len(resp.body) // 2] if truncate else resp.body
        if resp.status == 200:
            with self._lock:
                self._served.update(item for item, end in resp.items if end <= len(body))
        self._send(h, resp, body)

    def _send_fault(self, h: _RequestHandler, fault: Faults) -> None:
        if fault.status:
            resp = _json_response({"error": f"simulated {fault.status}"}, fault.status)
            if fault.retry_after is not None:
                resp.headers["Retry-After"] = str(math.ceil(fault.retry_after))
            return self._send(h, resp, resp.body)
        if fault.huge_bytes:
            return self._stream_junk(h, fault.huge_bytes)
        garbage = b"\x00\xff\xfeThis is not a feed <<<&&& \x1b[2J" + bytes(range(1, 32)) + b"]]>"
        self._send(h, Response(body=garbage), garbage)

    def _stream_junk(self, h: _RequestHandler, total: int) -> None:
        """An endless-looking feed with no Content-Length, so only a client-side cap stops it."""
        h.send_response(200)
        h.send_header("Content-Type", "application/xml; charset=utf-8")
        h.send_header("Connection", "close")
        h.end_headers()
        h.close_connection = True
        prefix = b'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>'
        chunk = b"junk " * 13107  # 64 KiB
        sent = 0
        first = prefix[:total]
        h.wfile.write(first)
        sent += len(first)
        while sent < total and not self._stopping.is_set():
            piece = chunk[: total - sent]
            h.wfile.write(piece)
            sent += len(piece)

    def _send(self, h: _RequestHandler, resp: Response, body: bytes | None) -> None:
        body = resp.body if body is None else body
        h.send_response(resp.status)
        if resp.status != 304:
            h.send_header("Content-Type", resp.content_type)
            h.send_header("Content-Length", str(len(body)))
        for name, value in resp.headers.items():
            h.send_header(name, value)
        h.end_headers()
        if body:
            h.wfile.write(body)


def _not_modified(
    headers: Mapping[str, str] | Message, etag: str, last_modified: datetime | None
) -> bool:
    """RFC 9110: If-None-Match wins over If-Modified-Since; weak and strong tags compare alike."""
    inm = headers.get("If-None-Match")
    if inm is not None:
        tags = [t.strip() for t in inm.split(",")]
        return "*" in tags or any(t.removeprefix("W/") == etag for t in tags)
    ims = headers.get("If-Modified-Since")
    if not ims or last_modified is None:
        return False
    try:
        since = parsedate_to_datetime(ims)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return last_modified.replace(microsecond=0) <= since


# --- CLI ----------------------------------------------------------------------------------------


def _duration_s(text: str) -> float:
    return parse_duration(text).total_seconds()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m monitor.simulator.server",
        description="Serve the bundled corpus as local platform feeds (127.0.0.1 only).",
    )
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (default 8765)")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per real second"
    )
    parser.add_argument(
        "--offset",
        type=_duration_s,
        default=0.0,
        help="start this far into the corpus, e.g. 36h (default 0)",
    )
    args = parser.parse_args(argv)
    sim = Simulator(clock=SimClock(speed=args.speed, start_offset_s=args.offset), port=args.port)
    try:
        sim.start()
    except OSError as exc:
        print(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    try:  # a signal may arrive as soon as the URL is printed: be ready for it first
        _print_banner(sim)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("\nstopping", file=sys.stderr)
    finally:
        sim.stop()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM (docker stop, a supervisor) should stop the server as cleanly as Ctrl-C does."""
    raise KeyboardInterrupt


def _print_banner(sim: Simulator) -> None:
    u = sim.url
    print(f"reaction-monitor simulator at {u}", flush=True)
    print(
        f"  {len(sim.corpus):,} posts over {SPAN_S // 3600} h, speed {sim.clock.speed:g}x, "
        f"sim now {iso(sim.clock.now())}"
    )
    print(f"  Google News RSS   {u}/rss/search?q=Trump+Putin&hl=en-US&gl=US&ceid=US:en")
    print(f"  Mastodon tag RSS  {u}/tags/TrumpPutinBusiness.rss")
    print(
        f"  Mastodon API      {u}/api/v1/timelines/tag/TrumpPutin (another instance: "
        f"{u}/instances/<name>/api/v1/...)"
    )
    print(
        f"  Bluesky search    {u}/xrpc/app.bsky.feed.searchPosts?q=%23TrumpPutin (after "
        f"POST {u}/xrpc/com.atproto.server.createSession, any handle and password)"
    )
    print(
        f"  Jetstream         {u.replace('http', 'ws', 1)}/subscribe?wantedCollections=app.bsky.feed.post"
    )
    print(f"  Reddit Atom       {u}/r/{DEFAULT_SUBREDDIT}/new/.rss")
    print(
        f"  Reddit API        {u}/r/{DEFAULT_SUBREDDIT}/new (token: POST {u}/api/v1/access_token)"
    )
    print(f"  HN Algolia        {u}/api/v1/search_by_date?query=Trump+Putin&tags=(story,comment)")
    print(f"  X recent search   {u}/2/tweets/search/recent?query=%23TrumpPutin (any Bearer token)")
    print(f"  Everything (Atom) {u}/feeds/all.atom")
    print(f"  Status            {u}/_sim/status")
    print("Press Ctrl-C to stop.", flush=True)


if __name__ == "__main__":
    # `python -m monitor.simulator.server` runs this file as __main__, a second copy of the module: run the
    # importable one, on which the endpoint families below register their routes.
    import monitor.simulator.server

    raise SystemExit(monitor.simulator.server.main())

# Endpoint families in monitor/simulator/platforms/ register their routes when imported (they import this module).
import monitor.simulator.platforms.bluesky  # noqa: E402,F401
import monitor.simulator.platforms.feeds  # noqa: E402,F401
import monitor.simulator.platforms.hackernews  # noqa: E402,F401
import monitor.simulator.platforms.jetstream  # noqa: E402,F401
import monitor.simulator.platforms.mastodon  # noqa: E402,F401
import monitor.simulator.platforms.reddit  # noqa: E402,F401
import monitor.simulator.platforms.x  # noqa: E402,F401
