"""The help screen: every key, generated from the bindings, and what the marks mean."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

MARKS = """\
▲ positive   ● neutral   ▼ negative   ? unscored (VADER reads English; und: emoji only, scored)
—  no data (no scored posts: never drawn as 0)      ·  not collected / too few to draw
~  tentative: polarization from 10–29 posts, shares or a mean from fewer than 10
n<10  too few posts for polarization   too few (n=3)  too few for a mean (needs 5)
!  a source failed to poll during this time: counts may be low (░ in a sparkline)
[lo hi] / ±  95% interval of the mean (t); shares use Wilson intervals
ER-3  Esteban–Ray polarization over the three classes (0 = one camp, 1 = two equal camps)
B = 4·p+·p-   balance of the two camps;  sigma  spread of the scores
vol 13:00  volume spike: that hour exceeded its EARS-t limit over 7 earlier values (docs/metrics.md)
mood ▼ 11:00  mean sentiment fell (▲ rose) beyond its EWMA limit against the last 28 days
Times are UTC. Mouse: click rows and tabs, scroll with the wheel. Ctrl+P: command palette."""


def keys_text(sections: list[tuple[str, list[Binding]]]) -> Text:
    out = Text(end="")
    for title, bindings in sections:
        out.append(f"{title}\n", style="bold")
        for b in bindings:
            out.append(f"  {b.key_display or b.key:<8}", style="bold")
            out.append(f" {b.description}\n")
        out.append("\n")
    return out


class HelpScreen(ModalScreen[None]):
    LABEL = "Help"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "close", key_display="esc", id="monitor.help.close"),
        Binding("question_mark", "dismiss", "close", key_display="?", id="monitor.help.close2"),
    ]

    def __init__(self, sections: list[tuple[str, list[Binding]]]):
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(keys_text(self.sections), id="help-keys")
            yield Static(
                Text("What the marks mean\n", style="bold", end="") + Text(MARKS, end=""),
                id="help-marks",
            )

    def on_mount(self) -> None:
        self.query_one("#help-box").border_title = "Keys (esc closes)"
