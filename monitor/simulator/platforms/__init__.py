"""The simulator's platform endpoint families, one module per platform.

Each family module lists its handlers in its own `routing.Routes` table and answers `routes()`;
the server names the modules it serves in its `PLATFORMS` tuple. A family sees the simulator only
as a `routing.SimulatorView` and never imports the server (an import-linter contract). Each module
keeps its per-simulator state (rate-limit windows, sessions, modes) to itself, keyed by the
simulator instance.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TypeVar

from monitor.simulator.routing import SimulatorView

T = TypeVar("T")


def per_simulator(factory: Callable[[SimulatorView], T]) -> Callable[[SimulatorView], T]:
    """A getter for one state object per Simulator, built on first use and dropped with it.

    Tests run several simulators side by side; each keeps its own rate windows, sessions and modes.
    """
    states: weakref.WeakKeyDictionary[SimulatorView, T] = weakref.WeakKeyDictionary()
    lock = threading.Lock()

    def get(sim: SimulatorView) -> T:
        with lock:
            state = states.get(sim)
            if state is None:
                state = states[sim] = factory(sim)
            return state

    return get
