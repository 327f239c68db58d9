"""Post detail: the whole post, who wrote it where and when, and every score."""

from __future__ import annotations

import webbrowser
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from monitor.metrics.formulas import classify
from monitor.ui.data import PostView
from monitor.ui.format import CLASS_WORD, Palette, compound_text, count, safe


def post_text(p: PostView, palette: Palette, now: datetime | None) -> Text:
    """Everything about a post; every string in it came from a stranger and is Text, never markup."""
    out = Text(safe(p.author) if p.author else "unknown author", style="bold", end="")
    out.append(f"  on {safe(p.source)}", style=palette.muted)
    out.append(
        f"\n{p.created_at:%Y-%m-%d %H:%M:%S} UTC · language {safe(p.lang) if p.lang else 'not detected'}"
    )
    out.append("\nscore ")
    out.append_text(compound_text(p.compound, palette))
    if p.compound is not None:
        out.append(f" ({CLASS_WORD[classify(p.compound)]})")
        if None not in (p.pos, p.neu, p.neg):
            out.append(f" · pos {p.pos:.2f} neu {p.neu:.2f} neg {p.neg:.2f}", style=palette.muted)
    if p.scorer:
        out.append(f" · {safe(p.scorer)} {safe(p.scorer_version or '')}", style=palette.muted)
    elif p.compound is None:
        out.append(" (VADER reads English only)", style=palette.muted)
    out.append(
        f"\nengagement {count(p.engagement)}"
        + (f" ({count(p.reposts)} reposts)" if p.reposts else "")
    )
    if p.topics:
        out.append("\ntopics ")
        out.append(", ".join(safe(t) for t in p.topics))
    if p.tags:
        out.append("\ntags ")
        out.append(" ".join("#" + safe(t) for t in p.tags), style=palette.accent)
    out.append("\nlink ")
    out.append(safe(p.url) if p.url else "none", style=palette.accent if p.url else palette.muted)
    out.append("\n\n")
    out.append(safe(p.text))
    return out


class PostScreen(ModalScreen[None]):
    LABEL = "Post detail"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "close", key_display="esc", id="monitor.post.close"),
        Binding("b", "open_link", "open the link in a browser", id="monitor.post.open"),
    ]

    def __init__(self, post: PostView, palette: Palette, now: datetime | None):
        super().__init__()
        self.post = post
        self._palette = palette
        self._now = now

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="post-box"):
            yield Static(post_text(self.post, self._palette, self._now), id="post-text")
            yield Static(Text("esc close · b open link in browser", style="dim"), classes="legend")

    def on_mount(self) -> None:
        self.query_one("#post-box").border_title = "Post"

    def action_open_link(self) -> None:
        url = (self.post.url or "").strip()
        if url.lower().startswith(("https://", "http://")):
            webbrowser.open(url)
        else:
            self.notify("This post has no web link.", severity="warning")
