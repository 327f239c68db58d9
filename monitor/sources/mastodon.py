"""Mastodon hashtag timelines (`GET /api/v1/timelines/tag/:tag`) on one or more instances.

An instance only shows the posts that reached it, so a story is best followed on several; the
same post then arrives once per instance under different local ids but one ActivityPub `uri`,
which is what identifies it here (as native and canonical id), so it is stored once.

Paging follows the shared model of monitor/sources/paging.py, one stream per instance and tag:
every range is read newest first with `max_id`, bounded below by `since_id` = the newest id
reached before it opened (Mastodon answers `max_id` + `since_id` with the newest `limit` posts
between the two), and ends on an empty page. The first range of a tag reaches back to the start
of the backfill window instead. A page budget, a pause or a failure leaves the range pending with
its `max_id`; the next poll continues there, so nothing is skipped however large the burst.

Rate limits (`X-RateLimit-*`, Reset an ISO-8601 time) are read on every answer; when few requests
remain, the instance is left alone until the reset instead of running into 429s, and one
instance's trouble never stops the others.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
    iso_time,
    reject,
)

__all__ = [
    "MastodonInstance",
    "MastodonSettings",
    "MastodonSource",
    "instance_base_url",
    "statuses_to_posts",
]


# --- settings ------------------------------------------------------------------------------------


def instance_base_url(value: str, example: str = "https://mastodon.social") -> str:
    """`mastodon.social`, `https://mastodon.social/` -> `https://mastodon.social`; anything else is refused in words."""
    text = value.strip()
    if not text:
        raise ValueError("an instance address cannot be empty")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{value!r} is not a web address; write it like {example}")
    if not parts.hostname or " " in text:
        raise ValueError(f"{value!r} has no host name; write it like {example}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(
            f"{value!r} must be the instance's address alone, without ?query, #fragment or user@"
        )
    if "/api/" in parts.path + "/" or "/tags/" in parts.path + "/" or parts.path.startswith("/@"):
        raise ValueError(
            f"{value!r} is a page on the instance; give just its address, "
            f"e.g. {parts.scheme}://{parts.netloc}"
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


class MastodonInstance(BaseModel):
    """One instance: its address, and the variable holding its token if it wants one.

    The token is per instance because it was issued by that instance: sending it to another
    would hand a stranger your credential.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    token_env: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_address(cls, data: Any) -> Any:
        return {"url": data} if isinstance(data, str) else data

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return instance_base_url(value)

    @property
    def label(self) -> str:
        """How the instance is named in messages: its host (and path, for an instance under one)."""
        return self.url.split("://", 1)[1]


class MastodonSettings(SourceSettings):
    kind: str = "mastodon"
    instances: list[MastodonInstance] = Field(min_length=1)
    # None: the hashtags of the topics this source serves.
    hashtags: list[str] | None = None
    page_size: int = Field(default=40, ge=1, le=40)
    max_pages: int = Field(default=10, ge=1, le=200)  # per instance and tag in one poll

    @field_validator("instances")
    @classmethod
    def _distinct(cls, value: list[MastodonInstance]) -> list[MastodonInstance]:
        seen: set[str] = set()
        for inst in value:
            if inst.url in seen:
                raise ValueError(f"{inst.url} is listed twice")
            seen.add(inst.url)
        return value

    @field_validator("hashtags")
    @classmethod
    def _tags(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        tags = [t.strip().lstrip("#") for t in value]
        bad = [t for t in tags if not t or not all(ch.isalnum() or ch == "_" for ch in t)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a hashtag (letters, digits and '_' only)")
        return tags

    def secret_env_vars(self) -> dict[str, str]:
        out = super().secret_env_vars()
        for i, inst in enumerate(self.instances):
            if inst.token_env:
                out[f"instances[{i}].token_env"] = inst.token_env
        return out


# --- the source ----------------------------------------------------------------------------------


class MastodonSource(Source):
    kind = "mastodon"
    Settings = MastodonSettings
    settings: MastodonSettings

    def tags(self) -> list[str]:
        """Tags as Mastodon stores them (lower case), in config order, without repeats."""
        raw = (
            self.settings.hashtags
            if self.settings.hashtags is not None
            else [tag for topic in self.topics for tag in topic.hashtags]
        )
        return list(dict.fromkeys(t.lstrip("#").casefold() for t in raw if t.strip("#")))

    def fetch(self, state: dict[str, Any], ctx: PollContext) -> Batch:
        tags = self.tags()
        if not tags:
            raise SourceError(
                f"source {self.name} has no hashtags to follow: give its topics hashtags, "
                "or list them under 'hashtags:'"
            )
        ledger = paging.Ledger(state)
        _adopt_old_cursors(state, ledger)
        ledger.mark()
        new_state: dict[str, Any] = {
            "instances": {
                url: {k: v for k, v in (st or {}).items() if k != "tags"}
                for url, st in (state.get("instances") or {}).items()
            }
        }
        posts: list[RawPost] = []
        notes: list[str] = []
        gaps: list[tuple[datetime, datetime]] = []
        errors: list[SourceError] = []
        status: int | None = None
        for inst in self.settings.instances:
            inst_state = new_state["instances"].setdefault(inst.url, {})
            reader = _InstanceReader(self, inst, inst_state, ctx)
            try:
                out = reader.poll(tags, ledger)
            except SourceError as exc:
                errors.append(exc)
            else:
                posts += out.posts
                gaps += out.gaps
                notes += out.notes
                if out.error is not None:
                    errors.append(out.error)
            status = reader.status or status
        new_state = ledger.into(new_state)
        if not errors:
            return Batch(posts=posts, state=new_state, status=status, notes=notes, gaps=gaps)
        error = (
            errors[0]
            if len(errors) == 1
            else SourceError(
                "; ".join(e.message for e in errors),
                status=errors[0].status,
                retry_after=_soonest([e.retry_after for e in errors]),
            )
        )
        if len(errors) == len(self.settings.instances) and not posts and not ledger.moved():
            raise error
        if len(errors) < len(self.settings.instances):
            # The healthy instances keep their pace; the troubled one waits on its own `not_before`.
            error = SourceError(error.message, status=error.status)
        return Batch(
            posts=posts, state=new_state, status=status, notes=notes, error=error, gaps=gaps
        )


def _adopt_old_cursors(state: dict[str, Any], ledger: paging.Ledger) -> None:
    """A state written before the paging ledger kept `min_id` per instance and tag: it becomes the
    newest position, so an upgrade neither backfills again nor skips anything."""
    for url, st in (state.get("instances") or {}).items():
        for tag, ts in ((st or {}).get("tags") or {}).items():
            if isinstance(ts, dict) and ts.get("min_id"):
                ledger.newest.setdefault(_key(url, tag), {"id": str(ts["min_id"])})


def _key(url: str, tag: str) -> str:
    return f"{url} #{tag}"


def _edge_for(stream: paging.Stream, newest: dict[str, Any] | None) -> float:
    return paging.position_time(newest) or 0.0


def _soonest(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return min(known) if len(known) == len(values) and known else None


def _created(item: Any) -> datetime | None:
    return iso_time(item.get("created_at")) if isinstance(item, dict) else None


class _InstanceReader:
    """One poll of one instance: every tag's ranges (monitor/sources/paging.py), page by page.

    A range is read newest first with `max_id` (its continuation) and, once the tag has a newest
    id, `since_id` = that id as its edge: Mastodon answers `max_id` + `since_id` with the newest
    `limit` posts between the two, so such a range ends on its first empty page. The first range
    of a tag has a time for its edge instead, the start of the backfill window.
    """

    def __init__(
        self,
        source: MastodonSource,
        inst: MastodonInstance,
        state: dict[str, Any],
        ctx: PollContext,
    ):
        self.source, self.inst, self.state, self.ctx = source, inst, state, ctx
        self.settings = source.settings
        self.status: int | None = None
        self.headers = {"Accept": "application/json"}
        self.unknown: set[str] = set()
        self.notes: list[str] = []
        self._tags: dict[str, str] = {}

    def poll(self, tags: list[str], ledger: paging.Ledger) -> paging.Outcome:
        not_before = iso_time(self.state.get("not_before"))
        if not_before is not None and _wall_now() < not_before:
            return paging.Outcome(
                notes=[
                    f"{self.inst.label}: waiting for its rate limit to reset at {not_before:%H:%M:%S} UTC"
                ]
            )
        self.state.pop("not_before", None)
        self.headers.update(self._auth())
        streams = [
            paging.Stream(_key(self.inst.url, tag), f"#{tag} on {self.inst.label}") for tag in tags
        ]
        self._tags = {s.key: tag for s, tag in zip(streams, tags, strict=True)}
        out = paging.run(
            ledger,
            streams,
            self,
            now=self.ctx.now,
            edge_for=_edge_for,
            backfill_since=self.ctx.backfill_since,
            pages_per_stream=self.settings.max_pages,
        )
        out.notes[:0] = self.notes
        if self.unknown and len(self.unknown) == len(tags):
            listed = ", ".join(f"#{t}" for t in tags)
            raise SourceError(
                f"{self.inst.label} has no timeline for {listed} (404): no post there carries "
                f"{'it' if len(tags) == 1 else 'them'} yet, or this is not a Mastodon instance",
                status=404,
            )
        if self.unknown:
            out.notes.append(
                f"{self.inst.label}: no post carries "
                f"{', '.join('#' + t for t in tags if t in self.unknown)} yet (404)"
            )
        return out

    def _auth(self) -> dict[str, str]:
        var = self.inst.token_env
        if not var:
            return {}
        token = os.environ.get(var)
        if not token:
            raise SourceError(
                f"{self.inst.label}: environment variable {var} (its access token) is not set"
            )
        return {"Authorization": f"Bearer {token}"}

    # -- paging

    def page(self, rng: paging.Range) -> paging.Page:
        if self.state.get("not_before"):
            raise paging.Pause(
                f"{self.inst.label}: few requests left; the rest follows after its rate limit resets"
            )
        tag = self._tags[rng.key]
        params: dict[str, Any] = {"limit": self.settings.page_size}
        if rng.cont and rng.cont.get("max_id"):
            params["max_id"] = rng.cont["max_id"]
        edge_id = (rng.edge or {}).get("id")
        if edge_id:
            params["since_id"] = edge_id
        try:
            items, links = self._page(self._timeline_url(tag), params, tag)
        except _UnknownTag:
            self.unknown.add(tag)
            return paging.Page(posts=[])
        if not items:
            return paging.Page(posts=[])
        edge_at = datetime.fromtimestamp(rng.edge_at, UTC)
        kept = items if edge_id else [i for i in items if (_created(i) or edge_at) >= edge_at]
        times = [t for t in map(_created, kept) if t is not None]
        newest_id = _newest_id(items)
        older = _link_param(links, "next", "max_id") or _oldest_id(items)
        newest_at = max(times) if times else None
        return paging.Page(
            posts=self._parse(kept, tag),
            newest={"id": newest_id, "at": newest_at.isoformat() if newest_at else None}
            if newest_id
            else None,
            newest_at=newest_at,
            oldest_at=min(times) if times else None,
            cont=None if len(kept) < len(items) or older is None else {"max_id": older},
        )

    # -- HTTP

    def _timeline_url(self, tag: str) -> str:
        return f"{self.inst.url}/api/v1/timelines/tag/{quote(tag, safe='')}"

    def _page(
        self, url: str, params: dict[str, Any] | None, tag: str
    ) -> tuple[list[Any], dict[str, str]]:
        what = self.inst.label
        resp, body = http.get(
            self.source.http,
            url,
            what=what,
            headers=self.headers,
            params=params,
            timeout=self.settings.timeout.total_seconds(),
            ok=(200, 401, 403, 404, 410, 422, 429),
        )
        self.status = resp.status_code
        self._read_rate_limit(resp)
        if resp.status_code != 200:
            self._refuse(resp, body, tag)
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise SourceError(
                f"{what} sent a timeline page that is not JSON (truncated or garbled, "
                f"{len(body):,} bytes)",
                status=resp.status_code,
            ) from None
        if isinstance(data, dict) and "error" in data:
            raise SourceError(
                f"{what} answered #{tag} with an error: {_server_words(data['error'])}",
                status=resp.status_code,
            )
        if not isinstance(data, list):
            raise SourceError(
                f"{what} sent {type(data).__name__} where a list of posts belongs; "
                "is this a Mastodon instance?",
                status=resp.status_code,
            )
        return data, {
            rel: link["url"]
            for rel, link in resp.links.items()
            if rel is not None and "url" in link
        }

    def _refuse(self, resp: httpx.Response, body: bytes, tag: str) -> None:
        what, status = self.inst.label, resp.status_code
        said = _error_field(body)
        if status == 401:
            if self.inst.token_env:
                raise SourceError(
                    f"{what} rejected the access token in {self.inst.token_env} (401)", status=401
                )
            raise SourceError(
                f"{what} requires an access token for hashtag timelines (401): create one there "
                "with the read:statuses scope and name its variable under token_env",
                status=401,
            )
        if status == 403:
            raise SourceError(
                f"{what} refused to show #{tag} (403){': ' + said if said else ''}", status=403
            )
        if status == 404 and said is not None:
            raise _UnknownTag()
        if status == 429:
            reset = iso_time(resp.headers.get("X-RateLimit-Reset"))
            wait = max(1.0, (reset - _wall_now()).total_seconds()) if reset else None
            retry = http.parse_retry_after(resp.headers.get("Retry-After")) or wait
            if reset is not None:
                self.state["not_before"] = reset.isoformat()
            when = f"; the limit resets at {reset:%H:%M:%S} UTC" if reset else ""
            raise SourceError(
                f"{what} is rate-limiting us (429){when}", status=429, retry_after=retry
            )
        raise SourceError(
            http.describe_status(what, status) + (f": {said}" if said else ""), status=status
        )

    def _read_rate_limit(self, resp: httpx.Response) -> None:
        """Leave the instance alone until the reset when only a small reserve is left."""
        try:
            remaining = int(resp.headers["X-RateLimit-Remaining"])
            limit = int(resp.headers.get("X-RateLimit-Limit") or 300)
        except (KeyError, ValueError):
            return
        reserve = max(2, limit // 20)
        reset = iso_time(resp.headers.get("X-RateLimit-Reset"))
        if remaining <= reserve and reset is not None and reset > _wall_now():
            self.state["not_before"] = reset.isoformat()
            self.notes.append(
                f"{self.inst.label}: {remaining} of {limit} requests left; pausing it until "
                f"{reset:%H:%M:%S} UTC"
            )

    # -- posts

    def _parse(self, items: list[Any], tag: str) -> list[RawPost]:
        posts, bad = statuses_to_posts(items, where=f"{self.inst.label} #{tag}")
        if bad:
            self.notes.append(
                f"{self.inst.label} #{tag}: skipped {bad} post(s) in an unexpected shape"
            )
        return posts


class _UnknownTag(Exception):
    """The instance answered 404 "Record not found": no post there carries this tag."""


def statuses_to_posts(items: list[Any], where: str = "Mastodon") -> tuple[list[RawPost], int]:
    """Mastodon Status objects in the common shape, and how many could not be read.

    A boost yields its original (as a post of its own) and the boost itself (as `repost_of` the
    original's uri), so the original is stored and the boost counts as engagement on it.
    """
    posts: list[RawPost] = []
    bad = 0
    for i, item in enumerate(items, start=1):
        try:
            inner = item.get("reblog")
            if inner:
                original = _status_to_post(inner)
                boost = _status_to_post(item, text=False)
                boost.repost_of = original.native_id
                original.position = f"{where} status {i} (the boosted post)"
                boost.position = f"{where} status {i}"
                posts.extend((original, boost))
            else:
                posts.append(_status_to_post(item))
                posts[-1].position = f"{where} status {i}"
        except Exception as exc:  # noqa: BLE001 - one status's damage stays with that status
            bad += 1
            reject(
                f"{where} status {i}",
                f"unreadable ({type(exc).__name__}: {exc})",
                item,
                item.get("uri") if isinstance(item, dict) else None,
            )
    return posts, bad


def _status_to_post(status: dict[str, Any], *, text: bool = True) -> RawPost:
    uri = status["uri"]
    if not isinstance(uri, str) or not uri:
        raise ValueError("a status without a uri")
    created = iso_time(status["created_at"])
    if created is None:
        raise ValueError("a status without a readable created_at")
    account = status.get("account") or {}
    counts = sum(
        count(status.get(k)) for k in ("replies_count", "reblogs_count", "favourites_count")
    )
    tags = tuple(
        t["name"] for t in status.get("tags") or () if isinstance(t, dict) and t.get("name")
    )
    spoiler = (status.get("spoiler_text") or "").strip()
    return RawPost(
        native_id=uri,
        canonical_id=uri,
        created_at=created,
        text=str(status.get("content") or "") if text else "",
        is_html=True,
        title=(spoiler or None) if text else None,
        url=status.get("url") or uri,
        author=account.get("acct") or account.get("username"),
        lang=status.get("language") or None,
        tags=tags if text else (),
        engagement=counts if text else 0,
    )


# --- small readers -------------------------------------------------------------------------------


def _wall_now() -> datetime:
    """Rate limits run on the servers' clocks, never on a simulated one."""
    return datetime.now(UTC)


def _link_param(links: dict[str, str], rel: str, name: str) -> str | None:
    url = links.get(rel)
    if not url:
        return None
    values = parse_qs(urlsplit(url).query).get(name)
    return values[0] if values else None


def _id_key(item: Any) -> tuple[int, str]:
    """Mastodon ids are opaque strings that sort by length, then lexically."""
    value = str(item.get("id") or "") if isinstance(item, dict) else ""
    return len(value), value


def _newest_id(items: list[Any]) -> str | None:
    key = max((_id_key(i) for i in items), default=(0, ""))
    return key[1] or None


def _oldest_id(items: list[Any]) -> str | None:
    keys = [k for k in (_id_key(i) for i in items) if k[1]]
    return min(keys)[1] if keys else None


def _error_field(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return _server_words(data["error"]) if isinstance(data, dict) and "error" in data else None


def _server_words(value: Any, limit: int = 200) -> str:
    """A server's own error text, made safe to show (it is untrusted) and kept short."""
    text = " ".join(sanitize(str(value)).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
