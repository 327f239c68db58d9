"""A source that needs no server: prepared batches, or prepared errors, one per poll.

The ingest, export, API, alert and digest tests drive the real pipeline with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from monitor.sources.base import Batch, Source, SourceSettings


class ScriptedSource(Source):
    kind = "scripted"
    Settings = SourceSettings

    def __init__(
        self,
        settings: SourceSettings,
        topics: Sequence[Any],
        script: Iterable[Batch | Exception] = (),
    ):
        super().__init__(settings, list(topics), http=None)
        self.script = list(script)

    def fetch(self, state, ctx):
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        return item
