"""Live spike alerts: after each poll, check the hours it touched; store each alert once; send it.

The detectors are monitor.metrics.spikes (EARS-t for volume, EWMA for mean sentiment), the same code the
digest uses. What this module adds is the live bookkeeping:

- which hours to check: the hours a poll added posts to (volume may alarm on an hour still in
  progress: its count only grows, so an alarm on part of the hour is an alarm on all of it), and
  for sentiment the hours that are over and settled (the slowest source serving the topic has
  had time to deliver their posts), so a half-filled hour's mean never alarms;
- once per topic, kind and hour: a unique key in the `alert` table, whatever re-checks follow;
- a per-topic cooldown, so a burst that lasts for hours alerts once per cooldown, not every hour;
- delivery to the configured webhook with retries and backoff kept in the table, so a failed
  send is retried by later polls and after a restart, and never blocks a poll for long.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlmodel import col

from monitor.config.digests import AlertSettings
from monitor.metrics.spikes import (
    HOUR,
    Hours,
    SentimentBaseline,
    SentimentResult,
    VolumeResult,
    check_sentiment,
    check_volume,
    sentiment_drivers,
    sentiment_window,
    volume_drivers,
    volume_lookback,
)
from monitor.outputs.deliver import DeliveryError, post_webhook, slack_escape, slack_link
from monitor.store.db import Store, from_ts, utcnow
from monitor.store.models import Alert, Post, PostTopic

log = logging.getLogger(__name__)

__all__ = ["AlertMonitor", "list_alerts"]

MAX_SETTLE = timedelta(hours=1)  # a sentiment hour is final this long after its end, at most
CATCH_UP_HOURS = 24  # after a start, settled hours this far back are checked once for sentiment
MAX_DELIVERY_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=1)
# a claimed alert is not claimed again by another thread for this long
DELIVERY_LEASE = timedelta(minutes=2)


class AlertMonitor:
    """One per collector. `mark()` before a poll, `after_poll(mark, ...)` after it."""

    def __init__(
        self,
        config: Any,
        store: Store,
        *,
        clock: Callable[[], datetime] = utcnow,
        env: Mapping[str, str] = os.environ,
    ):
        self.config = config
        self.store = store
        self.clock = clock
        self.env = env  # where the webhook's url_env is looked up
        self.alerts = config.alerts
        enabled = [s for s in config.sources if s.enabled]
        self._sources: dict[str, list[Any]] = {
            t.name: [s for s in enabled if t in config.topics_for(s)] for t in config.topics
        }
        self._hours: dict[str, Hours] = {}
        self._sentiment_done: dict[str, int] = {}  # topic -> newest settled hour checked
        self._lock = threading.Lock()
        self._seen = self.mark()  # posts stored before this monitor existed are history, not news

    # --- the poll hook ------------------------------------------------------------------------
    def mark(self) -> int:
        """The newest post id, taken before a poll: the poll's posts are those above it."""
        with self.store.read() as conn:
            return int(conn.execute(select(func.max(col(Post.id)))).scalar() or 0)

    def after_poll(
        self, mark: int | None = None, source: str | None = None, failed: bool = False
    ) -> list[dict[str, Any]]:
        """Check what a poll stored; returns the alerts it stored (and sends them if a webhook is set).

        `mark` is the `mark()` taken before the poll. Without one (a streaming source stores in
        the background), posts above the newest id checked so far count as new; on PostgreSQL a
        slower concurrent transaction may commit lower ids later, which only a mark catches.
        A failed poll adds no posts but marks hours incomplete, which changes baselines: the
        cached hours of the topics it serves are dropped and read again when next needed.
        """
        new: list[dict[str, Any]] = []
        if not self.alerts.enabled:
            return new
        with self._lock:
            topics = self._topics_of(source)
            if failed:
                for name in topics:
                    self._hours.pop(name, None)
            touched = self._touched(self._seen if mark is None else mark)
            now = self.clock()
            for name in sorted(set(touched) | set(topics)):
                if name in self._sources:
                    new += self._check_topic(name, touched.get(name, set()), now)
        self.deliver_pending()
        return new

    def _topics_of(self, source: str | None) -> list[str]:
        if source is None:
            return list(self._sources)
        return [t for t, sources in self._sources.items() if any(s.name == source for s in sources)]

    def _touched(self, mark: int) -> dict[str, set[int]]:
        """{topic: hours} of the posts above `mark`."""
        with self.store.read() as conn:
            rows = conn.execute(
                select(
                    col(PostTopic.post_id), col(PostTopic.topic), col(PostTopic.created_at)
                ).where(col(PostTopic.post_id) > mark)
            ).all()
        touched: dict[str, set[int]] = defaultdict(set)
        for post_id, topic, created in rows:
            ts = int(created.timestamp())
            touched[topic].add(ts - ts % HOUR)
            self._seen = max(self._seen, int(post_id))
        return touched

    def _settle(self, topic: str) -> timedelta:
        intervals = [s.interval for s in self._sources.get(topic, [])]
        return min(max(intervals, default=timedelta(0)), MAX_SETTLE)

    # --- checking -----------------------------------------------------------------------------
    def _check_topic(self, topic: str, touched: set[int], now: datetime) -> list[dict[str, Any]]:
        settings = self.alerts.for_topic(topic)
        now_ts = int(now.timestamp())
        settled_ts = now_ts - int(self._settle(topic).total_seconds()) - HOUR
        newest = settled_ts - settled_ts % HOUR  # the newest hour that is over and settled
        volume_hours = sorted(touched) if settings.volume else []
        sentiment_hours: list[int] = []
        if settings.sentiment:
            done = self._sentiment_done.get(topic, newest - CATCH_UP_HOURS * HOUR)
            due = set(range(done + HOUR, newest + HOUR, HOUR)) | {t for t in touched if t <= newest}
            sentiment_hours = sorted(due)
            self._sentiment_done[topic] = max(done, newest)
        if not volume_hours and not sentiment_hours:
            return []
        hours = self._hours.get(topic)
        if hours is None:
            hours = self._hours[topic] = Hours(
                self.store, topic, [s.name for s in self._sources[topic]]
            )
        first, last = min(volume_hours + sentiment_hours), max(volume_hours + sentiment_hours)
        hours.ensure(min(volume_lookback(first), sentiment_window(first)[1]), last + HOUR)
        if touched:
            hours.refresh(min(touched), max(touched) + HOUR)
        new = []
        for t in volume_hours:
            result = check_volume(hours, t, settings)
            if result.alarm:
                new += self._store_volume(topic, result, settings, now)
        for t in sentiment_hours:
            point, baseline = check_sentiment(hours, t, settings)
            if point is not None and baseline is not None and point.alarm:
                new += self._store_sentiment(topic, point, baseline, settings, now)
        return new

    def _blocked(self, topic: str, kind: str, start: datetime, cooldown: timedelta) -> bool:
        """Checked before the drivers are read: a burst hour is re-checked by every poll."""
        with self.store.read() as conn:
            return conn.execute(_clash(topic, kind, start, cooldown)).first() is not None

    def _store_volume(
        self, topic: str, r: VolumeResult, s: AlertSettings, now: datetime
    ) -> list[dict[str, Any]]:
        start = from_ts(r.start)
        if self._blocked(topic, "volume", start, s.cooldown):
            return []
        assert r.check is not None and r.baseline is not None
        drivers = volume_drivers(self.store, topic, r)
        partial = r.start + HOUR > now.timestamp()
        when = self._when(r.start)
        count = f"{r.y} posts {'so far ' if partial else ''}in the hour from {when}"
        summary = (
            f"Volume spike in {self._title(topic)}: {count}, expected about {r.check.baseline_mean:.0f} "
            f"(alarm above {r.check.limit:.1f}; baseline: {r.baseline.describe()})"
        )
        if r.incomplete:
            summary += "; a source failed during this hour, so the count may be low"
        if drivers.hashtags:
            summary += "; driven by " + ", ".join(
                f"#{t.tag} (+{t.contribution:.0f})" for t in drivers.hashtags[:3]
            )
        details = {
            "bucket": {
                "start": start.isoformat(),
                "end": from_ts(r.start + HOUR).isoformat(),
                "posts": r.y,
                "partial": partial,
                "incomplete": r.incomplete,
            },
            "baseline": {
                "kind": r.baseline.kind,
                "alpha": r.alpha,
                "mean": r.check.baseline_mean,
                "sd": r.check.baseline_sd,
                "limit": r.check.limit,
                "hours": [
                    {"start": from_ts(ts).isoformat(), "posts": v, "weight": w}
                    for ts, v, w in zip(
                        r.baseline.starts, r.baseline.values, r.check.weights, strict=False
                    )
                ],
            },
            "drivers": drivers.to_json(),
        }
        return self._insert(
            topic,
            "volume",
            "up",
            start,
            float(r.y),
            r.check.baseline_mean,
            r.check.limit,
            summary,
            details,
            s,
            now,
        )

    def _store_sentiment(
        self, topic: str, r: SentimentResult, b: SentimentBaseline, s: AlertSettings, now: datetime
    ) -> list[dict[str, Any]]:
        start = from_ts(r.start)
        if self._blocked(topic, "sentiment", start, s.cooldown):
            return []
        drivers = sentiment_drivers(self.store, topic, r.start, b.mu0, r.direction)
        mean = r.mean if r.mean is not None else b.mu0
        word = "more positive" if r.direction == "up" else "more negative"
        summary = (
            f"Sentiment in {self._title(topic)} turned {word}: mean {mean:+.2f} over {r.n} scored posts in the "
            f"hour from {self._when(r.start)}, against {b.mu0:+.2f} usually (EWMA {r.point.ewma:+.2f} beyond "
            f"±{r.point.limit:.2f})"
        )
        if drivers.hashtags:
            summary += "; pulled by " + ", ".join(f"#{t.tag}" for t in drivers.hashtags[:3])
        details = {
            "bucket": {
                "start": start.isoformat(),
                "end": from_ts(r.start + HOUR).isoformat(),
                "mean": r.mean,
                "n": r.n,
            },
            "baseline": {
                "mu0": b.mu0,
                "sigma_w": b.sigma_w,
                "sigma_b": b.sigma_b,
                "hours": b.hours,
                "posts": b.posts,
                "since": from_ts(b.since).isoformat(),
                "until": from_ts(b.until).isoformat(),
            },
            "ewma": {
                "z": r.point.z,
                "ewma": r.point.ewma,
                "limit": r.point.limit,
                "lambda": 0.2,
                "L": s.ewma_limit,
            },
            "drivers": drivers.to_json(),
        }
        return self._insert(
            topic,
            "sentiment",
            r.direction,
            start,
            mean,
            b.mu0,
            r.point.limit,
            summary,
            details,
            s,
            now,
        )

    def _insert(
        self,
        topic: str,
        kind: str,
        direction: str,
        start: datetime,
        value: float,
        expected: float,
        threshold: float,
        summary: str,
        details: dict[str, Any],
        s: AlertSettings,
        now: datetime,
    ) -> list[dict[str, Any]]:
        row = {
            "topic": topic,
            "kind": kind,
            "direction": direction,
            "bucket_start": start,
            "bucket_s": HOUR,
            "created_at": now,
            "value": value,
            "expected": expected,
            "threshold": threshold,
            "summary": summary,
            "details": details,
            "delivery_attempts": 0,
            "next_delivery_at": now if self.alerts.webhook is not None else None,
        }
        with self.store.write() as conn:
            # Checked again inside the write transaction: another collector may have stored it meanwhile.
            if conn.execute(_clash(topic, kind, start, s.cooldown)).first() is not None:
                return []
            conn.execute(insert(Alert).values(**row))
        log.warning("alert: %s", summary)
        return [row]

    def _title(self, topic: str) -> str:
        try:
            return self.config.topic(topic).display_name
        except KeyError:
            return topic

    def _when(self, ts: int) -> str:
        local = from_ts(ts).astimezone(self.alerts.zone)
        return f"{local:%Y-%m-%d %H:%M} {self.alerts.timezone}"

    # --- delivery -----------------------------------------------------------------------------
    def deliver_pending(self) -> int:
        """Send alerts that are due, one attempt each; returns how many were sent.

        Each alert is claimed first (its next attempt moved a lease ahead), so two threads or two
        collectors never send the same alert. A failure schedules the next attempt with
        exponential backoff; a permanent one (a 4xx answer) or the last attempt gives up, and the
        reason stays in `delivery_error`.
        """
        webhook = self.alerts.webhook
        if webhook is None:
            return 0
        sent = 0
        for alert in self._claim():
            attempts = alert["delivery_attempts"] + 1
            values: dict[str, Any]
            try:
                post_webhook(
                    webhook,
                    alert_payload(alert, webhook.format, self._title(alert["topic"])),
                    self.env,
                )
                values = {
                    "delivered_at": self.clock(),
                    "next_delivery_at": None,
                    "delivery_error": None,
                }
                sent += 1
            except DeliveryError as exc:
                give_up = not exc.retryable or attempts >= MAX_DELIVERY_ATTEMPTS
                retry = self.clock() + _retry_delay(attempts, exc.retry_after)
                values = {
                    "next_delivery_at": None if give_up else retry,
                    "delivery_error": (f"gave up after {attempts} attempt(s): " if give_up else "")
                    + exc.message,
                }
                log.warning(
                    "alert %d not delivered (attempt %d): %s", alert["id"], attempts, exc.message
                )
            with self.store.write() as conn:
                conn.execute(
                    update(Alert)
                    .where(col(Alert.id) == alert["id"])
                    .values(delivery_attempts=attempts, **values)
                )
        return sent

    def _claim(self) -> list[dict[str, Any]]:
        now = self.clock()
        due_q = (
            select(Alert)
            .where(
                col(Alert.delivered_at).is_(None),
                col(Alert.next_delivery_at).is_not(None),
                col(Alert.next_delivery_at) <= now,
            )
            .order_by(col(Alert.bucket_start), col(Alert.id))
            .limit(20)
        )
        with self.store.read() as conn:  # the common case, nothing due, takes no write lock
            if conn.execute(due_q.with_only_columns(col(Alert.id))).first() is None:
                return []
        claimed = []
        with self.store.write() as conn:
            due = conn.execute(due_q).mappings().all()
            for row in due:
                conn.execute(
                    update(Alert)
                    .where(col(Alert.id) == row["id"])
                    .values(next_delivery_at=now + DELIVERY_LEASE)
                )
                claimed.append(dict(row))
        return claimed


def alert_payload(alert: Mapping[str, Any], fmt: str, title: str) -> dict[str, Any]:
    """The webhook body for one alert: Slack blocks, or the alert's own fields as plain JSON.

    In the Slack form, the summary and the posts (which carry strangers' hashtags and words) go
    in plain_text objects, which Slack shows as they are, without parsing mentions or markup.
    """
    data = {
        k: (v.isoformat() if isinstance(v, datetime) else v)
        for k, v in alert.items()
        if k not in ("delivered_at", "next_delivery_at", "delivery_attempts", "delivery_error")
    }
    if fmt != "slack":
        return {"type": "alert", **data}
    label = "Volume spike" if alert["kind"] == "volume" else "Sentiment shift"
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*{label}* · {slack_escape(title)}"},
        },
        {"type": "section", "text": {"type": "plain_text", "text": alert["summary"][:2900]}},
    ]
    for post in alert["details"].get("drivers", {}).get("posts", [])[:3]:
        elements = [
            {
                "type": "plain_text",
                "text": f"{post.get('author') or 'unknown'}: {post['text']}"[:300],
            }
        ]
        if post.get("url"):
            elements.append({"type": "mrkdwn", "text": slack_link(post["url"], "open")})
        blocks.append({"type": "context", "elements": elements})
    return {"text": slack_escape(alert["summary"]), "blocks": blocks}


def _clash(topic: str, kind: str, start: datetime, cooldown: timedelta) -> Any:
    """An alert of this topic and kind for the same hour, or for another hour within the cooldown."""
    near = and_(
        col(Alert.bucket_start) > start - cooldown, col(Alert.bucket_start) < start + cooldown
    )
    return (
        select(col(Alert.id))
        .where(
            col(Alert.topic) == topic,
            col(Alert.kind) == kind,
            or_(col(Alert.bucket_start) == start, near),
        )
        .limit(1)
    )


def _retry_delay(attempts: int, retry_after: float | None) -> timedelta:
    delay = min(FIRST_RETRY * 4 ** (attempts - 1), MAX_RETRY)
    if retry_after is not None:
        delay = max(delay, min(timedelta(seconds=retry_after), MAX_RETRY))
    return delay


def list_alerts(
    store: Store, *, since: datetime | None = None, topic: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Stored alerts, newest hour first: for `monitor alerts` and the dashboard."""
    q = select(Alert).order_by(col(Alert.bucket_start).desc(), col(Alert.id).desc()).limit(limit)
    if since is not None:
        q = q.where(col(Alert.bucket_start) >= since)
    if topic is not None:
        q = q.where(col(Alert.topic) == topic)
    with store.read() as conn:
        return [dict(r) for r in conn.execute(q).mappings().all()]
