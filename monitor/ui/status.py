"""`monitor status`: sources and topics at a glance, as a table or as JSON for scripts.

It lives beside the dashboard because it is the dashboard's health and overview in plain text:
the same window, the same overdue rule and the same formatting, so the two never disagree. It
imports no Textual, so the command starts without it.
"""

from __future__ import annotations

from typing import Any

from monitor.core.text import sanitize
from monitor.metrics.formulas import er3, mean
from monitor.sources.paging import collection_lines
from monitor.store.db import Store, utcnow
from monitor.ui.data import DEFAULT_WINDOW, window_bounds


def build_status(store: Store, config: Any | None, now=None) -> dict[str, Any]:
    now = now or utcnow()
    configured = {s.name for s in config.sources} if config is not None else None
    sources = []
    quarantined = store.quarantine_counts()
    for row in store.source_states():
        if configured is not None and row["name"] not in configured and not row.get("posts_total"):
            continue
        sources.append(
            {
                "name": row["name"],
                "kind": row["kind"],
                "last_poll_at": _iso(row.get("last_poll_at")),
                "last_outcome": row.get("last_outcome"),
                "last_error": row.get("last_error"),
                "consecutive_failures": row.get("consecutive_failures") or 0,
                "posts_total": row.get("posts_total") or 0,
                "next_poll_at": _iso(row.get("next_poll_at")),
                # items it sent that could not be stored (`monitor quarantine` lists them)
                "quarantined": quarantined.get(row["name"], 0),
                # the collector polling it now (host:pid:tag), None when no collector runs it
                "collector": row.get("lease_owner")
                if _live(row.get("lease_expires_at"), now)
                else None,
                # backfills in progress and spans the platform could not serve, in words
                "collection": collection_lines(row.get("state"), now),
            }
        )
    names = [t.name for t in config.topics] if config is not None else []
    names += [t for t in store.topics() if t not in names]
    totals = store.topic_post_counts()
    topics = []
    # The dashboard's 24 h window (whole 15-minute buckets, ending with the one in progress), so
    # both say the same number for the same instant.
    since, until = window_bounds(DEFAULT_WINDOW, now)
    for name in names:
        day = store.sums(name, since=since, until=until)
        topics.append(
            {
                "name": name,
                "posts_total": totals.get(name, 0),
                "posts_24h": day.total,
                "mean_compound_24h": _round(mean(day)),
                "er3_24h": _round(er3(day)),
            }
        )
    return {
        "generated_at": _iso(now),
        "window_start": _iso(since),
        "window_end": _iso(until),
        "store": store_health(store),
        "sources": sources,
        "topics": topics,
    }


DISK_LOW_BYTES = 64 * 1024 * 1024


def store_health(store: Store) -> dict[str, Any]:
    """The disk under a SQLite store: a collector on a full disk cannot say so in the store."""
    free = store.disk_free()
    problem = None
    if free is not None and free < DISK_LOW_BYTES:
        problem = (
            "the disk is full" if free < 1024 * 1024 else "the disk is nearly full"
        ) + f" ({free / 1024 / 1024:.1f} MiB free where the store lives)"
    return {"disk_free_bytes": free, "problem": problem}


def _live(expires, now) -> bool:
    return expires is not None and expires > now


def _iso(dt) -> str | None:
    return dt.isoformat() if dt is not None else None


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


OUTCOME_WORDS = {
    "ok": "ok",
    "not_modified": "ok, no change",
    "partial": "partly failed",
    "error": "failing",
}


def outcome_words(outcome: str | None, failures: int = 0) -> str:
    """A poll's outcome as a reader says it, never the stored value ("not_modified")."""
    if outcome is None:
        return "never polled"
    words = OUTCOME_WORDS.get(outcome, outcome.replace("_", " "))
    return f"{words} ×{failures}" if outcome == "error" and failures > 1 else words


def _state(source: dict[str, Any], now: Any) -> str:
    """The last outcome in words, or "overdue" when the next poll is late (as the dashboard says)."""
    from datetime import datetime

    from monitor.ui.data import OVERDUE_GRACE

    due = source.get("next_poll_at")
    if (
        source["last_outcome"] not in (None, "error", "partial")
        and due
        and datetime.fromisoformat(due) < now - OVERDUE_GRACE
    ):
        return "overdue"
    return outcome_words(source["last_outcome"], source["consecutive_failures"])


def render_status(data: dict[str, Any], *, verbose: bool = False, console: Any = None) -> None:
    """Two tables that fit 80 columns and a pipe: relative times, one line per row, errors cut
    to the width left (`verbose` prints each error in full below; `--json` has every field).
    Tables are built from Text objects: source names and errors never pass through markup."""
    from datetime import datetime

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from monitor.ui.format import ago, one_line, until

    console = console or Console()
    now = datetime.fromisoformat(data["generated_at"])
    problem = (data.get("store") or {}).get("problem")
    if problem:
        console.print(Text(f"Store: {problem}", style="bold red"))

    def when(value: str | None, fn) -> str:
        return fn(datetime.fromisoformat(value) if value else None, now)

    rows = [
        (
            sanitize(s["name"]),
            _state(s, now),
            when(s["last_poll_at"], ago),
            when(s["next_poll_at"], until),
            f"{s['posts_total']:,}",
            one_line(s["last_error"] or "", 300),
            {"error": "red", "partial": "yellow"}.get(s["last_outcome"] or "", ""),
        )
        for s in data["sources"]
    ]
    heads = ("source", "state", "last poll", "next poll", "posts")
    # Fixed columns as wide as their words (the name at most 24); the error gets what is left.
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(heads)]
    widths[0] = min(widths[0], 24)
    rest = max(console.width - sum(widths) - len(heads), 10)
    t = Table(title="Sources", title_justify="left", box=None, padding=(0, 1, 0, 0), pad_edge=False)
    for i, h in enumerate(heads):
        t.add_column(
            h,
            no_wrap=True,
            overflow="ellipsis",
            width=widths[i],
            justify="left" if i < 2 else "right",
        )
    t.add_column("error", no_wrap=True, overflow="ellipsis", width=rest)
    for name, state, last, nxt, posts, error, style in rows:
        t.add_row(
            Text(name), Text(state, style=style), Text(last), Text(nxt), Text(posts), Text(error)
        )
    console.print(t)
    notes = [(s["name"], line) for s in data["sources"] for line in s.get("collection") or ()]
    notes += [
        (
            s["name"],
            f"{s['quarantined']:,} item(s) it sent could not be stored (monitor quarantine)",
        )
        for s in data["sources"]
        if s.get("quarantined")
    ]
    if notes:
        console.print()
        console.print(Text("Collection (backfills, gaps, quarantined items)", style="italic"))
        for name, line in notes:
            console.print(Text(f"{sanitize(name)}: {sanitize(line)}"))
    if verbose:
        for s in data["sources"]:
            if s["last_error"] or s.get("collector"):
                console.print(Text(f"{sanitize(s['name'])}:", style="bold"))
                if s.get("collector"):
                    console.print(Text(f"  polled by {sanitize(s['collector'])}"))
                if s["last_error"]:
                    console.print(Text(f"  {sanitize(s['last_error'])}"))
    console.print()
    t = Table(
        title="Topics (last 24 h)", title_justify="left", box=None, padding=(0, 1), pad_edge=False
    )
    t.add_column("topic", no_wrap=True, overflow="ellipsis", max_width=30)
    for col in ("posts", "posts 24h", "mean sentiment", "ER-3"):
        t.add_column(col, no_wrap=True, justify="right")
    for tp in data["topics"]:
        m, e = tp["mean_compound_24h"], tp["er3_24h"]
        t.add_row(
            Text(sanitize(tp["name"])),
            Text(f"{tp['posts_total']:,}"),
            Text(f"{tp['posts_24h']:,}"),
            Text("no data" if m is None else f"{m:+.3f}"),
            Text("no data" if e is None else f"{e:.3f}"),
        )
    console.print(t)
