"""Pilot tests of the dashboard: navigation, windows, filters, help, palette, themes, failures.

The app runs with `refresh_s=None` (no timers) over the fixed sample store and a fixed clock;
each step waits for `app.idle()` (the fetch worker done and applied), never for real time.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from textual.binding import Binding
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select
from ui_support import MARKUP_AUTHOR, NOW, press, screen_text, settle

from monitor.ui.app import MAX_STALE_REFETCH, SCREENS_IN_ORDER, DashboardApp, own_bindings
from monitor.ui.data import LIVE_ROWS, WINDOW_BY_KEY, PostView, Request, Snapshot, StoreProvider
from monitor.ui.screens.help import HelpScreen
from monitor.ui.screens.post import PostScreen
from monitor.ui.widgets.bars import StatusBar
from monitor.ui.widgets.tables import PostStream, cursor_key

Scenario = Callable[[DashboardApp, Pilot], Awaitable[None]]


def run(
    provider: StoreProvider, scenario: Scenario, *, size: tuple[int, int] = (120, 36), **kwargs
) -> None:
    async def main() -> None:
        app = DashboardApp(provider, refresh_s=None, **kwargs)
        async with app.run_test(size=size) as pilot:
            await settle(app, pilot)
            await scenario(app, pilot)

    asyncio.run(main())


def test_overview_windows_and_themes(provider: StoreProvider) -> None:
    """The overview's rows, every window key, and the theme toggle."""

    async def scenario(app: DashboardApp, pilot: Pilot) -> None:
        assert app.current_mode == "overview"
        table = app.screen.query_one("#topics", DataTable)
        assert [str(r.key.value) for r in table.ordered_rows] == [
            "trump-putin-business",
            "russia-sanctions",
            "dmitriev",
            "quiet-topic",
        ]
        text = screen_text(app)
        assert "14:05 UTC" in text and "2/4 sources ok" in text
        assert "vol 13:00" in text  # the volume spike
        assert "no data" in text and "too few (n=3)" in text  # display rules, not zeros
        assert app.topic == "trump-putin-business"
        await press(app, pilot, "down")  # the second topic stays selected through window changes
        for key, window, buckets in (
            ("1", "1h", 60),
            ("2", "6h", 72),
            ("4", "7d", 168),
            ("5", "30d", 120),
            ("3", "24h", 96),
        ):
            await press(app, pilot, key)
            assert app.topic == "russia-sanctions" and cursor_key(table) == "russia-sanctions"
            assert app.window.key == window
            assert app.snapshot is not None and app.snapshot.request.window.key == window
            assert len(app.snapshot.topics[0].series) == buckets
            assert f"window {window}" in screen_text(app)
        dark = app.palette
        await press(app, pilot, "d")
        assert app.theme == "textual-light" and app.palette != dark
        await press(app, pilot, "d")
        assert app.theme == "textual-dark" and app.palette == dark

    run(provider, scenario)


def test_navigation_on_single_keys(provider: StoreProvider) -> None:
    """Views on o t l h g, esc back, enter into a topic, [ ] between topics, a post and back;
    the failing source named in words on every screen."""

    async def scenario(app: DashboardApp, pilot: Pilot) -> None:
        for key, mode in (
            ("t", "topic"),
            ("l", "live"),
            ("h", "health"),
            ("g", "log"),
            ("o", "overview"),
        ):
            await press(app, pilot, key)
            assert app.current_mode == mode
            assert app.snapshot is not None and app.snapshot.request.view == mode
            problem = app.screen.query_one(StatusBar).problem
            assert problem.startswith("! reddit: server said [bold red]no[/]"), mode
            assert "failing since 12:45 (3 failures in a row), next try in 20 min" in problem
        await press(app, pilot, "h", "escape")
        assert app.current_mode == "overview"
        await press(app, pilot, "down", "enter")
        assert app.current_mode == "topic" and app.topic == "russia-sanctions"
        assert "Russia sanctions relief" in screen_text(app)
        await press(app, pilot, "right_square_bracket")
        assert app.topic == "dmitriev"
        assert app.snapshot is not None and app.snapshot.detail is not None
        assert app.snapshot.detail.row.info.name == "dmitriev"
        await press(app, pilot, "left_square_bracket", "left_square_bracket")
        assert app.topic == "trump-putin-business"
        app.screen.query_one("#top-posts", DataTable).focus()
        await press(app, pilot, "enter")
        assert isinstance(app.screen, PostScreen)
        # most positive first
        assert app.screen.post.compound is not None and app.screen.post.compound > 0
        await press(app, pilot, "escape")
        assert app.current_mode == "topic" and not isinstance(app.screen, PostScreen)

    run(provider, scenario, size=(150, 30))


def test_live_filters_search_and_pause(provider: StoreProvider) -> None:
    async def scenario(app: DashboardApp, pilot: Pilot) -> None:
        await press(app, pilot, "l")
        stream = app.screen.query_one("#stream", PostStream)
        assert stream.row_count == LIVE_ROWS
        app.screen.query_one("#f-topic", Select).value = "russia-sanctions"
        await settle(app, pilot)
        assert stream.posts and all("russia-sanctions" in p.topics for p in stream.posts.values())
        app.screen.query_one("#f-class", Select).value = "negative"
        await settle(app, pilot)
        assert stream.posts and all(
            p.compound is not None and p.compound <= -0.05 for p in stream.posts.values()
        )
        await press(app, pilot, "x", "space")
        assert app.snapshot is not None and app.snapshot.request.live is None
        assert "paused" in screen_text(app)
        await press(app, pilot, "space")
        assert app.snapshot is not None and app.snapshot.request.live is not None
        await press(app, pilot, "slash", *"mallory")
        assert isinstance(app.screen.focused, Input)
        assert [p.author for p in stream.posts.values()] == [MARKUP_AUTHOR]
        await press(app, pilot, "enter", "enter")  # leave the box, open the post
        assert isinstance(app.screen, PostScreen) and app.screen.post.author == MARKUP_AUTHOR

    run(provider, scenario, size=(100, 30))


def test_the_live_stream_keeps_the_newest_rows_only(provider: StoreProvider) -> None:
    """New posts go on top by key; the table never holds more than LIVE_ROWS rows."""

    class Growing:
        def __init__(self) -> None:
            self.next_id = 1

        def fetch(self, request: Request) -> Snapshot:
            base = replace(provider.fetch(replace(request, live=None)), request=request)
            if request.live is None or request.view != "live":
                return base
            count = 250
            ids = range(self.next_id + count - 1, self.next_id - 1, -1)
            self.next_id += count
            posts = tuple(
                PostView(
                    id=i,
                    source="mastodon",
                    created_at=NOW - timedelta(seconds=5000 - i),
                    text=f"post {i}",
                    compound=0.5,
                )
                for i in ids
            )
            return replace(base, posts=posts)

    async def scenario(app: DashboardApp, pilot: Pilot) -> None:
        await press(app, pilot, "l")
        stream = app.screen.query_one("#stream", PostStream)
        assert stream.row_count == 250
        await press(app, pilot, "r")
        assert stream.row_count == LIVE_ROWS
        keys = [int(str(r.key.value)) for r in stream.ordered_rows]
        assert keys == list(range(500, 500 - LIVE_ROWS, -1))

    run(Growing(), scenario, size=(100, 30))  # type: ignore[arg-type]


def _all_bindings() -> list[Binding]:
    out = own_bindings(DashboardApp)
    for cls in (*SCREENS_IN_ORDER, PostScreen, HelpScreen):
        out += own_bindings(cls)
    return out


def test_every_binding_has_a_unique_id() -> None:
    ids = [b.id for b in _all_bindings()]
    assert all(ids) and len(ids) == len(set(ids))


def test_help_and_the_command_palette_cover_every_key(provider: StoreProvider) -> None:
    async def scenario(app: DashboardApp, pilot: Pilot) -> None:
        await press(app, pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-keys").render())
        for b in _all_bindings():
            assert b.description in text, b
        await press(app, pilot, "escape")
        assert app.current_mode == "overview" and not isinstance(app.screen, HelpScreen)
        for screen_cls in SCREENS_IN_ORDER:
            screen = screen_cls()
            titles = {c.title.lower() for c in app.get_system_commands(screen)}
            for b in [*own_bindings(DashboardApp), *own_bindings(screen_cls)]:
                assert b.description.lower() in titles, b
        command = next(c for c in app.get_system_commands(app.screen) if c.title == "Window 7d")
        await command.callback()  # a palette command really runs its action
        await settle(app, pilot)
        assert app.window.key == "7d"

    run(provider, scenario, size=(120, 80))


def test_a_snapshot_read_for_a_previous_request_is_dropped(provider: StoreProvider) -> None:
    """The reader switches to 1 h while the 24 h snapshot is being read: it never reaches the screen."""

    class Slow:
        def __init__(self) -> None:
            self.release = threading.Event()
            self.windows: list[str] = []

        def fetch(self, request: Request) -> Snapshot:
            self.windows.append(request.window.key)
            if len(self.windows) == 1:
                self.release.wait(10)
            return provider.fetch(request)

    slow = Slow()
    shown: list[str] = []

    async def main() -> None:
        app = DashboardApp(slow, refresh_s=None)  # type: ignore[arg-type]
        async with app.run_test(size=(100, 30)) as pilot:
            while not slow.windows:
                await pilot.pause()
            app.redraw = lambda: shown.append(app.snapshot.request.window.key)  # type: ignore[method-assign]
            await pilot.press("1")
            slow.release.set()
            await settle(app, pilot)
            assert slow.windows[:2] == ["24h", "1h"] and shown == ["1h"]

    asyncio.run(main())


def test_a_provider_answering_the_wrong_request_does_not_spin(provider: StoreProvider) -> None:
    class Confused:
        calls = 0

        def fetch(self, request: Request) -> Snapshot:
            self.calls += 1
            return provider.fetch(replace(request, window=WINDOW_BY_KEY["7d"]))

    confused = Confused()

    async def scenario(app: DashboardApp, pilot: Pilot) -> None:
        assert confused.calls <= 2 + MAX_STALE_REFETCH  # then it waits for the regular tick

    run(confused, scenario)  # type: ignore[arg-type]


def test_a_store_failure_is_shown_in_words_and_recovers(provider: StoreProvider) -> None:
    class Flaky:
        broken = True

        def fetch(self, request: Request) -> Snapshot:
            if self.broken:
                raise OSError("disk I/O error")
            return provider.fetch(request)

    flaky = Flaky()

    async def scenario(app: DashboardApp, pilot: Pilot) -> None:
        assert (
            "cannot read the store: OSError: disk I/O error"
            in app.screen.query_one(StatusBar).problem
        )
        flaky.broken = False
        await press(app, pilot, "r")
        assert app.screen.query_one(StatusBar).problem.startswith("! reddit")

    run(flaky, scenario, size=(100, 30))  # type: ignore[arg-type]


def test_no_color_keeps_every_meaning_in_symbols(
    provider: StoreProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")

    async def scenario(app: DashboardApp, pilot: Pilot) -> None:
        assert app.no_color
        text = screen_text(app)
        for mark in ("▲", "▼", "●", "~", "!", "—", "✖", "░"):
            assert mark in text, mark

    run(provider, scenario, size=(160, 48))


def test_the_readme_documents_every_key() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Dashboard\n", 1)[1].split("\n## ", 1)[0]
    for b in _all_bindings():
        shown = b.key_display or b.key
        assert f"`{shown}`" in section or (shown.isdigit() and "`1`–`5`" in section), b
