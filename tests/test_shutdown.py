"""A collector stops within seconds whatever it is waiting on (a digest for an SMTP server that
never answers, a feed that trickles), keeps undelivered work for the next start, and a collector
restarted after a crash takes its dead predecessor's leases at once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from digest_support import write_config
from hostile_servers import RawServer, elapsed, trickle
from sqlalchemy import select, update

from monitor.collector import Collector
from monitor.outputs.digest.jobs import missed_days
from monitor.sources import http
from monitor.sources.base import SourceError
from monitor.store.db import Store, utcnow
from monitor.store.leases import Leases, collector_id, dead_here
from monitor.store.models import DigestRun, SourceState


@pytest.fixture
def blackhole():
    """A port that takes connections and never says a word (the SMTP greeting never comes)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


def test_stop_does_not_wait_for_an_smtp_server_that_never_answers(tmp_path, blackhole):
    config = write_config(
        tmp_path,
        f"""\
        digests:
          - name: morning
            timezone: UTC
            email:
              host: 127.0.0.1
              port: {blackhole}
              security: none
              timeout: 60s
              from: monitor@example.org
              to: [ana@example.org]
        """,
    )
    store = Store(f"sqlite:///{tmp_path}/m.db")
    collector = Collector(config, store)
    started = threading.Event()

    collector.start()  # the catch-up job builds yesterday's digest and starts sending it
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not started.is_set():
        with store.read() as conn:
            if conn.execute(select(DigestRun).where(DigestRun.output == "folder")).first():
                started.set()
        time.sleep(0.05)
    assert started.is_set()
    time.sleep(0.3)  # the e-mail attempt is now waiting on the silent server
    took, _ = elapsed(lambda: collector.stop(wait=True))
    assert took < 10  # against a 60 s SMTP timeout, retried 4 times
    with store.read() as conn:
        email = conn.execute(select(DigestRun).where(DigestRun.output == "email")).mappings().one()
    assert email["status"] == "failed" and "collector stopped" in email["error"]
    # the next start finds it undone and sends it again
    assert missed_days(store, config.digest("morning"), utcnow())
    store.close()


def test_a_stopped_collector_cuts_a_trickling_request_short():
    client = http.make_client(timeout=60)
    payload = b"HTTP/1.1 200 OK\r\n" + b"X: " + b"a" * 400 + b"\r\n\r\n"
    with RawServer(trickle(payload, 0.1)) as server:
        result: list[object] = []
        worker = threading.Thread(
            target=lambda: result.append(
                elapsed(lambda: http.get(client, server.url + "/", what="feed", timeout=60))
            )
        )
        worker.start()
        time.sleep(0.5)
        http.abort(client)
        worker.join(10)
    assert not worker.is_alive()
    _took, out = result[0]  # type: ignore[misc]
    assert isinstance(out, SourceError) and "the collector is stopping" in str(out)
    client.close()


# --- leases of a crashed predecessor ---------------------------------------------------------


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _hold(store: Store, source: str, owner: str) -> None:
    with store.write() as conn:
        conn.execute(
            update(SourceState)
            .where(SourceState.source == source)
            .values(lease_owner=owner, lease_expires_at=utcnow() + timedelta(seconds=90))
        )


@pytest.fixture
def leased(tmp_path):
    from monitor.config.feeds import load_config

    (tmp_path / "feeds.yaml").write_text(
        "topics:\n  - name: t\n    keywords: [x]\nsources:\n"
        "  - name: f\n    kind: rss\n    url: http://127.0.0.1:9/x\n"
    )
    store = Store(f"sqlite:///{tmp_path}/m.db")
    store.sync_sources(load_config(tmp_path / "feeds.yaml").sources)
    yield store
    store.close()


def test_a_dead_predecessor_on_this_host_gives_up_its_lease_at_once(leased):
    _hold(leased, "f", f"{socket.gethostname()}:{_dead_pid()}:abc123")
    me = Leases(leased, collector_id())
    assert me.acquire("f")
    assert leased.source_state("f")["lease_owner"] == me.owner


@pytest.mark.parametrize(
    "owner",
    [
        lambda: f"{socket.gethostname()}:{os.getppid()}:abc123",  # alive
        lambda: f"another-host.example:{_dead_pid()}:abc123",  # not ours to judge
        lambda: f"{socket.gethostname()}:notapid",
    ],
)
def test_a_live_or_foreign_holder_keeps_its_lease(leased, owner):
    holder = owner()
    _hold(leased, "f", holder)
    assert not Leases(leased, collector_id()).acquire("f")
    assert leased.source_state("f")["lease_owner"] == holder


def test_dead_here_reads_only_definite_answers():
    assert dead_here(f"{socket.gethostname()}:{_dead_pid()}:x")
    assert not dead_here(f"{socket.gethostname()}:{os.getpid()}:x")  # ourselves
    assert not dead_here("elsewhere:1234:x")


@pytest.mark.slow
def test_sigterm_stops_a_collector_within_seconds_and_keeps_the_digest_for_the_next_start(
    tmp_path, blackhole
):
    """The whole process, as an operator runs it: a poll held by a trickling feed and a digest
    e-mail waiting on a silent SMTP server (60 s timeout, four attempts) when SIGTERM comes."""
    import signal

    payload = b"HTTP/1.1 200 OK\r\n" + b"X: " + b"a" * 2000 + b"\r\n\r\n"
    with RawServer(trickle(payload, 0.05)) as feed:
        (tmp_path / "feeds.yaml").write_text(f"""
topics:
  - name: thaw
    keywords: [Dmitriev]
sources:
  - name: slow
    kind: rss
    url: "{feed.url}/feed.xml"
    interval: 1m
    timeout: 120s
digests:
  - name: morning
    timezone: UTC
    email:
      host: 127.0.0.1
      port: {blackhole}
      security: none
      timeout: 60s
      from: monitor@example.org
      to: [ana@example.org]
""")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
        env["MONITOR_DB_URL"] = f"sqlite:///{tmp_path}/m.db"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "monitor",
                "--config",
                str(tmp_path / "feeds.yaml"),
                "run",
                "--headless",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (
                feed.requests and (tmp_path / "storage").exists()
            ):
                time.sleep(0.1)
            # the poll is reading the trickle; the e-mail waits on the silent server
            time.sleep(1.0)
            assert proc.poll() is None
            proc.send_signal(signal.SIGTERM)
            took, _ = elapsed(lambda: proc.wait(timeout=30))
            _out, err = proc.communicate()
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, err
    assert took < 10, err  # against 120 s of trickle and 4 × 60 s of SMTP timeouts
    assert "Traceback" not in err
    store = Store(f"sqlite:///{tmp_path}/m.db")
    with store.read() as conn:
        email = conn.execute(select(DigestRun).where(DigestRun.output == "email")).mappings().one()
    assert email["status"] == "failed" and "collector stopped" in email["error"]
    store.close()


# --- a poll the stop cut short -----------------------------------------------------------------


def test_a_poll_cut_short_by_the_stop_is_no_failure_of_the_source(tmp_path):
    """Stopping the collector mid-request must not tell the user the feed is failing, nor mark
    the minutes since the last poll incomplete: the cursor resumes at the next start."""
    from monitor.config.feeds import load_config
    from monitor.store.models import Bucket, PollLog

    payload = b"HTTP/1.1 200 OK\r\n" + b"X: " + b"a" * 400 + b"\r\n\r\n"
    with RawServer(trickle(payload, 0.1)) as server:
        (tmp_path / "feeds.yaml").write_text(
            "topics:\n  - name: t\n    keywords: [x]\nsources:\n"
            f"  - name: f\n    kind: rss\n    url: {server.url}/feed\n"
        )
        config = load_config(tmp_path / "feeds.yaml")
        store = Store(f"sqlite:///{tmp_path}/m.db")
        collector = Collector(config, store)
        result: list[object] = []
        worker = threading.Thread(target=lambda: result.append(collector.poll("f")))
        worker.start()
        time.sleep(0.5)
        collector.stop(wait=False)
        worker.join(10)
    assert not worker.is_alive()
    out = result[0]
    assert out.outcome == "stopped" and out.error is None  # type: ignore[attr-defined]
    state = store.source_state("f")
    assert state["last_outcome"] is None and state["consecutive_failures"] == 0
    assert state["failing_since"] is None and state["last_error"] is None
    with store.read() as conn:
        assert conn.execute(select(Bucket).where(Bucket.incomplete)).first() is None
        assert conn.execute(select(PollLog)).first() is None
    store.close()
