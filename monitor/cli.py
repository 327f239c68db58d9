"""The `monitor` command.

Every command that reads feeds.yaml reports a bad file the same way, one `PATH:LINE:COLUMN:
message` line per problem on stderr and exit status 2, and never shows a traceback for
something a user can fix.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from monitor import __version__

log = logging.getLogger("monitor")

EXIT_USAGE = 2


class UserError(Exception):
    """A problem the user can fix; printed in words with exit status 2."""


# --- helpers --------------------------------------------------------------------------------

def _setup_logging(verbose: int, quiet: bool = False) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        datefmt="%Y-%m-%dT%H:%M:%S", stream=sys.stderr)
    # httpx logs every request URL at INFO; keep our log about sources, not transport.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _load_config(args: argparse.Namespace):
    from monitor.config import ConfigError, load_config, secret_problems

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for p in exc.problems:
            print(str(p), file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    for p in secret_problems(config, os.environ):
        # Not fatal for collecting: that source fails with the same words in feed health.
        print(f"{p} (that source will fail until it is set)", file=sys.stderr)
    return config


def _store_url(args: argparse.Namespace, config=None) -> str:
    if getattr(args, "db", None):
        return args.db
    if config is not None:
        return config.store_url(os.environ)
    if os.environ.get("MONITOR_DB_URL"):
        return os.environ["MONITOR_DB_URL"]
    return f"sqlite:///{Path('storage').resolve()}/monitor.db"


def _open_store(url: str):
    from sqlalchemy.exc import OperationalError

    from monitor.store import Store

    try:
        return Store(url)
    except OperationalError as exc:
        raise UserError(f"cannot open the store {_redact(url)}: {exc.orig}") from None


def _redact(url: str) -> str:
    """A database URL without its password, for messages and logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def _install_signal_handlers(stop: threading.Event) -> None:
    def handler(signum: int, _frame: Any) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


# --- commands -------------------------------------------------------------------------------

def cmd_config_check(args: argparse.Namespace) -> int:
    from monitor.config import check_config, default_config_path

    path = args.path or args.config or default_config_path()
    problems = check_config(path)
    for p in problems:
        print(str(p), file=sys.stderr)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        return EXIT_USAGE
    from monitor.config import load_config

    config = load_config(path)
    print(f"{path}: ok ({len(config.topics)} topic(s), {len(config.sources)} source(s))")
    for s in config.sources:
        env = s.secret_env_vars()
        needs = ", ".join(f"{v} ({k})" for k, v in env.items()) if env else "no secrets"
        print(f"  {s.name:<24} {s.kind:<10} every {_fmt_td(s.interval):<6} needs: {needs}")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    config = _load_config(args) if not args.db else None
    url = _store_url(args, config)
    _open_store(url).close()
    print(f"store {_redact(url)} is at the newest schema")
    return 0


def cmd_poll(args: argparse.Namespace) -> int:
    from monitor.scheduler import Collector

    config = _load_config(args)
    store = _open_store(_store_url(args, config))
    collector = Collector(config, store)
    names = [args.source] if args.source else list(collector.sources)
    unknown = [n for n in names if n not in collector.sources]
    if unknown:
        raise UserError(f"no enabled source named {unknown[0]!r}; configured: {', '.join(collector.sources)}")
    failed = 0
    try:
        for name in names:
            o = collector.poll(name)
            line = f"{name}: {o.outcome}, {o.new_posts} new, {o.duplicates} already stored"
            if o.error:
                line += f" — {o.error}"
                failed += 1
            print(line)
    finally:
        collector.stop()
        store.close()
    return 1 if failed and failed == len(names) else 0


def cmd_run(args: argparse.Namespace) -> int:
    from monitor.scheduler import Collector

    config = _load_config(args)
    store = _open_store(_store_url(args, config))
    if not args.headless:
        log.warning("the dashboard is not part of this version yet; running the collector headless")
    stop = threading.Event()
    _install_signal_handlers(stop)
    collector = Collector(config, store)
    collector.start()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        collector.stop(wait=True)
        store.close()
    log.info("stopped cleanly")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from monitor.status import build_status, render_status

    config = _load_config(args)
    store = _open_store(_store_url(args, config))
    try:
        data = build_status(store, config)
    finally:
        store.close()
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        render_status(data)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from monitor.importer import import_file

    path = Path(args.path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    if args.source is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}", args.source):
        raise UserError(f"--source {args.source!r}: use letters, digits, '.', '_' and '-' (at most 100)")
    config = _load_config(args) if _config_exists(args) else None
    store = _open_store(_store_url(args, config))
    try:
        report = import_file(store, path, topic=args.topic, source=args.source,
                             config=config, progress=sys.stderr.isatty())
    finally:
        store.close()
    for bad in report.bad_rows[:50]:
        print(f"{path}:{bad.line}: {bad.message}", file=sys.stderr)
    if len(report.bad_rows) > 50:
        print(f"... and {len(report.bad_rows) - 50} more bad rows", file=sys.stderr)
    print(f"{path}: {report.rows:,} rows read, {report.new_posts:,} new posts stored in topic "
          f"{args.topic!r} (source {report.source!r}), {report.duplicates:,} already stored, "
          f"{len(report.bad_rows):,} bad rows skipped")
    return 0


def _config_exists(args: argparse.Namespace) -> bool:
    from monitor.config import default_config_path

    return Path(args.config or default_config_path()).exists()


def cmd_demo(args: argparse.Namespace) -> int:
    from monitor.demo import run_demo

    return run_demo(duration=args.duration, speed=args.speed, headless=args.headless,
                    db_url=args.db, keep=args.keep)


def cmd_simulate(args: argparse.Namespace) -> int:
    from monitor.simulate import main as sim_main

    argv = ["--port", str(args.port)]
    if args.speed is not None:
        argv += ["--speed", str(args.speed)]
    return sim_main(argv) or 0


def _fmt_td(td: timedelta) -> str:
    from monitor.durations import format_duration

    return format_duration(td)


# --- parser ---------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="monitor", description="Watch how people react to a news story on social media.")
    p.add_argument("--version", action="version", version=f"reaction-monitor {__version__}")
    p.add_argument("-c", "--config", help="config file (default: $MONITOR_CONFIG or ./feeds.yaml)")
    p.add_argument("--db", help="store URL (default: $MONITOR_DB_URL, `store:` in the config, or SQLite under storage/)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    cfg = sub.add_parser("config", help="check feeds.yaml")
    cfg_sub = cfg.add_subparsers(dest="config_command", metavar="ACTION")
    chk = cfg_sub.add_parser("check", help="validate a config file; problems as PATH:LINE:COLUMN: message")
    chk.add_argument("path", nargs="?")
    chk.set_defaults(func=cmd_config_check)

    db = sub.add_parser("db", help="store maintenance")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION")
    up = db_sub.add_parser("upgrade", help="apply schema migrations (also done at every start)")
    up.set_defaults(func=cmd_db_upgrade)

    poll = sub.add_parser("poll", help="poll sources once and exit")
    poll.add_argument("--once", action="store_true", default=True, help="poll once (the default)")
    poll.add_argument("--source", help="only this source")
    poll.set_defaults(func=cmd_poll)

    run = sub.add_parser("run", help="collect on schedule (and show the dashboard)")
    run.add_argument("--headless", action="store_true", help="collector only, logs to stderr")
    run.set_defaults(func=cmd_run)

    st = sub.add_parser("status", help="sources and topics at a glance")
    st.add_argument("--json", action="store_true", help="machine-readable")
    st.set_defaults(func=cmd_status)

    imp = sub.add_parser("import", help="load a JSONL or CSV dataset into a topic")
    imp.add_argument("path")
    imp.add_argument("--topic", required=True, help="topic every row is assigned to")
    imp.add_argument("--source", help="source name to store the rows under (default: import-<file name>)")
    imp.set_defaults(func=cmd_import)

    demo = sub.add_parser("demo", help="offline demo over the built-in simulator")
    demo.add_argument("--headless", action="store_true", help="no dashboard; print a per-topic summary at the end")
    demo.add_argument("--duration", type=float, default=60.0, help="seconds to run (default 60)")
    demo.add_argument("--speed", type=float, default=None,
                      help="simulated seconds per real second (default: play the 3-day corpus in --duration)")
    demo.add_argument("--keep", action="store_true", help="keep the previous demo store instead of starting fresh")
    demo.set_defaults(func=cmd_demo)

    sim = sub.add_parser("simulate", help="serve the simulator alone (for development)")
    sim.add_argument("--port", type=int, default=8765)
    sim.add_argument("--speed", type=float, default=None)
    sim.set_defaults(func=cmd_simulate)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    _setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"monitor: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
