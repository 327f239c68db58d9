"""RSS and Atom feeds, damaged item by item and byte by byte: a damaged entry never fails the feed
or the entries beside it, and a damaged document is an error in words, never a traceback."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from xml.sax.saxutils import escape

import httpx
import pytest
from fuzz_support import HOSTILE
from sqlalchemy import delete, select

from monitor.ingest.poll import Ingestor
from monitor.sources.base import PollContext, SourceError, collecting_rejections
from monitor.sources.rss import RssSettings, RssSource
from monitor.store.db import Store
from monitor.store.models import Bucket, Post, PostTopic, Quarantine

TOPIC = SimpleNamespace(
    name="t", title=None, hashtags=[], keywords=["x"], exclude=[], languages=None
)
NOW = datetime.now(UTC).replace(microsecond=0)
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
TEXTS = [v for v in HOSTILE if isinstance(v, str)] + [
    "Mon, 32 Foo 2026 99:99:99 +9999",
    "Fri, 31 Dec 9999 23:59:59 -1400",
    "Thu, 01 Jan 1970 00:00:00 GMT",
    "0",
    "-62135596800",
    "1e400",
    "&amp;amp;",
    "]]>",
    "<![CDATA[x]]>",
    "javascript:alert(1)",
    "http://[::1",
    "http://" + "a" * 5000 + ".example/",
    "https://news.example/" + "é" * 2000,
]


def xml_text(value: str) -> str:
    return escape(_XML_BAD.sub("", value))


def rss_items(n: int) -> list[dict[str, str]]:
    return [
        {
            "guid": f"https://news.example/{i}",
            "link": f"https://news.example/{i}",
            "title": f"x story {i}",
            "description": f"<p>x happened, part {i}</p>",
            "pubDate": (NOW - timedelta(minutes=i)).strftime("%a, %d %b %Y %H:%M:%S GMT"),
            "author": f"reporter{i}@news.example",
            "category": "x",
        }
        for i in range(n)
    ]


def rss(items: list[dict[str, str]]) -> bytes:
    body = "".join(
        "<item>" + "".join(f"<{k}>{v}</{k}>" for k, v in item.items()) + "</item>" for item in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f"<link>https://news.example/</link><description>d</description>{body}</channel></rss>"
    ).encode()


def atom(items: list[dict[str, str]]) -> bytes:
    def entry(item: dict[str, str]) -> str:
        parts = {
            "id": item.get("guid", ""),
            "title": item.get("title", ""),
            "updated": item.get("pubDate", ""),
            "summary": item.get("description", ""),
        }
        links = f'<link href="{item["link"]}"/>' if "link" in item else ""
        return "<entry>" + "".join(f"<{k}>{v}</{k}>" for k, v in parts.items()) + links + "</entry>"

    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        f"<id>urn:x</id><updated>{NOW.isoformat()}</updated>{''.join(entry(i) for i in items)}</feed>"
    ).encode()


def serve(body: bytes) -> httpx.Client:
    return httpx.Client(
        transport=httpx.MockTransport(
            lambda request: httpx.Response(
                200, headers={"Content-Type": "application/rss+xml"}, content=body
            )
        )
    )


def source(client: httpx.Client) -> RssSource:
    return RssSource(
        RssSettings(
            name="feed",
            kind="rss",
            url="https://news.example/feed.xml",
            match="all",
            backfill=timedelta(days=3650),
        ),
        [TOPIC],
        client,
    )


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["rss", "atom"])
def test_a_damaged_entry_stays_with_that_entry(shape, tmp_path):
    store = Store(f"sqlite:///{tmp_path}/f.db")
    ingestor = Ingestor(store, [TOPIC])
    problems = []
    for seed in range(60):
        rng = random.Random(f"{shape}-{seed}")
        items = rss_items(12)
        damaged = set(rng.sample(range(12), 3))
        for i in damaged:
            field = rng.choice(list(items[i]))
            if rng.random() < 0.2:
                del items[i][field]
            elif field == "pubDate" and shape == "atom" and rng.random() < 0.5:
                items[i][field] = rng.choice(
                    ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "1e20"]
                )
            else:
                items[i][field] = xml_text(rng.choice(TEXTS))
        with store.write() as conn:
            for table in (PostTopic, Post, Bucket, Quarantine):
                conn.execute(delete(table))
        src = source(serve((rss if shape == "rss" else atom)(items)))
        ctx = PollContext(now=NOW, backfill=timedelta(days=3650))
        with collecting_rejections() as unread:
            batch = src.fetch({}, ctx)
        batch.rejected = [*unread, *batch.rejected]
        outcome = ingestor.store_batch(src, batch, NOW)
        with store.read() as conn:
            stored = set(conn.execute(select(Post.native_id)).scalars())
        for i in set(range(12)) - damaged:
            if f"https://news.example/{i}" not in stored:
                problems.append(
                    f"{shape} seed {seed}: undamaged entry {i} lost ({outcome.rejected[:2]}, "
                    f"notes {batch.notes})"
                )
    store.close()
    assert not problems, "\n".join(problems[:10])


@pytest.mark.slow
def test_a_damaged_document_is_an_error_in_words_or_read_in_part():
    base = rss(rss_items(20))
    rng = random.Random(7)
    outcomes = {"read": 0, "error": 0}
    for _ in range(150):
        body = bytearray(base)
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(len(body))
            choice = rng.random()
            if choice < 0.4:
                body[at] = rng.randrange(256)
            elif choice < 0.7:
                del body[at : at + rng.randint(1, 200)]
            else:
                body[at:at] = rng.choice(
                    [
                        b"<",
                        b"&",
                        b"\x00",
                        b"<!DOCTYPE x [<!ENTITY a 'aaaa'>]>",
                        b"&a;",
                        b"\xff\xfe",
                        b"]]>",
                        b"<item>",
                    ]
                )
        try:
            batch = source(serve(bytes(body))).fetch(
                {}, PollContext(now=NOW, backfill=timedelta(days=3650))
            )
        except SourceError as exc:
            assert "feed feed" in str(exc)
            outcomes["error"] += 1
            continue
        assert all(isinstance(p.native_id, str) for p in batch.posts)
        outcomes["read"] += 1
    assert outcomes["read"]  # most damage leaves something readable; none of it a traceback
