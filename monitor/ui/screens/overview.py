"""Overview: one row per topic, the highlighted topic's sentiment and polarization, the newest posts."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Static
from textual.widgets.data_table import RowDoesNotExist

from monitor.metrics.formulas import summarize
from monitor.ui.charts import LEGEND, sparkline
from monitor.ui.data import LiveFilter, Snapshot, TopicRow
from monitor.ui.format import (
    NO_DATA,
    Palette,
    cell,
    clock,
    mean_text,
    one_line,
    polarization_text,
    posts_text,
    shares_text,
)
from monitor.ui.screens.base import MainScreen
from monitor.ui.widgets.chart import Chart
from monitor.ui.widgets.tables import Col, PostStream, cursor_key, set_columns, sync_rows

MINI_STREAM_ROWS = 50


def spike_text(row: TopicRow, now: datetime, palette: Palette, wide: bool = True) -> Text:
    """The latest alarm: "vol 13:00" (volume spike), "mood ▼ 11:00" / "mood ▲ 11:00" (mean
    sentiment fell / rose; "mood▼11:00" when narrow); "none" when judged quiet, — when there is
    no baseline yet for either. Words beside the arrows: ▲/▼ alone mean positive/negative here."""
    scan = row.spikes
    vol, shift = scan.latest, scan.shift
    if vol is not None and (shift is None or vol.start >= shift.start):
        return Text(f"vol {clock(vol.start, now)}", style=f"bold {palette.warn}", end="")
    if shift is not None:
        arrow = "▲" if shift.direction == "up" else "▼"
        label = f"mood {arrow} " if wide else f"mood{arrow}"
        return Text(f"{label}{clock(shift.start, now)}", style=f"bold {palette.warn}", end="")
    return Text(
        "none" if scan.checked or scan.shift_checked else NO_DATA, style=palette.muted, end=""
    )


class TopicTable(DataTable):
    """The overview's topics: a click on a row's spike mark opens the alerts screen."""

    class SpikeClicked(Message):
        def __init__(self, topic: str) -> None:
            super().__init__()
            self.topic = topic

    async def _on_click(self, event: events.Click) -> None:
        meta = event.style.meta
        row, column = meta.get("row"), meta.get("column")
        if (
            isinstance(row, int)
            and row >= 0
            and column is not None
            and column == len(self.ordered_columns) - 1
            and row < len(self.ordered_rows)
        ):
            event.stop()
            self.post_message(self.SpikeClicked(str(self.ordered_rows[row].key.value)))
            return
        await super()._on_click(event)


class OverviewScreen(MainScreen):
    VIEW = "overview"
    LABEL = "Overview"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "toggle_details", "show / hide B and sigma", id="monitor.overview.details"),
        Binding(
            "enter",
            "open_topic",
            "open the highlighted topic",
            show=False,
            id="monitor.overview.open",
        ),
        Binding(
            "a",
            "open_alerts",
            "alerts, on the highlighted topic's latest (or click its spike mark)",
            id="monitor.overview.alerts",
        ),
    ]

    def body(self) -> ComposeResult:
        yield TopicTable(id="topics", cursor_type="row", zebra_stripes=False)
        with Horizontal(id="lower"):
            with Vertical(id="focus"):
                yield Static(id="focus-title", classes="panel-title")
                yield Chart("sentiment", id="focus-sentiment")
                yield Chart("polarization", id="focus-polarization")
                yield Chart("volume", id="focus-volume")
                yield Static(LEGEND, id="focus-legend", classes="legend")
            with Vertical(id="mini-live"):
                yield Static("Live: newest posts", classes="panel-title")
                yield PostStream(cap=MINI_STREAM_ROWS, id="mini-stream")

    def live_request(self) -> tuple[LiveFilter | None, int | None, int]:
        if not self.has_class("-wide"):
            return None, None, 0
        return LiveFilter(), self.query_one("#mini-stream", PostStream).cursor, MINI_STREAM_ROWS

    def _columns(self) -> list[Col]:
        """Every column sized so the table fits the screen without scrolling at 80 columns and
        up; the sparkline takes what the others leave (wide terminals get longer sparklines)."""
        wide = self.has_class("-wide")
        key = self.dash.window.key
        # Titles get 24 even when roomy: the room is worth more to the sparkline (a 24 h window
        # is 96 buckets; fewer cells than that halves it).
        cols = [
            Col("topic", "topic", 24 if wide else 13),
            Col("posts", f"posts {key}" if wide else "posts", 9 if wide else 5),
            Col("volume", f"volume {key}" if wide else "volume", 0),
            Col("mean", "mean sentiment [95%]" if wide else "mean ±95%", 22 if wide else 13),
            Col("shares", "pos / neg", 11 if wide else 10),
            Col("er3", "ER-3", 6 if wide else 5),
        ]
        if self.dash.details:
            cols += [Col("b", "B", 5), Col("sigma", "sigma", 5)]
        cols.append(Col("spike", "latest spike" if wide else "spike", 13 if wide else 9))
        used = sum(c.width or 0 for c in cols) + 2 * len(cols) + 2 + 1  # padding, border, scrollbar
        spark = max(self.app.size.width - used, 8)
        return [Col(c.key, c.label, spark) if c.key == "volume" else c for c in cols]

    def apply(self, snapshot: Snapshot, palette: Palette) -> None:
        table = self.query_one("#topics", DataTable)
        wide = self.has_class("-wide")
        cols = self._columns()
        widths = {c.key: c.width or 8 for c in cols}
        set_columns(table, cols)
        rows = []
        for row in snapshot.topics:
            s = summarize(row.sums)
            cells = [
                cell(row.info.title, widths["topic"], "bold"),
                posts_text(row.sums.total, gap=row.gap, palette=palette),
                sparkline(row.series, widths["volume"], palette, palette.accent),
                mean_text(s, palette, compact=not wide),
                shares_text(s, palette),
                polarization_text(s.er3, s, palette),
            ]
            if self.dash.details:
                cells += [
                    polarization_text(s.b, s, palette),
                    polarization_text(s.sigma, s, palette),
                ]
            rows.append((row.info.name, [*cells, spike_text(row, snapshot.now, palette, wide)]))
        # Rebuilding the rows moves the cursor; that is not the reader choosing another topic.
        with table.prevent(DataTable.RowHighlighted):
            sync_rows(table, rows)
            if self.dash.topic is not None and cursor_key(table) != self.dash.topic:
                try:
                    table.move_cursor(row=table.get_row_index(self.dash.topic))
                except RowDoesNotExist:  # not listed (yet)
                    pass
        self._show_focus(snapshot, palette)
        if wide and snapshot.request.live is not None:
            self.query_one("#mini-stream", PostStream).add_posts(
                snapshot.posts, palette, snapshot.now, snapshot.live_cursor
            )

    def _show_focus(self, snapshot: Snapshot, palette: Palette) -> None:
        row = snapshot.topic_row(self.dash.topic)
        title = self.query_one("#focus-title", Static)
        sentiment = self.query_one("#focus-sentiment", Chart)
        polarization = self.query_one("#focus-polarization", Chart)
        if row is None:
            title.update(
                Text(
                    "No topics yet: configure some in feeds.yaml" if not snapshot.topics else "",
                    style=palette.muted,
                )
            )
            for chart in (sentiment, polarization, self.query_one("#focus-volume", Chart)):
                chart.show(None, palette, snapshot.now)
            return
        app_w = self.app.size.width  # the layout rules, not a size that may not be laid out yet
        width = app_w - int(app_w * 0.45) if self.has_class("-roomy") else app_w
        what = " · mean sentiment (░ 95% band) · ER-3 · posts"
        name = one_line(row.info.title, max(width - len(what) - 2, 12))
        text = Text(name, style=f"bold {palette.accent}", end="")
        text.append(
            what if len(name) + len(what) + 2 <= width else " · mean, ER-3, posts",
            style=palette.muted,
        )
        title.update(text)
        for chart in (sentiment, polarization, self.query_one("#focus-volume", Chart)):
            chart.show(row.series, palette, snapshot.now)

    @on(DataTable.RowHighlighted, "#topics")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self.dash.select_topic(str(event.row_key.value))

    @on(DataTable.RowSelected, "#topics")
    async def _selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.dash.select_topic(str(event.row_key.value))
            await self.dash.action_view("topic")

    @on(DataTable.RowSelected, "#mini-stream")
    def _post_selected(self, event: DataTable.RowSelected) -> None:
        post = self.query_one("#mini-stream", PostStream).selected_post()
        if post is not None:
            self.dash.open_post(post)

    @on(TopicTable.SpikeClicked)
    def _spike_clicked(self, event: TopicTable.SpikeClicked) -> None:
        self.dash.select_topic(event.topic)
        self.dash.open_alerts(event.topic)

    def action_open_alerts(self) -> None:
        self.dash.open_alerts(self.dash.topic)

    def action_toggle_details(self) -> None:
        self.dash.details = not self.dash.details
        self.dash.redraw()

    async def action_open_topic(self) -> None:
        await self.dash.action_view("topic")
