"""`monitor import` of hostile datasets: every good row stored, every bad row reported by its line
(and kept in the quarantine), never a traceback."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from monitor.cli import main
from monitor.ingest.importer import import_file
from monitor.store.db import Store
from monitor.store.models import Quarantine

GOOD = {"text": "A wonderful, hopeful deal", "created_at": "2026-03-18T10:00:00Z"}
HOSTILE_LINES = [
    '{"id": "s", "text": "half an emoji \\ud83d", "created_at": "2026-03-18T10:00:00Z"}',  # repaired, stored
    '{"id": "a", "text": "x", "created_at": "2026-03-18T10:00:00Z", "author": {"name": "x"}}',
    '{"id": "e", "text": "x", "created_at": 1e20}',
    '{"id": "i", "text": "x", "created_at": Infinity}',
    '{"id": "n", "text": "x", "created_at": NaN}',
    '{"id": "f", "text": "x", "created_at": "9999-12-31T23:59:59-14:00"}',
    '{"id": "y", "text": "x", "created_at": "3000-01-01T00:00:00Z"}',
    '{"id": {"x": 1}, "text": "x", "created_at": "2026-03-18T10:00:00Z"}',
    '{"id": "d", "text": "x", "created_at": "2026-03-18T10:00:00Z", "url": ["a"]}',
    "[" * 100_000,
    '"just a string"',
    "\x1b]0;pwned\x07",
]


def _jsonl(path, lines):
    out = []
    for i, line in enumerate(lines):
        out.append(json.dumps({"id": f"good-{i}", **GOOD}))
        out.append(line)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


def test_hostile_jsonl_stores_the_good_rows_and_names_every_bad_one(sqlite_url, tmp_path):
    path = tmp_path / "hostile.jsonl"
    _jsonl(path, HOSTILE_LINES)
    store = Store(sqlite_url)
    rep = import_file(store, path, topic="t")
    good = len(HOSTILE_LINES) + 1  # every good row, plus the repaired surrogate
    assert rep.new_posts == good
    assert [b.line for b in rep.bad_rows] == list(range(4, 2 * len(HOSTILE_LINES) + 1, 2))
    with store.read() as conn:
        kept = {q["position"]: q for q in conn.execute(select(Quarantine)).mappings()}
    assert set(kept) == {f"line {b.line}" for b in rep.bad_rows}
    reasons = {b.line: b.message for b in rep.bad_rows}
    assert "author must be text" in reasons[4]
    assert (
        "out of range" in reasons[6] and "not a time" in reasons[8] and "not a time" in reasons[10]
    )
    assert "out of range" in reasons[12] and "future" in reasons[14]
    assert all(r["raw"].isascii() for r in kept.values())
    store.close()


def test_import_command_never_tracebacks_on_hostile_rows(tmp_path, capsys, monkeypatch):
    path = tmp_path / "hostile.jsonl"
    _jsonl(path, HOSTILE_LINES)
    monkeypatch.setenv("MONITOR_DB_URL", f"sqlite:///{tmp_path}/m.db")
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["import", str(path), "--topic", "ds"]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert f"{path}:4: author must be text" in err
    assert f"{len(HOSTILE_LINES) + 1} new posts stored" in out


def test_csv_with_a_byte_order_mark_and_a_huge_field(sqlite_url, tmp_path):
    path = tmp_path / "excel.csv"
    big = "Dmitriev " * 20_000  # 180,000 characters: over Python's default csv field limit
    rows = [
        "id,text,created_at",
        "1,first,2026-03-18T10:00:00Z",
        f'2,"{big}",2026-03-18T10:01:00Z',
        f'3,"{"x" * 1_100_000}",2026-03-18T10:02:00Z',
        "4,after the giant,2026-03-18T10:03:00Z",
    ]
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(rows).encode() + b"\r\n")
    store = Store(sqlite_url)
    rep = import_file(store, path, topic="t")
    assert rep.new_posts == 3
    assert [b.line for b in rep.bad_rows] == [
        4
    ] and "field larger than field limit" in rep.bad_rows[0].message
    assert sorted(p["native_id"] for p in store.posts()) == ["1", "2", "4"]
    store.close()


@pytest.mark.parametrize("header", ["text,created_at", ""])
def test_csv_without_the_columns_is_one_bad_row_in_words(sqlite_url, tmp_path, header):
    path = tmp_path / "bad.csv"
    path.write_text(header + "\n")
    store = Store(sqlite_url)
    rep = import_file(store, path, topic="t")
    assert (
        rep.new_posts == 0
        and rep.bad_rows[0].line == 1
        and "header lacks" in rep.bad_rows[0].message
    )
    store.close()


def test_quarantine_command_lists_what_was_kept_safely(tmp_path, capsys, monkeypatch):
    path = tmp_path / "hostile.jsonl"
    _jsonl(path, HOSTILE_LINES)
    monkeypatch.setenv("MONITOR_DB_URL", f"sqlite:///{tmp_path}/m.db")
    monkeypatch.delenv("MONITOR_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["import", str(path), "--topic", "ds"]) == 0
    capsys.readouterr()
    assert main(["quarantine", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == len(HOSTILE_LINES) - 1 and {r["position"] for r in rows} >= {
        "line 4",
        "line 24",
    }
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["quarantine"]) == 0
    out = capsys.readouterr().out
    assert "line 4" in out and "author must be text" in out
    assert "\x1b]" not in out and "\x07" not in out  # the hostile line's title-setting sequence
