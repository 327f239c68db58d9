"""Per-item checks between a source and the store: one malformed post never fails a whole poll.

A source turns what a platform sent into `RawPost`s leniently; what reaches the store must fit
its columns (PostgreSQL rejects a NUL, a lone surrogate, a VARCHAR overflow or a year-10000 time
and fails the whole transaction with it). Everything that can be repaired without changing what
the post says is repaired here (a truncated emoji's lone surrogate becomes U+FFFD, an overlong
language code is dropped); what cannot is rejected with a reason in words, and the poll stores
the rest, quarantines the rejected item and advances its cursor.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, overload

from monitor.sources.base import RawPost, Rejected

__all__ = ["BadItem", "EARLIEST", "FUTURE_SLACK", "excerpt", "repair_text", "vet", "vet_all"]

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)  # UNIX time 0: no platform or dataset is older
FUTURE_SLACK = timedelta(days=1)  # a platform clock a little ahead is normal; a year 9999 is not
MAX_ID_CHARS = 512  # post.native_id / canonical_id / author columns
MAX_URL_BYTES = (
    2000  # post.canonical_url is indexed: PostgreSQL's b-tree takes at most ~2,700 bytes a key
)
MAX_LANG_CHARS = 16
MAX_TAGS = 200
MAX_ENGAGEMENT = 2**62
RAW_EXCERPT_CHARS = 4000

_SURROGATE = re.compile("[\ud800-\udfff]")


class BadItem(ValueError):
    """Why an item cannot be stored, in words."""


def repair_text(value: str) -> str:
    """Text that every database and encoder accepts, saying the same thing.

    A lone UTF-16 surrogate (half an emoji, cut by a truncating client) cannot be encoded as
    UTF-8; it becomes U+FFFD, and a pair that arrived as two escapes becomes its character. NUL,
    which PostgreSQL text refuses, is dropped.
    """
    if not value.isascii() and _SURROGATE.search(value) is not None:
        value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value.replace("\x00", "") if "\x00" in value else value


@overload
def _text(value: Any, what: str, *, optional: Literal[False]) -> str: ...
@overload
def _text(value: Any, what: str, *, optional: bool = True) -> str | None: ...
def _text(value: Any, what: str, *, optional: bool = True) -> str | None:
    if type(value) is str:
        return repair_text(value)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise BadItem(f"{what} is {_kind(value)}, not text")
    return repair_text(str(value))


def _kind(value: Any) -> str:
    if value is None:
        return "missing"
    names = {
        dict: "an object",
        list: "a list",
        tuple: "a list",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }
    return names.get(type(value), f"a {type(value).__name__}")


def _time(value: Any, now: datetime) -> datetime:
    if not isinstance(value, datetime):
        raise BadItem(f"created_at is {_kind(value)}, not a time")
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise BadItem(f"created_at {value.isoformat()} is out of range") from None
    if utc < EARLIEST:
        raise BadItem(f"created_at {utc.isoformat()} is before 1970")
    if utc > now + FUTURE_SLACK:
        raise BadItem(f"created_at {utc.isoformat()} is more than a day in the future")
    return utc


def vet(raw: RawPost, now: datetime) -> RawPost:
    """`raw` fit for the store (a repaired copy when needed), or BadItem saying why it is not."""
    native_id = _text(raw.native_id, "the id", optional=False).strip()
    if not native_id:
        raise BadItem("the id is empty")
    if len(native_id) > MAX_ID_CHARS:
        raise BadItem(f"the id is {len(native_id):,} characters long, over {MAX_ID_CHARS}")
    text = _text(raw.text, "the text", optional=False)
    title = _text(raw.title, "the title")
    created_at = _time(raw.created_at, now)
    url = _text(raw.url, "the url")
    author = _text(raw.author, "the author")
    if author is not None and len(author) > MAX_ID_CHARS:
        author = author[:MAX_ID_CHARS]
    canonical_id = _text(raw.canonical_id, "the canonical id")
    if canonical_id is not None and len(canonical_id) > MAX_ID_CHARS:
        raise BadItem(
            f"the canonical id is {len(canonical_id):,} characters long, over {MAX_ID_CHARS}"
        )
    repost_of = _text(raw.repost_of, "the reposted post's id")
    lang = raw.lang if isinstance(raw.lang, str) and 0 < len(raw.lang) <= MAX_LANG_CHARS else None
    lang = repair_text(lang) if lang else None
    tags = raw.tags
    if not isinstance(tags, (tuple, list)):
        raise BadItem(f"the hashtags are {_kind(tags)}, not a list")
    if tags and not all(
        type(t) is str and (t.isascii() or _SURROGATE.search(t) is None) for t in tags
    ):
        tags = tuple(repair_text(t) for t in tags if isinstance(t, str))
    if len(tags) > MAX_TAGS:
        tags = tuple(tags[:MAX_TAGS])
    engagement = raw.engagement
    if type(engagement) is not int:
        engagement = (
            int(engagement)
            if isinstance(engagement, (int, float))
            and engagement == engagement
            and abs(engagement) != float("inf")
            else 0
        )
    engagement = min(max(engagement, 0), MAX_ENGAGEMENT)
    changed = (
        native_id is not raw.native_id
        or text is not raw.text
        or title is not raw.title
        or created_at is not raw.created_at
        or url is not raw.url
        or author is not raw.author
        or canonical_id is not raw.canonical_id
        or repost_of is not raw.repost_of
        or lang is not raw.lang
        or tags is not raw.tags
        or engagement is not raw.engagement
    )
    if not changed:
        return raw
    return replace(
        raw,
        native_id=native_id,
        text=text,
        title=title,
        created_at=created_at,
        url=url,
        author=author,
        canonical_id=canonical_id,
        repost_of=repost_of,
        lang=lang,
        tags=tags,
        engagement=engagement,
        is_html=bool(raw.is_html),
    )


def vet_all(posts: list[RawPost], now: datetime) -> tuple[list[RawPost], list[Rejected]]:
    """The storable posts and the rejected ones, each rejected item with its position and reason.

    "The future" starts a day after the later of `now` (the poll's clock, which a replay or a
    test may set in the past) and the wall clock.
    """
    now = max(now, datetime.now(UTC))
    good: list[RawPost] = []
    bad: list[Rejected] = []
    for i, raw in enumerate(posts, start=1):
        try:
            good.append(vet(raw, now))
        except Exception as exc:  # noqa: BLE001 - whatever is wrong with one item stays with that item
            bad.append(rejected_post(raw, i, len(posts), exc))
    return good, bad


def rejected_post(raw: Any, index: int, total: int, exc: BaseException) -> Rejected:
    """A Rejected for a RawPost (or anything a source put in its place) at `index` of `total`."""
    position = getattr(raw, "position", None)
    if not isinstance(position, str) or not position:
        position = f"item {index} of {total}"
    native = getattr(raw, "native_id", None)
    reason = str(exc) if isinstance(exc, BadItem) else f"{type(exc).__name__}: {exc}"
    return Rejected(
        position=position,
        reason=reason,
        native_id=repair_text(native)[:MAX_ID_CHARS] if isinstance(native, str) else None,
        raw=raw,
    )


def excerpt(value: Any) -> str:
    """The item as JSON with every non-ASCII and control character escaped: what was wrong (a lone
    surrogate, an escape sequence) stays visible and can never reach a terminal as itself."""
    if isinstance(value, RawPost):
        value = {f: getattr(value, f) for f in RawPost.__slots__}
    try:
        out = json.dumps(value, ensure_ascii=True, default=repr)
    except (TypeError, ValueError, RecursionError):
        out = ascii(value)
    if len(out) > RAW_EXCERPT_CHARS:
        out = out[:RAW_EXCERPT_CHARS] + f"... ({len(out):,} characters in all)"
    return out
