"""Bluesky post search (`app.bsky.feed.searchPosts`), logged in with an app password.

Since January 2025 Bluesky answers search only for logged-in clients, so this source opens a
session (`com.atproto.server.createSession`) with a handle and an app password read from
environment variables, keeps it in memory only (tokens are secrets and the store is not a vault),
and refreshes it (`refreshSession`) shortly before the access token's `exp`; an expired or
rejected token mid-poll is refreshed or replaced once, then reported in words.

Each search is paged by the shared ledger of monitor/sources/paging.py: a range runs
`sort=latest` from `since` = the newest sortAt reached before it opened minus `overlap` (the
search index can trail a little), newest first, at most `max_pages` pages per poll; `uri`
identifies a post everywhere (it is also Jetstream's), so what the overlap repeats is dropped at
ingest. Deep offset cursors are what Bluesky blocked first and it refuses offsets past about
10,000, so a range follows the cursor only `max_cursor_depth` posts deep and then continues with
`until` = the oldest post read: a burst of any size is read whole over successive polls.
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import Field, field_validator

from monitor.core.text import sanitize
from monitor.sources import http, paging
from monitor.sources.base import (
    Batch,
    Duration,
    PollContext,
    RawPost,
    Source,
    SourceError,
    SourceSettings,
    count,
    iso_time,
    read_each,
)
from monitor.sources.mastodon import instance_base_url

__all__ = [
    "BlueskySettings",
    "BlueskySource",
    "bounded_created_at",
    "parse_time",
    "post_view_to_post",
    "record_tags",
    "web_url",
]

WEB = "https://bsky.app"


class BlueskySettings(SourceSettings):
    kind: str = "bluesky"
    service: str = "https://bsky.social"  # the PDS that logs in and proxies search to the AppView
    handle_env: str = "BLUESKY_HANDLE"
    app_password_env: str = "BLUESKY_APP_PASSWORD"
    # None: one search per hashtag and per keyword of the topics this source serves.
    queries: list[str] | None = None
    lang: str | None = None
    page_size: int = Field(default=100, ge=1, le=100)
    # per search and poll; the rest follows next poll
    max_pages: int = Field(default=5, ge=1, le=50)
    # Offsets deeper than this are not asked for: the range goes on with `until` instead.
    max_cursor_depth: int = Field(default=1000, ge=1, le=10_000)
    overlap: Duration = timedelta(minutes=2)

    @field_validator("service")
    @classmethod
    def _service(cls, value: str) -> str:
        return instance_base_url(value, example="https://bsky.social")

    @field_validator("queries")
    @classmethod
    def _queries(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not q.strip() for q in value):
            raise ValueError("a search query cannot be empty")
        return value


@dataclass
class _Session:
    handle: str
    access: str
    refresh: str
    expires: float  # UNIX seconds; refresh before this
    margin: float  # how long before `expires` to refresh


@dataclass(frozen=True, slots=True)
class _Query:
    key: str  # the name of its cursor in the state
    params: dict[str, Any]


class BlueskySource(Source):
    kind = "bluesky"
    Settings = BlueskySettings
    settings: BlueskySettings

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._session: _Session | None = None

    # --- what to search for

    def queries(self) -> list[_Query]:
        s = self.settings
        extra = {"lang": s.lang} if s.lang else {}
        if s.queries is not None:
            return [_Query(q, {"q": q, **extra}) for q in dict.fromkeys(s.queries)]
        out: dict[str, _Query] = {}
        for topic in self.topics:
            for tag in topic.hashtags:
                bare = tag.lstrip("#")
                out.setdefault(
                    f"#{bare.casefold()}",
                    _Query(f"#{bare.casefold()}", {"q": f"#{bare}", "tag": bare, **extra}),
                )
            for keyword in topic.keywords:
                key = " ".join(keyword.casefold().split())
                out.setdefault(key, _Query(key, {"q": f'"{keyword}"', **extra}))
        return list(out.values())

    # --- one poll

    def fetch(self, state: dict[str, Any], ctx: PollContext) -> Batch:
        queries = self.queries()
        if not queries:
            raise SourceError(
                f"source {self.name} has nothing to search for: give its topics hashtags or "
                "keywords, or list searches under 'queries:'"
            )
        not_before = state.get("not_before")
        if isinstance(not_before, (int, float)) and time.time() < not_before:
            # Not a failure: every search resumes from its own ranges after the reset.
            return Batch(
                posts=[],
                state=state,
                notes=[
                    f"Bluesky's rate limit is nearly used up; searching again after {_clock(not_before)} UTC"
                ],
            )
        ledger = paging.Ledger(state)
        # the cursor before the paging ledger
        for key, qstate in (state.get("queries") or {}).items():
            since = parse_time(qstate.get("since")) if isinstance(qstate, dict) else None
            if since is not None:
                ledger.newest.setdefault(key, {"at": since.isoformat()})
        ledger.mark()
        new_state: dict[str, Any] = {
            k: v for k, v in state.items() if k not in ("queries", "not_before")
        }
        reader = _SearchReader(self, {q.key: q for q in queries}, new_state)
        overlap = self.settings.overlap

        def edge_for(stream: paging.Stream, newest: dict[str, Any] | None) -> float:
            at = paging.position_time(newest)
            return at - overlap.total_seconds() if at is not None else 0.0

        streams = [paging.Stream(q.key, f"Bluesky search {q.params['q']}") for q in queries]
        out = paging.run(
            ledger,
            streams,
            reader,
            now=ctx.now,
            edge_for=edge_for,
            backfill_since=ctx.backfill_since,
            pages_per_stream=self.settings.max_pages,
        )
        out.notes[:0] = [
            f"search {q!r}: skipped {n} post(s) in an unexpected shape"
            for q, n in reader.bad.items()
        ]
        new_state = ledger.into(new_state)
        if out.error is None:
            return Batch(
                posts=out.posts, state=new_state, status=200, notes=out.notes, gaps=out.gaps
            )
        if not out.posts and not ledger.moved():
            raise out.error
        return Batch(
            posts=out.posts,
            state=new_state,
            status=out.error.status,
            notes=out.notes,
            error=out.error,
            gaps=out.gaps,
        )

    # --- XRPC with a session

    def _xrpc_get(
        self, method: str, params: dict[str, Any], new_state: dict[str, Any], *, what: str
    ) -> dict:
        for attempt in (1, 2):
            session = self._ensure_session()
            resp, body = self._request(
                "GET", method, params=params, token=session.access, what=what
            )
            self._watch_rate_limit(resp, new_state)
            if resp.status_code == 200:
                return _json_object(body, what)
            err, message = _xrpc_error(body)
            if attempt == 1 and (err == "ExpiredToken" or resp.status_code == 401):
                self._session = None if resp.status_code == 401 else self._refreshed(session)
                continue
            raise self._search_error(resp, err, message, what)
        raise AssertionError("unreachable")  # pragma: no cover

    def _ensure_session(self) -> _Session:
        session = self._session
        if session is not None and time.time() < session.expires - session.margin:
            return session
        self._session = self._refreshed(session) if session is not None else self._login()
        return self._session

    def _login(self) -> _Session:
        handle, password = self._credentials()
        resp, body = self._request(
            "POST",
            "com.atproto.server.createSession",
            json_body={"identifier": handle, "password": password},
            what="Bluesky login",
        )
        if resp.status_code != 200:
            err, message = _xrpc_error(body)
            if resp.status_code == 401:
                raise SourceError(
                    f"Bluesky rejected the app password for {handle} (401): "
                    f"{message or 'invalid identifier or password'}; check "
                    f"{self.settings.handle_env} and {self.settings.app_password_env}",
                    status=401,
                )
            if resp.status_code == 429:
                retry = _retry_after(resp)
                raise SourceError(
                    "Bluesky is rate-limiting logins (429; 30 per 5 minutes, 300 per day)",
                    status=429,
                    retry_after=retry,
                )
            raise SourceError(
                http.describe_status("Bluesky login", resp.status_code)
                + (f": {err}: {message}" if err else ""),
                status=resp.status_code,
            )
        return self._session_from(body, handle)

    def _refreshed(self, session: _Session) -> _Session:
        """A new token pair from the refresh token; a fresh login when that no longer works."""
        resp, body = self._request(
            "POST",
            "com.atproto.server.refreshSession",
            token=session.refresh,
            what="Bluesky session refresh",
        )
        if resp.status_code == 200:
            return self._session_from(body, session.handle)
        return self._login()

    def _session_from(self, body: bytes, handle: str) -> _Session:
        data = _json_object(body, "Bluesky login")
        access, refresh = data.get("accessJwt"), data.get("refreshJwt")
        if not isinstance(access, str) or not isinstance(refresh, str):
            raise SourceError("Bluesky's login answer has no session tokens")
        issued, expires = _jwt_times(access)
        lifetime = (expires - issued) if expires and issued else 7200.0
        return _Session(
            handle=handle,
            access=access,
            refresh=refresh,
            expires=expires or time.time() + 3600,
            margin=min(300.0, lifetime / 4),
        )

    def _credentials(self) -> tuple[str, str]:
        s = self.settings
        handle, password = (
            os.environ.get(s.handle_env, "").strip(),
            os.environ.get(s.app_password_env, ""),
        )
        if not handle or not password:
            missing = " and ".join(
                v for v, val in ((s.handle_env, handle), (s.app_password_env, password)) if not val
            )
            raise SourceError(
                f"Bluesky requires an account for search (since January 2025): set {missing} "
                f"({s.handle_env} = your handle, e.g. name.bsky.social; {s.app_password_env} = an app password "
                "from Settings → Privacy and security → App passwords)"
            )
        return handle.lstrip("@"), password

    def _request(
        self,
        method: str,
        nsid: str,
        *,
        what: str,
        params: dict | None = None,
        json_body: dict | None = None,
        token: str | None = None,
    ) -> tuple[httpx.Response, bytes]:
        url = f"{self.settings.service}/xrpc/{nsid}"
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            if method == "GET":
                return http.get(
                    self.http,
                    url,
                    what=what,
                    headers=headers,
                    params=params,
                    timeout=self.settings.timeout.total_seconds(),
                    ok=tuple(range(200, 600)),
                )
            # the whole request, not each read
            with http.deadline(self.settings.timeout.total_seconds()):
                resp = self.http.post(
                    url,
                    json=json_body,
                    headers=headers,
                    timeout=self.settings.timeout.total_seconds(),
                )
            return resp, resp.content
        except httpx.TransportError as exc:  # timeouts included
            raise SourceError(http.describe_transport(what, exc, url)) from None

    def _watch_rate_limit(self, resp: httpx.Response, new_state: dict[str, Any]) -> None:
        """Stop before the limit: with a small reserve left, wait for the reset (UNIX seconds)."""
        try:
            remaining = int(resp.headers["RateLimit-Remaining"])
            limit = int(resp.headers.get("RateLimit-Limit") or 3000)
            reset = float(resp.headers["RateLimit-Reset"])
        except (KeyError, ValueError):
            return
        if remaining <= max(2, limit // 50) and reset > time.time():
            new_state["not_before"] = reset

    def _search_error(
        self, resp: httpx.Response, err: str | None, message: str | None, what: str
    ) -> SourceError:
        status = resp.status_code
        detail = f": {err}{' — ' + message if message else ''}" if err else ""
        if status == 401:
            return SourceError(
                f"Bluesky rejected the session for {self._session.handle if self._session else 'us'} "
                f"(401){detail}",
                status=401,
            )
        if status == 403:
            return SourceError(
                f"Bluesky refused {what} (403){detail}; search may be closed to this address",
                status=403,
            )
        if status == 429:
            retry = _retry_after(resp)
            when = f"; retry in {retry:.0f}s" if retry is not None else ""
            return SourceError(
                f"Bluesky is rate-limiting us (429){when}", status=429, retry_after=retry
            )
        if status == 400:
            return SourceError(f"Bluesky rejected {what} (400){detail}", status=400)
        return SourceError(http.describe_status(what, status) + detail, status=status)


class _SearchReader:
    """One range's pages of a search: `since` = its edge, newest first (`sort=latest`).

    Within a range the offset `cursor` is followed only `max_cursor_depth` posts deep: Bluesky
    refuses deep offsets (about 10,000) and blocked cursors altogether at times. Past that, or
    when a cursor is refused, or when a full page comes without one, the range continues with
    `until` = the oldest sortAt read (+1 ms, `until` being exclusive), so it is always read to its
    edge. Only more than a page of posts sharing one millisecond could stop it: that is a gap.
    """

    def __init__(
        self, source: BlueskySource, queries: dict[str, _Query], new_state: dict[str, Any]
    ):
        self.source, self.queries, self.new_state = source, queries, new_state
        self.settings = source.settings
        self.bad: dict[str, int] = {}

    def page(self, rng: paging.Range) -> paging.Page:
        if "not_before" in self.new_state:
            raise paging.Pause(
                f"Bluesky's rate limit is nearly used up; the searches continue after "
                f"{_clock(self.new_state['not_before'])} UTC from where they stopped"
            )
        query = self.queries[rng.key]
        q = query.params["q"]
        edge_at = datetime.fromtimestamp(rng.edge_at, UTC)
        cont = rng.cont or {}
        params: dict[str, Any] = {
            **query.params,
            "sort": "latest",
            "since": _iso_ms(edge_at),
            "limit": self.settings.page_size,
        }
        if cont.get("until"):
            params["until"] = cont["until"]
        if cont.get("cursor"):
            params["cursor"] = cont["cursor"]
        try:
            data = self.source._xrpc_get(
                "app.bsky.feed.searchPosts", params, self.new_state, what=f"Bluesky search {q!r}"
            )
        except SourceError as exc:
            if cont.get("cursor") and exc.status in (400, 403):
                # a refused deep cursor: go on by time
                return paging.Page(posts=[], cont=_rebase(rng, cont))
            raise
        views = data.get("posts")
        if not isinstance(views, list):
            raise SourceError(f"Bluesky answered search {q!r} without a list of posts")
        posts: list[RawPost] = []
        times: list[datetime] = []

        def bad() -> None:
            self.bad[q] = self.bad.get(q, 0) + 1

        for position, (post, sort_at) in read_each(
            views,
            post_view_to_post,
            lambda i: f"search {q!r} page item {i}",
            id_key="uri",
            on_reject=bad,
        ):
            post.position = position
            if sort_at >= edge_at:
                posts.append(post)
                times.append(sort_at)
        page = paging.Page(
            posts=posts,
            newest_at=max(times) if times else None,
            oldest_at=min(times) if times else None,
        )
        if times:
            page.newest = {"at": max(times).isoformat()}
        floor = parse_time(cont.get("floor")) if "cursor" not in cont else None
        if floor is not None and not any(t < floor for t in times):
            # a page by `until` that brings nothing older than the page before: the end, unless full
            if len(views) >= self.settings.page_size:
                page.lost = (
                    edge_at,
                    floor,
                    (
                        f"Bluesky search {q}: more than {self.settings.page_size} posts share the time "
                        f"{floor:%H:%M:%S} UTC and cannot be paged through; posts from {edge_at:%H:%M} UTC to "
                        f"{floor:%H:%M:%S} UTC were out of reach"
                    ),
                )
            return page
        if not views or not times and not data.get("cursor"):
            return page
        cursor = data.get("cursor") if isinstance(data.get("cursor"), str) else None
        oldest = min(times) if times else parse_time(cont.get("floor"))
        probe = dict(cont, floor=oldest.isoformat() if oldest else cont.get("floor"))
        if cursor:
            depth = int(cont.get("depth") or 0) + len(views)
            if depth >= self.settings.max_cursor_depth:
                page.cont = _rebase(rng, probe)
            else:
                page.cont = {
                    "cursor": cursor,
                    "until": cont.get("until"),
                    "depth": depth,
                    "floor": probe["floor"],
                }
        elif len(views) >= self.settings.page_size:
            # a full page without a cursor may be a cap, not the end: check
            page.cont = _rebase(rng, probe)
        return page


def _rebase(rng: paging.Range, cont: dict[str, Any]) -> dict[str, Any]:
    """Continue below the oldest post read, by `until` (exclusive, hence one millisecond later)."""
    floor = parse_time(cont.get("floor"))
    if floor is None and rng.oldest_at is not None:
        floor = datetime.fromtimestamp(rng.oldest_at, UTC)
    if floor is None:
        return {k: v for k, v in cont.items() if k not in ("cursor", "depth")}
    return {"until": _iso_ms(floor + timedelta(milliseconds=1)), "floor": floor.isoformat()}


def _clock(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, UTC).strftime("%H:%M:%S")


# --- parsing -------------------------------------------------------------------------------------


def post_view_to_post(view: dict[str, Any]) -> tuple[RawPost, datetime]:
    """A PostView in the common shape, and its sortAt (what `since` compares with).

    Hashtags come from the tag facets and `record.tags` here; those written in the text are
    found again at normalize, since a facet is sometimes missing (the recorded socpaperbot post).
    """
    uri, record, author = view["uri"], view["record"], view.get("author") or {}
    if not isinstance(uri, str) or not uri.startswith("at://"):
        raise ValueError("a post without an at:// uri")
    text = record["text"]
    if not isinstance(text, str):
        raise ValueError("a post without text")
    indexed = parse_time(view.get("indexedAt"))
    created = parse_time(record.get("createdAt"))
    created_at = bounded_created_at(created, indexed)
    sort_at = min(created_at, indexed) if indexed else created_at
    tags = record_tags(record)
    langs = record.get("langs") or ()
    handle = author.get("handle") if isinstance(author.get("handle"), str) else None
    counts = sum(
        count(view.get(k)) for k in ("likeCount", "repostCount", "replyCount", "quoteCount")
    )
    return RawPost(
        native_id=uri,
        canonical_id=uri,
        text=text,
        created_at=created_at,
        url=web_url(uri, handle),
        author=handle or author.get("did"),
        lang=langs[0] if langs and isinstance(langs[0], str) else None,
        tags=tuple(tags),
        engagement=counts,
    ), sort_at


def record_tags(record: dict[str, Any]) -> list[str]:
    """The hashtags a post record declares: its tag facets and its `tags` field, without repeats."""
    tags = [
        f["tag"]
        for facet in record.get("facets") or ()
        if isinstance(facet, dict)
        for f in facet.get("features") or ()
        if isinstance(f, dict)
        and f.get("$type") == "app.bsky.richtext.facet#tag"
        and isinstance(f.get("tag"), str)
    ]
    tags += [t for t in record.get("tags") or () if isinstance(t, str)]
    return list(dict.fromkeys(tags))


def bounded_created_at(created: datetime | None, seen: datetime | None) -> datetime:
    """The client-declared createdAt, unless it is missing or implausible next to when the network
    saw the post (a clock far ahead, or an import of old posts): then that time instead."""
    if created is None:
        if seen is None:
            raise ValueError("a post with no time")
        return seen
    if seen is not None and not (
        seen - timedelta(days=1) <= created <= seen + timedelta(minutes=5)
    ):
        return seen
    return created


def web_url(uri: str, handle: str | None) -> str:
    """`at://did/app.bsky.feed.post/rkey` -> the bsky.app page for the post."""
    did, _, rest = uri[len("at://") :].partition("/")
    return f"{WEB}/profile/{handle or did}/post/{rest.rsplit('/', 1)[-1]}"


parse_time = iso_time  # the name jetstream.py imports


def _iso_ms(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise SourceError(
            f"{what}: the answer is not JSON (truncated or garbled, {len(body):,} bytes)"
        ) from None
    if not isinstance(data, dict):
        raise SourceError(f"{what}: expected a JSON object, got {type(data).__name__}")
    return data


def _xrpc_error(body: bytes) -> tuple[str | None, str | None]:
    """XRPC's `{"error", "message"}`, made safe to show (servers' words are untrusted)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    return (_words(data.get("error")), _words(data.get("message")))


def _words(value: Any, limit: int = 160) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = " ".join(sanitize(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _retry_after(resp: httpx.Response) -> float | None:
    retry = http.parse_retry_after(resp.headers.get("Retry-After"))
    if retry is not None:
        return retry
    try:
        return max(1.0, float(resp.headers["RateLimit-Reset"]) - time.time())
    except (KeyError, ValueError):
        return None


def _jwt_times(token: str) -> tuple[float | None, float | None]:
    """(iat, exp) read from the token itself, unverified: only to know when to refresh."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        iat, exp = claims.get("iat"), claims.get("exp")
        return (
            float(iat) if isinstance(iat, (int, float)) else None,
            float(exp) if isinstance(exp, (int, float)) else None,
        )
    except (IndexError, ValueError, TypeError, AttributeError):
        return None, None
