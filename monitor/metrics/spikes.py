"""Spike detection over the store: the one code path behind live alerts and a digest's spikes.

metrics.py holds the formulas (EARS-t, EWMA) as pure functions of numbers. This module decides
which numbers they get: hourly sums re-read from the minute buckets, the baseline each hour is
compared with, the sentiment baseline (mu0, sigma_w, sigma_b), and what drove a spike (the
posts and hashtags that contributed most). Alerts and digests both call it, so a spike in the
morning digest is the same spike, by the same rule, as the alert sent the day before.

Baselines (metrics.md §4):
- volume: the same hour on the 7 previous days (hours before the topic's history began or with
  a collection gap are skipped, looking back up to 14 days). A topic younger than that is
  compared with its 7 previous hours instead, at the stricter `alpha_recent`, and says so.
- mean sentiment: mu0, sigma_w and sigma_b from the 28 days before the monitored day, using
  hours with at least `min_posts` scored posts; the EWMA runs over the monitored day's hours.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Integer, and_, cast, false, func, or_, select
from sqlmodel import col

from monitor.config.digests import AlertSettings
from monitor.core.text import sanitize
from monitor.metrics.formulas import BucketSums, EwmaPoint, VolumeCheck, ears_t, ewma_chart, ewma_z
from monitor.store.db import (
    BUCKET_WIDTH_S,
    SUM_COLUMNS,
    Store,
    bucket_rows,
    first_bucket_ts,
    from_ts,
)
from monitor.store.models import ALL_SOURCES, PollLog, Post, PostTopic

__all__ = [
    "HOUR",
    "Hour",
    "Hours",
    "PostRef",
    "SentimentBaseline",
    "SentimentResult",
    "TagPull",
    "VolumeBaseline",
    "VolumeResult",
    "check_sentiment",
    "check_volume",
    "Drivers",
    "safe_url",
    "sentiment_baseline",
    "sentiment_chart",
    "sentiment_drivers",
    "sentiment_window",
    "topic_posts",
    "volume_drivers",
    "volume_lookback",
]

HOUR = 3600
DAY = 86400
SEASON = 7  # baseline values for EARS-t (metrics.md §4)
SEASON_LOOKBACK_DAYS = 14  # how far back to find 7 complete same-hour values
RECENT_LOOKBACK_HOURS = 24  # the same, for the 7-previous-hours baseline of a young topic
SENTIMENT_BASELINE_DAYS = 28
MIN_BASELINE_HOURS = 12  # fewer usable hours and sigma_b is a guess: no sentiment baseline
LAMBDA = 0.2
EXCERPT_CHARS = 500


# --- hourly sums ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hour:
    """One hour of one topic over all sources. `incomplete`: a source failed during it."""

    start: int
    sums: BucketSums
    engagement: int = 0
    incomplete: bool = False

    @property
    def total(self) -> int:
        return self.sums.total


class Hours:
    """Hourly sums of one topic, read from the minute buckets on demand and kept.

    An hour with no bucket row is a quiet hour (0 posts), but only from the topic's history start
    on: before the topic's first post or its sources' first poll, nothing was collected, and
    counting those hours as zeros would make any first burst look like a spike.
    Live alerts keep one of these per topic and `refresh` only the hours a poll touched, so a poll
    costs O(hours touched), not a re-read of 28 days of minute buckets.
    """

    def __init__(self, store: Store, topic: str, sources: Sequence[str] = (), align: int = 0):
        self.store = store
        self.topic = topic
        self.sources = list(sources)
        self.align = align % HOUR
        self._hours: dict[int, Hour] = {}
        self._loaded: tuple[int, int] | None = None
        self.history_start: int | None = None

    def floor(self, ts: int) -> int:
        return ts - (ts - self.align) % HOUR

    def ensure(self, since: int, until: int) -> None:
        """Make [since, until) available, reading only what is not loaded yet."""
        since, until = self.floor(since), self.floor(until - 1) + HOUR
        if self._loaded is None:
            self._read(since, until)
            self._loaded = (since, until)
        else:
            lo, hi = self._loaded
            if since < lo:
                self._read(since, lo)
            if until > hi:
                self._read(hi, until)
            self._loaded = (min(lo, since), max(hi, until))
        if self.history_start is None:
            self.history_start = self._history_start()

    def refresh(self, since: int, until: int) -> None:
        """Re-read [since, until): the hours a poll just added posts to."""
        since, until = self.floor(since), self.floor(until - 1) + HOUR
        self._read(since, until)
        if self._loaded is not None:
            self._loaded = (min(self._loaded[0], since), max(self._loaded[1], until))
        if self.history_start is None or since < self.history_start:
            self.history_start = self._history_start()

    def get(self, ts: int) -> Hour | None:
        """The hour starting at `ts`; None before the topic's history began."""
        if self.history_start is None or ts + HOUR <= self.history_start:
            return None
        return self._hours.get(ts) or Hour(ts, BucketSums())

    def span(self, since: int, until: int) -> list[int]:
        return list(range(self.floor(since), until, HOUR))

    def _read(self, since: int, until: int) -> None:
        # Hours aligned with UTC hours (every whole-hour offset) come from the hourly rollups.
        b = bucket_rows(
            HOUR if self.align % HOUR == 0 else BUCKET_WIDTH_S,
            since,
            until,
            lambda t: [t.c.topic == self.topic, t.c.source == ALL_SOURCES],
        )
        start = ((b.c.start_ts - self.align) // HOUR * HOUR + self.align).label("h")
        cols = [func.sum(b.c[c]) for c in SUM_COLUMNS]
        q = select(
            start, *cols, func.sum(b.c.engagement), func.max(cast(b.c.incomplete, Integer))
        ).group_by(start)
        with self.store.read() as conn:
            rows = conn.execute(q).all()
        for ts in range(since, until, HOUR):
            self._hours.pop(ts, None)
        for h, *sums, engagement, incomplete in rows:
            self._hours[int(h)] = Hour(
                int(h), BucketSums.from_row(sums), int(engagement or 0), bool(incomplete)
            )

    def _history_start(self) -> int | None:
        """When collection for this topic began: its first bucket or its sources' first poll."""
        with self.store.read() as conn:
            first = first_bucket_ts(conn, self.topic)
            polled = None
            if self.sources:
                polled = conn.execute(
                    select(func.min(PollLog.started_at)).where(
                        col(PollLog.source).in_(self.sources)
                    )
                ).scalar()
        starts = [int(first)] if first is not None else []
        if polled is not None:
            starts.append(int(polled.timestamp()))
        return self.floor(min(starts)) if starts else None


# --- volume ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class VolumeBaseline:
    """The hours a bucket is compared with, oldest first, and which rule chose them."""

    kind: Literal["same-hour", "recent"]
    starts: tuple[int, ...]
    values: tuple[int, ...]

    def describe(self) -> str:
        if self.kind == "same-hour":
            return "the same hour on the 7 previous days"
        return "the 7 previous hours (less than 7 days of history)"


@dataclass(frozen=True)
class VolumeResult:
    """One hour's EARS-t decision; `check` is None when there is no baseline yet."""

    start: int
    y: int
    incomplete: bool
    baseline: VolumeBaseline | None
    check: VolumeCheck | None
    alpha: float

    @property
    def alarm(self) -> bool:
        return self.check is not None and self.check.alarm


def _usable(hours: Hours, candidates: Iterable[int]) -> list[Hour]:
    found = []
    for ts in candidates:
        h = hours.get(ts)
        if h is not None and not h.incomplete:
            found.append(h)
            if len(found) == SEASON:
                break
    return found


def volume_baseline(hours: Hours, t: int) -> VolumeBaseline | None:
    """Same hour on the 7 previous complete days, else the 7 previous complete hours, else None."""
    same = _usable(hours, (t - k * DAY for k in range(1, SEASON_LOOKBACK_DAYS + 1)))
    kind: Literal["same-hour", "recent"] = "same-hour"
    if len(same) < SEASON:
        same = _usable(hours, (t - k * HOUR for k in range(1, RECENT_LOOKBACK_HOURS + 1)))
        kind = "recent"
    if len(same) < SEASON:
        return None
    same.reverse()
    return VolumeBaseline(kind, tuple(h.start for h in same), tuple(h.total for h in same))


def volume_lookback(t: int) -> int:
    """The earliest hour `check_volume(t)` may read."""
    return t - SEASON_LOOKBACK_DAYS * DAY


def check_volume(hours: Hours, t: int, settings: AlertSettings) -> VolumeResult:
    """EARS-t for the hour starting at `t` (loaded in `hours` with its lookback)."""
    hour = hours.get(t) or Hour(t, BucketSums())
    baseline = volume_baseline(hours, t)
    if baseline is None:
        return VolumeResult(t, hour.total, hour.incomplete, None, None, settings.alpha)
    alpha = settings.alpha if baseline.kind == "same-hour" else settings.alpha_recent
    check = ears_t(hour.total, baseline.values, alpha=alpha, min_excess=settings.min_excess)
    return VolumeResult(t, hour.total, hour.incomplete, baseline, check, alpha)


# --- mean sentiment -------------------------------------------------------------------------


@dataclass(frozen=True)
class SentimentBaseline:
    """mu0, sigma_w, sigma_b of metrics.md §4, estimated from hourly sums.

    mu0 is the pooled mean; sigma_w the pooled within-hour sd; sigma_b the between-hour sd of
    the true means, by the method of moments: the variance of the hourly means minus the part
    that sampling noise (sigma_w^2 / n) alone explains, floored at 0.
    """

    mu0: float
    sigma_w: float
    sigma_b: float
    hours: int
    posts: int
    since: int
    until: int


@dataclass(slots=True)
class _Usable:
    """Usable hours (n >= min_posts) as columns: what a baseline sums over."""

    starts: list[int] = field(default_factory=list)
    n: list[int] = field(default_factory=list)
    sum: list[float] = field(default_factory=list)
    within: list[float] = field(default_factory=list)  # the hour's sum of squared deviations
    mean: list[float] = field(default_factory=list)

    @classmethod
    def read(cls, hours: Hours, since: int, until: int, min_posts: int) -> _Usable:
        cols = cls()
        for ts in hours.span(since, until):
            h = hours.get(ts)
            if h is None or h.sums.n < min_posts:
                continue
            b = h.sums
            n, total = b.n, b.sum
            cols.starts.append(ts)
            cols.n.append(n)
            cols.sum.append(total)
            cols.within.append(max(b.sum_sq - total * total / n, 0.0))
            cols.mean.append(total / n)
        return cols


def sentiment_baseline(
    hours: Hours, since: int, until: int, min_posts: int
) -> SentimentBaseline | None:
    """None with fewer than MIN_BASELINE_HOURS usable hours, or when every post scored alike."""
    cols = _Usable.read(hours, since, until, min_posts)
    return _baseline(cols, 0, len(cols.n), since, until)


def _baseline(cols: _Usable, lo: int, hi: int, since: int, until: int) -> SentimentBaseline | None:
    """The baseline over the usable hours lo..hi-1 (fsum is exactly rounded: any slice of the
    same values gives the same floats)."""
    k = hi - lo
    if k < MIN_BASELINE_HOURS:
        return None
    ns = cols.n[lo:hi]
    n_total = sum(ns)
    mu0 = math.fsum(cols.sum[lo:hi]) / n_total
    sigma_w = math.sqrt(math.fsum(cols.within[lo:hi]) / (n_total - k))
    means = cols.mean[lo:hi]
    centre = math.fsum(means) / k
    var_means = math.fsum([(m - centre) ** 2 for m in means]) / (k - 1)
    var_w = sigma_w * sigma_w
    noise = math.fsum([var_w / n for n in ns]) / k
    sigma_b = math.sqrt(max(var_means - noise, 0.0))
    if sigma_w == 0.0 and sigma_b == 0.0:
        return None
    return SentimentBaseline(mu0, sigma_w, sigma_b, k, n_total, since, until)


class HourStats:
    """The usable hours over a range, read once, for checking many consecutive hours.

    Each live check needs the 28 days before it; checking a month of hours one by one re-read
    the same hours 700 times. A baseline here is `_baseline` over a slice of the same columns,
    so the decisions are exactly the ones `check_sentiment` makes reading afresh.
    """

    def __init__(self, hours: Hours, since: int, until: int, min_posts: int):
        self.since, self.until = hours.floor(since), until
        self.cols = _Usable.read(hours, since, until, min_posts)

    def baseline(self, since: int, until: int) -> SentimentBaseline | None:
        if since < self.since or until > self.until:
            raise ValueError("baseline window outside the hours read")
        lo, hi = bisect_left(self.cols.starts, since), bisect_left(self.cols.starts, until)
        return _baseline(self.cols, lo, hi, since, until)


@dataclass(frozen=True)
class SentimentResult:
    """One hour on the EWMA chart: its mean and n, and the chart's point (z None: skipped)."""

    start: int
    n: int
    mean: float | None
    point: EwmaPoint

    @property
    def alarm(self) -> bool:
        return self.point.alarm

    @property
    def direction(self) -> Literal["up", "down"]:
        return "up" if self.point.ewma > 0 else "down"


def sentiment_chart(
    hours: Hours, starts: Sequence[int], baseline: SentimentBaseline, settings: AlertSettings
) -> list[SentimentResult]:
    """The EWMA chart over `starts` (consecutive hours); hours with n < min_posts are skipped."""
    z: list[float | None] = []
    stats: list[tuple[int, float | None]] = []
    for ts in starts:
        h = hours.get(ts)
        b = h.sums if h is not None else BucketSums()
        m = b.sum / b.n if b.n else None
        stats.append((b.n, m))
        z.append(
            ewma_z(m, b.n, baseline.mu0, baseline.sigma_w, baseline.sigma_b)
            if m is not None and b.n >= settings.min_posts
            else None
        )
    points = ewma_chart(z, lam=LAMBDA, L=settings.ewma_limit)
    return [
        SentimentResult(ts, n, m, p) for ts, (n, m), p in zip(starts, stats, points, strict=False)
    ]


def sentiment_window(t: int, day_start: int | None = None) -> tuple[int, int, int]:
    """(chart start, baseline since, baseline until) for a live check of hour `t`.

    Live, the chart covers the 24 hours ending with `t` and the baseline the 28 days before
    them; a digest passes its local midnight as `day_start` instead.
    """
    chart_start = day_start if day_start is not None else t - 23 * HOUR
    return chart_start, chart_start - SENTIMENT_BASELINE_DAYS * DAY, chart_start


def check_sentiment(
    hours: Hours, t: int, settings: AlertSettings, stats: HourStats | None = None
) -> tuple[SentimentResult | None, SentimentBaseline | None]:
    """The live EWMA decision for hour `t`, with the baseline it used (None: not enough history).

    `stats` (read with the same min_posts) saves re-reading the baseline's hours for each `t`."""
    chart_start, since, until = sentiment_window(t)
    baseline = (
        stats.baseline(since, until)
        if stats is not None
        else sentiment_baseline(hours, since, until, settings.min_posts)
    )
    if baseline is None:
        return None, None
    chart = sentiment_chart(hours, hours.span(chart_start, t + HOUR), baseline, settings)
    return chart[-1], baseline


# --- what drove it --------------------------------------------------------------------------


def safe_url(url: str | None) -> str | None:
    """Only http(s) links leave the store: a `javascript:` or `data:` URL in a feed stays text."""
    if not url:
        return None
    text = url.strip()
    scheme = text.split(":", 1)[0].lower()
    if scheme not in ("http", "https") or any(ch.isspace() or ord(ch) < 32 for ch in text):
        return None
    return text


@dataclass(frozen=True)
class PostRef:
    """A post as a digest or alert shows it; the text is an excerpt, the URL http(s) or None."""

    id: int
    source: str
    author: str | None
    text: str
    url: str | None
    created_at: datetime
    compound: float | None
    engagement: int
    lang: str | None
    tags: tuple[str, ...] = ()

    @classmethod
    def from_row(cls, row: Any) -> PostRef:
        text = row.text or ""
        if len(text) > EXCERPT_CHARS:
            text = text[: EXCERPT_CHARS - 1].rstrip() + "…"
        return cls(
            id=int(row.id),
            source=row.source,
            author=row.author,
            text=text,
            url=safe_url(row.url),
            created_at=row.created_at,
            compound=row.compound,
            engagement=int(row.engagement or 0),
            lang=row.lang,
            tags=tuple(_tags(row.tags)),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "author": self.author,
            "text": self.text,
            "url": self.url,
            "created_at": self.created_at.isoformat(),
            "compound": self.compound,
            "engagement": self.engagement,
            "lang": self.lang,
            "tags": list(self.tags),
        }


@dataclass(frozen=True)
class TagPull:
    """A hashtag's share in a spike: posts carrying it now vs the baseline average (volume), or
    how far its posts pulled the hour's mean away from mu0 (sentiment)."""

    tag: str
    count: int
    baseline: float
    contribution: float

    def to_json(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "count": self.count,
            "baseline": round(self.baseline, 6),
            "contribution": round(self.contribution, 6),
        }


@dataclass(frozen=True)
class Drivers:
    posts: list[PostRef] = field(default_factory=list)
    hashtags: list[TagPull] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "posts": [p.to_json() for p in self.posts],
            "hashtags": [t.to_json() for t in self.hashtags],
        }


_POST_COLUMNS = (
    Post.id,
    Post.source,
    Post.author,
    Post.text,
    Post.url,
    Post.created_at,
    Post.compound,
    Post.engagement,
    Post.lang,
    Post.tags,
)


def topic_posts(
    topic: str, *ranges: tuple[int, int], columns: Sequence[Any] = _POST_COLUMNS
) -> Any:
    """SELECT of a topic's posts created in any of the [since, until) ranges (UNIX seconds)."""
    window = or_(
        false(),
        *(
            and_(col(PostTopic.created_at) >= from_ts(a), col(PostTopic.created_at) < from_ts(b))
            for a, b in ranges
        ),
    )
    return (
        select(*columns)
        .select_from(Post)
        .join(PostTopic, col(PostTopic.post_id) == Post.id)
        .where(col(PostTopic.topic) == topic, window)
    )


def _tags(raw: Any) -> list[str]:
    """A post's tags as shown: platforms' own tag lists are not sanitized at ingest like text is."""
    return [sanitize(str(t)) for t in raw or ()]


def _tag_counts(conn: Any, query: Any) -> Counter[str]:
    return Counter(t for (tags,) in conn.execute(query) for t in _tags(tags))


def volume_drivers(
    store: Store, topic: str, result: VolumeResult, n_posts: int = 3, n_tags: int = 5
) -> Drivers:
    """The most engaged posts of the hour, and the hashtags most above their baseline rate."""
    start = result.start
    with store.read() as conn:
        posts = conn.execute(
            topic_posts(topic, (start, start + HOUR))
            .order_by(col(Post.engagement).desc(), col(Post.id))
            .limit(n_posts)
        ).all()
        now_tags = _tag_counts(conn, topic_posts(topic, (start, start + HOUR), columns=[Post.tags]))
        starts = result.baseline.starts if result.baseline else ()
        before = _tag_counts(
            conn, topic_posts(topic, *((s, s + HOUR) for s in starts), columns=[Post.tags])
        )
    k = max(len(starts), 1)
    pulls = [
        TagPull(tag, count, before[tag] / k, count - before[tag] / k)
        for tag, count in now_tags.items()
    ]
    pulls = sorted(
        (p for p in pulls if p.contribution > 0), key=lambda p: (-p.contribution, p.tag)
    )[:n_tags]
    return Drivers([PostRef.from_row(r) for r in posts], pulls)


def sentiment_drivers(
    store: Store,
    topic: str,
    start: int,
    mu0: float,
    direction: str,
    n_posts: int = 3,
    n_tags: int = 5,
) -> Drivers:
    """The posts that pulled the hour's mean furthest in the alarm's direction, and their hashtags.

    A post's pull is (compound - mu0) / n in the direction of the shift: the amount by which it
    moved the hour's mean; a hashtag's pull is the sum over the posts that carry it.
    """
    sign = 1.0 if direction == "up" else -1.0
    with store.read() as conn:
        rows = conn.execute(
            topic_posts(topic, (start, start + HOUR)).where(col(Post.compound).is_not(None))
        ).all()
    if not rows:
        return Drivers()
    n = len(rows)
    pull = {r.id: sign * (r.compound - mu0) / n for r in rows}
    top = sorted(rows, key=lambda r: (-pull[r.id], -(r.engagement or 0), r.id))[:n_posts]
    tag_pull: dict[str, float] = {}
    tag_count: Counter[str] = Counter()
    for r in rows:
        for t in _tags(r.tags):
            tag_pull[t] = tag_pull.get(t, 0.0) + pull[r.id]
            tag_count[t] += 1
    tags = sorted(
        (TagPull(t, tag_count[t], 0.0, v) for t, v in tag_pull.items() if v > 0),
        key=lambda p: (-p.contribution, p.tag),
    )[:n_tags]
    return Drivers([PostRef.from_row(r) for r in top if pull[r.id] > 0], tags)
