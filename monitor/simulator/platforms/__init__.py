"""The simulator's platform endpoint families, one module per platform.

Importing a module registers its routes with `monitor.simulator.server.route`; `monitor.simulator.server` imports
every module here, so `Simulator` serves them all. Each module keeps its per-simulator state
(rate-limit windows, sessions, modes) to itself, keyed by the Simulator instance.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # pragma: no cover
    from monitor.simulator.server import Simulator

T = TypeVar("T")


def per_simulator(factory: Callable[[Simulator], T]) -> Callable[[Simulator], T]:
    """A getter for one state object per Simulator, built on first use and dropped with it.

    Tests run several simulators side by side; each keeps its own rate windows, sessions and modes.
    """
    states: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
    lock = threading.Lock()

    def get(sim: Simulator) -> T:
        with lock:
            state = states.get(sim)
            if state is None:
                state = states[sim] = factory(sim)
            return state

    return get
