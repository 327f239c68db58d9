"""Alerts: the spikes the collector stored, newest first, what drove them and whether they were sent."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from monitor.ui.data import ALERT_ROWS, AlertView, Snapshot
from monitor.ui.format import Palette, cell, clock, one_line, safe
from monitor.ui.screens.base import MainScreen
from monitor.ui.widgets.tables import Col, cursor_key, set_columns, sync_rows


def what_text(a: AlertView, palette: Palette) -> Text:
    """ "volume ▲" or "mood ▼": a symbol first, a colour second."""
    if a.kind == "volume":
        return Text("volume ▲", style=f"bold {palette.warn}", end="")
    up = a.direction == "up"
    return Text(
        f"mood {'▲' if up else '▼'}", style=f"bold {palette.pos if up else palette.neg}", end=""
    )


def measure_words(a: AlertView) -> str:
    """What the alarm measured against what was expected, in the alert's own units."""
    if a.kind == "volume":
        return f"{a.value:,.0f} posts, ~{a.expected:,.0f} expected (alarm > {a.threshold:,.1f})"
    return f"mean {a.value:+.2f}, usually {a.expected:+.2f}"


def drivers_words(a: AlertView) -> str:
    tags = (a.details.get("drivers") or {}).get("hashtags") or []
    names = [f"#{t.get('tag')}" for t in tags[:3] if isinstance(t, dict) and t.get("tag")]
    return ", ".join(names) if names else "—"


def describe_alert(a: AlertView, now: Any, palette: Palette) -> Text:
    """The whole alert: its summary as sent, its sending, and the posts that drove it."""
    text = Text(end="")
    text.append_text(what_text(a, palette))
    text.append(f"  {safe(a.topic)}  hour from {clock(a.bucket_start, now)} UTC", style="bold")
    text.append(
        f"  (stored {clock(a.created_at, now)} UTC; {a.sent_words(now)})\n", style=palette.muted
    )
    text.append(f"{measure_words(a)}; driven by {drivers_words(a)}\n")
    text.append(safe(a.summary))
    posts = (a.details.get("drivers") or {}).get("posts") or []
    if posts:
        text.append("\n\nposts that drove it:", style="bold")
        for p in posts[:5]:
            if not isinstance(p, dict):
                continue
            text.append("\n• ")
            text.append(one_line(p.get("author") or "unknown", 40), style=palette.muted)
            text.append(": ")
            text.append(one_line(p.get("text") or "", 400))
    return text


class AlertsScreen(MainScreen):
    VIEW = "alerts"
    LABEL = "Alerts"

    def body(self) -> ComposeResult:
        yield Static(id="alerts-title", classes="panel-title")
        yield DataTable(id="alerts", cursor_type="row")
        with VerticalScroll(id="alert-detail-box"):
            yield Static(id="alert-detail")

    def apply(self, snapshot: Snapshot, palette: Palette) -> None:
        table = self.query_one("#alerts", DataTable)
        width = self.app.size.width
        wide = width >= 120
        topic_w = 22 if wide else 14
        sent_w = 26 if wide else 14
        measured_w = 38 if wide else 14
        # What is left once the fixed columns and their padding (2 each) are placed.
        drivers_w = width - (12 + topic_w + 9 + measured_w + sent_w) - 2 * 6 - 2
        cols = [
            Col("hour", "hour (UTC)", 12),
            Col("topic", "topic", topic_w),
            Col("what", "what", 9),
            Col("measured", "measured", measured_w),
        ]
        if drivers_w >= 14:
            cols.append(Col("drivers", "driven by", drivers_w))
        cols.append(Col("sent", "sent?", sent_w))
        set_columns(table, cols)
        title = self.query_one("#alerts-title", Static)
        more = "+" if len(snapshot.alerts) >= ALERT_ROWS else ""
        if snapshot.alerts:
            words = f"Stored alerts, newest first ({len(snapshot.alerts)}{more})"
            if wide:
                words += "; the highlighted one is below in full; `monitor alerts --json` has every detail"
        else:
            words = (
                "No alerts stored yet: one is stored when a volume spike or a mood shift passes the "
                "alert rules"
                if wide
                else "No alerts stored yet"
            )
        title.update(Text(words, end=""))
        rows = []
        for a in snapshot.alerts:
            measured = (
                measure_words(a)
                if wide
                else (
                    f"{a.value:,.0f} vs ~{a.expected:,.0f}"
                    if a.kind == "volume"
                    else f"{a.value:+.2f} vs {a.expected:+.2f}"
                )
            )
            cells = [
                Text(clock(a.bucket_start, snapshot.now), end=""),
                cell(a.topic, topic_w),
                what_text(a, palette),
                cell(measured, measured_w),
            ]
            if drivers_w >= 14:
                cells.append(cell(drivers_words(a), drivers_w))
            sent = a.sent_words(snapshot.now)
            cells.append(
                cell(sent, sent_w, palette.pos if sent.startswith("sent") else palette.warn)
            )
            rows.append((str(a.id), cells))
        sync_rows(table, rows)
        want = self.dash.alert_focus
        if want is not None:
            self.dash.alert_focus = None
            match = next((i for i, a in enumerate(snapshot.alerts) if a.topic == want), None)
            if match is not None:
                table.move_cursor(row=match)
        self._detail(snapshot, palette)

    def _detail(self, snapshot: Snapshot, palette: Palette) -> None:
        key = cursor_key(self.query_one("#alerts", DataTable))
        a = next((x for x in snapshot.alerts if str(x.id) == key), None)
        self.query_one("#alert-detail", Static).update(
            describe_alert(a, snapshot.now, palette) if a else ""
        )

    @on(DataTable.RowHighlighted, "#alerts")
    def _highlighted(self) -> None:
        if self.dash.snapshot is not None and self.dash.snapshot.request.view == "alerts":
            self._detail(self.dash.snapshot, self.dash.palette)
