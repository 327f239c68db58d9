"""One poll of one source, end to end: fetch → normalize → match → dedupe → score → store.

Everything a poll produces (posts, scores, topic links, bucket sums, the source's new cursor and
its poll-log row) is written in ONE transaction. If the process dies before the commit, nothing
of the poll is stored and the old cursor makes the next poll fetch the same items again: nothing
is lost and nothing is stored twice.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, delete, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col

from monitor.core import faults
from monitor.core.text import canonical_url, extract_hashtags, html_to_text, sanitize
from monitor.ingest.match import TopicMatcher
from monitor.ingest.scoring import UNDETERMINED, ScoringPipeline
from monitor.ingest.vet import MAX_URL_BYTES, excerpt, rejected_post, repair_text, vet_all
from monitor.metrics.formulas import classify
from monitor.sources import http
from monitor.sources.base import (
    Batch,
    PollContext,
    RawPost,
    Rejected,
    Source,
    SourceError,
    collecting_rejections,
)
from monitor.store import facets
from monitor.store.bulk import BulkInsert, select_in
from monitor.store.db import BUCKET_WIDTH_S, Store, bucket_start, db_clock_ms, utcnow
from monitor.store.models import (
    ALL_SOURCES,
    Bucket,
    BucketHour,
    PollLog,
    Post,
    PostTopic,
    Quarantine,
    Repost,
    SourceRow,
    SourceState,
    table_of,
)

log = logging.getLogger(__name__)

IN_CHUNK = 500  # bound the size of IN (...) lists: SQLite's variable limit, PostgreSQL's planner
MAX_GAP_MINUTES = 7 * 24 * 60  # how far back a failure marks buckets incomplete
MAX_SPAN_MINUTES = 31 * 24 * 60  # how far back a span a platform could not serve is marked
QUARANTINE_KEEP = timedelta(days=30)  # a quarantined item not seen again for this long is forgotten


@dataclass(slots=True)
class Normalized:
    """A post after normalize: plain, control-free text and the keys dedupe needs."""

    raw: RawPost
    text: str
    author: str | None
    tags: list[str]
    canonical_url: str | None
    topics: list[str] = field(default_factory=list)


@dataclass(slots=True)
class PollOutcome:
    source: str
    outcome: str  # ok | not_modified | partial | error | stopped (cut short by a stop)
    new_posts: int = 0
    duplicates: int = 0
    unmatched: int = 0
    reposts: int = 0
    quarantined: int = 0  # items that could not be stored, kept in the quarantine table
    rejected: list[Rejected] = field(default_factory=list)  # those items, with position and reason
    error: str | None = None
    status: int | None = None
    retry_after: float | None = None
    duration_s: float = 0.0


@dataclass(slots=True)
class BucketDelta:
    """What some posts add to one minute bucket of a topic × source, or take back out of it when
    they are deleted (then every field is negative): the sums `upsert_buckets` adds up."""

    n_neg: int = 0
    n_neu: int = 0
    n_pos: int = 0
    sum_neg: float = 0.0
    sum_neu: float = 0.0
    sum_pos: float = 0.0
    sum_sq: float = 0.0
    n_unscored: int = 0
    engagement: int = 0

    def count(self, compound: float | None, sign: int = 1) -> None:
        """Count a post into (sign 1) or out of (sign -1) its VADER class. An unscored post
        (None) is counted apart and never enters the sentiment sums (docs/metrics.md)."""
        if compound is None:
            self.n_unscored += sign
            return
        k = classify(compound)
        if k < 0:
            self.n_neg += sign
            self.sum_neg += sign * compound
        elif k == 0:
            self.n_neu += sign
            self.sum_neu += sign * compound
        else:
            self.n_pos += sign
            self.sum_pos += sign * compound
        self.sum_sq += sign * compound * compound

    def row(self, topic: str, source: str, start_ts: int) -> dict[str, Any]:
        """The bucket row `upsert_buckets` takes: these sums for that minute, not a gap."""
        sums = {name: getattr(self, name) for name in _SUMS}
        return {
            "topic": topic,
            "source": source,
            "start_ts": start_ts,
            "width_s": BUCKET_WIDTH_S,
            **sums,
            "incomplete": False,
        }


class StoreConflict(Exception):
    """A concurrent transaction stored this poll's own items: the poll rolls back as a whole."""


# --- normalize ------------------------------------------------------------------------------


def normalize(raw: RawPost) -> Normalized:
    body = html_to_text(raw.text) if raw.is_html else raw.text
    title = (raw.title or "").strip()
    if title and not body.strip().startswith(title[: max(10, len(title) // 2)]):
        body = f"{title}\n{body}" if body.strip() else title
    text = sanitize(body).strip()
    tags = list(
        dict.fromkeys([t.lstrip("#").casefold() for t in raw.tags if t] + extract_hashtags(text))
    )
    author = (sanitize(raw.author).strip() or None) if raw.author else None
    url = canonical_url(raw.url)
    if url is not None and len(url) * 4 > MAX_URL_BYTES and len(url.encode()) > MAX_URL_BYTES:
        url = None  # too long for the unique index; such a link just takes no part in URL dedupe
    return Normalized(raw=raw, text=text, author=author, tags=tags, canonical_url=url)


# --- the pipeline ---------------------------------------------------------------------------


class Ingestor:
    """Holds what is expensive to build (matcher, scorer) and runs polls against one store."""

    def __init__(
        self,
        store: Store,
        topics: Sequence[Any],
        *,
        scoring: ScoringPipeline | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.store = store
        self.topics = list(topics)
        self.matcher = TopicMatcher(self.topics)
        # Topics limited to some languages; most configs have none, and then nothing is filtered.
        self._topic_langs = {
            t.name: set(langs) for t in self.topics if (langs := getattr(t, "languages", None))
        }
        self.scoring = scoring or ScoringPipeline()
        self.clock = clock
        # Set by the collector: true once it is stopping. A poll its stop cut short is no failure
        # of the source: it records nothing of the cut (the cursor resumes at the next start).
        self.stopping: Callable[[], bool] = lambda: False

    # One poll: fetch, then store in one transaction; failures become readable source state.
    def poll(self, source: Source) -> PollOutcome:
        started = self.clock()
        t0 = time.perf_counter()
        row = self.store.source_state(source.name) or {}
        state = dict(row.get("state") or {})
        ctx = self.poll_context(source, started)
        try:
            with (
                http.redirect_policy(source.settings.redirect_hosts),
                collecting_rejections() as unread,
            ):
                batch = source.fetch(state, ctx)
            batch.rejected = [*unread, *batch.rejected]
        except SourceError as exc:
            if self.stopping():
                log.info("%s: poll cut short, the collector is stopping", source.name)
                return PollOutcome(
                    source=source.name, outcome="stopped", duration_s=time.perf_counter() - t0
                )
            return self._record_failure(source, started, t0, exc, row)
        except Exception as exc:  # a schema surprise must not kill the collector
            log.debug("unexpected error polling %s", source.name, exc_info=True)
            err = SourceError(f"unexpected {type(exc).__name__} while reading {source.name}: {exc}")
            return self._record_failure(source, started, t0, err, row)
        return self.store_batch(source, batch, started, t0)

    def poll_context(self, source: Source, now: datetime) -> PollContext:
        """What a fetch is told: the time, the backfill window, and which ids are stored already."""
        return PollContext(
            now=now,
            backfill=source.settings.backfill,
            known=lambda ids: self._stored_native_ids(source.name, list(ids)),
        )

    def store_batch(
        self, source: Source, batch: Batch, started: datetime, t0: float | None = None
    ) -> PollOutcome:
        """Store a fetched batch and the source's new state in one transaction.

        Should the store refuse the batch for a reason the checks did not foresee (not a full disk
        or a lost database, which fail every write alike), its items are stored one by one, each in
        a transaction of its own, and those the store refuses are quarantined with its words: one
        item can never block a source, whatever is wrong with it.
        """
        t0 = time.perf_counter() if t0 is None else t0
        try:
            return self._store(source, batch, started, t0)
        except StoreConflict:
            raise
        except Exception as exc:
            if not batch.posts or faults.classify(exc).kind != faults.OTHER:
                raise
            log.warning(
                "%s: the store refused the poll as a whole (%s); storing its %d item(s) one by one",
                source.name,
                sanitize(faults.describe(exc)),
                len(batch.posts),
            )
            first = exc
        return self._store_one_by_one(source, batch, started, t0, first)

    def _store_one_by_one(
        self, source: Source, batch: Batch, started: datetime, t0: float, first: Exception
    ) -> PollOutcome:
        done = PollOutcome(source=source.name, outcome="ok")
        rejected: list[Rejected] = []
        refused = 0
        for i, raw in enumerate(batch.posts, start=1):
            one = Batch(posts=[raw], state={}, known_checked=batch.known_checked)
            try:
                out = self._store(source, one, started, t0, record=False)
            except StoreConflict:
                raise
            except Exception as exc:  # noqa: BLE001 - this item's problem; a fault of the store is not
                if faults.classify(exc).kind != faults.OTHER:
                    raise
                rejected.append(rejected_post(raw, i, len(batch.posts), exc))
                refused += 1
                continue
            for name in ("new_posts", "duplicates", "unmatched", "reposts"):
                setattr(done, name, getattr(done, name) + getattr(out, name))
            rejected.extend(out.rejected)
        if len(batch.posts) > 1 and refused == len(batch.posts):
            # Every item refused alike: the store is the problem, not the items; keep them all for the
            # next poll rather than quarantine a whole page.
            raise first
        rest = Batch(
            posts=[],
            state=batch.state,
            status=batch.status,
            not_modified=batch.not_modified,
            error=batch.error,
            notes=batch.notes,
            already_stored=batch.already_stored,
            rejected=[*batch.rejected, *rejected],
        )
        return self._store(source, rest, started, t0, carried=done)

    def _store(
        self,
        source: Source,
        batch: Batch,
        started: datetime,
        t0: float,
        *,
        record: bool = True,
        carried: PollOutcome | None = None,
    ) -> PollOutcome:
        """The one transaction; with `record=False` only the posts (no state, log or quarantine)."""
        settings = source.settings
        bound = settings.topics
        # Each item is checked (and repaired where that changes nothing it says) on its own: an
        # item that cannot be stored is quarantined with a reason, the rest are stored and the
        # cursor advances, so one malformed post never blocks a source.
        posts, rejected = vet_all(batch.posts, started)
        rejected = [*batch.rejected, *rejected]
        # A feed repeats most of its items on every poll; those are known by (source, native id)
        # and need no normalizing (the check is repeated inside the transaction). A source that
        # asked PollContext.known itself has left them out already.
        known = (
            set()
            if batch.known_checked
            else self._stored_native_ids(
                source.name, [p.native_id for p in posts if p.repost_of is None]
            )
        )
        normalized = []
        for i, p in enumerate(posts, start=1):
            if p.repost_of is not None or p.native_id not in known:
                try:
                    normalized.append(normalize(p))
                except Exception as exc:  # noqa: BLE001 - the item's problem, not the poll's
                    rejected.append(rejected_post(p, i, len(posts), exc))
        originals = [n for n in normalized if n.raw.repost_of is None]
        reposts = [n for n in normalized if n.raw.repost_of is not None]
        matched = self._match(originals, settings.match, bound)
        unmatched = len(originals) - len(matched)
        outcome = PollOutcome(
            source=source.name, outcome="ok", unmatched=unmatched, status=batch.status
        )
        if batch.not_modified:
            outcome.outcome = "not_modified"
        # What a stop cut short stays pending in the source's cursor: stored, not a failure.
        cut_short = batch.error is not None and self.stopping()
        if batch.error is not None and not cut_short:
            outcome.outcome, outcome.error = "partial", sanitize(batch.error.message)
            outcome.retry_after = batch.error.retry_after
        elif cut_short:
            outcome.outcome = "stopped"
        now = self.clock()
        with self.store.write() as conn:
            fresh = self._dedupe(conn, source.name, matched)
            outcome.duplicates = (
                len(matched)
                - len(fresh)
                + batch.already_stored
                + sum(1 for p in posts if p.repost_of is None and p.native_id in known)
            )
            scored = self._score(fresh, rejected)
            outcome.new_posts = self._insert_posts(conn, source.name, scored, now)
            # lost a race to a concurrent poll
            outcome.duplicates += len(scored) - outcome.new_posts
            outcome.reposts = self._insert_reposts(conn, source.name, reposts, now)
            outcome.rejected = rejected
            if not record:
                return outcome
            if carried is not None:  # what the items stored one by one added
                for name in ("new_posts", "duplicates", "unmatched", "reposts"):
                    setattr(outcome, name, getattr(outcome, name) + getattr(carried, name))
            outcome.quarantined = quarantine(conn, source.name, rejected, now)
            outcome.duration_s = time.perf_counter() - t0
            self._save_state(conn, source, batch.state, outcome, started)
            if batch.error is not None and not cut_short:
                self._mark_gap(conn, source, started)
            for start, end in batch.gaps:
                self._mark_gap(conn, source, start, end)
        # notes can quote a server or a file: no control characters in the log
        for note in batch.notes:
            log.info("%s: %s", source.name, sanitize(note))
        return outcome

    def delete_posts(self, source: str, ids: Sequence[str]) -> int:
        """Remove posts their authors deleted, with their share of every bucket, in one transaction.

        `ids` are canonical ids (a post is deleted whichever source stored it) or this source's
        native ids. Deleting what is not stored does nothing, so a replayed delete is harmless.
        Returns how many posts were removed.
        """
        ids = list(dict.fromkeys(ids))
        if not ids:
            return 0
        cols = (
            col(Post.id),
            col(Post.source),
            col(Post.created_at),
            col(Post.compound),
            col(Post.engagement),
        )
        with self.store.write() as conn:
            found: dict[int, Any] = {}
            for i in range(0, len(ids), IN_CHUNK):
                chunk = ids[i : i + IN_CHUNK]
                for row in conn.execute(
                    select(*cols).where(
                        or_(
                            col(Post.canonical_id).in_(chunk),
                            (col(Post.source) == source) & col(Post.native_id).in_(chunk),
                        )
                    )
                ):
                    found[row.id] = row
            if not found:
                return 0
            post_ids = list(found)
            topics: dict[int, list[str]] = defaultdict(list)
            links = []
            for i in range(0, len(post_ids), IN_CHUNK):
                for pid, topic, created, facet, compound in conn.execute(
                    select(
                        col(PostTopic.post_id),
                        col(PostTopic.topic),
                        col(PostTopic.created_at),
                        col(PostTopic.facet),
                        col(PostTopic.compound),
                    ).where(col(PostTopic.post_id).in_(post_ids[i : i + IN_CHUNK]))
                ):
                    topics[pid].append(topic)
                    links.append((topic, created, facet, compound))
            upsert_buckets(conn, _bucket_deltas(found.values(), topics))
            facets.add(conn, links, sign=-1)
            for i in range(0, len(post_ids), IN_CHUNK):
                id_chunk = post_ids[i : i + IN_CHUNK]
                conn.execute(delete(PostTopic).where(col(PostTopic.post_id).in_(id_chunk)))
                conn.execute(
                    update(Repost).where(col(Repost.post_id).in_(id_chunk)).values(post_id=None)
                )
                conn.execute(delete(Post).where(col(Post.id).in_(id_chunk)))
        return len(found)

    # --- match --------------------------------------------------------------------------
    def _match(
        self, posts: Iterable[Normalized], mode: str, bound: list[str] | None
    ) -> list[Normalized]:
        out = []
        for p in posts:
            names = (
                self.matcher.match_all() if mode == "all" else self.matcher.match(p.text, p.tags)
            )
            if bound is not None:
                names = [n for n in names if n in bound]
            if names:
                p.topics = names
                out.append(p)
        return out

    # --- dedupe -------------------------------------------------------------------------
    def _stored_native_ids(self, source: str, native_ids: list[str]) -> set[str]:
        if not native_ids:
            return set()
        with self.store.read() as conn:
            return {r[0] for r in select_in(conn, _NATIVE_IDS, native_ids, before=(source,))}

    def _dedupe(self, conn: Connection, source: str, posts: list[Normalized]) -> list[Normalized]:
        """Drop what the batch repeats and what the store already has (by id, canonical id or URL)."""
        seen_ids: set[str] = set()
        seen_keys: set[str] = set()
        unique = []
        for p in posts:
            keys = {k for k in (p.canonical_url, p.raw.canonical_id) if k}
            if p.raw.native_id in seen_ids or keys & seen_keys:
                continue
            seen_ids.add(p.raw.native_id)
            seen_keys |= keys
            unique.append(p)
        if not unique:
            return []
        stored_ids = {
            r[0]
            for r in select_in(
                conn, _NATIVE_IDS, [p.raw.native_id for p in unique], before=(source,)
            )
        }
        stored_urls = {
            r[0]
            for r in select_in(
                conn,
                "SELECT canonical_url FROM post WHERE canonical_url IN ({marks})",
                [p.canonical_url for p in unique if p.canonical_url],
            )
        }
        stored_cids = {
            r[0]
            for r in select_in(
                conn,
                "SELECT canonical_id FROM post WHERE canonical_id IN ({marks})",
                [p.raw.canonical_id for p in unique if p.raw.canonical_id],
            )
        }
        return [
            p
            for p in unique
            if p.raw.native_id not in stored_ids
            and (p.canonical_url is None or p.canonical_url not in stored_urls)
            and (p.raw.canonical_id is None or p.raw.canonical_id not in stored_cids)
        ]

    @staticmethod
    def _existing(conn: Connection, column: Any, values: list[str], *where: Any) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(values), IN_CHUNK):
            chunk = values[i : i + IN_CHUNK]
            found.update(conn.execute(select(column).where(column.in_(chunk), *where)).scalars())
        return found

    # --- score --------------------------------------------------------------------------
    def _score(
        self, posts: list[Normalized], rejected: list[Rejected] | None = None
    ) -> list[tuple[Normalized, Any]]:
        if not posts:
            return []
        try:
            scores = self.scoring.score([p.text for p in posts], [p.raw.lang for p in posts])
        except Exception:  # noqa: BLE001 - find the item that broke it, score the rest
            log.debug("scoring a batch failed; scoring its posts one by one", exc_info=True)
            kept, scores = [], []
            for i, p in enumerate(posts, start=1):
                try:
                    scores.extend(self.scoring.score([p.text], [p.raw.lang]))
                    kept.append(p)
                except Exception as exc:  # noqa: BLE001
                    if rejected is not None:
                        rejected.append(rejected_post(p.raw, i, len(posts), exc))
            posts = kept
        limited = self._topic_langs
        if not limited:
            return list(zip(posts, scores, strict=False))
        out = []
        for p, s in zip(posts, scores, strict=False):
            # A topic limited to some languages keeps only posts in them; a post in no language
            # (no text, or emoji and hashtags only: 'und') passes.
            if s.lang is not None and s.lang != UNDETERMINED:
                p.topics = [t for t in p.topics if t not in limited or s.lang in limited[t]]
            if p.topics:
                out.append((p, s))
        return out

    # --- store --------------------------------------------------------------------------
    def _insert_posts(
        self, conn: Connection, source: str, scored: list[tuple[Normalized, Any]], now: datetime
    ) -> int:
        """Insert the posts dedupe let through; a post whose canonical URL or id a concurrent
        transaction stored first is skipped by the unique index (ON CONFLICT DO NOTHING), so
        it is never stored twice and adds to no bucket. Returns how many were stored."""
        if not scored:
            return 0
        rows = [
            (
                source,
                p.raw.native_id,
                p.canonical_url,
                p.raw.canonical_id,
                p.raw.url,
                p.author,
                p.text,
                s.lang,
                p.tags,
                p.raw.created_at,
                now,
                p.raw.engagement,
                0,
                s.compound,
                s.pos,
                s.neu,
                s.neg,
                s.scorer,
                s.scorer_version,
            )
            for p, s in scored
        ]
        natives = [r[1] for r in rows]
        if conn.dialect.name == "sqlite":
            # A plain executemany plus one id look-up is several times faster than INSERT …
            # RETURNING with ordered rows, which SQLAlchemy runs row by row on SQLite. The look-up
            # finds only rows written just now: this transaction has held the write lock since
            # dedupe dropped what was stored (BEGIN IMMEDIATE).
            _POST_ROWS(conn, rows)
            ids = self._ids(conn, source, natives)
        else:
            ids = dict(_POST_ROWS(conn, rows, returning="native_id, id"))
        if len(ids) < len(rows):
            skipped = [n for n in natives if n not in ids]
            if self._ids(conn, source, skipped):
                # This source's own items, stored meanwhile by another collector (one that took
                # the lease over from this stalled one): its poll is newer; roll this one back.
                raise StoreConflict(
                    f"{source}: another collector stored these posts meanwhile "
                    "(uq_post_source_native); this poll is dropped"
                )
            scored = [(p, s) for p, s in scored if p.raw.native_id in ids]
        meanings = [facets.meaning(s.lang, p.tags) for p, s in scored]
        links = [
            (ids[p.raw.native_id], t, p.raw.created_at, s.compound, p.raw.engagement, m[0])
            for (p, s), m in zip(scored, meanings, strict=True)
            for t in p.topics
        ]
        _LINK_ROWS(conn, links)
        facets.add(conn, ((t, created, f, c) for _, t, created, c, _, f in links), meanings)
        self._add_to_buckets(conn, source, scored)
        return len(scored)

    @staticmethod
    def _ids(conn: Connection, source: str, native_ids: list[str]) -> dict[str, int]:
        return {
            native: post_id
            for native, post_id in select_in(conn, _NATIVE_IDS, native_ids, before=(source,))
        }

    def _add_to_buckets(
        self, conn: Connection, source: str, scored: list[tuple[Normalized, Any]]
    ) -> None:
        acc: dict[tuple[str, str, int], BucketDelta] = defaultdict(BucketDelta)
        for p, s in scored:
            start = bucket_start(p.raw.created_at)
            compound, engagement = s.compound, p.raw.engagement
            for topic in p.topics:
                for src in (source, ALL_SOURCES):
                    d = acc[(topic, src, start)]
                    d.count(compound)
                    d.engagement += engagement
        upsert_buckets(conn, [d.row(t, src, start) for (t, src, start), d in acc.items()])

    def _insert_reposts(
        self, conn: Connection, source: str, reposts: list[Normalized], now: datetime
    ) -> int:
        """A boost adds engagement to its stored original, once per boost."""
        if not reposts:
            return 0
        ids = list(dict.fromkeys(r.raw.native_id for r in reposts))
        known = self._existing(conn, Repost.native_id, ids, Repost.source == source)
        new = [r for r in reposts if r.raw.native_id not in known]
        new = list({r.raw.native_id: r for r in new}.values())
        if not new:
            return 0
        originals: dict[str | None, int] = {}
        wanted = list({r.raw.repost_of for r in new})
        for i in range(0, len(wanted), IN_CHUNK):
            originals.update(
                (native, cast(int, pid))  # a stored post has an id
                for native, pid in conn.execute(
                    select(col(Post.native_id), col(Post.id)).where(
                        col(Post.source) == source,
                        col(Post.native_id).in_(wanted[i : i + IN_CHUNK]),
                    )
                )
            )
        conn.execute(
            insert(Repost),
            [
                {
                    "source": source,
                    "native_id": r.raw.native_id,
                    "post_id": originals.get(r.raw.repost_of),
                    "seen_at": now,
                }
                for r in new
            ],
        )
        per_post: dict[int, int] = defaultdict(int)
        for r in new:
            if r.raw.repost_of in originals:
                per_post[originals[r.raw.repost_of]] += 1
        for pid, k in per_post.items():
            conn.execute(
                update(Post)
                .where(col(Post.id) == pid)
                .values(reposts=Post.reposts + k, engagement=Post.engagement + k)
            )
            # the links' copy, which the topic screen's most-engaged posts are read from
            conn.execute(
                update(PostTopic)
                .where(col(PostTopic.post_id) == pid)
                .values(engagement=PostTopic.engagement + k)
            )
        self._add_repost_engagement(conn, source, per_post)
        return len(new)

    @staticmethod
    def _add_repost_engagement(conn: Connection, source: str, per_post: dict[int, int]) -> None:
        """Boosts count in the original's buckets too, so series engagement equals the posts'."""
        if not per_post:
            return
        rows = []
        ids = list(per_post)
        for i in range(0, len(ids), IN_CHUNK):
            for pid, topic, created in conn.execute(
                select(
                    col(PostTopic.post_id), col(PostTopic.topic), col(PostTopic.created_at)
                ).where(col(PostTopic.post_id).in_(ids[i : i + IN_CHUNK]))
            ):
                for src in (source, ALL_SOURCES):
                    rows.append(
                        {
                            "topic": topic,
                            "source": src,
                            "start_ts": bucket_start(created),
                            "width_s": BUCKET_WIDTH_S,
                            "n_neg": 0,
                            "n_neu": 0,
                            "n_pos": 0,
                            "sum_neg": 0.0,
                            "sum_neu": 0.0,
                            "sum_pos": 0.0,
                            "sum_sq": 0.0,
                            "n_unscored": 0,
                            "engagement": per_post[pid],
                            "incomplete": False,
                        }
                    )
        upsert_buckets(conn, rows)

    def _save_state(
        self, conn: Connection, source: Source, state: dict, outcome: PollOutcome, started: datetime
    ) -> None:
        ok = outcome.outcome in ("ok", "not_modified")
        values: dict[str, Any] = {
            "state": state,
            "last_poll_at": started,
            "last_outcome": outcome.outcome,
            "last_status": outcome.status,
            "posts_total": SourceState.posts_total + outcome.new_posts,
        }
        if outcome.outcome == "stopped":  # the source's health is what the last full poll said
            for said in ("last_outcome", "last_status"):
                del values[said]
        elif ok:
            values.update(
                last_ok_at=started, last_error=None, consecutive_failures=0, failing_since=None
            )
        else:
            values.update(
                last_error=outcome.error, consecutive_failures=SourceState.consecutive_failures + 1
            )
        _ensure_state_row(conn, source)
        conn.execute(
            update(SourceState).where(col(SourceState.source) == source.name).values(**values)
        )
        conn.execute(
            insert(PollLog).values(
                source=source.name,
                started_at=started,
                duration_s=outcome.duration_s,
                outcome=outcome.outcome,
                http_status=outcome.status,
                new_posts=outcome.new_posts,
                error=outcome.error,
                quarantined=outcome.quarantined,
            )
        )

    # --- failure ------------------------------------------------------------------------
    def _record_failure(
        self, source: Source, started: datetime, t0: float, exc: SourceError, row: dict[str, Any]
    ) -> PollOutcome:
        # Error text can quote a server's body: strip control characters before it is stored.
        message = sanitize(exc.message)
        outcome = PollOutcome(
            source=source.name,
            outcome="error",
            error=message,
            status=exc.status,
            retry_after=exc.retry_after,
            duration_s=time.perf_counter() - t0,
        )
        with self.store.write() as conn:
            _ensure_state_row(conn, source)
            conn.execute(
                update(SourceState)
                .where(col(SourceState.source) == source.name)
                .values(
                    last_poll_at=started,
                    last_outcome="error",
                    last_error=message,
                    last_status=exc.status,
                    consecutive_failures=SourceState.consecutive_failures + 1,
                    failing_since=row.get("failing_since") or started,
                )
            )
            conn.execute(
                insert(PollLog).values(
                    source=source.name,
                    started_at=started,
                    duration_s=outcome.duration_s,
                    outcome="error",
                    http_status=exc.status,
                    new_posts=0,
                    error=message,
                )
            )
            self._mark_gap(conn, source, row.get("last_poll_at") or started)
        return outcome

    def _mark_gap(
        self, conn: Connection, source: Source, since: datetime, until: datetime | None = None
    ) -> None:
        """Flag every minute since the last attempt (or of a span the platform could not serve)
        as incomplete for the topics this source serves."""
        now = self.clock()
        horizon = MAX_GAP_MINUTES if until is None else MAX_SPAN_MINUTES
        first = max(bucket_start(since), bucket_start(now - timedelta(minutes=horizon)))
        last = bucket_start(min(until, now) if until is not None else now)
        names = source.settings.topics or [t.name for t in self.topics]
        rows = [
            {
                "topic": t,
                "source": src,
                "start_ts": ts,
                "width_s": BUCKET_WIDTH_S,
                "incomplete": True,
                "n_neg": 0,
                "n_neu": 0,
                "n_pos": 0,
                "sum_neg": 0.0,
                "sum_neu": 0.0,
                "sum_pos": 0.0,
                "sum_sq": 0.0,
                "n_unscored": 0,
                "engagement": 0,
            }
            for t in names
            for src in (source.name, ALL_SOURCES)
            for ts in range(first, last + 1, BUCKET_WIDTH_S)
        ]
        upsert_buckets(conn, rows)


def quarantine(conn: Connection, source: str, items: Sequence[Rejected], now: datetime) -> int:
    """Keep rejected items for inspection, one row per (source, item): seeing it again only
    updates when, where and why. Returns how many items were quarantined."""
    if not items:
        return 0
    merged: dict[str, dict[str, Any]] = {}
    for item in items:
        raw = excerpt(item.raw)
        key = item.native_id or "sha1:" + hashlib.sha1(raw.encode("utf-8", "replace")).hexdigest()
        merged[key[:600]] = {
            "source": source,
            "item_key": key[:600],
            "native_id": item.native_id,
            "position": sanitize(repair_text(item.position)),
            "reason": sanitize(repair_text(item.reason)),
            "raw": raw,
            "first_seen_at": now,
            "last_seen_at": now,
            "times_seen": 1,
        }
    table = table_of(Quarantine)
    keys = list(merged)
    seen = {k for (k,) in select_in(conn, _QUARANTINED_KEYS, keys, before=(source,))}
    new = [merged[k] for k in keys if k not in seen]
    if new:  # said once per item, not on every poll that serves it again
        more = f" (and {len(new) - 1} more; see `monitor quarantine`)" if len(new) > 1 else ""
        log.warning("%s: quarantined %s: %s%s", source, new[0]["position"], new[0]["reason"], more)
    make = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = make(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["source", "item_key"],
        set_={
            "last_seen_at": stmt.excluded.last_seen_at,
            "position": stmt.excluded.position,
            "reason": stmt.excluded.reason,
            "raw": stmt.excluded.raw,
            "times_seen": table.c.times_seen + 1,
        },
    )
    conn.execute(stmt, list(merged.values()))
    # Kept for inspection, not for ever: what a source has not sent again for a month goes.
    conn.execute(
        delete(Quarantine).where(
            col(Quarantine.source) == source, col(Quarantine.last_seen_at) < now - QUARANTINE_KEEP
        )
    )
    return len(items)


def _ensure_state_row(conn: Connection, source: Source) -> None:
    """Sources are registered at start-up; this covers one that was not (an ad-hoc import)."""
    if (
        conn.execute(
            select(col(SourceState.source)).where(col(SourceState.source) == source.name)
        ).first()
        is None
    ):
        if (
            conn.execute(
                select(col(SourceRow.name)).where(col(SourceRow.name) == source.name)
            ).first()
            is None
        ):
            conn.execute(
                insert(SourceRow).values(
                    name=source.name,
                    kind=source.kind,
                    settings=source.settings.model_dump(mode="json"),
                )
            )
        conn.execute(insert(SourceState).values(source=source.name, state={}))


def _bucket_deltas(posts: Iterable[Any], topics: dict[int, list[str]]) -> list[dict[str, Any]]:
    """Negative bucket rows that take deleted posts back out of the sums they were added to."""
    acc: dict[tuple[str, str, int], BucketDelta] = defaultdict(BucketDelta)
    for post in posts:
        start = bucket_start(post.created_at)
        for topic in topics.get(post.id, ()):
            for src in (post.source, ALL_SOURCES):
                d = acc[(topic, src, start)]
                d.count(post.compound, sign=-1)
                # boosts stored later reached the buckets too (_add_repost_engagement)
                d.engagement -= post.engagement
    return [d.row(t, src, start) for (t, src, start), d in acc.items()]


_NATIVE_IDS = "SELECT native_id, id FROM post WHERE source = {mark} AND native_id IN ({marks})"
_QUARANTINED_KEYS = (
    "SELECT item_key FROM quarantine WHERE source = {mark} AND item_key IN ({marks})"
)
# the summed columns of a bucket row, in the order BucketDelta declares them
_SUMS = tuple(f.name for f in fields(BucketDelta))
_BUCKET_COLUMNS = ("topic", "source", "start_ts", "width_s", *_SUMS, "incomplete", "changed_ms")
# DO NOTHING on any unique key: (source, native id), canonical URL, canonical id. Dedupe reads
# first and drops what is stored; the clause settles what a concurrent transaction stored between
# that read and this insert (PostgreSQL waits for that transaction, then skips the row).
_POST_ROWS = BulkInsert(
    table_of(Post),
    (
        "source",
        "native_id",
        "canonical_url",
        "canonical_id",
        "url",
        "author",
        "text",
        "lang",
        "tags",
        "created_at",
        "fetched_at",
        "engagement",
        "reposts",
        "compound",
        "pos",
        "neu",
        "neg",
        "scorer",
        "scorer_version",
    ),
    on_conflict=" ON CONFLICT DO NOTHING",
)
_LINK_ROWS = BulkInsert(
    table_of(PostTopic), ("post_id", "topic", "created_at", "compound", "engagement", "facet")
)
# The same ON CONFLICT clause reads alike on SQLite (>= 3.24) and PostgreSQL.
_BUCKET_ROWS = BulkInsert(
    table_of(Bucket),
    _BUCKET_COLUMNS,
    on_conflict=(
        " ON CONFLICT (topic, source, start_ts, width_s) DO UPDATE SET "
        + ", ".join(f"{c} = bucket.{c} + excluded.{c}" for c in _SUMS)
        + ", incomplete = bucket.incomplete OR excluded.incomplete, changed_ms = excluded.changed_ms"
    ),
)


_HOUR_ROWS = BulkInsert(
    table_of(BucketHour),
    ("topic", "source", "start_ts", *_SUMS, "incomplete"),
    on_conflict=(
        " ON CONFLICT (topic, source, start_ts) DO UPDATE SET "
        + ", ".join(f"{c} = bucket_hour.{c} + excluded.{c}" for c in _SUMS)
        + ", incomplete = bucket_hour.incomplete OR excluded.incomplete"
    ),
)


def _add_up(rows: Iterable[tuple[tuple[Any, ...], list[Any]]]) -> dict[tuple[Any, ...], list[Any]]:
    """Rows with the same key added up (sums as sums, `incomplete` if any is): one upsert statement
    may not touch a row twice."""
    merged: dict[tuple[Any, ...], list[Any]] = {}
    for key, values in rows:
        found = merged.get(key)
        if found is None:
            merged[key] = list(values)
        else:
            for i in range(len(_SUMS)):
                found[i] += values[i]
            found[-1] = found[-1] or values[-1]
    return merged


def upsert_buckets(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Add sums into the minute buckets and their hourly rollups (INSERT … ON CONFLICT DO UPDATE).

    Every bucket write goes through here, so the hours (`bucket_hour`) stay the exact sums of
    their minutes: both are written in the caller's transaction, from the same added-up rows.
    Every minute row written is stamped with the database's clock (`Bucket.changed_ms`), so a
    reader that caches old buckets (the dashboard) finds late changes without re-reading everything.
    """
    minutes = _add_up(
        (
            (r["topic"], r["source"], r["start_ts"], r["width_s"]),
            [r[c] for c in _SUMS] + [r["incomplete"]],
        )
        for r in rows
    )
    if not minutes:
        return
    stamp = db_clock_ms(conn)
    _BUCKET_ROWS(conn, [(*key, *values, stamp) for key, values in minutes.items()])
    hours = _add_up(
        ((topic, source, start - start % 3600), values)
        for (topic, source, start, width), values in minutes.items()
        if width == BUCKET_WIDTH_S
    )
    _HOUR_ROWS(conn, [(*key, *values) for key, values in hours.items()])


__all__ = ["Ingestor", "Normalized", "PollOutcome", "normalize", "upsert_buckets"]
