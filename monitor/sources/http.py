"""HTTP shared by every polled source: one client, a size cap, and failures put into words.

Each platform module decides what a status means for it (Bluesky's 401 is "rejected the app
password"); this module only turns transport-level trouble into a SourceError a person can read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from monitor.sources.base import USER_AGENT, SourceError

DEFAULT_MAX_BYTES = 10_000_000


def make_client(timeout: float = 20.0) -> httpx.Client:
    return httpx.Client(
        headers={"User-Agent": USER_AGENT},
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        follow_redirects=True,
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
    )


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After is either seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


RATE_RESERVE = 2  # requests kept back in a rate window, so a manual `monitor poll` still works


@dataclass(slots=True)
class RateBudget:
    """What a platform's last answer said about its rate window; each source reads its own
    headers (their names and units differ) and hands the numbers to `set`."""

    remaining: float | None = None
    reset_at: datetime | None = None

    def set(self, remaining: float, reset_at: datetime) -> None:
        self.remaining, self.reset_at = remaining, reset_at

    def low(self, now: datetime) -> bool:
        """So few requests left that the source waits for the reset instead of spending them."""
        return (self.remaining is not None and self.remaining <= RATE_RESERVE
                and self.reset_at is not None and now < self.reset_at)

    def wait_s(self, now: datetime | None = None) -> float | None:
        if self.reset_at is None:
            return None
        return max(0.0, (self.reset_at - (now or datetime.now(timezone.utc))).total_seconds())

    # The window outlives the process: a collector restarted near the limit must not spend the
    # last requests (and meet a 429) before its first answer tells it the window again. So the
    # budget travels in the source's stored state, saved with the poll that read it.
    def restore(self, state: dict[str, Any]) -> None:
        saved = state.get("rate")
        if self.reset_at is not None or not isinstance(saved, dict):
            return
        try:
            remaining, reset_at = float(saved["remaining"]), datetime.fromisoformat(saved["reset_at"])
        except (KeyError, TypeError, ValueError):
            return  # a state written by hand or by an older version: the next answer will say
        if reset_at.tzinfo is not None:
            self.set(remaining, reset_at)

    def into(self, batch: Any) -> Any:
        """`batch` with this budget in the state it saves."""
        if self.remaining is not None and self.reset_at is not None:
            batch.state = {**batch.state, "rate": {"remaining": self.remaining, "reset_at": self.reset_at.isoformat()}}
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


_DNS = ("name or service not known", "nodename nor servname", "temporary failure in name resolution",
        "no address associated", "getaddrinfo failed", "name resolution", "[errno -2]", "[errno -3]",
        "[errno -5]", "[errno 11001]", "[errno 8]")


def describe_transport(what: str, exc: httpx.TransportError, url: str | httpx.URL | None = None) -> str:
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
    chain, cause = [], exc.__cause__ or exc.__context__
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
        port = target.port if target is not None and target.port else ("443" if target is not None and
                                                                       target.scheme == "https" else "80")
        return f"{host} refused the connection on port {port}: nothing listens there (server down?)"
    if "certificate" in detail or "ssl" in detail or "tls" in detail:
        reason = "its certificate is not trusted" if "certificate" in detail else "the TLS handshake failed"
        return f"no secure connection to {host}: {reason}"
    if "unreachable" in detail or "[errno 101]" in detail or "[errno 113]" in detail:
        return f"cannot reach {host}: the network is unreachable — is this machine offline?"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return f"{host} closed the connection before answering"
    return f"could not reach {what} ({type(exc).__name__})"


def get(client: httpx.Client, url: str, *, what: str, headers: dict[str, str] | None = None,
        params: dict | None = None, max_bytes: int = DEFAULT_MAX_BYTES, timeout: float | None = None,
        ok: tuple[int, ...] = (200, 304)) -> tuple[httpx.Response, bytes]:
    """GET with a hard size cap; raises SourceError in words for anything but the `ok` statuses."""
    try:
        kwargs = {"timeout": timeout} if timeout is not None else {}
        with client.stream("GET", url, headers=headers, params=params, **kwargs) as resp:
            if resp.status_code not in ok:
                retry = parse_retry_after(resp.headers.get("Retry-After"))
                msg = describe_status(what, resp.status_code)
                if retry is not None:
                    msg += f"; asked to retry in {retry:.0f}s"
                raise SourceError(msg, status=resp.status_code, retry_after=retry)
            declared = resp.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise SourceError(f"{what} sent {int(declared):,} bytes, over the {max_bytes:,}-byte cap",
                                  status=resp.status_code)
            chunks, size = [], 0
            for chunk in resp.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise SourceError(f"{what} sent more than the {max_bytes:,}-byte cap; response dropped",
                                      status=resp.status_code)
                chunks.append(chunk)
            return resp, b"".join(chunks)
    except httpx.TransportError as exc:  # timeouts included
        raise SourceError(describe_transport(what, exc, url)) from None
