"""The one small interface every platform source implements, and the common post shape.

A source knows one platform's API and nothing else. It is handed its saved state (a JSON-able
dict it owns: cursors, ETags, newest ids) and returns raw posts plus its new state. It never
touches the store: the ingest step stores the posts and the new state in one transaction, so a
crash between fetching and storing loses nothing (the next poll starts from the old state).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from monitor.durations import parse_duration

if TYPE_CHECKING:  # pragma: no cover
    import httpx

    from monitor.config import Topic

USER_AGENT = "reaction-monitor/0.1 (+https://github.com/reaction-monitor/reaction-monitor)"


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


class SourceError(Exception):
    """A poll failed in a way a person should read ("Bluesky rejected the app password (401)").

    `retry_after` (seconds) comes from the server when it said so; `status` is the HTTP status.
    """

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
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
    timeout: Duration = timedelta(seconds=20)

    def secret_env_vars(self) -> dict[str, str]:
        """{field name: environment variable name} for every secret this source names."""
        out = {}
        for fname in type(self).model_fields:
            if fname.endswith("_env"):
                value = getattr(self, fname)
                if value:
                    out[fname] = value
        return out


class Source(abc.ABC):
    """A platform adapter. Subclasses set `kind` and `Settings` and implement `fetch`."""

    kind: ClassVar[str]
    Settings: ClassVar[type[SourceSettings]]
    streaming: ClassVar[bool] = False

    def __init__(self, settings: SourceSettings, topics: list["Topic"], http: "httpx.Client"):
        self.settings = settings
        self.topics = topics
        self.http = http

    @property
    def name(self) -> str:
        return self.settings.name

    @abc.abstractmethod
    def fetch(self, state: dict[str, Any], ctx: PollContext) -> Batch:
        """Fetch what is new since `state`; raise SourceError when nothing could be fetched."""


def iso_time(value: Any) -> datetime | None:
    """A platform's ISO 8601 time ('Z' or an offset; naive read as UTC), or None if unusable.

    Lenient on purpose: one post with a broken date must not fail a whole poll.
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
