"""SVG snapshots of every screen over the fixed sample store and clock (pytest-textual-snapshot).

Each screen at 80×24 (dark), 120×40 (light) and 200×60 (dark), plus the overview under NO_COLOR.
Everything drawn is fixed: the store, the provider's clock (NOW), the logs; each picture is taken
once every fetch is applied and the screen has settled twice, so layout-dependent widths are
final. After a deliberate change to the look, review the new pictures and accept them with
`pytest tests/test_ui_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot
from ui_support import HOSTILE_ERROR, NOW, settle

from monitor.ui.app import DARK, LIGHT, DashboardApp
from monitor.ui.data import LiveFilter, Request, StoreProvider
from monitor.ui.logs import LogBuffer, LogEntry

SMALL, MEDIUM, LARGE = (80, 24), (120, 40), (200, 60)


def fixed_logs() -> LogBuffer:
    logs = LogBuffer()
    logs.add(
        LogEntry(0, NOW.replace(minute=1), 20, "monitor.scheduler", "collecting from 4 source(s)")
    )
    logs.add(LogEntry(0, NOW.replace(minute=4), 30, "monitor.ingest", f"reddit: {HOSTILE_ERROR}"))
    logs.add(
        LogEntry(
            0, NOW.replace(minute=5), 40, "monitor.scheduler", "poll of bluesky could not be stored"
        )
    )
    return logs


def app_for(provider: StoreProvider, theme: str) -> DashboardApp:
    return DashboardApp(provider, logs=fixed_logs(), refresh_s=None, theme=theme)


def keys(*pressed: str) -> Callable[[Pilot], Awaitable[None]]:
    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        assert isinstance(app, DashboardApp)
        await settle(app, pilot)
        for key in pressed:
            await pilot.press(key)
            await settle(app, pilot)
        await settle(app, pilot)  # a redraw a resize asked for, then nothing left to do
        await pilot.wait_for_scheduled_animations()

    return run_before


def open_markup_post(provider: StoreProvider) -> Callable[[Pilot], Awaitable[None]]:
    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        assert isinstance(app, DashboardApp)
        await settle(app, pilot)
        post = provider.fetch(Request(view="live", live=LiveFilter(text="mallory"))).posts[0]
        app.open_post(post)
        await pilot.pause()

    return run_before


SCREENS = {
    "overview": (),
    "topic": ("t",),
    "live": ("l",),
    "alerts": ("a",),
    "health": ("h",),
    "log": ("g",),
    "help": ("question_mark",),
}
CASES = [
    (name, size, theme)
    for name in [*SCREENS, "post"]
    for size, theme in ((SMALL, DARK), (MEDIUM, LIGHT), (LARGE, DARK))
]


@pytest.mark.parametrize(
    "name, size, theme", CASES, ids=[f"{n}-{w}x{h}-{t.split('-')[1]}" for n, (w, h), t in CASES]
)
def test_screen(
    snap_compare, provider: StoreProvider, name: str, size: tuple[int, int], theme: str
) -> None:
    run_before = open_markup_post(provider) if name == "post" else keys(*SCREENS[name])
    assert snap_compare(app_for(provider, theme), terminal_size=size, run_before=run_before)


def test_overview_without_colour(
    snap_compare, provider: StoreProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(app_for(provider, DARK), terminal_size=SMALL, run_before=keys())
