"""Streaming export of posts against polars writing the same frame from memory, in the same run.

    python3 benchmarks/export.py [--sizes 100000 1000000] [--batch N]

For each size a temporary SQLite store is filled directly (bulk inserts of synthetic posts,
topic links, 1-minute buckets and sources; no scoring; posts stored in roughly the order they
were posted, as a collector stores them), then each measurement runs in a fresh
child process so that its peak RSS (VmHWM) belongs to that step alone:

- `export parquet/csv/ndjson`: `monitor.outputs.export.export_posts`, batches streamed from the store
  to the file, as `monitor export posts -o FILE` does;
- `adbc + polars`: the same query read whole through ADBC into one Arrow table (the fastest
  read there is), made a polars frame and written with `DataFrame.write_parquet`, the read
  and the write both timed: the floor for getting these rows from the store into a file;
- `imports only`: the interpreter with polars, pyarrow and the store imported, the memory floor.

Reported: seconds, rows/s, peak RSS, and the ratio of the streaming Parquet export to ADBC +
polars, both reading the store (an earlier version compared the export, read included, with
polars writing a frame already in memory: not the same work). Memory that stays flat shows as nearly the same peak
RSS at 100,000 and at 1,000,000 posts.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import astuple
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SPAN_S = 14 * 24 * 3600
TOPICS = ("thaw", "sanctions", "energy")
SOURCES = ("mastodon-tag", "bluesky", "google-news", "hn")
WORDS = (
    "deal",
    "sanctions",
    "Putin",
    "Trump",
    "business",
    "oil",
    "gas",
    "talks",
    "Moscow",
    "Washington",
    "great",
    "terrible",
    "maybe",
    "never",
    "finally",
    "again",
    "trade",
    "ruble",
    "dollar",
    "markets",
    "#TrumpPutinBusiness",
    "@someone",
    "https://example.org/a?b=c",
    '"quoted"',
    "a,b",
    "line\nbreak",
    "=SUM(A1)",
    "😀",
    "Привет",
    "naïve",
)


def fill(db: Path, n: int, seed: int = 7) -> None:
    """n posts, their topic links and the buckets ingest would have written, in bulk."""
    from monitor.ingest.poll import BucketDelta
    from monitor.store.db import Store
    from monitor.store.models import facet_key

    Store(f"sqlite:///{db}").close()  # the schema, by the migrations
    rng = random.Random(seed)
    con = sqlite3.connect(db)
    con.execute("PRAGMA synchronous=OFF")
    con.executemany(
        "INSERT INTO source (name, kind, settings) VALUES (?, 'rss', '{}')", [(s,) for s in SOURCES]
    )
    buckets: dict[tuple[str, str, int], BucketDelta] = defaultdict(BucketDelta)
    chunk = 50_000
    for start in range(0, n, chunk):
        posts, links = [], []
        for i in range(start, min(n, start + chunk)):
            # Stored roughly in the order posted, as a collector stores them (up to an hour late).
            ts = T0.timestamp() + i * SPAN_S / n - rng.random() * 3600
            created = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            source = rng.choice(SOURCES)
            scored = rng.random() > 0.1
            compound = round(rng.uniform(-1, 1), 4) if scored else None
            engagement = rng.randrange(50)
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(5, 30)))
            url = f"https://example.org/{source}/{i}"
            posts.append(
                (
                    i + 1,
                    source,
                    f"n{i}",
                    url,
                    url,
                    f"user{rng.randrange(5000)}",
                    text,
                    "en" if scored else "ru",
                    "[]",
                    created,
                    created,
                    engagement,
                    0,
                    compound,
                    *((0.2, 0.6, 0.2) if scored else (None, None, None)),
                    "vader" if scored else None,
                    "3.3.2" if scored else None,
                )
            )
            topics = rng.sample(TOPICS, rng.choice((1, 1, 2)))
            minute = int(ts) - int(ts) % 60
            for t in topics:
                facet = facet_key("en" if scored else "ru", [])
                links.append((i + 1, t, created, compound, engagement, facet))
                for s in (source, "*"):
                    b = buckets[(t, s, minute)]
                    b.count(compound)
                    b.engagement += engagement
        con.executemany(
            "INSERT INTO post (id, source, native_id, canonical_url, url, author, text, lang, tags, "
            "created_at, fetched_at, engagement, reposts, compound, pos, neu, neg, scorer, scorer_version) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            posts,
        )
        con.executemany(
            "INSERT INTO post_topic (post_id, topic, created_at, compound, engagement, facet) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            links,
        )
    con.executemany(
        "INSERT INTO bucket (topic, source, start_ts, width_s, n_neg, n_neu, n_pos, sum_neg, sum_neu, "
        "sum_pos, sum_sq, n_unscored, engagement, incomplete) VALUES (?, ?, ?, 60, ?, ?, ?, ?, ?, ?, ?, "
        "?, ?, 0)",
        [(*k, *astuple(v)) for k, v in buckets.items()],
    )
    # The hourly rollups, as `upsert_buckets` keeps them beside the minutes.
    con.execute(
        "INSERT INTO bucket_hour SELECT topic, source, start_ts / 3600 * 3600, sum(n_neg), sum(n_neu), "
        "sum(n_pos), sum(sum_neg), sum(sum_neu), sum(sum_pos), sum(sum_sq), sum(n_unscored), sum(engagement), "
        "max(incomplete) FROM bucket GROUP BY topic, source, start_ts / 3600 * 3600"
    )
    # The topic screen's hourly language+hashtag counts and what each key stands for, as ingest
    # writes them beside the links (monitor.store.facets).
    con.execute(
        "INSERT INTO topic_facet_hour SELECT topic, "
        "CAST(strftime('%s', substr(created_at, 1, 19)) AS INTEGER) / 3600 * 3600 AS hour, facet, "
        "count(*), count(*) - count(compound) FROM post_topic GROUP BY topic, hour, facet"
    )
    con.executemany(
        "INSERT INTO facet (facet, lang, tags) VALUES (?, ?, '[]')",
        [(facet_key(lang, []), lang) for lang in ("en", "ru")],
    )
    con.commit()
    # else the first reader inherits a WAL the size of the store
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


# --- measured steps, each run in a child process ---------------------------------------------------


def _peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM on Linux, ru_maxrss elsewhere.

    Linux carries ru_maxrss over fork and exec, so a child of a big parent would report the
    parent's peak; VmHWM belongs to the child's own address space.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _step(step: str, db: str, out: str, batch: int) -> dict:
    import polars as pl  # noqa: F401  (imported before measuring, as in every step)
    import pyarrow.parquet  # noqa: F401

    from monitor.outputs.api import open_store
    from monitor.outputs.export import choose_target, export_posts

    reader = open_store(path=db)
    result: dict = {}
    if step.startswith("export"):
        fmt = step.split()[1]
        spec = reader.posts_spec()
        t = time.perf_counter()
        rows = export_posts(reader, spec, choose_target(out, fmt), batch_size=batch)
        result.update(seconds=time.perf_counter() - t, rows=rows)
    elif step == "adbc + polars":
        from monitor.store import arrowread
        from monitor.store.db import PostQuery

        t = time.perf_counter()
        sql, params = arrowread._sql("sqlite", PostQuery())
        conn = arrowread._connect(f"sqlite:///{db}")
        with conn.cursor() as cur:
            cur.execute(sql, params or None)
            frame = pl.from_arrow(cur.fetch_arrow_table())
        conn.close()
        read = time.perf_counter() - t
        frame.write_parquet(out, compression="zstd")
        result.update(
            seconds=time.perf_counter() - t,
            rows=frame.height,
            read_seconds=read,
            frame_mb=frame.estimated_size() / 2**20,
        )
    elif step == "series 1h":
        t = time.perf_counter()
        frame = reader.series(every="1h", source=["all", *reader.sources()])
        result.update(seconds=time.perf_counter() - t, rows=frame.height)
    reader.close()
    result["peak_rss_mb"] = _peak_rss_mb()
    if Path(out).exists():
        result["file_mb"] = Path(out).stat().st_size / 2**20
    return result


def measure(step: str, db: Path, out: Path, batch: int) -> dict:
    code = (
        f"import json, sys; sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); "
        f"from export import _step; print(json.dumps(_step({step!r}, {str(db)!r}, {str(out)!r}, {batch})))"
    )
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    from monitor.store.db import POST_BATCH

    ap.add_argument(
        "--batch", type=int, default=POST_BATCH, help="posts per read (default: the export's)"
    )
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            db = Path(tmp) / f"posts-{n}.db"
            t = time.perf_counter()
            fill(db, n)
            print(
                f"\n{n:,} posts: store filled in {time.perf_counter() - t:.1f} s "
                f"({db.stat().st_size / 2**20:.0f} MB SQLite), batch {args.batch:,}"
            )
            print(f"  {'step':<22} {'seconds':>8} {'rows/s':>10} {'peak RSS':>10} {'file':>9}")
            results = {}
            for step, ext in (
                ("imports only", ""),
                ("export parquet", "parquet"),
                ("export csv", "csv"),
                ("export ndjson", "ndjson"),
                ("adbc + polars", "parquet"),
                ("series 1h", ""),
            ):
                out = Path(tmp) / f"out-{n}-{step.replace(' ', '_')}.{ext or 'none'}"
                r = results[step] = measure(step, db, out, args.batch)
                secs = r.get("seconds")
                speed = f"{r['rows'] / secs:>10,.0f}" if secs else f"{'':>10}"
                file = f"{r['file_mb']:>6.1f} MB" if "file_mb" in r else f"{'':>9}"
                print(f"  {step:<22} {secs or 0:>8.2f} {speed} {r['peak_rss_mb']:>7.0f} MB {file}")
                out.unlink(missing_ok=True)
            base = results["adbc + polars"]
            print(
                f"  adbc + polars held the whole result ({base['frame_mb']:.0f} MB in polars); its read took "
                f"{base['read_seconds']:.2f} s of its {base['seconds']:.2f} s"
            )
            print(
                f"  ratio streaming Parquet export / (ADBC read + polars write_parquet), both reading the store: "
                f"{results['export parquet']['seconds'] / base['seconds']:.2f}"
            )
            db.unlink()


if __name__ == "__main__":
    main()
