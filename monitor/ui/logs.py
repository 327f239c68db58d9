"""Logging while the dashboard owns the terminal: records go to a file and to a bounded buffer.

A handler writing to stderr would scribble over the screen (it holds the real stderr, which
Textual's capture does not cover), so for as long as the dashboard runs the root logger's
handlers are swapped for a rotating file under the storage folder and a `LogBuffer` that the log
screen reads at most once a second.
"""

from __future__ import annotations

import logging
import logging.handlers
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

LOG_FILE = "monitor.log"
FILE_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


@dataclass(frozen=True, slots=True)
class LogEntry:
    seq: int
    created: datetime
    level: int
    logger: str
    message: str  # as logged; untrusted (it can quote a server's error), shown via Text only


class LogBuffer(logging.Handler):
    """The newest `capacity` records, numbered so a reader can ask for what it has not seen."""

    def __init__(self, capacity: int = 1000, level: int = logging.NOTSET):
        super().__init__(level)
        self._entries: deque[LogEntry] = deque(maxlen=capacity)
        self._seq = 0
        self._lock_entries = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                exc = record.exc_info[1]
                message = f"{message} ({type(exc).__name__}: {exc})"
        except Exception:  # a bad format string must not take the app down
            message = str(record.msg)
        self.add(
            LogEntry(
                0, datetime.fromtimestamp(record.created, UTC), record.levelno, record.name, message
            )
        )

    def add(self, entry: LogEntry) -> LogEntry:
        """Append an entry (its seq is assigned here); tests use this to inject fixed records."""
        with self._lock_entries:
            self._seq += 1
            entry = LogEntry(self._seq, entry.created, entry.level, entry.logger, entry.message)
            self._entries.append(entry)
        return entry

    def since(self, seq: int) -> list[LogEntry]:
        """Entries newer than `seq`, oldest first."""
        with self._lock_entries:
            return [e for e in self._entries if e.seq > seq]


@contextmanager
def dashboard_logging(storage_dir: Path, buffer: LogBuffer) -> Iterator[Path]:
    """Route every log record to `storage_dir/monitor.log` and `buffer` until the block ends."""
    storage_dir.mkdir(parents=True, exist_ok=True)
    path = storage_dir / LOG_FILE
    root = logging.getLogger()
    saved = root.handlers[:]
    file_handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=5_000_000, backupCount=3, encoding="utf-8"
    )
    file_handler.setFormatter(logging.Formatter(FILE_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S"))
    root.handlers = [file_handler, buffer]
    logging.captureWarnings(True)
    try:
        yield path
    finally:
        logging.captureWarnings(False)
        root.handlers = saved
        file_handler.close()


__all__ = ["LOG_FILE", "LogBuffer", "LogEntry", "dashboard_logging"]
