"""Series and posts to CSV, Parquet, NDJSON or JSON, written a batch at a time.

Posts arrive from `Store.iter_posts` in batches; CSV and JSON lines are appended batch by batch
and Parquet gathers batches into row groups, so a million posts take the memory of a row group,
not of the result (benchmarks/export.py measures it). Files are written under a temporary name
and renamed when complete: an interrupted export never leaves a truncated file that looks
finished.

Format details a reader of the files needs (also in the README):
- Parquet: explicit types (timestamps in UTC with time zone, nullable floats, list<string> for
  topics, non-null where a value always exists) and key/value metadata `monitor:schema_version`,
  `monitor:query` (the resolved query as JSON), `monitor:version`, `monitor:exported_at`.
- CSV: RFC 4180 quoting; topics joined with ';'; times as ISO 8601 with offset; null is an empty
  field, an empty string is `""`. A text cell that starts with = + - @ tab or CR gets a leading
  apostrophe, so a spreadsheet shows it instead of running it as a formula (plain numbers such as
  `-12` are left alone). Only CSV is altered; the other formats keep text as stored.
- NDJSON: one object per line; JSON: one array of the same objects.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

import polars as pl

from monitor import __version__
from monitor.outputs.api import PostsSpec, QueryError, SeriesSpec, StoreReader, series_schema
from monitor.store.db import POST_BATCH, POST_SCHEMA

SCHEMA_VERSION = 2
"""Bumped whenever a column is added, removed, renamed or changes type."""

FORMATS = ("csv", "parquet", "ndjson", "json")
_EXTENSIONS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "json",
}
ROW_GROUP = 100_000
DICTIONARY_COLUMNS = ["topic", "source", "topics", "lang", "scorer", "scorer_version", "author"]
"""Parquet dictionary-encodes only columns with few distinct values: on post text and URLs a
dictionary costs memory and time and saves nothing."""

REQUIRED: dict[str, frozenset[str]] = {
    "series": frozenset(
        {
            "topic",
            "source",
            "bucket_start",
            "bucket_width_s",
            "posts",
            "n",
            "n_pos",
            "n_neu",
            "n_neg",
            "n_unscored",
            "engagement",
            "incomplete",
            "sum_neg",
            "sum_neu",
            "sum_pos",
            "sum_sq",
        }
    ),
    "posts": frozenset(
        {
            "id",
            "source",
            "native_id",
            "created_at",
            "topics",
            "tags",
            "text",
            "engagement",
            "reposts",
        }
    ),
}
"""Columns that are never null (marked non-nullable in Parquet); every other column may be."""

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%:z"  # what NDJSON/JSON write too: 2026-03-18T09:30:00+00:00
_FORMULA_START = r"^[=+\-@\t\r]"
_PLAIN_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how to write: `path` "-" is standard output."""

    path: str
    format: str
    gzip: bool = False


def choose_target(path: str, fmt: str | None) -> Target:
    """The format from `fmt` or the file extension; they must agree when both are given."""
    if fmt is not None and fmt not in FORMATS:
        raise QueryError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    target = Target("-", fmt or "csv") if path == "-" else _file_target(path, fmt)
    if target.format == "parquet":
        try:
            import pyarrow.parquet  # noqa: F401  (streams row groups; polars alone cannot append)
        except ImportError:
            raise QueryError("writing Parquet needs pyarrow: pip install pyarrow") from None
    return target


def _file_target(path: str, fmt: str | None) -> Target:
    name = Path(path).name.lower()
    gz = name.endswith(".gz")
    inferred = _EXTENSIONS.get(Path(name.removesuffix(".gz")).suffix)
    if inferred is None and fmt is None:
        raise QueryError(
            f"cannot tell the format of {path!r} from its extension: name it .csv, .parquet, "
            f".ndjson (or .jsonl) or .json, or pass --format"
        )
    if inferred is not None and fmt is not None and inferred != fmt:
        raise QueryError(f"--format {fmt} disagrees with the extension of {path!r} ({inferred})")
    chosen = fmt or inferred
    assert chosen is not None
    if gz and chosen == "parquet":
        raise QueryError(f"{path!r}: Parquet is compressed inside (zstd); drop the .gz")
    return Target(path, chosen, gz)


# --- per-format writers ------------------------------------------------------------------------


class _Writer(Protocol):
    def write(self, frame: pl.DataFrame) -> None: ...
    def close(self) -> None: ...


class _CsvWriter:
    def __init__(self, fh: IO[bytes], schema: dict[str, pl.DataType]):
        self.fh = fh
        # the header
        pl.DataFrame(schema=schema).pipe(csv_safe).write_csv(fh, datetime_format=_TIME_FORMAT)

    def write(self, frame: pl.DataFrame) -> None:
        csv_safe(frame).write_csv(self.fh, include_header=False, datetime_format=_TIME_FORMAT)

    def close(self) -> None:
        pass


def csv_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """Lists joined with ';' and formula-looking text defused with a leading apostrophe.

    Spreadsheets run a cell that starts with = + - @ (and, after a tab or CR, what follows) as
    a formula: post text is written by strangers (OWASP "CSV injection"). A plain number is
    left alone: `-12` cannot call anything.
    """
    exprs = []
    for name, dtype in frame.schema.items():
        if dtype == pl.List(pl.String()):
            col = pl.col(name).list.join(";")
        elif dtype == pl.String():
            col = pl.col(name)
        else:
            continue
        risky = col.str.contains(_FORMULA_START) & ~col.str.contains(_PLAIN_NUMBER)
        exprs.append(pl.when(risky).then(pl.lit("'") + col).otherwise(col).alias(name))
    return frame.with_columns(exprs)


class _NdjsonWriter:
    def __init__(self, fh: IO[bytes]):
        self.fh = fh

    def write(self, frame: pl.DataFrame) -> None:
        frame.write_ndjson(self.fh)

    def close(self) -> None:
        pass


class _JsonWriter:
    """One JSON array, streamed: NDJSON lines of each batch joined by commas.

    polars escapes newlines inside strings, so every raw newline in its NDJSON ends a record.
    """

    def __init__(self, fh: IO[bytes]):
        self.fh = fh
        self.first = True
        fh.write(b"[")

    def write(self, frame: pl.DataFrame) -> None:
        if frame.is_empty():
            return
        buf = io.BytesIO()
        frame.write_ndjson(buf)
        records = buf.getvalue().rstrip(b"\n").split(b"\n")
        self.fh.write((b"\n" if self.first else b",\n") + b",\n".join(records))
        self.first = False

    def close(self) -> None:
        self.fh.write(b"]\n" if self.first else b"\n]\n")


class _ParquetWriter:
    """Batches gathered into row groups of ROW_GROUP rows.

    Reading in small batches keeps few Python row objects alive (they, not the columns, are
    most of an export's memory); row groups that small would make the file slow to scan.
    Buffered frames are columnar and compact, ~30 MB per 100,000 posts.
    """

    def __init__(
        self,
        fh: IO[bytes],
        schema: dict[str, pl.DataType],
        required: frozenset[str],
        metadata: dict[str, str],
    ):
        import pyarrow.parquet as pq

        self.schema = arrow_schema(schema, required).with_metadata(metadata)
        self.writer = pq.ParquetWriter(
            fh, self.schema, compression="zstd", use_dictionary=DICTIONARY_COLUMNS
        )
        self.pending: list[pl.DataFrame] = []
        self.rows = 0

    def write(self, frame: pl.DataFrame) -> None:
        self.pending.append(frame)
        self.rows += frame.height
        if self.rows >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            table = pl.concat(self.pending).to_arrow().cast(self.schema)
            self.writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self.pending, self.rows = [], 0

    def close(self) -> None:
        self._flush()
        self.writer.close()


def arrow_schema(schema: dict[str, pl.DataType], required: frozenset[str]) -> Any:
    """The Parquet schema: plain string/list types (readable everywhere) and real nullability."""
    import pyarrow as pa

    def plain(t: Any) -> Any:
        if pa.types.is_large_string(t) or pa.types.is_string_view(t):
            return pa.string()
        if pa.types.is_large_list(t) or pa.types.is_list(t):
            return pa.list_(plain(t.value_type))
        return t

    fields = pl.DataFrame(schema=schema).to_arrow().schema
    return pa.schema(
        [pa.field(f.name, plain(f.type), nullable=f.name not in required) for f in fields]
    )


def _writer(
    target: Target, fh: IO[bytes], kind: str, schema: dict[str, pl.DataType], query: dict[str, Any]
) -> _Writer:
    if target.format == "csv":
        return _CsvWriter(fh, schema)
    if target.format == "ndjson":
        return _NdjsonWriter(fh)
    if target.format == "json":
        return _JsonWriter(fh)
    metadata = {
        "monitor:schema_version": str(SCHEMA_VERSION),
        "monitor:query": json.dumps(query),
        "monitor:version": __version__,
        "monitor:exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return _ParquetWriter(fh, schema, REQUIRED.get(kind, frozenset()), metadata)


# --- output files --------------------------------------------------------------------------------


@contextmanager
def _open(target: Target) -> Iterator[IO[bytes]]:
    """Standard output as is; a file under a temporary name, renamed into place on success."""
    if target.path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    final = Path(target.path)
    part = final.with_name(f".{final.name}.{os.getpid()}.part")
    try:
        with open(part, "wb") as raw:
            if target.gzip:
                with gzip.GzipFile(
                    filename=final.name.removesuffix(".gz"), fileobj=raw, mode="wb"
                ) as gz:
                    yield gz  # type: ignore[misc]
            else:
                yield raw
        os.replace(part, final)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def write_frames(
    frames: Iterable[pl.DataFrame],
    target: Target,
    *,
    kind: str,
    schema: dict[str, pl.DataType],
    query: dict[str, Any],
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Write every frame in order to `target`; returns the number of rows.

    With no frames at all the file still has its header (CSV) or schema (Parquet), or is `[]`.
    """
    if target.path == "-" and target.format == "parquet" and sys.stdout.isatty():
        raise QueryError("refusing to write Parquet (binary) to a terminal: use -o FILE or a pipe")
    rows = 0
    try:
        with _open(target) as fh:
            writer = _writer(target, fh, kind, schema, query)
            try:
                for frame in frames:
                    if frame.is_empty():
                        continue
                    writer.write(frame)
                    rows += frame.height
                    if on_batch is not None:
                        on_batch(frame.height)
            finally:
                writer.close()
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise QueryError(f"cannot write {target.path}: {exc.strerror}") from None
    return rows


def export_series(reader: StoreReader, spec: SeriesSpec, target: Target) -> int:
    frame = reader.series_frame(spec)
    return write_frames(
        [frame], target, kind="series", schema=series_schema(spec.with_sums), query=spec.describe()
    )


def export_posts(
    reader: StoreReader,
    spec: PostsSpec,
    target: Target,
    *,
    progress: bool = False,
    batch_size: int = POST_BATCH,
) -> int:
    """Stream the posts of `spec` to `target`; a Rich progress bar on stderr if `progress`."""
    # closing(): a failed write must end the read transaction now, not when the GC gets to it.
    with closing(reader.posts_frames(spec, batch_size)) as batches:
        if not progress:
            return write_frames(
                batches, target, kind="posts", schema=POST_SCHEMA, query=spec.describe()
            )
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        total = reader.count_posts(spec)
        with Progress(
            TextColumn("exporting posts"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as bar:
            task = bar.add_task("posts", total=total)
            return write_frames(
                batches,
                target,
                kind="posts",
                schema=POST_SCHEMA,
                query=spec.describe(),
                on_batch=lambda n: bar.advance(task, n),
            )


__all__ = [
    "FORMATS",
    "REQUIRED",
    "SCHEMA_VERSION",
    "Target",
    "arrow_schema",
    "choose_target",
    "csv_safe",
    "export_posts",
    "export_series",
    "write_frames",
]
