"""Bucket series as the dashboard holds them, fitted to a chart's width; spikes and shifts as shown.

A series keeps the exact per-bucket sums, never pre-computed metrics, so that a chart narrower
than the series can merge neighbouring buckets exactly (sums of sums) and then apply the
metrics.md display rules to what it actually draws.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.metrics.formulas import BucketSums
from monitor.store.db import from_ts

NOT_COLLECTED = None
"""A bucket before the topic's record starts: no data, which is not the same as 0 posts."""


@dataclass(frozen=True, slots=True)
class Series:
    """Consecutive buckets of `step_s` seconds from `start_ts` (UNIX seconds).

    `sums[i]` is None where nothing was being collected yet; `incomplete[i]` is True where a
    source failed to poll during the bucket (metrics.md §3: never read it as quiet).
    """

    start_ts: int
    step_s: int
    sums: tuple[BucketSums | None, ...]
    incomplete: tuple[bool, ...]
    engagement: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.sums)

    def start(self, i: int) -> datetime:
        return from_ts(self.start_ts + i * self.step_s)

    @property
    def end(self) -> datetime:
        return from_ts(self.start_ts + len(self.sums) * self.step_s)

    def total(self) -> BucketSums:
        return sum((s for s in self.sums if s is not None), BucketSums())

    @property
    def any_incomplete(self) -> bool:
        return any(self.incomplete)

    def volumes(self) -> list[int | None]:
        """Posts per bucket, unscored included (volume is about how much is said)."""
        return [None if s is None else s.total for s in self.sums]

    def fit(self, columns: int) -> Series:
        """Merge neighbouring buckets until the series fits in `columns` (at least 1).

        Groups are counted from the newest bucket backwards, so the latest bucket always keeps
        its own column edge; a partial group at the old end is dropped rather than drawn as a
        misleadingly small bucket.
        """
        n = len(self.sums)
        group = max(1, math.ceil(n / max(columns, 1)))
        if group == 1:
            return self
        keep = (n // group) * group
        skip = n - keep
        sums: list[BucketSums | None] = []
        incomplete: list[bool] = []
        engagement: list[int] = []
        for i in range(skip, n, group):
            part = [s for s in self.sums[i : i + group] if s is not None]
            sums.append(sum(part, BucketSums()) if part else NOT_COLLECTED)
            incomplete.append(any(self.incomplete[i : i + group]))
            engagement.append(sum(self.engagement[i : i + group]))
        return Series(
            self.start_ts + skip * self.step_s,
            self.step_s * group,
            tuple(sums),
            tuple(incomplete),
            tuple(engagement),
        )

    def tail(self, count: int) -> Series:
        """The newest `count` buckets."""
        if count >= len(self.sums):
            return self
        cut = len(self.sums) - count
        return Series(
            self.start_ts + cut * self.step_s,
            self.step_s,
            self.sums[cut:],
            self.incomplete[cut:],
            self.engagement[cut:],
        )


@dataclass(frozen=True, slots=True)
class Spike:
    """A volume alarm (EARS-t, metrics.md §4) with what drove it, for the reader to judge."""

    start: datetime
    step: timedelta
    posts: int
    limit: float
    baseline: float


@dataclass(frozen=True, slots=True)
class Shift:
    """A mean-sentiment alarm (EWMA, metrics.md §4): the hour, which way, its mean and the usual."""

    start: datetime
    direction: str  # "up" | "down"
    mean: float | None
    baseline: float
    posts: int


@dataclass(frozen=True, slots=True)
class SpikeScan:
    """The latest alarms in a window, or None; `checked` says whether any bucket had a baseline.

    `latest`/`checked` are volume (EARS-t), `shift`/`shift_checked` mean sentiment (EWMA), both
    decided by the code the alerts use.
    """

    latest: Spike | None
    checked: bool
    shift: Shift | None = None
    shift_checked: bool = False


def fill_series(
    rows: Sequence[dict], *, start_ts: int, step_s: int, count: int, collecting_since_ts: int | None
) -> Series:
    """Rows of `Store.series` (only buckets that exist) → a dense series of `count` buckets.

    A bucket with no row is 0 posts if collection had started by its end, else not collected.
    """
    sums: list[BucketSums | None] = []
    for i in range(count):
        end = start_ts + (i + 1) * step_s
        collected = collecting_since_ts is not None and collecting_since_ts < end
        sums.append(BucketSums() if collected else NOT_COLLECTED)
    incomplete = [False] * count
    engagement = [0] * count
    for r in rows:
        i = (int(r["start_ts"]) - start_ts) // step_s
        if not 0 <= i < count:
            continue
        sums[i] = BucketSums(
            n_neg=int(r["n_neg"]),
            n_neu=int(r["n_neu"]),
            n_pos=int(r["n_pos"]),
            sum_neg=float(r["sum_neg"]),
            sum_neu=float(r["sum_neu"]),
            sum_pos=float(r["sum_pos"]),
            sum_sq=float(r["sum_sq"]),
            n_unscored=int(r["n_unscored"]),
        )
        incomplete[i] = bool(r["incomplete"])
        engagement[i] = int(r["engagement"] or 0)
    return Series(start_ts, step_s, tuple(sums), tuple(incomplete), tuple(engagement))


__all__ = ["NOT_COLLECTED", "Series", "Shift", "Spike", "SpikeScan", "fill_series"]
