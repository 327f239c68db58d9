"""Durations as people write them in feeds.yaml and on the command line ("90s", "5m", "1h30m", "7d")."""

from __future__ import annotations

import re
from datetime import timedelta

MAX_DURATION = timedelta(days=3650)  # ten years: anything longer is a typo (or .inf), not a setting
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def parse_duration(value: object) -> timedelta:
    """Parse `30`, `30s`, `5m`, `1h30m`, `7d`; a bare number is seconds.

    Raises ValueError with a message that says what is accepted, because it ends up in front of
    a user as `feeds.yaml:12:15: ...`.
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 30s, 5m or 1h, got {value!r}")
    if isinstance(value, (int, float)):
        if value != value:
            raise ValueError("expected a duration such as 30s, 5m or 1h, got not-a-number")
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value!r}")
        return _bounded(float(value), value)
    if not isinstance(value, str):
        raise ValueError(f"expected a duration such as 30s, 5m or 1h, got {value!r}")
    text = value.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return _bounded(float(text), value)
    pos, total = 0, 0.0
    for m in _PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 5m, 1h30m, 7d)")
    return _bounded(total, value)


def _bounded(seconds: float, value: object) -> timedelta:
    if not seconds <= MAX_DURATION.total_seconds():  # also catches infinity
        shown = value if not isinstance(value, str) or len(value) < 40 else value[:40] + "..."
        raise ValueError(f"duration {shown!r} is too long (at most {MAX_DURATION.days} days)")
    return timedelta(seconds=seconds)


def format_duration(td: timedelta) -> str:
    """The short form people write: 90 s -> '1m30s'."""
    secs = int(round(td.total_seconds()))
    if secs == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        q, secs = divmod(secs, size)
        if q:
            out.append(f"{q}{unit}")
    return "".join(out)
