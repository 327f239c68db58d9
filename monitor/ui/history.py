"""Bucket rows for the dashboard, re-reading only what can still change.

A 30-day window is 43,200 one-minute buckets per topic and source, and the dashboard wants it
every second. Buckets older than `recent_s` rarely change (a late post, a backfill), so they are
kept: each refresh reads only the recent tail, the history grows by the buckets that became old
since, and the whole history is re-read every `ttl_s` to pick up late arrivals. Per refresh the
cost is O(buckets in the tail), not O(buckets in the window).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.store import Store

Key = tuple[str, str]  # (topic, bucket source; '*' for all sources)
Rows = dict[Key, dict[int, dict[str, Any]]]  # bucket start (UNIX s) → row


@dataclass
class _Entry:
    start_ts: int
    split_ts: int
    read_at: float
    rows: Rows = field(default_factory=dict)


class BucketHistory:
    """`rows()` answers like `Store.bucket_series`, from a cache plus a fresh read of the tail."""

    def __init__(self, store: Store, *, recent_s: int = 2 * 3600, ttl_s: float = 300.0,
                 monotonic: Callable[[], float] = time.monotonic):
        self.store = store
        self.recent_s = recent_s
        self.ttl_s = ttl_s
        self._monotonic = monotonic
        self._entries: dict[tuple[tuple[str, ...], tuple[str, ...], int], _Entry] = {}

    def rows(self, topics: Sequence[str], sources: Sequence[str], *, step_s: int, start_ts: int, end_ts: int,
             now_ts: int) -> dict[Key, list[dict[str, Any]]]:
        split = max(start_ts, min(end_ts, (now_ts - self.recent_s) // step_s * step_s))
        key = (tuple(topics), tuple(sources), step_s)
        entry = self._entries.get(key)
        fresh = entry is not None and self._monotonic() - entry.read_at < self.ttl_s and entry.start_ts <= start_ts
        if not fresh or entry is None or entry.split_ts > split:
            entry = _Entry(start_ts, split, self._monotonic(), self._read(topics, sources, step_s, start_ts, split))
            self._entries[key] = entry
        elif entry.split_ts < split:  # the window moved on: read only what has become history
            for k, rows in self._read(topics, sources, step_s, entry.split_ts, split).items():
                entry.rows.setdefault(k, {}).update(rows)
            entry.split_ts = split
        tail = self._read(topics, sources, step_s, split, end_ts)
        out: dict[Key, list[dict[str, Any]]] = {}
        for k in ((t, s) for t in topics for s in sources):
            old = [r for ts, r in entry.rows.get(k, {}).items() if ts >= start_ts]
            out[k] = old + list(tail.get(k, {}).values())
        return out

    def _read(self, topics: Sequence[str], sources: Sequence[str], step_s: int, since_ts: int,
              until_ts: int) -> Rows:
        if since_ts >= until_ts:
            return {}
        found = self.store.bucket_series(topics, sources, since_ts=since_ts, until_ts=until_ts, every_s=step_s)
        return {k: {int(r["start_ts"]): r for r in rows} for k, rows in found.items()}


__all__ = ["BucketHistory"]
