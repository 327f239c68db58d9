"""Shared by the digest, alert and delivery tests: small stores filled through the real ingest path.

Posts go in through `Ingestor.store_batch` (normalize, match, dedupe, score, buckets) with a
fixed clock, one batch per simulated poll, so the detectors read exactly what a collector writes.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scripted import ScriptedSource

from monitor.config.feeds import Config, load_config
from monitor.ingest.poll import Ingestor
from monitor.simulator.corpus import CorpusPost, load_corpus
from monitor.sources.base import Batch, RawPost, SourceError

EPOCH = datetime(2026, 3, 16, tzinfo=UTC)  # a Monday; the corpus's day 2 is Tuesday 17 March
# monitor.simulator.corpus.BURST_WINDOW starts here
DAY2_BURST = EPOCH + timedelta(days=1, hours=15)

BASE_CONFIG = """\
topics:
  - name: thaw
    title: US–Russia business thaw
    hashtags: ["#TrumpPutinBusiness", "#TrumpPutin", "#ТрампПутин"]
    keywords: ["Trump", "Putin", "Dmitriev"]
sources:
  - name: feed
    kind: rss
    url: http://127.0.0.1:9/feed.xml
    interval: 10m
"""


def write_config(tmp_path: Path, extra: str = "", base: str = BASE_CONFIG) -> Config:
    path = tmp_path / "feeds.yaml"
    path.write_text(textwrap.dedent(base) + textwrap.dedent(extra), encoding="utf-8")
    return load_config(path, env={})


class Scripted(ScriptedSource):
    kind = "rss"

    def __init__(
        self, config: Config, name: str = "feed", script: Iterable[Batch | Exception] = ()
    ):
        settings = config.source(name)
        super().__init__(settings, config.topics_for(settings), script)


def corpus_post(p: CorpusPost, epoch: datetime = EPOCH) -> RawPost:
    return RawPost(
        native_id=p.id,
        text=p.text,
        created_at=epoch + timedelta(seconds=p.offset_s),
        url=f"https://sim.example/{p.id}",
        author=p.author,
        title=p.title,
        lang=p.lang,
        tags=tuple(p.hashtags),
        engagement=p.engagement.total,
        repost_of=p.repost_of,
    )


def corpus(until_s: int | None = None) -> list[RawPost]:
    return [corpus_post(p) for p in load_corpus() if until_s is None or p.offset_s < until_s]


def post(i: int | str, text: str, at: datetime, **kw) -> RawPost:
    return RawPost(
        native_id=str(i),
        text=text,
        created_at=at,
        url=kw.pop("url", f"https://example.org/p/{i}"),
        **kw,
    )


def play(
    store,
    config: Config,
    posts: Sequence[RawPost],
    *,
    start: datetime,
    until: datetime,
    step: timedelta = timedelta(hours=1),
    after: Callable[[int, datetime], None] | None = None,
    failures: Sequence[datetime] = (),
) -> None:
    """Poll `posts` in as a collector would: every `step`, the posts created since the last poll.

    `after(mark, now)` runs after each poll (the alert hook); a poll time listed in `failures`
    fails instead (a source error), leaving a collection gap.
    """
    now = start
    clock = [now]
    ingestor = Ingestor(store, config.topics, clock=lambda: clock[0])
    source = Scripted(config)
    ordered = sorted(posts, key=lambda p: p.created_at)
    i = 0
    while now < until:
        now += step
        clock[0] = now
        batch: list[RawPost] = []
        while i < len(ordered) and ordered[i].created_at < now:
            batch.append(ordered[i])
            i += 1
        mark = _max_id(store)
        if now in failures:
            source.script.append(SourceError("the feed answered 503 (server error)", status=503))
            i -= len(batch)  # not fetched: the next good poll gets them
            ingestor.poll(source)
        else:
            ingestor.store_batch(source, Batch(posts=batch, state={}), now)
        if after is not None:
            after(mark, now)


def _max_id(store) -> int:
    from sqlalchemy import func, select

    from monitor.store.models import Post

    with store.read() as conn:
        return int(conn.execute(select(func.max(Post.id))).scalar() or 0)


class Hook:
    """A local webhook receiver: records each POST's JSON and answers with the next scripted status."""

    def __init__(self, statuses: Sequence[int] = ()):
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received: list[dict] = []
        self.paths: list[str] = []
        self.statuses = list(statuses)
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = hook.statuses.pop(0) if hook.statuses else 200
                if status < 300:
                    hook.received.append(json.loads(body))
                    hook.paths.append(self.path)
                payload = b"ok" if status < 300 else b"upstream exploded \x1b[31m"
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "1")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/SECRET-TOKEN"

    def __enter__(self) -> Hook:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
