"""Every number and every stranger's string the dashboard draws, as Rich `Text`.

Two rules live here so that no screen can forget them:

- Untrusted text (post bodies, authors, URLs, tags, feed and source names, error and log
  messages) only ever becomes `Text(sanitize(...))`: never markup, and stripped of control and
  bidi characters again at display time even though ingest already did (defence in depth: a
  store written by an older version, or by hand, must not reach the terminal raw).
- metrics.md §3: n = 0 is "no data" (or —), never 0; a metric the display rules withhold says
  why ("too few"); tentative numbers carry `~`; sentiment is a symbol first (▲ ▼ ●) and a
  colour second, so that NO_COLOR and colour-blind readers lose nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from rich.text import Text

from monitor.core.text import sanitize
from monitor.metrics.formulas import Display, Summary, classify

NO_DATA = "—"
TENTATIVE = "~"
GAP = "!"
ELLIPSIS = "…"

SYMBOL = {1: "▲", 0: "●", -1: "▼"}
UNSCORED_SYMBOL = "?"
CLASS_WORD = {1: "positive", 0: "neutral", -1: "negative"}


@dataclass(frozen=True, slots=True)
class Palette:
    """Concrete colours for Rich `Text` (DataTable cells cannot resolve theme variables).

    Rebuilt from the theme whenever it changes, so light and dark themes both stay readable.
    """

    pos: str = "#8AD4A1"
    neg: str = "#D17E92"
    warn: str = "#FFC473"
    accent: str = "#0178D4"
    muted: str = "dim"

    @classmethod
    def from_theme(cls, variables: Mapping[str, str]) -> Palette:
        default = cls()
        return cls(
            pos=variables.get("text-success", default.pos),
            neg=variables.get("text-error", default.neg),
            warn=variables.get("text-warning", default.warn),
            accent=variables.get("text-accent", default.accent),
        )

    def for_class(self, cls: int) -> str:
        return {1: self.pos, -1: self.neg}.get(cls, "")


# --- untrusted text ---------------------------------------------------------------------------

_SPACES = re.compile(r"\s+")


def safe(value: object) -> str:
    """A stranger's string, stripped again of control, escape and bidi characters."""
    return sanitize("" if value is None else str(value))


def one_line(value: object, limit: int) -> str:
    """Safe text on one line (newlines and runs of spaces collapsed), cut to `limit` cells."""
    text = _SPACES.sub(" ", safe(value)).strip()
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + ELLIPSIS


def plain(value: object, style: str = "") -> Text:
    """Untrusted text as a Text object: never parsed as markup."""
    return Text(safe(value), style=style, end="")


def cell(value: object, limit: int, style: str = "") -> Text:
    return Text(one_line(value, limit), style=style, end="", no_wrap=True, overflow="ellipsis")


# --- numbers ----------------------------------------------------------------------------------


def signed(x: float, digits: int = 2) -> str:
    """+0.12 / -0.08 / 0.00: the sign is always there, so columns line up and 0 reads as 0."""
    text = f"{x:+.{digits}f}"
    return text[1:] if float(text) == 0 else text


def count(n: int) -> str:
    return f"{n:,}"


def posts_text(n: int, *, gap: bool, palette: Palette) -> Text:
    """A post count; `!` when collection had gaps in the window, so it may be an undercount."""
    out = Text(count(n), end="")
    if gap:
        out.append(GAP, style=f"bold {palette.warn}")
    return out


def mean_text(s: Summary, palette: Palette, *, compact: bool = False) -> Text:
    """Mean compound with its 95% interval: "▲ +0.12 [-0.03 +0.27]" (compact: "▲ +0.12 ±0.15")."""
    if s.display is Display.NO_DATA:
        return Text("no data", style=palette.muted, end="")
    if s.mean is None:
        return Text(f"too few (n={s.n})", style=palette.muted, end="")
    cls = classify(s.mean)
    out = Text(f"{SYMBOL[cls]} {signed(s.mean)}", style=palette.for_class(cls), end="")
    if s.mean_lo is not None and s.mean_hi is not None:
        if compact:
            half = max(s.mean_hi - s.mean, s.mean - s.mean_lo)
            out.append(f" ±{half:.2f}", style=palette.muted)
        else:
            out.append(f" [{signed(s.mean_lo)} {signed(s.mean_hi)}]", style=palette.muted)
    if s.display is Display.MEAN_ONLY:
        out.append(TENTATIVE)
    return out


def share(x: float | None) -> str:
    return NO_DATA if x is None else f"{x:.0%}"


def shares_text(s: Summary, palette: Palette) -> Text:
    """Positive / negative shares of scored posts; tentative below n = 10."""
    if s.display is Display.NO_DATA:
        return Text(NO_DATA, style=palette.muted, end="")
    mark = TENTATIVE if s.n < 10 else ""
    out = Text(f"▲{share(s.pos_share)}", style=palette.pos, end="")
    out.append(" ")
    out.append(f"▼{share(s.neg_share)}", style=palette.neg)
    out.append(mark)
    return out


def polarization_text(value: float | None, s: Summary, palette: Palette) -> Text:
    """ER-3, B or sigma under the display rules: —, "n<10", "0.38~" (n 10–29) or "0.61"."""
    if s.display is Display.NO_DATA:
        return Text(NO_DATA, style=palette.muted, end="")
    if value is None:
        return Text("n<10", style=palette.muted, end="")
    return Text(f"{value:.2f}" + (TENTATIVE if s.display is Display.TENTATIVE else ""), end="")


def compound_text(compound: float | None, palette: Palette) -> Text:
    """One post's score: "▲ +0.71"; unscored posts (other languages) say so."""
    if compound is None:
        return Text(f"{UNSCORED_SYMBOL} unscored", style=palette.muted, end="")
    cls = classify(compound)
    return Text(f"{SYMBOL[cls]} {signed(compound)}", style=palette.for_class(cls), end="")


# --- times ------------------------------------------------------------------------------------


def clock(dt: datetime | None, now: datetime | None = None) -> str:
    """14:05, or "Mar 03 14:05" when not on the same UTC day as `now`."""
    if dt is None:
        return NO_DATA
    if now is not None and dt.date() == now.date():
        return f"{dt:%H:%M}"
    return f"{dt:%b %d %H:%M}"


def span(td: timedelta) -> str:
    """A duration the way people say it: 45 s, 12 min, 3 h 5 min, 2 d 4 h."""
    s = int(abs(td.total_seconds()))
    if s < 90:
        return f"{s} s"
    if s < 3600:
        return f"{round(s / 60)} min"
    if s < 86400:
        h, m = divmod(round(s / 60), 60)
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(round(s / 3600), 24)
    return f"{d} d {h} h" if h else f"{d} d"


def ago(dt: datetime | None, now: datetime) -> str:
    if dt is None:
        return "never"
    return "just now" if abs((now - dt).total_seconds()) < 1 else f"{span(now - dt)} ago"


def until(dt: datetime | None, now: datetime) -> str:
    if dt is None:
        return NO_DATA
    delta = dt - now
    if delta.total_seconds() < 0:
        return f"due {span(delta)} ago"
    return f"in {span(delta)}"


def bucket_words(step_s: int) -> str:
    """60 → "1 min", 900 → "15 min", 3600 → "1 h", 86400 → "1 d"."""
    if step_s % 86400 == 0:
        return f"{step_s // 86400} d"
    if step_s % 3600 == 0:
        return f"{step_s // 3600} h"
    return f"{step_s // 60} min"


__all__ = [
    "ELLIPSIS",
    "GAP",
    "NO_DATA",
    "Palette",
    "SYMBOL",
    "TENTATIVE",
    "ago",
    "bucket_words",
    "cell",
    "clock",
    "compound_text",
    "count",
    "mean_text",
    "one_line",
    "plain",
    "polarization_text",
    "posts_text",
    "safe",
    "share",
    "shares_text",
    "signed",
    "span",
    "until",
]


# --- feed health in words ---------------------------------------------------------------------

STATUS_LABEL = {
    "ok": "✓ ok",
    "failing": "✖ failing",
    "partial": "! partial",
    "overdue": "◷ overdue",
    "never": "○ pending",
    "disabled": "- disabled",
}


def status_text(status: str, palette: Palette) -> Text:
    style = {
        "failing": f"bold {palette.neg}",
        "partial": palette.warn,
        "overdue": palette.warn,
        "ok": palette.pos,
    }.get(status, palette.muted)
    return Text(STATUS_LABEL.get(status, status), style=style, end="")


def source_problem(h, now: datetime) -> str:
    """What is wrong with a source, in words a reader can act on (h: data.SourceHealth)."""
    name = safe(h.name)
    error = one_line(h.last_error or "no error message", 300)
    if h.status == "failing":
        since = f" since {clock(h.failing_since, now)}" if h.failing_since else ""
        tries = (
            "1 failure"
            if h.consecutive_failures == 1
            else f"{h.consecutive_failures} failures in a row"
        )
        return f"{name}: {error} — failing{since} ({tries}), next try {until(h.next_poll_at, now)}"
    if h.status == "partial":
        return f"{name}: partly fetched: {error} — next try {until(h.next_poll_at, now)}"
    if h.status == "overdue":
        return (
            f"{name}: no poll since {clock(h.last_poll_at, now)} (next was due {ago(h.next_poll_at, now)}); "
            "is the collector running?"
        )
    if h.status == "never":
        return f"{name}: not polled yet"
    return f"{name}: ok"
