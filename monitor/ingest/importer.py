"""`monitor import`: a JSONL/CSV dataset into one topic, idempotently.

Rows go through the same pipeline as polled posts (normalize → dedupe → score → store), in
chunks of one transaction each, so an interrupted import can simply be run again: what was
stored is recognised by (source, id) and skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from monitor.ingest.poll import Ingestor
from monitor.sources.base import Batch, Rejected
from monitor.sources.file import BadRow, FileSettings, FileSource, detect_format, iter_file
from monitor.store.db import Store, utcnow

CHUNK = 2000


@dataclass
class ImportReport:
    source: str
    rows: int = 0
    new_posts: int = 0
    duplicates: int = 0
    bad_rows: list[BadRow] = field(default_factory=list)


def _topic(config: Any, name: str) -> Any:
    """The configured topic of that name, or a bare one: an imported dataset needs no config."""
    if config is not None:
        for t in config.topics:
            if t.name == name:
                return t
    return SimpleNamespace(
        name=name, title=None, hashtags=[], keywords=[], exclude=[], languages=None
    )


def default_source_name(path: Path) -> str:
    """`import-<file name>`, reduced to the characters a source name may hold."""
    return ("import-" + re.sub(r"[^A-Za-z0-9_.\-]+", "-", path.name).strip("-"))[:100]


def import_file(
    store: Store,
    path: Path,
    *,
    topic: str,
    source: str | None = None,
    config: Any = None,
    progress: bool = False,
) -> ImportReport:
    fmt = detect_format(path)
    name = source or default_source_name(path)
    settings = FileSettings(
        name=name, kind="file", path=str(path), format=fmt, match="all", topics=[topic]
    )
    src = FileSource(settings, [_topic(config, topic)], http=None)  # type: ignore[arg-type]
    ingestor = Ingestor(store, [_topic(config, topic)])
    report = ImportReport(source=name)
    bar = _progress(path) if progress else None
    chunk: list = []
    bad: list[BadRow] = []

    def flush() -> None:
        if not chunk and not bad:
            return
        # Bad rows are kept in the quarantine table too, with their line numbers.
        rejected = [Rejected(position=f"line {b.line}", reason=b.message, raw=b.raw) for b in bad]
        outcome = ingestor.store_batch(
            src,
            Batch(posts=list(chunk), state={"imported": str(path)}, rejected=rejected),
            utcnow(),
        )
        report.new_posts += outcome.new_posts
        report.duplicates += outcome.duplicates
        # rows the store could not take (a year-9999 time, an id too long) are bad rows as well
        report.bad_rows.extend(
            BadRow(_line(r.position), r.reason) for r in outcome.rejected[len(rejected) :]
        )
        chunk.clear()
        bad.clear()

    try:
        for item in iter_file(path, fmt):
            report.rows += 1
            if isinstance(item, BadRow):
                report.bad_rows.append(item)
                bad.append(item)
            else:
                chunk.append(item)
            if len(chunk) + len(bad) >= CHUNK:
                flush()
                if bar is not None:
                    bar.advance(report.rows)
        flush()
    finally:
        if bar is not None:
            bar.close()
    report.bad_rows.sort(key=lambda b: b.line)
    return report


def _line(position: str) -> int:
    """The line number in a position such as "line 12"."""
    digits = re.search(r"\d+", position)
    return int(digits.group()) if digits else 0


class _progress:
    """A Rich progress bar over rows read (only on a terminal)."""

    def __init__(self, path: Path):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        total = _count_lines(path)
        self.p = Progress(
            TextColumn("importing {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=True,
        )
        self.task = self.p.add_task(path.name, total=total)
        self.p.start()

    def advance(self, rows: int) -> None:
        self.p.update(self.task, completed=rows)

    def close(self) -> None:
        self.p.stop()


def _count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
