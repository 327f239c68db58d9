"""Local JSONL/CSV datasets: one-off imports and a growing JSONL file followed like a feed."""

from __future__ import annotations

from typing import Literal

from monitor.sources.base import Batch, PollContext, Source, SourceSettings


class FileSettings(SourceSettings):
    path: str
    format: Literal["jsonl", "csv"] | None = None  # None: from the file name


class FileSource(Source):
    kind = "file"
    Settings = FileSettings

    def fetch(self, state: dict, ctx: PollContext) -> Batch:  # pragma: no cover - filled in next
        raise NotImplementedError
