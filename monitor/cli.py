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
from typing import Any, NoReturn

from monitor import __version__
from monitor.core.runtime import tune_gc

log = logging.getLogger("monitor")

EXIT_USAGE = 2


class UserError(Exception):
    """A problem the user can fix; printed in words with exit status 2."""


# --- helpers --------------------------------------------------------------------------------


def _setup_logging(verbose: int, quiet: bool = False) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
        stream=sys.stderr,
    )
    # httpx logs every request URL at INFO; keep our log about sources, not transport.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # APScheduler warns each time a poll is skipped because the last one still runs: that is the
    # one-run-per-source rule working, not a problem worth a line.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _load_config(args: argparse.Namespace, *, secrets: bool = False):
    """The config, or exit 2 with its problems. Unset secrets are mentioned only for commands
    that need them (`secrets`: collecting, sending): a dashboard or a digest over a stored demo
    has no use for a platform's key."""
    from monitor.config.feeds import ConfigError, load_config, secret_problems

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for p in exc.problems:
            print(str(p), file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    for p in secret_problems(config, os.environ) if secrets else ():
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

    from monitor.store.db import Store

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
    from monitor.config.feeds import check_config, default_config_path

    path = args.path or args.config or default_config_path()
    problems = check_config(path)
    for p in problems:
        print(str(p), file=sys.stderr)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        return EXIT_USAGE
    from monitor.config.feeds import load_config

    config = load_config(path)
    print(f"{path}: ok ({len(config.topics)} topic(s), {len(config.sources)} source(s))")
    from monitor.sources import source_class

    for s in config.sources:
        env = s.secret_env_vars()
        needs = ", ".join(f"{v} ({k})" for k, v in env.items()) if env else "no secrets"
        when = "streaming" if source_class(s.kind).streaming else f"every {_fmt_td(s.interval)}"
        off = "" if s.enabled else "  (disabled)"
        print(f"  {s.name:<24} {s.kind:<10} {when:<12} needs: {needs}{off}")
    for d in config.digests:
        outputs = ["files in " + str(config.digest_folder(d))]
        if d.email:
            outputs.append(
                f"e-mail to {len(d.email.to)} via {d.email.host}:{d.email.smtp_port} ({d.email.security})"
            )
        if d.webhook:
            outputs.append(f"webhook ({d.webhook.format})")
        print(f"  digest {d.name}: '{d.schedule}' in {d.timezone} -> {', '.join(outputs)}")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    config = _load_config(args) if not args.db else None
    url = _store_url(args, config)
    _open_store(url).close()
    print(f"store {_redact(url)} is at the newest schema")
    return 0


def cmd_db_prune(args: argparse.Namespace) -> int:
    from monitor.outputs.api import QueryError, parse_time, parse_tz
    from monitor.store.db import utcnow
    from monitor.store.prune import prune

    config = _load_config(args) if not args.db else None
    url = _store_url(args, config)
    try:
        before = parse_time(args.before, tz=parse_tz(args.tz), now=utcnow(), option="--before")
    except QueryError as exc:
        raise UserError(str(exc)) from None
    if before > utcnow():
        raise UserError(
            f"--before {args.before!r} is in the future: that would delete posts still being collected"
        )
    store = _open_store(url)
    try:
        report = prune(store, before, keep_buckets=args.keep_buckets)
    finally:
        store.close()
    for line in report.lines():
        print(line)
    return 0


def cmd_poll(args: argparse.Namespace) -> int:
    from monitor.collector import Collector

    config = _load_config(args, secrets=True)
    store = _open_store(_store_url(args, config))
    collector = Collector(config, store)
    tune_gc()
    names = [args.source] if args.source else list(collector.sources)
    unknown = [n for n in names if n not in collector.sources]
    if unknown:
        raise UserError(
            f"no enabled source named {unknown[0]!r}; configured: {', '.join(collector.sources)}"
        )
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
    from monitor.collector import Collector

    config = _load_config(args, secrets=True)
    store = _open_store(_store_url(args, config))
    if not args.headless:
        _require_terminal()
        collector = Collector(config, store)
        tune_gc()
        return _dashboard(store, config, config.storage_dir, collector=collector)
    stop = threading.Event()
    _install_signal_handlers(stop)
    collector = Collector(config, store)
    tune_gc()
    collector.start()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        collector.stop(wait=True)
        store.close()
    log.info("stopped cleanly")
    return 0


def _require_terminal() -> None:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UserError(
            "the dashboard needs an interactive terminal (collector alone: `monitor run --headless`; "
            "numbers as text: `monitor status`)"
        )


def _dashboard(store, config, storage_dir: Path, collector=None) -> int:
    """Run the dashboard over `store` (with `collector` polling in the background), then close both."""
    from monitor.ui.app import run_dashboard
    from monitor.ui.data import StoreProvider

    provider = (
        StoreProvider.from_config(store, config) if config is not None else StoreProvider(store)
    )
    try:
        run_dashboard(provider, storage_dir=storage_dir, collector=collector)
    finally:
        store.close()
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    """The viewer alone: it can watch a store that `monitor run --headless` writes elsewhere."""
    _require_terminal()
    config = _load_config(args) if (args.db is None or _config_exists(args)) else None
    store = _open_store(_store_url(args, config))
    storage = config.storage_dir if config is not None else Path("storage").resolve()
    return _dashboard(store, config, storage)


def cmd_status(args: argparse.Namespace) -> int:
    from monitor.ui.status import build_status, render_status

    config = _load_config(args)
    store = _open_store(_store_url(args, config))
    try:
        data = build_status(store, config)
    finally:
        store.close()
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        render_status(data, verbose=args.verbose > 0)
    return 0


def cmd_quarantine(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from monitor.core.text import sanitize

    config = _load_config(args) if _config_exists(args) else None
    store = _open_store(_store_url(args, config))
    try:
        rows = store.quarantined(args.source, max(1, args.limit))
    finally:
        store.close()
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    if not rows:
        print("nothing is quarantined" + (f" for {args.source}" if args.source else ""))
        return 0
    t = Table(title="Quarantined items (not stored)", title_justify="left")
    for col in ("source", "where", "id", "why", "seen", "last seen"):
        t.add_column(col)
    for r in rows:  # every value through Text: stored text never reaches the terminal as markup
        t.add_row(
            Text(sanitize(r["source"])),
            Text(sanitize(r["position"])),
            Text(sanitize(r["native_id"] or "—")),
            Text(sanitize(r["reason"])),
            Text(f"{r['times_seen']}x"),
            Text(str(r["last_seen_at"])[:19]),
        )
    Console().print(t)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from monitor.ingest.importer import import_file

    path = Path(args.path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    if args.source is not None and not re.fullmatch(
        r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}", args.source
    ):
        raise UserError(
            f"--source {args.source!r}: use letters, digits, '.', '_' and '-' (at most 100)"
        )
    config = _load_config(args) if _config_exists(args) else None
    if config is not None and not args.new_topic:
        _check_topic(config, args.topic)
    store = _open_store(_store_url(args, config))
    tune_gc()
    try:
        report = import_file(
            store,
            path,
            topic=args.topic,
            source=args.source,
            config=config,
            progress=sys.stderr.isatty(),
        )
    finally:
        store.close()
    for bad in report.bad_rows[:50]:
        print(f"{path}:{bad.line}: {bad.message}", file=sys.stderr)
    if len(report.bad_rows) > 50:
        print(f"... and {len(report.bad_rows) - 50} more bad rows", file=sys.stderr)
    print(
        f"{path}: {report.rows:,} rows read, {report.new_posts:,} new posts stored in topic "
        f"{args.topic!r} (source {report.source!r}), {report.duplicates:,} already stored, "
        f"{len(report.bad_rows):,} bad rows skipped"
    )
    return 0


def _check_topic(config: Any, topic: str) -> None:
    """A typo in --topic would quietly start a new topic beside the real one: refuse it."""
    from monitor.config.feeds import _did_you_mean

    known = [t.name for t in config.topics]
    if topic in known:
        return
    hint = _did_you_mean(topic, known) or f" (defined: {', '.join(known) or 'none'})"
    raise UserError(
        f"--topic {topic!r} is not a topic of {config.path}{hint}; "
        f"add it to the config, or pass --new-topic to import into a new topic"
    )


def _config_exists(args: argparse.Namespace) -> bool:
    from monitor.config.feeds import default_config_path

    return Path(args.config or default_config_path()).exists()


def cmd_demo(args: argparse.Namespace) -> int:
    from monitor.demo import run_demo

    tune_gc()
    return run_demo(
        duration=args.duration,
        speed=args.speed,
        headless=args.headless,
        db_url=args.db,
        keep=args.keep,
    )


def cmd_simulate(args: argparse.Namespace) -> int:
    from monitor.simulator.server import main as sim_main

    argv = ["--port", str(args.port)]
    if args.speed is not None:
        argv += ["--speed", str(args.speed)]
    return sim_main(argv) or 0


def cmd_export(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import OperationalError

    from monitor.outputs.api import QueryError, StoreReader, StoreSchemaError, open_store
    from monitor.outputs.export import choose_target, export_posts, export_series

    try:
        target = choose_target(args.output, args.format)
    except QueryError as exc:
        raise UserError(str(exc)) from None
    url = _quiet_store_url(args)
    try:
        try:
            reader: StoreReader = open_store(url=url)
        except StoreSchemaError:
            # Every command migrates at start (`db upgrade` says so); the read API itself never does.
            _open_store(url).close()
            reader = open_store(url=url)
    except (FileNotFoundError, QueryError, StoreSchemaError) as exc:
        raise UserError(str(exc)) from None
    except OperationalError as exc:
        raise UserError(f"cannot open the store {_redact(url)}: {exc.orig}") from None
    interactive = sys.stderr.isatty()  # progress and a summary for a person; nothing for a script
    try:
        if args.export_kind == "series":
            series = reader.series_spec(
                args.topic,
                args.source,
                args.since,
                args.until,
                args.every,
                args.tz,
                with_sums=args.with_sums,
            )
            rows = export_series(reader, series, target)
        else:
            posts = reader.posts_spec(args.topic, args.source, args.since, args.until, args.tz)
            rows = export_posts(reader, posts, target, progress=interactive)
    except QueryError as exc:
        raise UserError(str(exc)) from None
    except BrokenPipeError:
        # The reader of `-o -` stopped early (`| head`): not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    finally:
        reader.close()
    if interactive:
        noun = "buckets" if args.export_kind == "series" else "posts"
        where = "standard output" if target.path == "-" else target.path
        print(f"{rows:,} {noun} written to {where} ({target.format})", file=sys.stderr)
    return 0


def _quiet_store_url(args: argparse.Namespace) -> str:
    """The store URL, without the missing-secret warnings that collecting commands print."""
    from monitor.config.feeds import ConfigError, load_config
    from monitor.outputs.api import default_store_url

    if args.db:
        return args.db
    try:
        return (
            load_config(args.config).store_url(os.environ) if args.config else default_store_url()
        )
    except ConfigError as exc:
        for p in exc.problems:
            print(str(p), file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None


def cmd_digest(args: argparse.Namespace) -> int:
    from datetime import date

    from monitor.config.digests import Digest
    from monitor.outputs.digest.jobs import previous_day, run_digest
    from monitor.store.db import utcnow

    config = _load_config(args, secrets=args.send or args.resend)
    digests = list(config.digests)
    if not digests:
        print(
            "no digest in the config; building the default one (every topic, UTC, files only)",
            file=sys.stderr,
        )
        digests = [Digest(name="daily")]
    try:
        if args.name:
            digests = [config.digest(args.name)]
        if args.topic:
            config.topic(args.topic)
            digests = [d for d in digests if d.topics is None or args.topic in d.topics]
        day = date.fromisoformat(args.date) if args.date else None
    except KeyError as exc:
        raise UserError(exc.args[0]) from None
    except ValueError:
        raise UserError(f"--date {args.date!r}: expected a date such as 2026-03-17") from None
    if not digests:
        raise UserError(f"no digest covers topic {args.topic!r}")
    store = _open_store(_store_url(args, config))
    failed = False
    try:
        for digest in digests:
            report = run_digest(
                config,
                store,
                digest,
                day or previous_day(digest, utcnow()),
                topic=args.topic,
                send=args.send or args.resend,
                resend=args.resend,
            )
            print(f"digest {report.digest} for {report.day}:")
            if report.posts == 0:
                print(
                    f"  no posts are stored for {report.day} in {_redact(store.url)}: the digest is empty "
                    "(another day with --date, or another store with -c / --db?)"
                )
            for o in report.outputs:
                print(f"  {o.output:<8} {o.status:<8} {o.detail}")
            if (args.send or args.resend) and not (digest.email or digest.webhook):
                print("  nothing to send: this digest has no email or webhook")
            failed |= not report.ok
    finally:
        store.close()
    return 1 if failed else 0


def cmd_alerts(args: argparse.Namespace) -> int:
    from monitor.core.text import sanitize
    from monitor.outputs.alerts import list_alerts
    from monitor.outputs.api import QueryError, parse_time, parse_tz
    from monitor.store.db import utcnow

    config = _load_config(args) if _config_exists(args) else None
    try:
        since = parse_time(args.since, tz=parse_tz(args.tz), now=utcnow(), option="--since")
    except QueryError as exc:
        raise UserError(str(exc)) from None
    store = _open_store(_store_url(args, config))
    try:
        rows = list_alerts(store, since=since, topic=args.topic, limit=args.limit)
    finally:
        store.close()
    if args.json:
        print(json.dumps(rows, indent=2, default=str, ensure_ascii=False))
        return 0
    if not rows:
        print(f"no alerts since {since:%Y-%m-%d %H:%M} UTC")
    for a in reversed(rows):
        if a["delivered_at"] is not None:
            sent = f"sent {a['delivered_at']:%H:%M}"
        elif a["next_delivery_at"] is not None:
            sent = f"pending (attempt {a['delivery_attempts'] + 1})"
        else:
            sent = "not sent" + (
                f": {a['delivery_error']}" if a["delivery_error"] else " (no webhook)"
            )
        arrow = "↑" if a["direction"] == "up" else "↓"
        print(
            f"{a['bucket_start']:%Y-%m-%d %H:%M} UTC  {a['topic']}  {a['kind']} {arrow}  [{sanitize(sent)}]"
        )
        print(f"  {sanitize(a['summary'])}")
    return 0


def _fmt_td(td: timedelta) -> str:
    from monitor.core.durations import format_duration

    return format_duration(td)


# --- parser ---------------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    """Usage errors as one line (`monitor simulate: --port: ...`) and exit status 2, no usage dump."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _number(
    kind: type,
    *,
    low: float | None = None,
    high: float | None = None,
    above: float | None = None,
    what: str = "",
) -> Any:
    """An argparse type that says in words what a numeric flag accepts."""

    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if (
            value != value
            or (above is not None and value <= above)
            or (low is not None and value < low)
            or (high is not None and value > high)
        ):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
        return value

    return convert


PORT = _number(int, low=0, high=65535, what="a port number from 0 to 65535 (0: any free port)")
SECONDS = _number(float, above=0, high=10 * 365 * 86400, what="a number of seconds above 0")
SPEED = _number(
    float, above=0, high=1e9, what="a speed above 0 (simulated seconds per real second)"
)
COUNT = _number(int, low=1, high=1_000_000, what="a whole number from 1 to 1,000,000")


def _global_options(p: argparse.ArgumentParser, *, default: Any) -> None:
    """-c, --db and -v, accepted before the command and after it (`monitor dashboard --db URL`).

    On the commands they default to SUPPRESS, so a value given before the command is kept."""
    p.add_argument(
        "-c",
        "--config",
        default=default,
        help="config file (default: $MONITOR_CONFIG or ./feeds.yaml)",
    )
    p.add_argument(
        "--db",
        default=default,
        help="store URL (default: $MONITOR_DB_URL, `store:` in the config, or SQLite under storage/)",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0 if default is None else default,
        help="more output (status: errors in full; logs: -vv for debug)",
    )


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="monitor", description="Watch how people react to a news story on social media."
    )
    p.add_argument("--version", action="version", version=f"reaction-monitor {__version__}")
    _global_options(p, default=None)
    common = Parser(add_help=False)
    _global_options(common, default=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    def add_parser(name: str, **kwargs: Any) -> Parser:
        """A command, with the global options accepted after its name too."""
        return sub.add_parser(name, parents=[common], **kwargs)

    cfg = add_parser("config", help="check feeds.yaml")
    cfg_sub = cfg.add_subparsers(dest="config_command", metavar="ACTION")
    chk = cfg_sub.add_parser(
        "check",
        parents=[common],
        help="validate a config file; problems as PATH:LINE:COLUMN: message",
    )
    chk.add_argument("path", nargs="?")
    chk.set_defaults(func=cmd_config_check)

    db = add_parser("db", help="store maintenance")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION")
    up = db_sub.add_parser(
        "upgrade", parents=[common], help="apply schema migrations (also done at every start)"
    )
    up.set_defaults(func=cmd_db_upgrade)
    pr = db_sub.add_parser(
        "prune",
        help="delete posts created before a date, in short batches (counts are kept)",
        description="Delete posts created before --before (with their topic links and reposts), "
        "the poll log and the minute buckets before it, in short transactions so a "
        "running collector is not held up. The hourly rollups are kept, so series, "
        "digests and hourly charts still count the deleted posts.",
    )
    pr.add_argument(
        "--before",
        required=True,
        help="a date (2026-01-31, local midnight in --tz), a time, or an age such as 90d",
    )
    pr.add_argument("--tz", default="UTC", help="time zone of --before (default UTC)")
    pr.add_argument(
        "--keep-buckets",
        action="store_true",
        help="keep the minute buckets too (for sub-hour charts of the pruned time)",
    )
    pr.set_defaults(func=cmd_db_prune)

    poll = add_parser("poll", help="poll sources once and exit")
    poll.add_argument("--once", action="store_true", default=True, help="poll once (the default)")
    poll.add_argument("--source", help="only this source")
    poll.set_defaults(func=cmd_poll)

    run = add_parser("run", help="collect on schedule (and show the dashboard)")
    run.add_argument("--headless", action="store_true", help="collector only, logs to stderr")
    run.set_defaults(func=cmd_run)

    dash = add_parser(
        "dashboard", help="the live dashboard alone, over the configured store (read-only)"
    )
    dash.set_defaults(func=cmd_dashboard)

    st = add_parser("status", help="sources and topics at a glance")
    st.add_argument("--json", action="store_true", help="machine-readable")
    st.set_defaults(func=cmd_status)

    qu = add_parser("quarantine", help="items sources sent that could not be stored, and why")
    qu.add_argument("--source", metavar="NAME", help="only this source")
    qu.add_argument(
        "--limit",
        type=int,
        default=50,
        help="at most this many, most recently seen first (default 50)",
    )
    qu.add_argument(
        "--json", action="store_true", help="machine-readable, with each item as received"
    )
    qu.set_defaults(func=cmd_quarantine)

    imp = add_parser("import", help="load a JSONL or CSV dataset into a topic")
    imp.add_argument("path")
    imp.add_argument(
        "--topic", required=True, help="topic every row is assigned to (one the config defines)"
    )
    imp.add_argument(
        "--new-topic",
        action="store_true",
        help="allow a topic the config does not define (it is created in the store)",
    )
    imp.add_argument(
        "--source", help="source name to store the rows under (default: import-<file name>)"
    )
    imp.set_defaults(func=cmd_import)

    demo = add_parser("demo", help="offline demo over the built-in simulator")
    demo.add_argument(
        "--headless", action="store_true", help="no dashboard; print a per-topic summary at the end"
    )
    demo.add_argument(
        "--duration",
        type=SECONDS,
        default=60.0,
        help="seconds to run (default 60); with the dashboard it stays open until you quit",
    )
    demo.add_argument(
        "--speed",
        type=SPEED,
        default=None,
        help="simulated seconds per real second (default: play the 3-day corpus in --duration)",
    )
    demo.add_argument(
        "--keep", action="store_true", help="keep the previous demo store instead of starting fresh"
    )
    demo.set_defaults(func=cmd_demo)

    sim = add_parser("simulate", help="serve the simulator alone (for development)")
    sim.add_argument("--port", type=PORT, default=8765, help="port on 127.0.0.1 (default 8765)")
    sim.add_argument("--speed", type=SPEED, default=None, help="simulated seconds per real second")
    sim.set_defaults(func=cmd_simulate)

    exp = add_parser(
        "export", help="write the time series or the posts to CSV, Parquet, NDJSON or JSON"
    )
    exp_sub = exp.add_subparsers(dest="export_kind", metavar="WHAT")
    for kind, text in (
        ("series", "one row per topic, source and bucket, with every metric"),
        ("posts", "one row per post, with scores, language, topics, author, URL and engagement"),
    ):
        e = exp_sub.add_parser(kind, parents=[common], help=text, description=text)
        e.add_argument(
            "--topic",
            action="append",
            metavar="NAME",
            help="only this topic (repeatable; default: all)",
        )
        e.add_argument(
            "--source",
            action="append",
            metavar="NAME",
            help="only this source (repeatable); 'all' = "
            + (
                "all sources together, the default"
                if kind == "series"
                else "every source, the default"
            ),
        )
        e.add_argument(
            "--since",
            metavar="WHEN",
            help="from this date, time or duration ago (2026-03-01, "
            "2026-03-01T14:00Z, 7d); inclusive",
        )
        e.add_argument(
            "--until", metavar="WHEN", help="up to this date, time or duration ago; exclusive"
        )
        if kind == "series":
            e.add_argument(
                "--every",
                default="1h",
                metavar="WIDTH",
                help="bucket width: 1m, 5m, 15m, 1h, 1d, ... (divides a day) or 1w; default 1h",
            )
            e.add_argument(
                "--with-sums",
                action="store_true",
                help="add sum_neg, sum_neu, sum_pos, sum_sq: re-aggregate coarser buckets exactly",
            )
        e.add_argument(
            "--tz",
            default="UTC",
            metavar="ZONE",
            help="IANA time zone for dates without an offset"
            + (" and for bucket boundaries (1d = local midnight)" if kind == "series" else "")
            + "; default UTC",
        )
        e.add_argument(
            "--format",
            choices=("csv", "parquet", "ndjson", "json"),
            help="default: from the extension of -o, else csv",
        )
        e.add_argument(
            "-o",
            "--output",
            default="-",
            metavar="PATH",
            help="file to write, or - for standard output (the default)",
        )
        e.set_defaults(func=cmd_export)

    dg = add_parser(
        "digest", help="build a daily digest (Markdown, HTML, JSON) and optionally send it"
    )
    dg.add_argument(
        "--date",
        metavar="YYYY-MM-DD",
        help="the local day to cover (default: yesterday in the digest's time zone)",
    )
    dg.add_argument(
        "--topic", metavar="NAME", help="only this topic (its sends are recorded apart)"
    )
    dg.add_argument(
        "--name", metavar="DIGEST", help="only this configured digest (default: all of them)"
    )
    dg.add_argument(
        "--send", action="store_true", help="also e-mail / post it, unless that was already done"
    )
    dg.add_argument("--resend", action="store_true", help="send even if it was already sent")
    dg.set_defaults(func=cmd_digest)

    al = add_parser("alerts", help="list the spike alerts stored by the collector")
    al.add_argument(
        "--since",
        default="7d",
        metavar="WHEN",
        help="from this date, time or duration ago (2026-03-17, 2026-03-17T14:00, 24h; default 7d)",
    )
    al.add_argument(
        "--tz", default="UTC", metavar="ZONE", help="time zone for --since without an offset"
    )
    al.add_argument("--topic", metavar="NAME", help="only this topic")
    al.add_argument(
        "--limit", type=COUNT, default=200, help="at most this many (newest first; default 200)"
    )
    al.add_argument("--json", action="store_true", help="machine-readable, with every detail")
    al.set_defaults(func=cmd_alerts)
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
    except BrokenPipeError:
        # Whoever read our output stopped early (`| head -2`): nothing went wrong here. Further
        # writes (and the interpreter's flush at exit) go nowhere instead of raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # noqa: BLE001 - a person gets one line; -v -v gets the traceback
        from monitor.core.faults import describe

        log = logging.getLogger("monitor")
        log.debug("unexpected error", exc_info=True)
        print(
            f"monitor: {describe(exc)}"
            + ("" if args.verbose > 1 else " (run with -v -v for details)"),
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
