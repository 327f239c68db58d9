"""The demo explains itself: its config names its store, the replay moves on after the story,
and the commands it prints to look again work against the demo's store."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from test_cli import run

from monitor.config.feeds import load_config
from monitor.demo import write_demo_config
from monitor.simulator.corpus import SPAN_S, load_corpus
from monitor.simulator.replay import Replay, with_trickle
from monitor.simulator.server import SimClock


def test_the_demo_config_names_its_store(tmp_path):
    path = write_demo_config("http://127.0.0.1:9", tmp_path / "storage")
    config = load_config(path)
    assert config.store_url({}) == f"sqlite:///{tmp_path / 'storage' / 'demo.db'}"
    secret = write_demo_config(
        "http://127.0.0.1:9", tmp_path / "s2", "postgresql+psycopg://u:pw@h/db"
    )
    assert "pw" not in secret.read_text()  # a password never lands in a file meant to be shared


def test_the_trickle_follows_the_story_with_new_ids():
    corpus = load_corpus()
    extended = with_trickle(corpus, every_s=60, span_s=3600)
    extra = extended[len(corpus) :]
    assert 50 <= len(extra) <= 60 and all(p.offset_s >= SPAN_S for p in extra)
    assert len({p.id for p in extended}) == len(extended)


def test_the_replay_slows_to_real_time_when_the_story_ends():
    clock = SimClock(epoch=datetime(2026, 3, 1, tzinfo=UTC), speed=2000)
    replay = Replay(clock, span_s=400)  # 0.2 s of real time
    assert "of the story played" in replay.words(wide=True) and not replay.ended
    replay.watch()
    deadline = time.monotonic() + 5
    while clock.speed != 1.0 and time.monotonic() < deadline:
        time.sleep(0.01)
    # no big overshoot, never set back
    assert clock.speed == 1.0 and 400 <= clock.offset_s() < 400 + 60
    assert "story played, live trickle" in replay.words(wide=True)
    replay.stop()


def test_the_look_again_commands_read_the_demo_store(tmp_path):
    r = run("demo", "--headless", "--duration", "4", env={"CI": "1"}, timeout=180, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    commands = re.findall(r"^  (monitor -c \S+ .+)$", r.stdout, re.M)
    assert any(" dashboard" in c for c in commands) and any(" export posts" in c for c in commands)
    digest = next(c for c in commands if " digest --date " in c).split()[1:]
    out = run(*digest, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "no posts are stored" not in out.stdout and "environment variable" not in out.stderr
    files = list((tmp_path / "storage" / "digests").rglob("*.md"))
    assert files and "No posts are stored" not in files[0].read_text()
    status = run(
        *next(c for c in commands if c.endswith(" status")).split()[1:], "--json", cwd=tmp_path
    )
    assert '"posts_total": 0' not in status.stdout.split('"topics"')[1]
    empty = run(*digest[:-1], "2020-01-01", cwd=tmp_path)
    assert "no posts are stored for 2020-01-01" in empty.stdout
    text = next((tmp_path / "storage" / "digests").rglob("2020-01-01/*.md")).read_text()
    assert "No posts are stored for this day" in text and "every source answered" not in text


def test_the_top_line_shows_the_replay(provider):
    """The demo's dashboard says it is a replay, when, and how much of the story has played."""
    import asyncio

    from ui_support import screen_text, settle

    from monitor.ui.app import DashboardApp

    clock = SimClock(epoch=datetime(2026, 3, 1, tzinfo=UTC), speed=0)
    clock.set_offset(SPAN_S * 0.35)
    replay = Replay(clock)

    async def main() -> None:
        app = DashboardApp(provider, refresh_s=None, replay=replay)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            assert "replay Mar 02 01:12 · 35% of the story played" in screen_text(app)
        async with DashboardApp(provider, refresh_s=None, replay=replay).run_test(
            size=(80, 24)
        ) as pilot:
            await settle(pilot.app, pilot)
            assert "replay Mar 02 01:12 35%" in screen_text(pilot.app)

    asyncio.run(main())
