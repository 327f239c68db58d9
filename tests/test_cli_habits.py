"""CLI habits: options where users type them, numbers checked, topics checked, status that fits."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console
from test_cli import GOOD, run

from monitor.ui.status import render_status


@pytest.fixture
def good(tmp_path, simulator):
    simulator.clock.set_offset(2 * 86400)
    path = tmp_path / "feeds.yaml"
    path.write_text(GOOD.format(url=simulator.url))
    return path


def test_global_options_before_or_after_the_command(good, tmp_path):
    db = f"sqlite:///{tmp_path}/m.db"
    r = run("-c", str(good), "--db", db, "poll", "--once")
    assert r.returncode == 0, r.stderr
    after = run("status", "--json", "-c", str(good), "--db", db)
    assert after.returncode == 0, after.stderr
    # the same store, named after the command
    assert json.loads(after.stdout)["sources"][0]["posts_total"] > 0
    other = run("status", "--json", "-c", str(good), "--db", f"sqlite:///{tmp_path}/other.db")
    assert json.loads(other.stdout)["topics"][0]["posts_total"] == 0


@pytest.mark.parametrize(
    "args, words",
    [
        (("simulate", "--port", "99999"), "--port: expected a port number from 0 to 65535"),
        (("demo", "--duration", "-5"), "--duration: expected a number of seconds above 0, got -5"),
        (("demo", "--headless", "--speed", "0"), "--speed: expected a speed above 0"),
        (("demo", "--duration", "nan"), "--duration: expected a number of seconds above 0"),
        (("alerts", "--limit", "0"), "--limit: expected a whole number from 1"),
    ],
)
def test_numeric_flags_are_refused_in_one_line(args, words):
    r = run(*args, timeout=30)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and words in r.stderr and "Traceback" not in r.stderr


def test_import_refuses_a_topic_the_config_does_not_define(good, tmp_path):
    data = tmp_path / "posts.jsonl"
    data.write_text('{"id": "1", "text": "a post", "created_at": "2026-03-01T12:00:00Z"}\n')
    db = f"sqlite:///{tmp_path}/m.db"
    r = run("import", str(data), "--topic", "thw", "-c", str(good), "--db", db)
    assert r.returncode == 2 and "did you mean 'thaw'?" in r.stderr and "--new-topic" in r.stderr
    status = json.loads(run("status", "--json", "-c", str(good), "--db", db).stdout)
    assert [t["name"] for t in status["topics"]] == ["thaw"]  # nothing was created
    r = run("import", str(data), "--topic", "thw", "--new-topic", "-c", str(good), "--db", db)
    assert r.returncode == 0, r.stderr
    assert "1 new posts" in r.stdout


LONG_ERROR = ("could not reach the server because of a very long explanation " * 6).strip()


def _status(outcome: str, error: str | None, failures: int = 0) -> dict:
    return {
        "generated_at": "2026-03-03T14:05:00+00:00",
        "sources": [
            {
                "name": "google-news-search-for-a-very-long-name",
                "kind": "rss",
                "last_poll_at": "2026-03-03T14:02:00+00:00",
                "last_outcome": outcome,
                "last_error": error,
                "consecutive_failures": failures,
                "posts_total": 123456,
                "next_poll_at": "2026-03-03T14:12:00+00:00",
                "collector": "host:1:tag",
            }
        ],
        "topics": [
            {
                "name": "trump-putin-business",
                "posts_total": 1234567,
                "posts_24h": 4812,
                "mean_compound_24h": -0.081,
                "er3_24h": 0.61,
            }
        ],
    }


@pytest.mark.parametrize(
    "outcome, error, failures, words",
    [
        ("not_modified", None, 0, "ok, no change"),
        ("error", LONG_ERROR, 3, "failing ×3"),
        ("partial", "page 3 failed", 0, "partly failed"),
        (None, None, 0, "never polled"),
    ],
)
def test_status_fits_80_columns_in_words(outcome, error, failures, words):
    out = io.StringIO()
    render_status(_status(outcome, error, failures), console=Console(file=out, width=80))
    text = out.getvalue()
    assert all(len(line) <= 80 for line in text.splitlines())
    assert words in text and "not_modified" not in text
    assert "3 min ago" in text and "in 7 min" in text  # relative times, and the next poll
    source_rows = [line for line in text.splitlines() if line.startswith("google-news")]
    assert len(source_rows) == 1  # one line, however long the error


def test_status_verbose_prints_the_error_in_full():
    out = io.StringIO()
    render_status(
        _status("error", LONG_ERROR, 3), verbose=True, console=Console(file=out, width=80)
    )
    assert LONG_ERROR.replace(" ", "") in out.getvalue().replace("\n", "").replace(" ", "")


def test_config_check_warns_on_impolite_intervals_and_bare_numbers(tmp_path):
    path = tmp_path / "feeds.yaml"
    path.write_text("""topics:
  - name: thaw
    hashtags: ["#x"]
sources:
  - name: google-news
    kind: rss
    url: https://news.google.com/rss/search?q=x
    interval: 1s
  - name: hn
    kind: hackernews
    queries: [x]
    interval: 600
""")
    r = run("config", "check", str(path))
    assert r.returncode == 0, r.stderr
    assert (
        "feeds.yaml:8:15: warning: 'interval' in source 'google-news': every 1s is faster than Google News"
        in r.stderr
    )
    assert "use 5m or more" in r.stderr
    assert (
        "feeds.yaml:12:15: warning: 'interval' in source 'hn': a bare number is read as seconds (600 = 10m)"
        in r.stderr
    )


def test_status_says_overdue_when_the_collector_stopped():
    data = _status("ok", None)
    data["sources"][0]["next_poll_at"] = (
        "2026-03-03T13:40:00+00:00"  # due 25 minutes before generated_at
    )
    out = io.StringIO()
    render_status(data, console=Console(file=out, width=80))
    assert "overdue" in out.getvalue() and "due 25 min ago" in out.getvalue()
