"""Text charts drawn from bucket series: sparklines, volume by class, sentiment band, polarization.

Pure functions from a `Series` and a size to lines of Rich `Text`, so they are cheap, testable
without a terminal, and can be swapped for a plotting library behind the one `Chart` widget.

Each chart names what it draws in its label gutter ("mean", "ER-3", "posts"), so that stacked
charts read without a title line each. Every chart follows metrics.md: a bucket that was never
collected is drawn as `·`, never as 0; a metric the display rules withhold is left out (its axis
cell says `·`); tentative values are muted and their axis cell says `~`; a bucket with a
collection gap says `!` on the axis (and is hatched `░` in a sparkline when nothing was
counted). The marks are characters, not colours.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime

from rich.text import Text

from monitor.metrics.formulas import BucketSums, Display, Summary, classify, summarize
from monitor.ui.format import GAP, SYMBOL, TENTATIVE, Palette, bucket_words, signed
from monitor.ui.series import Series

BLOCKS = " ▁▂▃▄▅▆▇█"
NOT_COLLECTED = "·"
GAP_EMPTY = "░"
AXIS = "─"
GUTTER = 7
LEGEND = f"{GAP} collection gap  {TENTATIVE} tentative  {NOT_COLLECTED} no data or too few"

Lines = list[Text]
_NAMES = {"er3": "ER-3", "b": "B", "sigma": "sigma"}  # what a chart's gutter calls its metric


def _level(value: float, peak: float, steps: int) -> int:
    """Eighth-cells for `value`; anything above zero shows at least one, so it never reads as 0."""
    if value <= 0 or peak <= 0:
        return 0
    return max(1, min(steps, math.ceil(value / peak * steps)))


def sparkline(series: Series, width: int, palette: Palette, style: str = "") -> Text:
    """Posts per bucket in one row of `width` cells, newest at the right edge."""
    if width <= 0:
        return Text("", end="")
    fitted = series.fit(width).tail(width)
    volumes = fitted.volumes()
    peak = max((v for v in volumes if v), default=0)
    out = Text(" " * (width - len(volumes)), end="", no_wrap=True)
    for v, gap in zip(volumes, fitted.incomplete, strict=False):
        if v is None:
            out.append(NOT_COLLECTED, style=palette.muted)
        elif v == 0:
            out.append(GAP_EMPTY if gap else " ", style=palette.warn if gap else "")
        else:
            out.append(
                BLOCKS[_level(v, peak, 8)], style=f"{palette.warn} underline" if gap else style
            )
    return out


# --- layout shared by the multi-row charts --------------------------------------------------------

NICE_STEPS_S = (
    60,
    120,
    300,
    600,
    900,
    1200,
    1800,
    3600,
    7200,
    10800,
    14400,
    21600,
    43200,
    86400,
    172800,
    604800,
)
FILL = 0.66


def plot_step(series: Series, width: int, min_n: int = 0) -> int:
    """The bucket width a chart of `width` cells draws `series` at (its axis names it).

    The finest width a person would name ("30 min", "2 h") whose columns fill at least 2/3 of
    the plot; when none does, the one that fills it best. Buckets merge exactly (sums of sums).
    A chart of a metric that needs `min_n` scored posts per bucket (a mean 5, polarization 10)
    goes coarser until most buckets with posts have that many, down to 6 columns: a narrow
    terminal or a quiet topic then still shows a line instead of an empty chart.
    """
    plot = max(width - GUTTER, 1)
    n = len(series)
    steps = (
        series.step_s,
        *(s for s in NICE_STEPS_S if s > series.step_s and s % series.step_s == 0),
    )
    best, best_used = series.step_s, 0
    for step in steps:
        columns = n // (step // series.step_s) if step > series.step_s else n
        if columns == 0 or columns > plot:
            continue
        used = columns * (plot // columns)
        if used >= FILL * plot:
            best = step
            break
        if used > best_used:
            best, best_used = step, used
    if min_n <= 0:
        return best
    for step in (s for s in steps if s >= best):
        columns = n // (step // series.step_s)
        if columns < 6:
            break
        merged = [b for b in series.fit(columns).sums if b is not None and b.total > 0]
        if not merged or sum(1 for b in merged if b.n >= min_n) * 2 >= len(merged):
            return step
    return best


class _Grid:
    """Plot columns for a series in `width` cells: a gutter for labels, then one block per bucket."""

    def __init__(self, series: Series, width: int, min_n: int = 0):
        self.plot = max(width - GUTTER, 1)
        self.step_s = plot_step(series, width, min_n)
        group = self.step_s // series.step_s
        self.series = series.fit(max(len(series) // group, 1))
        self.n = len(self.series)
        self.col = max(1, self.plot // max(self.n, 1))
        self.bar = self.col - 1 if self.col >= 3 else self.col  # a space between wide bars

    def row(self, label: str, cells: Sequence[tuple[str, str]], palette: Palette) -> Text:
        """One chart row: a right-aligned label, then each bucket's (character, style)."""
        out = Text(
            f"{label[: GUTTER - 2]:>{GUTTER - 2}} ", style=palette.muted, end="", no_wrap=True
        )
        out.append("│", style=palette.muted)
        for ch, style in cells:
            out.append(ch * self.bar, style=style)
            if self.col > self.bar:
                out.append(" ")
        return out

    def axis(self, marks: Sequence[str], palette: Palette) -> Text:
        styles = {
            GAP: f"bold {palette.warn}",
            TENTATIVE: palette.muted,
            NOT_COLLECTED: palette.muted,
        }
        return self.row("", [(m, styles.get(m, palette.muted)) for m in marks], palette)

    def labels(self, now: datetime | None, palette: Palette) -> Text:
        """Both ends of the plot with their dates (UTC) and, between them, what one column holds,
        so a reader can place a spike: "Mar 02 14:15 ── 30 min buckets ── Mar 03 14:15"."""
        if not self.n:
            return Text("", end="")
        left, right = f"{self.series.start(0):%b %d %H:%M}", f"{self.series.end:%b %d %H:%M}"
        used = max(self.n * self.col, len(left) + len(right) + 2)
        middle = f" {bucket_words(self.step_s)} buckets "
        room = used - len(left) - len(right)
        if room >= len(middle) + 2:
            side = (room - len(middle)) // 2
            fill = " " + "╌" * (side - 1) + middle + "╌" * (room - len(middle) - side - 1) + " "
        else:
            fill = " " * room
        return Text(" " * GUTTER + left + fill + right, style=palette.muted, end="", no_wrap=True)


def _marks(
    series: Series, summaries: Sequence[Summary | None], needs: Callable[[Summary], str | None]
) -> list[str]:
    """Axis marks: gap beats everything, then no data, then whatever `needs` says of the summary."""
    out = []
    for gap, s in zip(series.incomplete, summaries, strict=False):
        if gap:
            out.append(GAP)
        elif s is None:
            out.append(NOT_COLLECTED)
        else:
            out.append(needs(s) or AXIS)
    return out


def _summaries(series: Series) -> list[Summary | None]:
    return [None if b is None else summarize(b) for b in series.sums]


# --- volume by class --------------------------------------------------------------------------


def volume_chart(
    series: Series, width: int, height: int, palette: Palette, now: datetime | None = None
) -> Lines:
    """All posts as bars, then one row per class on a shared scale, then the axis and times.

    Classes as small multiples rather than stacked colours: each row is labelled with its
    symbol, so the split reads the same without colour.
    """
    grid = _Grid(series, width)
    sums = grid.series.sums
    totals = [None if b is None else b.total for b in sums]
    peak = max((v for v in totals if v), default=0)
    by_class = height >= 9  # short: the bars alone, as tall as the space allows
    bar_rows = max(height - (6 if by_class else 2), 1)
    lines: Lines = []
    for r in range(bar_rows):
        floor_ = (bar_rows - 1 - r) * 8
        cells = []
        for v in totals:
            if v is None:
                cells.append((NOT_COLLECTED if r == bar_rows - 1 else " ", palette.muted))
                continue
            eighths = _level(v, peak, bar_rows * 8) - floor_
            cells.append((BLOCKS[max(0, min(8, eighths))], palette.accent))
        label = (
            f"{peak:,}" if r == 0 else ("0" if r == bar_rows - 1 else ("posts" if r == 1 else ""))
        )
        lines.append(grid.row(label, cells, palette))
    classes: list[tuple[str, Callable[[BucketSums], int], str]] = [
        (f"{SYMBOL[1]}pos", lambda b: b.n_pos, palette.pos),
        (f"{SYMBOL[0]}neu", lambda b: b.n_neu, ""),
        (f"{SYMBOL[-1]}neg", lambda b: b.n_neg, palette.neg),
        ("?uns", lambda b: b.n_unscored, palette.muted),
    ]
    class_peak = max((get(b) for _, get, _ in classes for b in sums if b is not None), default=0)
    for label, get, style in classes if by_class else ():
        cells = []
        for b in sums:
            if b is None:
                cells.append((NOT_COLLECTED, palette.muted))
            else:
                cells.append((BLOCKS[_level(get(b), class_peak, 8)], style))
        lines.append(grid.row(label, cells, palette))
    lines.append(
        grid.axis(
            [
                GAP if g else (NOT_COLLECTED if b is None else AXIS)
                for g, b in zip(grid.series.incomplete, sums, strict=False)
            ],
            palette,
        )
    )
    lines.append(grid.labels(now, palette))
    return lines[: max(height, 1)]


# --- mean sentiment with its band -------------------------------------------------------------


def sentiment_chart(
    series: Series, width: int, height: int, palette: Palette, now: datetime | None = None
) -> Lines:
    """Mean compound per bucket (● ▲ ▼ by class) inside its 95% interval band (░).

    The y range zooms to the data (always including 0) because bucket means of real traffic
    rarely leave ±0.3, where a fixed ±1 scale would draw a flat line. Buckets with fewer than 5
    scored posts have no mean (metrics.md §3) and are left empty.
    """
    grid = _Grid(series, width, min_n=5)
    summaries = _summaries(grid.series)
    shown = [s for s in summaries if s is not None and s.mean is not None]
    lo = min(
        [0.0]
        + [s.mean_lo if s.mean_lo is not None else s.mean for s in shown if s.mean is not None]
    )
    hi = max(
        [0.0]
        + [s.mean_hi if s.mean_hi is not None else s.mean for s in shown if s.mean is not None]
    )
    pad = max((hi - lo) * 0.1, 0.05)
    lo, hi = max(lo - pad, -1.0), min(hi + pad, 1.0)
    rows = max(height - 2, 3)
    step = (hi - lo) / rows

    def row_of(v: float) -> int:
        return min(rows - 1, max(0, int((hi - v) / step)))

    zero = row_of(0.0)
    grid_cells: list[list[tuple[str, str]]] = [[(" ", "")] * grid.n for _ in range(rows)]
    for c, s in enumerate(summaries):
        for r in range(rows):
            if r == zero:
                grid_cells[r][c] = ("┈", palette.muted)
        if s is None or s.mean is None:
            continue
        if s.mean_lo is not None and s.mean_hi is not None:
            for r in range(row_of(s.mean_hi), row_of(s.mean_lo) + 1):
                grid_cells[r][c] = ("░", palette.muted)
        cls = classify(s.mean)
        tentative = s.display is Display.MEAN_ONLY
        grid_cells[row_of(s.mean)][c] = (
            SYMBOL[cls],
            palette.muted if tentative else palette.for_class(cls),
        )
    labels = {0: signed(hi), zero: "0", rows - 1: signed(lo)}
    labels.setdefault(next((r for r in range(1, rows) if r not in labels), 0), "mean")
    lines = [grid.row(labels.get(r, ""), grid_cells[r], palette) for r in range(rows)]
    lines.append(
        grid.axis(
            _marks(
                grid.series,
                summaries,
                lambda s: (
                    NOT_COLLECTED
                    if s.mean is None
                    else (TENTATIVE if s.display is Display.MEAN_ONLY else None)
                ),
            ),
            palette,
        )
    )
    lines.append(grid.labels(now, palette))
    return lines[: max(height, 1)]


# --- polarization -----------------------------------------------------------------------------


def polarization_chart(
    series: Series,
    width: int,
    height: int,
    palette: Palette,
    now: datetime | None = None,
    metric: str = "er3",
) -> Lines:
    """ER-3 (or B, sigma) per bucket as bars on the fixed 0–1 scale, tentative bars muted."""
    grid = _Grid(series, width, min_n=10)
    summaries = _summaries(grid.series)
    rows = max(height - 2, 1)
    values = [None if s is None else getattr(s, metric) for s in summaries]
    lines = []
    for r in range(rows):
        floor_ = (rows - 1 - r) * 8
        cells = []
        for s, v in zip(summaries, values, strict=False):
            if v is None:
                cells.append((" ", ""))
                continue
            eighths = _level(v, 1.0, rows * 8) - floor_
            style = (
                palette.muted
                if s is not None and s.display is Display.TENTATIVE
                else palette.accent
            )
            cells.append((BLOCKS[max(0, min(8, eighths))], style))
        name = _NAMES.get(metric, metric)
        if rows <= 2:  # too short for a scale: name the metric (its scale is always 0–1)
            label = name if r == 0 else "0"
        else:
            label = "1" if r == 0 else ("0" if r == rows - 1 else (name if r == 1 else ""))
        lines.append(grid.row(label, cells, palette))
    lines.append(
        grid.axis(
            _marks(
                grid.series,
                summaries,
                lambda s: (
                    NOT_COLLECTED
                    if getattr(s, metric) is None
                    else (TENTATIVE if s.display is Display.TENTATIVE else None)
                ),
            ),
            palette,
        )
    )
    lines.append(grid.labels(now, palette))
    return lines[: max(height, 1)]


__all__ = [
    "LEGEND",
    "plot_step",
    "polarization_chart",
    "sentiment_chart",
    "sparkline",
    "volume_chart",
]
