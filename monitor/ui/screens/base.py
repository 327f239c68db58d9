"""What every main screen shares: the top bar, the feed-health status line, and the data contract.

A main screen says what it needs (`live_request`) and draws a snapshot (`apply`); the app does
the fetching. Screens never touch the store, so nothing on the UI thread waits for a database.

What a screen may ask of the app is the `Dashboard` protocol below, not the app class: screens
and widgets do not import `monitor.ui.app` (an import-linter contract), so the app can import
every screen without a cycle, and a screen can be tested inside any app that offers these.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Protocol, cast

from textual import events
from textual.app import ComposeResult
from textual.screen import Screen

from monitor.ui.data import LiveFilter, PostView, Snapshot, View, Window
from monitor.ui.format import Palette
from monitor.ui.logs import LogBuffer
from monitor.ui.widgets.bars import StatusBar, TopBar


class Dashboard(Protocol):
    """What screens read and call on the dashboard app (monitor.ui.app.DashboardApp)."""

    snapshot: Snapshot | None
    palette: Palette
    window: Window
    topic: str | None
    details: bool
    """B and sigma beside ER-3 on the overview."""
    alert_focus: str | None
    """The topic whose latest alert the alerts screen selects when it opens."""
    logs: LogBuffer | None
    log_path: Path | None

    def redraw(self) -> None: ...
    def refresh_data(self) -> None: ...
    def view_shown(self, screen: MainScreen) -> None: ...
    def select_topic(self, name: str) -> None: ...
    def open_alerts(self, topic: str | None) -> None: ...
    def open_post(self, post: PostView) -> None: ...
    async def action_view(self, view: str) -> None: ...
    async def action_back(self) -> None: ...


ROOMY = 160
"""From this many columns screens put panels side by side (the `-roomy` class)."""


class MainScreen(Screen):
    """A screen of the dashboard (one per mode); subclasses compose `body` and implement `apply`."""

    VIEW: ClassVar[View]
    LABEL: ClassVar[str]

    @property
    def dash(self) -> Dashboard:
        # DashboardApp checks against the protocol where it is defined (monitor.ui.app)
        return cast(Dashboard, self.app)

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
