"""The `monitor` command as a user runs it: in a subprocess, with exit codes and output checked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

GOOD = """
topics:
  - name: thaw
    hashtags: ["#TrumpPutinBusiness", "#TrumpPutin"]
    keywords: ["Dmitriev"]
sources:
  - name: tags
    kind: rss
    url: "{url}/tags/TrumpPutin.rss?limit=200"
    interval: 1s
    backfill: 30d
"""

BAD = """topics:
  - name: thaw
    hashtags: ["#x"]
sources:
  - name: a
    kind: rss
    url: "not a url"
    intervall: 5m
"""


def run(*args, env=None, timeout=120, input=None, cwd=None):
    e = dict(os.environ)
    e.pop("MONITOR_CONFIG", None)
    e.pop("MONITOR_DB_URL", None)
    e.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        env=e,
        timeout=timeout,
        input=input,
        stdin=None if input else subprocess.DEVNULL,
        cwd=cwd,
    )


@pytest.fixture
def good(tmp_path, simulator):
    simulator.clock.set_offset(2 * 86400)
    path = tmp_path / "feeds.yaml"
    path.write_text(GOOD.format(url=simulator.url))
    return path


@pytest.fixture
def bad(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    return path


def test_config_check_accepts_the_shipped_feeds_yaml():
    r = run("config", "check", str(ROOT / "feeds.yaml"))
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stdout and "google-news" in r.stdout


def test_config_check_reports_each_problem_with_line_and_column(bad):
    r = run("config", "check", str(bad))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert any(line.startswith(f"{bad}:7:") and "url" in line.lower() for line in lines), r.stderr
    assert any(line.startswith(f"{bad}:8:5:") and "interval" in line for line in lines), r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("command", [["poll", "--once"], ["status"], ["run", "--headless"]])
def test_every_command_reading_the_config_reports_errors_the_same_way(bad, tmp_path, command):
    r = run("--config", str(bad), "--db", f"sqlite:///{tmp_path}/x.db", *command, timeout=30)
    assert r.returncode == 2
    assert r.stderr.startswith(f"{bad}:") and "Traceback" not in r.stderr


def test_poll_once_then_status_json(good, tmp_path):
    env = {"MONITOR_CONFIG": str(good), "MONITOR_DB_URL": f"sqlite:///{tmp_path}/m.db"}
    r = run("poll", "--once", env=env)
    assert r.returncode == 0, r.stderr
    assert "tags: ok" in r.stdout
    r = run("status", "--json", env=env)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    (src,) = data["sources"]
    assert set(src) >= {
        "name",
        "kind",
        "last_poll_at",
        "last_outcome",
        "last_error",
        "consecutive_failures",
        "posts_total",
    }
    assert src["name"] == "tags" and src["last_outcome"] == "ok" and src["posts_total"] > 0
    (topic,) = data["topics"]
    assert set(topic) >= {"name", "posts_total", "posts_24h", "mean_compound_24h", "er3_24h"}
    assert topic["posts_total"] == src["posts_total"]
    r = run("status", env=env)
    assert r.returncode == 0 and "tags" in r.stdout


def test_poll_reports_a_failing_source_in_words(good, tmp_path, simulator):
    simulator.set_faults(status=503, retry_after=5)
    env = {"MONITOR_CONFIG": str(good), "MONITOR_DB_URL": f"sqlite:///{tmp_path}/m.db"}
    r = run("poll", "--once", env=env)
    assert r.returncode == 1
    assert "server error (503)" in r.stdout and "Traceback" not in r.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_headless_stops_cleanly_on_signals(good, tmp_path, sig):
    env = dict(os.environ, MONITOR_CONFIG=str(good), MONITOR_DB_URL=f"sqlite:///{tmp_path}/m.db")
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--headless"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    # Signal only once the first poll has said what it stored: a fixed sleep raced the poll on a
    # loaded machine. The reader thread keeps draining stderr so the child never blocks on it.
    lines: list[str] = []
    collected = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "new post(s)" in line:
                collected.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert collected.wait(120), "".join(lines)
    proc.send_signal(sig)
    proc.wait(timeout=30)
    reader.join(timeout=10)
    err = "".join(lines)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "stopped cleanly" in err


def test_db_upgrade(tmp_path):
    r = run("--db", f"sqlite:///{tmp_path}/u.db", "db", "upgrade")
    assert r.returncode == 0 and "newest schema" in r.stdout


def test_bad_store_url_is_an_error_in_words(tmp_path, good):
    r = run(
        "--config",
        str(good),
        "--db",
        "postgresql+psycopg://nobody@127.0.0.1:1/none",
        "status",
        timeout=60,
    )
    assert r.returncode == 2 and "cannot open the store" in r.stderr and "Traceback" not in r.stderr


def test_demo_headless_prints_a_summary(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "monitor", "demo", "--headless", "--duration", "6"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=180,
        stdin=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if k not in ("MONITOR_CONFIG", "MONITOR_DB_URL")},
    )
    assert r.returncode == 0, r.stderr
    assert "US–Russia business thaw" in r.stdout and "ER-3" in r.stdout
    assert (tmp_path / "storage" / "demo.db").exists()


def test_the_collector_runs_with_its_start_up_heap_frozen(good, tmp_path):
    """`monitor poll`/`run` freeze the start-up heap and raise the GC threshold (15% throughput in
    benchmarks/ingest.py); the commands that only read keep Python's defaults."""
    probe = (
        "import gc, sys; from monitor.cli import main; code = main(sys.argv[1:]); "
        "print(gc.get_threshold(), gc.get_freeze_count() > 0, code)"
    )
    e = dict(os.environ, MONITOR_CONFIG=str(good), MONITOR_DB_URL=f"sqlite:///{tmp_path}/m.db")
    poll = subprocess.run(
        [sys.executable, "-c", probe, "poll", "--once"],
        capture_output=True,
        text=True,
        env=e,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert poll.stdout.strip().splitlines()[-1] == "(50000, 20, 20) True 0", poll.stderr
    status = subprocess.run(
        [sys.executable, "-c", probe, "status"],
        capture_output=True,
        text=True,
        env=e,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert status.stdout.strip().splitlines()[-1] == "(700, 10, 10) False 0", status.stderr
