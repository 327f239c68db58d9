"""The demo's replay: the bundled story at speed, then a slow trickle at real speed.

Simulator-side parts of `monitor demo` (monitor/demo.py wires them to the collector and the
dashboard): the corpus extended past its end, and the simulated time as the top bar shows it.
"""

from __future__ import annotations

import random
import threading
from dataclasses import replace
from datetime import datetime

from monitor.simulator.clock import SimClock
from monitor.simulator.corpus import SPAN_S, CorpusPost

TRICKLE_EVERY_S = 5
"""After the corpus has played, one post about every this many seconds (real time) keeps the demo moving."""
TRICKLE_SPAN_S = 12 * 3600


def with_trickle(
    corpus: list[CorpusPost],
    *,
    every_s: int = TRICKLE_EVERY_S,
    span_s: int = TRICKLE_SPAN_S,
    seed: int = 7,
) -> list[CorpusPost]:
    """The corpus and, after its end, a slow trickle of its on-topic posts again (new ids), so that
    a demo left open keeps moving once the story has played (played at real speed, see Replay)."""
    rng = random.Random(seed)
    pool = [p for p in corpus if p.hashtags and p.reply_to is None and p.repost_of is None]
    extra = (
        [
            replace(
                rng.choice(pool),
                id=f"t{k:06d}",
                offset_s=SPAN_S + k * every_s + rng.randint(0, every_s - 1),
            )
            for k in range(1, span_s // every_s)
        ]
        if pool
        else []
    )
    return [*corpus, *extra]


class Replay:
    """The demo's simulated time as the dashboard shows it: the corpus at speed, then the trickle
    at real speed. `watch()` switches speeds when the corpus ends."""

    def __init__(self, clock: SimClock, span_s: int = SPAN_S):
        self.clock = clock
        self.span_s = span_s
        self._stop = threading.Event()

    def now(self) -> datetime:
        return self.clock.now()

    @property
    def share(self) -> float:
        return min(1.0, max(0.0, self.clock.offset_s() / self.span_s))

    @property
    def ended(self) -> bool:
        return self.clock.offset_s() >= self.span_s

    def words(self, *, wide: bool) -> str:
        """ "replay Mar 03 14:05 · 62% of the story played" for the top bar."""
        now = self.now()
        if self.ended:
            return (
                f"replay {now:%b %d %H:%M} · story played, live trickle"
                if wide
                else f"replay done, trickle {now:%H:%M}"
            )
        return (
            f"replay {now:%b %d %H:%M} · {self.share:.0%} of the story played"
            if wide
            else f"replay {now:%b %d %H:%M} {self.share:.0%}"
        )

    def watch(self) -> None:
        """A daemon thread: at the corpus's end, slow the clock to real time (the trickle).

        It sleeps until just that instant: at thousands of times real speed a late switch would
        overshoot by many simulated minutes, and a clock set back would serve posts twice."""

        def run() -> None:
            while self.clock.speed != 1.0:
                left = (self.span_s - self.clock.offset_s()) / max(self.clock.speed, 1e-9)
                if left <= 0.002:
                    self.clock.set_speed(1.0)
                    return
                if self._stop.wait(min(left, 0.5)):
                    return

        threading.Thread(target=run, name="demo-replay", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
