"""The live terminal dashboard: the only package that imports Textual.

`data` (the store → immutable snapshot layer) and `series`, `format`, `charts`, `logs` are plain
Python so that benchmarks and tests can use them without a terminal; `app` and its `screens` and
`widgets` are the Textual side. Start it with `monitor.ui.app.run_dashboard`.
"""
