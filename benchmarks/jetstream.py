"""Jetstream throughput on one core: every firehose frame processed, matched posts stored.

    python3 benchmarks/jetstream.py [--noise 60] [--db sqlite|URL]

The simulator runs in a child process on the second core and replays the corpus's Bluesky posts
as Jetstream v1 frames, each followed by `--noise` off-topic posts (the real stream is almost all
off-topic, and about 2% of the noise shares a word with the story's keywords, so the client has
to look closer at some of it). The clock is at the end of the corpus and the client asks for the
whole of it, so the server sends as fast as the client reads. The client runs on the first core:
websocket → prefilter → parse + match the few that pass → batches through `Ingestor.store_batch`
(normalize, dedupe, language detection + VADER, one transaction per batch with rollups).

In the same run, on the same core and the same frames without a socket, it also times the
filtering alone two ways, the prefilter path the source uses and parsing every frame as JSON,
and prints their ratio: the figure that survives a noisy machine is that ratio, and the
end-to-end frame rate next to what the network produces. The comparison is with every firehose
event (~500/s: likes, follows, reposts, deletes and identity events as well as posts), not with
post creates alone (~60/s in the production capture of docs/sources.md, 18 post commits in
0.32 s): a client that keeps up only with posts falls behind the day a subscription takes more
collections, and the frames it must read include the account and identity events that every
subscriber receives.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SPAN_S = 3 * 24 * 3600
# post creates: the production capture in docs/sources.md §2.2 / fixtures
REAL_POSTS_PER_S = 18 / 0.318
REAL_EVENTS_PER_S = 500  # every firehose event, all collections (issue 13's figure for the network)

TOPICS = [
    SimpleNamespace(
        name="trump-putin-business",
        title=None,
        languages=None,
        exclude=["giveaway"],
        hashtags=["#TrumpPutinBusiness", "#TrumpPutin", "#ТрампПутин"],
        keywords=["Trump Putin trade", "Trump Putin deal", "Dmitriev", "US-Russia business"],
    ),
    SimpleNamespace(
        name="russia-sanctions",
        title=None,
        languages=None,
        exclude=[],
        hashtags=["#RussiaSanctions", "#санкции"],
        keywords=["Russia sanctions", "sanctions relief", "lift sanctions"],
    ),
]


def _pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > 1:
        os.sched_setaffinity(0, {cpu % os.cpu_count()})


def _serve(noise: int, url_q: mp.Queue, stop: mp.Event) -> None:
    _pin(1)
    from monitor.simulator.platforms import jetstream as jsim
    from monitor.simulator.server import SimClock, Simulator

    sim = Simulator(clock=SimClock(start_offset_s=SPAN_S)).start()
    sim.clock.pause()
    jsim.configure(sim, noise_per_post=noise)
    frames = len(jsim.replay(sim).events)  # build the frames before the clock starts
    url_q.put((sim.url, frames))
    stop.wait()
    sim.stop()


def end_to_end(url: str, db: str) -> dict:
    from datetime import timedelta

    from monitor.ingest.poll import Ingestor
    from monitor.sources.jetstream import JetstreamSettings, JetstreamSource
    from monitor.store.db import Store

    store = Store(db)
    ingestor = Ingestor(store, TOPICS)
    settings = JetstreamSettings(
        name="firehose",
        kind="jetstream",
        url=url,
        backfill=timedelta(days=4),
        catch_up_idle=timedelta(seconds=0.5),
    )
    source = JetstreamSource(settings, TOPICS, None)
    ingestor.scoring.warm_up()  # as a collector does when it starts
    t0 = time.perf_counter()
    outcome = source.catch_up(ingestor)
    elapsed = time.perf_counter() - t0 - settings.catch_up_idle.total_seconds()
    store.close()
    return {
        "seconds": elapsed,
        "frames": source.stats.frames,
        "matched": source.stats.matched,
        "stored": outcome.new_posts,
        "flushes": source.stats.flushes,
        "outcome": outcome.outcome,
    }


def filter_only(noise: int) -> dict:
    """The same frames, no socket: the source's hot path against parsing every frame."""
    from monitor.core.text import sanitize
    from monitor.ingest.match import TopicMatcher
    from monitor.simulator.platforms.jetstream import build_events
    from monitor.simulator.server import SimClock, Simulator
    from monitor.sources.jetstream import JetstreamSettings, JetstreamSource, _Pending

    frames = [
        e.frame for e in build_events(Simulator(clock=SimClock()), noise_per_post=noise, deletes={})
    ]
    source = JetstreamSource(JetstreamSettings(name="f", kind="jetstream"), TOPICS, None)
    pending = _Pending()
    t0 = time.perf_counter()
    for frame in frames:
        source._take(frame, pending)
    prefilter_s = time.perf_counter() - t0

    matcher = TopicMatcher(TOPICS)
    matched = 0
    t0 = time.perf_counter()
    for frame in frames:
        event = json.loads(frame)
        record = (event.get("commit") or {}).get("record")
        if record and matcher.match(sanitize(record.get("text", "")), record.get("tags") or ()):
            matched += 1
    parse_all_s = time.perf_counter() - t0
    return {
        "frames": len(frames),
        "prefilter_s": prefilter_s,
        "parse_all_s": parse_all_s,
        "passed_prefilter": source.stats.parsed,
        "matched": source.stats.matched,
        "matched_parse_all": matched,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--noise", type=int, default=60, help="off-topic posts per corpus post (default 60)"
    )
    parser.add_argument(
        "--db", default="sqlite", help="'sqlite' (a temporary file) or a database URL"
    )
    args = parser.parse_args(argv)

    ctx = mp.get_context("spawn")
    url_q, stop = ctx.Queue(), ctx.Event()
    server = ctx.Process(target=_serve, args=(args.noise, url_q, stop), daemon=True)
    server.start()
    url, sent = url_q.get(timeout=120)
    _pin(0)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = f"sqlite:///{tmp}/bench.db" if args.db == "sqlite" else args.db
            e2e = end_to_end(url, db)
    finally:
        stop.set()
        server.join(timeout=10)
    alone = filter_only(args.noise)

    fps = e2e["frames"] / e2e["seconds"]
    print(
        f"Jetstream replay: {sent:,} frames ({args.noise} off-topic posts per corpus post), one client core"
    )
    print(
        f"  end to end   {e2e['frames']:>9,} frames in {e2e['seconds']:.2f} s = {fps:>9,.0f} frames/s processed"
    )
    print(
        f"               {e2e['matched']:>9,} matched = {e2e['matched'] / e2e['seconds']:>9,.0f} matched posts/s; "
        f"{e2e['stored']:,} stored in {e2e['flushes']} transactions ({e2e['outcome']})"
    )
    pre = alone["frames"] / alone["prefilter_s"]
    full = alone["frames"] / alone["parse_all_s"]
    print(
        f"  filter only  prefilter path {pre:>9,.0f} frames/s ({alone['passed_prefilter']:,} parsed, "
        f"{alone['matched']:,} matched)"
    )
    print(
        f"               parse every frame {full:>6,.0f} frames/s ({alone['matched_parse_all']:,} matched)"
    )
    print(
        f"  ratios       prefilter / parse-all = {pre / full:.1f}x; "
        f"end to end / all firehose events (~{REAL_EVENTS_PER_S} events/s) = {fps / REAL_EVENTS_PER_S:,.1f}x "
        f"(post creates alone, ~{REAL_POSTS_PER_S:.0f}/s, would give {fps / REAL_POSTS_PER_S:,.0f}x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
