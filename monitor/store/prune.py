"""Retention: old posts deleted in short transactions, their counts kept in the rollups.

A year of a busy story is millions of posts, and most of a store's bytes are posts (text, URLs,
their indexes). The numbers every view shows come from the bucket sums, which are not touched
when posts go: `bucket_hour` is always kept, so series, digests and the dashboard's hourly and
coarser charts still cover the pruned time; the minute buckets before the date go too, unless
`keep_buckets` (they are 60 rows for each hour row). Each batch of posts is its own write
transaction of a few milliseconds, so a collector writing at the same time waits for one batch
at most, never for the whole prune.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import col

from monitor.store import facets
from monitor.store.db import Store, to_ts
from monitor.store.models import Bucket, BucketHour, PollLog, Post, PostTopic, Repost, table_of

log = logging.getLogger(__name__)

BATCH = 5_000
DAY_S = 86_400


@dataclass(slots=True)
class PruneReport:
    before: datetime
    posts: int = 0
    topic_links: int = 0
    reposts: int = 0
    minute_buckets: int = 0
    poll_log: int = 0
    bytes_before: int | None = (
        None  # SQLite: pages in use before and after (the file keeps its size)
    )
    bytes_after: int | None = None

    def lines(self) -> list[str]:
        out = [
            f"deleted {self.posts:,} posts created before {self.before:%Y-%m-%d %H:%M} UTC, "
            f"{self.topic_links:,} topic links, {self.reposts:,} reposts, "
            f"{self.minute_buckets:,} minute buckets and {self.poll_log:,} poll log rows",
            "hourly rollups kept: series, digests and hourly charts still count the deleted posts",
        ]
        if self.bytes_before is not None and self.bytes_after is not None:
            freed = self.bytes_before - self.bytes_after
            out.append(
                f"freed {freed / 2**20:,.1f} MB inside the store ({self.bytes_after / 2**20:,.1f} MB in use); "
                f"SQLite reuses that space for new posts (run VACUUM to give it back to the disk)"
            )
        return out


def _sqlite_bytes_in_use(store: Store) -> int | None:
    if store.dialect != "sqlite":
        return None
    with store.read() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
        free = conn.exec_driver_sql("PRAGMA freelist_count").scalar_one()
        size = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
    return (pages - free) * size


def _prune_minutes(store: Store, cutoff: int) -> int:
    """Minute buckets before `cutoff`, a day of one topic × source per transaction (at most 1,440
    rows), each a range of the primary key (topic, source, start_ts)."""
    deleted = 0
    with store.read() as conn:
        keys = conn.execute(select(col(BucketHour.topic), col(BucketHour.source)).distinct()).all()
    for topic, source in keys:
        with store.read() as conn:
            first = conn.execute(
                select(func.min(Bucket.start_ts)).where(
                    col(Bucket.topic) == topic, col(Bucket.source) == source
                )
            ).scalar()
        if first is None:
            continue
        for start in range(first - first % DAY_S, cutoff, DAY_S):
            with store.write() as conn:
                deleted += conn.execute(
                    table_of(Bucket)
                    .delete()
                    .where(
                        col(Bucket.topic) == topic,
                        col(Bucket.source) == source,
                        col(Bucket.start_ts) >= start,
                        col(Bucket.start_ts) < min(start + DAY_S, cutoff),
                    )
                ).rowcount
    return deleted


def prune(
    store: Store,
    before: datetime,
    *,
    keep_buckets: bool = False,
    batch: int = BATCH,
    progress: Callable[[PruneReport], None] | None = None,
) -> PruneReport:
    """Delete posts created before `before` (with their topic links and reposts), the poll log
    before it, and the minute buckets before it unless `keep_buckets`; keep the hourly rollups.
    The hourly facet counts leave with their posts: they count posts the topic screen reads."""
    report = PruneReport(before=before, bytes_before=_sqlite_bytes_in_use(store))
    while True:
        with store.write() as conn:
            # Oldest first along the created_at index: each batch is a short range scan.
            ids = (
                conn.execute(
                    select(col(Post.id))
                    .where(col(Post.created_at) < before)
                    .order_by(col(Post.created_at))
                    .limit(batch)
                )
                .scalars()
                .all()
            )
            if not ids:
                break
            gone = conn.execute(
                select(
                    col(PostTopic.topic),
                    col(PostTopic.created_at),
                    col(PostTopic.facet),
                    col(PostTopic.compound),
                ).where(col(PostTopic.post_id).in_(ids))
            ).all()
            # the posts leave their hours
            facets.add(conn, [(r[0], r[1], r[2], r[3]) for r in gone], sign=-1)
            report.topic_links += conn.execute(
                table_of(PostTopic).delete().where(col(PostTopic.post_id).in_(ids))
            ).rowcount
            report.reposts += conn.execute(
                table_of(Repost).delete().where(col(Repost.post_id).in_(ids))
            ).rowcount
            report.posts += conn.execute(
                table_of(Post).delete().where(col(Post.id).in_(ids))
            ).rowcount
        if progress is not None:
            progress(report)
    if not keep_buckets:
        report.minute_buckets = _prune_minutes(store, to_ts(before))
    with store.write() as conn:
        report.poll_log += conn.execute(
            table_of(PollLog).delete().where(col(PollLog.started_at) < before)
        ).rowcount
    report.bytes_after = _sqlite_bytes_in_use(store)
    log.info("pruned %s", report)
    return report


__all__ = ["BATCH", "PruneReport", "prune"]
