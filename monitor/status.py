"""`monitor status`: sources and topics at a glance, as a table or as JSON for scripts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from monitor.metrics import er3, mean
from monitor.store import Store, utcnow
from monitor.text import sanitize


def build_status(store: Store, config: Any | None, now=None) -> dict[str, Any]:
    now = now or utcnow()
    configured = {s.name for s in config.sources} if config is not None else None
    sources = []
    quarantined = store.quarantine_counts()
    for row in store.source_states():
        if configured is not None and row["name"] not in configured and not row.get("posts_total"):
            continue
        sources.append({
            "name": row["name"], "kind": row["kind"],
            "last_poll_at": _iso(row.get("last_poll_at")), "last_outcome": row.get("last_outcome"),
            "last_error": row.get("last_error"), "consecutive_failures": row.get("consecutive_failures") or 0,
            "posts_total": row.get("posts_total") or 0, "next_poll_at": _iso(row.get("next_poll_at")),
            # items it sent that could not be stored (`monitor quarantine` lists them)
            "quarantined": quarantined.get(row["name"], 0),
            # the collector polling it now (host:pid:tag), None when no collector runs it
            "collector": row.get("lease_owner") if _live(row.get("lease_expires_at"), now) else None,
        })
    names = [t.name for t in config.topics] if config is not None else []
    names += [t for t in store.topics() if t not in names]
    totals = store.topic_post_counts()
    topics = []
    for name in names:
        day = store.sums(name, since=now - timedelta(hours=24), until=now + timedelta(minutes=1))
        topics.append({
            "name": name, "posts_total": totals.get(name, 0), "posts_24h": day.total,
            "mean_compound_24h": _round(mean(day)), "er3_24h": _round(er3(day)),
        })
    return {"generated_at": _iso(now), "store": store_health(store), "sources": sources, "topics": topics}


DISK_LOW_BYTES = 64 * 1024 * 1024


def store_health(store: Store) -> dict[str, Any]:
    """The disk under a SQLite store: a collector on a full disk cannot say so in the store."""
    free = store.disk_free()
    problem = None
    if free is not None and free < DISK_LOW_BYTES:
        problem = ("the disk is full" if free < 1024 * 1024 else "the disk is nearly full") + \
            f" ({free / 1024 / 1024:.1f} MiB free where the store lives)"
    return {"disk_free_bytes": free, "problem": problem}


def _live(expires, now) -> bool:
    return expires is not None and expires > now


def _iso(dt) -> str | None:
    return dt.isoformat() if dt is not None else None


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def render_status(data: dict[str, Any]) -> None:
    """Tables built from Text objects: source names and errors never pass through markup."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    problem = (data.get("store") or {}).get("problem")
    if problem:
        console.print(Text(f"Store: {problem}", style="bold red"))
    t = Table(title="Sources", title_justify="left")
    for col in ("source", "kind", "last poll", "outcome", "failures", "posts", "quarantined", "collector",
                "last error"):
        t.add_column(col)
    for s in data["sources"]:
        style = "red" if s["last_outcome"] == "error" else ("yellow" if s["last_outcome"] == "partial" else "")
        t.add_row(Text(sanitize(s["name"])), Text(s["kind"]), Text(s["last_poll_at"] or "never"),
                  Text(s["last_outcome"] or "—", style=style), Text(str(s["consecutive_failures"])),
                  Text(f"{s['posts_total']:,}"), Text(f"{s.get('quarantined', 0):,}"),
                  Text(sanitize(s.get("collector") or "—")),
                  Text(sanitize(s["last_error"] or "")))
    console.print(t)
    t = Table(title="Topics (last 24 h)", title_justify="left")
    for col in ("topic", "posts", "posts 24h", "mean sentiment", "ER-3"):
        t.add_column(col)
    for tp in data["topics"]:
        m, e = tp["mean_compound_24h"], tp["er3_24h"]
        t.add_row(Text(sanitize(tp["name"])), Text(f"{tp['posts_total']:,}"), Text(f"{tp['posts_24h']:,}"),
                  Text("no data" if m is None else f"{m:+.3f}"), Text("no data" if e is None else f"{e:.3f}"))
    console.print(t)
