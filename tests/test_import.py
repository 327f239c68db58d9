"""`monitor import` and the followed JSONL file: idempotent, bad rows by line number, nothing stops."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from monitor.ingest.importer import import_file
from monitor.ingest.poll import Ingestor
from monitor.sources.base import PollContext
from monitor.sources.file import FileSettings, FileSource

ROWS = [
    {
        "id": "1",
        "text": "What a wonderful, hopeful deal!",
        "created_at": "2026-03-18T10:00:00Z",
        "author": "ann",
        "url": "https://example.org/1",
        "hashtags": ["TrumpPutinBusiness"],
    },
    {
        "id": "2",
        "text": "A shameful, terrible betrayal.",
        "created_at": "2026-03-18T10:05:00+01:00",
    },
    {
        "id": "3",
        "text": "Сделка века, отличные новости",
        "created_at": "2026-03-18T11:00:00Z",
        "lang": "ru",
    },
]


def write_jsonl(path, rows, extra_lines=()):
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        for line in extra_lines:
            fh.write(line + "\n")


def test_import_jsonl_is_idempotent_and_reports_bad_rows(store, tmp_path):
    path = tmp_path / "tweets.jsonl"
    write_jsonl(
        path,
        ROWS,
        [
            '{"id": "4", "text": "no time"}',
            "{not json",
            '{"id": "5", "text": "x", "created_at": "yesterday"}',
        ],
    )
    rep = import_file(store, path, topic="imported")
    assert rep.new_posts == 3 and rep.rows == 6
    assert [(b.line, "created_at" in b.message or "JSON" in b.message) for b in rep.bad_rows] == [
        (4, True),
        (5, True),
        (6, True),
    ]
    again = import_file(store, path, topic="imported")
    assert again.new_posts == 0 and again.duplicates == 3
    posts = {p["native_id"]: p for p in store.posts(topic="imported")}
    assert set(posts) == {"1", "2", "3"}
    assert posts["2"]["created_at"] == datetime(2026, 3, 18, 9, 5, tzinfo=UTC)
    assert (
        posts["3"]["compound"] is None and posts["1"]["compound"] > 0.5 > 0 > posts["2"]["compound"]
    )
    assert store.sums("imported").total == 3


def test_import_csv_with_hostile_text(store, tmp_path):
    path = tmp_path / "posts.csv"
    path.write_text(
        "id,text,created_at,hashtags\n"
        '1,"Great, ""really"" great\nnews",2026-03-18T10:00:00Z,"a b"\n'
        '2,=HYPERLINK("http://evil"),2026-03-18T10:00:00Z,\n'
        "3,,2026-03-18T10:00:00Z,\n",
        encoding="utf-8",
    )
    rep = import_file(store, path, topic="t", source="lab")
    assert rep.new_posts == 2 and [b.line for b in rep.bad_rows] == [5]
    texts = sorted(p["text"] for p in store.posts())
    assert texts[0].startswith("=HYPERLINK") and 'Great, "really" great\nnews' in texts


def test_import_command_prints_bad_rows_by_line(tmp_path):
    path = tmp_path / "d.jsonl"
    write_jsonl(path, ROWS[:1], ["{oops"])
    env = {k: v for k, v in os.environ.items() if k not in ("MONITOR_CONFIG",)}
    env["MONITOR_DB_URL"] = f"sqlite:///{tmp_path}/m.db"
    r = subprocess.run(
        [sys.executable, "-m", "monitor", "import", str(path), "--topic", "ds"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert f"{path}:2: not valid JSON" in r.stderr
    assert "1 new posts stored in topic 'ds'" in r.stdout


def test_followed_jsonl_file_reads_only_complete_new_lines(sqlite_url, tmp_path):
    from monitor.store.db import Store

    store = Store(sqlite_url)
    path = tmp_path / "live.jsonl"
    write_jsonl(path, ROWS[:2])
    with path.open("a") as fh:
        fh.write('{"id": "9", "text": "half a li')  # a writer mid-line
    topic = type(
        "T", (), dict(name="live", title=None, hashtags=[], keywords=[], exclude=[], languages=None)
    )()
    src = FileSource(
        FileSettings(name="live", kind="file", path=str(path), match="all"), [topic], None
    )
    ing = Ingestor(store, [topic])
    assert ing.poll(src).new_posts == 2
    with path.open("a") as fh:
        fh.write('ne, now complete", "created_at": "2026-03-18T12:00:00Z"}\nnot json at all\n')
    out = ing.poll(src)
    assert out.new_posts == 1
    assert store.source_state("live")["state"]["line"] == 4
    path.write_text(json.dumps(ROWS[2]) + "\n")  # rotated: smaller than the offset
    assert ing.poll(src).new_posts == 1
    store.close()


def test_missing_followed_file_is_an_error_in_words(tmp_path):
    src = FileSource(
        FileSettings(name="f", kind="file", path=str(tmp_path / "nope.jsonl")), [], None
    )
    with pytest.raises(Exception, match="does not exist"):
        src.fetch({}, PollContext(now=datetime.now(UTC), backfill=timedelta(days=1)))
