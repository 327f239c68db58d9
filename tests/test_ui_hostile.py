"""Strangers' text through every screen: it must appear literally and never reach the terminal raw.

The hostile store is written behind ingest's back (raw SQL), as a store made by an older version
or edited by hand could be: the display layer has to strip control, escape and bidi characters
itself and must never read `[` as markup. Every screen is visited at 80×24 and 160×48 with a
post, an author, a topic title, a source name, an error message and a log record that carry
markup look-alikes, an OSC title sequence, bidi overrides and a 10,000-character line.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.engine import make_url
from textual.pilot import Pilot
from textual.widgets import DataTable, RichLog, Select
from ui_support import NOW, TOPICS, press, screen_text, settle

from monitor.store import facets
from monitor.store.db import Store
from monitor.store.models import Post, SourceRow, SourceState
from monitor.ui.app import DashboardApp
from monitor.ui.data import LiveFilter, Request, StoreProvider, TopicInfo
from monitor.ui.logs import LogBuffer, LogEntry
from monitor.ui.screens.post import PostScreen

MARKUP = "[/] [bold red]loud [$accent] a [/ b"
OSC = "\x1b]0;pwned title\x07"
BIDI = "\u202eevil\u202c\u2066x\u2069"
LONG = "y" * 10_000
HOSTILE_TEXT = f"{MARKUP} {OSC} {BIDI} end\n{LONG}"
HOSTILE_AUTHOR = f"\x1b[31m[bold]boss[/bold]{BIDI}"
HOSTILE_SOURCE = "evil[/]"
HOSTILE_ERROR = f"[bold red]boom[/] {OSC} {BIDI} " + "e" * 10_000
HOSTILE_TITLE = f"[b]Thaw[/b] \x1b[5m[$accent]{BIDI}"
RAW = ("\x1b", "\x07", "\u202e", "\u202c", "\u2066", "\u2069")


def add_hostile(store: Store) -> None:
    """One post, one source with a failing state, straight into the tables."""
    with store.write() as conn:
        conn.execute(insert(SourceRow).values(name=HOSTILE_SOURCE, kind="rss", settings={}))
        conn.execute(
            insert(SourceState).values(
                source=HOSTILE_SOURCE,
                state={},
                last_poll_at=NOW - timedelta(minutes=1),
                last_outcome="error",
                last_error=HOSTILE_ERROR,
                consecutive_failures=9,
                failing_since=NOW - timedelta(hours=2),
                next_poll_at=NOW + timedelta(minutes=30),
            )
        )
        pid = conn.execute(
            insert(Post)
            .values(
                source=HOSTILE_SOURCE,
                native_id="hostile",
                url=f"https://example.org/{MARKUP}",
                author=HOSTILE_AUTHOR,
                text=HOSTILE_TEXT,
                lang="en",
                tags=["[/]", f"x{OSC}"],
                created_at=NOW - timedelta(seconds=30),
                fetched_at=NOW,
                engagement=10**6,
                compound=-1.0,
                pos=0.0,
                neu=0.0,
                neg=1.0,
                scorer="vader",
                scorer_version="3.3.2",
            )
            .returning(Post.id)
        ).scalar_one()
        facets.insert_links(
            conn,
            [
                (
                    dict(
                        id=pid,
                        created_at=NOW - timedelta(seconds=30),
                        compound=-1.0,
                        engagement=10**6,
                        lang="en",
                        tags=["[/]", f"x{OSC}"],
                    ),
                    TOPICS[0].name,
                )
            ],
        )


@pytest.fixture(scope="module")
def hostile_provider(sample_store: Store, tmp_path_factory: pytest.TempPathFactory):
    """A copy of the sample store (SQLite's backup API: quicker than building it again) made hostile."""
    path: Path = tmp_path_factory.mktemp("hostile") / "hostile.db"
    with sqlite3.connect(make_url(sample_store.url).database) as src, sqlite3.connect(path) as dst:
        src.backup(dst)
    store = Store(f"sqlite:///{path}")
    add_hostile(store)
    topics = [
        TopicInfo(TOPICS[0].name, HOSTILE_TITLE, frozenset(TOPICS[0].tags)),
        *(TopicInfo(t.name, t.display_name, frozenset(t.tags)) for t in TOPICS[1:]),
    ]
    # sources from the store: evil[/] included
    yield StoreProvider(store, topics=topics, clock=lambda: NOW)
    store.close()


def hostile_logs() -> LogBuffer:
    logs = LogBuffer()
    logs.add(LogEntry(0, NOW, 40, f"monitor.{MARKUP}", HOSTILE_TEXT))
    return logs


def assert_clean(text: str, *literal: str) -> None:
    for raw in RAW:
        assert raw not in text, repr(raw)
    for piece in literal:
        assert piece in text, piece


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_hostile_text_through_every_screen(
    hostile_provider: StoreProvider, size: tuple[int, int]
) -> None:
    wide = size[0] >= 120

    async def main() -> None:
        app = DashboardApp(hostile_provider, logs=hostile_logs(), refresh_s=None)
        async with app.run_test(size=size) as pilot:
            await settle(app, pilot)
            await tour(app, pilot)

    async def tour(app: DashboardApp, pilot: Pilot) -> None:
        problem = "evil[/]: [bold red]boom[/]"  # the most urgent source, on every screen
        assert_clean(
            screen_text(app), "[b]Thaw[/b]", problem, *(["[/] [bold red]loud"] if wide else [])
        )
        await press(app, pilot, "t")
        assert_clean(screen_text(app), "[b]Thaw[/b]", problem)
        table = app.screen.query_one("#top-posts", DataTable)
        assert any(
            "[/] [bold red]loud" in str(row[-1])
            for row in (table.get_row_at(i) for i in range(table.row_count))
        )
        await press(app, pilot, "l")
        assert_clean(screen_text(app), "[/] [bold red]loud", problem)
        # the filters' choices
        for select, shown in (
            ("#f-source", "evil[/]"),
            ("#f-topic", "[b]Thaw[/b]"),
        ):
            app.screen.query_one(select, Select).focus()
            await press(app, pilot, "enter")
            assert_clean(screen_text(app), shown)
            await press(app, pilot, "escape")
        app.screen.query_one("#stream", DataTable).focus()
        await press(app, pilot, "enter")  # the newest post is the hostile one
        assert isinstance(app.screen, PostScreen)
        assert_clean(
            screen_text(app),
            "[bold]boss[/bold]",
            "[/] [bold red]loud [$accent] a [/ b",
            "yyyyyyyyyy",
        )
        await press(app, pilot, "escape", "h")
        assert_clean(screen_text(app), "evil[/]", "[bold red]boom[/]", problem)
        await press(app, pilot, "g")
        app.screen.query_one(RichLog).scroll_home(animate=False)  # the log follows its newest line
        await pilot.pause()
        assert_clean(screen_text(app), "[/] [bold red]loud [$accent] a [/ b", problem)
        await press(app, pilot, "question_mark")
        assert_clean(screen_text(app))

    asyncio.run(main())


def test_the_long_post_is_one_cut_line_in_tables(hostile_provider: StoreProvider) -> None:
    """A 10,000-character post must not widen the table (DataTable columns grow to their content)."""
    post = hostile_provider.fetch(Request(view="live", live=LiveFilter(text="loud"))).posts[0]
    assert len(post.text) > 10_000

    async def main() -> None:
        app = DashboardApp(hostile_provider, refresh_s=None)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(app, pilot)
            await press(app, pilot, "l")
            table = app.screen.query_one("#stream", DataTable)
            assert table.virtual_size.width <= 80

    asyncio.run(main())
