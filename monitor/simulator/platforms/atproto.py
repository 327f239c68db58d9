"""AT Protocol identities and records for the simulator's Bluesky families (search and Jetstream).

One place makes a corpus post's DID, record key (a TID), at:// uri, CID and record, so the same
post has the same uri whether it is found by search or seen on the firehose.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from monitor.simulator.corpus import HASHTAG_RE, CorpusPost

__all__ = ["at_uri", "cid_for", "did_for", "iso_ms", "post_record", "rkey", "tid", "time_us"]

_B32_SORT = "234567abcdefghijklmnopqrstuvwxyz"
_URL = re.compile(r"https?://\S+")


def did_for(handle: str) -> str:
    """A stable did:plc (24 base32 characters, as real ones) for a corpus author."""
    digest = base64.b32encode(hashlib.sha256(handle.encode()).digest()).decode().lower()
    return "did:plc:" + digest[:24]


def time_us(post: CorpusPost, seq: int, epoch: datetime) -> int:
    """When the post happened, in UNIX microseconds, spread within the second so ids differ."""
    return int(post.created_at(epoch).timestamp()) * 1_000_000 + (seq * 7919) % 1_000_000


def tid(micros: int, clock_id: int) -> str:
    """A record key as the PDS makes them: 13 base32-sortable characters of (µs << 10 | clock)."""
    n = (micros << 10) | (clock_id & 0x3FF)
    return "".join(_B32_SORT[(n >> (5 * i)) & 31] for i in range(12, -1, -1))


def rkey(post: CorpusPost, seq: int, epoch: datetime) -> str:
    return tid(time_us(post, seq, epoch), seq)


def at_uri(post: CorpusPost, seq: int, epoch: datetime) -> str:
    return f"at://{did_for(post.author)}/app.bsky.feed.post/{rkey(post, seq, epoch)}"


def cid_for(key: str) -> str:
    return "bafyrei" + base64.b32encode(hashlib.sha256(key.encode()).digest()).decode().lower()[:52]


def iso_ms(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def post_record(post: CorpusPost, seq: int, epoch: datetime) -> dict[str, Any]:
    """The app.bsky.feed.post record, with facets as a client app would write them.

    Every ninth post has no facets at all (its hashtags live only in the text, as in the recorded
    socpaperbot post) and every thirteenth repeats its hashtags in `tags`.
    """
    record: dict[str, Any] = {
        "$type": "app.bsky.feed.post",
        "createdAt": iso_ms(post.created_at(epoch)),
        "langs": [post.lang],
        "text": post.text,
    }
    if seq % 9:
        facets = _facets(post.text)
        if facets:
            record["facets"] = facets
    if seq % 13 == 0 and post.hashtags:
        record["tags"] = list(dict.fromkeys(post.hashtags))[:8]
    return record


def _facets(text: str) -> list[dict[str, Any]]:
    out = []
    for m in HASHTAG_RE.finditer(text):
        if m.group(1).isdigit():
            continue
        out.append(
            _facet(
                text,
                m.start(),
                m.end(),
                {"$type": "app.bsky.richtext.facet#tag", "tag": m.group(1)},
            )
        )
    for m in _URL.finditer(text):
        out.append(
            _facet(
                text,
                m.start(),
                m.end(),
                {"$type": "app.bsky.richtext.facet#link", "uri": m.group()},
            )
        )
    return out


def _facet(text: str, start: int, end: int, feature: dict[str, str]) -> dict[str, Any]:
    byte_start = len(text[:start].encode("utf-8"))
    byte_end = byte_start + len(text[start:end].encode("utf-8"))
    return {"features": [feature], "index": {"byteEnd": byte_end, "byteStart": byte_start}}
