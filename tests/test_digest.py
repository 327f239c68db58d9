"""Daily digests: the numbers against the posts, the documents, escaping, gaps, time zones, files, catch-up."""

from __future__ import annotations

import html
import json
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import markdown_it
import pytest
from digest_support import DAY2_BURST, EPOCH, corpus, play, post, write_config

from monitor.cli import main
from monitor.config.digests import AlertSettings
from monitor.metrics.formulas import BucketSums, mean_interval
from monitor.outputs.digest.build import build_topic_digest, mean_change
from monitor.outputs.digest.jobs import catch_up, digest_runs, missed_days, run_digest
from monitor.outputs.digest.render import md_escape, render_html, render_json, render_markdown
from monitor.store.db import Store

UTC = ZoneInfo("UTC")
DAY2 = date(2026, 3, 17)


def build(store, day=DAY2, zone=UTC, now=EPOCH + timedelta(days=4), sources=("feed",)):
    return build_topic_digest(
        store,
        digest="daily",
        topic="thaw",
        title="US–Russia business thaw",
        day=day,
        zone=zone,
        sources=list(sources),
        settings=AlertSettings(),
        now=now,
    )


@pytest.fixture(scope="module")
def corpus_store(tmp_path_factory):
    """The whole three-day corpus, polled hourly (read-only for the tests that share it)."""
    folder = tmp_path_factory.mktemp("corpus")
    config = write_config(folder)
    store = Store(f"sqlite:///{folder}/monitor.db")
    play(store, config, corpus(), start=EPOCH - timedelta(hours=1), until=EPOCH + timedelta(days=3))
    yield store
    store.close()


@pytest.fixture(scope="module")
def day2(corpus_store):
    return build(corpus_store)


# --- the numbers ----------------------------------------------------------------------------


def test_volume_and_sentiment_agree_with_the_posts_themselves(corpus_store, day2):
    since = datetime(2026, 3, 17, tzinfo=UTC)
    posts = corpus_store.posts(topic="thaw", since=since, until=since + timedelta(days=1))
    before = corpus_store.posts(topic="thaw", since=since - timedelta(days=1), until=since)
    sums = BucketSums.from_scores(p["compound"] for p in posts)
    assert day2.volume.total == len(posts) == sum(h.total for h in day2.hours)
    assert day2.volume.unscored == sum(p["compound"] is None for p in posts) > 0
    assert day2.sentiment.mean == pytest.approx(sums.sum / sums.n, abs=1e-12)
    assert (day2.sentiment.mean_lo, day2.sentiment.mean_hi) == pytest.approx(
        mean_interval(sums), abs=1e-12
    )
    previous = BucketSums.from_scores(p["compound"] for p in before)
    assert day2.change.delta == pytest.approx(
        sums.sum / sums.n - previous.sum / previous.n, abs=1e-12
    )
    assert day2.change.lo < day2.change.delta < day2.change.hi and day2.change.clear
    # One day of history: compared with it, but not tested (EARS-t needs 7 fully collected days).
    assert day2.volume.baseline_mean == len(before) and day2.volume.alarm is None
    assert [c.usable for c in day2.volume.baseline] == [False] * 6 + [True]
    assert day2.polarization.baseline_n == previous.n and day2.polarization.er3 is not None
    assert day2.unscored_share == pytest.approx(day2.volume.unscored / day2.volume.total)


def test_the_burst_is_a_volume_spike_with_what_drove_it(day2):
    volume = [s for s in day2.spikes if s.kind == "volume"]
    assert len(volume) == 1
    spike = volume[0]
    assert spike.start == DAY2_BURST and spike.peak == DAY2_BURST and spike.hours == 2
    assert spike.value == day2.hours[15].total and spike.value > spike.threshold > spike.expected
    assert spike.baseline.startswith("the 7 previous hours")
    assert spike.baseline_values["hours"] and len(spike.baseline_values["hours"]) == 7
    assert spike.drivers.hashtags[0].tag == "trumpputinbusiness"
    assert spike.drivers.hashtags[0].count > spike.drivers.hashtags[0].baseline
    engaged = [p.engagement for p in spike.drivers.posts]
    assert engaged == sorted(engaged, reverse=True) and all(p.url for p in spike.drivers.posts)
    assert day2.hours[15].volume_alarm and not day2.hours[14].volume_alarm
    up = [s for s in day2.spikes if s.kind == "sentiment" and s.direction == "up"]
    assert up and up[0].start == DAY2_BURST and up[0].drivers.posts


def test_top_posts_are_the_extremes_of_the_day(corpus_store, day2):
    assert [p.compound for p in day2.top_positive] == sorted(
        (p.compound for p in day2.top_positive), reverse=True
    )
    assert all(p.compound >= 0.05 for p in day2.top_positive)
    assert all(p.compound <= -0.05 for p in day2.top_negative)
    since = datetime(2026, 3, 17, tzinfo=UTC)
    scored = [
        p["compound"]
        for p in corpus_store.posts(topic="thaw", since=since, until=since + timedelta(days=1))
        if p["compound"] is not None
    ]
    assert day2.top_negative[0].compound == min(scored)
    assert day2.top_engaged[0].engagement >= day2.top_engaged[-1].engagement > 0
    assert {lang.lang for lang in day2.languages} >= {"en", "ru"}
    assert sum(lang.share for lang in day2.languages) == pytest.approx(1.0)
    assert [s.source for s in day2.sources] == ["feed"] and day2.sources[
        0
    ].total == day2.volume.total


def test_mean_change_uses_welch_with_the_df_rounded_down():
    change = mean_change(
        BucketSums.from_scores([0.2, 0.4, 0.6, 0.8, 1.0]),
        BucketSums.from_scores([0.1, 0.2, 0.3, 0.4, 0.5]),
    )
    # se = sqrt(0.1/5 + 0.025/5) = 0.158114; Welch df = 5.88 -> 5; t(0.975, 5) = 2.570582
    assert change.delta == pytest.approx(0.3)
    half = 2.570582 * 0.025**0.5
    assert (change.lo, change.hi) == pytest.approx((0.3 - half, 0.3 + half), abs=1e-6)
    assert not change.clear
    assert mean_change(BucketSums.from_scores([0.5]), BucketSums.from_scores([0.1, 0.2])) is None


# --- the documents --------------------------------------------------------------------------


def test_json_carries_every_number_of_the_text(day2):
    data = json.loads(render_json(day2))
    assert data["volume"]["total"] == day2.volume.total
    assert data["sentiment"]["mean"] == pytest.approx(day2.sentiment.mean)
    assert data["sentiment"]["display"] == "normal"
    assert [h["total"] for h in data["hours"]] == [h.total for h in day2.hours]
    assert data["hours"][15]["start"] == "2026-03-17T15:00:00+00:00"
    spike = next(s for s in data["spikes"] if s["kind"] == "volume")
    assert spike["threshold"] == pytest.approx(
        next(s.threshold for s in day2.spikes if s.kind == "volume")
    )
    assert spike["baseline_values"]["hours"][0]["weight"] > 0
    assert (
        spike["drivers"]["posts"][0]["text"]
        and spike["drivers"]["hashtags"][0]["tag"] == "trumpputinbusiness"
    )
    assert data["change"]["delta"] == pytest.approx(day2.change.delta)
    assert data["gaps"] == [] and data["unscored_share"] == pytest.approx(day2.unscored_share)


def test_markdown_has_sparklines_and_the_numbers(day2):
    md = render_markdown([day2], "Digest daily · 2026-03-17")
    assert "## US–Russia business thaw · Tuesday 17 March 2026 (UTC)" in md
    assert f"**Volume:** {day2.volume.total:,} posts" in md
    spark = next(line for line in md.splitlines() if line.startswith("volume "))
    assert len(spark.split(maxsplit=1)[1]) == 24 and spark.split(maxsplit=1)[1][15] == "█"
    assert f"| 15:00 | {day2.hours[15].total} |" in md and "| volume sentiment |" in md
    assert "Volume spike, 15:00–17:00" in md and "#trumpputinbusiness" in md
    rendered = markdown_it.MarkdownIt("commonmark").enable("table").render(md)
    assert rendered.count("<table>") == 3 and "<h3>Spikes</h3>" in rendered


def test_html_charts_have_alt_text_and_their_numbers_beside_them(day2):
    page = render_html([day2], "Digest daily").html
    assert page.count("<svg") == 2 and "<img" not in page
    busiest = max(day2.hours, key=lambda r: r.total)
    assert f"busiest hour 15:00 with {busiest.total:,}" in html.unescape(page)
    assert "<title>Posts per hour" in page and "<title>Mean sentiment per hour" in page
    assert (
        "The numbers behind both charts" in page and f'<td class="n">{busiest.total}</td>' in page
    )
    mail = render_html([day2], "Digest daily", email=True)
    assert "<svg" not in mail.html and mail.html.count('src="cid:') == 2
    assert [cid for cid, _png, _alt in mail.images] == [
        "volume-0@reaction-monitor",
        "sentiment-0@reaction-monitor",
    ]
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for _cid, png, _alt in mail.images)
    assert all(
        f'alt="{html.escape(alt, quote=True)}"' in mail.html for _cid, _png, alt in mail.images
    )


HOSTILE = (
    "<script>alert('x')</script> **bold** _it_ [click](javascript:alert(1)) a|b `code` &amp; ~strike~\n"
    "# not a heading\n1. not a list\n- nor this\n> nor a quote\n![img](https://evil.example/x.png) Trump"
)


def test_untrusted_text_is_escaped_and_nothing_is_stripped(tmp_path, store_url):
    config = write_config(tmp_path)
    store = Store(store_url)
    at = EPOCH + timedelta(hours=10)
    posts = [
        post(
            1,
            HOSTILE,
            at,
            author="<img src=x onerror=alert(1)> *star*",
            url="javascript:alert(document.cookie)",
        ),
        post(2, "Trump: great, wonderful news!", at, url="https://ok.example/a>b)c<d"),
        post(3, "Trump: terrible, awful news!", at, tags=("<b>tag</b>",)),
    ]
    play(store, config, posts, start=at, until=at + timedelta(hours=1))
    d = build(store, day=date(2026, 3, 16))
    store.close()

    page = render_html([d], "Digest").html
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert (
        "javascript:" not in page.split("<blockquote>")[0].lower()
        and 'href="javascript' not in page.lower()
    )
    assert 'href="https://ok.example/a&gt;b)c&lt;d"' in page

    md = render_markdown([d], "Digest")
    rendered = markdown_it.MarkdownIt("commonmark").enable("table").render(md)
    assert "<script>" not in rendered and "<img" not in rendered and "<strong>bold" not in rendered
    assert 'href="javascript' not in rendered and "<h1>not a heading" not in rendered
    assert "<em>it</em>" not in rendered and "<code>code</code>" not in rendered
    assert 'href="https://ok.example/a%3Eb)c%3Cd"' in rendered
    # Every character survives: undoing the backslash escapes gives the text back.
    assert md_escape(HOSTILE).replace("\\", "") == HOSTILE.replace("\\", "")
    assert html.unescape(rendered).count("not a heading") >= 1 and "a|b" in html.unescape(rendered)


def test_collection_gaps_are_reported_and_never_read_as_quiet(tmp_path, store_url):
    config = write_config(tmp_path)
    store = Store(store_url)
    failures = [EPOCH + timedelta(hours=h) for h in (10, 11, 12)]
    play(
        store,
        config,
        corpus(until_s=86400),
        start=EPOCH - timedelta(hours=1),
        until=EPOCH + timedelta(days=1),
        failures=failures,
    )
    d = build(store, day=date(2026, 3, 16), now=EPOCH + timedelta(days=1))
    (gap,) = d.gaps
    assert gap.source == "feed" and gap.failed_polls == 3 and "503" in (gap.error or "")
    assert gap.start == EPOCH + timedelta(hours=9) and gap.end == EPOCH + timedelta(hours=13)
    assert gap.seconds == 4 * 3600
    assert {"09:00", "10:00", "11:00", "12:00"} <= set(d.incomplete_hours)
    assert d.hours[10].incomplete and not d.hours[5].incomplete
    md = render_markdown([d], "Digest")
    assert "**feed** failed 3 polls from 09:00 to 13:00 (4 h of this day without its posts)" in md
    assert "| 10:00 |" in md and md.split("| 10:00 |")[1].split("\n")[0].rstrip().endswith(
        "| incomplete |"
    )
    # The next day does not use a day with a gap as part of its volume baseline.
    assert build(store, day=DAY2, now=EPOCH + timedelta(days=2)).volume.baseline[-1].usable is False
    store.close()


def test_a_local_day_follows_its_time_zone_across_dst(tmp_path, sqlite_url):
    store = Store(sqlite_url)
    spring = build(store, day=date(2026, 3, 8), zone=ZoneInfo("America/New_York"), sources=())
    assert len(spring.hours) == 23 and "02:00" not in [h.label for h in spring.hours]
    assert spring.start.utcoffset() == timedelta(hours=-5) and spring.end.utcoffset() == timedelta(
        hours=-4
    )
    assert spring.volume.total == 0 and spring.sentiment.mean is None  # no data, never 0
    store.close()


def test_half_hour_zones_get_local_hours(corpus_store):
    d = build(corpus_store, zone=ZoneInfo("Asia/Kolkata"))
    assert [h.label for h in d.hours][:3] == ["00:00", "01:00", "02:00"]
    since = datetime(2026, 3, 17, tzinfo=ZoneInfo("Asia/Kolkata"))
    assert d.volume.total == len(
        corpus_store.posts(topic="thaw", since=since, until=since + timedelta(days=1))
    )


# --- running: files, record, catch-up, CLI --------------------------------------------------


DIGEST = """\
digests:
  - name: morning
    schedule: "0 7 * * *"
    timezone: UTC
    folder: out
"""


def test_run_writes_the_three_files_and_rewrites_them_in_place(tmp_path, sqlite_url):
    config = write_config(tmp_path, DIGEST)
    store = Store(sqlite_url)
    at = EPOCH + timedelta(days=1, hours=9)
    play(
        store, config, [post(1, "Trump: a fine deal", at)], start=at, until=at + timedelta(hours=1)
    )
    digest = config.digest("morning")
    first = run_digest(config, store, digest, DAY2, now=EPOCH + timedelta(days=2))
    folder = tmp_path / "out" / "morning" / "2026-03-17"
    assert sorted(p.name for p in folder.iterdir()) == ["thaw.html", "thaw.json", "thaw.md"]
    assert first.files == [folder / "thaw.md", folder / "thaw.html", folder / "thaw.json"]
    assert json.loads((folder / "thaw.json").read_text())["volume"]["total"] == 1

    play(
        store,
        config,
        [post(2, "Trump: another fine deal", at)],
        start=at,
        until=at + timedelta(hours=1),
    )
    run_digest(config, store, digest, DAY2, now=EPOCH + timedelta(days=2))
    assert sorted(p.name for p in folder.iterdir()) == [
        "thaw.html",
        "thaw.json",
        "thaw.md",
    ]  # no temp files left
    assert json.loads((folder / "thaw.json").read_text())["volume"]["total"] == 2
    (row,) = digest_runs(store)
    assert (row["digest"], row["day"], row["output"], row["status"]) == (
        "morning",
        DAY2,
        "folder",
        "ok",
    )
    store.close()


def test_missed_digests_are_found_after_downtime_and_built(tmp_path, sqlite_url):
    config = write_config(tmp_path, DIGEST)
    store = Store(sqlite_url)
    digest = config.digest("morning")
    now = datetime(2026, 3, 20, 8, 0, tzinfo=UTC)
    # a new digest: only its latest day
    assert missed_days(store, digest, now) == [date(2026, 3, 19)]
    run_digest(config, store, digest, date(2026, 3, 16), now=now)
    assert missed_days(store, digest, now) == [
        date(2026, 3, 17),
        date(2026, 3, 18),
        date(2026, 3, 19),
    ]
    reports = catch_up(config, store, clock=lambda: now)
    assert [r.day for r in reports] == [date(2026, 3, 17), date(2026, 3, 18), date(2026, 3, 19)]
    assert (tmp_path / "out" / "morning" / "2026-03-19" / "thaw.html").exists()
    assert missed_days(store, digest, now) == []
    assert missed_days(store, digest, datetime(2026, 3, 20, 6, 59, tzinfo=UTC)) == []  # not due yet
    store.close()


def test_the_collector_builds_a_missed_digest_when_it_starts(tmp_path, sqlite_url):
    from monitor.collector import Collector

    config = write_config(
        tmp_path,
        DIGEST,
        base="""\
        topics:
          - name: thaw
            hashtags: ["#TrumpPutin"]
        """,
    )
    store = Store(sqlite_url)
    (day,) = missed_days(store, config.digest("morning"), datetime.now(UTC))
    expected = tmp_path / "out" / "morning" / day.isoformat() / "thaw.md"
    collector = Collector(config, store)
    collector.start()
    try:
        # and the daily run is scheduled
        assert collector.scheduler.get_job("digest:morning") is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not expected.exists():
            time.sleep(0.05)
    finally:
        collector.stop()
    assert expected.exists()
    assert [(r["day"], r["output"]) for r in digest_runs(store)] == [(day, "folder")]
    store.close()


def test_monitor_digest_command(tmp_path, sqlite_url, capsys):
    config = write_config(tmp_path, DIGEST)
    store = Store(sqlite_url)
    at = EPOCH + timedelta(days=1, hours=9)
    play(
        store, config, [post(1, "Trump: a fine deal", at)], start=at, until=at + timedelta(hours=1)
    )
    store.close()
    args = ["--config", str(config.path), "--db", sqlite_url, "digest"]
    assert main(args + ["--date", "2026-03-17"]) == 0
    out = capsys.readouterr().out
    assert "digest morning for 2026-03-17:" in out and "folder   ok       3 files in" in out
    assert main(args + ["--date", "2026-03-17", "--topic", "thaw", "--send"]) == 0
    out = capsys.readouterr().out
    assert "digest morning:thaw for 2026-03-17:" in out and "nothing to send" in out
    assert main(args + ["--date", "17/03/2026"]) == 2
    assert main(args + ["--topic", "nope"]) == 2
    assert "no topic named 'nope'" in capsys.readouterr().err
    assert Path(tmp_path / "out" / "morning" / "2026-03-17" / "thaw.md").exists()


def test_posts_without_words_are_a_scored_language_row_of_their_own(tmp_path, sqlite_url):
    """Emoji-only posts count as 'und' in the language table, scored, and the digest says what 'und' means."""
    config = write_config(tmp_path)
    store = Store(sqlite_url)
    at = EPOCH + timedelta(days=1, hours=9)
    posts = [
        post(1, "Trump: a fine deal", at),
        post(2, "#TrumpPutin 😂😂😂", at),
        post(3, "#TrumpPutin 😭😭", at),
        post(4, "Путин и Трамп опять обсуждают сделку, никто ничего не объясняет #ТрампПутин", at),
    ]
    play(store, config, posts, start=at, until=at + timedelta(hours=1))
    day = build(store)
    langs = {lang.lang: (lang.total, lang.scored) for lang in day.languages}
    assert langs == {"und": (2, 2), "en": (1, 1), "ru": (1, 0)}
    assert (day.volume.total, day.volume.scored, day.volume.unscored) == (
        4,
        3,
        1,
    )  # und is in the mean, ru not
    text = render_markdown([day], "Digest")
    assert "| und | 2 |" in text and "`und`: posts without words of their own" in text
    assert "<code>und</code>: posts without words" in render_html([day], "Digest").html
    store.close()
