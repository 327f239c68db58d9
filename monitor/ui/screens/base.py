"""What every main screen shares: the top bar, the feed-health status line, and the data contract.

A main screen says what it needs (`live_request`) and draws a snapshot (`apply`); the app does
the fetching. Screens never touch the store, so nothing on the UI thread waits for a database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import events
from textual.app import ComposeResult
from textual.screen import Screen

from monitor.ui.data import LiveFilter, Snapshot, View
from monitor.ui.format import Palette
from monitor.ui.widgets.bars import StatusBar, TopBar

if TYPE_CHECKING:
    from monitor.ui.app import DashboardApp


ROOMY = 160
"""From this many columns screens put panels side by side (the `-roomy` class)."""


class MainScreen(Screen):
    """A screen of the dashboard (one per mode); subclasses compose `body` and implement `apply`."""

    VIEW: ClassVar[View]
    LABEL: ClassVar[str]

    @property
    def dash(self) -> DashboardApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield TopBar()
        yield from self.body()
        yield StatusBar()

    def body(self) -> ComposeResult:
        raise NotImplementedError

    def live_request(self) -> tuple[LiveFilter | None, int | None, int]:
        """(filter, newest id held, row cap) when the screen shows posts; (None, None, 0) when not."""
        return None, None, 0

    def apply(self, snapshot: Snapshot, palette: Palette) -> None:
        """Draw `snapshot`; called inside `app.batch_update()`, at most once a second."""
        raise NotImplementedError

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width >= ROOMY, "-roomy")

    def on_screen_resume(self) -> None:
        self.dash.view_shown(self)

    def on_chart_resized(self) -> None:
        """Charts choose their bucket width from their own width, and the first layout of a screen
        can land after its first snapshot: draw again once the new size is laid out."""
        self.call_after_refresh(self.dash.redraw)
