"""Process settings for the long-running commands (collector, demo, import).

CPython's cyclic garbage collector runs a collection every 700 net allocations and, every 100 of
those, walks every live object. Ingest allocates heavily (an XML tree, a dict per row) while the
process holds a large, long-lived heap (config, models, lexicons, the dashboard), so those walks
cost the collector about 15% of its throughput in `benchmarks/ingest.py`. Freezing what exists at
start-up takes it out of every later walk, and a larger first threshold makes walks rarer; the
pipeline creates almost no reference cycles, so memory does not grow for it.
"""

from __future__ import annotations

import gc

__all__ = ["GC_THRESHOLDS", "tune_gc"]

GC_THRESHOLDS = (50_000, 20, 20)
_tuned = False


def tune_gc() -> None:
    """Call after start-up work, before the polling starts; later calls do nothing."""
    global _tuned
    if _tuned:
        return
    _tuned = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
