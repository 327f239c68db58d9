"""Text, HTML and XML as the simulator's feeds write them: pure functions, no server state.

Characters XML 1.0 forbids become U+FFFD in text nodes and numeric references in HTML content (so
hostile text still reaches the collector's HTML-to-text layer); post text becomes Mastodon-style
paragraphs with hashtag anchors; times are written as RSS (RFC 822) and Atom (ISO 8601) want them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime

from monitor.simulator.corpus import HASHTAG_RE

__all__ = ["assemble", "charrefs", "iso", "paragraphs", "rfc822", "xml_text"]

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_text(text: str, attr: bool = False) -> str:
    """Plain text for an XML text node or attribute; forbidden characters become U+FFFD."""
    text = _XML_ILLEGAL.sub("\ufffd", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;") if attr else text


def charrefs(markup: str) -> str:
    """HTML that XML can carry: forbidden characters as `&#N;` for the HTML layer to decode."""
    return _XML_ILLEGAL.sub(lambda m: f"&#{ord(m.group())};", markup)


def paragraphs(text: str, tag_href: Callable[[str], str] | None = None) -> str:
    """Plain post text as Mastodon/Reddit-style HTML paragraphs, hashtags as Mastodon anchors."""
    escaped = html.escape(text, quote=False)
    if tag_href is not None:
        escaped = HASHTAG_RE.sub(lambda m: _hashtag_anchor(m, tag_href), escaped)
    paras = [p for p in re.split(r"\n\s*\n", escaped) if p.strip()] or [""]
    return charrefs("".join(f"<p>{p.strip().replace(chr(10), '<br />')}</p>" for p in paras))


def _hashtag_anchor(m: re.Match[str], tag_href: Callable[[str], str]) -> str:
    tag = m.group(1)
    if tag.isdigit():
        return m.group(0)
    return (
        f'<a href="{html.escape(tag_href(tag))}" class="mention hashtag" '
        f'rel="nofollow noopener noreferrer" target="_blank">#<span>{tag}</span></a>'
    )


def rfc822(dt: datetime, gmt: bool = True) -> str:
    return format_datetime(dt.astimezone(UTC).replace(microsecond=0), usegmt=gmt)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).replace(microsecond=0).isoformat()


def assemble(
    head: str, items: Sequence[tuple[str, str]], tail: str
) -> tuple[bytes, list[tuple[str, int]]]:
    """Join a feed, remembering where each item's element ends (for truncation bookkeeping)."""
    chunks, ends, size = [head.encode("utf-8")], [], 0
    size = len(chunks[0])
    for item_id, entry in items:
        data = entry.encode("utf-8")
        chunks.append(data)
        size += len(data)
        ends.append((item_id, size))
    chunks.append(tail.encode("utf-8"))
    return b"".join(chunks), ends
