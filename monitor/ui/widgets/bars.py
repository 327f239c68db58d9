"""The two lines every screen has: where you are (top) and what is broken (bottom)."""

from __future__ import annotations

from rich.text import Text
from textual.app import RenderResult
from textual.widget import Widget


def _spread(left: Text, right: Text, width: int) -> Text:
    """`left` flush left, `right` flush right; `left` is cut (with …) when both do not fit."""
    left = left.copy()
    left.truncate(max(width - right.cell_len - 3, 0), overflow="ellipsis")
    gap = max(width - left.cell_len - right.cell_len - 2, 1)
    return Text.assemble(" ", left, " " * gap, right, " ", end="", no_wrap=True)


class TopBar(Widget):
    """App name, screen, window and bucket width, the snapshot's clock, sources at a glance."""

    DEFAULT_CSS = """
    TopBar { height: 1; width: 1fr; background: $panel; color: $text; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._left = Text("reaction-monitor", end="")
        self._right = Text("", end="")

    def show(self, left: Text, right: Text) -> None:
        self._left, self._right = left, right
        self.refresh()

    def render(self) -> RenderResult:
        return _spread(self._left, self._right, self.size.width)


class StatusBar(Widget):
    """The most urgent source problem, in words, on every screen; key hints on the right.

    The problem text carries a stranger's error message: it arrives as a Text built from
    sanitized text, never as markup. When both do not fit, the hints shrink before the problem.
    """

    DEFAULT_CSS = """
    StatusBar { height: 1; width: 1fr; background: $panel; }
    """

    SHORT_HINTS = "? help  q quit"

    def __init__(self) -> None:
        super().__init__()
        self._problem = Text("", end="")
        self._hints = Text(self.SHORT_HINTS, end="")

    def show(self, problem: Text, hints: Text) -> None:
        self._problem, self._hints = problem, hints
        self.refresh()

    @property
    def problem(self) -> str:
        return self._problem.plain

    def render(self) -> RenderResult:
        width = self.size.width
        hints = self._hints
        if self._problem.cell_len + hints.cell_len + 4 > width:
            hints = Text(self.SHORT_HINTS, style=hints.style, end="")
        return _spread(self._problem, hints, width)
