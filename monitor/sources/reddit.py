"""Reddit through its OAuth API: search (site-wide or in subreddits) or a subreddit's `new` listing.

Application-only OAuth: the client id and secret (named by `client_id_env` / `client_secret_env`)
buy a bearer token at `/api/v1/access_token`, kept in memory until shortly before it expires and
never written to the store. Every request carries a descriptive User-Agent, as Reddit's API rules
require (generic ones are throttled hard), and the `X-Ratelimit-*` headers are obeyed: when the
window is nearly used up the source stops asking until it resets.

Without credentials configured the source reads the subreddit's public Atom feed through the RSS
source instead, and says so once (Reddit requires OAuth for its API since 2023 and may close the
feeds too; the feed has no scores or comment counts).

Paging (see `RedditSource._fetch` and monitor/sources/paging.py): `sort=new` listings read newest
first with `after=<fullname>`, a ledger of pending ranges in the state, and Reddit's 1,000-item
listing cap recorded as a collection gap when a range sinks below it.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import httpx
from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from monitor import __version__
from monitor.core.text import sanitize, split_camel
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
    epoch_time,
    read_each,
    reject,
)
from monitor.sources.rss import RssSettings, RssSource

__all__ = ["RedditSettings", "RedditSource", "build_query", "thing_to_post"]

MAX_QUERY = 512  # Reddit's limit on the search `q` parameter
_ANY_STATUS = tuple(range(100, 600))
_TOKEN_MARGIN_S = 60.0  # renew this long before the token expires
_SUBREDDIT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]{1,20}")


def _subreddit(value: str) -> str:
    name = value.strip().removeprefix("/").removeprefix("r/").removesuffix("/")
    if not _SUBREDDIT.fullmatch(name):
        raise ValueError(
            f"{value!r} is not a subreddit name (2-21 letters, digits or '_', e.g. worldnews)"
        )
    return name


Subreddit = Annotated[str, AfterValidator(_subreddit)]


class RedditSettings(SourceSettings):
    subreddits: list[Subreddit] = []  # empty: search all of Reddit
    listing: Literal["search", "new"] = (
        "search"  # new: every post of the subreddits, topics matched here
    )
    query: str | None = Field(default=None, min_length=1)  # None: built from the served topics
    client_id_env: str | None = None
    client_secret_env: str | None = None
    user_agent: str | None = Field(default=None, min_length=1)
    api_url: AnyHttpUrl = AnyHttpUrl("https://oauth.reddit.com")
    www_url: AnyHttpUrl = AnyHttpUrl("https://www.reddit.com")  # token endpoint, feeds, permalinks
    page_size: int = Field(default=100, ge=1, le=100)
    max_pages: int = Field(default=10, ge=1, le=100)
    listing_cap: int = Field(default=1000, ge=1)  # Reddit lists only the newest 1,000 items
    # Kept so configs written for the `before=<anchor>` cursor still load; the paging ledger reads
    # from the top of the listing and never needs re-anchoring.
    reanchor_after: Duration = timedelta(hours=1)

    @model_validator(mode="after")
    def _coherent(self, info: ValidationInfo) -> RedditSettings:
        if bool(self.client_id_env) != bool(self.client_secret_env):
            missing = "client_secret_env" if self.client_id_env else "client_id_env"
            present = "client_id_env" if self.client_id_env else "client_secret_env"
            raise _located(
                (present,),
                getattr(self, present),
                (
                    f"set {missing} too: Reddit's OAuth needs both the client id and the secret "
                    "(leave both out to read the public Atom feed instead)"
                ),
            )
        if self.listing == "new" and not self.subreddits:
            raise _located(
                ("listing",), self.listing, "listing 'new' needs 'subreddits' (e.g. [worldnews])"
            )
        if self.listing == "search":
            self._check_query(info)
        return self

    def _check_query(self, info: ValidationInfo) -> None:
        topics = (info.context or {}).get("topics")
        if self.query is not None:
            query, loc, origin = self.query, ("query",), "'query'"
        elif topics is not None:
            served = [t for t in topics if self.topics is None or t.name in self.topics]
            query, loc = build_query(served), ("topics",)
            origin = "the Reddit search built from topic(s) " + ", ".join(t.name for t in served)
        else:
            return
        if len(query) > MAX_QUERY:
            raise _located(
                loc,
                self.query or self.topics,
                (
                    f"{origin} is {len(query)} characters; Reddit search accepts at most {MAX_QUERY}. "
                    "Serve fewer topics with 'topics:', write a shorter 'query:', or use listing: new"
                ),
            )

    @property
    def has_credentials(self) -> bool:
        return bool(self.client_id_env and self.client_secret_env)


def _located(loc: tuple[str, ...], value: Any, message: str) -> ValidationError:
    """A validation error placed on one field, so the config problem points at its line."""
    return ValidationError.from_exception_data(
        "RedditSettings",
        [
            InitErrorDetails(
                type=PydanticCustomError("value_error", "{error}", {"error": message}),
                loc=loc,
                input=value,
            )
        ],
    )


def _phrase(text: str) -> str:
    text = " ".join(text.replace('"', " ").split())
    return text if " " not in text else f'"{text}"'


def build_query(topics: list[Any]) -> str:
    """`"key phrase" OR word OR "Camel Case Tag"`: Reddit has no hashtags, so tags become words."""
    terms: dict[str, str] = {}
    for topic in topics:
        for value in [*topic.keywords, *(split_camel(tag) for tag in topic.hashtags)]:
            term = _phrase(value)
            if term:
                terms.setdefault(term.casefold(), term)
    return " OR ".join(terms.values())


def thing_to_post(data: dict[str, Any], www_url: str) -> RawPost | None:
    """A `t3` (link/self post) in the common shape; None when it lacks a name or a time."""
    name, created = data.get("name"), epoch_time(data.get("created_utc"))
    if not isinstance(name, str) or not name.startswith("t3_") or created is None:
        return None
    permalink = data.get("permalink")
    url = (
        www_url.rstrip("/") + permalink
        if isinstance(permalink, str) and permalink.startswith("/")
        else None
    )
    author = data.get("author")
    crosspost = data.get("crosspost_parent")
    selftext = data.get("selftext")
    return RawPost(
        native_id=name,
        text=selftext if isinstance(selftext, str) else "",
        title=data.get("title") if isinstance(data.get("title"), str) else None,
        created_at=created,
        url=url,  # the discussion, not the link target: a news URL belongs to the news source
        author=author if isinstance(author, str) and author != "[deleted]" else None,
        engagement=_count(data.get("score")) + _count(data.get("num_comments")),
        repost_of=crosspost if isinstance(crosspost, str) and crosspost.startswith("t3_") else None,
    )


_count = count


def _read_budget(budget: http.RateBudget, headers: Any) -> None:
    """X-Ratelimit-Remaining is a float string, X-Ratelimit-Reset the seconds left in the window."""
    budget.heard(headers)
    try:
        budget.set(
            float(headers["x-ratelimit-remaining"]),
            datetime.now(UTC) + timedelta(seconds=float(headers["x-ratelimit-reset"])),
        )
    except (KeyError, ValueError, OverflowError):
        pass


@dataclass(slots=True)
class _Listing:
    children: list[dict[str, Any]]
    after: str | None


class RedditSource(Source):
    kind = "reddit"
    Settings = RedditSettings

    def __init__(self, settings: RedditSettings, topics: list[Any], http_client: httpx.Client):
        super().__init__(settings, topics, http_client)
        self.settings: RedditSettings = settings
        self.query = settings.query or build_query(topics)
        self.user_agent = settings.user_agent or (
            f"python:reaction-monitor:{__version__} (source {settings.name}; "
            "+https://github.com/reaction-monitor/reaction-monitor)"
        )
        self._token: str | None = None
        self._token_until = 0.0  # time.monotonic()
        self._budget = http.RateBudget()
        self._feed: RssSource | None = None

    @property
    def where(self) -> str:
        return (
            "r/" + "+".join(self.settings.subreddits)
            if self.settings.subreddits
            else "Reddit search"
        )

    def fetch(self, state: dict[str, Any], ctx: PollContext) -> Batch:
        self._budget.restore(state)  # after a restart, the window the last poll saw
        return self._budget.into(self._fetch(state, ctx))

    def _fetch(self, state: dict[str, Any], ctx: PollContext) -> Batch:
        """New posts and pending ranges of the listing, newest first, through `after=<fullname>`.

        Every range is read from its continuation (`after`, or the top of the listing for new
        posts) down to its edge: the newest post of the poll before (by fullname, or anything
        older than its time) or the start of the backfill window. Reading from the top instead of
        `before=<anchor>` means a deleted anchor cannot silence the source. Reddit lists only the
        newest `listing_cap` (1,000) items, so a range whose continuation sinks below that ends
        as a recorded gap, never silently.
        """
        if not self.settings.has_credentials:
            return self._fallback(state, ctx)
        token = self._access_token()
        wall = datetime.now(UTC)
        if self._budget.low(wall):
            return Batch(
                posts=[],
                state=state,
                notes=[
                    f"Reddit rate limit nearly used up ({self._budget.remaining:.0f} requests left); "
                    f"waiting until {_hhmm(self._budget.reset_at)}"
                ],
            )
        ledger = paging.Ledger(state)
        if isinstance(state.get("anchor"), str) and isinstance(
            state.get("anchor_ts"), (int, float)
        ):
            # a state from before the paging ledger: its anchor is the newest position
            ledger.newest.setdefault(
                _STREAM, {"name": state["anchor"], "at": float(state["anchor_ts"])}
            )
        ledger.mark()
        reader = _ListingReader(self, token, ctx)
        out = paging.run(
            ledger,
            [paging.Stream(_STREAM, self.listing_name)],
            reader,
            now=ctx.now,
            edge_for=_edge_for,
            backfill_since=ctx.backfill_since,
            pages_per_poll=self.settings.max_pages,
        )
        if reader.skipped:
            out.notes.append(
                f"skipped {reader.skipped} item(s) Reddit sent without a name or a time"
            )
        new_state = ledger.into({k: v for k, v in state.items() if k not in _OLD_KEYS})
        if out.error is not None and not out.posts and not ledger.moved():
            raise out.error
        return Batch(
            posts=out.posts,
            state=new_state,
            status=200 if out.requests else None,
            error=out.error,
            notes=out.notes,
            gaps=out.gaps,
        )

    @property
    def listing_name(self) -> str:
        """How the listing is named in messages: r/worldnews/new, or the search."""
        if self.settings.listing == "new":
            return f"r/{'+'.join(self.settings.subreddits)}/new"
        return f"{self.where} for {_clip(self.query, 60)!r}"

    # --- paging ---------------------------------------------------------------------------

    def _listing(self, token: str, extra: dict[str, str]) -> _Listing:
        subs = "+".join(self.settings.subreddits)
        params: dict[str, Any] = {"limit": self.settings.page_size, "raw_json": 1, **extra}
        if self.settings.listing == "new":
            path = f"/r/{subs}/new"
        else:
            path = f"/r/{subs}/search" if subs else "/search"
            params.update(q=self.query, sort="new", t="all", type="link")
            if subs:
                params["restrict_sr"] = 1
        body = self._get(token, path, params)
        return _parse_listing(body)

    # --- HTTP -----------------------------------------------------------------------------

    def _get(self, token: str, path: str, params: dict[str, Any]) -> bytes:
        url = str(self.settings.api_url).rstrip("/") + path
        resp, body = self._request(token, url, params)
        if resp.status_code == 401:
            # A token can be revoked before it expires: one fresh token, then give up.
            self._token = None
            resp, body = self._request(self._access_token(), url, params)
        if resp.status_code != 200:
            raise self._status_error(resp.status_code, body, token_endpoint=False)
        if resp.url.path.startswith("/subreddits/search"):
            raise SourceError(
                f"{self.where} does not exist (Reddit redirected to a subreddit search)", status=404
            )
        return body

    def _request(
        self, token: str, url: str, params: dict[str, Any]
    ) -> tuple[httpx.Response, bytes]:
        resp, body = http.get(
            self.http,
            url,
            what="Reddit",
            params=params,
            ok=_ANY_STATUS,
            headers={"Authorization": f"bearer {token}", "User-Agent": self.user_agent},
            timeout=self.settings.timeout.total_seconds(),
        )
        _read_budget(self._budget, resp.headers)
        return resp, body

    def _access_token(self) -> str:
        if self._token and time.monotonic() < self._token_until - _TOKEN_MARGIN_S:
            return self._token
        client_id = os.environ.get(self.settings.client_id_env or "", "").strip()
        secret = os.environ.get(self.settings.client_secret_env or "", "").strip()
        unset = [
            n
            for n, v in (
                (self.settings.client_id_env, client_id),
                (self.settings.client_secret_env, secret),
            )
            if not v
        ]
        if unset:
            names = " and ".join(str(n) for n in unset)
            raise SourceError(
                f"Reddit credentials are missing: set the environment variable{'s' * (len(unset) > 1)} "
                f"{names}"
            )
        url = str(self.settings.www_url).rstrip("/") + "/api/v1/access_token"
        try:
            # the whole request, not each read
            with http.deadline(self.settings.timeout.total_seconds()):
                resp = self.http.post(
                    url,
                    auth=(client_id, secret),
                    data={"grant_type": "client_credentials"},
                    headers={"User-Agent": self.user_agent},
                    timeout=self.settings.timeout.total_seconds(),
                )
        except httpx.TransportError as exc:  # timeouts included
            raise SourceError(
                http.describe_transport("Reddit's token endpoint", exc, url)
            ) from None
        if resp.status_code != 200:
            raise self._status_error(resp.status_code, resp.content, token_endpoint=True)
        data = _json(resp.content, "Reddit's token endpoint")
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            error = _clip(data.get("error")) if isinstance(data, dict) else "no token"
            raise SourceError(f"Reddit did not issue a token ({error})", status=200)
        expires = data.get("expires_in")
        self._token = token
        self._token_until = time.monotonic() + (
            float(expires) if isinstance(expires, (int, float)) else 3600.0
        )
        return token

    def _status_error(self, status: int, body: bytes, *, token_endpoint: bool) -> SourceError:
        reason = _reason(body)
        detail = f": {reason}" if reason else ""
        if status == 401 and token_endpoint:
            return SourceError("Reddit rejected the client credentials (401)", status=401)
        if status == 400 and token_endpoint:
            return SourceError(f"Reddit refused to issue a token (400){detail}", status=400)
        if status == 401:
            return SourceError(
                "Reddit rejected the access token (401) even after renewing it", status=401
            )
        if status == 403:
            return SourceError(f"Reddit refused access to {self.where} (403){detail}", status=403)
        if status == 404 and self.settings.subreddits:
            return SourceError(f"{self.where} does not exist or is banned (404)", status=404)
        if status == 404:
            return SourceError(
                f"Reddit search was not found (404); check api_url ({self.settings.api_url})",
                status=404,
            )
        if status == 429:
            wait = self._budget.limited()  # Retry-After, if sent, wins over a saved window
            when = f"; resets at {_hhmm(self._budget.reset_at)}" if wait is not None else ""
            return SourceError(
                f"Reddit rate limit reached{when} (429)", status=429, retry_after=wait
            )
        return SourceError(http.describe_status("Reddit", status) + detail, status=status)

    # --- without credentials --------------------------------------------------------------

    def _fallback(self, state: dict[str, Any], ctx: PollContext) -> Batch:
        """The public Atom feed through the RSS source; its state lives under `feed`."""
        if self._feed is None:
            self._feed = RssSource(
                RssSettings(
                    name=self.settings.name,
                    kind="rss",
                    url=AnyHttpUrl(self._feed_url()),
                    interval=self.settings.interval,
                    topics=self.settings.topics,
                    match=self.settings.match,
                    backfill=self.settings.backfill,
                    timeout=self.settings.timeout,
                ),
                self.topics,
                self.http,
            )
        batch = self._feed.fetch(dict(state.get("feed") or {}), ctx)
        new_state = dict(state, feed=batch.state)
        notes = list(batch.notes)
        if not state.get("fallback_noted"):
            new_state["fallback_noted"] = True
            notes.insert(
                0,
                f"no Reddit credentials configured (client_id_env, client_secret_env): reading the "
                f"public Atom feed {self._feed.settings.url} instead; it has no scores or comment "
                "counts and Reddit may close it",
            )
        return Batch(
            posts=batch.posts,
            state=new_state,
            status=batch.status,
            not_modified=batch.not_modified,
            error=batch.error,
            notes=notes,
        )

    def _feed_url(self) -> str:
        base = str(self.settings.www_url).rstrip("/")
        if self.settings.subreddits:
            return f"{base}/r/{'+'.join(self.settings.subreddits)}/new/.rss?limit=100"
        return f"{base}/search.rss?" + urlencode({"q": self.query, "sort": "new", "limit": 100})


_STREAM = "listing"
_OLD_KEYS = ("anchor", "anchor_ts", "recent", "floor_ts")  # the cursor before the paging ledger
_ALTERNATES = 3  # older fullnames of a page kept to resume from should its last post vanish


def _edge_for(stream: paging.Stream, newest: dict[str, Any] | None) -> float:
    return paging.position_time(newest) or 0.0


class _ListingReader:
    """One range's pages of the listing (monitor/sources/paging.py supplies the ranges)."""

    def __init__(self, source: RedditSource, token: str, ctx: PollContext):
        self.source, self.token, self.ctx = source, token, ctx
        self.settings = source.settings
        self.requests = 0
        self.skipped = 0
        self._www = str(self.settings.www_url)

    def _skip(self) -> None:
        self.skipped += 1

    def page(self, rng: paging.Range) -> paging.Page:
        budget = self.source._budget
        if self.requests and budget.low(datetime.now(UTC)):
            raise paging.Pause(
                f"Reddit rate limit nearly used up; {rng.label} continues after "
                f"{_hhmm(budget.reset_at)} from where it stopped"
            )
        after = (rng.cont or {}).get("after")
        listing = self.source._listing(self.token, {"after": after} if after else {})
        self.requests += 1
        edge_name = (rng.edge or {}).get("name")
        edge_at = datetime.fromtimestamp(rng.edge_at, UTC)
        posts: list[RawPost] = []
        newest: RawPost | None = None
        reached = False
        for position, post in read_each(
            listing.children,
            lambda child: thing_to_post(child, self._www),
            lambda i: f"Reddit {rng.label} page {self.requests} item {i}",
            unshaped="no name (t3_…) or no plausible created_utc",
            id_key="name",
            on_reject=self._skip,
        ):
            post.position = position
            newest = newest or post
            if post.native_id == edge_name or post.created_at < edge_at:
                reached = True
                break
            posts.append(post)
        times = [p.created_at for p in posts]
        page = paging.Page(
            posts=posts,
            newest_at=max(times) if times else None,
            oldest_at=min(times) if times else None,
            newest={"name": newest.native_id, "at": newest.created_at.timestamp()}
            if newest
            else None,
        )
        if reached:
            return page
        names = [c.get("name") for c in listing.children if isinstance(c.get("name"), str)]
        if listing.children and listing.after:
            page.cont = {"after": listing.after, "alt": names[-1 - _ALTERNATES : -1][::-1]}
            return page
        cont = rng.cont or {}
        if not listing.children and after and cont.get("alt"):
            # The post paging stopped at is gone (deleted, removed, or sunk below the listing's
            # end): resume from the next older one the last page showed.
            alt = list(cont["alt"])
            page.cont = {"after": alt[0], "alt": alt[1:]}
            return page
        depth = rng.above + rng.read + len(posts)
        if depth + self.settings.page_size >= self.settings.listing_cap:
            oldest = page.oldest_at or (
                datetime.fromtimestamp(rng.oldest_at, UTC)
                if rng.oldest_at is not None
                else self.ctx.now
            )
            page.lost = (
                edge_at,
                oldest,
                (
                    f"Reddit offers only the newest {self.settings.listing_cap:,} posts of {rng.label}: posts "
                    f"from {paging.hhmm(edge_at, self.ctx.now)} to {paging.hhmm(oldest, self.ctx.now)} "
                    "were out of reach"
                ),
            )
        return page  # the listing has nothing older: the range is complete


def _parse_listing(body: bytes) -> _Listing:
    data = _json(body, "Reddit")
    inner = data.get("data") if isinstance(data, dict) and data.get("kind") == "Listing" else None
    if not isinstance(inner, dict) or not isinstance(inner.get("children"), list):
        raise SourceError(
            "Reddit answered with something other than a Listing (schema change?)", status=200
        )
    children = inner["children"]
    things = []
    for i, c in enumerate(children, start=1):
        if isinstance(c, dict) and c.get("kind") == "t3" and isinstance(c.get("data"), dict):
            things.append(c["data"])
        else:
            reject(f"Reddit listing item {i}", "not a post (t3) in the shape Reddit documents", c)
    after = inner.get("after")
    return _Listing(children=things, after=after if isinstance(after, str) and after else None)


def _json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(
            f"{what} sent a body that is not JSON (truncated or damaged: {exc})", status=200
        ) from None


def _reason(body: bytes) -> str:
    """Reddit's error JSON: {"reason": "private", "message": "Forbidden", "error": 403}."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ""
    if not isinstance(data, dict):
        return ""
    return _clip(data.get("reason") or data.get("error_description") or data.get("message") or "")


def _clip(value: Any, limit: int = 200) -> str:
    text = " ".join(sanitize(str(value)).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _hhmm(when: datetime | None) -> str:
    return f"{when:%H:%M} UTC" if when else "the window resets"
