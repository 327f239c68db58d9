"""Kill -9 an ingesting collector at random moments, several times: nothing lost, nothing twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from monitor.simulator.server import SimClock, Simulator, default_epoch
from monitor.store.db import Store
from monitor.store.models import Bucket, Post, PostTopic

pytestmark = pytest.mark.slow

CONFIG = """
topics:
  - name: thaw
    hashtags: ["#TrumpPutinBusiness"]
sources:
  - name: everything
    kind: rss
    url: "{url}/feeds/all.atom?limit=1000"
    interval: 200ms
    backfill: 30d
    match: all
"""


def _env(db_url: str, config: Path) -> dict[str, str]:
    env = dict(os.environ, MONITOR_DB_URL=db_url, MONITOR_CONFIG=str(config))
    env.pop("CI", None)
    return env


def _wait_for(path: Path, text: str, timeout: float = 90.0) -> None:
    """Start-up time varies with machine load; kill only once the collector is polling."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise AssertionError(f"collector did not start: {path.read_text(errors='replace')[-2000:]}")


def test_killed_collector_loses_nothing_and_stores_nothing_twice(tmp_path):
    rng = random.Random(20261121)
    # The test moves the simulated clock itself, an hour per run, so posts keep arriving while
    # the collector is killed however slow the machine is, yet fewer than a feed page (1,000)
    # arrive in all: every item a killed poll was served is still there for a later poll, so any
    # loss is the collector's.
    clock = SimClock(epoch=default_epoch(), start_offset_s=6 * 3600)
    clock.pause()
    db_url = f"sqlite:///{tmp_path}/crash.db"
    with Simulator(clock=clock) as sim:
        config = tmp_path / "feeds.yaml"
        config.write_text(CONFIG.format(url=sim.url))
        env = _env(db_url, config)
        kills = 0
        for _ in range(6):
            log = (tmp_path / f"run{kills}.log").open("w")
            proc = subprocess.Popen(
                [sys.executable, "-m", "monitor", "run", "--headless"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
                stdin=subprocess.DEVNULL,
            )
            _wait_for(tmp_path / f"run{kills}.log", "collecting from")
            sim.clock.set_offset(sim.clock.offset_s() + 3600)
            # polls run every 200 ms: kill at a random point of one
            time.sleep(rng.uniform(0.05, 1.5))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            kills += 1
        sim.clock.pause()
        done = subprocess.run(
            [sys.executable, "-m", "monitor", "poll", "--once"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, done.stderr
        served = sim.served_ids()

    store = Store(db_url)
    with store.read() as conn:
        stored = conn.execute(select(Post.native_id)).scalars().all()
        links = conn.execute(select(func.count()).select_from(PostTopic)).scalar_one()
        bucketed = conn.execute(
            select(func.sum(Bucket.n_neg + Bucket.n_neu + Bucket.n_pos + Bucket.n_unscored)).where(
                Bucket.source == "*"
            )
        ).scalar_one()
    store.close()
    assert kills == 6 and 100 < len(served) < 1000
    assert len(stored) == len(set(stored)), "a post was stored twice"
    assert set(stored) == served, (
        f"lost {len(served - set(stored))}, extra {len(set(stored) - served)}"
    )
    assert links == len(stored) and bucketed == len(stored), (
        "bucket sums counted a post twice or not at all"
    )
