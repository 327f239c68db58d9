"""Two feeds over the simulator, for the tests that run collectors (scheduling, leases)."""

from __future__ import annotations

from pathlib import Path

from monitor.config.feeds import Config, load_config

TWO_FEEDS = """
topics:
  - name: thaw
    hashtags: ["#TrumpPutinBusiness", "#TrumpPutin"]
    keywords: ["Dmitriev"]
sources:
  - name: tags
    kind: rss
    url: "{url}/tags/TrumpPutin.rss?limit=200"
    interval: {interval}
  - name: all
    kind: rss
    url: "{url}/feeds/all.atom?limit=400"
    interval: {interval}
"""


def two_feeds(tmp_path: Path, simulator, interval: str) -> Config:
    """`tags` and `all` polled every `interval`, the simulator 2.9 days in (within the default
    24 h backfill of the real clock)."""
    simulator.clock.set_offset(2.9 * 86400)
    path = tmp_path / "feeds.yaml"
    path.write_text(TWO_FEEDS.format(url=simulator.url, interval=interval))
    return load_config(path)
