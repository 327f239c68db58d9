"""The simulator's routing vocabulary: what a handler receives, returns and registers with.

Endpoint families (`monitor/simulator/platforms/`) and the server both speak it, and it imports
neither (an import-linter contract): a platform module lists its routes with its own `Routes`
table and hands them over through `routes()`; the server builds its route table from the modules
it names in `PLATFORMS`. `SimulatorView` is what a handler may use of the simulator, so a family
can be read, typed and tested without the server's lifecycle, faults and HTTP plumbing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from monitor.simulator.corpus import CorpusPost
from monitor.simulator.index import PostIndex

__all__ = [
    "Handler",
    "HttpError",
    "Platform",
    "Request",
    "Response",
    "Route",
    "Routes",
    "SimClockView",
    "SimulatorView",
    "api_json",
    "json_response",
]


class SimClockView(Protocol):
    """What a family reads of the simulated clock (the server's `SimClock` is one)."""

    @property
    def epoch(self) -> datetime: ...

    def offset_s(self) -> float: ...

    def now(self) -> datetime: ...


class SimulatorView(Protocol):
    """What a family may use of the simulator it serves (the server's `Simulator` is one).

    Families keep per-simulator state keyed by this object (`platforms.per_simulator`), so it is
    hashable by identity, as the server's instances are.
    """

    @property
    def clock(self) -> SimClockView: ...

    @property
    def corpus(self) -> tuple[CorpusPost, ...]:
        """Every post, oldest first (a post's place here is its `index.seq`)."""
        ...

    @property
    def index(self) -> PostIndex: ...

    @property
    def url(self) -> str:
        """Where the simulator listens; raises RuntimeError once it has stopped."""
        ...


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


def json_response(data: Any, status: int = 200) -> Response:
    """The control endpoints' JSON, indented for a person reading `/_sim/status`."""
    body = json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")
    return Response(status=status, body=body, content_type="application/json; charset=utf-8")


def api_json(
    data: Any,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    content_type: str = "application/json; charset=utf-8",
) -> Response:
    """A platform API's JSON, compact as the real APIs send it; `headers` are copied, so a
    caller's dict of rate-limit headers can be reused."""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(
        status=status, body=body, content_type=content_type, headers=dict(headers or {})
    )


S = TypeVar("S", bound=SimulatorView, contravariant=True)

Handler = Callable[[S, Request], Response]
"""An endpoint's code: the simulator it serves and the request, to the answer."""


@dataclass(frozen=True)
class Route(Generic[S]):
    """One endpoint: `method` and a full-match path regex whose named groups become `params`.

    `control` routes (the server's own `/_sim/...`) are never faulted nor counted as served.
    Generic in the simulator type, so the server's control handlers may take the whole `Simulator`
    while a family's take only a `SimulatorView`, and both fit one route table.
    """

    method: str
    pattern: re.Pattern[str]
    handler: Handler[S]
    control: bool = False


class Routes(Generic[S]):
    """A module's route table, filled in definition order by its `add` decorator.

    Order matters: the server tries routes in turn, and a path matched under other methods
    answers 405 with those methods, in this order, in `Allow`.
    """

    def __init__(self) -> None:
        self._routes: list[Route[S]] = []

    def add(
        self, method: str, path: str, *, control: bool = False
    ) -> Callable[[Handler[S]], Handler[S]]:
        """Register the decorated handler for `method` and the full-match path regex `path`."""

        def register(handler: Handler[S]) -> Handler[S]:
            self._routes.append(Route(method, re.compile(path), handler, control))
            return handler

        return register

    def __iter__(self) -> Iterator[Route[S]]:
        return iter(tuple(self._routes))

    def __len__(self) -> int:
        return len(self._routes)


class Platform(Protocol):
    """An endpoint family as the server's `PLATFORMS` names it: a module with a `routes()`."""

    def routes(self) -> Sequence[Route[SimulatorView]]: ...
