"""Fixed-window request limits for the simulated APIs (Mastodon's Rack::Attack, Bluesky's PDS)."""

from __future__ import annotations

import threading
import time

__all__ = ["RateWindow"]


class RateWindow:
    """`limit` requests per fixed window of `window_s` wall-clock seconds.

    Wall clock, not the simulated one: the reset time goes out in headers that a client compares
    with its own clock, and rate limits throttle real request rates.
    """

    def __init__(self, limit: int, window_s: float):
        if limit < 1 or window_s <= 0:
            raise ValueError("a rate window needs limit >= 1 and window_s > 0")
        self.limit, self.window_s = limit, window_s
        self._start = time.time()
        self._used = 0
        self._lock = threading.Lock()

    def hit(self) -> tuple[bool, int, float]:
        """Count one request: (allowed, remaining after it, reset as UNIX seconds)."""
        with self._lock:
            now = time.time()
            if now >= self._start + self.window_s:
                self._start, self._used = now, 0
            self._used += 1
            reset = self._start + self.window_s
            return self._used <= self.limit, max(0, self.limit - self._used), reset
