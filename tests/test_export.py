"""`monitor export`: what comes back out of each file is what the store holds.

The store is filled through the real ingest pipeline (VADER, topic matching, buckets), across
the night Europe/Berlin springs forward and the one it falls back, with hostile text, unscored
posts, a repost and a collection gap. Expected values never come from the export code: posts
from the ORM, series from `Store.sums` + `metrics.summarize`, re-bucketing from the posts.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import pty
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from export_support import BERLIN, fill, written_elsewhere
from polars.testing import assert_frame_equal
from sqlalchemy import Integer, cast, func, select

from monitor.cli import main
from monitor.metrics.formulas import BucketSums, summarize
from monitor.outputs.api import SERIES_SCHEMA, StoreReader
from monitor.outputs.export import Target, csv_safe, write_frames
from monitor.store.db import POST_SCHEMA, Store
from monitor.store.models import ALL_SOURCES, Bucket, PostTopic

FORMATS = ["csv", "parquet", "ndjson", "json"]
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%:z"


@pytest.fixture
def filled(store):
    """Filled on SQLite and on PostgreSQL: for the round trips."""
    fill(store)
    written_elsewhere(store)
    return store


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One filled SQLite store for the tests that only read it."""
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('shared')}/monitor.db")
    fill(store)
    written_elsewhere(store)
    yield store
    store.close()


def export(store, *args: str) -> int:
    return main(["--db", store.url, "export", *args])


# --- what the store holds, read without the export code --------------------------------------------


def stored_posts(store) -> pl.DataFrame:
    with store.read() as conn:
        links = conn.execute(select(PostTopic.post_id, PostTopic.topic)).all()
    topics: dict[int, list[str]] = {}
    for pid, topic in links:
        topics.setdefault(pid, []).append(topic)
    rows = sorted(store.posts(), key=lambda p: (p["created_at"], p["id"]))
    return pl.DataFrame(
        [{**{c: p.get(c) for c in POST_SCHEMA}, "topics": sorted(topics[p["id"]])} for p in rows],
        schema=POST_SCHEMA,
    )


def expected_series_row(store, row: dict) -> dict:
    """One bucket's numbers straight from the 1-minute sums and metrics.summarize."""
    source = ALL_SOURCES if row["source"] == "all" else row["source"]
    start, end = row["bucket_start"], row["bucket_start"] + timedelta(seconds=row["bucket_width_s"])
    s = summarize(store.sums(row["topic"], source=source, since=start, until=end))
    with store.read() as conn:
        engagement, incomplete = conn.execute(
            select(func.sum(Bucket.engagement), func.max(cast(Bucket.incomplete, Integer))).where(
                Bucket.topic == row["topic"],
                Bucket.source == source,
                Bucket.start_ts >= int(start.timestamp()),
                Bucket.start_ts < int(end.timestamp()),
            )
        ).one()
    return {
        **{
            c: getattr(s, c)
            for c in (
                "n",
                "n_pos",
                "n_neu",
                "n_neg",
                "n_unscored",
                "mean",
                "mean_lo",
                "mean_hi",
                "pos_share",
                "pos_lo",
                "pos_hi",
                "neg_share",
                "neg_lo",
                "neg_hi",
                "er3",
                "b",
                "sigma",
            )
        },
        "engagement": engagement,
        "incomplete": bool(incomplete),
    }


def stored_bucket_keys(store, every_s: int) -> set[tuple[str, str, datetime]]:
    with store.read() as conn:
        rows = conn.execute(select(Bucket.topic, Bucket.source, Bucket.start_ts)).all()
    return {
        (t, "all" if s == ALL_SOURCES else s, datetime.fromtimestamp(ts - ts % every_s, UTC))
        for t, s, ts in rows
    }


def assert_close(actual: dict, expected: dict, tol: float = 5e-7) -> None:
    for key, want in expected.items():
        got = actual[key]
        if isinstance(want, float) and got is not None:
            assert math.isclose(got, want, rel_tol=0, abs_tol=tol), (key, got, want)
        else:
            assert got == want, (key, got, want, actual)


# --- reading files back ----------------------------------------------------------------------------


def read_back(path: Path | bytes, fmt: str, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """A file as polars reads it, times parsed and CSV lists split, in the given schema."""
    source = io.BytesIO(path) if isinstance(path, bytes) else path
    if fmt == "parquet":
        return pl.read_parquet(source)
    text_schema = {
        c: (
            pl.String()
            if isinstance(t, pl.Datetime) or (fmt == "csv" and isinstance(t, pl.List))
            else t
        )
        for c, t in schema.items()
    }
    if fmt == "csv":
        frame = pl.read_csv(source, schema=text_schema)
    elif fmt == "ndjson":
        frame = pl.read_ndjson(source, schema=text_schema)
    else:
        frame = pl.read_json(source, schema=text_schema)
    fixes = []
    for c, t in schema.items():
        if isinstance(t, pl.Datetime):
            fixes.append(
                pl.col(c).str.to_datetime(TIME_FORMAT, time_unit="us").dt.convert_time_zone("UTC")
            )
        elif isinstance(t, pl.List) and fmt == "csv":
            # An empty list is an empty string (a post without hashtags); no element is ever "".
            fixes.append(
                pl.col(c).str.split(";").list.eval(pl.element().filter(pl.element() != ""))
            )
    return frame.with_columns(fixes)


def defused(value: str | None) -> str | None:
    """The CSV rule, restated: text that a spreadsheet would run gets a leading apostrophe."""
    if value is None or value[:1] not in ("=", "+", "-", "@", "\t", "\r"):
        return value
    try:
        float(value)
        return value
    except ValueError:
        return "'" + value


# --- round trips -----------------------------------------------------------------------------------


def test_posts_read_back_equal_what_the_store_holds(filled, tmp_path):
    expected = stored_posts(filled)
    assert expected.height > 150
    assert expected.filter(pl.col("compound").is_null()).height > 0  # unscored posts, kept as null
    assert expected["reposts"].max() == 1
    in_csv = expected.with_columns(
        *[
            pl.col(c).map_elements(defused, return_dtype=pl.String)
            for c in ("native_id", "author", "url", "text")
        ]
    )
    for fmt in FORMATS:
        out = tmp_path / f"posts.{fmt}"
        assert export(filled, "posts", "-o", str(out)) == 0
        assert_frame_equal(read_back(out, fmt, POST_SCHEMA), in_csv if fmt == "csv" else expected)


def test_posts_keep_hostile_text_exactly_outside_csv(shared, tmp_path):
    assert export(shared, "posts", "-o", str(tmp_path / "p.parquet")) == 0
    texts = pl.read_parquet(tmp_path / "p.parquet")["text"].to_list()
    assert any(t.startswith("comma, \"double quotes\", 'single' and a\nnew line") for t in texts)
    assert any(t.startswith("=HYPERLINK(") for t in texts)  # no apostrophe outside CSV
    assert "-12" in texts


def test_series_read_back_equal_the_stored_sums(filled, tmp_path):
    def exported(fmt: str) -> pl.DataFrame:
        out = tmp_path / f"series.{fmt}"
        assert (
            export(
                filled,
                "series",
                "--every",
                "1h",
                "--source",
                "all",
                "--source",
                "masto",
                "-o",
                str(out),
            )
            == 0
        )
        return read_back(out, fmt, SERIES_SCHEMA)

    got = exported("parquet")
    assert got.columns == list(SERIES_SCHEMA)
    wanted_keys = {k for k in stored_bucket_keys(filled, 3600) if k[1] in ("all", "masto")}
    assert set(zip(got["topic"], got["source"], got["bucket_start"], strict=False)) == wanted_keys
    for row in got.iter_rows(named=True):
        assert row["bucket_width_s"] == 3600
        # metrics rounded to 6 decimals
        assert_close(row, expected_series_row(filled, row), tol=5e-7)
    assert got["incomplete"].any() and not got["incomplete"].all()
    # The display rules: nulls, never zeros, where n is too small.
    small = got.filter(pl.col("n") < 5)
    assert small.height and small["mean"].null_count() == small.height
    empty = got.filter(pl.col("n") == 0)
    assert empty.height and empty["pos_share"].null_count() == empty.height
    for fmt in ("csv", "ndjson", "json"):
        assert_frame_equal(exported(fmt), got)


def test_parquet_has_real_types_nullability_and_the_query(shared, tmp_path):
    out = tmp_path / "s.parquet"
    assert (
        export(
            shared,
            "series",
            "--topic",
            "thaw",
            "--since",
            "2026-03-28",
            "--until",
            "2026-03-30",
            "--every",
            "1d",
            "--tz",
            "Europe/Berlin",
            "-o",
            str(out),
        )
        == 0
    )
    schema = pq.read_schema(out)
    assert str(schema.field("bucket_start").type) == "timestamp[us, tz=UTC]"
    assert str(schema.field("mean").type) == "double" and schema.field("mean").nullable
    assert not schema.field("n").nullable and not schema.field("bucket_start").nullable
    meta = {k.decode(): v.decode() for k, v in schema.metadata.items()}
    assert meta["monitor:schema_version"] == "2"
    query = json.loads(meta["monitor:query"])
    assert query == {
        "kind": "series",
        "topics": ["thaw"],
        "sources": ["all"],
        "since": "2026-03-27T23:00:00+00:00",
        "until": "2026-03-29T22:00:00+00:00",
        "every": "1d",
        "every_s": 86400,
        "tz": "Europe/Berlin",
        "with_sums": False,
    }

    assert export(shared, "posts", "--source", "bsky", "-o", str(tmp_path / "p.parquet")) == 0
    schema = pq.read_schema(tmp_path / "p.parquet")
    assert str(schema.field("created_at").type) == "timestamp[us, tz=UTC]"
    assert str(schema.field("topics").type) == "list<element: string>"
    assert schema.field("compound").nullable and not schema.field("id").nullable
    assert json.loads(schema.metadata[b"monitor:query"])["sources"] == ["bsky"]


# --- buckets ---------------------------------------------------------------------------------------


def test_rebucketing_minutes_to_hours_equals_hours_computed_from_the_posts(shared):
    reader = StoreReader(shared)
    posts = reader.posts()
    for source in ("all", "bsky"):
        hourly = reader.series(every="1h", source=source)
        mine = posts if source == "all" else posts.filter(pl.col("source") == source)
        for row in hourly.iter_rows(named=True):
            in_bucket = mine.filter(
                pl.col("topics").list.contains(row["topic"]),
                pl.col("created_at").dt.truncate("1h") == row["bucket_start"],
            )
            expected = summarize(BucketSums.from_scores(in_bucket["compound"].to_list()))
            assert_close(
                row,
                {
                    c: getattr(expected, c)
                    for c in (
                        "n",
                        "n_unscored",
                        "mean",
                        "mean_lo",
                        "mean_hi",
                        "pos_lo",
                        "neg_hi",
                        "er3",
                        "b",
                        "sigma",
                    )
                },
            )
        assert hourly["n"].sum() + hourly["n_unscored"].sum() == mine.explode("topics").height
    minutes = reader.series(every="1m")
    resummed = (
        minutes.group_by("topic", pl.col("bucket_start").dt.truncate("1h"))
        .agg(pl.col("n_pos", "n_neg", "n_unscored", "engagement").sum())
        .sort("topic", "bucket_start")
    )
    hourly = reader.series(every="1h").select(resummed.columns)
    assert_frame_equal(resummed, hourly)


def test_local_days_start_at_local_midnight_and_dst_days_are_23_and_25_hours(shared):
    reader = StoreReader(shared)
    days = reader.series(topic="thaw", every="1d", tz="Europe/Berlin")
    widths = {row["bucket_start"]: row["bucket_width_s"] for row in days.iter_rows(named=True)}
    assert widths[datetime(2026, 3, 28, 23, tzinfo=UTC)] == 23 * 3600  # 29 March, local midnight
    assert widths[datetime(2026, 3, 27, 23, tzinfo=UTC)] == 24 * 3600
    assert widths[datetime(2026, 10, 24, 22, tzinfo=UTC)] == 25 * 3600  # 25 October
    posts = reader.posts(topic="thaw")
    for row in days.iter_rows(named=True):
        local_day = row["bucket_start"].astimezone(BERLIN).date()
        assert row["bucket_start"].astimezone(BERLIN).hour == 0
        in_day = [
            c
            for c, t in zip(posts["compound"], posts["created_at"], strict=False)
            if t.astimezone(BERLIN).date() == local_day
        ]
        expected = summarize(BucketSums.from_scores(in_day))
        assert_close(row, {c: getattr(expected, c) for c in ("n", "n_unscored", "er3")})
    hours = reader.series(
        topic="thaw", every="1h", tz="Europe/Berlin", since="2026-10-25", until="2026-10-26"
    )
    assert set(hours["bucket_width_s"]) == {3600}
    # 02:00 twice
    assert (
        hours["bucket_start"].dt.convert_time_zone("Europe/Berlin").dt.hour().to_list().count(2)
        == 2
    )


def test_a_window_is_widened_to_whole_buckets(shared):
    reader = StoreReader(shared)
    whole = reader.series(topic="thaw", every="1d", since="2026-03-29", until="2026-03-30")
    cut = reader.series(
        topic="thaw", every="1d", since="2026-03-29T13:17Z", until="2026-03-29T15:00Z"
    )
    assert_frame_equal(whole, cut)


# --- empty results, options, output ---------------------------------------------------------------


@pytest.mark.parametrize("kind,schema", [("series", SERIES_SCHEMA), ("posts", POST_SCHEMA)])
@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_results_give_a_valid_empty_file(shared, tmp_path, kind, schema, fmt):
    out = tmp_path / f"empty.{fmt}"
    assert export(shared, kind, "--since", "2031-01-01", "-o", str(out)) == 0
    data = out.read_bytes()
    if fmt == "csv":
        assert data.decode().splitlines() == [",".join(schema)]
    elif fmt == "ndjson":
        assert data == b""
    elif fmt == "json":
        assert json.loads(data) == []
    else:
        frame = pl.read_parquet(out)
        assert frame.height == 0 and frame.columns == list(schema)
        assert pq.read_schema(out).metadata[b"monitor:schema_version"] == b"2"
    if fmt != "ndjson":
        assert read_back(out, fmt, schema).height == 0


@pytest.mark.parametrize(
    "args,words",
    [
        (
            ["series", "--every", "7m"],
            "--every 7m: use a whole number of minutes that divides a day",
        ),
        (["series", "--every", "2d"], "or 1w"),
        (["series", "--every", "soon"], "--every: not a duration"),
        (["series", "--tz", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
        (["posts", "--since", "last tuesday"], "--since 'last tuesday': use a date"),
        (["posts", "--since", "2026"], "--since '2026': use a date"),
        (["posts", "--since", "2026-03-30", "--until", "2026-03-29"], "must be before --until"),
        (
            ["series", "--topic", "thaws"],
            "no topic named 'thaws' in the store; did you mean 'thaw'?",
        ),
        (
            ["posts", "--source", "reddit"],
            "no source named 'reddit' in the store; the store has bsky, masto",
        ),
        (["posts", "-o", "out.xlsx"], "cannot tell the format of 'out.xlsx'"),
        (
            ["posts", "--format", "json", "-o", "out.csv"],
            "--format json disagrees with the extension",
        ),
        (["posts", "-o", "out.parquet.gz"], "drop the .gz"),
        (
            ["posts", "-o", "no/such/dir/out.csv"],
            "cannot write no/such/dir/out.csv: No such file or directory",
        ),
        (["posts", "--format", "xlsx"], "invalid choice: 'xlsx'"),
        (["posts", "--every", "1h"], "unrecognized arguments: --every"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(
    shared, tmp_path, monkeypatch, capsys, args, words
):
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    try:
        code = export(shared, *args)
    except SystemExit as exc:  # argparse's own checks
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert list(workdir.iterdir()) == []  # and nothing written


def test_a_missing_store_is_an_error_not_a_new_empty_store(tmp_path, capsys):
    missing = tmp_path / "nope.db"
    assert main(["--db", f"sqlite:///{missing}", "export", "posts"]) == 2
    assert f"no store at {missing}" in capsys.readouterr().err
    assert not missing.exists()


def test_csv_defuses_formulas_but_keeps_text_and_numbers(tmp_path):
    frame = pl.DataFrame(
        {
            "text": [
                "=1+1",
                "+cmd",
                "-2+3",
                "@SUM(A1)",
                "\tx",
                "\r=1",
                "-12",
                "+3.5e2",
                'a, "b"\nc',
                "plain",
                None,
                "",
            ],
            "topics": [["=x", "y"]] * 12,
        }
    )
    out = tmp_path / "f.csv"
    write_frames([frame], Target(str(out), "csv"), kind="test", schema=dict(frame.schema), query={})
    expected = [
        "'=1+1",
        "'+cmd",
        "'-2+3",
        "'@SUM(A1)",
        "'\tx",
        "'\r=1",
        "-12",
        "+3.5e2",
        'a, "b"\nc',
        "plain",
    ]
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert [r[0] for r in rows[1:11]] == expected
    assert rows[1][1] == "'=x;y"
    back = pl.read_csv(out)
    assert back["text"].to_list() == [*expected, None, ""]
    assert csv_safe(frame)["text"].to_list()[:3] == ["'=1+1", "'+cmd", "'-2+3"]


def test_ndjson_is_one_object_per_line_and_json_one_array(shared, tmp_path):
    assert export(shared, "posts", "-o", str(tmp_path / "p.jsonl")) == 0
    assert export(shared, "posts", "-o", str(tmp_path / "p.json")) == 0
    lines = (tmp_path / "p.jsonl").read_text(encoding="utf-8").splitlines()
    objects = [json.loads(line) for line in lines]
    assert objects == json.loads((tmp_path / "p.json").read_text(encoding="utf-8"))
    assert len(objects) == len(shared.posts())
    assert any("\n" in o["text"] for o in objects)
    assert objects[0]["created_at"].endswith("+00:00") and isinstance(objects[0]["topics"], list)


def test_gzip_by_extension(shared, tmp_path):
    assert export(shared, "posts", "-o", str(tmp_path / "p.csv")) == 0
    assert export(shared, "posts", "-o", str(tmp_path / "p.csv.gz")) == 0
    assert (
        gzip.decompress((tmp_path / "p.csv.gz").read_bytes()) == (tmp_path / "p.csv").read_bytes()
    )


def test_small_batches_give_the_same_file(shared, tmp_path):
    from monitor.outputs.export import choose_target, export_posts

    reader = StoreReader(shared)
    spec = reader.posts_spec()
    sizes = [f.height for f in shared.iter_posts(spec.query, batch_size=7)]
    assert max(sizes) == 7 and len(sizes) > 10
    export_posts(reader, spec, choose_target(str(tmp_path / "small.parquet"), None), batch_size=7)
    export_posts(reader, spec, choose_target(str(tmp_path / "big.parquet"), None))
    assert_frame_equal(
        pl.read_parquet(tmp_path / "small.parquet"), pl.read_parquet(tmp_path / "big.parquet")
    )


def test_an_interrupted_export_leaves_no_file(tmp_path):
    def frames():
        yield pl.DataFrame({"a": [1]})
        raise KeyboardInterrupt

    target = Target(str(tmp_path / "x.parquet"), "parquet")
    with pytest.raises(KeyboardInterrupt):
        write_frames(frames(), target, kind="test", schema={"a": pl.Int64()}, query={})
    assert list(tmp_path.iterdir()) == []


# --- pipes and terminals ----------------------------------------------------------------------------


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True, **kw)


def test_dash_writes_to_a_pipe_binary_safe_and_quietly(shared):
    done = _cli(
        "--db", shared.url, "export", "posts", "--format", "parquet", "-o", "-", timeout=120
    )
    assert done.returncode == 0 and done.stderr == b""  # no progress bar, no summary when piped
    assert_frame_equal(pl.read_parquet(io.BytesIO(done.stdout)), stored_posts(shared))
    done = _cli("--db", shared.url, "export", "series", "-o", "-", timeout=120)
    assert done.returncode == 0 and done.stdout.decode().startswith("topic,source,bucket_start,")


def test_a_terminal_gets_a_progress_bar_and_a_summary(shared, tmp_path):
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "monitor",
            "--db",
            shared.url,
            "export",
            "posts",
            "-o",
            str(tmp_path / "p.csv"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=slave,
        env={**os.environ, "COLUMNS": "100", "TERM": "xterm"},
    )
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        seen += chunk
    assert proc.wait(timeout=120) == 0
    os.close(master)
    text = seen.decode(errors="replace")
    assert "exporting posts" in text
    assert f"{len(shared.posts())} posts written to {tmp_path / 'p.csv'} (csv)" in text


def test_hours_in_a_zone_45_minutes_off_start_at_a_quarter_past(shared):
    reader = StoreReader(shared)
    hours = reader.series(every="1h", tz="Asia/Kathmandu")  # UTC+5:45
    assert set(hours["bucket_start"].dt.minute()) == {15}
    posts = reader.posts().explode("topics")
    local_hour = pl.col("created_at").dt.convert_time_zone("Asia/Kathmandu").dt.truncate("1h")
    from_posts = (
        posts.group_by(pl.col("topics").alias("topic"), local_hour.alias("h"))
        .agg(pl.col("compound").is_not_null().sum().alias("n"))
        .sort("topic", "h")
    )
    assert (
        from_posts.filter(pl.col("n") > 0)["n"].to_list()
        == hours.filter(pl.col("n") > 0)["n"].to_list()
    )


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_with_sums_lets_coarser_buckets_be_recomputed_exactly(shared, tmp_path, fmt):
    """Hourly rows with their sums, summed to days downstream, give the daily export's mean and
    sigma; without the flag the columns are not there."""
    from monitor.outputs.api import SUM_SCHEMA, series_schema

    hourly, daily, plain = (tmp_path / f"{name}.{fmt}" for name in ("hourly", "daily", "plain"))
    assert export(shared, "series", "--every", "1h", "--with-sums", "-o", str(hourly)) == 0
    assert export(shared, "series", "--every", "1d", "-o", str(daily)) == 0
    assert export(shared, "series", "--every", "1h", "-o", str(plain)) == 0
    hours = read_back(hourly, fmt, series_schema(with_sums=True))
    assert list(hours.columns) == list(series_schema(with_sums=True))
    assert set(SUM_SCHEMA).isdisjoint(read_back(plain, fmt, series_schema()).columns)
    total = pl.col("sum_neg") + pl.col("sum_neu") + pl.col("sum_pos")
    days = (
        hours.group_by("topic", "source", pl.col("bucket_start").dt.truncate("1d"))
        .agg(pl.col("n").sum(), total.sum().alias("s"), pl.col("sum_sq").sum().alias("ss"))
        .with_columns(
            (pl.col("s") / pl.col("n")).alias("mean_down"),
            ((pl.col("ss") - pl.col("s") ** 2 / pl.col("n")).clip(lower_bound=0) / pl.col("n"))
            .sqrt()
            .alias("sigma_down"),
        )
    )
    joined = days.join(
        read_back(daily, fmt, series_schema()), on=["topic", "source", "bucket_start"]
    )
    checked = joined.filter(pl.col("mean").is_not_null())
    assert checked.height >= 3 and (checked["n"] == checked["n_right"]).all()
    for row in checked.iter_rows(named=True):
        # the file rounds metrics to 6 decimals
        assert row["mean_down"] == pytest.approx(row["mean"], abs=5e-7)
        if row["sigma"] is not None:
            # the file rounds metrics to 6 decimals
            assert row["sigma_down"] == pytest.approx(row["sigma"], abs=5e-7)
