"""Bluesky Jetstream as the simulator serves it: the corpus's Bluesky posts as a v1 firehose.

    GET /subscribe?wantedCollections=app.bsky.feed.post&cursor=<time_us>   (on the HTTP simulator)

answers 307 with the address of a websocket server on 127.0.0.1 that this module starts for the
simulator on first use (websocket clients follow the redirect), so a config needs only the
simulator's URL. The server replays frames shaped like the recorded production ones
(docs/sources.md §2.2): `{"did", "time_us", "kind": "commit", "commit": {"rev", "operation",
"collection", "rkey", "record", "cid"}}`, plus an identity event now and then, which every
subscriber gets whatever it asked for. It honours `wantedCollections` (exact names and `prefix.*`)
and `cursor`: from that time_us when it is in the past, live tail when absent or in the future.
Events go out as the simulated clock reaches them.

For tests and the benchmark, `configure()` schedules deletes of given posts and mixes in
off-topic "noise" posts (the real firehose is overwhelmingly about something else, so a client's
cost is in what it throws away); `drop_connections()` cuts every open connection.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import weakref
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from monitor.simulator.corpus import CorpusPost
from monitor.simulator.platforms.atproto import (
    at_uri,
    cid_for,
    did_for,
    post_record,
    rkey,
    tid,
    time_us,
)
from monitor.simulator.routing import Request, Response, Route, Routes, SimulatorView

__all__ = ["JetstreamReplay", "configure", "drop_connections", "replay", "routes"]

_routes: Routes[SimulatorView] = Routes()


def routes() -> tuple[Route[SimulatorView], ...]:
    """This family's endpoints, in the order the server tries them (its `PLATFORMS` table)."""
    return tuple(_routes)


POST = "app.bsky.feed.post"
# The websockets server logs every connection at INFO; the demo and tests open hundreds.
_SERVER_LOG = logging.getLogger("monitor.simulator.platforms.jetstream.server")
_SERVER_LOG.setLevel(logging.WARNING)
_IDLE_S = 0.02  # how often a caught-up connection looks for newly published events


@dataclass(frozen=True, slots=True)
class _Event:
    time_us: int
    collection: str | None  # None: identity/account events, sent to everyone
    frame: str


class JetstreamReplay:
    """The websocket server for one simulator. Started by `replay(sim)`, stopped with the simulator."""

    def __init__(
        self,
        sim: SimulatorView,
        *,
        noise_per_post: int = 0,
        deletes: dict[str, float] | None = None,
    ):
        self.sim = sim
        self.events = build_events(sim, noise_per_post=noise_per_post, deletes=deletes or {})
        self.times = [e.time_us for e in self.events]
        self.connections = 0
        self.cursors: list[int | None] = []  # the cursor each connection asked for, in order
        self._lock = threading.Lock()
        self._server: Server | None = None
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2] if self._server else ("127.0.0.1", 0)
        return f"ws://{host}:{port}/subscribe"

    def start(self) -> JetstreamReplay:
        self._server = serve(
            self._handle, "127.0.0.1", 0, compression=None, max_size=2**16, logger=_SERVER_LOG
        )
        threading.Thread(
            target=self._server.serve_forever, name="jetstream-replay", daemon=True
        ).start()
        threading.Thread(target=self._watch, name="jetstream-replay-watch", daemon=True).start()
        return self

    def stop(self) -> None:
        if not self._stopped.is_set():
            self._stopped.set()
            if self._server is not None:
                self._server.shutdown()

    def drop_connections(self) -> None:
        if self._server is not None:
            for conn in self._server.connections:
                conn.close(1011, "simulated drop")

    def _watch(self) -> None:
        """Go down with the simulator: `sim.url` raises once it has stopped."""
        while not self._stopped.wait(0.2):
            try:
                _ = self.sim.url
            except RuntimeError:
                self.stop()

    def _handle(self, ws: ServerConnection) -> None:
        query = parse_qs(urlsplit(ws.request.path if ws.request else "").query)
        wanted = query.get("wantedCollections", [])
        cursor = _int(query.get("cursor", [""])[0])
        with self._lock:
            self.connections += 1
            self.cursors.append(cursor)
        now = self._now_us()
        i = (
            bisect_left(self.times, cursor)
            if cursor is not None and cursor <= now
            else bisect_right(self.times, now)
        )
        try:
            while not self._stopped.is_set():
                end = bisect_right(self.times, self._now_us())
                for event in self.events[i:end]:
                    if event.collection is None or _wanted(wanted, event.collection):
                        ws.send(event.frame)
                i = end
                try:
                    ws.recv(timeout=_IDLE_S)  # options_update messages are accepted and ignored
                except TimeoutError:
                    pass
        except ConnectionClosed:
            pass

    def _now_us(self) -> int:
        return int(self.sim.clock.now().timestamp() * 1_000_000)


def _int(raw: str) -> int | None:
    return int(raw) if raw.isdigit() else None


def _wanted(wanted: list[str], collection: str) -> bool:
    if not wanted:
        return True
    return any(
        w == collection or (w.endswith(".*") and collection.startswith(w[:-1])) for w in wanted
    )


# --- the event list ------------------------------------------------------------------------------


def build_events(
    sim: SimulatorView, *, noise_per_post: int = 0, deletes: dict[str, float]
) -> list[_Event]:
    """Every frame this simulator will ever send, in time order, serialized once."""
    epoch = sim.clock.epoch
    seq = sim.index.seq
    rng = random.Random(20250214)
    posts = [p for p in sim.corpus if p.platform == "bluesky"]
    events: list[_Event] = []
    for n, post in enumerate(posts):
        s = seq[post.id]
        t = time_us(post, s, epoch)
        events.append(
            _Event(
                t,
                POST,
                _create_frame(
                    did_for(post.author),
                    t,
                    rkey(post, s, epoch),
                    post_record(post, s, epoch),
                    cid_for(post.id),
                ),
            )
        )
        if n % 50 == 0:
            events.append(_Event(t + 1, None, _identity_frame(post.author, t + 1, n)))
        if post.id in deletes:
            events.append(_delete_event(post, s, epoch, t + int(deletes[post.id] * 1_000_000)))
        gap = (
            (time_us(posts[n + 1], seq[posts[n + 1].id], epoch) - t)
            if n + 1 < len(posts)
            else 60_000_000
        )
        for k in range(noise_per_post):
            events.append(_noise_event(rng, t + max(1, gap * (k + 1) // (noise_per_post + 1))))
    events.sort(key=lambda e: e.time_us)
    return events


def _create_frame(did: str, t: int, key: str, record: dict[str, Any], cid: str) -> str:
    return _dumps(
        {
            "did": did,
            "time_us": t,
            "kind": "commit",
            "commit": {
                "rev": tid(t, 7),
                "operation": "create",
                "collection": POST,
                "rkey": key,
                "record": record,
                "cid": cid,
            },
        }
    )


def _delete_event(post: CorpusPost, seq: int, epoch: datetime, t: int) -> _Event:
    uri = at_uri(post, seq, epoch)
    frame = _dumps(
        {
            "did": did_for(post.author),
            "time_us": t,
            "kind": "commit",
            "commit": {
                "rev": tid(t, 9),
                "operation": "delete",
                "collection": POST,
                "rkey": uri.rsplit("/", 1)[1],
            },
        }
    )
    return _Event(t, POST, frame)


def _identity_frame(handle: str, t: int, seq: int) -> str:
    return _dumps(
        {
            "did": did_for(handle),
            "time_us": t,
            "kind": "identity",
            "identity": {
                "did": did_for(handle),
                "handle": handle,
                "seq": 9_000_000 + seq,
                "time": _iso_us(t),
            },
        }
    )


def _iso_us(t: int) -> str:
    return datetime.fromtimestamp(t / 1e6, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _dumps(obj: Any) -> str:
    """Compact and raw UTF-8, as Jetstream's Go encoder writes it."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


# Off-topic chatter for the noise mix, written for this project. About one in fifty noise posts is
# a near miss: it shares a word with the story's keywords, so the client must look closer.
_SUBJECTS = [
    "my cat",
    "the garden",
    "this sourdough",
    "our hiking trip",
    "the new album",
    "the night sky",
    "grandma's recipe",
    "the local library",
    "my first marathon",
    "the rain",
    "this old camera",
    "the ferry ride",
    "our band practice",
    "the tomato plants",
    "a tiny robot",
]
_VERBS = [
    "made my whole day",
    "is finally done",
    "looks amazing today",
    "needs a better name",
    "surprised everyone",
    "took forever",
    "is the best thing this week",
    "did not go to plan",
]
_TAILS = [
    "",
    " 🌱",
    " #photography",
    " #art",
    " anyone else?",
    " (photos soon)",
    " #caturday",
    " 10/10",
]
_NEAR_MISS = [
    "Small business saturday: support the bakery on the corner",
    "Trade school applications close Friday",
    "The deal on winter tyres ends tonight",
]
_LANGS = ["en", "en", "en", "ja", "pt", "de", "es", "ko"]


def _noise_event(rng: random.Random, t: int) -> _Event:
    did = f"did:plc:{rng.getrandbits(96):024x}"
    if rng.random() < 0.02:
        text = rng.choice(_NEAR_MISS)
    else:
        text = f"{rng.choice(_SUBJECTS).capitalize()} {rng.choice(_VERBS)}{rng.choice(_TAILS)}"
    record: dict[str, Any] = {
        "$type": POST,
        "createdAt": _iso_us(t)[:-4] + "Z",
        "langs": [rng.choice(_LANGS)],
        "text": text,
    }
    if rng.random() < 0.4:  # replies carry two strong refs, as most real posts do
        parent = f"at://did:plc:{rng.getrandbits(100):025x}/app.bsky.feed.post/{tid(t - 10**8, 3)}"
        ref = {"cid": cid_for(parent), "uri": parent}
        record["reply"] = {"parent": ref, "root": ref}
    key = tid(t, rng.getrandbits(10))
    return _Event(t, POST, _create_frame(did, t, key, record, cid_for(key)))


# --- per-simulator registry and the HTTP entry point ---------------------------------------------

_REPLAYS: weakref.WeakKeyDictionary[SimulatorView, JetstreamReplay] = weakref.WeakKeyDictionary()
_OPTIONS: weakref.WeakKeyDictionary[SimulatorView, dict[str, Any]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def replay(sim: SimulatorView) -> JetstreamReplay:
    """The simulator's running replay server, started on first use (or after a stop)."""
    with _LOCK:
        current = _REPLAYS.get(sim)
        if current is None or current._stopped.is_set():
            current = _REPLAYS[sim] = JetstreamReplay(sim, **_OPTIONS.get(sim, {})).start()
        return current


def configure(
    sim: SimulatorView, *, noise_per_post: int = 0, deletes: dict[str, float] | None = None
) -> None:
    """Options for the next replay server; a running one is stopped (its clients reconnect)."""
    with _LOCK:
        _OPTIONS[sim] = {"noise_per_post": noise_per_post, "deletes": dict(deletes or {})}
        current = _REPLAYS.pop(sim, None)
    if current is not None:
        current.stop()


def drop_connections(sim: SimulatorView) -> None:
    with _LOCK:
        current = _REPLAYS.get(sim)
    if current is not None:
        current.drop_connections()


@_routes.add("GET", r"/subscribe")
def subscribe(sim: SimulatorView, req: Request) -> Response:
    target = replay(sim).url
    query = urlencode([(k, v) for k, values in req.query.items() for v in values])
    return Response(
        status=307,
        body=b"",
        content_type="text/plain; charset=utf-8",
        headers={"Location": f"{target}?{query}" if query else target},
    )
