"""RSS 2.0 / Atom feeds (Google News searches, Mastodon tag feeds, Reddit feeds, any blog).

The HTTP is done here, not by the parser: conditional GET with the validators kept in the
source state, a size cap. feedparser-rs (Rust, feedparser's API) reads the feed; what it declines
or may read differently from feedparser goes to feedparser itself (docs/decisions.md). Both get
bytes: a str may be read as a path or a URL, and neither must ever fetch anything.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser
import feedparser_rs
from pydantic import AnyHttpUrl, Field

from monitor.core.text import html_to_text
from monitor.sources import http
from monitor.sources.base import (
    Batch,
    PollContext,
    RawPost,
    Source,
    SourceError,
    SourceSettings,
    reject,
)


@dataclass(slots=True)
class FeedEntry:
    """What `RssSource` needs from an entry, whichever parser read it."""

    id: str | None
    link: str | None
    title: str | None
    title_is_html: bool
    body: str
    body_is_html: bool
    created_at: datetime | None
    author: str | None
    tags: tuple[str, ...]


class RssSettings(SourceSettings):
    url: AnyHttpUrl
    max_bytes: int = Field(default=http.DEFAULT_MAX_BYTES, gt=0)


class RssSource(Source):
    kind = "rss"
    Settings = RssSettings
    settings: RssSettings

    def fetch(self, state: dict[str, Any], ctx: PollContext) -> Batch:
        url = str(self.settings.url)
        headers = {
            "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"
        }
        if state.get("etag"):
            headers["If-None-Match"] = state["etag"]
        if state.get("last_modified"):
            headers["If-Modified-Since"] = state["last_modified"]
        resp, body = http.get(
            self.http,
            url,
            what=f"feed {self.name}",
            headers=headers,
            max_bytes=self.settings.max_bytes,
            timeout=self.settings.timeout.total_seconds(),
        )
        if resp.status_code == 304:
            return Batch(posts=[], state=state, status=304, not_modified=True)
        content_type = resp.headers.get("content-type", "application/xml")
        skipped, asked = 0, False

        def known(ids: Sequence[str]) -> set[str]:
            nonlocal skipped, asked
            found = ctx.known(ids) if ctx.known is not None else set()
            skipped += sum(1 for i in ids if i in found)
            asked = True
            return found

        entries, damage = parse_entries(
            body, content_type, known if ctx.known is not None else None
        )
        if entries is None:
            raise SourceError(
                f"feed {self.name} is not valid RSS/Atom: {damage}", status=resp.status_code
            )
        first_poll = not state.get("polled")
        posts = []
        for i, entry in enumerate(entries, start=1):
            try:
                post = to_post(entry)
            except Exception as exc:  # noqa: BLE001 - one entry's damage stays with that entry
                reject(
                    f"feed {self.name} entry {i}",
                    f"unreadable ({type(exc).__name__}: {exc})",
                    repr(entry),
                    entry.id,
                )
                continue
            if post is None:
                continue
            post.position = f"feed {self.name} entry {i}"
            if first_poll and post.created_at < ctx.backfill_since:
                continue
            posts.append(post)
        new_state = dict(state, polled=True)
        notes = []
        if damage:
            # A damaged body: keep the old validators so the next poll gets the whole feed again.
            notes.append(
                f"the feed was damaged ({damage}); kept the {len(posts)} items that parsed"
            )
        else:
            new_state["etag"] = resp.headers.get("ETag")
            new_state["last_modified"] = resp.headers.get("Last-Modified")
        # Entries without an id were not asked about; dedupe in the transaction still covers them.
        return Batch(
            posts=posts,
            state=new_state,
            status=resp.status_code,
            notes=notes,
            already_stored=skipped,
            known_checked=asked,
        )


def parse_entries(
    body: bytes, content_type: str, known: Callable[[Sequence[str]], set[str]] | None = None
) -> tuple[list[FeedEntry] | None, str | None]:
    """(entries, damage): feedparser-rs's reading, or feedparser's where feedparser-rs declines.

    `damage` describes a body feedparser could only partly read; entries is None when it could
    read nothing at all. `known(ids)` says which entry ids are stored already: those entries are
    left out before they are built into posts (an entry without an id is always kept).
    """
    parsed = _read_fast(body, content_type)
    damage = None
    if parsed is None:
        # We turn HTML into plain text ourselves and never render it, so feedparser's HTML
        # sanitizer and URI rewriting are pure cost (they more than halve its speed).
        parsed = feedparser.parse(
            io.BytesIO(body),
            sanitize_html=False,
            resolve_relative_uris=False,
            response_headers={"content-type": content_type},
        )
        damage = _bozo_words(parsed) if parsed.bozo else None
        if damage and not parsed.entries:
            return None, damage
    # positions count every entry of the document
    entries = list(enumerate(parsed.entries, start=1))
    if known is not None:
        ids = [e.get("id") or None for _, e in entries]
        stored = known([i for i in ids if i])
        entries = [
            (n, e) for (n, e), i in zip(entries, ids, strict=False) if not i or i not in stored
        ]
    out = []
    for i, e in entries:
        try:
            out.append(feedparser_entry(e))
        except Exception as exc:  # noqa: BLE001 - one entry's damage stays with that entry
            reject(
                f"feed entry {i}", f"unreadable ({type(exc).__name__}: {exc})", repr(dict(e))[:4000]
            )
    return out, damage


_CHARSET = re.compile(r"charset\s*=\s*\"?([^\s;\"]+)", re.I)
_UTF8 = frozenset({"utf-8", "utf8"})


def _read_fast(body: bytes, content_type: str) -> Any | None:
    """feedparser-rs's reading of `body`, or None where feedparser must read it instead.

    Declined, each measured (benchmarks/feed_parsers.py): damaged XML (feedparser recovers
    entries from it; feedparser-rs gives none); an HTTP charset, or text/* without one (RFC 3023,
    which feedparser follows and feedparser-rs does not see); bytes that are not the UTF-8 they
    were read as (feedparser falls back to another code page, feedparser-rs writes U+FFFD);
    xml:base (feedparser resolves ids against it, and stored ids must not change); a link
    feedparser-rs blanked: it drops every link to a loopback, private or intranet host, which a
    feed on a company network, or our simulator, serves; and an Atom title or summary that
    could read two ways: feedparser-rs calls one without a `type` HTML where Atom says plain
    text, which matters only when the text holds something that looks like a tag or an entity.
    """
    if b"xml:base" in body:
        return None
    charset = _CHARSET.search(content_type)
    if charset is not None and charset.group(1).lower() not in _UTF8:
        return None
    if charset is None and content_type.split(";")[0].strip().lower().startswith("text/"):
        return None
    try:
        parsed = feedparser_rs.parse(body, sanitize_html=False, resolve_relative_uris=False)
    except Exception:  # noqa: BLE001 - anything it cannot take, feedparser gets
        return None
    if parsed.bozo or not parsed.version:
        return None
    if (charset is not None or (parsed.encoding or "").lower() in _UTF8) and not _is_utf8(body):
        return None
    atom = (parsed.version or "").startswith("atom")
    for entry in parsed.entries:
        if not entry.link and entry.links:
            return None
        if atom and (
            _ambiguous(entry.title_detail)
            or (not entry.content and _ambiguous(entry.summary_detail))
        ):
            return None
    return parsed


_MARKUP = re.compile(r"<[A-Za-z/!?]|&#?\w+;")


def _ambiguous(detail: Any) -> bool:
    return (
        detail is not None
        and detail.type == "text/html"
        and _MARKUP.search(detail.value or "") is not None
    )


def _is_utf8(body: bytes) -> bool:
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True  # UTF-16 with its byte-order mark: feedparser-rs read it by the mark
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _bozo_words(parsed: Any) -> str:
    exc = parsed.get("bozo_exception")
    return f"{type(exc).__name__}: {exc}" if exc else "unreadable XML"


def _when(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        st = entry.get(key)
        if st:
            try:
                return datetime.fromtimestamp(calendar.timegm(st), UTC)
            except (OverflowError, OSError, ValueError):
                # a year past 9999 and the like: not a date
                continue
    return None


def feedparser_entry(entry: Any) -> FeedEntry:
    """An entry of feedparser or feedparser-rs (one API) in the shape `to_post` takes."""
    content = entry.get("content") or []
    if content:
        body, body_type = content[0].get("value", ""), content[0].get("type", "text/html")
    else:
        detail = entry.get("summary_detail") or {}
        body, body_type = entry.get("summary", ""), detail.get("type", "text/html")
    title_type = (entry.get("title_detail") or {}).get("type", "text/plain")
    author = entry.get("author") or (entry.get("source") or {}).get("title")
    return FeedEntry(
        id=entry.get("id") or None,
        link=entry.get("link") or None,
        title=entry.get("title"),
        title_is_html="html" in (title_type or ""),
        body=body or "",
        body_is_html="html" in (body_type or ""),
        created_at=_when(entry),
        author=author or None,
        tags=tuple(t.get("term", "") for t in entry.get("tags") or [] if t.get("term")),
    )


def to_post(entry: FeedEntry) -> RawPost | None:
    """One feed entry in the common shape; None for an entry with nothing to read.

    A news search's author is its publisher (Google News names it in <source>).
    """
    body, title = entry.body, entry.title
    if title and entry.title_is_html:
        title = html_to_text(title)
    if not (body or title):
        return None
    native_id = entry.id or entry.link
    if not native_id:
        native_id = "sha1:" + hashlib.sha1(f"{entry.title}\n{body}".encode()).hexdigest()
    created = entry.created_at or datetime.now(UTC)
    return RawPost(
        native_id=str(native_id),
        text=body,
        title=title,
        is_html=entry.body_is_html,
        created_at=created,
        url=entry.link,
        author=entry.author,
        tags=entry.tags,
    )
