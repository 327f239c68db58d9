"""X (Twitter) API v2 recent search: `GET /2/tweets/search/recent` with an app-only Bearer token.

The query is built from the topics the source serves (hashtags, keywords, `-is:retweet`, `lang:`)
unless `query:` overrides it, and X refuses a query over 512 characters (4,096 on Enterprise), so
the length is checked when the config is checked: a poll that can never succeed should be a
config problem with a line number, not an error in feed health days later.

Paging: the shared ledger of monitor/sources/paging.py. Each range is read newest first from
`since_id` (the newest id reached before it opened; `start_time` for the first, backfill range)
with `until_id` = the oldest id read so far as its continuation, so a range cut short (page cap,
rate budget, a failure, a restart) continues exactly where it stopped.

X keeps 7 days of posts, and a `since_id` or `start_time` older than that is rejected with 400;
a range reaching back further records the part beyond the seven days as a collection gap.

X sends `text` with `&`, `<` and `>` as HTML entities (`&amp;`, `&lt;`, `&gt;`, and only those);
they are decoded exactly once, so "AT&T" is stored as the author wrote it.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import (
    AnyHttpUrl,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from monitor.core.text import sanitize
from monitor.sources import http, paging
from monitor.sources.base import (
    Batch,
    PollContext,
    RawPost,
    Source,
    SourceError,
    SourceSettings,
    count,
    read_each,
)

__all__ = ["XSettings", "XSource", "build_query", "tweet_to_post", "unescape_text"]

MAX_QUERY = 512  # pay-per-use and Basic/Pro plans; Enterprise allows 4,096
RECENT_WINDOW = timedelta(days=7)
# Start a little inside the 7 days: the request takes time to arrive and X's clock is not ours.
_WINDOW_MARGIN = timedelta(minutes=2)
TWEET_FIELDS = "created_at,author_id,lang,public_metrics,entities,referenced_tweets,note_tweet"
_ANY_STATUS = tuple(range(100, 600))


class XSettings(SourceSettings):
    bearer_token_env: str = "X_BEARER_TOKEN"
    query: str | None = Field(default=None, min_length=1)  # None: built from the served topics
    include_retweets: bool = False  # a retweet adds engagement to its original; costs a read each
    max_query_length: int = Field(default=MAX_QUERY, ge=1, le=4096)
    api_url: AnyHttpUrl = AnyHttpUrl("https://api.x.com")
    web_url: AnyHttpUrl = AnyHttpUrl("https://x.com")
    page_size: int = Field(default=100, ge=10, le=100)  # X's max_results range
    max_pages: int = Field(default=10, ge=1, le=100)  # per poll; the rest follows next poll

    @field_validator("query")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        return " ".join(value.split()) if value is not None else None

    @model_validator(mode="after")
    def _query_fits(self, info: ValidationInfo) -> XSettings:
        """X rejects a longer query on every request, so it is a config problem.

        The built query depends on the topics, which live outside this model: the config loader
        passes them as validation context. Without that context (settings made in code) only an
        explicit `query:` can be checked here; the source checks again before its first request.
        """
        topics = (info.context or {}).get("topics")
        if self.query is not None:
            query, loc, origin = self.query, ("query",), "'query'"
        elif topics is not None:
            served = _served(topics, self.topics)
            query, loc = build_query(served, include_retweets=self.include_retweets), ("topics",)
            origin = "the X query built from topic(s) " + ", ".join(t.name for t in served)
        else:
            return self
        if len(query) > self.max_query_length:
            raise _located(
                loc,
                self.query or self.topics,
                (
                    f"{origin} is {len(query)} characters; X accepts at most {self.max_query_length} "
                    "(max_query_length: 4096 on an Enterprise plan). Serve fewer topics with 'topics:', "
                    "or write a shorter 'query:'"
                ),
            )
        return self


def _located(loc: tuple[str, ...], value: Any, message: str) -> ValidationError:
    """A validation error placed on one field, so the config problem points at its line."""
    return ValidationError.from_exception_data(
        "XSettings",
        [
            InitErrorDetails(
                type=PydanticCustomError("value_error", "{error}", {"error": message}),
                loc=loc,
                input=value,
            )
        ],
    )


def _served(topics: list[Any], names: list[str] | None) -> list[Any]:
    return list(topics) if names is None else [t for t in topics if t.name in names]


# --- the query --------------------------------------------------------------------------------

_BARE = re.compile(r"[^\W_][\w']*", re.UNICODE)


def _term(keyword: str) -> str:
    """A keyword as X reads it: a single plain word bare, anything else quoted as a phrase.

    Quoting is also what keeps "US-Russia" from being read as "US" minus "Russia".
    """
    keyword = keyword.replace('"', " ").strip()
    return keyword if _BARE.fullmatch(keyword) else f'"{" ".join(keyword.split())}"'


def _exclusion(value: str) -> str:
    return f"-#{value[1:]}" if value.startswith("#") else f"-{_term(value)}"


def build_query(topics: list[Any], *, include_retweets: bool = False) -> str:
    """(#tag OR "key phrase" OR word) -is:retweet lang:en -excluded, from the served topics.

    Exclusions are added only when every served topic excludes them (one topic's noise may be
    another's story), and `lang:` only when every topic is restricted to languages.
    """
    terms: dict[str, str] = {}
    for topic in topics:
        for tag in topic.hashtags:
            terms.setdefault(("#" + tag).casefold(), "#" + tag)
        for keyword in topic.keywords:
            term = _term(keyword)
            terms.setdefault(term.casefold(), term)
    parts = list(terms.values())
    if not parts:
        return ""
    query = parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"
    if not include_retweets:
        query += " -is:retweet"
    if topics and all(t.languages for t in topics):
        langs = list(dict.fromkeys(lang for t in topics for lang in t.languages))
        query += (
            f" lang:{langs[0]}"
            if len(langs) == 1
            else " (" + " OR ".join(f"lang:{x}" for x in langs) + ")"
        )
    common = set.intersection(*(set(t.exclude) for t in topics)) if topics else set()
    for value in (e for e in topics[0].exclude if e in common) if topics else ():
        query += " " + _exclusion(value)
    return query


# --- posts ------------------------------------------------------------------------------------


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITY_CHARS = {"amp": "&", "lt": "<", "gt": ">"}


def unescape_text(text: str) -> str:
    """X's `text` with its three entities decoded, in one pass: `&amp;lt;` (the author typed
    "&lt;") becomes "&lt;", never "<"; any other `&...;` is what the author wrote."""
    return _ENTITY.sub(lambda m: _ENTITY_CHARS[m.group(1)], text)


def tweet_to_post(tweet: dict[str, Any], usernames: dict[str, str], web_url: str) -> RawPost | None:
    """One tweet in the common shape; None when it lacks an id, a time or text."""
    tweet_id, created = tweet.get("id"), _when(tweet.get("created_at"))
    note = tweet.get("note_tweet")
    text = (
        note.get("text")
        if isinstance(note, dict) and isinstance(note.get("text"), str)
        else tweet.get("text")
    )
    if (
        not isinstance(tweet_id, str)
        or not (tweet_id.isascii() and tweet_id.isdigit())
        or created is None
        or not isinstance(text, str)
    ):
        return None
    text = unescape_text(text)
    username = usernames.get(str(tweet.get("author_id")))
    metrics = tweet.get("public_metrics")
    if not isinstance(metrics, dict):
        metrics = {}
    engagement = sum(
        count(metrics.get(k)) for k in ("like_count", "retweet_count", "reply_count", "quote_count")
    )
    entities = tweet.get("entities")
    if not isinstance(entities, dict):
        entities = {}
    hashtags = entities.get("hashtags")
    if not isinstance(hashtags, list):
        hashtags = []
    tags = tuple(
        h["tag"] for h in hashtags if isinstance(h, dict) and isinstance(h.get("tag"), str)
    )
    repost_of = None
    refs = tweet.get("referenced_tweets")
    for ref in refs if isinstance(refs, list) else []:
        if (
            isinstance(ref, dict)
            and ref.get("type") == "retweeted"
            and isinstance(ref.get("id"), str)
        ):
            repost_of = ref["id"]
    lang = tweet.get("lang")
    base = web_url.rstrip("/")
    return RawPost(
        native_id=tweet_id,
        text=text,
        created_at=created,
        author=username,
        url=f"{base}/{username}/status/{tweet_id}"
        if username
        else f"{base}/i/web/status/{tweet_id}",
        lang=lang
        if isinstance(lang, str) and re.fullmatch(r"[a-z]{2}", lang)
        else None,  # "und", "qme", ...
        tags=tags,
        engagement=engagement,
        repost_of=repost_of,
    )


# --- the source -------------------------------------------------------------------------------


def _read_budget(budget: http.RateBudget, headers: Any) -> None:
    """x-rate-limit-remaining is an int, x-rate-limit-reset the window's end in UNIX seconds."""
    budget.heard(headers)
    try:
        budget.set(
            int(headers["x-rate-limit-remaining"]),
            datetime.fromtimestamp(int(headers["x-rate-limit-reset"]), UTC),
        )
    except (KeyError, ValueError, OverflowError):
        pass


class XSource(Source):
    kind = "x"
    Settings = XSettings

    def __init__(self, settings: XSettings, topics: list[Any], http_client: httpx.Client):
        super().__init__(settings, topics, http_client)
        self.settings: XSettings = settings
        self.query = settings.query or build_query(
            topics, include_retweets=settings.include_retweets
        )
        self._budget = http.RateBudget()

    def fetch(self, state: dict[str, Any], ctx: PollContext) -> Batch:
        self._budget.restore(state)  # after a restart, the window the last poll saw
        return self._budget.into(self._fetch(state, ctx))

    def _fetch(self, state: dict[str, Any], ctx: PollContext) -> Batch:
        token = self._token()
        if not self.query:
            raise SourceError(
                "no X query: the source serves no topic with hashtags or keywords; set 'query:'"
            )
        if len(self.query) > self.settings.max_query_length:
            raise SourceError(
                f"the X query is {len(self.query)} characters, over the "
                f"{self.settings.max_query_length}-character limit (run `monitor config check`)"
            )
        wall = datetime.now(UTC)
        if self._budget.low(wall):
            return Batch(
                posts=[],
                state=state,
                notes=[
                    f"X rate limit nearly used up ({self._budget.remaining} requests left); "
                    f"waiting until {_hhmm(self._budget.reset_at)}"
                ],
            )
        ledger = paging.Ledger(state)
        _adopt_old_cursor(state, ledger)
        ledger.mark()
        reader = _SearchReader(self, token, ctx)
        label = f"X search {_clip(self.query, 60)!r}"
        out = paging.run(
            ledger,
            [paging.Stream(_STREAM, label)],
            reader,
            now=ctx.now,
            edge_for=_edge_for,
            backfill_since=ctx.backfill_since,
            pages_per_poll=self.settings.max_pages,
        )
        if reader.skipped:
            out.notes.append(
                f"skipped {reader.skipped} post(s) X sent without an id, a time or text"
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

    # --- HTTP -----------------------------------------------------------------------------

    def _token(self) -> str:
        name = self.settings.bearer_token_env
        token = os.environ.get(name, "").strip()
        if not token:
            raise SourceError(f"X needs a bearer token: the environment variable {name} is not set")
        return token

    def _page(self, token: str, extra: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {
            "query": self.query,
            "max_results": self.settings.page_size,
            "expansions": "author_id",
            "tweet.fields": TWEET_FIELDS,
            "user.fields": "username",
            **extra,
        }
        url = str(self.settings.api_url).rstrip("/") + "/2/tweets/search/recent"
        resp, body = http.get(
            self.http,
            url,
            what="X",
            headers={"Authorization": f"Bearer {token}"},
            params=params,
            timeout=self.settings.timeout.total_seconds(),
            ok=_ANY_STATUS,
        )
        _read_budget(self._budget, resp.headers)
        if resp.status_code != 200:
            raise self._status_error(resp.status_code, body)
        return _check_page(_json(body))

    def _status_error(self, status: int, body: bytes) -> SourceError:
        detail = _problem_detail(body)
        suffix = f": {detail}" if detail else ""
        if status == 401:
            return SourceError(f"X rejected the bearer token (401){suffix}", status=401)
        if status == 403:
            return SourceError(
                f"X refused access (403){suffix}; does the plan include recent search?", status=403
            )
        if status == 400:
            return SourceError(f"X rejected the request (400){suffix}", status=400)
        if status == 404:
            return SourceError(
                f"X answered 404 for recent search; check api_url ({self.settings.api_url})",
                status=404,
            )
        if status == 429:
            wait = self._budget.limited()  # Retry-After, if sent, wins over a saved window
            reset = self._budget.reset_at if wait is not None else None
            when = f"; resets at {_hhmm(reset)}" if reset else ""
            return SourceError(f"X rate limit reached{when} (429)", status=429, retry_after=wait)
        return SourceError(http.describe_status("X", status) + suffix, status=status)


_STREAM = "search"
_OLD_KEYS = ("newest_id", "newest_at", "floor", "pending")  # the cursor before the paging ledger


def _adopt_old_cursor(state: dict[str, Any], ledger: paging.Ledger) -> None:
    """A state from before the paging ledger: its newest id is the newest position, and an
    unfinished run becomes a pending range that continues with its `next_token`."""
    newest_id, newest_at = state.get("newest_id"), _when(state.get("newest_at"))
    if isinstance(newest_id, str) and newest_id.isdigit() and _STREAM not in ledger.newest:
        ledger.newest[_STREAM] = {"id": newest_id, "at": _iso(newest_at) if newest_at else None}
    pending = state.get("pending")
    if isinstance(pending, dict) and pending.get("next_token") and not ledger.pending:
        since = pending.get("since_id")
        edge_at = _when(pending.get("start_time")) or newest_at or datetime.fromtimestamp(0, UTC)
        ledger.pending.append(
            paging.Range(
                _STREAM,
                "X search",
                edge_at=edge_at.timestamp(),
                edge={"id": since} if since else None,
                cont={"next_token": pending["next_token"]},
            )
        )


def _edge_for(stream: paging.Stream, newest: dict[str, Any] | None) -> float:
    return paging.position_time(newest) or 0.0


class _SearchReader:
    """One range's pages of recent search: `since_id` (or `start_time`) is its edge, `until_id`
    the oldest id read so far its continuation, newest first within X's seven days."""

    def __init__(self, source: XSource, token: str, ctx: PollContext):
        self.source, self.token, self.ctx = source, token, ctx
        self.requests = 0
        self.skipped = 0

    def _skip(self) -> None:
        self.skipped += 1

    def page(self, rng: paging.Range) -> paging.Page:
        budget = self.source._budget
        if self.requests and budget.low(datetime.now(UTC)):
            raise paging.Pause(
                f"X rate limit nearly used up; the rest follows after {_hhmm(budget.reset_at)} "
                "from where it stopped"
            )
        oldest_allowed = self.ctx.now - RECENT_WINDOW + _WINDOW_MARGIN
        edge_at = datetime.fromtimestamp(rng.edge_at, UTC)
        edge_id = (rng.edge or {}).get("id")
        lost = None
        if edge_at < oldest_allowed:
            # X refuses a since_id or start_time older than 7 days: what lies before is out of reach.
            lost = (
                edge_at,
                oldest_allowed,
                (
                    f"X recent search reaches back 7 days only: posts from {paging.hhmm(edge_at, self.ctx.now)} "
                    f"to {paging.hhmm(oldest_allowed, self.ctx.now)} were out of reach"
                ),
            )
            edge_at, edge_id = oldest_allowed, None
        extra: dict[str, Any] = {"since_id": edge_id} if edge_id else {"start_time": _iso(edge_at)}
        cont = rng.cont or {}
        if cont.get("until_id"):
            extra["until_id"] = cont["until_id"]
        elif cont.get("next_token"):
            extra["next_token"] = cont["next_token"]
        page = self.source._page(self.token, extra)
        self.requests += 1
        if lost is not None:
            rng.edge_at, rng.edge = edge_at.timestamp(), None
        users = _usernames(page)
        posts: list[RawPost] = []
        web = str(self.source.settings.web_url)
        for position, post in read_each(
            page["data"],
            lambda tweet: tweet_to_post(tweet, users, web) if isinstance(tweet, dict) else None,
            lambda i: f"X page {self.requests} tweet {i}",
            unshaped="no numeric id, readable created_at or text",
            id_key="id",
            on_reject=self._skip,
        ):
            post.position = position
            posts.append(post)
        times = [p.created_at for p in posts]
        ids = [
            int(t["id"])
            for t in page["data"]
            if isinstance(t, dict)
            and isinstance(t.get("id"), str)
            and t["id"].isascii()
            and t["id"].isdigit()
        ]
        meta = page["meta"]
        newest_id = meta.get("newest_id") if isinstance(meta.get("newest_id"), str) else None
        newest_id = newest_id or (str(max(ids)) if ids else None)
        newest_at = max(times) if times else None
        more = bool(meta.get("next_token")) and bool(ids)
        return paging.Page(
            posts=posts,
            newest={"id": newest_id, "at": _iso(newest_at) if newest_at else None}
            if newest_id
            else None,
            newest_at=newest_at,
            oldest_at=min(times) if times else None,
            cont={"until_id": str(min(ids))} if more else None,
            lost=lost,
        )


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(
            f"X sent a body that is not JSON (truncated or damaged: {exc})", status=200
        ) from None


def _check_page(page: Any) -> dict[str, Any]:
    """The envelope must be what the code below relies on; anything else is a schema change."""
    if not isinstance(page, dict):
        raise SourceError(
            f"X answered with an unexpected shape ({type(page).__name__} instead of an object)",
            status=200,
        )
    meta = page.get("meta")
    if not isinstance(meta, dict):
        errors = page.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            detail = _clip(
                errors[0].get("detail") or errors[0].get("message") or errors[0].get("title")
            )
            raise SourceError(f"X answered with an error instead of posts: {detail}", status=200)
        raise SourceError("X answered without 'meta' (schema change?)", status=200)
    data = page.get("data", [])
    if not isinstance(data, list):
        raise SourceError(
            f"X answered with 'data' as {type(data).__name__}, not a list (schema change?)",
            status=200,
        )
    page["data"] = data
    return page


def _usernames(page: dict[str, Any]) -> dict[str, str]:
    includes = page.get("includes")
    if not isinstance(includes, dict):
        includes = {}
    return {
        str(u["id"]): u["username"]
        for u in includes.get("users") or []
        if isinstance(u, dict) and "id" in u and isinstance(u.get("username"), str)
    }


def _problem_detail(body: bytes) -> str:
    """X's v2 problem JSON (`title`, `detail`, `errors[].message`) in one clipped line."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ""
    if not isinstance(data, dict):
        return ""
    errors = data.get("errors")
    if (
        isinstance(errors, list)
        and errors
        and isinstance(errors[0], dict)
        and errors[0].get("message")
    ):
        return _clip(errors[0]["message"])
    return _clip(data.get("detail") or data.get("title") or "")


def _clip(value: Any, limit: int = 200) -> str:
    text = " ".join(sanitize(str(value)).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hhmm(when: datetime | None) -> str:
    return f"{when:%H:%M} UTC" if when else "the window resets"
