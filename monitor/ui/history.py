"""Bucket rows for the dashboard, re-reading only what changed.

A 30-day window is 43,200 one-minute buckets per topic and source, and the dashboard wants it
every second. Old buckets are kept between refreshes; each refresh reads the recent tail fresh
and asks the store which older buckets were upserted since the last refresh (every upsert stamps
`Bucket.changed_ms` with the database's clock), then re-reads just the chart buckets those fall
in. A late post, a backfill or an import three days back shows on the next refresh, at a cost of
O(buckets in the tail + buckets changed), not O(buckets in the window).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.store.db import Store

Key = tuple[str, str]  # (topic, bucket source; '*' for all sources)
Rows = dict[Key, dict[int, dict[str, Any]]]  # bucket start (UNIX s) → row

IN_FLIGHT_MS = 120_000
"""How far back each look for changes reaches before the previous look: a write stamped before
that look but committed after it is still found. Changes already applied are skipped."""


@dataclass
class _Entry:
    start_ts: int
    split_ts: int
    rows: Rows = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Changes:
    """What `BucketHistory.sync` found: per topic, the minute buckets (all sources) that changed."""

    minutes: dict[str, list[int]]

    def oldest(self, topic: str) -> int | None:
        found = self.minutes.get(topic)
        return min(found) if found else None


class BucketHistory:
    """`rows()` answers like `Store.bucket_series`, from a cache plus a fresh read of the tail.

    Call `sync()` once per refresh before `rows()`: it brings every cached entry up to date with
    the buckets changed since the last sync. `clear()` drops everything (the `r` key).
    """

    def __init__(self, store: Store, *, recent_s: int = 2 * 3600):
        self.store = store
        self.recent_s = recent_s
        self._entries: dict[tuple[tuple[str, ...], tuple[str, ...], int], _Entry] = {}
        self._mark_ms: int | None = None
        self._applied: dict[tuple[str, str, int], int] = {}  # changes seen within IN_FLIGHT_MS

    def clear(self) -> None:
        self._entries.clear()
        self._mark_ms = None
        self._applied.clear()

    def sync(self, now_ts: int) -> Changes:
        """Re-read, in every cached entry, the buckets changed since the last sync."""
        since = None if self._mark_ms is None else self._mark_ms - IN_FLIGHT_MS
        now_ms, found = self.store.changed_buckets(since_ms=since, before_ts=now_ts - self.recent_s)
        self._mark_ms = now_ms
        self._applied = {
            k: ms for k, ms in self._applied.items() if ms >= now_ms - 2 * IN_FLIGHT_MS
        }
        fresh: dict[Key, set[int]] = defaultdict(set)
        for topic, source, start, ms in found:
            if self._applied.get((topic, source, start)) == ms:
                continue
            self._applied[(topic, source, start)] = ms
            fresh[(topic, source)].add(start)
        if fresh:
            for (topics, sources, step), entry in self._entries.items():
                self._update(entry, topics, sources, step, fresh)
        return Changes({t: sorted(m) for (t, s), m in fresh.items() if s == "*"})

    def rows(
        self,
        topics: Sequence[str],
        sources: Sequence[str],
        *,
        step_s: int,
        start_ts: int,
        end_ts: int,
        now_ts: int,
    ) -> dict[Key, list[dict[str, Any]]]:
        split = max(start_ts, min(end_ts, (now_ts - self.recent_s) // step_s * step_s))
        key = (tuple(topics), tuple(sources), step_s)
        entry = self._entries.get(key)
        if entry is None or entry.start_ts > start_ts or entry.split_ts > split:
            entry = _Entry(start_ts, split, self._read(topics, sources, step_s, start_ts, split))
            self._entries[key] = entry
        elif entry.split_ts < split:  # the window moved on: read only what has become history
            for k, rows in self._read(topics, sources, step_s, entry.split_ts, split).items():
                entry.rows.setdefault(k, {}).update(rows)
            entry.split_ts = split
        tail = self._read(topics, sources, step_s, split, end_ts)
        out: dict[Key, list[dict[str, Any]]] = {}
        for k in ((t, s) for t in topics for s in sources):
            old = [r for ts, r in entry.rows.get(k, {}).items() if start_ts <= ts < split]
            out[k] = old + list(tail.get(k, {}).values())
        return out

    def _update(
        self,
        entry: _Entry,
        topics: Sequence[str],
        sources: Sequence[str],
        step: int,
        fresh: dict[Key, set[int]],
    ) -> None:
        starts = sorted(
            {
                m // step * step
                for (t, s), minutes in fresh.items()
                if t in topics and s in sources
                for m in minutes
            }
            & set(range(entry.start_ts, entry.split_ts, step))
        )
        for lo, hi in _runs(starts, step):
            found = self._read(topics, sources, step, lo, hi)
            for k in ((t, s) for t in topics for s in sources):
                rows = entry.rows.setdefault(k, {})
                for ts in range(lo, hi, step):
                    rows.pop(ts, None)
                rows.update(found.get(k, {}))

    def _read(
        self,
        topics: Sequence[str],
        sources: Sequence[str],
        step_s: int,
        since_ts: int,
        until_ts: int,
    ) -> Rows:
        if since_ts >= until_ts:
            return {}
        found = self.store.bucket_series(
            topics, sources, since_ts=since_ts, until_ts=until_ts, every_s=step_s
        )
        return {k: {int(r["start_ts"]): r for r in rows} for k, rows in found.items()}


def _runs(starts: Iterable[int], step: int) -> list[tuple[int, int]]:
    """Sorted bucket starts as [lo, hi) ranges of consecutive buckets: one read per range."""
    out: list[tuple[int, int]] = []
    for s in starts:
        if out and out[-1][1] == s:
            out[-1] = (out[-1][0], s + step)
        else:
            out.append((s, s + step))
    return out


__all__ = ["BucketHistory", "Changes"]
