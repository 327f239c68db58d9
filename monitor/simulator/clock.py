"""The simulator's clock, apart from the server: the demo's `Replay` drives it without serving.

A post is published once `epoch + offset_s <= now`; tests pause it, jump it and speed it up
while the server runs, so every change goes through one lock.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

__all__ = ["SimClock", "default_epoch"]


def default_epoch(now: datetime | None = None) -> datetime:
    """Three days before the current hour: at high speed the corpus plays out entirely in the past."""
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=3)


class SimClock:
    """Simulated time: `epoch + start_offset + elapsed * speed`, adjustable while the server runs."""

    default_epoch = staticmethod(default_epoch)

    def __init__(
        self, epoch: datetime | None = None, speed: float = 1.0, start_offset_s: float = 0.0
    ):
        if epoch is not None and epoch.tzinfo is None:
            raise ValueError("SimClock epoch must be timezone-aware (UTC)")
        self._epoch = (epoch or default_epoch()).astimezone(UTC)
        self._speed = _check_speed(speed)
        self._base = float(start_offset_s)
        self._t0 = time.monotonic()
        self._paused = False
        self._lock = threading.Lock()

    @property
    def epoch(self) -> datetime:
        return self._epoch

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def paused(self) -> bool:
        return self._paused

    def offset_s(self) -> float:
        """Seconds of simulated time since the epoch."""
        with self._lock:
            return self._offset_locked()

    def now(self) -> datetime:
        return self._epoch + timedelta(seconds=self.offset_s())

    def set_offset(self, seconds: float) -> None:
        with self._lock:
            self._base, self._t0 = float(seconds), time.monotonic()

    def set_speed(self, speed: float) -> None:
        with self._lock:
            self._base, self._t0 = self._offset_locked(), time.monotonic()
            self._speed = _check_speed(speed)

    def pause(self) -> None:
        with self._lock:
            if not self._paused:
                self._base, self._paused = self._offset_locked(), True

    def resume(self) -> None:
        with self._lock:
            if self._paused:
                self._t0, self._paused = time.monotonic(), False

    def _offset_locked(self) -> float:
        if self._paused:
            return self._base
        return self._base + (time.monotonic() - self._t0) * self._speed


def _check_speed(speed: float) -> float:
    if not speed >= 0:
        raise ValueError(f"speed must be >= 0, got {speed!r}")
    return float(speed)
