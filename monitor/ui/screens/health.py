"""Feed health: every source's status, polls and last error in words."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from monitor.ui.data import Snapshot, SourceHealth
from monitor.ui.format import (
    NO_DATA,
    Palette,
    ago,
    cell,
    clock,
    count,
    one_line,
    safe,
    source_problem,
    status_text,
    until,
)
from monitor.ui.screens.base import MainScreen
from monitor.ui.widgets.tables import Col, cursor_key, set_columns, sync_rows


class HealthScreen(MainScreen):
    VIEW = "health"
    LABEL = "Feed health"

    def body(self) -> ComposeResult:
        yield Static(
            "Sources, most urgent first (last 24 h counts from the poll log)", classes="panel-title"
        )
        yield DataTable(id="sources", cursor_type="row")
        with VerticalScroll(id="source-detail-box"):
            yield Static(id="source-detail")

    def apply(self, snapshot: Snapshot, palette: Palette) -> None:
        table = self.query_one("#sources", DataTable)
        wide, roomy = self.has_class("-wide"), self.has_class("-roomy")
        name_w = 22 if wide else 14
        cols = [
            Col("status", "status", 10),
            Col("source", "source", name_w),
            Col("last", "last poll", 13),
            Col("next", "next poll", 14),
            Col("posts", "posts 24h", 9),
        ]
        if roomy:
            cols.append(Col("polls", "polls 24h (failed)", 18))
        cols.append(Col("fails", "failures" if wide else "fails", 8 if wide else 5))
        # The error gets what is left (the detail below always has it in full); none when cramped.
        error_w = self.app.size.width - sum(c.width or 0 for c in cols) - 2 * (len(cols) + 1) - 1
        if error_w >= 24:
            cols.append(Col("error", "last error", error_w))
        set_columns(table, cols)
        now = snapshot.real_now
        rows = []
        for h in sorted(snapshot.sources, key=lambda s: (s.urgency, s.name)):
            cells = [
                status_text(h.status, palette),
                cell(h.name, name_w),
                Text(ago(h.last_poll_at, now), end=""),
                Text(until(h.next_poll_at, now), end=""),
                Text(NO_DATA if h.posts_24h is None else count(h.posts_24h), end=""),
            ]
            if roomy:
                polls = (
                    NO_DATA
                    if h.polls_24h is None
                    else f"{count(h.polls_24h)} ({count(h.failed_24h or 0)})"
                )
                cells.append(Text(polls, end=""))
            cells.append(
                Text(
                    str(h.consecutive_failures),
                    style=f"bold {palette.neg}" if h.consecutive_failures else "",
                    end="",
                )
            )
            if error_w >= 24:
                cells.append(cell(h.last_error or "", error_w, palette.muted))
            rows.append((h.name, cells))
        sync_rows(table, rows)
        self._detail(snapshot, palette)

    def _detail(self, snapshot: Snapshot, palette: Palette) -> None:
        key = cursor_key(self.query_one("#sources", DataTable))
        h = next((s for s in snapshot.sources if s.name == key), None)
        widget = self.query_one("#source-detail", Static)
        if h is None:
            widget.update(
                Text(
                    "No sources configured: add some to feeds.yaml."
                    if not snapshot.sources
                    else "",
                    style=palette.muted,
                )
            )
            return
        widget.update(describe(h, snapshot, palette))

    @on(DataTable.RowHighlighted, "#sources")
    def _highlighted(self) -> None:
        if self.dash.snapshot is not None and self.dash.snapshot.request.view == "health":
            self._detail(self.dash.snapshot, self.dash.palette)


def describe(h: SourceHealth, snapshot: Snapshot, palette: Palette) -> Text:
    """Everything known about one source, in words; the error message is quoted in full."""
    now = snapshot.real_now
    text = Text(one_line(h.name, 100), style="bold", end="")
    text.append(f"  ({safe(h.kind)})  ", style=palette.muted)
    text.append_text(status_text(h.status, palette))
    if h.status not in ("ok", "disabled"):
        text.append("\n")
        text.append(source_problem(h, now), style=palette.warn)
    lines = [
        f"last poll   {ago(h.last_poll_at, now)} ({clock(h.last_poll_at, now)} UTC)",
        f"last ok     {ago(h.last_ok_at, now)}",
        f"next poll   {until(h.next_poll_at, now)}",
        f"stored      {count(h.posts_total)} posts in all"
        + ("" if h.posts_24h is None else f", {count(h.posts_24h)} in the last 24 h"),
    ]
    if h.polls_24h is not None:
        lines.append(
            f"polls 24 h  {count(h.polls_24h)}, of which {count(h.failed_24h or 0)} failed"
        )
    if h.quarantined:
        lines.append(
            f"quarantined {count(h.quarantined)} item(s) it sent could not be stored (`monitor quarantine`)"
        )
    if h.consecutive_failures:
        lines.append(
            f"failures    {h.consecutive_failures} in a row"
            + (f" since {clock(h.failing_since, now)} UTC" if h.failing_since else "")
        )
    if h.last_status is not None:
        lines.append(f"HTTP status {h.last_status}")
    if h.collector:
        lines.append(f"polled by   {safe(h.collector)}")
    text.append("\n" + "\n".join(lines))
    for line in h.collection:  # backfill progress and gaps the platform left, in words
        text.append("\n")
        text.append(safe(line), style=palette.warn if "out of reach" in line else palette.muted)
    if h.last_error:
        text.append("\nlast error  ")
        text.append(safe(h.last_error), style=palette.neg)
    return text
