"""Hourly charts for digests: one drawing, rendered as inline SVG, as PNG, or as a text sparkline.

A chart is built once as a list of shapes (rectangles, lines, short labels) and drawn by two
small back-ends: SVG for the HTML file (self-contained, scales, screen readers get its <title>),
and PNG for e-mail, because most mail clients refuse SVG. The PNG encoder is a few lines of zlib
and needs no imaging library; its labels use a 3×5 pixel font that knows digits and a few signs.
Every chart comes with alt text and, in the documents, a table of its numbers beside it, so a
reader with images blocked loses nothing.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Chart", "sentiment_chart", "sparkline", "volume_chart"]

SPARKS = "▁▂▃▄▅▆▇█"
WIDTH, HEIGHT = 600, 180
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 22

BAR = "#4a78b5"
ALARM = "#c0392b"
GAP = "#b0b0b0"
AXIS = "#555555"
GRID = "#dddddd"
ZERO = "#888888"


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    color: str


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    color: str
    width: int = 1


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "middle"  # start | middle | end


@dataclass(frozen=True)
class Chart:
    """A drawing plus the words that stand in for it."""

    alt: str
    shapes: tuple[Rect | Line | Label, ...]
    width: int = WIDTH
    height: int = HEIGHT

    def svg(self) -> str:
        """Inline SVG; safe to place in HTML as is (every text is escaped here)."""
        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{self.width}" height="{self.height}" '
            f'viewBox="0 0 {self.width} {self.height}" aria-label="{escape(self.alt)}">'
            f"<title>{escape(self.alt)}</title>"
        ]
        for s in self.shapes:
            if isinstance(s, Rect):
                out.append(
                    f'<rect x="{s.x:.1f}" y="{s.y:.1f}" width="{s.w:.1f}" height="{s.h:.1f}" fill="{s.color}"/>'
                )
            elif isinstance(s, Line):
                out.append(
                    f'<line x1="{s.x1:.1f}" y1="{s.y1:.1f}" x2="{s.x2:.1f}" y2="{s.y2:.1f}" '
                    f'stroke="{s.color}" stroke-width="{s.width}"/>'
                )
            else:
                out.append(
                    f'<text x="{s.x:.1f}" y="{s.y:.1f}" font-size="10" font-family="sans-serif" '
                    f'fill="{AXIS}" text-anchor="{s.anchor}">{escape(s.text)}</text>'
                )
        out.append("</svg>")
        return "".join(out)

    def png(self) -> bytes:
        canvas = _Canvas(self.width, self.height)
        for s in self.shapes:
            if isinstance(s, Rect):
                canvas.rect(s.x, s.y, s.w, s.h, s.color)
            elif isinstance(s, Line):
                canvas.line(s.x1, s.y1, s.x2, s.y2, s.color, s.width)
            else:
                canvas.text(s.x, s.y, s.text, s.anchor)
        return canvas.encode()


# --- the two charts -------------------------------------------------------------------------


def _nice_max(value: float) -> float:
    """1, 2 or 5 times a power of ten at or above `value`, for a readable axis."""
    if value <= 0:
        return 1.0
    base = 10 ** math.floor(math.log10(value))
    return next(m * base for m in (1, 2, 5, 10) if m * base >= value)


def _frame(n: int) -> tuple[float, float]:
    """Slot width and plot height for n hourly slots."""
    return (WIDTH - LEFT - RIGHT) / max(n, 1), HEIGHT - TOP - BOTTOM


def _hour_labels(labels: Sequence[str], slot: float) -> list[Label]:
    return [
        Label(LEFT + (i + 0.5) * slot, HEIGHT - 6, label[:2])
        for i, label in enumerate(labels)
        if i % 3 == 0
    ]


def volume_chart(
    labels: Sequence[str],
    totals: Sequence[int],
    alarms: Sequence[bool],
    gaps: Sequence[bool],
    limits: Sequence[float | None],
    alt: str,
) -> Chart:
    """Posts per hour: bars (red where EARS-t alarmed, grey where collection had a gap), with each
    hour's alarm limit as a short dark tick."""
    slot, plot = _frame(len(totals))
    top = _nice_max(max([*totals, *(x for x in limits if x is not None), 1]))

    def y(v: float) -> float:
        return TOP + plot * (1 - v / top)

    shapes: list[Rect | Line | Label] = [
        Line(LEFT, y(top / 2), WIDTH - RIGHT, y(top / 2), GRID),
        Label(LEFT - 4, y(top) + 8, _num(top), "end"),
        Label(LEFT - 4, y(top / 2) + 4, _num(top / 2), "end"),
        Label(LEFT - 4, y(0), "0", "end"),
    ]
    for i, (total, alarm, gap, limit) in enumerate(zip(totals, alarms, gaps, limits, strict=False)):
        x = LEFT + i * slot
        color = ALARM if alarm else GAP if gap else BAR
        if gap and not total:
            shapes.append(Rect(x + 1, TOP, max(slot - 2, 1), plot, "#eeeeee"))
        shapes.append(Rect(x + 1, y(total), max(slot - 2, 1), plot * total / top, color))
        if limit is not None:
            shapes.append(Line(x + 1, y(limit), x + slot - 1, y(limit), AXIS, 2))
    shapes += [Line(LEFT, TOP + plot, WIDTH - RIGHT, TOP + plot, AXIS), *_hour_labels(labels, slot)]
    return Chart(alt, tuple(shapes))


def sentiment_chart(
    labels: Sequence[str],
    means: Sequence[float | None],
    lows: Sequence[float | None],
    highs: Sequence[float | None],
    alarms: Sequence[bool],
    alt: str,
) -> Chart:
    """Mean sentiment per hour with its 95% interval as a whisker; hours without enough posts
    are left empty (never drawn at 0, which would read as neutral)."""
    slot, plot = _frame(len(means))
    extent = max([abs(v) for v in (*lows, *highs, *means) if v is not None] + [0.25])
    top = min(math.ceil(extent * 4) / 4, 1.0)

    def y(v: float) -> float:
        return TOP + plot * (1 - (v + top) / (2 * top))

    shapes: list[Rect | Line | Label] = [
        Line(LEFT, y(0), WIDTH - RIGHT, y(0), ZERO),
        Label(LEFT - 4, y(top) + 8, f"+{top:.2f}", "end"),
        Label(LEFT - 4, y(0) + 4, "0", "end"),
        Label(LEFT - 4, y(-top), f"-{top:.2f}", "end"),
    ]
    for i, (m, lo, hi, alarm) in enumerate(zip(means, lows, highs, alarms, strict=False)):
        if m is None:
            continue
        cx = LEFT + (i + 0.5) * slot
        color = ALARM if alarm else BAR
        if lo is not None and hi is not None:
            shapes.append(Line(cx, y(hi), cx, y(lo), color))
        shapes.append(Rect(cx - 3, y(m) - 3, 6, 6, color))
    shapes += [Line(LEFT, TOP + plot, WIDTH - RIGHT, TOP + plot, AXIS), *_hour_labels(labels, slot)]
    return Chart(alt, tuple(shapes))


def _num(v: float) -> str:
    return f"{v:.0f}" if v >= 1 or v == 0 else f"{v:g}"


def sparkline(
    values: Sequence[float | None], lo: float | None = None, hi: float | None = None
) -> str:
    """▁▂▃▄▅▆▇█ per value, scaled to [lo, hi] (default: the values' range); None is a space."""
    present = [v for v in values if v is not None]
    if not present:
        return " " * len(values)
    lo = min(present) if lo is None else lo
    hi = max(present) if hi is None else hi
    span = hi - lo
    out = []
    for v in values:
        if v is None:
            out.append(" ")
        else:
            level = 0 if span <= 0 else round((min(max(v, lo), hi) - lo) / span * (len(SPARKS) - 1))
            out.append(SPARKS[level])
    return "".join(out)


# --- a minimal raster back-end --------------------------------------------------------------

# 3×5 glyphs, one string of 15 bits per character, row by row.
_FONT = {
    "0": "111101101101111",
    "1": "010110010010111",
    "2": "111001111100111",
    "3": "111001111001111",
    "4": "101101111001001",
    "5": "111100111001111",
    "6": "111100111101111",
    "7": "111001001001001",
    "8": "111101111101111",
    "9": "111101111001111",
    ".": "000000000000010",
    "-": "000000111000000",
    "+": "000010111010000",
    ":": "000010000010000",
    " ": "000000000000000",
}
_SCALE = 2


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


class _Canvas:
    def __init__(self, width: int, height: int):
        self.w, self.h = width, height
        self.px = bytearray(b"\xff" * (width * height * 3))

    def _set(self, x: int, y: int, rgb: tuple[int, int, int]) -> None:
        if 0 <= x < self.w and 0 <= y < self.h:
            i = (y * self.w + x) * 3
            self.px[i : i + 3] = bytes(rgb)

    def rect(self, x: float, y: float, w: float, h: float, color: str) -> None:
        rgb = _rgb(color)
        x0, y0 = max(round(x), 0), max(round(y), 0)
        x1, y1 = min(round(x + w), self.w), min(round(y + h), self.h)
        row = bytes(rgb) * max(x1 - x0, 0)
        for yy in range(y0, y1):
            i = (yy * self.w + x0) * 3
            self.px[i : i + len(row)] = row

    def line(self, x1: float, y1: float, x2: float, y2: float, color: str, width: int = 1) -> None:
        rgb = _rgb(color)
        steps = max(abs(round(x2) - round(x1)), abs(round(y2) - round(y1)), 1)
        flat = abs(x2 - x1) >= abs(y2 - y1)  # thicken across the line's direction
        for k in range(steps + 1):
            x = round(x1 + (x2 - x1) * k / steps)
            y = round(y1 + (y2 - y1) * k / steps)
            for d in range(width):
                if flat:
                    self._set(x, y + d, rgb)
                else:
                    self._set(x + d, y, rgb)

    def text(self, x: float, y: float, text: str, anchor: str) -> None:
        glyphs = [_FONT.get(ch, _FONT[" "]) for ch in text]
        width = len(glyphs) * 4 * _SCALE
        left = round(x - (width if anchor == "end" else width / 2 if anchor == "middle" else 0))
        top = round(y) - 5 * _SCALE
        rgb = _rgb(AXIS)
        for g, bits in enumerate(glyphs):
            for i, bit in enumerate(bits):
                if bit == "1":
                    gx, gy = left + g * 4 * _SCALE + (i % 3) * _SCALE, top + (i // 3) * _SCALE
                    for dx in range(_SCALE):
                        for dy in range(_SCALE):
                            self._set(gx + dx, gy + dy, rgb)

    def encode(self) -> bytes:
        stride = self.w * 3
        raw = b"".join(
            b"\x00" + bytes(self.px[y * stride : (y + 1) * stride]) for y in range(self.h)
        )

        def chunk(kind: bytes, data: bytes) -> bytes:
            return (
                struct.pack(">I", len(data))
                + kind
                + data
                + struct.pack(">I", zlib.crc32(kind + data))
            )

        header = struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )
