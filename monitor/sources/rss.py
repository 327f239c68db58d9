"""RSS 2.0 / Atom feeds (Google News searches, Mastodon tag feeds, Reddit feeds, any blog)."""

from __future__ import annotations

from pydantic import AnyHttpUrl, Field

from monitor.sources.base import Batch, PollContext, Source, SourceSettings


class RssSettings(SourceSettings):
    url: AnyHttpUrl
    max_bytes: int = Field(default=10_000_000, gt=0)


class RssSource(Source):
    kind = "rss"
    Settings = RssSettings

    def fetch(self, state: dict, ctx: PollContext) -> Batch:  # pragma: no cover - filled in next
        raise NotImplementedError
