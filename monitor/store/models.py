"""The store's tables.

Changing a table means adding an Alembic migration under `monitor/store/migrations/versions/`: a store
made by an earlier version must keep working (tests compare the migrated schema to these models).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from hashlib import blake2b
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.sql.expression import false
from sqlmodel import Field, SQLModel

ALL_SOURCES = "*"  # the `bucket.source` value of the all-sources rollup


def table_of(model: type[SQLModel]) -> Table:
    """The Core table behind a table model, for statements the ORM layer does not type.

    SQLModel sets `__table__` on every `table=True` class but does not declare it, so a type
    checker cannot see it; the mapper names the same table object.
    """
    table = sa_inspect(model).local_table
    if not isinstance(table, Table):  # only a model without table=True gets here
        raise TypeError(f"{model.__name__} is not a table model")
    return table


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC in and out, on SQLite (which stores naive text) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(
                f"naive datetime {value!r} reached the store; every time must be UTC-aware"
            )
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _ts(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class SourceRow(SQLModel, table=True):
    """A configured source as last seen in feeds.yaml (kept when removed, so its posts keep a name)."""

    __tablename__ = "source"

    name: str = Field(primary_key=True, max_length=100)
    kind: str = Field(max_length=40)
    settings: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class SourceState(SQLModel, table=True):
    """Where a source's polling stands. `state` is owned by the source module (cursors, ETags)."""

    __tablename__ = "source_state"

    source: str = Field(primary_key=True, foreign_key="source.name", max_length=100)
    state: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    last_poll_at: datetime | None = _ts()
    last_ok_at: datetime | None = _ts()
    last_outcome: str | None = Field(default=None, max_length=20)
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    last_status: int | None = None
    consecutive_failures: int = 0
    failing_since: datetime | None = _ts()
    next_poll_at: datetime | None = _ts()
    # Which collector polls this source, until when (monitor/store/leases.py); renewed while it runs.
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_expires_at: datetime | None = _ts()
    posts_total: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )


class Post(SQLModel, table=True):
    """One post, stored once. `text` is as posted (sanitized of control characters only)."""

    __tablename__ = "post"
    __table_args__ = (
        UniqueConstraint("source", "native_id", name="uq_post_source_native"),
        # Unique: a post shared under one canonical URL or platform-wide id is stored once, whichever
        # source (and whichever concurrent transaction) sees it first. NULLs do not collide.
        Index("ux_post_canonical_url", "canonical_url", unique=True),
        Index("ux_post_canonical_id", "canonical_id", unique=True),
    )

    # BIGINT on PostgreSQL; plain INTEGER on SQLite, where only that is the auto-increment rowid.
    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    source: str = Field(max_length=100)  # looked up through uq_post_source_native
    native_id: str = Field(max_length=512)
    canonical_url: str | None = Field(default=None, max_length=2048)
    canonical_id: str | None = Field(default=None, max_length=512)
    url: str | None = Field(default=None, sa_column=Column(Text))
    author: str | None = Field(default=None, max_length=512)
    text: str = Field(sa_column=Column(Text, nullable=False))
    lang: str | None = Field(default=None, max_length=16)
    tags: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = _ts(nullable=False, index=True)
    fetched_at: datetime = _ts(nullable=False)
    engagement: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    reposts: int = 0
    compound: float | None = None
    pos: float | None = None
    neu: float | None = None
    neg: float | None = None
    scorer: str | None = Field(default=None, max_length=40)
    scorer_version: str | None = Field(default=None, max_length=40)


def facet_key(lang: str | None, tags: Any) -> int:
    """A post's language and hashtag set as one signed 64-bit number (BLAKE2b).

    The topic screen counts languages and hashtags over the newest posts; grouping their links by
    this key needs no post row, and one post per key tells what the key stands for. Tags count
    once per post whatever their case or order, as the screen counts them, so the key is of the
    casefolded set; a missing language differs from an empty one.
    """
    return key_of(lang, canonical_tags(tags))


def canonical_tags(tags: Any) -> tuple[str, ...]:
    """A post's hashtags as the topic screen counts them: once each, casefolded, sorted."""
    return tuple(sorted({str(t).casefold() for t in (tags or ())}))


def key_of(lang: str | None, tags: tuple[str, ...]) -> int:
    """`facet_key` of tags already in `canonical_tags` form (ingest has them at hand)."""
    canon = ("-" if lang is None else "+" + lang) + "\x1e" + "\x1f".join(tags)
    return int.from_bytes(blake2b(canon.encode(), digest_size=8).digest(), "big", signed=True)


def link_row(post: dict[str, Any], topic: str) -> dict[str, Any]:
    """The `post_topic` row linking `post` (a dict of its columns, with `id`) to `topic`, copies
    included: for code that writes posts without the collector (generators, imports, tests)."""
    return {
        "post_id": post["id"],
        "topic": topic,
        "created_at": post["created_at"],
        "compound": post.get("compound"),
        "engagement": post.get("engagement") or 0,
        "facet": facet_key(post.get("lang"), post.get("tags")),
    }


class PostTopic(SQLModel, table=True):
    """A post's membership of a topic, with copies of what the topic screen reads of the post.

    `created_at`, `compound`, `engagement` and `facet` are copied from the post (and kept in step
    when a boost changes its engagement) so that the newest posts of a topic are one walk along
    `ix_post_topic_recent`, which holds all of them, without touching a post row.
    """

    __tablename__ = "post_topic"

    post_id: int = Field(sa_column=Column(BigInteger, primary_key=True))
    topic: str = Field(primary_key=True, max_length=100)
    created_at: datetime = _ts(nullable=False)
    compound: float | None = None
    engagement: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    facet: int = Field(sa_column=Column(BigInteger, nullable=False))


Index(
    "ix_post_topic_recent",
    table_of(PostTopic).c.topic,
    table_of(PostTopic).c.created_at.desc(),
    table_of(PostTopic).c.facet,
    table_of(PostTopic).c.compound,
    table_of(PostTopic).c.engagement,
    table_of(PostTopic).c.post_id,
)


class TopicFacetHour(SQLModel, table=True):
    """A topic's posts per hour and `facet` (language + hashtag set): posts and unscored posts.

    The topic screen's language and hashtag counts over its newest posts add these hours up and
    read only the partial hours at either end from `post_topic`, so they cost the same at 10k and
    10M posts. Written in the transaction that writes the links; deleting or pruning posts takes
    them out again (rows may stay at zero).
    """

    __tablename__ = "topic_facet_hour"

    topic: str = Field(primary_key=True, max_length=100)
    start_ts: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    facet: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    n: int = 0
    n_unscored: int = 0


class Facet(SQLModel, table=True):
    """What a `facet` key stands for: a language and a casefolded, sorted hashtag list."""

    __tablename__ = "facet"

    facet: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    lang: str | None = Field(default=None, max_length=16)
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class Repost(SQLModel, table=True):
    """A boost/repost seen once: it adds engagement to its original and is never a post itself."""

    __tablename__ = "repost"

    source: str = Field(primary_key=True, max_length=100)
    native_id: str = Field(primary_key=True, max_length=512)
    post_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    seen_at: datetime = _ts(nullable=False)


class Bucket(SQLModel, table=True):
    """Sums for one topic × source (or all) × minute: every metric is computed from these.

    `start_ts` is UNIX seconds at a multiple of `width_s` so coarser buckets are an exact integer
    GROUP BY on any database; queries hand it out as timezone-aware datetimes.
    """

    __tablename__ = "bucket"
    __table_args__ = (Index("ix_bucket_changed_ms", "changed_ms"),)

    topic: str = Field(primary_key=True, max_length=100)
    source: str = Field(primary_key=True, max_length=100)
    start_ts: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    width_s: int = Field(primary_key=True, default=60)
    n_neg: int = 0
    n_neu: int = 0
    n_pos: int = 0
    sum_neg: float = 0.0
    sum_neu: float = 0.0
    sum_pos: float = 0.0
    sum_sq: float = 0.0
    n_unscored: int = 0
    engagement: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    # A source serving this topic failed to poll during this minute: never read it as quiet.
    incomplete: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    # The database's clock (UNIX ms) at the last upsert: readers that cache buckets re-read every
    # bucket changed since their last read, however old (late posts, backfills, imports).
    changed_ms: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )


class BucketHour(SQLModel, table=True):
    """The minute buckets of one topic × source (or all) × UTC hour, summed.

    Written in the same transaction as the minute rows they sum (`monitor.ingest.poll.upsert_buckets`),
    so the two never disagree: counts are exact, sums are sums, and an hour is `incomplete` when
    any of its minutes is. Views of an hour or coarser read these (60x fewer rows over a month).
    """

    __tablename__ = "bucket_hour"

    topic: str = Field(primary_key=True, max_length=100)
    source: str = Field(primary_key=True, max_length=100)
    start_ts: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    n_neg: int = 0
    n_neu: int = 0
    n_pos: int = 0
    sum_neg: float = 0.0
    sum_neu: float = 0.0
    sum_pos: float = 0.0
    sum_sq: float = 0.0
    n_unscored: int = 0
    engagement: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    incomplete: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )


class PollLog(SQLModel, table=True):
    """One row per poll: the truth for feed health and for marking buckets with collection gaps."""

    __tablename__ = "poll_log"
    __table_args__ = (Index("ix_poll_log_source_started", "source", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=100)
    started_at: datetime = _ts(nullable=False)
    duration_s: float = 0.0
    outcome: str = Field(max_length=20)  # ok | not_modified | partial | error
    http_status: int | None = None
    new_posts: int = 0
    error: str | None = Field(default=None, sa_column=Column(Text))
    quarantined: int = Field(
        default=0, sa_column=Column(Integer, nullable=False, server_default="0")
    )


class Quarantine(SQLModel, table=True):
    """An item a source sent that could not be stored as a post, kept for a person to inspect.

    One row per (source, item): a feed that serves the same broken item on every poll bumps
    `times_seen` instead of adding rows, so the table stays small over months.
    """

    __tablename__ = "quarantine"
    __table_args__ = (UniqueConstraint("source", "item_key", name="uq_quarantine_source_item"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=100)
    # the native id, or a digest of the raw item when it has none
    item_key: str = Field(max_length=600)
    native_id: str | None = Field(default=None, max_length=512)
    # where it sat: "line 12", "item 3 of 40"
    position: str = Field(sa_column=Column(Text, nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    raw: str = Field(sa_column=Column(Text, nullable=False))  # the item as JSON, non-ASCII escaped
    first_seen_at: datetime = _ts(nullable=False)
    last_seen_at: datetime = _ts(nullable=False)
    times_seen: int = 1


class Alert(SQLModel, table=True):
    """A spike seen live, stored once per topic, kind and bucket however often that bucket is re-checked.

    The unique key is what makes alerts idempotent: every poll re-checks the buckets it touched,
    and a restart re-checks recent ones, but only the first detection inserts (and is sent).
    `details` holds everything the alert said (baseline values, weights, driving posts and
    hashtags) so it can be re-read exactly as it was sent, even after the posts are gone.
    """

    __tablename__ = "alert"
    __table_args__ = (
        UniqueConstraint("topic", "kind", "bucket_start", name="uq_alert_topic_kind_bucket"),
        Index("ix_alert_bucket_start", "bucket_start"),
    )

    id: int | None = Field(default=None, primary_key=True)
    topic: str = Field(max_length=100)
    kind: str = Field(max_length=20)  # volume | sentiment
    direction: str = Field(max_length=10)  # up | down
    bucket_start: datetime = _ts(nullable=False)
    bucket_s: int = 3600
    created_at: datetime = _ts(nullable=False)
    value: float  # posts in the bucket, or its mean compound
    expected: float  # the baseline mean, or mu0
    threshold: float  # the EARS-t limit, or the EWMA limit
    summary: str = Field(sa_column=Column(Text, nullable=False))
    details: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    delivered_at: datetime | None = _ts()
    delivery_attempts: int = 0
    next_delivery_at: datetime | None = _ts()
    delivery_error: str | None = Field(default=None, sa_column=Column(Text))


class DigestRun(SQLModel, table=True):
    """What one digest built and sent for one day, per output, so a re-run never sends twice.

    `digest` is the configured digest's name (with `:topic` for a one-topic run from the CLI);
    `output` is folder, email or webhook. A failed delivery keeps status `failed` and its error in
    words until a later run (or `--resend`) succeeds.
    """

    __tablename__ = "digest_run"

    digest: str = Field(primary_key=True, max_length=200)
    day: date = Field(sa_column=Column(Date, primary_key=True))
    output: str = Field(primary_key=True, max_length=20)
    status: str = Field(max_length=20)  # ok | failed
    attempts: int = 0
    updated_at: datetime = _ts(nullable=False)
    sent_at: datetime | None = _ts()
    error: str | None = Field(default=None, sa_column=Column(Text))
    detail: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
