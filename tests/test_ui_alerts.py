"""The alerts screen (`a`), the overview's spike mark, toasts for new alerts, screenshots (`s`)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert
from textual.widgets import DataTable
from ui_support import NOW, TOPICS, press, sample_provider, screen_text, settle, write_posts

from monitor.store.db import Store
from monitor.store.models import Alert
from monitor.ui.app import DashboardApp
from monitor.ui.screens.overview import TopicTable

TOPIC = TOPICS[0].name
HOSTILE = "Volume spike [/] [bold red]x[/] \x1b]0;pwned\x07 in the hour from 12:00"


def _alert(hour: int, **kw) -> dict:
    start = NOW.replace(minute=0, second=0) - timedelta(hours=hour)
    row = {
        "topic": TOPIC,
        "kind": "volume",
        "direction": "up",
        "bucket_start": start,
        "bucket_s": 3600,
        "created_at": start + timedelta(minutes=50),
        "value": 90.0,
        "expected": 21.0,
        "threshold": 40.5,
        "summary": f"Volume spike in the hour from {start:%H:%M}: 90 posts, expected about 21",
        "details": {
            "drivers": {
                "hashtags": [{"tag": "energy", "contribution": 30}],
                "posts": [{"author": "[b]eve[/b]", "text": "the [/] post that drove it"}],
            }
        },
        "delivery_attempts": 0,
        "delivered_at": None,
        "next_delivery_at": None,
        "delivery_error": None,
    }
    row.update(kw)
    return row


def _store(url: str) -> Store:
    write_posts(
        url, first=0, count=60, newest=NOW - timedelta(minutes=1), oldest=NOW - timedelta(hours=20)
    )
    store = Store(url)
    with store.write() as conn:
        conn.execute(
            insert(Alert),
            [
                _alert(5, delivered_at=NOW - timedelta(hours=4)),
                _alert(
                    2,
                    kind="sentiment",
                    direction="down",
                    value=-0.41,
                    expected=-0.05,
                    threshold=0.2,
                    summary=HOSTILE,
                    delivery_error="webhook answered HTTP 500",
                ),
            ],
        )
    return store


def test_alerts_screen_newest_first_with_drivers_and_sending(
    sqlite_url: str, tmp_path: Path
) -> None:
    store = _store(sqlite_url)

    async def main() -> None:
        app = DashboardApp(
            sample_provider(store), refresh_s=None, screenshot_dir=tmp_path / "shots"
        )
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            await press(app, pilot, "a")
            assert app.current_mode == "alerts"
            text = screen_text(app)
            first, second = text.index("mood ▼"), text.index("volume ▲")
            assert first < second  # newest first
            assert "not sent: webhook answered HTTP 500" in text and "sent 10:05" in text
            assert "#energy" in text
            # text, never markup
            assert "Volume spike [/] [bold red]x[/]" in text and "\x1b" not in text
            assert "the [/] post that drove it" in text  # the highlighted alert's posts, as text
            await press(app, pilot, "s")
            shots = list((tmp_path / "shots").glob("*.svg"))
            assert len(shots) == 1 and "Alerts" in shots[0].read_text()

    try:
        asyncio.run(main())
    finally:
        store.close()


def test_spike_mark_opens_alerts_and_new_alerts_toast(sqlite_url: str) -> None:
    store = _store(sqlite_url)

    async def main() -> None:
        app = DashboardApp(sample_provider(store), refresh_s=None)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            table = app.screen.query_one("#topics", TopicTable)
            spike_col = len(table.ordered_columns) - 1
            x = sum(c.get_render_width(table) for c in table.ordered_columns[:spike_col]) + 2
            await pilot.click(TopicTable, offset=(x, 2))  # inside the border, under the header
            await settle(app, pilot)
            assert app.current_mode == "alerts"
            alerts = app.screen.query_one("#alerts", DataTable)
            assert alerts.row_count == 2
            with store.write() as conn:  # the collector stores a new alert while we watch
                conn.execute(insert(Alert), [_alert(1, summary="Volume spike: a fresh one")])
            app.refresh_data()
            await settle(app, pilot)
            assert any("a fresh one" in str(n.message) for n in app._notifications)
            assert alerts.row_count == 3

    try:
        asyncio.run(main())
    finally:
        store.close()
