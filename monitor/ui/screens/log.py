"""The log view: recent log records of this process (they also go to storage/monitor.log)."""

from __future__ import annotations

import logging

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import RichLog, Static

from monitor.ui.data import Snapshot
from monitor.ui.format import Palette, safe
from monitor.ui.logs import LogEntry
from monitor.ui.screens.base import MainScreen

LEVELS = {
    logging.DEBUG: "· debug",
    logging.INFO: "· info ",
    logging.WARNING: "! warn ",
    logging.ERROR: "✖ error",
    logging.CRITICAL: "✖ CRIT ",
}


def entry_text(e: LogEntry, palette: Palette) -> Text:
    """One record as a line; the message can quote a server, so it is Text, never markup."""
    level = LEVELS.get(e.level, f"  {logging.getLevelName(e.level).lower():<5}")
    style = {
        logging.WARNING: palette.warn,
        logging.ERROR: f"bold {palette.neg}",
        logging.CRITICAL: f"bold {palette.neg}",
    }.get(e.level, palette.muted)
    out = Text(f"{e.created:%H:%M:%S} ", style=palette.muted, end="")
    out.append(level, style=style)
    out.append(f" {safe(e.logger)}: ", style=palette.muted)
    out.append(safe(e.message))
    return out


class LogScreen(MainScreen):
    VIEW = "log"
    LABEL = "Log"

    def __init__(self) -> None:
        super().__init__()
        self._seen = 0

    def body(self) -> ComposeResult:
        yield Static(id="log-where", classes="panel-title")
        yield RichLog(id="log", wrap=True, markup=False, highlight=False, max_lines=1000)

    def apply(self, snapshot: Snapshot, palette: Palette) -> None:
        where = self.dash.log_path
        self.query_one("#log-where", Static).update(
            Text(
                f"Recent log records (UTC); all of them are in {safe(where)}"
                if where
                else "Recent log records (UTC)",
                end="",
            )
        )
        if self.dash.logs is None:
            return
        log = self.query_one("#log", RichLog)
        for entry in self.dash.logs.since(self._seen):
            log.write(entry_text(entry, palette))
            self._seen = entry.seq
