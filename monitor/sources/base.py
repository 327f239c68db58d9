"""The one small interface every platform source implements, and the common post shape.

A source knows one platform's API and nothing else. It is handed its saved state (a JSON-able
dict it owns: cursors, ETags, newest ids) and returns raw posts plus its new state. It never
touches the store: the ingest step stores the posts and the new state in one transaction, so a
crash between fetching and storing loses nothing (the next poll starts from the old state).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from monitor.core.durations import parse_duration
from monitor.core.http import USER_AGENT  # noqa: F401  (the sources' name for it)

if TYPE_CHECKING:  # pragma: no cover
    import httpx


@dataclass(slots=True)
class RawPost:
    """One item as a platform gave it, before normalization.

    `text` is what the author wrote (HTML when `is_html`); `title` is kept apart because feeds
    carry headlines that belong in front of the body. Times are timezone-aware UTC.
    """

    native_id: str
    text: str
    created_at: datetime
    url: str | None = None
    author: str | None = None
    title: str | None = None
    is_html: bool = False
    lang: str | None = None
    tags: tuple[str, ...] = ()
    engagement: int = 0
    # A repost/boost names its original's native id (same source); it adds engagement to the
    # original and is never counted as a post of its own.
    repost_of: str | None = None
    # A platform-wide identity (Mastodon's ActivityPub `uri`, a Bluesky `at://` uri) that is the
    # same whichever instance or endpoint served the post; used for cross-endpoint dedupe.
    canonical_id: str | None = None
    # Where the item sat in what the platform or file sent ("line 12", "page 2 item 7"), so a
    # quarantined item can be found again; None: its place in the batch is used.
    position: str | None = None


@dataclass(slots=True)
class Rejected:
    """An item that could not become a post: kept in the quarantine table, never stored as one.

    `raw` is the item as received (any JSON-able value or text), kept for inspection.
    """

    position: str
    reason: str
    native_id: str | None = None
    raw: Any = None


class SourceError(Exception):
    """A poll failed in a way a person should read ("Bluesky rejected the app password (401)").

    `retry_after` (seconds) comes from the server when it said so; `status` is the HTTP status.
    """

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message


@dataclass(slots=True)
class PollContext:
    """What a source needs to know about this poll besides its own state."""

    now: datetime
    backfill: timedelta  # how far back the very first poll reaches
    # Which of these native ids this source has stored already. A feed repeats most of its items
    # on every poll; a source may use this to skip building posts that dedupe would drop anyway.
    known: Callable[[Sequence[str]], set[str]] | None = None

    @property
    def backfill_since(self) -> datetime:
        return self.now - self.backfill


@dataclass(slots=True)
class Batch:
    """The result of one fetch: posts, the state to save with them, and how it went.

    A paginated source that fails half-way returns the pages it got, the state that matches
    them, and the error: those posts are stored and the failure still shows in feed health.
    """

    posts: list[RawPost]
    state: dict[str, Any]
    status: int | None = None
    not_modified: bool = False
    error: SourceError | None = None
    notes: list[str] = field(default_factory=list)
    already_stored: int = 0  # items left out because PollContext.known said they are stored
    known_checked: bool = False  # every item was checked against PollContext.known already
    # Spans the platform could not serve (monitor/sources/paging.py): their minutes are marked
    # incomplete in the buckets, in the same transaction as the posts.
    gaps: list[tuple[datetime, datetime]] = field(default_factory=list)
    # quarantined with the poll; cursor advances
    rejected: list[Rejected] = field(default_factory=list)


# --- settings -------------------------------------------------------------------------------

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class SourceSettings(BaseModel):
    """Settings every source has. A platform module subclasses this with its own fields.

    Fields whose name ends in `_env` hold the NAME of an environment variable with a secret,
    never the secret itself: feeds.yaml is meant to be shared and committed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    kind: str
    interval: Duration = timedelta(minutes=5)
    topics: list[str] | None = None  # None: every configured topic
    match: Literal["keywords", "all"] = "keywords"
    enabled: bool = True
    backfill: Duration = timedelta(hours=24)
    timeout: Duration = timedelta(seconds=20)  # for each request as a whole, redirects included
    # Hosts (`host` or `host:port`) a redirect may lead to although they are not public addresses
    # (an intranet mirror). The source's own host is always allowed; other hosts must be public.
    redirect_hosts: list[str] = []

    def secret_env_vars(self) -> dict[str, str]:
        """{field name: environment variable name} for every secret this source names."""
        out = {}
        for fname in type(self).model_fields:
            if fname.endswith("_env"):
                value = getattr(self, fname)
                if value:
                    out[fname] = value
        return out


class TopicTerms(Protocol):
    """What a source reads of a topic it serves: the terms to ask its platform for.

    `monitor.config.feeds.Topic` is one; a Protocol keeps the sources from knowing the config
    (import-linter: "The sources know no config"), so a source runs on any object with these.
    """

    name: str
    hashtags: list[str]
    keywords: list[str]
    exclude: list[str]
    languages: list[str] | None


class Source(abc.ABC):
    """A platform adapter. Subclasses set `kind` and `Settings` and implement `fetch`."""

    kind: ClassVar[str]
    Settings: ClassVar[type[SourceSettings]]
    streaming: ClassVar[bool] = False

    def __init__(self, settings: SourceSettings, topics: Sequence[TopicTerms], http: httpx.Client):
        self.settings = settings
        self.topics = topics
        self.http = http

    @property
    def name(self) -> str:
        return self.settings.name

    @abc.abstractmethod
    def fetch(self, state: dict[str, Any], ctx: PollContext) -> Batch:
        """Fetch what is new since `state`; raise SourceError when nothing could be fetched."""


# --- item by item ------------------------------------------------------------------------------
# A platform answer is read item by item: an item that cannot be read is reported by its place
# in the answer and skipped, and never fails the page, the poll, or the items beside it.

_rejections: ContextVar[list[Rejected] | None] = ContextVar("rejections", default=None)


@contextmanager
def collecting_rejections() -> Iterator[list[Rejected]]:
    """Items sources `reject` inside go to the list yielded (ingest quarantines them)."""
    found: list[Rejected] = []
    token = _rejections.set(found)
    try:
        yield found
    finally:
        _rejections.reset(token)


def reject(position: str, reason: str, raw: Any = None, native_id: Any = None) -> None:
    """Report an item that could not be read; outside a poll (a test calling fetch) it is dropped."""
    found = _rejections.get()
    if found is not None:
        found.append(
            Rejected(
                position=position,
                reason=reason,
                raw=raw,
                native_id=native_id if isinstance(native_id, str) and native_id else None,
            )
        )


def read_each(
    items: Iterable[Any],
    convert: Callable[[Any], Any],
    position: Callable[[int], str],
    *,
    unshaped: str = "not in the shape the platform documents",
    id_key: str | None = None,
    on_reject: Callable[[], None] | None = None,
) -> Iterator[tuple[str, Any]]:
    """(position, converted) for each item of a platform's answer that `convert` can read.

    The others (`convert` returning None, or raising anything at all) are rejected by their
    position in the answer ("X page 2 tweet 7"), so one damaged item never fails its page."""
    for i, item in enumerate(items, start=1):
        try:
            out = convert(item)
            why = unshaped
        except Exception as exc:  # noqa: BLE001 - one item's damage stays with that item
            out, why = None, f"unreadable ({type(exc).__name__}: {exc})"
        if out is None:
            reject(
                position(i),
                why,
                item,
                item.get(id_key) if id_key and isinstance(item, dict) else None,
            )
            if on_reject is not None:
                on_reject()
            continue
        yield position(i), out


def count(value: Any) -> int:
    """An engagement count as a platform sends it, or 0 when it is not a sane number (a string,
    NaN, infinity, negative, or a number too large for the store)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    if isinstance(value, float) and not math.isfinite(value):
        return 0
    return min(max(int(value), 0), 2**53)


def epoch_time(value: Any) -> datetime | None:
    """UNIX seconds as a UTC time, or None when it is not a number a calendar can hold."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        when = datetime.fromtimestamp(float(value), UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return when if _plausible(when) else None


def iso_time(value: Any) -> datetime | None:
    """A platform's ISO 8601 time ('Z' or an offset; naive read as UTC), or None if unusable.

    Lenient on purpose: one post with a broken date must not fail a whole poll.
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        # "9999-12-31T23:59:59-14:00" is past the calendar's end in UTC
        return None
    return when if _plausible(when) else None


def _plausible(when: datetime) -> bool:
    """A post's time between 1970 and a day from now: a time far in the future would otherwise move a
    source's time cursor past every post to come."""
    return _EPOCH <= when <= datetime.now(UTC) + timedelta(days=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
