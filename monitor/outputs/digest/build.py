"""The data of a daily digest: one local day of one topic, every number a reader is shown.

Cost: one read of the topic's minute buckets over the day and the 28 days before it, grouped
into hours by the database (O(buckets)), plus a few top-N post queries (the day's most
positive, negative and engaged posts, and the posts behind each spike) and an aggregate by
language. The renderers (monitor/outputs/digest/render.py) only format what is built here, and the
JSON form is these dataclasses as they are, so it carries every number the text shows.

Spikes use monitor.metrics.spikes, the code path live alerts use, over the hours of the local day.
Collection gaps come from poll_log (which source failed, from when to when, with its error) and
from the buckets' incomplete flags, so a quiet hour caused by an outage is never read as quiet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlmodel import col

from monitor.config.digests import AlertSettings
from monitor.metrics.formulas import BucketSums, Summary, ears_t, summarize, t_ppf, wilson
from monitor.metrics.spikes import (
    DAY,
    HOUR,
    SENTIMENT_BASELINE_DAYS,
    Drivers,
    Hours,
    PostRef,
    SentimentResult,
    VolumeResult,
    check_volume,
    sentiment_baseline,
    sentiment_chart,
    sentiment_drivers,
    topic_posts,
    volume_drivers,
)
from monitor.store.db import HOUR_S, SUM_COLUMNS, Store, bucket_rows, from_ts
from monitor.store.models import ALL_SOURCES, Alert, PollLog, Post

__all__ = [
    "DayWindow",
    "Gap",
    "HourRow",
    "Spike",
    "TopicDigest",
    "build_topic_digest",
    "day_window",
    "mean_change",
]

BASELINE_DAYS = 7
OK_OUTCOMES = ("ok", "not_modified")


# --- the day --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayWindow:
    """A local calendar day as UTC instants: 23, 24 or 25 hours long around DST changes."""

    day: date
    zone: ZoneInfo
    start_ts: int
    end_ts: int

    @property
    def hours(self) -> list[int]:
        return list(range(self.start_ts, self.end_ts, HOUR))

    def local(self, ts: int) -> datetime:
        return from_ts(ts).astimezone(self.zone)


def day_window(day: date, zone: ZoneInfo) -> DayWindow:
    start = datetime.combine(day, time(0), zone)
    end = datetime.combine(day + timedelta(days=1), time(0), zone)
    return DayWindow(day, zone, int(start.timestamp()), int(end.timestamp()))


# --- the parts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayCount:
    """One of the 7 baseline days: `usable` when fully collected (after history began, no gap)."""

    date: str
    total: int
    usable: bool


@dataclass(frozen=True)
class DayVolume:
    """The day's posts against the 7 previous days (EARS-t on daily totals when all 7 are usable)."""

    total: int
    scored: int
    unscored: int
    engagement: int
    baseline: list[DayCount]
    baseline_mean: float | None
    limit: float | None
    alarm: bool | None  # None: fewer than 7 usable baseline days, no test
    ratio: float | None


@dataclass(frozen=True)
class Change:
    """Day-over-day change of the mean, with a Welch 95% interval; `clear` when it excludes 0."""

    delta: float
    lo: float
    hi: float
    clear: bool


@dataclass(frozen=True)
class Polarization:
    """ER-3, B and sigma of the day against the 7 previous days pooled (display rules applied)."""

    er3: float | None
    b: float | None
    sigma: float | None
    baseline_er3: float | None
    baseline_b: float | None
    baseline_sigma: float | None
    baseline_n: int
    display: str
    baseline_display: str


@dataclass(frozen=True)
class HourRow:
    """One local hour: its numbers, and how both detectors judged it."""

    start: datetime
    label: str
    total: int
    n: int
    unscored: int
    mean: float | None
    mean_lo: float | None
    mean_hi: float | None
    engagement: int
    incomplete: bool
    future: bool
    expected: float | None  # the EARS-t baseline mean
    limit: float | None  # the EARS-t limit
    volume_alarm: bool
    ewma: float | None
    ewma_limit: float | None
    sentiment_alarm: bool


@dataclass(frozen=True)
class Spike:
    """A run of consecutive alarming hours, described at its peak hour."""

    kind: Literal["volume", "sentiment"]
    direction: Literal["up", "down"]
    start: datetime
    end: datetime
    peak: datetime
    hours: int
    value: float  # posts in the peak hour, or its mean compound
    expected: float  # baseline mean, or mu0
    threshold: float  # EARS-t limit, or the EWMA limit
    n: int  # posts (volume) or scored posts (sentiment) in the peak hour
    baseline: str  # in words
    baseline_values: dict[str, Any]
    alerted: bool  # a live alert was stored for one of its hours
    incomplete: bool
    drivers: Drivers


@dataclass(frozen=True)
class SourceShare:
    source: str
    total: int
    n: int
    unscored: int
    mean: float | None
    share: float


@dataclass(frozen=True)
class LanguageShare:
    lang: str
    total: int
    scored: int
    share: float


@dataclass(frozen=True)
class Gap:
    """A source's run of failed polls: collection of its posts stopped from `start` to `end`."""

    source: str
    start: datetime
    end: datetime | None  # None: still failing when the digest was built
    seconds: float  # the part of the run inside the day
    failed_polls: int
    error: str | None


@dataclass
class TopicDigest:
    digest: str
    topic: str
    title: str
    date: str
    timezone: str
    start: datetime
    end: datetime
    generated_at: datetime
    complete: bool  # False while the day is not over
    volume: DayVolume
    sentiment: Summary
    previous: Summary
    change: Change | None
    polarization: Polarization
    hours: list[HourRow]
    spikes: list[Spike]
    top_positive: list[PostRef]
    top_negative: list[PostRef]
    top_engaged: list[PostRef]
    sources: list[SourceShare]
    languages: list[LanguageShare]
    unscored_share: float | None
    unscored_lo: float | None
    unscored_hi: float | None
    gaps: list[Gap]
    incomplete_hours: list[str]
    notes: list[str] = field(default_factory=list)


# --- building -------------------------------------------------------------------------------


def build_topic_digest(
    store: Store,
    *,
    digest: str,
    topic: str,
    title: str,
    day: date,
    zone: ZoneInfo,
    sources: Sequence[str],
    settings: AlertSettings,
    now: datetime,
    top_posts: int = 3,
) -> TopicDigest:
    """Everything about one topic's local day. `sources` are the sources serving the topic."""
    window = day_window(day, zone)
    hours = Hours(store, topic, sources, align=window.start_ts % HOUR)
    hours.ensure(window.start_ts - SENTIMENT_BASELINE_DAYS * DAY - DAY, window.end_ts)
    now_ts = int(now.timestamp())
    notes: list[str] = []

    day_sums = _sums(hours, window)
    previous = _sums(hours, day_window(day - timedelta(days=1), zone))
    volume, baseline_sums = _volume(hours, window, day_sums, settings, notes)
    rows, spikes = _hours_and_spikes(store, topic, hours, window, settings, now_ts, notes)
    sentiment, before = summarize(day_sums), summarize(previous)
    unscored = wilson(day_sums.n_unscored, day_sums.total)
    return TopicDigest(
        digest=digest,
        topic=topic,
        title=title,
        date=day.isoformat(),
        timezone=str(zone),
        start=window.local(window.start_ts),
        end=window.local(window.end_ts),
        generated_at=now.astimezone(zone),
        complete=now_ts >= window.end_ts,
        volume=volume,
        sentiment=sentiment,
        previous=before,
        change=mean_change(day_sums, previous)
        if sentiment.mean is not None and before.mean is not None
        else None,
        polarization=_polarization(sentiment, baseline_sums),
        hours=rows,
        spikes=spikes,
        top_positive=_top(
            store, topic, window, col(Post.compound).desc(), col(Post.compound) >= 0.05, top_posts
        ),
        top_negative=_top(
            store, topic, window, col(Post.compound).asc(), col(Post.compound) <= -0.05, top_posts
        ),
        top_engaged=_top(
            store, topic, window, col(Post.engagement).desc(), col(Post.engagement) > 0, top_posts
        ),
        sources=_by_source(store, topic, window),
        languages=_by_language(store, topic, window),
        unscored_share=day_sums.n_unscored / day_sums.total if day_sums.total else None,
        unscored_lo=unscored[0] if unscored else None,
        unscored_hi=unscored[1] if unscored else None,
        gaps=collection_gaps(store, sources, window, now),
        incomplete_hours=[r.label for r in rows if r.incomplete],
        notes=notes,
    )


def _sums(hours: Hours, window: DayWindow) -> BucketSums:
    total = BucketSums()
    for ts in window.hours:
        h = hours.get(ts)
        if h is not None:
            total = total + h.sums
    return total


def _volume(
    hours: Hours, window: DayWindow, day: BucketSums, settings: AlertSettings, notes: list[str]
) -> tuple[DayVolume, BucketSums]:
    """Daily EARS-t against the 7 previous local days that were fully collected."""
    counts: list[DayCount] = []
    pooled = BucketSums()
    for k in range(BASELINE_DAYS, 0, -1):
        w = day_window(window.day - timedelta(days=k), window.zone)
        got = [hours.get(ts) for ts in w.hours]
        usable = all(h is not None and not h.incomplete for h in got)
        sums = _sums(hours, w)
        counts.append(DayCount(w.day.isoformat(), sums.total, usable))
        if usable:
            pooled = pooled + sums
    usable_totals = [c.total for c in counts if c.usable]
    mean_ = sum(usable_totals) / len(usable_totals) if usable_totals else None
    limit = alarm = None
    if len(usable_totals) == BASELINE_DAYS:
        check = ears_t(
            day.total, usable_totals, alpha=settings.alpha, min_excess=settings.min_excess
        )
        limit, alarm = check.limit, check.alarm
    else:
        notes.append(
            f"Volume: {len(usable_totals)} of the 7 previous days were fully collected, so the day's "
            "volume is not tested for a spike (it is compared with the days that were)."
        )
    engagement = sum(h.engagement for ts in window.hours if (h := hours.get(ts)) is not None)
    volume = DayVolume(
        day.total,
        day.n,
        day.n_unscored,
        engagement,
        counts,
        mean_,
        limit,
        alarm,
        day.total / mean_ if mean_ else None,
    )
    return volume, pooled


def mean_change(today: BucketSums, before: BucketSums, level: float = 0.95) -> Change | None:
    """Difference of two days' means with a Welch t interval (unequal variances, Welch df).

    The df is rounded down, which widens the interval slightly rather than claim a change the
    data do not carry. None when either day has fewer than 2 scored posts.
    """
    if today.n < 2 or before.n < 2:
        return None
    delta = today.sum / today.n - before.sum / before.n
    va = max(today.sum_sq - today.sum**2 / today.n, 0.0) / (today.n - 1) / today.n
    vb = max(before.sum_sq - before.sum**2 / before.n, 0.0) / (before.n - 1) / before.n
    if va + vb == 0.0:
        return Change(delta, delta, delta, delta != 0.0)
    df = (va + vb) ** 2 / (va * va / (today.n - 1) + vb * vb / (before.n - 1))
    half = t_ppf(1.0 - (1.0 - level) / 2.0, max(1, math.floor(df))) * math.sqrt(va + vb)
    return Change(delta, delta - half, delta + half, abs(delta) > half)


def _polarization(day: Summary, baseline: BucketSums) -> Polarization:
    base = summarize(baseline)
    return Polarization(
        day.er3,
        day.b,
        day.sigma,
        base.er3,
        base.b,
        base.sigma,
        base.n,
        day.display.value,
        base.display.value,
    )


def _hours_and_spikes(
    store: Store,
    topic: str,
    hours: Hours,
    window: DayWindow,
    settings: AlertSettings,
    now_ts: int,
    notes: list[str],
) -> tuple[list[HourRow], list[Spike]]:
    starts = window.hours
    volume = {t: check_volume(hours, t, settings) for t in starts if t < now_ts}
    if any(v.baseline is None for v in volume.values()):
        notes.append(
            "Volume spikes: some hours have no baseline yet (7 complete earlier hours are needed)."
        )
    elif volume and all(
        v.baseline is not None and v.baseline.kind == "recent" for v in volume.values()
    ):
        notes.append(
            "Volume spikes are tested against the 7 previous hours: the topic has less than 7 days of "
            f"history (alpha {settings.alpha_recent:g} instead of {settings.alpha:g})."
        )
    base = sentiment_baseline(
        hours, window.start_ts - SENTIMENT_BASELINE_DAYS * DAY, window.start_ts, settings.min_posts
    )
    chart: dict[int, SentimentResult] = {}
    if base is None:
        notes.append(
            "Sentiment shifts: not enough history for a baseline (12 hours with at least "
            f"{settings.min_posts} scored posts in the 28 days before the day)."
        )
    else:
        past = [t for t in starts if t < now_ts]
        chart = {r.start: r for r in sentiment_chart(hours, past, base, settings)}
    rows = [_row(hours, window, t, volume.get(t), chart.get(t), now_ts) for t in starts]
    alerted = _alerted(store, topic, window)
    spikes = [
        _volume_spike(store, topic, window, run, alerted) for run in _runs(starts, volume, "volume")
    ]
    if base is not None:
        spikes += [
            _sentiment_spike(store, topic, window, run, base, alerted)
            for run in _runs(starts, chart, "sentiment")
        ]
    spikes.sort(key=lambda s: (s.start, s.kind != "volume"))
    return rows, spikes


def _row(
    hours: Hours,
    window: DayWindow,
    t: int,
    vol: VolumeResult | None,
    sent: SentimentResult | None,
    now_ts: int,
) -> HourRow:
    h = hours.get(t)
    sums = h.sums if h is not None else BucketSums()
    s = summarize(sums)
    check = vol.check if vol is not None else None
    point = sent.point if sent is not None and sent.point.z is not None else None
    return HourRow(
        start=window.local(t),
        label=window.local(t).strftime("%H:%M"),
        total=sums.total,
        n=sums.n,
        unscored=sums.n_unscored,
        mean=s.mean,
        mean_lo=s.mean_lo,
        mean_hi=s.mean_hi,
        engagement=h.engagement if h is not None else 0,
        incomplete=bool(h is not None and h.incomplete),
        future=t >= now_ts,
        expected=check.baseline_mean if check else None,
        limit=check.limit if check else None,
        volume_alarm=bool(vol and vol.alarm),
        ewma=point.ewma if point else None,
        ewma_limit=point.limit if point else None,
        sentiment_alarm=bool(sent and sent.alarm),
    )


def _runs(starts: list[int], results: dict[int, Any], kind: str) -> list[list[Any]]:
    """Consecutive alarming hours grouped; a sentiment run also breaks where the direction flips."""
    runs: list[list[Any]] = []
    prev: Any = None
    for t in starts:
        r = results.get(t)
        if r is None or not r.alarm:
            prev = None
            continue
        if prev is not None and (kind == "volume" or prev.direction == r.direction):
            runs[-1].append(r)
        else:
            runs.append([r])
        prev = r
    return runs


def _alerted(store: Store, topic: str, window: DayWindow) -> set[tuple[str, int]]:
    with store.read() as conn:
        rows = conn.execute(
            select(col(Alert.kind), col(Alert.bucket_start)).where(
                col(Alert.topic) == topic,
                col(Alert.bucket_start) >= from_ts(window.start_ts - HOUR),
                col(Alert.bucket_start) < from_ts(window.end_ts),
            )
        ).all()
    return {(kind, int(start.timestamp())) for kind, start in rows}


def _was_alerted(alerted: set[tuple[str, int]], kind: str, run: list[Any]) -> bool:
    """Live alerts sit on UTC hours; a digest's hours follow local midnight (they differ by 30 or
    45 minutes in a few zones), so an alert anywhere inside a run's hours counts."""
    return any(k == kind and r.start - HOUR < ts < r.start + HOUR for k, ts in alerted for r in run)


def _volume_spike(
    store: Store,
    topic: str,
    window: DayWindow,
    run: list[VolumeResult],
    alerted: set[tuple[str, int]],
) -> Spike:
    peak = max(run, key=lambda r: (r.y - (r.check.baseline_mean if r.check else 0), -r.start))
    assert peak.check is not None and peak.baseline is not None
    baseline = {
        "kind": peak.baseline.kind,
        "alpha": peak.alpha,
        "mean": peak.check.baseline_mean,
        "sd": peak.check.baseline_sd,
        "hours": [
            {"start": window.local(s).isoformat(), "posts": v, "weight": w}
            for s, v, w in zip(
                peak.baseline.starts, peak.baseline.values, peak.check.weights, strict=False
            )
        ],
    }
    return Spike(
        kind="volume",
        direction="up",
        start=window.local(run[0].start),
        end=window.local(run[-1].start + HOUR),
        peak=window.local(peak.start),
        hours=len(run),
        value=float(peak.y),
        expected=peak.check.baseline_mean,
        threshold=peak.check.limit,
        n=peak.y,
        baseline=peak.baseline.describe(),
        baseline_values=baseline,
        alerted=_was_alerted(alerted, "volume", run),
        incomplete=any(r.incomplete for r in run),
        drivers=volume_drivers(store, topic, peak),
    )


def _sentiment_spike(
    store: Store,
    topic: str,
    window: DayWindow,
    run: list[SentimentResult],
    base: Any,
    alerted: set[tuple[str, int]],
) -> Spike:
    peak = max(run, key=lambda r: (abs(r.point.ewma), -r.start))
    baseline = {
        "mu0": base.mu0,
        "sigma_w": base.sigma_w,
        "sigma_b": base.sigma_b,
        "hours": base.hours,
        "posts": base.posts,
        "since": from_ts(base.since).isoformat(),
        "until": from_ts(base.until).isoformat(),
        "z": peak.point.z,
        "ewma": peak.point.ewma,
        "limit": peak.point.limit,
    }
    return Spike(
        kind="sentiment",
        direction=peak.direction,
        start=window.local(run[0].start),
        end=window.local(run[-1].start + HOUR),
        peak=window.local(peak.start),
        hours=len(run),
        value=peak.mean if peak.mean is not None else base.mu0,
        expected=base.mu0,
        threshold=peak.point.limit,
        n=peak.n,
        baseline=f"the {base.hours} hours with enough posts in the 28 days before",
        baseline_values=baseline,
        alerted=_was_alerted(alerted, "sentiment", run),
        incomplete=False,
        drivers=sentiment_drivers(store, topic, peak.start, base.mu0, peak.direction),
    )


# --- posts and breakdowns -------------------------------------------------------------------


def _top(
    store: Store, topic: str, window: DayWindow, order: Any, condition: Any, limit: int
) -> list[PostRef]:
    q = (
        topic_posts(topic, (window.start_ts, window.end_ts))
        .where(condition)
        .order_by(order, col(Post.id))
        .limit(limit)
    )
    with store.read() as conn:
        return [PostRef.from_row(r) for r in conn.execute(q).all()]


def _bucket_sums(vals: Sequence[Any]) -> BucketSums:
    """A row of SUM_COLUMNS (the database may hand back Decimal) as BucketSums."""
    fields: dict[str, Any] = {
        c: (int(v) if c.startswith("n_") else float(v))
        for c, v in zip(SUM_COLUMNS, vals, strict=False)
    }
    return BucketSums(**fields)


def _by_source(store: Store, topic: str, window: DayWindow) -> list[SourceShare]:
    # The day's whole hours from the hourly rollups (kept when old posts and minutes are pruned).
    b = bucket_rows(
        HOUR_S,
        window.start_ts,
        window.end_ts,
        lambda t: [t.c.topic == topic, t.c.source != ALL_SOURCES],
    )
    q = select(b.c.source, *[func.sum(b.c[c]) for c in SUM_COLUMNS]).group_by(b.c.source)
    with store.read() as conn:
        rows = conn.execute(q).all()
    sums = {src: _bucket_sums(vals) for src, *vals in rows}
    grand = sum(b.total for b in sums.values())
    out = [
        SourceShare(src, b.total, b.n, b.n_unscored, b.sum / b.n if b.n else None, b.total / grand)
        for src, b in sums.items()
        if b.total
    ]
    return sorted(out, key=lambda s: (-s.total, s.source))


def _by_language(store: Store, topic: str, window: DayWindow) -> list[LanguageShare]:
    lang = func.coalesce(col(Post.lang), "unknown")
    q = topic_posts(
        topic,
        (window.start_ts, window.end_ts),
        columns=[lang, func.count(), func.count(col(Post.compound))],
    ).group_by(lang)
    with store.read() as conn:
        rows = conn.execute(q).all()
    grand = sum(int(r[1]) for r in rows)
    out = [
        LanguageShare(str(code), int(total), int(scored), int(total) / grand)
        for code, total, scored in rows
    ]
    return sorted(out, key=lambda s: (-s.total, s.lang))


def collection_gaps(
    store: Store, sources: Sequence[str], window: DayWindow, now: datetime
) -> list[Gap]:
    """Runs of failed polls overlapping the day, per source, from poll_log.

    A run starts at the last good poll before its first failure (nothing was collected after
    that) and ends at the next good poll; still failing at build time, it has no end.
    """
    if not sources:
        return []
    since, until = from_ts(window.start_ts - DAY), from_ts(window.end_ts + DAY)
    with store.read() as conn:
        failing = set(
            conn.execute(
                select(col(PollLog.source))
                .distinct()
                .where(
                    col(PollLog.source).in_(list(sources)),
                    col(PollLog.outcome).not_in(OK_OUTCOMES),
                    col(PollLog.started_at) >= since,
                    col(PollLog.started_at) < from_ts(window.end_ts),
                )
            ).scalars()
        )
        rows = (
            conn.execute(
                select(
                    col(PollLog.source),
                    col(PollLog.started_at),
                    col(PollLog.outcome),
                    col(PollLog.error),
                )
                .where(
                    col(PollLog.source).in_(sorted(failing)),
                    col(PollLog.started_at) >= since,
                    col(PollLog.started_at) < until,
                )
                .order_by(col(PollLog.source), col(PollLog.started_at), col(PollLog.id))
            ).all()
            if failing
            else []
        )
    gaps: list[Gap] = []
    run: dict[str, Any] | None = None
    last_ok: dict[str, datetime] = {}
    for source, started, outcome, error in rows:
        if run is not None and run["source"] != source:
            gaps.append(_gap(run, None, window, now))
            run = None
        if outcome in OK_OUTCOMES:
            if run is not None:
                gaps.append(_gap(run, started, window, now))
                run = None
            last_ok[source] = started
        elif run is None:
            run = {
                "source": source,
                "start": last_ok.get(source, started),
                "failed": 1,
                "error": error,
            }
        else:
            run["failed"] += 1
            run["error"] = error or run["error"]
    if run is not None:
        gaps.append(_gap(run, None, window, now))
    return [g for g in gaps if g.seconds > 0]


def _gap(run: dict[str, Any], end: datetime | None, window: DayWindow, now: datetime) -> Gap:
    lo = max(run["start"].timestamp(), window.start_ts)
    hi = min((end or now).timestamp(), window.end_ts)
    return Gap(
        run["source"],
        run["start"].astimezone(window.zone),
        end.astimezone(window.zone) if end else None,
        max(hi - lo, 0.0),
        run["failed"],
        run["error"],
    )
