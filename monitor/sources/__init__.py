"""Platform sources. Adding a platform means adding one module here and one line below."""

from __future__ import annotations

import importlib

from monitor.sources.base import Batch, PollContext, RawPost, Source, SourceError, SourceSettings

# kind -> module under monitor.sources that defines a Source subclass with that `kind`.
KINDS: dict[str, str] = {
    "rss": "rss",
    "file": "file",
    "mastodon": "mastodon",
    "bluesky": "bluesky",
    "jetstream": "jetstream",
    "reddit": "reddit",
    "hackernews": "hackernews",
    "x": "x",
}


def source_class(kind: str) -> type[Source]:
    module = importlib.import_module(f"monitor.sources.{KINDS[kind]}")
    for obj in vars(module).values():
        if isinstance(obj, type) and issubclass(obj, Source) and getattr(obj, "kind", None) == kind:
            return obj
    raise LookupError(f"monitor.sources.{KINDS[kind]} defines no source of kind {kind!r}")


def settings_model(kind: str) -> type[SourceSettings]:
    return source_class(kind).Settings


__all__ = [
    "KINDS",
    "Batch",
    "PollContext",
    "RawPost",
    "Source",
    "SourceError",
    "SourceSettings",
    "settings_model",
    "source_class",
]
