"""The dashboard app: key bindings, the refresh loop, and what every screen shares.

The refresh loop follows Dolphie: a thread worker only fetches (`DataProvider.fetch`), the next
fetch is scheduled a second after the last one finished (fetches never overlap), a result for a
request that is no longer current is dropped, hidden screens and open modals are not redrawn,
and a snapshot is applied inside `batch_update()` so the terminal repaints once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, cast

from rich.text import Text
from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from monitor.ui.data import (
    DEFAULT_WINDOW,
    LIVE_ROWS,
    WINDOW_BY_KEY,
    WINDOWS,
    DataProvider,
    PostView,
    Request,
    Snapshot,
    TopicInfo,
    Window,
)
from monitor.ui.format import Palette, clock, one_line, source_problem
from monitor.ui.logs import LogBuffer
from monitor.ui.screens.alerts import AlertsScreen
from monitor.ui.screens.base import Dashboard, MainScreen
from monitor.ui.screens.health import HealthScreen
from monitor.ui.screens.help import HelpScreen
from monitor.ui.screens.live import LiveScreen
from monitor.ui.screens.log import LogScreen
from monitor.ui.screens.overview import OverviewScreen
from monitor.ui.screens.post import PostScreen
from monitor.ui.screens.topic import TopicScreen
from monitor.ui.widgets.bars import StatusBar, TopBar

log = logging.getLogger(__name__)

DARK, LIGHT = "textual-dark", "textual-light"
SLOW_REFRESH_S = 0.5  # a refresh slower than this is logged: the store may need attention
MAX_STALE_REFETCH = (
    3  # immediate re-reads after dropping stale snapshots, before waiting for the tick
)
SCREENS_IN_ORDER: tuple[type[MainScreen], ...] = (
    OverviewScreen,
    TopicScreen,
    LiveScreen,
    AlertsScreen,
    HealthScreen,
    LogScreen,
)


def _window_bindings() -> list[BindingType]:
    return [
        Binding(
            str(i),
            f"window('{w.key}')",
            f"window {w.key}",
            key_display=str(i),
            id=f"monitor.window.{w.key}",
        )
        for i, w in enumerate(WINDOWS, start=1)
    ]


class DashboardApp(App[None]):
    """reaction-monitor's live dashboard over any `DataProvider`.

    `refresh_s=None` turns the periodic refresh off: tests then call `refresh_data()` and wait
    for `idle()`, so nothing depends on the real clock.
    """

    # packaged with monitor/data
    CSS_PATH = str(Path(__file__).resolve().parents[1] / "data" / "dashboard.tcss")
    TITLE = "reaction-monitor"
    MODES: ClassVar[dict[str, str | Callable[[], Screen]]] = {s.VIEW: s for s in SCREENS_IN_ORDER}
    DEFAULT_MODE = "overview"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (40, "-tall")]
    ENABLE_COMMAND_PALETTE = True

    BINDINGS: ClassVar[list[BindingType]] = [
        *_window_bindings(),
        Binding("o", "view('overview')", "overview", id="monitor.view.overview"),
        Binding("t", "view('topic')", "topic view", id="monitor.view.topic"),
        Binding("l", "view('live')", "live stream", id="monitor.view.live"),
        Binding("a", "view('alerts')", "alerts", id="monitor.view.alerts"),
        Binding("h", "view('health')", "feed health", id="monitor.view.health"),
        Binding("g", "view('log')", "log", id="monitor.view.log"),
        Binding(
            "left_square_bracket",
            "topic(-1)",
            "previous topic",
            key_display="[",
            id="monitor.topic.previous",
        ),
        Binding(
            "right_square_bracket",
            "topic(1)",
            "next topic",
            key_display="]",
            id="monitor.topic.next",
        ),
        Binding("d", "toggle_dark", "dark / light theme", id="monitor.theme"),
        Binding("r", "refresh", "read everything again", id="monitor.refresh"),
        Binding(
            "s",
            "screenshot",
            "save a screenshot (SVG, in <storage>/screenshots)",
            id="monitor.screenshot",
        ),
        Binding("escape", "back", "back to the overview", key_display="esc", id="monitor.back"),
        Binding("question_mark", "help", "help: every key", key_display="?", id="monitor.help"),
        Binding("q", "quit", "quit", id="monitor.quit"),
    ]

    def __init__(
        self,
        provider: DataProvider,
        *,
        logs: LogBuffer | None = None,
        log_path: Path | None = None,
        refresh_s: float | None = 1.0,
        window: Window = DEFAULT_WINDOW,
        theme: str = DARK,
        screenshot_dir: Path | None = None,
        replay: Any = None,
    ):
        super().__init__()
        self.screenshot_dir = screenshot_dir or Path("storage").resolve() / "screenshots"
        self.replay = (
            replay  # the demo's replay (monitor.simulator.replay.Replay): progress in the top bar
        )
        self.alert_focus: str | None = (
            None  # the topic whose latest alert the alerts screen selects
        )
        self.provider = provider
        self.logs = logs
        self.log_path = log_path
        self.refresh_s = refresh_s
        self.window = window
        self.topic: str | None = None
        self.details = False  # B and sigma beside ER-3
        self.snapshot: Snapshot | None = None
        self.topics: tuple[TopicInfo, ...] = ()
        self.palette = Palette()
        self.fetch_error: str | None = None
        self._fetching = False
        self._inflight: tuple[object, ...] | None = None
        self._again = False
        self._stale_in_row = 0
        self._timer: Timer | None = None
        self._initial_theme = theme

    # --- life cycle -------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.theme = self._initial_theme
        self.palette = Palette.from_theme(self.get_css_variables())
        # The first fetch starts when the first screen is shown (MainScreen.on_screen_resume).

    def _theme_changed(self, _theme: object) -> None:
        self.palette = Palette.from_theme(self.get_css_variables())
        self.redraw()

    # --- the refresh loop -------------------------------------------------------------------
    def refresh_data(self) -> None:
        """Fetch a snapshot for the visible screen now, or right after the fetch in flight.

        A request for what is already being fetched is not queued again: mode switches, resumes
        and key presses often ask for the same view several times in a row.
        """
        request = self._request()
        if self._fetching:
            self._again = self._again or request is None or request.key != self._inflight
            return
        if request is None:  # a modal is open: nothing visible to redraw
            self._schedule()
            return
        self._fetching, self._inflight = True, request.key
        self._fetch(request)

    @work(thread=True, exit_on_error=False, group="fetch", name="fetch")
    def _fetch(self, request: Request) -> Snapshot:
        return self.provider.fetch(request)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "fetch" or event.state not in (
            WorkerState.SUCCESS,
            WorkerState.ERROR,
            WorkerState.CANCELLED,
        ):
            return
        self._fetching = False
        if event.state is WorkerState.SUCCESS:
            self.fetch_error = None
            # a finished worker of the fetch group is `_fetch`: its result is a Snapshot
            self._receive(cast(Snapshot, event.worker.result))
        elif event.state is WorkerState.ERROR:
            error = event.worker.error
            self.fetch_error = f"cannot read the store: {type(error).__name__}: {error}"
            log.warning("%s", self.fetch_error, exc_info=error)
            self._draw_bars()
        if self._again:
            self._again = False
            self.refresh_data()
        else:
            self._schedule()

    def _schedule(self) -> None:
        if self.refresh_s is None:
            return
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(self.refresh_s, self.refresh_data)

    def _request(self) -> Request | None:
        screen = self.screen
        if not isinstance(screen, MainScreen):
            return None
        live, after, limit = screen.live_request()
        return Request(
            view=screen.VIEW,
            window=self.window,
            topic=self.topic,
            live=live,
            live_after=after,
            live_limit=limit or LIVE_ROWS,
        )

    def _receive(self, snapshot: Snapshot) -> None:
        for alert in snapshot.new_alerts:  # news on every screen, even when the snapshot is stale
            self.notify(
                one_line(alert.summary, 300),
                title=f"alert: {one_line(alert.topic, 60)} (a: alerts)",
                severity="warning",
                timeout=12,
                markup=False,
            )
        current = self._request()
        if current is None:
            return
        if snapshot.request.key != current.key:  # the reader moved on while this was read
            self._stale_in_row += 1
            if self._stale_in_row <= MAX_STALE_REFETCH:  # beyond that, the regular tick tries again
                self._again = True
            return
        self._stale_in_row = 0
        self.snapshot = snapshot
        if snapshot.took_s > SLOW_REFRESH_S:
            log.info("reading the %s view took %.1f s", current.view, snapshot.took_s)
        if snapshot.topic_infos:
            self.topics = snapshot.topic_infos
            if self.topic is None or self.topic not in {t.name for t in self.topics}:
                self.topic = self.topics[0].name
                if current.view == "topic":
                    self.refresh_data()
        self.redraw()

    def redraw(self) -> None:
        """Draw the latest snapshot on the visible screen, if it was read for what that screen shows."""
        screen = self.screen
        if not isinstance(screen, MainScreen):
            return
        if self.snapshot is None:  # the first read is under way: say so rather than show nothing
            self._draw_bars()
            return
        current = self._request()
        if current is None or self.snapshot.request.key != current.key:
            self._draw_bars()
            return
        with self.batch_update():
            self._draw_bars()
            screen.apply(self.snapshot, self.palette)

    def view_shown(self, screen: MainScreen) -> None:
        """A main screen became visible (mode switch, modal closed): draw what we have, then refresh."""
        self.redraw()
        self.refresh_data()

    async def idle(self) -> None:
        """Wait until no fetch is running or queued and the last result is applied (for tests)."""
        while self._fetching or self._again:
            await self.workers.wait_for_complete()
            await asyncio.sleep(0.01)

    # --- bars ---------------------------------------------------------------------------------
    def _draw_bars(self) -> None:
        screen = self.screen
        if not isinstance(screen, MainScreen):
            return
        screen.query_one(TopBar).show(*self._top_text(screen))
        screen.query_one(StatusBar).show(self._problem_text(), self._hints())

    def _top_text(self, screen: MainScreen) -> tuple[Text, Text]:
        p = self.palette
        left = Text("reaction-monitor", style="bold", end="")
        left.append(f" › {screen.LABEL}")
        if screen.VIEW == "topic" and self.topic is not None:
            title = next((t.title for t in self.topics if t.name == self.topic), self.topic)
            left.append(" › ")
            left.append(one_line(title, 60), style=f"bold {p.accent}")
        wide = screen.has_class("-wide")
        right = Text(f"window {self.window.key}" if wide else self.window.key, style="bold", end="")
        snap = self.snapshot
        if self.replay is not None:  # the demo: simulated time and how much of the story has played
            right.append(" · ")
            right.append(self.replay.words(wide=wide), style=f"bold {p.accent}")
        elif snap is not None:
            right.append(f" · {clock(snap.now, snap.now)} UTC")
        if snap is not None:
            enabled = [s for s in snap.sources if s.status != "disabled"]
            ok = sum(1 for s in enabled if s.status == "ok")
            bad = len(enabled) - ok - sum(1 for s in enabled if s.status == "never")
            symbol, style = ("●", p.pos) if not bad else ("✖", p.neg)
            right.append(" · ")
            right.append(
                f"{symbol} {ok}/{len(enabled)} {'sources ok' if wide else 'ok'}", style=style
            )
        return left, right

    def _problem_text(self) -> Text:
        p = self.palette
        if self.fetch_error:
            return Text(f"✖ {one_line(self.fetch_error, 300)}", style=f"bold {p.neg}", end="")
        snap = self.snapshot
        if snap is None:
            return Text("reading the store…", style=p.muted, end="")
        urgent = snap.most_urgent()
        if urgent is None:
            waiting = sum(1 for s in snap.sources if s.status == "never")
            words = (
                "● every source ok" if not waiting else f"● no failures · {waiting} not polled yet"
            )
            return Text(words if snap.sources else "no sources configured", style=p.muted, end="")
        style = f"bold {p.neg}" if urgent.status == "failing" else f"bold {p.warn}"
        others = sum(1 for s in snap.sources if s.status in ("failing", "partial", "overdue")) - 1
        text = Text(f"! {source_problem(urgent, snap.real_now)}", style=style, end="")
        if others > 0:
            text.append(f"  (+{others} more: h)", style=p.muted)
        return text

    def _hints(self) -> Text:
        return Text(
            "1-5 window  o t l a h g views  ? help  q quit", style=self.palette.muted, end=""
        )

    # --- actions ------------------------------------------------------------------------------
    def action_window(self, key: str) -> None:
        self.window = WINDOW_BY_KEY[key]
        self._draw_bars()
        self.refresh_data()

    async def action_view(self, view: str) -> None:
        if self.current_mode != view:
            await self.switch_mode(view)

    async def action_back(self) -> None:
        if isinstance(self.screen, MainScreen) and self.current_mode != "overview":
            await self.switch_mode("overview")

    def action_topic(self, step: int) -> None:
        names = [t.name for t in self.topics]
        if not names:
            return
        i = names.index(self.topic) if self.topic in names else 0
        self.select_topic(names[(i + step) % len(names)])

    def select_topic(self, name: str) -> None:
        """Make `name` the selected topic on every screen (the overview cursor, the topic view)."""
        if name == self.topic:
            return
        self.topic = name
        screen = self.screen
        if isinstance(screen, MainScreen):
            if screen.VIEW == "topic":
                self._draw_bars()
                self.refresh_data()
            elif screen.VIEW == "overview" and self.snapshot is not None:
                self.redraw()

    def action_toggle_dark(self) -> None:
        self.theme = LIGHT if self.theme == DARK else DARK

    def action_refresh(self) -> None:
        """Read everything again, not just what changed (a store repaired by hand, a doubt)."""
        reset = getattr(self.provider, "reset", None)
        if reset is not None:
            reset()
        self.notify("reading everything again", timeout=2)
        self.refresh_data()

    def deliver_screenshot(
        self, filename: str | None = None, path: str | None = None, time_format: str | None = None
    ) -> str | None:
        """Screenshots (key `s`, and the palette's "Screenshot") go beside the store, not to ~/Downloads."""
        folder = Path(path) if path else self.screenshot_dir
        try:
            folder.mkdir(parents=True, exist_ok=True)
            saved = self.save_screenshot(filename, str(folder), time_format)
        except OSError as exc:
            self.notify(
                f"cannot save a screenshot in {folder}: {exc.strerror or exc}",
                severity="error",
                markup=False,
            )
            return None
        self.notify(f"screenshot saved: {saved}", timeout=6, markup=False)
        return saved

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        self.deliver_screenshot(filename, path)

    def open_alerts(self, topic: str | None) -> None:
        """The overview's spike mark: the alerts screen, on that topic's latest alert."""
        self.alert_focus = topic
        self.call_later(self.action_view, "alerts")

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.key_sections()))

    def open_post(self, post: PostView) -> None:
        now = self.snapshot.now if self.snapshot else None
        self.push_screen(PostScreen(post, self.palette, now))

    # --- keys in help and in the command palette ----------------------------------------------
    def key_sections(self) -> list[tuple[str, list[Binding]]]:
        """Every binding, grouped as the help screen lists them (built from the bindings themselves)."""
        sections = [("Everywhere", own_bindings(DashboardApp))]
        screens: tuple[type[MainScreen] | type[PostScreen] | type[HelpScreen], ...]
        screens = (*SCREENS_IN_ORDER, PostScreen, HelpScreen)
        for screen in screens:
            if own_bindings(screen):
                sections.append((screen.LABEL, own_bindings(screen)))
        return sections

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """One palette command per action: the app's, then the visible screen's."""
        for b in own_bindings(DashboardApp):
            yield SystemCommand(
                _title(b), f"key: {b.key_display or b.key}", partial(self.run_action, b.action)
            )
        for b in own_bindings(type(screen)):
            yield SystemCommand(
                _title(b),
                f"key: {b.key_display or b.key} ({getattr(screen, 'LABEL', '')})",
                partial(self.run_action, b.action, screen),
            )
        yield from super().get_system_commands(screen)


def own_bindings(cls: type) -> list[Binding]:
    """The bindings a class declares itself (Textual's base classes add tab, copy and the like)."""
    return [b for b in vars(cls).get("BINDINGS", ()) if isinstance(b, Binding)]


def _title(binding: Binding) -> str:
    return binding.description[:1].upper() + binding.description[1:]


def run_dashboard(
    provider: DataProvider,
    *,
    storage_dir: Path,
    collector: Any | None = None,
    refresh_s: float = 1.0,
    replay: Any = None,
) -> None:
    """Run the dashboard in this terminal until the user quits.

    Logging goes to `storage_dir/monitor.log` and the log screen for as long as the dashboard
    is up. A `collector` (anything with start() and stop(wait=)) polls in its own threads
    meanwhile and is stopped, waiting for polls in flight, when the dashboard closes.
    """
    from monitor.ui.logs import dashboard_logging

    buffer = LogBuffer()
    with dashboard_logging(storage_dir, buffer) as path:
        if collector is not None:
            collector.start()
        try:
            DashboardApp(
                provider,
                logs=buffer,
                log_path=path,
                refresh_s=refresh_s,
                screenshot_dir=storage_dir / "screenshots",
                replay=replay,
            ).run()
        finally:
            if collector is not None:
                collector.stop(wait=True)


__all__ = ["DashboardApp", "own_bindings", "run_dashboard"]


def _offers_what_screens_need(app: DashboardApp) -> Dashboard:
    """Never called: mypy checks here that the app satisfies the screens' `Dashboard` protocol."""
    return app
