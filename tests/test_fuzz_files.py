"""Datasets and config files written by a hostile world (hypothesis): `monitor import` stores every
good row and names every bad one by its line; `config check` answers in words. Never a traceback."""

from __future__ import annotations

import csv
import io
import json

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config.feeds import check_config
from monitor.ingest.importer import import_file
from monitor.store.db import Store

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        [
            "\ud83d",
            "\x00",
            "\x1b]0;x\x07",
            "9999-12-31T23:59:59-14:00",
            "1e20",
            "Infinity",
            "2026-03-18T10:00:00Z",
            "2026-03-18 10:00:00+01:00",
        ]
    ),
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
row = st.fixed_dictionaries(
    {},
    optional={
        "id": json_value,
        "text": json_value,
        "created_at": json_value,
        "author": json_value,
        "url": json_value,
        "lang": json_value,
        "hashtags": json_value,
    },
)
GOOD = {"id": "good", "text": "a good row", "created_at": "2026-03-18T10:00:00Z"}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = Store(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'f.db'}")
    yield s
    s.close()


@pytest.mark.slow
@FUZZ
@given(
    rows=st.lists(st.one_of(row, json_value, st.just(GOOD)), min_size=1, max_size=12),
    junk=st.lists(st.binary(max_size=40), max_size=3),
)
def test_jsonl_rows_are_stored_or_named_by_line(store, tmp_path_factory, rows, junk):
    path = tmp_path_factory.mktemp("jsonl") / "data.jsonl"
    lines = [json.dumps(r, allow_nan=True).encode() for r in rows] + [
        j.replace(b"\n", b" ") for j in junk
    ]
    for i, line in enumerate(lines):  # the good row gets a line-unique id so each one is new
        if line == json.dumps(GOOD).encode():
            lines[i] = json.dumps({**GOOD, "id": f"good-{path.parent.name}-{i}"}).encode()
    path.write_bytes(b"\n".join(lines) + b"\n")
    report = import_file(store, path, topic="fuzz")
    nonblank = [i + 1 for i, line in enumerate(lines) if line.strip()]
    bad_lines = [b.line for b in report.bad_rows]
    assert len(set(bad_lines)) == len(bad_lines) and set(bad_lines) <= set(nonblank)
    assert report.new_posts + report.duplicates + len(bad_lines) == len(nonblank)
    goods = sum(
        1 for line in lines if b'"text": "a good row"' in line and line.startswith(b'{"id": "good-')
    )
    assert report.new_posts >= goods


csv_field = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        ["", "\ud83d", "x" * 140_000, '"', "\r\n", "1e20", "9999-12-31T23:59:59-14:00", "\x00"]
    ),
)


@pytest.mark.slow
@FUZZ
@given(
    header=st.lists(
        st.sampled_from(["id", "text", "created_at", "author", "url", "hashtags", "", "id"]),
        max_size=7,
    ),
    rows=st.lists(st.lists(csv_field, max_size=7), max_size=8),
    bom=st.booleans(),
)
def test_csv_rows_are_stored_or_named_by_line(store, tmp_path_factory, header, rows, bom):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for r in rows:
        writer.writerow(r)
    path = tmp_path_factory.mktemp("csv") / "data.csv"
    path.write_bytes(
        (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode("utf-8", "surrogatepass")
    )
    report = import_file(store, path, topic="fuzz")
    if not {"id", "text", "created_at"} <= set(header):
        assert [b.line for b in report.bad_rows] == [1] and report.new_posts == 0
    else:
        assert all(b.line >= 2 for b in report.bad_rows)
        assert report.new_posts + report.duplicates + len(report.bad_rows) >= len(
            [r for r in rows if r]
        )


yaml_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from([".inf", "-1s", "1e400", "5m", "0", "99999999999d", "\x00", "\ud83d"]),
)
yaml_value = st.recursive(
    yaml_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
FIELDS = [
    "name",
    "kind",
    "interval",
    "timeout",
    "backfill",
    "url",
    "topics",
    "match",
    "enabled",
    "redirect_hosts",
    "instances",
    "hashtags",
    "page_size",
    "max_pages",
    "max_bytes",
    "subreddits",
    "queries",
    "path",
]


@pytest.mark.slow
@FUZZ
@given(
    overrides=st.dictionaries(st.sampled_from(FIELDS), yaml_value, max_size=4),
    kind=st.sampled_from(
        ["rss", "mastodon", "bluesky", "reddit", "x", "hackernews", "file", "jetstream", "nope"]
    ),
    topic=st.dictionaries(
        st.sampled_from(["name", "hashtags", "keywords", "exclude", "languages", "title"]),
        yaml_value,
        max_size=3,
    ),
)
def test_config_check_answers_in_words(tmp_path_factory, overrides, kind, topic):
    source = {"name": "s", "kind": kind, "url": "https://example.org/feed", **overrides}
    doc = {"topics": [{"name": "t", "keywords": ["x"], **topic}], "sources": [source]}
    path = tmp_path_factory.mktemp("cfg") / "feeds.yaml"
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except Exception:  # noqa: BLE001 - a value YAML itself cannot write (a lone surrogate): write it as escapes
        text = yaml.safe_dump(doc, allow_unicode=False)
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    problems = check_config(path)  # must return, whatever the file holds
    for p in problems:
        assert str(p) and "Traceback" not in str(p)
