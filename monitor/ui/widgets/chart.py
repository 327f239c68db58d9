"""The one chart widget: every chart on screen goes through it, so the drawing can change in one place."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal

from rich.text import Text
from textual.app import RenderResult
from textual.message import Message
from textual.widget import Widget

from monitor.ui import charts
from monitor.ui.format import Palette
from monitor.ui.series import Series

ChartKind = Literal["volume", "sentiment", "polarization"]

_RENDERERS: dict[str, Callable[..., list[Text]]] = {
    "volume": charts.volume_chart,
    "sentiment": charts.sentiment_chart,
    "polarization": charts.polarization_chart,
}


class Chart(Widget):
    """A chart of one series, redrawn at whatever size the layout gives it.

    `show` only stores the data and asks for a repaint; the drawing happens in `render`, at the
    widget's current size, so a resize needs no new data.
    """

    DEFAULT_CSS = """
    Chart { height: 8; width: 1fr; }
    """

    def __init__(
        self,
        kind: ChartKind,
        *,
        metric: str = "er3",
        id: str | None = None,
        classes: str | None = None,
    ):
        super().__init__(id=id, classes=classes)
        self.kind = kind
        self.metric = metric
        self._series: Series | None = None
        self._palette = Palette()
        self._now: datetime | None = None

    class Resized(Message):
        """The layout gave the chart a new size: the screen re-derives what depends on it (the
        bucket width in its title, the room left for post text) from the same snapshot."""

    def on_resize(self) -> None:
        self.post_message(self.Resized())

    def show(self, series: Series | None, palette: Palette, now: datetime | None) -> None:
        self._series, self._palette, self._now = series, palette, now
        self.refresh()

    def render(self) -> RenderResult:
        if self._series is None:
            return Text("no data yet", style="dim")
        width, height = self.size.width, self.size.height
        kwargs = {"metric": self.metric} if self.kind == "polarization" else {}
        lines = _RENDERERS[self.kind](
            self._series, width, height, self._palette, self._now, **kwargs
        )
        return Text("\n", end="").join(lines)
