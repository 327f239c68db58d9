"""The live terminal dashboard: the only package that imports Textual.

Plain Python, usable without a terminal (benchmarks, tests): `data` (requests in, immutable
snapshots out, read from the store), `history` (the bucket cache behind it), `series`,
`charts` and `format` (what is drawn, as Rich Text), `logs` (logging while the dashboard owns
the terminal). The Textual side: `app`, `screens`, `widgets`; the stylesheet is
`monitor/data/dashboard.tcss`. Start it with `monitor.ui.app.run_dashboard`.
"""
