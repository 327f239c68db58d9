"""Digests as Markdown, HTML, JSON and Slack messages, from the data monitor/outputs/digest/build.py builds.

Post text, author names, hashtags and server error messages come from strangers, so no value
reaches a document unescaped:
- HTML: Jinja2 autoescaping; only charts (built and escaped by monitor.outputs.digest.charts) are
  marked safe.
- Markdown: every interpolated string goes through `finalize`, which backslash-escapes the
  characters Markdown gives meaning to (and a line-leading '#', '>', '-', '+', '=' or '1.'),
  and removes nothing. Only values this module formats itself (numbers, our own links) are
  marked `Raw` and pass as they are.
- Links: http(s) only (PostRef already dropped anything else), percent-encoded where Markdown
  would end the link.
- Slack: untrusted text goes in `plain_text` objects, which Slack never parses for markup.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import jinja2
from markupsafe import Markup

from monitor.outputs.deliver import slack_escape
from monitor.outputs.digest.build import HourRow, TopicDigest
from monitor.outputs.digest.charts import Chart, sentiment_chart, sparkline, volume_chart

__all__ = [
    "Raw",
    "Rendered",
    "md_escape",
    "render_html",
    "render_json",
    "render_markdown",
    "slack_digest",
    "subject",
]


class Raw(str):
    """Markdown this module wrote itself (a formatted number, a link target): not escaped again."""


_MD_INLINE = re.compile(r"([\\`*_\[\]<>&|~])")
_MD_LINE_START = re.compile(r"^([ \t]*)([#>+=-])", re.MULTILINE)
_MD_LIST_NUMBER = re.compile(r"^([ \t]*\d+)([.)])", re.MULTILINE)
_URL_UNSAFE = re.compile(r"[\s<>\\`]")


def md_escape(text: str) -> str:
    """Backslash-escape what Markdown would read as syntax; every character of `text` stays."""
    text = _MD_INLINE.sub(r"\\\1", text)
    text = _MD_LINE_START.sub(r"\1\\\2", text)
    return _MD_LIST_NUMBER.sub(r"\1\\\2", text)


def _md_finalize(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, str):
        return md_escape(value)
    return str(value)


# --- formatting shared by both formats ---------------------------------------------------------


def fmt_num(value: float | None, digits: int = 3, sign: bool = False) -> str:
    """A number for a reader; None is 'no data', never 0."""
    if value is None:
        return "no data"
    text = f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"
    return text.replace("-", "−")


def fmt_count(value: int | float | None) -> str:
    return "no data" if value is None else f"{value:,.0f}"


def fmt_pct(value: float | None, digits: int = 0) -> str:
    return "no data" if value is None else f"{value * 100:.{digits}f}%"


def fmt_interval(
    lo: float | None, hi: float | None, digits: int = 3, sign: bool = True, pct: bool = False
) -> str:
    if lo is None or hi is None:
        return ""
    if pct:
        return f"[{fmt_pct(lo, 1)}, {fmt_pct(hi, 1)}]"
    return f"[{fmt_num(lo, digits, sign)}, {fmt_num(hi, digits, sign)}]"


def fmt_duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes % 60 else f"{minutes // 60} h"


def fmt_time(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%H:%M")


def fmt_day(value: datetime) -> str:
    return value.strftime("%A %d %B %Y").replace(" 0", " ")


def md_url(url: str | None) -> str:
    """A link target in angle brackets, with what would end it percent-encoded."""
    if not url:
        return ""
    return (
        "<" + _URL_UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), url) + ">"
    )


def md_quote(text: str, indent: str = "  ") -> str:
    """A post's text as a blockquote inside a list item: escaped, every line kept."""
    lines = md_escape(text).split("\n") or [""]
    return "\n".join(f"{indent}> {line}".rstrip() for line in lines)


_FILTERS: dict[str, Callable[..., str]] = {
    "num": fmt_num,
    "count": fmt_count,
    "pct": fmt_pct,
    "interval": fmt_interval,
    "duration": fmt_duration,
    "hm": fmt_time,
    "day": fmt_day,
}


def _environment(markdown: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("monitor", "data"),
        autoescape=not markdown,
        finalize=_md_finalize if markdown else None,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    for name, fn in _FILTERS.items():
        env.filters[name] = (lambda *a, _fn=fn, **k: Raw(_fn(*a, **k))) if markdown else fn
    if markdown:
        env.filters["url"] = lambda url: Raw(md_url(url))
        env.filters["quote"] = lambda text, indent="  ": Raw(md_quote(text or "", indent))
    return env


_MD = _environment(markdown=True)
_HTML = _environment(markdown=False)


# --- charts and their words ---------------------------------------------------------------------


def volume_alt(d: TopicDigest) -> str:
    rows = [r for r in d.hours if not r.future]
    if not rows:
        return "Posts per hour: the day has not started yet."
    busiest = max(rows, key=lambda r: (r.total, -r.start.timestamp()))
    text = (
        f"Posts per hour, {rows[0].label} to {rows[-1].label} ({d.timezone}): {d.volume.total:,} in total, "
        f"busiest hour {busiest.label} with {busiest.total:,}."
    )
    spikes = [r.label for r in rows if r.volume_alarm]
    gaps = [r.label for r in rows if r.incomplete]
    text += f" Volume spikes at {', '.join(spikes)}." if spikes else " No volume spike."
    if gaps:
        text += f" Collection gaps at {', '.join(gaps)}."
    return text


def sentiment_alt(d: TopicDigest) -> str:
    rows = [r for r in d.hours if r.mean is not None]
    if not rows:
        return "Mean sentiment per hour: no hour had enough scored posts (5) to show a mean."
    low = min(rows, key=lambda r: r.mean or 0.0)
    high = max(rows, key=lambda r: r.mean or 0.0)
    text = (
        f"Mean sentiment per hour with 95% intervals, {len(rows)} hours with at least 5 scored posts: "
        f"lowest {fmt_num(low.mean, 2, True)} at {low.label}, "
        f"highest {fmt_num(high.mean, 2, True)} at {high.label}."
    )
    shifts = [r.label for r in d.hours if r.sentiment_alarm]
    return text + (
        f" Sentiment shifts at {', '.join(shifts)}." if shifts else " No sentiment shift."
    )


def charts(d: TopicDigest) -> tuple[Chart, Chart]:
    rows = d.hours
    labels = [r.label for r in rows]
    vol = volume_chart(
        labels,
        [0 if r.future else r.total for r in rows],
        [r.volume_alarm for r in rows],
        [r.incomplete for r in rows],
        [r.limit for r in rows],
        volume_alt(d),
    )
    sent = sentiment_chart(
        labels,
        [r.mean for r in rows],
        [r.mean_lo for r in rows],
        [r.mean_hi for r in rows],
        [r.sentiment_alarm for r in rows],
        sentiment_alt(d),
    )
    return vol, sent


def _sparks(rows: Sequence[HourRow]) -> tuple[str, str]:
    volume = sparkline([None if r.future else r.total for r in rows], lo=0)
    sentiment = sparkline([r.mean for r in rows], lo=-1.0, hi=1.0)
    return volume, sentiment


# --- documents -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Rendered:
    """An HTML document and, for e-mail, the PNG images its `cid:` references point at."""

    html: str
    images: list[tuple[str, bytes, str]]  # (content id, PNG bytes, alt text)


def render_markdown(digests: Sequence[TopicDigest], heading: str) -> str:
    topics = [{"d": d, "sparks": _sparks(d.hours)} for d in digests]
    return _MD.get_template("digest.md.j2").render(heading=heading, topics=topics)


def render_html(digests: Sequence[TopicDigest], heading: str, *, email: bool = False) -> Rendered:
    """Charts inline as SVG for the file; for e-mail as PNG parts referenced by `cid:`."""
    topics, images = [], []
    for i, d in enumerate(digests):
        vol, sent = charts(d)
        if email:
            ids = (f"volume-{i}@reaction-monitor", f"sentiment-{i}@reaction-monitor")
            images += [(ids[0], vol.png(), vol.alt), (ids[1], sent.png(), sent.alt)]
            pics = [
                Markup('<img src="cid:{}" width="{}" height="{}" alt="{}">').format(
                    cid, c.width, c.height, c.alt
                )
                for cid, c in zip(ids, (vol, sent), strict=False)
            ]
        else:
            pics = [Markup(vol.svg()), Markup(sent.svg())]
        topics.append({"d": d, "volume_chart": pics[0], "sentiment_chart": pics[1]})
    html = _HTML.get_template("digest.html.j2").render(heading=heading, topics=topics)
    return Rendered(html, images)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"cannot put {type(value).__name__} in a digest's JSON")


def to_data(digests: Sequence[TopicDigest]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(d) for d in digests]


def render_json(digest: TopicDigest | Sequence[TopicDigest], /, **meta: Any) -> str:
    """Every number of the digest; one topic as an object, several under "topics"."""
    data: Any = (
        to_data([digest])[0]
        if isinstance(digest, TopicDigest)
        else {**meta, "topics": to_data(digest)}
    )
    return json.dumps(data, default=_json_default, ensure_ascii=False, indent=2) + "\n"


def headline(d: TopicDigest) -> str:
    """One line per topic, for a subject, a Slack message or a log."""
    parts = [f"{d.volume.total:,} posts"]
    if d.volume.ratio is not None:
        parts[0] += f" ({d.volume.ratio:.1f}× usual)"
    if d.sentiment.mean is not None:
        parts.append(f"mean {fmt_num(d.sentiment.mean, 2, True)}")
    if d.spikes:
        parts.append(f"{len(d.spikes)} spike{'s' if len(d.spikes) != 1 else ''}")
    if d.gaps:
        parts.append(f"{len(d.gaps)} collection gap{'s' if len(d.gaps) != 1 else ''}")
    return ", ".join(parts)


def subject(name: str, day: str, digests: Sequence[TopicDigest]) -> str:
    if len(digests) == 1:
        return f"{digests[0].title} on {day}: {headline(digests[0])}"
    return f"Digest {name!r} for {day}: " + "; ".join(
        f"{d.title}: {d.volume.total:,} posts" for d in digests
    )


def slack_digest(name: str, day: str, digests: Sequence[TopicDigest]) -> dict[str, Any]:
    """A Slack incoming-webhook message: numbers in mrkdwn, anything a stranger wrote in plain_text."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Digest {name}: {day}"}}
    ]
    for d in digests:
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*{slack_escape(d.title)}*: {slack_escape(headline(d))}",
                },
            }
        )
        lines = [_spike_line(s) for s in d.spikes] + [
            f"{g.source} failed {g.failed_polls} poll(s) from {fmt_time(g.start)} "
            f"{'to ' + fmt_time(g.end) if g.end else '(still failing)'}: {g.error or 'no error text'}"
            for g in d.gaps
        ]
        if lines:
            blocks.append(
                {
                    "type": "context",
                    "elements": [{"type": "plain_text", "text": "\n".join(lines)[:2900]}],
                }
            )
    return {"text": slack_escape(subject(name, day, digests)), "blocks": blocks}


def _spike_line(s: Any) -> str:
    span = f"{fmt_time(s.start)}–{fmt_time(s.end)}"
    if s.kind == "volume":
        return f"Volume spike {span}: {s.value:,.0f} posts at {fmt_time(s.peak)} vs {s.expected:,.1f} expected"
    word = "up" if s.direction == "up" else "down"
    return f"Sentiment {word} {span}: mean {fmt_num(s.value, 2, True)} vs {fmt_num(s.expected, 2, True)} usually"
