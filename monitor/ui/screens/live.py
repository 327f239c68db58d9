"""Live stream: the newest posts as they arrive, filtered by topic, source, class and free text."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Select, Static

from monitor.ui.data import LIVE_ROWS, LiveFilter, Snapshot
from monitor.ui.format import Palette, count, one_line
from monitor.ui.screens.base import MainScreen
from monitor.ui.widgets.tables import PostStream

CLASSES = (
    ("▲ positive", "positive"),
    ("▼ negative", "negative"),
    ("● neutral", "neutral"),
    ("? unscored", "unscored"),
)


class LiveScreen(MainScreen):
    VIEW = "live"
    LABEL = "Live"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "slash", "search", "search text and authors", key_display="/", id="monitor.live.search"
        ),
        Binding("x", "clear_filters", "clear every filter", id="monitor.live.clear"),
        Binding("space", "pause", "pause / resume the stream", id="monitor.live.pause"),
        Binding(
            "escape",
            "leave",
            "leave the search box, then back",
            key_display="esc",
            id="monitor.live.leave",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter = LiveFilter()
        self.paused = False
        self._topic_options: tuple[tuple[Text, str], ...] = ()
        self._source_options: tuple[str, ...] = ()

    def body(self) -> ComposeResult:
        with Horizontal(id="filters"):
            yield Select[str]((), prompt="any topic", compact=True, id="f-topic")
            yield Select[str]((), prompt="any source", compact=True, id="f-source")
            yield Select[str](CLASSES, prompt="any class", compact=True, id="f-class")
            yield Input(placeholder="/ search text or author", compact=True, id="f-text")
        yield Static(id="live-status", classes="panel-title")
        yield PostStream(cap=LIVE_ROWS, id="stream")

    def on_mount(self) -> None:
        self.query_one("#stream", PostStream).focus()

    def live_request(self) -> tuple[LiveFilter | None, int | None, int]:
        if self.paused:
            return None, None, 0
        return self.filter, self.query_one("#stream", PostStream).cursor, LIVE_ROWS

    def apply(self, snapshot: Snapshot, palette: Palette) -> None:
        self._sync_options(snapshot)
        stream = self.query_one("#stream", PostStream)
        if snapshot.request.live is not None:
            stream.add_posts(snapshot.posts, palette, snapshot.now, snapshot.live_cursor)
        status = Text(end="")
        if self.paused:
            status.append("⏸ paused (space resumes)  ", style=f"bold {palette.warn}")
        shown = len(stream.posts)
        status.append(
            f"{count(shown)} newest matching posts" if shown else "no matching posts yet",
            style=palette.muted,
        )
        if self.has_class("-wide"):
            status.append(
                f" · at most {LIVE_ROWS} kept here, every post stays in the store",
                style=palette.muted,
            )
        else:
            status.append(f" (at most {LIVE_ROWS} here; all in the store)", style=palette.muted)
        self.query_one("#live-status", Static).update(status)

    def _sync_options(self, snapshot: Snapshot) -> None:
        topics = tuple((Text(one_line(t.title, 40)), t.name) for t in snapshot.topic_infos)
        if topics != self._topic_options:
            self._topic_options = topics
            self._set_options("#f-topic", topics)
        if snapshot.source_names != self._source_options:
            self._source_options = snapshot.source_names
            self._set_options(
                "#f-source", tuple((Text(one_line(s, 40)), s) for s in snapshot.source_names)
            )

    def _set_options(self, selector: str, options: tuple[tuple[Text, str], ...]) -> None:
        """Labels are Text: topic titles and source names are never read as markup."""
        select = self.query_one(selector, Select)
        value = select.value
        with select.prevent(Select.Changed):
            select.set_options(options)
            if value is not Select.BLANK and any(v == value for _, v in options):
                select.value = value

    def _set_filter(self, **changes: object) -> None:
        new = LiveFilter(
            **{
                **{f: getattr(self.filter, f) for f in ("topic", "source", "sentiment", "text")},
                **changes,
            }
        )
        if new == self.filter:
            return
        self.filter = new
        self.query_one("#stream", PostStream).clear_posts()
        self.dash.refresh_data()

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        value = None if event.value is Select.BLANK else str(event.value)
        field = {"f-topic": "topic", "f-source": "source", "f-class": "sentiment"}.get(
            event.select.id or ""
        )
        if field:
            self._set_filter(**{field: value})

    @on(Input.Changed, "#f-text")
    def _text_changed(self, event: Input.Changed) -> None:
        self._set_filter(text=event.value)

    @on(Input.Submitted, "#f-text")
    def _text_submitted(self) -> None:
        self.query_one("#stream", PostStream).focus()

    @on(DataTable.RowSelected, "#stream")
    def _post_selected(self) -> None:
        post = self.query_one("#stream", PostStream).selected_post()
        if post is not None:
            self.dash.open_post(post)

    def action_search(self) -> None:
        self.query_one("#f-text", Input).focus()

    def action_clear_filters(self) -> None:
        for selector in ("#f-topic", "#f-source", "#f-class"):
            select = self.query_one(selector, Select)
            with select.prevent(Select.Changed):
                select.clear()
        text = self.query_one("#f-text", Input)
        with text.prevent(Input.Changed):
            text.value = ""
        self._set_filter(topic=None, source=None, sentiment=None, text="")

    def action_pause(self) -> None:
        self.paused = not self.paused
        if self.dash.snapshot is not None:
            self.dash.redraw()
        self.dash.refresh_data()

    async def action_leave(self) -> None:
        if isinstance(self.focused, Input):
            self.query_one("#stream", PostStream).focus()
        else:
            await self.dash.action_back()
