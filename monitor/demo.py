"""`monitor demo`: the whole pipeline offline, over the built-in simulator.

The simulator plays the bundled three-day corpus at an accelerated clock, the collector polls it
exactly as it would poll the real services, and a separate demo store (storage/demo.db) receives
the result, so the demo never mixes with real data.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from datetime import timedelta
from importlib import resources
from pathlib import Path

from monitor.collector import Collector
from monitor.config.feeds import load_config
from monitor.metrics.formulas import summarize
from monitor.simulator.corpus import load_corpus
from monitor.simulator.replay import Replay, with_trickle
from monitor.simulator.server import SimClock, Simulator
from monitor.store.db import Store, utcnow

log = logging.getLogger(__name__)

CORPUS_SPAN_S = 3 * 24 * 3600
# The keyed sources in demo.yaml name this variable; the simulator accepts any value.
DEMO_SECRET_ENV = "MONITOR_DEMO_SECRET"


def write_demo_config(sim_url: str, folder: Path, db_url: str | None = None) -> Path:
    """The demo's config, naming its store: every command run with `-c storage/demo-feeds.yaml`
    (dashboard, status, export, digest) reads the demo's posts, never storage/monitor.db."""
    from sqlalchemy.engine import make_url

    template = resources.files("monitor").joinpath("data/demo.yaml").read_text(encoding="utf-8")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "demo-feeds.yaml"
    url = db_url or f"sqlite:///{folder / 'demo.db'}"
    store = (
        f"store: {json.dumps(url)}\n"
        if make_url(url).password is None
        else (
            "# store: given with --db (its password stays out of this file: set MONITOR_DB_URL)\n"
        )
    )
    path.write_text(
        template.replace("{SIM}", sim_url) + f"\nstorage_dir: {json.dumps(str(folder))}\n{store}",
        encoding="utf-8",
    )
    return path


def run_demo(
    *,
    duration: float = 60.0,
    speed: float | None = None,
    headless: bool = True,
    db_url: str | None = None,
    keep: bool = False,
    storage: Path | None = None,
    out=None,
) -> int:
    out = out or sys.stdout
    storage = (storage or Path("storage")).resolve()
    db_path = storage / "demo.db"
    if db_url is None:
        if not keep:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        db_url = f"sqlite:///{db_path}"
    # Play the 3 days in ~90% of the run, leaving the last polls to catch up with the end.
    speed = speed or CORPUS_SPAN_S / max(duration * 0.9, 1.0)
    if not headless and not (sys.stdin.isatty() and sys.stdout.isatty()):
        log.warning("no interactive terminal for the dashboard; running the demo headless")
        headless = True
    # Per-poll chatter would bury the summary; problems (warnings) still show.
    logging.getLogger("monitor.collector").setLevel(logging.WARNING)
    clock = SimClock(epoch=_epoch(), speed=speed)
    corpus = load_corpus() if headless else with_trickle(load_corpus())
    with Simulator(corpus=corpus, clock=clock) as sim:
        os.environ.setdefault(DEMO_SECRET_ENV, "any-value-the-simulator-accepts")
        config_path = write_demo_config(
            sim.url, storage, None if db_url == f"sqlite:///{db_path}" else db_url
        )
        config = load_config(config_path)
        store = Store(db_url)
        collector = Collector(config, store)
        print(
            f"demo: simulator at {sim.url}, {speed:,.0f}× real time, {duration:.0f} s; store {db_path}",
            file=out,
        )
        if not headless:
            replay = Replay(clock)
            replay.watch()
            started = time.monotonic()
            try:
                _dashboard(store, config, collector, storage, replay)
            finally:
                replay.stop()
            print_look_again(config_path, db_url, replay, time.monotonic() - started, out)
            return 0
        collector.start()
        try:
            _wait(duration, sim, store, out)
        except KeyboardInterrupt:
            print("demo: interrupted", file=out)
        finally:
            collector.stop(wait=True)
        # One last poll of every source so the summary covers all that was published.
        final = Collector(config, store)
        final.poll_all()
        final.stop()
        print_summary(store, config, out)
        store.close()
        print_look_again(config_path, db_url, Replay(clock), duration, out, trickle=False)
    return 0


def _dashboard(store: Store, config, collector: Collector, storage: Path, replay: Replay) -> None:
    """The dashboard over the demo store while the collector polls the simulator; until the user
    quits. Its windows end at the replay's time, so the overview fills from the first seconds;
    feed health keeps the real clock the polls run on."""
    from monitor.ui.app import run_dashboard
    from monitor.ui.data import StoreProvider

    provider = StoreProvider.from_config(store, config, clock=replay.now, wall_clock=utcnow)
    run_dashboard(provider, storage_dir=storage, collector=collector, replay=replay)


def print_look_again(
    config_path: Path, db_url: str, replay: Replay, took_s: float, out, *, trickle: bool = True
) -> None:
    """After the dashboard closes: what the demo did, and the exact commands to look again."""
    store = Store(db_url)
    try:
        posts = sum(store.post_counts().values())
        per_topic = store.topic_post_counts()
        from monitor.outputs.alerts import list_alerts

        alerts = len(list_alerts(store, limit=10_000))
    finally:
        store.close()
    shown = _shown_path(config_path)
    # Without the trickle the clock runs on past the story's end; nothing was published there.
    until = (
        replay.now()
        if trickle
        else min(replay.now(), replay.clock.epoch + timedelta(seconds=replay.span_s))
    )
    if not replay.ended:
        played = f"{replay.share:.0%} of the story"
    else:
        played = "the whole story and a trickle" if trickle else "the whole story"
    day = (until - timedelta(days=1)).date()  # the last whole day the replay covered
    print(
        f"\ndemo: {took_s:.0f} s, replayed {played} (simulated up to {until:%Y-%m-%d %H:%M} UTC)",
        file=out,
    )
    print(
        f"  {posts:,} posts stored, {alerts:,} alerts; "
        + ", ".join(f"{name} {n:,}" for name, n in sorted(per_topic.items())),
        file=out,
    )
    print(
        "Look again (the demo's config names its store; the simulator has stopped, so nothing new arrives):",
        file=out,
    )
    print(f"  monitor -c {shown} dashboard", file=out)
    print(f"  monitor -c {shown} status", file=out)
    print(f"  monitor -c {shown} alerts --since 30d", file=out)
    print(f"  monitor -c {shown} export posts -o demo-posts.csv", file=out)
    print(f"  monitor -c {shown} digest --date {day}", file=out)
    print(
        "  monitor demo --keep      # replay again into the same store (nothing is stored twice)",
        file=out,
    )


def _shown_path(path: Path) -> str:
    """The config's path as a user would type it from here (relative when under the cwd)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _epoch():
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    return now - timedelta(seconds=CORPUS_SPAN_S)


def _wait(duration: float, sim: Simulator, store: Store, out) -> None:
    deadline = time.monotonic() + duration
    if not _is_tty(out) or os.environ.get("CI"):
        while time.monotonic() < deadline:
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("demo"),
        BarColumn(),
        TextColumn("{task.fields[posts]:>6} posts"),
        TimeRemainingColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task("demo", total=duration, posts=0)
        start = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.5)
            posts = sum(store.post_counts().values())
            bar.update(task, completed=time.monotonic() - start, posts=posts)


def print_summary(store: Store, config, out) -> None:
    """Per-topic numbers over the whole demo, with their uncertainty and display rules."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=out, width=None if _is_tty(out) else 140)
    table = Table(
        title="reaction-monitor demo: per-topic summary (whole corpus)", title_justify="left"
    )
    table.add_column("topic", no_wrap=True)
    for col in (
        "posts",
        "unscored",
        "mean [95% CI]",
        "pos",
        "neg",
        "ER-3",
        "B",
        "sigma",
        "busiest hour",
    ):
        table.add_column(col, justify="right", no_wrap=col in ("mean [95% CI]", "busiest hour"))
    for topic in config.topics:
        s = summarize(store.sums(topic.name))
        busiest = _busiest_hour(store, topic.name)
        table.add_row(
            Text(topic.display_name),
            Text(f"{s.n + s.n_unscored:,}"),
            Text(f"{s.n_unscored:,}"),
            Text(_mean(s)),
            Text(_share(s.pos_share)),
            Text(_share(s.neg_share)),
            Text(_num(s.er3)),
            Text(_num(s.b)),
            Text(_num(s.sigma)),
            Text(busiest),
        )
    console.print(table)
    sources = Table(title="sources", title_justify="left")
    for col in ("source", "kind", "posts stored", "last outcome", "failures", "last error"):
        sources.add_column(col, justify="right" if col in ("posts stored", "failures") else "left")
    for src in store.source_states():
        bad = src.get("last_outcome") not in (None, "ok", "not_modified")
        sources.add_row(
            Text(src["name"]),
            Text(src["kind"]),
            Text(f"{src.get('posts_total') or 0:,}"),
            Text(src.get("last_outcome") or "never polled", style="yellow" if bad else ""),
            Text(str(src.get("consecutive_failures") or 0)),
            Text(src.get("last_error") or ""),
        )
    console.print(sources)


def _is_tty(out) -> bool:
    return bool(getattr(out, "isatty", None) and out.isatty())


def _busiest_hour(store: Store, topic: str) -> str:
    from monitor.store.db import SeriesQuery

    df = store.series(SeriesQuery(topic=topic, every_s=3600))
    if df.is_empty():
        return "—"
    df = df.with_columns(total=df["n_neg"] + df["n_neu"] + df["n_pos"] + df["n_unscored"])
    row = df.sort("total", descending=True).row(0, named=True)
    return f"{row['start']:%a %H:%M} UTC ({row['total']})"


def _mean(s) -> str:
    if s.mean is None:
        return "no data"
    if s.mean_lo is None:
        return f"{s.mean:+.3f}"
    return f"{s.mean:+.3f} [{s.mean_lo:+.3f}, {s.mean_hi:+.3f}]"


def _share(x: float | None) -> str:
    return "no data" if x is None else f"{x:.0%}"


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


__all__ = ["print_summary", "run_demo", "write_demo_config"]
