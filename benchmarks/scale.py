"""The store at 10k and 1M posts (10M with --huge): every figure a ratio measured in the same run.

    python3 benchmarks/scale.py [--dir /tmp/scale-cache] [--large 1000000] [--huge] [--pg URL --pg-large 200000]

Stores are synthetic and reproducible (`benchmarks/dashboard.py generate`: posts over 30 days,
3 topics, 6 sources, ~1 in 10 unscored, minute and hour buckets through `upsert_buckets`, ids in
the order of creation times as a collector stores them) and
are kept in --dir, so a second run measures without building them again. Printed:

- cold 30-day topic view: the dashboard's `StoreProvider.fetch` with every cache expired
  (median of --repeat, the two stores taking turns), large store / 10k store. Target <= 1.5x.
  Measured once the stores' last writes are older than the dashboard's in-flight margin
  (`IN_FLIGHT_MS`: it re-reads buckets written just before its previous look). A second line:
  the first fetch of a dashboard just started, every cache dropped (a new store and provider,
  the files' pages dropped from the OS cache with posix_fadvise).
- export: `export_posts` to Parquet of every post of the large store, in a fresh process, against
  an ADBC read of the same query + polars `write_parquet` in another fresh process; the median
  of three turns each, after one untimed read of the file, and the highest peak RSS of each.
  Target <= 1.5x the baseline, peak RSS <= 400 MB.
- ingest: `Ingestor.store_batch` of the same synthetic polls (scored, matched, deduplicated, one
  transaction each, the checkpoint thread running as in a collector) into a copy of the large
  store and into an empty one, per post. Target <= 1.3x.
- bytes per post: the large store's file size over its posts (buckets, links, indexes included).

With --pg, the view, export and ingest ratios again on PostgreSQL (stores in schemas
`scale_<n>` of that database, kept between runs).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import dashboard  # noqa: E402  (the synthetic store and the dashboard's requests)

SMALL = 10_000


# --- stores -------------------------------------------------------------------------------------


def _count(url: str) -> int | None:
    from sqlalchemy import func, select

    from monitor.store.db import Store
    from monitor.store.models import Post

    try:
        store = Store(url)
    except Exception:  # noqa: BLE001 - not there yet
        return None
    try:
        with store.read() as conn:
            return conn.execute(select(func.count()).select_from(Post)).scalar()
    finally:
        store.close()


def sqlite_store(folder: Path, n: int) -> str:
    path = folder / f"scale-{n}.db"
    url = f"sqlite:///{path}"
    if not (path.exists() and _count(url) == n):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        print(f"building a SQLite store of {n:,} posts…", file=sys.stderr)
        dashboard.generate(url, n, ordered=True)
    return url


def pg_store(base: str, n: int) -> str:
    import psycopg
    from sqlalchemy.engine import make_url

    schema = f"scale_{n}"
    u = make_url(base)
    url = u.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )
    conninfo = dict(
        host=u.host, port=u.port or 5432, user=u.username, password=u.password, dbname=u.database
    )
    with psycopg.connect(**conninfo, autocommit=True) as c:
        exists = c.execute(
            "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (schema,)
        ).fetchone()
    if exists and _count(url) == n:
        return url
    with psycopg.connect(**conninfo, autocommit=True) as c:
        c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        c.execute(f'CREATE SCHEMA "{schema}"')
    print(f"building a PostgreSQL store of {n:,} posts…", file=sys.stderr)
    dashboard.generate(url, n, ordered=True)
    with psycopg.connect(**conninfo, autocommit=True) as c:
        c.execute(f'SET search_path = "{schema}"')
        c.execute("VACUUM ANALYZE")
    return url


# --- cold 30-day topic view ----------------------------------------------------------------------


def settle(urls: list[str]) -> float:
    """Wait until each store's last bucket write is older than the dashboard's in-flight margin.

    `BucketHistory.sync` re-reads every bucket written within `IN_FLIGHT_MS` before its previous
    look: a store built (or copied with fresh marks) moments ago would be measured re-reading
    every bucket it holds. Returns the seconds waited."""
    from sqlalchemy import func, select

    from monitor.store.db import Store, db_clock_ms
    from monitor.store.models import Bucket
    from monitor.ui.history import IN_FLIGHT_MS

    waited = 0.0
    for url in urls:
        store = Store(url, migrate=False)
        try:
            with store.read() as conn:
                newest = conn.execute(select(func.max(Bucket.changed_ms))).scalar() or 0
                age_ms = db_clock_ms(conn) - newest
        finally:
            store.close()
        wait = max(0.0, (IN_FLIGHT_MS - age_ms) / 1000 + 1.0) if newest else 0.0
        if wait > 0:
            print(f"waiting {wait:.0f} s for the last writes to settle…", file=sys.stderr)
            time.sleep(wait)
            waited += wait
    return waited


def _drop_file_cache(url: str) -> None:
    """The operating system's cached pages of a SQLite store's files, dropped (clean pages only:
    the store is closed and checkpointed first, so they all are)."""
    path = url.removeprefix("sqlite:///")
    for suffix in ("", "-wal", "-shm"):
        name = f"{path}{suffix}"
        if os.path.exists(name):
            fd = os.open(name, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def topic_views_from_disk(small_url: str, large_url: str, repeat: int) -> tuple[float, float]:
    """Median first fetch of the 30-day topic view by a dashboard just started on each store:
    a new `Store` and `StoreProvider` (no page, statement or bucket cache) over files whose pages
    the operating system dropped (SQLite; PostgreSQL keeps its shared buffers)."""
    from monitor.store.db import Store
    from monitor.ui.data import WINDOW_BY_KEY, Request, StoreProvider

    request = Request(view="topic", window=WINDOW_BY_KEY["30d"], topic=dashboard.TOPICS[0])
    times: list[list[float]] = [[], []]
    for _ in range(repeat):
        for i, url in enumerate((small_url, large_url)):
            if url.startswith("sqlite"):
                _drop_file_cache(url)
            store = Store(url, migrate=False)
            try:
                provider = StoreProvider(store, clock=lambda: dashboard.NOW)
                t = time.perf_counter()
                provider.fetch(request)
                times[i].append(time.perf_counter() - t)
            finally:
                store.close()
    return statistics.median(times[0]), statistics.median(times[1])


def topic_views(small_url: str, large_url: str, repeat: int) -> tuple[float, float]:
    """Median cold fetch of the 30-day topic view on each store, the two stores taking turns
    (on a shared machine the load drifts; alternating puts both sizes under the same drift)."""
    from monitor.store.db import Store
    from monitor.ui.data import WINDOW_BY_KEY, Request, StoreProvider

    request = Request(view="topic", window=WINDOW_BY_KEY["30d"], topic=dashboard.TOPICS[0])
    stores = [Store(small_url), Store(large_url)]
    try:
        providers = []
        for store in stores:
            provider = StoreProvider(store, clock=lambda: dashboard.NOW)
            provider.detail_ttl_s = provider.names_ttl_s = provider.history.ttl_s = 0.0
            provider.fetch(request)  # warm the page cache and SQLAlchemy's statement cache
            providers.append(provider)
        times: list[list[float]] = [[], []]
        for _ in range(repeat):
            for i, provider in enumerate(providers):
                t = time.perf_counter()
                provider.fetch(request)
                times[i].append(time.perf_counter() - t)
        return statistics.median(times[0]), statistics.median(times[1])
    finally:
        for store in stores:
            store.close()


# --- export against ADBC + polars, each in a fresh process ---------------------------------------


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _export_step(step: str, url: str, out: str) -> dict:
    import polars as pl
    import pyarrow.parquet  # noqa: F401  (imported before timing in both steps)

    from monitor.outputs.api import open_store
    from monitor.outputs.export import choose_target, export_posts
    from monitor.store import arrowread
    from monitor.store.db import PostQuery

    t = time.perf_counter()
    if step == "export":
        with open_store(url=url) as reader:
            rows = export_posts(reader, reader.posts_spec(), choose_target(out, "parquet"))
    else:  # the floor: the same query read whole through ADBC, written by polars
        sql, params = arrowread._sql(
            "postgresql" if url.startswith("postgresql") else "sqlite", PostQuery()
        )
        conn = arrowread._connect(url)
        with conn.cursor() as cur:
            cur.execute(sql, params or None)
            frame = pl.from_arrow(cur.fetch_arrow_table())
        conn.close()
        assert isinstance(frame, pl.DataFrame)
        frame.write_parquet(out, compression="zstd")
        rows = frame.height
    return {
        "seconds": time.perf_counter() - t,
        "rows": rows,
        "peak_rss_mb": _peak_rss_mb(),
        "file_mb": Path(out).stat().st_size / 2**20,
    }


def export_pair(url: str, tmp: Path, rounds: int = 3) -> dict[str, dict]:
    """Median of `rounds` (the two taking turns), after one untimed read of the file: the view step
    has just dropped it from the page cache, and whichever ran first would pay for reading it."""
    if url.startswith("sqlite"):
        with open(url.split("///", 1)[1], "rb") as f:
            while f.read(1 << 24):
                pass
    runs: dict[str, list[dict]] = {"export": [], "adbc+polars": []}
    for _ in range(rounds):
        for step in runs:
            target = tmp / f"{step.replace('+', '_')}.parquet"
            code = (
                f"import json, sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); from scale import _export_step; "
                f"print(json.dumps(_export_step({step!r}, {url!r}, {str(target)!r})))"
            )
            done = subprocess.run(
                [sys.executable, "-c", code], check=True, capture_output=True, text=True
            )
            runs[step].append(json.loads(done.stdout.strip().splitlines()[-1]))
            target.unlink(missing_ok=True)
    out = {}
    for step, results in runs.items():
        median = sorted(results, key=lambda r: r["seconds"])[len(results) // 2]
        out[step] = median | {"peak_rss_mb": max(r["peak_rss_mb"] for r in results)}
    return out


# --- ingest into a full store against an empty one -----------------------------------------------


def _polls(n_polls: int, per_poll: int, seed: int = 13, prefix: str = "bench") -> list:
    from monitor.sources.base import Batch, RawPost

    rng = random.Random(seed)
    words = (
        "deal sanctions energy trade talks Putin Trump markets oil gas summit relief risk great terrible "
        "hope fear win lose good bad"
    ).split()
    polls = []
    for k in range(n_polls):
        posts = []
        for i in range(per_poll):
            created = dashboard.NOW + timedelta(seconds=k * 60 + i * 60 / per_poll)
            text = (
                " ".join(rng.choices(words, k=16))
                + " #"
                + rng.choice(["TrumpPutin", "RussiaSanctions", "Dmitriev"])
            )
            posts.append(
                RawPost(
                    native_id=f"{prefix}-{k}-{i}",
                    text=text,
                    created_at=created,
                    author=f"u{i % 500}",
                    url=f"https://example.org/b/{k}/{i}",
                    engagement=rng.randrange(20),
                )
            )
        polls.append(Batch(posts=posts, state={"k": k}, status=200))
    return polls


def ingest_seconds_per_post(url: str, polls: list, checkpoint_thread: bool = True) -> float:
    from types import SimpleNamespace

    from monitor.ingest.poll import Ingestor
    from monitor.sources.base import Source, SourceSettings
    from monitor.store.db import Store

    class Bench(Source):
        kind = "bench"
        Settings = SourceSettings

        def fetch(self, state, ctx):  # pragma: no cover - batches are handed over directly
            raise NotImplementedError

    topics = [
        SimpleNamespace(
            name=t, title=None, hashtags=[f"#{h}"], keywords=[], exclude=[], languages=None
        )
        for t, h in zip(
            dashboard.TOPICS, ("TrumpPutin", "RussiaSanctions", "Dmitriev"), strict=False
        )
    ]
    store = Store(url)
    if checkpoint_thread:
        store.start_checkpointer()  # as the collector does
    ingestor = Ingestor(store, topics, clock=lambda: dashboard.NOW + timedelta(days=1))
    ingestor.scoring.warm_up()
    source = Bench(SourceSettings(name="bench", kind="bench", match="all"), topics, http=None)
    store.sync_sources([source.settings])
    ingestor.store_batch(source, polls[0], dashboard.NOW)  # warm: statement caches, page cache
    t = time.perf_counter()
    n = 0
    for batch in polls[1:]:
        n += ingestor.store_batch(source, batch, dashboard.NOW).new_posts
    spent = time.perf_counter() - t
    store.close()
    return spent / max(n, 1)


def _pg_clone(base_url: str, n: int, into: str) -> str:
    """A throw-away copy of the `scale_<n>` schema to ingest into (CREATE TABLE … AS is not enough:
    the indexes and keys are what make ingest slower on a big store)."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(base_url)
    conninfo = dict(
        host=u.host, port=u.port or 5432, user=u.username, password=u.password, dbname=u.database
    )
    pg_store(base_url, n)
    dst = u.update_query_dict({"options": f"-csearch_path={into}"}).render_as_string(
        hide_password=False
    )
    with psycopg.connect(**conninfo, autocommit=True) as c:
        c.execute(f'DROP SCHEMA IF EXISTS "{into}" CASCADE')
        c.execute(f'CREATE SCHEMA "{into}"')
    from monitor.store.db import Store

    Store(dst).close()  # the schema, with every index
    with psycopg.connect(**conninfo, autocommit=True) as c:
        for table in (
            "source",
            "source_state",
            "post",
            "post_topic",
            "bucket",
            "bucket_hour",
            "poll_log",
        ):
            c.execute(f'INSERT INTO "{into}".{table} SELECT * FROM "scale_{n}".{table}')
        for table in ("post", "poll_log"):  # rows were copied with their ids: the sequences follow
            c.execute(
                f"SELECT setval(pg_get_serial_sequence('\"{into}\".{table}', 'id'), "
                f'(SELECT max(id) FROM "{into}".{table}))'
            )
        c.execute(f'SET search_path = "{into}"; ANALYZE')
    return dst


def _pg_empty(base_url: str, schema: str) -> str:
    import psycopg
    from sqlalchemy.engine import make_url

    _pg_drop(base_url, schema)
    u = make_url(base_url)
    with psycopg.connect(
        host=u.host, port=u.port or 5432, user=u.username, dbname=u.database, autocommit=True
    ) as c:
        c.execute(f'CREATE SCHEMA "{schema}"')
    return u.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


def _pg_drop(base_url: str, schema: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(base_url)
    with psycopg.connect(
        host=u.host, port=u.port or 5432, user=u.username, dbname=u.database, autocommit=True
    ) as c:
        c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# --- the run --------------------------------------------------------------------------------------


def run(
    label: str,
    small_url: str,
    large_url: str,
    large: int,
    args: argparse.Namespace,
    tmp: Path,
    ingest_into: tuple[str, str],
) -> None:
    print(f"\n== {label}: {SMALL:,} vs {large:,} posts")
    if "view" in args.steps:
        settle([small_url, large_url])
        a, b = topic_views(small_url, large_url, args.repeat)
        print(
            f"cold 30-day topic view: {a * 1000:.1f} ms at {SMALL:,}, {b * 1000:.1f} ms at {large:,}: "
            f"ratio {b / a:.2f} (target <= 1.5)"
        )
        a, b = topic_views_from_disk(small_url, large_url, max(3, args.repeat // 2))
        drop = "page cache dropped" if label == "SQLite" else "PostgreSQL's buffers kept"
        print(
            f"30-day topic view, first fetch of a dashboard just started ({drop}): "
            f"{a * 1000:.1f} ms at {SMALL:,}, {b * 1000:.1f} ms at {large:,}: ratio {b / a:.2f}"
        )
    if "export" in args.steps:
        e = export_pair(large_url, tmp)
        ex, base = e["export"], e["adbc+polars"]
        print(
            f"export of {ex['rows']:,} posts to Parquet: {ex['seconds']:.2f} s, peak RSS {ex['peak_rss_mb']:.0f} MB; "
            f"ADBC read + polars write_parquet: {base['seconds']:.2f} s, peak RSS {base['peak_rss_mb']:.0f} MB: "
            f"ratio {ex['seconds'] / base['seconds']:.2f} (target <= 1.5, RSS <= 400 MB)"
        )
    if "ingest" in args.steps:
        # Two rounds, interleaved (empty, full, empty, full) with fresh posts each, and the
        # faster of each store's two: the machine's noise is larger than the effect measured.
        empty_url, full_url = ingest_into
        cp = not args.no_checkpoint_thread
        times: dict[str, list[float]] = {"empty": [], "full": []}
        for r in range(2):
            polls = _polls(args.polls, 1000, seed=13 + r, prefix=f"round{r}")
            times["empty"].append(ingest_seconds_per_post(empty_url, polls, cp))
            times["full"].append(ingest_seconds_per_post(full_url, polls, cp))
        empty, full = min(times["empty"]), min(times["full"])
        how = (
            ""
            if label != "SQLite"
            else " (SQLite's own checkpoints)"
            if args.no_checkpoint_thread
            else " (the checkpoint thread)"
        )
        print(
            f"ingest, {args.polls - 1} polls of 1,000 posts{how}: {empty * 1e6:.0f} µs/post into an empty "
            f"store, {full * 1e6:.0f} µs/post into the {large:,}-post store: ratio {full / empty:.2f} "
            f"(target <= 1.3)"
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--dir", type=Path, default=Path("/tmp/scale-cache"))
    p.add_argument("--large", type=int, default=1_000_000)
    p.add_argument(
        "--huge", action="store_true", help="also 10,000,000 posts (long: about an hour to build)"
    )
    p.add_argument("--repeat", type=int, default=11)
    p.add_argument(
        "--polls", type=int, default=11, help="ingest polls of 1,000 posts (the first warms up)"
    )
    p.add_argument("--pg", help="a PostgreSQL URL: the same ratios there too")
    p.add_argument(
        "--pg-large",
        type=int,
        default=None,
        help="posts in the large PostgreSQL store (default --large)",
    )
    p.add_argument("--skip-sqlite", action="store_true")
    p.add_argument(
        "--steps", default="view,export,ingest", help="which figures (default: all three)"
    )
    p.add_argument(
        "--no-checkpoint-thread",
        action="store_true",
        help="ingest with SQLite's checkpoints in the commit, for comparison",
    )
    args = p.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    sizes = [args.large] + ([10_000_000] if args.huge else [])
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp_name:
        tmp = Path(tmp_name)
        if not args.skip_sqlite:
            small_url = sqlite_store(args.dir, SMALL)
            for n in sizes:
                large_url = sqlite_store(args.dir, n)
                path = Path(large_url.removeprefix("sqlite:///"))
                size = sum(
                    Path(f"{path}{s}").stat().st_size
                    for s in ("", "-wal")
                    if Path(f"{path}{s}").exists()
                )
                print(
                    f"\nSQLite store of {n:,} posts: {size / 2**20:,.0f} MB, {size / n:,.0f} bytes per post "
                    f"(posts with text, topic links, minute and hour buckets, indexes)"
                )
                copy = tmp / "ingest-full.db"
                if "ingest" in args.steps:  # a copy of the large store only for the ingest figure
                    shutil.copyfile(path, copy)
                run(
                    "SQLite",
                    small_url,
                    large_url,
                    n,
                    args,
                    tmp,
                    (f"sqlite:///{tmp / 'ingest-empty.db'}", f"sqlite:///{copy}"),
                )
                copy.unlink(missing_ok=True)
        if args.pg:
            n = args.pg_large or args.large
            small_url, large_url = pg_store(args.pg, SMALL), pg_store(args.pg, n)
            ingest = "ingest" in args.steps  # clones of the large store only for the ingest figure
            empty = _pg_empty(args.pg, "scale_ingest_empty") if ingest else ""
            full = _pg_clone(args.pg, n, "scale_ingest_full") if ingest else ""
            try:
                run("PostgreSQL", small_url, large_url, n, args, tmp, (empty, full))
            finally:
                _pg_drop(args.pg, "scale_ingest_empty")
                _pg_drop(args.pg, "scale_ingest_full")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("POLARS_MAX_THREADS", "2")
    sys.exit(main())
