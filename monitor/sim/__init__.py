"""The simulator's platform endpoint families, one module per platform.

Importing a module registers its routes with `monitor.simulate.route`; `monitor.simulate` imports
every module here, so `Simulator` serves them all. Each module keeps its per-simulator state
(rate-limit windows, sessions, modes) to itself, keyed by the Simulator instance.
"""
