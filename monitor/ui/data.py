"""The dashboard's data layer: one request in, one immutable snapshot out, read off the UI thread.

The app asks for what the visible screen shows (a `Request`), a thread worker calls
`DataProvider.fetch`, and the UI applies the returned `Snapshot` in one batch. Everything a
snapshot holds is frozen, so the UI thread can read it while the next one is being built.

Costs are bounded whatever the size of the store: topic numbers and charts come from the
1-minute bucket sums, of which only the last hours and the buckets changed since the last refresh
are re-read each time (`BucketHistory`, using each bucket's change marker);
post-level breakdowns scan at most `detail_scan` of a topic's newest posts in the window and say
so when they hit the cap; the live stream reads only posts newer than the last one it searched.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import func, select
from sqlmodel import col

from monitor.config.digests import AlertSettings
from monitor.metrics.formulas import BucketSums
from monitor.metrics.spikes import (
    HOUR,
    Hours,
    HourStats,
    check_sentiment,
    check_volume,
    sentiment_window,
    volume_lookback,
)
from monitor.outputs.alerts import MAX_SETTLE, list_alerts
from monitor.sources.paging import collection_lines
from monitor.store.db import Store, from_ts, to_ts, utcnow
from monitor.store.models import ALL_SOURCES, Alert
from monitor.ui.history import BucketHistory, Changes
from monitor.ui.series import Series, Shift, Spike, SpikeScan, fill_series

View = Literal["overview", "topic", "live", "health", "log", "alerts"]
Sentiment = Literal["positive", "negative", "neutral", "unscored"]

LIVE_ROWS = 300
"""Rows the live stream keeps on screen; older posts stay in the store (a DataTable's remove_row is O(n))."""

OVERDUE_GRACE = timedelta(minutes=2)
"""A source whose next poll is this late is reported overdue: the collector may not be running."""


# --- windows ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """A time window and the bucket width its series are read at.

    `step_s` gives 60–168 buckets: enough for a chart to be smooth at 200 columns, and charts
    narrower than that merge buckets exactly (see `Series.fit`).
    """

    key: str
    span: timedelta
    step_s: int

    @property
    def buckets(self) -> int:
        return int(self.span.total_seconds()) // self.step_s


WINDOWS: tuple[Window, ...] = (
    Window("1h", timedelta(hours=1), 60),
    Window("6h", timedelta(hours=6), 300),
    Window("24h", timedelta(hours=24), 900),
    Window("7d", timedelta(days=7), 3600),
    Window("30d", timedelta(days=30), 6 * 3600),
)
WINDOW_BY_KEY = {w.key: w for w in WINDOWS}
DEFAULT_WINDOW = WINDOW_BY_KEY["24h"]


# --- what the provider knows from the config ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopicInfo:
    """A topic as the dashboard names it; `tags` (casefolded) are left out of co-occurring tags."""

    name: str
    title: str
    tags: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class SourceInfo:
    name: str
    kind: str
    enabled: bool = True


# --- requests -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LiveFilter:
    """Filters of the live stream; None / "" means any."""

    topic: str | None = None
    source: str | None = None
    sentiment: Sentiment | None = None
    text: str = ""


@dataclass(frozen=True, slots=True)
class Request:
    """What the visible screen needs. `live_after` only moves the live cursor forward."""

    view: View
    window: Window = DEFAULT_WINDOW
    topic: str | None = None
    live: LiveFilter | None = None
    live_after: int | None = None
    live_limit: int = LIVE_ROWS

    @property
    def key(self) -> tuple[Any, ...]:
        """Everything that changes what is shown; a snapshot whose key is stale is dropped."""
        return (self.view, self.window.key, self.topic if self.view == "topic" else None, self.live)


# --- snapshots ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TopicRow:
    """One overview row: the window's sums, its series and its latest volume spike."""

    info: TopicInfo
    sums: BucketSums
    series: Series
    spikes: SpikeScan

    @property
    def gap(self) -> bool:
        return self.series.any_incomplete


@dataclass(frozen=True, slots=True)
class PostView:
    """A post as every screen shows it; strings as stored (the UI sanitizes them again to display)."""

    id: int
    source: str
    created_at: datetime
    text: str
    author: str | None = None
    url: str | None = None
    lang: str | None = None
    compound: float | None = None
    pos: float | None = None
    neu: float | None = None
    neg: float | None = None
    scorer: str | None = None
    scorer_version: str | None = None
    engagement: int = 0
    reposts: int = 0
    topics: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> PostView:
        return cls(
            id=int(row["id"]),
            source=row["source"],
            created_at=row["created_at"],
            text=row["text"] or "",
            author=row.get("author"),
            url=row.get("url"),
            lang=row.get("lang"),
            compound=row.get("compound"),
            pos=row.get("pos"),
            neu=row.get("neu"),
            neg=row.get("neg"),
            scorer=row.get("scorer"),
            scorer_version=row.get("scorer_version"),
            engagement=int(row.get("engagement") or 0),
            reposts=int(row.get("reposts") or 0),
            topics=tuple(row.get("topics") or ()),
            tags=tuple(row.get("tags") or ()),
        )


@dataclass(frozen=True, slots=True)
class SourceSlice:
    source: str
    sums: BucketSums
    incomplete: bool


@dataclass(frozen=True, slots=True)
class LanguageSlice:
    lang: str | None  # None: not detected
    posts: int
    unscored: int


@dataclass(frozen=True, slots=True)
class TopicDetail:
    """The topic screen: the row, breakdowns, extreme posts and co-occurring hashtags.

    The post-level parts (languages, posts, hashtags) come from the newest `scanned` posts of the
    window; `capped` says the window holds more than were read.
    """

    row: TopicRow
    sources: tuple[SourceSlice, ...]
    languages: tuple[LanguageSlice, ...]
    most_positive: tuple[PostView, ...]
    most_negative: tuple[PostView, ...]
    most_engaged: tuple[PostView, ...]
    hashtags: tuple[tuple[str, int], ...]
    scanned: int
    capped: bool


@dataclass(frozen=True, slots=True)
class AlertView:
    """A stored alert (monitor/outputs/alerts.py) as the alerts screen and the toasts show it."""

    id: int
    topic: str
    kind: str  # volume | sentiment
    direction: str  # up | down
    bucket_start: datetime
    created_at: datetime
    value: float
    expected: float
    threshold: float
    summary: str
    details: dict[str, Any]
    delivered_at: datetime | None = None
    delivery_attempts: int = 0
    next_delivery_at: datetime | None = None
    delivery_error: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AlertView:
        return cls(**{k: row.get(k) for k in cls.__slots__ if k in row})  # type: ignore[arg-type]

    def sent_words(self, now: datetime | None = None) -> str:
        """Whether it was sent, as `monitor alerts` says it."""
        if self.delivered_at is not None:
            same_day = now is not None and now.date() == self.delivered_at.date()
            return (
                f"sent {self.delivered_at:%H:%M}"
                if same_day
                else f"sent {self.delivered_at:%b %d %H:%M}"
            )
        if self.next_delivery_at is not None:
            return f"pending (attempt {self.delivery_attempts + 1})"
        return "not sent: " + self.delivery_error if self.delivery_error else "no webhook set"


ALERT_ROWS = 200
"""Alerts the alerts screen lists (newest first); `monitor alerts` reaches further back."""

SourceStatus = Literal["failing", "partial", "overdue", "never", "ok", "disabled"]
URGENCY: dict[str, int] = {
    "failing": 0,
    "partial": 1,
    "overdue": 2,
    "never": 3,
    "ok": 4,
    "disabled": 5,
}


@dataclass(frozen=True, slots=True)
class SourceHealth:
    name: str
    kind: str
    status: SourceStatus
    last_poll_at: datetime | None
    last_ok_at: datetime | None
    next_poll_at: datetime | None
    failing_since: datetime | None
    consecutive_failures: int
    last_error: str | None
    last_status: int | None
    posts_total: int
    polls_24h: int | None = None  # None: not read for this view
    failed_24h: int | None = None
    posts_24h: int | None = None
    collector: str | None = (
        None  # the collector holding its lease (monitor/store/leases.py), if any
    )
    # backfills in progress and recorded gaps, in words (sources/paging.py)
    collection: tuple[str, ...] = ()
    quarantined: int | None = None  # items it sent that could not be stored (`monitor quarantine`)

    @property
    def urgency(self) -> tuple[int, int]:
        return URGENCY[self.status], -self.consecutive_failures


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything one refresh read, at one instant (`now`, from the provider's clock)."""

    request: Request
    now: datetime
    sources: tuple[SourceHealth, ...]
    topics: tuple[TopicRow, ...] = ()
    detail: TopicDetail | None = None
    posts: tuple[PostView, ...] = ()  # newest first
    live_cursor: int | None = (
        None  # the newest post id when read: the next live request goes on from it
    )
    topic_infos: tuple[TopicInfo, ...] = ()  # every topic, for selection and filters
    source_names: tuple[str, ...] = ()
    wall: datetime | None = None  # the real time, when `now` is a replay's clock (the demo)
    alerts: tuple[AlertView, ...] = ()  # the alerts screen: stored alerts, newest first
    new_alerts: tuple[AlertView, ...] = ()  # stored since the previous snapshot (for toasts)
    took_s: float = 0.0

    @property
    def real_now(self) -> datetime:
        """The clock polls run on (poll times, next polls, failures), even during a replay."""
        return self.wall or self.now

    def most_urgent(self) -> SourceHealth | None:
        """The source a reader must hear about first, or None when every source is fine."""
        bad = [s for s in self.sources if s.status in ("failing", "partial", "overdue")]
        return min(bad, key=lambda s: s.urgency) if bad else None

    def topic_row(self, name: str | None) -> TopicRow | None:
        return next((t for t in self.topics if t.info.name == name), None)


class DataProvider(Protocol):
    """Anything that turns a request into a snapshot; called from a worker thread, one at a time."""

    def fetch(self, request: Request) -> Snapshot: ...


# --- the store-backed provider ------------------------------------------------------------------


@dataclass(slots=True)
class _TopicHours:
    """A topic's hourly sums (monitor.metrics.spikes.Hours) and its spike decisions on settled hours."""

    hours: Hours
    decisions: dict[int, tuple[bool, Spike | None]] = field(default_factory=dict)
    shifts: dict[int, tuple[bool, Shift | None]] = field(default_factory=dict)


def _decide(hours: Hours, t: int, settings: AlertSettings) -> tuple[bool, Spike | None]:
    """(had a baseline, the alarm if any) for the hour starting at `t`."""
    decision = check_volume(hours, t, settings)
    if decision.check is None:
        return False, None
    if not decision.alarm:
        return True, None
    return True, Spike(
        from_ts(t),
        timedelta(hours=1),
        decision.y,
        decision.check.limit,
        decision.check.baseline_mean,
    )


def _decide_shift(
    hours: Hours, t: int, settings: AlertSettings, stats: HourStats
) -> tuple[bool, Shift | None]:
    """(had a baseline, the alarm if any) for the settled hour starting at `t`."""
    point, baseline = check_sentiment(hours, t, settings, stats)
    if point is None or baseline is None:
        return False, None
    if not point.alarm:
        return True, None
    return True, Shift(from_ts(t), point.direction, point.mean, baseline.mu0, point.n)


@dataclass(frozen=True, slots=True)
class _Span:
    """A window placed at an instant: buckets end with the one in progress."""

    window: Window
    start_ts: int
    end_ts: int
    now_ts: int

    @classmethod
    def of(cls, window: Window, now: datetime) -> _Span:
        now_ts = to_ts(now)
        end_ts = (now_ts // window.step_s + 1) * window.step_s
        return cls(window, end_ts - window.buckets * window.step_s, end_ts, now_ts)


def window_bounds(window: Window, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of `window` at `now`, as every view counts it: whole buckets, ending with the
    one in progress (`monitor status` and the overview use this, so their numbers agree)."""
    span = _Span.of(window, now)
    return from_ts(span.start_ts), from_ts(span.end_ts)


class StoreProvider:
    """Reads snapshots from a `Store`; `clock` is injectable so that tests see a fixed instant.

    Recent buckets are read fresh every time; older ones come from `history` (a `BucketHistory`),
    which re-reads exactly the buckets changed since the last refresh, so a 30-day window costs
    what its last hours cost and a late import shows on the next refresh. The same changes update
    the hourly sums the spikes are decided on (and drop the decisions they affect), so charts and
    spike marks always come from one reading. Post-level breakdowns of the topic screen are cached
    for `detail_ttl_s` unless their topic changed; topic names and where each topic's record
    starts for `names_ttl_s` unless a change shows they moved. `reset()` (the `r` key) drops
    every cache: the next fetch reads everything again.
    """

    def __init__(
        self,
        store: Store,
        *,
        topics: Sequence[TopicInfo] = (),
        sources: Sequence[SourceInfo] = (),
        clock: Callable[[], datetime] = utcnow,
        detail_scan: int = 20_000,
        detail_ttl_s: float = 10.0,
        wall_clock: Callable[[], datetime] | None = None,
    ):
        self.store = store
        self.clock = clock
        self.wall_clock = (
            wall_clock  # set when `clock` replays another time (the demo): polls run on this
        )
        self.history = BucketHistory(store)
        self.detail_scan = detail_scan
        self.detail_ttl_s = detail_ttl_s
        self._configured_topics = tuple(topics)
        self._configured_sources = {s.name: s for s in sources}
        self.names_ttl_s = 30.0
        self._names: tuple[float, tuple[TopicInfo, ...]] | None = None
        self._since_cache: dict[str, tuple[float, int | None]] = {}
        self.alert_defaults = AlertSettings()
        self.alert_settings: dict[str, AlertSettings] = {}
        self._hours: dict[str, _TopicHours] = {}
        self._detail_cache: dict[tuple[str, str, int], tuple[float, dict[str, Any]]] = {}
        self._reset = False
        self._alert_cursor: int | None = None

    def reset(self) -> None:
        """Read everything again on the next fetch (safe to call from any thread)."""
        self._reset = True

    def _forget(self) -> None:
        self._reset = False
        self.history.clear()
        self._hours.clear()
        self._detail_cache.clear()
        self._since_cache.clear()
        self._names = None

    def _apply(self, changes: Changes) -> None:
        """Bring the caches beside `history` up to date with the buckets that changed."""
        for topic, minutes in changes.minutes.items():
            oldest = minutes[0]
            self._detail_cache = {k: v for k, v in self._detail_cache.items() if k[0] != topic}
            since = self._since_cache.get(topic)
            if since is not None and (since[1] is None or oldest < since[1]):
                del self._since_cache[topic]
            if self._names is not None and topic not in {t.name for t in self._names[1]}:
                self._names = None
            cached = self._hours.get(topic)
            if cached is None:
                continue
            hours = sorted({m - m % HOUR for m in minutes})
            for h in hours:  # a few hours per late batch; re-read each, keep the rest
                cached.hours.refresh(h, h + HOUR)
            # A changed hour moves its own decision, the baselines of the week after it (volume)
            # and the EWMA of every later hour (sentiment): decide those again.
            cached.decisions = {t: d for t, d in cached.decisions.items() if t < hours[0]}
            cached.shifts = {t: d for t, d in cached.shifts.items() if t < hours[0]}

    @classmethod
    def from_config(cls, store: Store, config: Any, **kwargs: Any) -> StoreProvider:
        topics = [TopicInfo(t.name, t.display_name, frozenset(t.tags)) for t in config.topics]
        sources = [SourceInfo(s.name, s.kind, s.enabled) for s in config.sources]
        provider = cls(store, topics=topics, sources=sources, **kwargs)
        alerts = getattr(config, "alerts", None)
        # the spikes shown are the ones alerts would raise, with the same settings
        if alerts is not None:
            provider.alert_defaults = alerts.defaults
            provider.alert_settings = dict(alerts.topics)
        return provider

    # --- names (the UI gets them in every snapshot, for selection and filters) ---------------
    def topic_infos(self) -> tuple[TopicInfo, ...]:
        """Configured topics first, in config order, then any other topic the store holds.

        Re-read every `names_ttl_s`: a topic appears when its first post is stored.
        """
        if self._names is None or time.monotonic() - self._names[0] >= self.names_ttl_s:
            known = {t.name for t in self._configured_topics}
            extra = [
                TopicInfo(name, name) for name in self.store.bucket_topics() if name not in known
            ]
            self._names = (time.monotonic(), self._configured_topics + tuple(extra))
        return self._names[1]

    # --- one refresh --------------------------------------------------------------------------
    def fetch(self, request: Request) -> Snapshot:
        t0 = time.perf_counter()
        if self._reset:
            self._forget()
        now = self.clock()
        self._apply(self.history.sync(to_ts(now)))
        span = _Span.of(request.window, now)
        infos = self.topic_infos()
        topics: tuple[TopicRow, ...] = ()
        detail = None
        if request.view == "overview":
            topics = self._topic_rows(infos, span)
        elif request.view == "topic" and request.topic is not None:
            info = next(
                (t for t in infos if t.name == request.topic),
                TopicInfo(request.topic, request.topic),
            )
            topics = self._topic_rows((info,), span)
            detail = self._detail(topics[0], span)
        posts: tuple[PostView, ...] = ()
        cursor = None
        if request.live is not None:
            f = request.live
            rows, cursor = self.store.latest_posts(
                after_id=request.live_after,
                limit=request.live_limit,
                topic=f.topic,
                source=f.source,
                sentiment=f.sentiment,
                contains=f.text.strip() or None,
            )
            posts = tuple(PostView.from_row(r) for r in rows)
        wall = self.wall_clock() if self.wall_clock is not None else None
        sources = self._health(wall or now, with_counts=request.view == "health")
        alerts: tuple[AlertView, ...] = ()
        if request.view == "alerts":
            alerts = tuple(AlertView.from_row(r) for r in list_alerts(self.store, limit=ALERT_ROWS))
        return Snapshot(
            request=request,
            now=now,
            sources=sources,
            topics=topics,
            detail=detail,
            posts=posts,
            live_cursor=cursor,
            topic_infos=infos,
            source_names=tuple(s.name for s in sources),
            alerts=alerts,
            new_alerts=self._new_alerts(),
            wall=wall,
            took_s=time.perf_counter() - t0,
        )

    def _new_alerts(self) -> tuple[AlertView, ...]:
        """Alerts stored since the last call (none on the first: those are not news)."""
        with self.store.read() as conn:
            if self._alert_cursor is None:
                self._alert_cursor = int(
                    conn.execute(select(func.max(col(Alert.id)))).scalar() or 0
                )
                return ()
            rows = (
                conn.execute(
                    select(Alert)
                    .where(col(Alert.id) > self._alert_cursor)
                    .order_by(col(Alert.id))
                    .limit(20)
                )
                .mappings()
                .all()
            )
        if rows:
            self._alert_cursor = int(rows[-1]["id"])
        return tuple(AlertView.from_row(dict(r)) for r in rows)

    def _topic_rows(self, infos: Sequence[TopicInfo], span: _Span) -> tuple[TopicRow, ...]:
        """Every topic's row: the window's series and its latest volume spike."""
        names = [t.name for t in infos]
        since = {name: self._collecting_since(name) for name in names}
        series = self._series(
            names, span.start_ts, span.end_ts, span.window.step_s, since, span.now_ts
        )
        spikes = self._spikes(names, span)
        return tuple(
            TopicRow(
                info=info,
                sums=series[info.name].total(),
                series=series[info.name],
                spikes=spikes[info.name],
            )
            for info in infos
        )

    def _spikes(self, names: Sequence[str], span: _Span) -> dict[str, SpikeScan]:
        """The latest volume alarm per topic among the hours the window touches.

        Decided by `monitor.metrics.spikes.check_volume`, the rule live alerts and digests use (EARS-t
        against the same hour on the 7 previous complete days, metrics.md §4), so the dashboard
        never shows a spike the alerts would not raise. Hourly sums and the decisions on settled
        hours are kept per topic; only the recent hours are re-read and
        re-decided each time (a 30-day window is 720 decisions per topic); late changes to older
        hours are applied by `_apply`.
        """
        first = span.start_ts - span.start_ts % HOUR
        settled = span.now_ts - self.history.recent_s
        result = {}
        for name in names:
            settings = self.alert_settings.get(name, self.alert_defaults)
            if not settings.volume:
                result[name] = SpikeScan(None, False)
                continue
            topic = self._topic_hours(name)
            topic.hours.ensure(volume_lookback(first), span.end_ts)
            topic.hours.refresh(max(first, settled), span.end_ts)
            latest, checked = None, False
            for t in range(first, span.end_ts, HOUR):
                decided = topic.decisions.get(t) if t + HOUR <= settled else None
                if decided is None:
                    decided = _decide(topic.hours, t, settings)
                    if t + HOUR <= settled:
                        topic.decisions[t] = decided
                checked = checked or decided[0]
                latest = decided[1] or latest
            shift, shift_checked = self._shift(topic, first, span, settled, settings)
            result[name] = SpikeScan(latest, checked, shift, shift_checked)
        return result

    @staticmethod
    def _shift(
        topic: _TopicHours, first: int, span: _Span, settled: int, settings: AlertSettings
    ) -> tuple[Shift | None, bool]:
        """The latest mean-sentiment alarm among the window's hours that are over and settled
        (MAX_SETTLE after their end, as the alerts wait for late posts)."""
        if not settings.sentiment:
            return None, False
        last = span.now_ts - int(MAX_SETTLE.total_seconds()) - HOUR
        if last < first:
            return None, False
        since = sentiment_window(first)[1]
        topic.hours.ensure(since, last + HOUR)
        shift, checked = None, False
        stats: HourStats | None = None
        for t in range(first, last + 1, HOUR):
            decided = topic.shifts.get(t)
            if decided is None:
                stats = stats or HourStats(topic.hours, since, last + HOUR, settings.min_posts)
                decided = _decide_shift(topic.hours, t, settings, stats)
                if t + HOUR <= settled:
                    topic.shifts[t] = decided
            checked = checked or decided[0]
            shift = decided[1] or shift
        return shift, checked

    def _topic_hours(self, topic: str) -> _TopicHours:
        hit = self._hours.get(topic)
        if hit is None:
            sources = list(self._configured_sources) or [
                r["name"] for r in self.store.source_states()
            ]
            hit = self._hours[topic] = _TopicHours(Hours(self.store, topic, sources))
        return hit

    def _collecting_since(self, topic: str) -> int | None:
        """Cached: the start of a topic's record only moves when a dataset is imported."""
        hit = self._since_cache.get(topic)
        if hit is None or time.monotonic() - hit[0] >= self.names_ttl_s:
            since = self.store.collecting_since(topic)
            hit = self._since_cache[topic] = (
                time.monotonic(),
                to_ts(since) if since is not None else None,
            )
        return hit[1]

    def _series(
        self,
        topics: Sequence[str],
        start_ts: int,
        end_ts: int,
        step_s: int,
        since: dict[str, int | None],
        now_ts: int,
    ) -> dict[str, Series]:
        rows = self.history.rows(
            topics, (ALL_SOURCES,), step_s=step_s, start_ts=start_ts, end_ts=end_ts, now_ts=now_ts
        )
        count = (end_ts - start_ts) // step_s
        return {
            t: fill_series(
                rows[(t, ALL_SOURCES)],
                start_ts=start_ts,
                step_s=step_s,
                count=count,
                collecting_since_ts=since[t],
            )
            for t in topics
        }

    def _detail(self, row: TopicRow, span: _Span) -> TopicDetail:
        names = list(self._configured_sources) or [r["name"] for r in self.store.source_states()]
        rows = self.history.rows(
            (row.info.name,),
            names,
            step_s=span.window.step_s,
            start_ts=span.start_ts,
            end_ts=span.end_ts,
            now_ts=span.now_ts,
        )
        slices = []
        for name in names:
            found = rows[(row.info.name, name)]
            if found:
                series = fill_series(
                    found,
                    start_ts=span.start_ts,
                    step_s=span.window.step_s,
                    count=span.window.buckets,
                    collecting_since_ts=span.start_ts,
                )
                slices.append(SourceSlice(name, series.total(), series.any_incomplete))
        sources = tuple(sorted(slices, key=lambda s: (-s.sums.total, s.source)))
        scan = self._scan(row.info, span.window, span.start_ts, span.end_ts)
        return TopicDetail(row=row, sources=sources, **scan)

    def _scan(self, info: TopicInfo, window: Window, start_ts: int, end_ts: int) -> dict[str, Any]:
        key = (info.name, window.key, end_ts)
        hit = self._detail_cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.detail_ttl_s:
            return hit[1]
        summary = self.store.topic_post_summary(
            info.name, since=from_ts(start_ts), until=from_ts(end_ts), limit=self.detail_scan
        )
        tags = Counter({tag: n for tag, n in summary.tags if tag not in info.tags})
        positive, negative, engaged = summary.positive, summary.negative, summary.engaged
        full = {
            p["id"]: PostView.from_row(p)
            for p in self.store.posts_by_id(positive + negative + engaged)
        }
        result = {
            "languages": tuple(
                LanguageSlice(lang, n, unscored)
                for lang, n, unscored in sorted(
                    summary.languages, key=lambda s: (-s[1], s[0] or "")
                )
            ),
            "most_positive": tuple(full[i] for i in positive if i in full),
            "most_negative": tuple(full[i] for i in negative if i in full),
            "most_engaged": tuple(full[i] for i in engaged if i in full),
            "hashtags": tuple(sorted(tags.items(), key=lambda kv: (-kv[1], kv[0]))[:10]),
            "scanned": summary.scanned,
            "capped": summary.scanned >= self.detail_scan,
        }
        self._detail_cache = {key: (time.monotonic(), result)}
        return result

    def _health(self, now: datetime, *, with_counts: bool) -> tuple[SourceHealth, ...]:
        states = {r["name"]: r for r in self.store.source_states()}
        names = list(self._configured_sources) or list(states)
        counts = self.store.poll_stats(now - timedelta(hours=24), names) if with_counts else {}
        kept = self.store.quarantine_counts() if with_counts else {}
        out = []
        for name in names:
            st = states.get(name) or {}
            info = self._configured_sources.get(name)
            c = counts.get(name, {"polls": 0, "failed": 0, "new_posts": 0}) if with_counts else None
            out.append(
                SourceHealth(
                    name=name,
                    kind=(info.kind if info else st.get("kind") or "?"),
                    status=_status(st, now, enabled=info.enabled if info else True),
                    last_poll_at=st.get("last_poll_at"),
                    last_ok_at=st.get("last_ok_at"),
                    next_poll_at=st.get("next_poll_at"),
                    failing_since=st.get("failing_since"),
                    consecutive_failures=int(st.get("consecutive_failures") or 0),
                    last_error=st.get("last_error"),
                    last_status=st.get("last_status"),
                    posts_total=int(st.get("posts_total") or 0),
                    polls_24h=c["polls"] if c else None,
                    failed_24h=c["failed"] if c else None,
                    posts_24h=c["new_posts"] if c else None,
                    quarantined=kept.get(name, 0) if with_counts else None,
                    collector=st.get("lease_owner")
                    if (st.get("lease_expires_at") or now) > now
                    else None,
                    collection=tuple(collection_lines(st.get("state"), now)),
                )
            )
        return tuple(out)


def _status(state: dict[str, Any], now: datetime, *, enabled: bool) -> SourceStatus:
    if not enabled:
        return "disabled"
    if state.get("last_poll_at") is None:
        return "never"
    outcome = state.get("last_outcome")
    if outcome == "error":
        return "failing"
    if outcome == "partial":
        return "partial"
    next_at = state.get("next_poll_at")
    if next_at is not None and next_at < now - OVERDUE_GRACE:
        return "overdue"
    return "ok"


__all__ = [
    "ALERT_ROWS",
    "AlertView",
    "DEFAULT_WINDOW",
    "LIVE_ROWS",
    "WINDOWS",
    "WINDOW_BY_KEY",
    "DataProvider",
    "LanguageSlice",
    "LiveFilter",
    "PostView",
    "Request",
    "Snapshot",
    "SourceHealth",
    "SourceInfo",
    "SourceSlice",
    "StoreProvider",
    "TopicDetail",
    "TopicInfo",
    "TopicRow",
    "Window",
    "window_bounds",
]
