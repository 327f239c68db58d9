"""The dashboard's refresh cost with 10,000 and with 1,000,000 stored posts, measured in the same run.

    python3 benchmarks/dashboard.py [--small 10000] [--large 1000000] [--repeat 15] [--dir DIR]

A refresh is one `StoreProvider.fetch`: what the dashboard's worker thread does at most once a
second. Each store holds posts spread over 30 days, 3 topics and 6 sources (about 1 in 10
unscored), their topic links, the 1-minute bucket rollups written with
`monitor.ingest.poll.upsert_buckets`, and a poll log of one poll per source every 10 minutes. Stores
are generated with bulk inserts (scoring a million posts would take longer than the point of
the benchmark) and kept in --dir, so a second run skips the generation.

For every view it prints the median time of a steady refresh (the provider's caches warm and
the live stream going on from its cursor, as a second after the previous refresh) and of a cold
one (every cache expired, the live stream starting afresh), for both stores, and the ratio
large / small. The machine is noisy; the ratio is the figure that
matters: the dashboard reads buckets, not posts, so it should stay far below the ratio of posts.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NOW = datetime(2026, 3, 3, 14, 5, 30, tzinfo=UTC)
TOPICS = ("trump-putin-business", "russia-sanctions", "dmitriev")
SOURCES = ("google-news", "mastodon-a", "mastodon-b", "reddit", "bluesky", "hn")
SPAN_S = 30 * 86400
CHUNK = 50_000


def generate(path: Path | str, n: int, *, ordered: bool = False) -> None:
    """Write a store of `n` posts at `path`, or at a database URL (deterministic for a given n).

    `ordered`: ids follow creation times, as a collector stores posts (newest posts on the
    newest pages); otherwise times are random across ids, the worst case for reads by time.
    """
    from sqlalchemy import insert

    from monitor.ingest.poll import upsert_buckets
    from monitor.metrics.formulas import classify
    from monitor.store import facets
    from monitor.store.db import BUCKET_WIDTH_S, Store, bucket_start
    from monitor.store.models import ALL_SOURCES, PollLog, Post, SourceRow, SourceState

    rng = random.Random(n)
    store = Store(path if isinstance(path, str) else f"sqlite:///{path}")
    words = (
        "deal sanctions energy trade talks Putin Trump markets oil gas summit relief risk".split()
    )
    buckets: dict[tuple[str, str, int], list[float]] = defaultdict(
        lambda: [0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0, 0]
    )
    with store.write() as conn:
        conn.execute(
            insert(SourceRow), [{"name": s, "kind": "rss", "settings": {}} for s in SOURCES]
        )
        conn.execute(
            insert(SourceState),
            [
                {
                    "source": s,
                    "state": {},
                    "last_poll_at": NOW - timedelta(minutes=3),
                    "last_ok_at": NOW - timedelta(minutes=3),
                    "last_outcome": "ok",
                    "next_poll_at": NOW + timedelta(minutes=7),
                    "posts_total": n // 6,
                }
                for s in SOURCES
            ],
        )
        polls = [
            {
                "source": s,
                "started_at": NOW - timedelta(minutes=10 * k),
                "duration_s": 0.4,
                "outcome": "ok" if k % 50 else "error",
                "new_posts": n // (6 * 4320),
            }
            for s in SOURCES
            for k in range(SPAN_S // 600)
        ]
        for i in range(0, len(polls), CHUNK):
            conn.execute(insert(PollLog), polls[i : i + CHUNK])
    for start in range(0, n, CHUNK):
        posts, links = [], []
        for pid in range(start + 1, min(start + CHUNK, n) + 1):
            created = NOW - timedelta(
                seconds=(1 - pid / (n + 1)) * SPAN_S if ordered else rng.random() * SPAN_S
            )
            source = SOURCES[pid % len(SOURCES)]
            topics = rng.sample(TOPICS, 1 if rng.random() < 0.8 else 2)
            unscored = rng.random() < 0.1
            compound = None if unscored else round(max(-1.0, min(1.0, rng.gauss(0.05, 0.45))), 4)
            engagement = int(rng.expovariate(0.1))
            posts.append(
                {
                    "id": pid,
                    "source": source,
                    "native_id": f"n{pid}",
                    "url": f"https://example.org/{pid}",
                    "author": f"user{pid % 5000}",
                    "text": " ".join(rng.choices(words, k=18)),
                    "lang": "ru" if unscored else "en",
                    "tags": rng.sample(["energy", "trade", "oil", "summit"], 2),
                    "created_at": created,
                    "fetched_at": created,
                    "engagement": engagement,
                    "reposts": 0,
                    "compound": compound,
                    "scorer": None if unscored else "vader",
                    "scorer_version": "3.3.2",
                }
            )
            minute = bucket_start(created)
            for topic in topics:
                links.append((posts[-1], topic))
                for src in (source, ALL_SOURCES):
                    a = buckets[(topic, src, minute)]
                    if compound is None:
                        a[7] += 1
                    else:
                        k = classify(compound) + 1
                        a[k] += 1
                        a[3 + k] += compound
                        a[6] += compound * compound
                    a[8] += engagement
        with store.write() as conn:
            conn.execute(insert(Post), posts)
            facets.insert_links(conn, links)
        print(f"  {min(start + CHUNK, n):,} / {n:,} posts", file=sys.stderr, end="\r")
    rows = [
        {
            "topic": t,
            "source": s,
            "start_ts": ts,
            "width_s": BUCKET_WIDTH_S,
            "n_neg": a[0],
            "n_neu": a[1],
            "n_pos": a[2],
            "sum_neg": a[3],
            "sum_neu": a[4],
            "sum_pos": a[5],
            "sum_sq": a[6],
            "n_unscored": a[7],
            "engagement": a[8],
            "incomplete": False,
        }
        for (t, s, ts), a in buckets.items()
    ]
    for i in range(0, len(rows), CHUNK):
        with store.write() as conn:
            upsert_buckets(conn, rows[i : i + CHUNK])
    store.close()
    print(f"  {n:,} posts, {len(rows):,} buckets written to {path}", file=sys.stderr)


def open_store(folder: Path, n: int):
    from sqlalchemy import func, select

    from monitor.store.db import Store
    from monitor.store.models import Post

    path = folder / f"dashboard-bench-{n}.db"
    if path.exists():
        store = Store(f"sqlite:///{path}")
        with store.read() as conn:
            if conn.execute(select(func.count()).select_from(Post)).scalar() == n:
                return store
        store.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    print(f"generating a store of {n:,} posts…", file=sys.stderr)
    generate(path, n)
    return Store(f"sqlite:///{path}")


def requests():
    from monitor.ui.data import LIVE_ROWS, WINDOW_BY_KEY, LiveFilter, Request

    return [
        ("overview, 24 h", Request(view="overview", window=WINDOW_BY_KEY["24h"])),
        ("overview, 30 d", Request(view="overview", window=WINDOW_BY_KEY["30d"])),
        (
            "overview, 24 h, with the live panel",
            Request(view="overview", window=WINDOW_BY_KEY["24h"], live=LiveFilter(), live_limit=50),
        ),
        ("topic view, 24 h", Request(view="topic", window=WINDOW_BY_KEY["24h"], topic=TOPICS[0])),
        ("topic view, 30 d", Request(view="topic", window=WINDOW_BY_KEY["30d"], topic=TOPICS[0])),
        ("live, first 300 posts", Request(view="live", live=LiveFilter(), live_limit=LIVE_ROWS)),
        (
            "live, text filter (rare word)",
            Request(view="live", live=LiveFilter(text="zebra"), live_limit=LIVE_ROWS),
        ),
        ("feed health", Request(view="health")),
    ]


def measure(store, request, repeat: int, cold: bool) -> float:
    from monitor.ui.data import StoreProvider

    provider = StoreProvider(store, clock=lambda: NOW)
    if cold:
        provider.detail_ttl_s = provider.names_ttl_s = provider.history.ttl_s = 0.0
    first = provider.fetch(request)  # warm SQLite's page cache and SQLAlchemy's statement cache
    if request.live is not None and not cold:  # steady state: the stream goes on from where it was
        request = replace(request, live_after=first.live_cursor)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        provider.fetch(request)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--small", type=int, default=10_000)
    p.add_argument("--large", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = p.parse_args(argv)
    small, large = open_store(args.dir, args.small), open_store(args.dir, args.large)
    print(
        f"refresh cost (median of {args.repeat}), {args.small:,} vs {args.large:,} stored posts "
        f"({args.large / args.small:,.0f}× the posts)\n"
    )
    print(f"{'view':<38} {'cache':<6} {'small':>9} {'large':>9} {'ratio':>7}")
    for label, request in requests():
        for cold in (False, True):
            a = measure(small, request, args.repeat, cold)
            b = measure(large, request, args.repeat, cold)
            print(
                f"{label:<38} {'cold' if cold else 'warm':<6} {a * 1000:>7.1f}ms {b * 1000:>7.1f}ms {b / a:>6.1f}×"
            )
    small.close()
    large.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
