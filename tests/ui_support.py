"""What the dashboard tests share: the fixed sample store and the Pilot helpers.

Not a test module, so test files import it without importing each other; the fixtures built on it
(`sample_store`, `provider`) live in conftest.py. `build_sample_store` writes a deterministic store
through the real ingest path (Ingestor with a fixed clock and fixed scores): eight days of posts for
three topics with a volume spike, a topic with too few posts for polarization, one with none, a
source failing with a hostile error message, one that has never polled, and posts whose author and
text look like markup.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from textual.pilot import Pilot

from monitor.ingest.poll import Ingestor
from monitor.ingest.scoring import Score
from monitor.sources.base import Batch, PollContext, RawPost, Source, SourceError, SourceSettings
from monitor.store.db import Store
from monitor.ui.app import DashboardApp
from monitor.ui.data import SourceInfo, StoreProvider, TopicInfo

NOW = datetime(2026, 3, 3, 14, 5, 30, tzinfo=UTC)
MARKUP_AUTHOR = "[bold red]mallory[/]"
MARKUP_TEXT = "Deal news [/] and [bold red]not red[/] and [$accent] and a [/ b #TrumpPutinBusiness"
HOSTILE_ERROR = "server said [bold red]no[/] \x1b]0;pwned\x07 [$accent] a [/ b (401)"


@dataclass(frozen=True)
class Topic:
    """The attributes of config.Topic that ingest and the provider read."""

    name: str
    title: str | None
    hashtags: list[str]
    keywords: list[str]
    exclude: tuple = ()
    languages: list[str] | None = None

    @property
    def display_name(self) -> str:
        return self.title or self.name

    @property
    def tags(self) -> list[str]:
        return [h.casefold() for h in self.hashtags]


TOPICS = [
    Topic(
        "trump-putin-business", "US–Russia business thaw", ["TrumpPutinBusiness"], ["Putin deal"]
    ),
    Topic("russia-sanctions", "Russia sanctions relief", ["RussiaSanctions"], ["sanctions relief"]),
    Topic("dmitriev", "Dmitriev", ["Dmitriev"], []),
    Topic("quiet-topic", None, ["NothingHere"], []),
]


class FixedScores:
    """A scorer stand-in: the compound rides in a dict keyed by the post text."""

    def __init__(self) -> None:
        self.by_text: dict[str, tuple[float | None, str | None]] = {}

    def score(self, texts, hints=None) -> list[Score]:
        out = []
        for t in texts:
            compound, lang = self.by_text.get(t, (0.0, "en"))
            if compound is None:
                out.append(Score(None, None, None, None, lang, None, None))
            else:
                pos = max(compound, 0.0)
                neg = max(-compound, 0.0)
                out.append(Score(compound, pos, 1.0 - pos - neg, neg, lang, "vader", "3.3.2"))
        return out


class FixedSource(Source):
    kind = "fixture"
    Settings = SourceSettings

    def __init__(self, name: str, error: SourceError | None = None):
        super().__init__(SourceSettings(name=name, kind="rss", interval="5m"), [], None)  # type: ignore[arg-type]
        self.error = error

    def fetch(self, state: dict[str, Any], ctx: PollContext) -> Batch:
        if self.error is not None:
            raise self.error
        return Batch(posts=[], state=state)


SOURCES = ["google-news", "mastodon", "reddit", "bluesky"]


def _posts(
    rng: random.Random, scores: FixedScores, start: datetime, hours: int
) -> dict[str, list[RawPost]]:
    """Posts per source, hour by hour; topic 1 spikes at 13:00 on the last day."""
    out: dict[str, list[RawPost]] = {s: [] for s in SOURCES[:3]}
    k = 0
    for h in range(hours):
        hour = start + timedelta(hours=h)
        spike = hour == NOW.replace(minute=0, second=0) - timedelta(hours=1)
        plans = [
            ("#TrumpPutinBusiness", 0.15, 90 if spike else rng.randint(12, 30)),
            ("#RussiaSanctions", -0.2, rng.randint(3, 12)),
        ]
        if h % 7 == 0:
            plans.append(("#Dmitriev", 0.1, 1))
        for tag, bias, n in plans:
            for _ in range(n):
                k += 1
                source = SOURCES[k % 3]
                when = hour + timedelta(seconds=rng.randint(0, 3599))
                if when > NOW:
                    continue
                text = f"post {k} about {tag} with a little to say"
                unscored = k % 11 == 0
                compound = (
                    None if unscored else round(max(-1.0, min(1.0, rng.gauss(bias, 0.45))), 4)
                )
                scores.by_text[text] = (compound, "ru" if unscored else "en")
                out[source].append(
                    RawPost(
                        native_id=f"n{k}",
                        text=text,
                        created_at=when,
                        author=f"user{k % 17}",
                        url=f"https://example.org/p/{k}",
                        tags=(tag.lstrip("#"), "Energy" if k % 4 == 0 else "Trade"),
                        engagement=(k * 7) % 23,
                    )
                )
    hostile_at = NOW - timedelta(minutes=3)
    scores.by_text[MARKUP_TEXT] = (-0.61, "en")
    out["mastodon"].append(
        RawPost(
            native_id="markup",
            text=MARKUP_TEXT,
            created_at=hostile_at,
            author=MARKUP_AUTHOR,
            url="https://example.org/p/markup",
            tags=("TrumpPutinBusiness",),
            engagement=99,
        )
    )
    return out


def build_sample_store(url: str) -> Store:
    """The fixed store every dashboard test and snapshot reads (see the module docstring)."""
    store = Store(url)
    rng = random.Random(20260303)
    scores = FixedScores()
    clock_now = [NOW - timedelta(days=8)]
    ingestor = Ingestor(store, TOPICS, scoring=scores, clock=lambda: clock_now[0])  # type: ignore[arg-type]
    store.sync_sources([FixedSource(s).settings for s in SOURCES])
    by_source = _posts(
        rng, scores, (NOW - timedelta(days=8)).replace(minute=0, second=0), 8 * 24 + 1
    )
    reddit_fails = FixedSource("reddit", SourceError(HOSTILE_ERROR, status=401))
    for day in range(8, -1, -1):  # one batch per source per day, in time order
        day_end = NOW - timedelta(days=day)
        for name, posts in by_source.items():
            batch = [p for p in posts if day_end - timedelta(days=1) < p.created_at <= day_end]
            if name == "reddit" and day == 0:
                batch = [p for p in batch if p.created_at <= NOW - timedelta(minutes=85)]
            clock_now[0] = day_end if day else NOW - timedelta(minutes=85)
            ingestor.store_batch(FixedSource(name), Batch(posts=batch, state={}), clock_now[0])
    clock_now[0] = NOW - timedelta(minutes=2)
    for name in ("google-news", "mastodon"):
        ingestor.store_batch(FixedSource(name), Batch(posts=[], state={}), clock_now[0])
    for minutes in (80, 40, 10):  # reddit: three failures in a row, gap buckets marked
        clock_now[0] = NOW - timedelta(minutes=minutes)
        ingestor.poll(reddit_fails)
    from sqlalchemy import update

    from monitor.store.models import SourceState

    with store.write() as conn:  # what the scheduler would have written after those polls
        conn.execute(
            update(SourceState)
            .where(SourceState.source.in_(["google-news", "mastodon"]))
            .values(next_poll_at=NOW + timedelta(minutes=3))
        )
        conn.execute(
            update(SourceState)
            .where(SourceState.source == "reddit")
            .values(next_poll_at=NOW + timedelta(minutes=20))
        )
    return store


def sample_provider(store: Store, **kwargs: Any) -> StoreProvider:
    topics = [TopicInfo(t.name, t.display_name, frozenset(t.tags)) for t in TOPICS]
    sources = [SourceInfo(s, "rss") for s in SOURCES]
    return StoreProvider(store, topics=topics, sources=sources, clock=lambda: NOW, **kwargs)


# --- Pilot helpers ---------------------------------------------------------------------------


def screen_text(app: DashboardApp) -> str:
    """What the terminal shows, as plain text (the SVG snapshot without its styles)."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        record=True,
        color_system="truecolor",
        legacy_windows=False,
    )
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text()


async def settle(app: DashboardApp, pilot: Pilot) -> None:
    """Until the fetch a key started is applied and painted."""
    await app.idle()
    await pilot.pause()


async def press(app: DashboardApp, pilot: Pilot, *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        await settle(app, pilot)


def write_posts(
    url: str,
    *,
    first: int,
    count: int,
    newest: datetime,
    oldest: datetime,
    source: str = "mastodon",
) -> None:
    """Store `count` posts of the first topic, spread evenly from `oldest` to `newest`, through
    the real ingest path: what a backfill, a slow source or an import does to a running store."""
    store = Store(url)
    try:
        scores = FixedScores()
        store.sync_sources([FixedSource(source).settings])
        ingestor = Ingestor(store, TOPICS, scoring=scores, clock=lambda: NOW)  # type: ignore[arg-type]
        step = (newest - oldest) / max(count - 1, 1)
        posts = []
        for i in range(count):
            text = f"late post {first + i} on #TrumpPutinBusiness"
            scores.by_text[text] = (0.5 if i % 2 else -0.5, "en")
            posts.append(
                RawPost(
                    native_id=f"late{first + i}",
                    text=text,
                    created_at=oldest + step * i,
                    author="latecomer",
                    tags=("TrumpPutinBusiness",),
                )
            )
        ingestor.store_batch(FixedSource(source), Batch(posts=posts, state={}), NOW)
    finally:
        store.close()
