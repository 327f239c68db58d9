"""HTTP shared by every polled source: one client, a size cap, a deadline, vetted redirects, and
failures put into words.

Each platform module decides what a status means for it (Bluesky's 401 is "rejected the app
password"); this module only turns transport-level trouble into a SourceError a person can read.

Two things a hostile or broken server must not do to a collector:

* hold a poll: httpx's timeout bounds each read, so a server trickling a byte every 2 s never
  trips a 5 s timeout. `get` gives the whole request (connect, headers, body, redirects) one
  deadline, enforced on every socket read by a thin wrapper around httpcore's network backend.
* send it elsewhere: redirects are followed here, one hop at a time, only to http(s), and only
  to the host the source asked (whatever its address: the operator configured it), to a host
  whose every address is public, or to a host the source's `redirect_hosts` allows. A redirect
  to 169.254.169.254 (cloud metadata), loopback or a private network is refused, in words.
"""

from __future__ import annotations

import ipaddress
import math
import socket
import time
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpcore
import httpx

from monitor.core.http import USER_AGENT, parse_retry_after
from monitor.sources.base import SourceError

DEFAULT_MAX_BYTES = 10_000_000
MAX_REDIRECTS = 5

# When the request under way must be done (time.monotonic()); None: no deadline.
_deadline: ContextVar[float | None] = ContextVar("http_deadline", default=None)
# Hosts (or host:port) a redirect may lead to although they are not public: the source's config.
_redirect_hosts: ContextVar[frozenset[str]] = ContextVar("http_redirect_hosts", default=frozenset())


class _DeadlineExceeded(httpcore.ReadTimeout):
    """The whole request ran out of time (not one slow read)."""


class _Aborted(httpcore.ReadError):
    """The client was aborted: its process is stopping."""


def _clip(timeout: float | None) -> float | None:
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise _DeadlineExceeded("the request's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read and write waits at most until the request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream):
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clip(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clip(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _clip(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend):
        self._inner = inner
        self._streams: weakref.WeakSet[httpcore.NetworkStream] = weakref.WeakSet()
        self.aborted = False

    def _track(self, stream: httpcore.NetworkStream) -> httpcore.NetworkStream:
        if self.aborted:
            stream.close()
            raise _Aborted("the collector is stopping")
        self._streams.add(stream)
        return _DeadlineStream(stream)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        return self._track(
            self._inner.connect_tcp(host, port, _clip(timeout), local_address, socket_options)
        )

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        return self._track(self._inner.connect_unix_socket(path, _clip(timeout), socket_options))

    def abort(self) -> None:
        """End every request under way now: shutting a socket down wakes a thread blocked reading it."""
        self.aborted = True
        for stream in list(self._streams):
            sock = stream.get_extra_info("socket")
            try:
                if sock is not None:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _install_deadline(client: httpx.Client) -> None:
    """Wrap the network backend of `client`'s default transport (idempotent). httpx has no
    option for it; where its internals differ the per-chunk check in `get` still bounds a body."""
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if backend is not None and not isinstance(backend, _DeadlineBackend):
        pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]


def abort(client: httpx.Client) -> None:
    """Make every request of `client` under way (and any later one) fail at once: a stopping
    collector must not wait for a slow server to finish sending."""
    backend = getattr(
        getattr(getattr(client, "_transport", None), "_pool", None), "_network_backend", None
    )
    if isinstance(backend, _DeadlineBackend):
        backend.abort()


def make_client(timeout: float = 20.0) -> httpx.Client:
    client = httpx.Client(
        headers={"User-Agent": USER_AGENT},
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        follow_redirects=False,  # `get` follows them itself, after checking where they lead
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
    )
    _install_deadline(client)
    return client


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every request made inside (also `client.post`) ends within `seconds` from now in all."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


@contextmanager
def redirect_policy(hosts: Iterable[str]) -> Iterator[None]:
    """Let redirects inside lead to these hosts (`host` or `host:port`) even when not public."""
    token = _redirect_hosts.set(frozenset(h.strip().lower() for h in hosts if h and h.strip()))
    try:
        yield
    finally:
        _redirect_hosts.reset(token)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _port(url: httpx.URL) -> int:
    return url.port or _DEFAULT_PORTS.get(url.scheme, 0)


def _why_not_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified:
        return f"{ip} is not a public address (it reaches this machine)"
    if ip.is_loopback:
        return f"{ip} is this machine (loopback)"
    if ip.is_link_local:
        return f"{ip} is a link-local address" + (
            " (cloud metadata)"
            if str(ip).startswith("169.254.169.254") or str(ip) == "fd00:ec2::254"
            else ""
        )
    if ip.is_private:
        return f"{ip} is a private-network address"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified or not ip.is_global:
        return f"{ip} is not a public address"
    return None


def check_redirect(
    origin: httpx.URL, target: httpx.URL, allowed: frozenset[str] = frozenset()
) -> str | None:
    """None when a redirect from a request for `origin` to `target` may be followed, else why not."""
    if target.scheme not in ("http", "https"):
        return f"only http and https are followed, not {target.scheme or 'a relative'} URL"
    host = (target.host or "").lower().rstrip(".")
    if not host:
        return "the redirect names no host"
    same_host = host == (origin.host or "").lower().rstrip(".")
    if same_host and (_port(target) == _port(origin) or target.port is None):
        return None  # the host the source was configured with (an http -> https upgrade included)
    if host in allowed or f"{host}:{_port(target)}" in allowed:
        return None
    try:
        addresses = [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, _port(target), proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError) as exc:
            return f"{host} cannot be resolved ({exc})"
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    for ip in addresses:
        why = _why_not_public(ip)
        if why is not None:
            return why + "; list the host in the source's redirect_hosts to allow it"
    return None


RATE_RESERVE = 2  # requests kept back in a rate window, so a manual `monitor poll` still works


@dataclass(slots=True)
class RateBudget:
    """What a platform's last answer said about its rate window; each source reads its own
    headers (their names and units differ) and hands the numbers to `set`."""

    remaining: float | None = None
    reset_at: datetime | None = None
    retry_after: float | None = None  # the last answer's Retry-After, if it sent one
    fresh: bool = False  # the last answer itself told the window (not a saved or earlier one)

    def set(self, remaining: float, reset_at: datetime) -> None:
        self.remaining, self.reset_at, self.fresh = remaining, reset_at, True

    def heard(self, headers: Any) -> None:
        """Called with every answer's headers before its rate headers are read."""
        self.fresh = False
        self.retry_after = parse_retry_after(headers.get("Retry-After"))

    def limited(self, now: datetime | None = None) -> float | None:
        """Seconds to wait after a 429. The server's Retry-After wins; else the window this very
        answer told. A window saved from earlier with requests to spare says nothing about this
        429 (it waited 15 minutes with 439 requests left): then None, the ordinary backoff."""
        now = now or datetime.now(UTC)
        if self.retry_after is not None:
            self.set(0, now + timedelta(seconds=min(self.retry_after, 86400)))
            return self.retry_after
        if self.fresh or (self.remaining is not None and self.remaining <= RATE_RESERVE):
            return self.wait_s(now)
        return None

    def low(self, now: datetime) -> bool:
        """So few requests left that the source waits for the reset instead of spending them."""
        return (
            self.remaining is not None
            and self.remaining <= RATE_RESERVE
            and self.reset_at is not None
            and now < self.reset_at
        )

    def wait_s(self, now: datetime | None = None) -> float | None:
        if self.reset_at is None:
            return None
        return max(0.0, (self.reset_at - (now or datetime.now(UTC))).total_seconds())

    # The window outlives the process: a collector restarted near the limit must not spend the
    # last requests (and meet a 429) before its first answer tells it the window again. So the
    # budget travels in the source's stored state, saved with the poll that read it.
    def restore(self, state: dict[str, Any]) -> None:
        saved = state.get("rate")
        if self.reset_at is not None or not isinstance(saved, dict):
            return
        try:
            remaining, reset_at = (
                float(saved["remaining"]),
                datetime.fromisoformat(saved["reset_at"]),
            )
        except (KeyError, TypeError, ValueError):
            return  # a state written by hand or by an older version: the next answer will say
        if reset_at.tzinfo is not None:
            self.set(remaining, reset_at)

    def into(self, batch: Any) -> Any:
        """`batch` with this budget in the state it saves."""
        if self.remaining is not None and self.reset_at is not None:
            batch.state = {
                **batch.state,
                "rate": {"remaining": self.remaining, "reset_at": self.reset_at.isoformat()},
            }
        return batch


def describe_status(what: str, status: int) -> str:
    if status == 401:
        return f"{what} rejected the credentials (401)"
    if status == 403:
        return f"{what} refused access (403)"
    if status == 404:
        return f"{what} was not found (404)"
    if status == 410:
        return f"{what} is gone (410)"
    if status == 429:
        return f"{what} is rate-limiting us (429)"
    if 500 <= status < 600:
        return f"{what} had a server error ({status})"
    return f"{what} answered HTTP {status}"


_DNS = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "no address associated",
    "getaddrinfo failed",
    "name resolution",
    "[errno -2]",
    "[errno -3]",
    "[errno -5]",
    "[errno 11001]",
    "[errno 8]",
)


def describe_transport(
    what: str, exc: httpx.TransportError, url: str | httpx.URL | None = None
) -> str:
    """A failed request in words a person can act on, not an exception's name.

    "cannot resolve news.google.com — is this machine offline?" instead of `ConnectError: [Errno
    -2] Name or service not known`; the same for a refused connection, a timeout and TLS.
    """
    if url is None:
        try:
            url = exc.request.url
        except RuntimeError:  # an exception raised without a request attached
            url = None
    target = httpx.URL(str(url)) if url is not None else None
    host = target.host if target is not None and target.host else what
    chain: list[BaseException] = []
    cause = exc.__cause__ or exc.__context__
    while cause is not None and len(chain) < 5:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    detail = " ".join(str(e) for e in (exc, *chain)).lower()
    if isinstance(exc, httpx.TimeoutException):
        if isinstance(exc, httpx.ConnectTimeout):
            return f"no connection to {host} in time (timeout): the server or the network is down or slow"
        return f"{what} did not answer in time (timeout)"
    if any(m in detail for m in _DNS):
        return f"cannot resolve {host} — is this machine offline?"
    if "refused" in detail or "[errno 111]" in detail or "[errno 61]" in detail:
        port = (
            target.port
            if target is not None and target.port
            else ("443" if target is not None and target.scheme == "https" else "80")
        )
        return f"{host} refused the connection on port {port}: nothing listens there (server down?)"
    if "certificate" in detail or "ssl" in detail or "tls" in detail:
        reason = (
            "its certificate is not trusted"
            if "certificate" in detail
            else "the TLS handshake failed"
        )
        return f"no secure connection to {host}: {reason}"
    if "unreachable" in detail or "[errno 101]" in detail or "[errno 113]" in detail:
        return f"cannot reach {host}: the network is unreachable — is this machine offline?"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return f"{host} closed the connection before answering"
    return f"could not reach {what} ({type(exc).__name__})"


_REDIRECTS = (301, 302, 303, 307, 308)


def get(
    client: httpx.Client,
    url: str,
    *,
    what: str,
    headers: dict[str, str] | None = None,
    params: dict | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float | None = None,
    ok: tuple[int, ...] = (200, 304),
) -> tuple[httpx.Response, bytes]:
    """GET with a hard size cap, one deadline for the whole request (`timeout`, else the client's
    read timeout) and checked redirects; raises SourceError in words for anything but `ok`."""
    _install_deadline(client)
    budget = timeout if timeout is not None else (client.timeout.read or 20.0)
    if not math.isfinite(budget) or budget <= 0:
        budget = 20.0
    outer = _deadline.get()
    ends = time.monotonic() + budget
    token = _deadline.set(ends if outer is None else min(outer, ends))
    try:
        return _get(
            client,
            url,
            what=what,
            headers=dict(headers or {}),
            params=params,
            max_bytes=max_bytes,
            timeout=timeout,
            ok=ok,
        )
    except (httpx.TransportError, _Aborted) as exc:
        if isinstance(exc, _Aborted) or _aborted(client):
            raise SourceError(f"{what}: request cut short, the collector is stopping") from None
        if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
            raise SourceError(
                f"{what} did not answer in time (timeout): no complete response within {budget:g}s"
            ) from None
        raise SourceError(describe_transport(what, exc, url)) from None
    except _DeadlineExceeded:
        raise SourceError(
            f"{what} did not answer in time (timeout): no complete response within {budget:g}s"
        ) from None
    finally:
        _deadline.reset(token)


def _aborted(client: httpx.Client) -> bool:
    backend = getattr(
        getattr(getattr(client, "_transport", None), "_pool", None), "_network_backend", None
    )
    return isinstance(backend, _DeadlineBackend) and backend.aborted


def _get(
    client: httpx.Client,
    url: str,
    *,
    what: str,
    headers: dict[str, str],
    params: dict | None,
    max_bytes: int,
    timeout: float | None,
    ok: tuple[int, ...],
) -> tuple[httpx.Response, bytes]:
    kwargs: dict[str, Any] = {"timeout": timeout} if timeout is not None else {}
    origin = client.build_request("GET", url, params=params).url
    current: httpx.URL | str = url
    for _hop in range(MAX_REDIRECTS + 1):
        with client.stream(
            "GET", current, headers=headers, params=params, follow_redirects=False, **kwargs
        ) as resp:
            location = resp.headers.get("Location")
            if resp.status_code in _REDIRECTS and location and resp.status_code not in ok:
                try:
                    target = resp.url.join(location)
                except (httpx.InvalidURL, ValueError) as exc:
                    raise SourceError(
                        f"{what} redirected to an unusable address ({exc})", status=resp.status_code
                    ) from None
                why = check_redirect(origin, target, _redirect_hosts.get())
                if why is not None:
                    raise SourceError(
                        f"{what} redirected to {_show(target)}; not followed: {why}",
                        status=resp.status_code,
                    )
                if (target.host, _port(target)) != (resp.url.host, _port(resp.url)):
                    # credentials are for the host they were configured for, never for where it points
                    headers = {
                        k: v
                        for k, v in headers.items()
                        if k.lower() not in ("authorization", "cookie")
                    }
                current, params = target, None
                continue
            return _read(resp, what=what, max_bytes=max_bytes, ok=ok)
    raise SourceError(f"{what} redirected more than {MAX_REDIRECTS} times; gave up")


def _show(url: httpx.URL) -> str:
    """A URL for a message: no credentials or query (which can hold tokens), at most 200 characters."""
    shown = f"{url.scheme}://{url.host}{':' + str(url.port) if url.port else ''}{url.path}"
    return shown[:200]


def _read(
    resp: httpx.Response, *, what: str, max_bytes: int, ok: tuple[int, ...]
) -> tuple[httpx.Response, bytes]:
    if resp.status_code not in ok:
        retry = parse_retry_after(resp.headers.get("Retry-After"))
        msg = describe_status(what, resp.status_code)
        if retry is not None:
            msg += f"; asked to retry in {retry:.0f}s"
        raise SourceError(msg, status=resp.status_code, retry_after=retry)
    declared = resp.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise SourceError(
            f"{what} sent {int(declared):,} bytes, over the {max_bytes:,}-byte cap",
            status=resp.status_code,
        )
    chunks, size = [], 0
    for chunk in resp.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise SourceError(
                f"{what} sent more than the {max_bytes:,}-byte cap; response dropped",
                status=resp.status_code,
            )
        chunks.append(chunk)
        _clip(None)  # a body trickled in small chunks ends at the deadline as well
    return resp, b"".join(chunks)
