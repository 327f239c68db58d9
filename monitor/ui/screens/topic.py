"""Topic view: the selected topic's charts, breakdowns by source and language, telling posts, hashtags."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from monitor.metrics.formulas import summarize
from monitor.ui.charts import LEGEND
from monitor.ui.data import PostView, Snapshot, TopicDetail
from monitor.ui.format import (
    NO_DATA,
    Palette,
    cell,
    clock,
    compound_text,
    count,
    mean_text,
    one_line,
    polarization_text,
    posts_text,
    share,
    shares_text,
)
from monitor.ui.screens.base import MainScreen
from monitor.ui.screens.overview import spike_text
from monitor.ui.widgets.chart import Chart
from monitor.ui.widgets.tables import Col, set_columns, sync_rows

METRICS = (("er3", "ER-3, two camps"), ("b", "B, balance of camps"), ("sigma", "sigma, spread"))


class TopicScreen(MainScreen):
    VIEW = "topic"
    LABEL = "Topic"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "m", "cycle_metric", "polarization chart: ER-3 / B / sigma", id="monitor.topic.metric"
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.metric = 0
        self._posts: dict[str, PostView] = {}

    def body(self) -> ComposeResult:
        with VerticalScroll(id="topic-body"):
            yield Static(id="topic-head")
            with Container(id="topic-grid"):
                with Vertical(id="topic-charts"):
                    yield Static(id="volume-title", classes="panel-title")
                    yield Chart("volume", id="volume")
                    yield Static(
                        "Mean sentiment (░ 95% interval; needs 5 posts)", classes="panel-title"
                    )
                    yield Chart("sentiment", id="sentiment")
                    yield Static(id="polarization-title", classes="panel-title")
                    yield Chart("polarization", id="polarization")
                    yield Static(LEGEND, classes="legend")
                with Vertical(id="topic-tables"):
                    yield Static("By source", classes="panel-title")
                    yield DataTable(id="by-source", cursor_type="none")
                    yield Static(id="language-title", classes="panel-title")
                    yield DataTable(id="by-language", cursor_type="none")
                    yield Static(
                        "Posts that stand out (enter: read in full)", classes="panel-title"
                    )
                    yield DataTable(id="top-posts", cursor_type="row")
                    yield Static("Co-occurring hashtags", classes="panel-title")
                    yield Static(id="hashtags", classes="legend")

    def apply(self, snapshot: Snapshot, palette: Palette) -> None:
        detail = snapshot.detail
        head = self.query_one("#topic-head", Static)
        if detail is None:
            head.update(
                Text("No topic selected: pick one on the overview (o).", style=palette.muted)
            )
            return
        head.update(self._head(detail, snapshot, palette))
        row = detail.row
        self.query_one("#volume-title", Static).update(
            Text("Posts: all, then ▲ pos ● neu ▼ neg ? unscored", end="")
        )
        key, label = METRICS[self.metric]
        self.query_one("#polarization-title", Static).update(
            Text(f"Polarization: {label} (m: next)", end="")
        )
        for chart_id in ("#volume", "#sentiment", "#polarization"):
            chart = self.query_one(chart_id, Chart)
            chart.metric = key
            chart.show(row.series, palette, snapshot.now)
        self._sources(detail, palette)
        self._languages(detail, palette)
        self._top_posts(detail, palette)
        self._hashtags(detail, palette)

    def _head(self, detail: TopicDetail, snapshot: Snapshot, palette: Palette) -> Text:
        row = detail.row
        s = summarize(row.sums)
        text = Text(one_line(row.info.title, 80), style=f"bold {palette.accent}", end="")
        text.append(f"  {count(row.sums.total)} posts in {snapshot.request.window.key}")
        if row.sums.n_unscored:
            text.append(
                f" ({share(row.sums.n_unscored / row.sums.total)} unscored)", style=palette.muted
            )
        if row.gap:
            text.append("  ! collection gaps", style=f"bold {palette.warn}")
        text.append("\nmean ")
        text.append_text(mean_text(s, palette))
        text.append("   ")
        text.append_text(shares_text(s, palette))
        for label, value in (("ER-3", s.er3), ("B", s.b), ("sigma", s.sigma)):
            text.append(f"   {label} ")
            text.append_text(polarization_text(value, s, palette))
        text.append("\nlatest spike ")
        latest, shift = row.spikes.latest, row.spikes.shift
        if latest is None and shift is None:
            text.append_text(spike_text(row, snapshot.now, palette))
        if latest is not None:
            text.append(f"volume {clock(latest.start, snapshot.now)}", style=f"bold {palette.warn}")
            text.append(
                f" ({count(latest.posts)} posts; limit {latest.limit:.0f}, baseline {latest.baseline:.0f})",
                style=palette.muted,
            )
        if shift is not None:
            arrow, word = ("▲", "rose") if shift.direction == "up" else ("▼", "fell")
            mean = NO_DATA if shift.mean is None else f"{shift.mean:+.2f}"
            text.append(
                f"{'  ' if latest is not None else ''}mood {arrow} {word} {clock(shift.start, snapshot.now)}",
                style=f"bold {palette.warn}",
            )
            text.append(
                f" (mean {mean} over {count(shift.posts)} posts; usual {shift.baseline:+.2f})",
                style=palette.muted,
            )
        return text

    def _sources(self, detail: TopicDetail, palette: Palette) -> None:
        table = self.query_one("#by-source", DataTable)
        set_columns(
            table,
            [
                Col("source", "source"),
                Col("posts", "posts"),
                Col("mean", "mean ±95%"),
                Col("shares", "pos / neg"),
                Col("er3", "ER-3"),
            ],
        )
        rows = []
        for sl in detail.sources:
            s = summarize(sl.sums)
            rows.append(
                (
                    sl.source,
                    [
                        cell(sl.source, 24),
                        posts_text(sl.sums.total, gap=sl.incomplete, palette=palette),
                        mean_text(s, palette, compact=True),
                        shares_text(s, palette),
                        polarization_text(s.er3, s, palette),
                    ],
                )
            )
        sync_rows(table, rows)

    def _languages(self, detail: TopicDetail, palette: Palette) -> None:
        scope = (
            f"newest {count(detail.scanned)} posts" if detail.capped else "all posts in the window"
        )
        self.query_one("#language-title", Static).update(
            Text(f"By language ({scope}; scored: en, und)", end="")
        )
        table = self.query_one("#by-language", DataTable)
        set_columns(
            table,
            [
                Col("lang", "language"),
                Col("posts", "posts"),
                Col("share", "share"),
                Col("unscored", "unscored"),
            ],
        )
        total = sum(sl.posts for sl in detail.languages) or 1
        rows = [
            (
                sl.lang or "?",
                [
                    cell(sl.lang or "not detected", 16),
                    Text(count(sl.posts), end=""),
                    Text(share(sl.posts / total), end=""),
                    Text(
                        share(sl.unscored / sl.posts) if sl.posts else "—",
                        style=palette.muted,
                        end="",
                    ),
                ],
            )
            for sl in detail.languages
        ]
        sync_rows(table, rows)

    def _top_posts(self, detail: TopicDetail, palette: Palette) -> None:
        """The most positive, most negative and most engaged posts: one short "why" column
        (▲ +0.91, ▼ -0.88, ★ 99 engaged) so the text gets the width (enter reads it in full)."""
        table = self.query_one("#top-posts", DataTable)
        # From the terminal's width and the layout rules (dashboard.tcss), not from the table's
        # current size: the first draw may come before the first layout, and the picture must
        # not depend on which came first.
        app_w = self.app.size.width
        own = (
            app_w // 2
            if self.has_class("-roomy")
            else (app_w - 56 if self.has_class("-wide") else app_w)
        )
        avail = own - 1  # a scrollbar, should the rows outgrow the screen
        # each column has a cell of padding on both sides
        author = avail >= (8 + 2) + (16 + 2) + (60 + 2)
        width = max(avail - (8 + 2) - ((16 + 2) if author else 0) - 2, 20)
        cols = (
            [Col("why", "why", 8)]
            + ([Col("author", "author", 16)] if author else [])
            + [Col("text", "text", width)]
        )
        set_columns(table, cols)
        rows = []
        self._posts = {}
        for kind, posts in (
            ("pos", detail.most_positive),
            ("neg", detail.most_negative),
            ("eng", detail.most_engaged),
        ):
            for p in posts:
                key = f"{kind}:{p.id}"
                self._posts[key] = p
                why = (
                    Text(f"★ {count(p.engagement)}", style=palette.accent, end="")
                    if kind == "eng"
                    else compound_text(p.compound, palette)
                )
                cells = (
                    [why]
                    + ([cell(p.author or "", 16, palette.muted)] if author else [])
                    + [cell(p.text, width)]
                )
                rows.append((key, cells))
        sync_rows(table, rows)

    def _hashtags(self, detail: TopicDetail, palette: Palette) -> None:
        widget = self.query_one("#hashtags", Static)
        if not detail.hashtags:
            widget.update(Text("none in the posts read", style=palette.muted))
            return
        text = Text(end="")
        for i, (tag, n) in enumerate(detail.hashtags):
            if i:
                text.append("  ")
            text.append("#" + one_line(tag, 40), style=palette.accent)
            text.append(f" {count(n)}", style=palette.muted)
        widget.update(text)

    @on(DataTable.RowSelected, "#top-posts")
    def _post_selected(self, event: DataTable.RowSelected) -> None:
        post = self._posts.get(str(event.row_key.value))
        if post is not None:
            self.dash.open_post(post)

    def action_cycle_metric(self) -> None:
        self.metric = (self.metric + 1) % len(METRICS)
        self.dash.redraw()


__all__ = ["TopicScreen"]
