"""Local JSONL/CSV datasets: one-off imports (`monitor import`) and a growing JSONL file followed like a feed.

Rows carry `id`, `text`, `created_at` (ISO 8601) and optionally `author`, `url`, `lang`,
`hashtags`. A bad row is reported by its line number and skipped; it never stops the rest.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from monitor.sources.base import (
    Batch,
    PollContext,
    RawPost,
    Rejected,
    Source,
    SourceError,
    SourceSettings,
)

MAX_LINE_BYTES = 1_000_000
# A CSV field may be as long as a JSONL line (Python's csv stops at 131,072 characters by default,
# and used to end the whole import with a traceback there).
csv.field_size_limit(max(csv.field_size_limit(), MAX_LINE_BYTES))
FOLLOW_CHUNK_BYTES = 8_000_000  # read at most this much per poll so a huge file streams in pieces


FileFormat = Literal["jsonl", "csv"]


class FileSettings(SourceSettings):
    path: str
    format: FileFormat | None = None  # None: from the file name


@dataclass(slots=True)
class BadRow:
    line: int
    message: str
    raw: Any = None  # what the line held, for the quarantine

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def detect_format(path: str | Path, declared: FileFormat | None = None) -> FileFormat:
    if declared:
        return declared
    suffixes = [s.lower() for s in Path(path).suffixes]
    if ".csv" in suffixes or ".tsv" in suffixes:
        return "csv"
    return "jsonl"


def parse_time(value: Any) -> datetime:
    """ISO 8601 or UNIX seconds; ValueError in words for anything a calendar cannot hold."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError(f"created_at {value!r} is not a time")
        try:
            return datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"created_at {value!r} is out of range for a UNIX time") from None
    if not isinstance(value, str) or not value.strip():
        raise ValueError("created_at is missing")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"created_at {value!r} is not an ISO 8601 time") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)  # documented: naive times are read as UTC
    try:
        return dt.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError(f"created_at {value!r} is out of range") from None


def record_to_post(rec: Any) -> RawPost:
    """A dataset row in the common shape; ValueError in words when the row is unusable."""
    if not isinstance(rec, dict):
        raise ValueError(
            f"expected an object with id, text and created_at, got {type(rec).__name__}"
        )
    rid, text = rec.get("id"), rec.get("text")
    if rid is None or str(rid).strip() == "":
        raise ValueError("id is missing")
    if not isinstance(rid, (str, int)) or isinstance(rid, bool):
        raise ValueError(f"id must be text or a whole number, got {type(rid).__name__}")
    for name in ("author", "url", "lang"):
        if rec.get(name) is not None and not isinstance(rec.get(name), str):
            raise ValueError(f"{name} must be text, got {type(rec.get(name)).__name__}")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text is missing or empty")
    tags = rec.get("hashtags") or ()
    if isinstance(tags, str):
        tags = [t for t in tags.replace(",", " ").split() if t]
    if not isinstance(tags, (list, tuple)):
        raise ValueError("hashtags must be a list or a space/comma separated string")
    lang = rec.get("lang") or None
    return RawPost(
        native_id=str(rid).strip(),
        text=text,
        created_at=parse_time(rec.get("created_at")),
        url=rec.get("url") or None,
        author=rec.get("author") or None,
        lang=str(lang) if lang else None,
        tags=tuple(str(t) for t in tags),
    )


def _row_error(exc: Exception) -> str:
    if isinstance(exc, ValueError) and not isinstance(exc, UnicodeError):
        return str(exc)
    if isinstance(exc, RecursionError):
        return "nested too deeply to read"
    return f"unreadable ({type(exc).__name__}: {exc})"


def iter_jsonl(lines: Iterator[tuple[int, bytes]]) -> Iterator[RawPost | BadRow]:
    for lineno, raw in lines:
        if not raw.strip():
            continue
        if len(raw) > MAX_LINE_BYTES:
            yield BadRow(
                lineno,
                f"line is {len(raw):,} bytes, over the {MAX_LINE_BYTES:,}-byte limit",
                raw[:200].decode("utf-8", "replace"),
            )
            continue
        try:
            post = record_to_post(json.loads(raw))
        except json.JSONDecodeError as exc:
            yield BadRow(
                lineno,
                f"not valid JSON ({exc.msg} at column {exc.colno})",
                raw.decode("utf-8", "replace"),
            )
        except Exception as exc:  # noqa: BLE001 - whatever one line holds, it stays that line's problem
            yield BadRow(lineno, _row_error(exc), raw.decode("utf-8", "replace"))
        else:
            post.position = f"line {lineno}"
            yield post


def iter_csv(fh: io.TextIOBase) -> Iterator[RawPost | BadRow]:
    reader = csv.DictReader(fh)
    try:
        fields = reader.fieldnames
    except csv.Error as exc:
        yield BadRow(1, f"the CSV header cannot be read ({exc})")
        return
    missing = {"id", "text", "created_at"} - set(fields or [])
    if missing:
        yield BadRow(1, f"CSV header lacks {', '.join(sorted(missing))}")
        return
    while True:
        start = reader.line_num + 1
        try:
            rec = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a field over the limit, a NUL: that row only
            yield BadRow(start, f"not a readable CSV row ({exc})")
            continue
        try:
            post = record_to_post(rec)
        except Exception as exc:  # noqa: BLE001
            yield BadRow(start, _row_error(exc), rec)
        else:
            post.position = f"line {start}"
            yield post


def iter_file(path: Path, fmt: str) -> Iterator[RawPost | BadRow]:
    """Every row of a dataset file, for `monitor import`."""
    if fmt == "csv":
        # utf-8-sig: a byte-order mark (Excel writes one) is not part of the first column's name
        with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as fh:
            yield from iter_csv(fh)
    else:
        with path.open("rb") as fh:
            yield from iter_jsonl(enumerate(fh, start=1))


class FileSource(Source):
    """Follows a growing JSONL file: each poll reads the complete lines appended since the last."""

    kind = "file"
    Settings = FileSettings
    settings: FileSettings

    def fetch(self, state: dict[str, Any], ctx: PollContext) -> Batch:
        path = Path(self.settings.path).expanduser()
        if detect_format(path, self.settings.format) != "jsonl":
            raise SourceError(
                f"file source {self.name}: only JSONL files can be followed; "
                f"load CSV with `monitor import`"
            )
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise SourceError(f"file {path} does not exist (yet)") from None
        offset, line = int(state.get("offset", 0)), int(state.get("line", 0))
        notes = []
        if size < offset:  # truncated or replaced: start over; dedupe drops what we had
            notes.append(
                f"{path} shrank from {offset:,} to {size:,} bytes; reading it again from the start"
            )
            offset, line = 0, 0
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read(FOLLOW_CHUNK_BYTES)
        end = data.rfind(b"\n")
        if end < 0:
            # one enormous line: skip it rather than stall forever
            if len(data) >= FOLLOW_CHUNK_BYTES:
                notes.append(
                    f"line {line + 1}: over {FOLLOW_CHUNK_BYTES:,} bytes without a newline; skipped"
                )
                return Batch(
                    posts=[], state={"offset": offset + len(data), "line": line + 1}, notes=notes
                )
            return Batch(posts=[], state=dict(state, offset=offset, line=line), notes=notes)
        complete = data[: end + 1]
        rows = complete.split(b"\n")[:-1]
        posts, rejected = [], []
        for item in iter_jsonl(((line + i + 1, raw) for i, raw in enumerate(rows))):
            if isinstance(item, BadRow):  # quarantined with the poll, and logged by line
                rejected.append(
                    Rejected(
                        position=f"{path.name} line {item.line}", reason=item.message, raw=item.raw
                    )
                )
            else:
                item.position = f"{path.name} line {item.position[5:]}" if item.position else None
                posts.append(item)
        return Batch(
            posts=posts,
            state={"offset": offset + len(complete), "line": line + len(rows)},
            notes=notes,
            rejected=rejected,
        )
