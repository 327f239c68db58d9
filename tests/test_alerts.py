"""Spike detection through the store (metrics.md §4 vectors) and live alerts over the corpus's burst."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from digest_support import DAY2_BURST, EPOCH, Hook, corpus, play, post, write_config

from monitor.cli import main
from monitor.config.digests import AlertSettings
from monitor.ingest.poll import upsert_buckets
from monitor.metrics.formulas import ears_series
from monitor.metrics.spikes import (
    HOUR,
    Hours,
    SentimentBaseline,
    check_volume,
    sentiment_baseline,
    sentiment_chart,
)
from monitor.outputs.alerts import AlertMonitor, list_alerts
from monitor.simulator.corpus import BURST_WINDOW
from monitor.store.db import Store
from monitor.store.models import ALL_SOURCES

DAY = timedelta(days=1)
EARS_VECTOR = [150, 130, 122, 160, 155, 128, 144, 125, 300, 319, 289, 277, 500]


def ts(dt: datetime) -> int:
    return int(dt.timestamp())


def put_hour(
    store: Store,
    topic: str,
    start: datetime,
    n: int,
    mean: float = 0.0,
    unscored: int = 0,
    incomplete: bool = False,
    spread: float = 0.0,
) -> None:
    """One hour's sums written straight into a minute bucket, for vectors that posts cannot hit
    exactly; `spread` is the population sd of the hour's compounds around `mean`."""
    row = {
        "topic": topic,
        "source": ALL_SOURCES,
        "start_ts": ts(start),
        "width_s": 60,
        "n_neg": 0,
        "n_neu": n,
        "n_pos": 0,
        "sum_neg": 0.0,
        "sum_neu": mean * n,
        "sum_pos": 0.0,
        "sum_sq": (mean * mean + spread * spread) * n,
        "n_unscored": unscored,
        "engagement": 0,
        "incomplete": incomplete,
    }
    with store.write() as conn:
        upsert_buckets(conn, [row])


def live(config, store):
    """An AlertMonitor whose clock follows the simulated polls, and the hook `play` calls."""
    now = [EPOCH]
    monitor = AlertMonitor(config, store, clock=lambda: now[0])

    def after(mark: int, at: datetime) -> None:
        now[0] = at
        monitor.after_poll(mark, source="feed")

    return monitor, after


# --- metrics.md §4 volume vector ------------------------------------------------------------


def test_ears_vector_through_the_store_and_the_live_monitor(tmp_path, store):
    """The 13 daily values at noon: the same-hour baseline alarms at t = 9, 10 and 13, and the
    down-weighted limit at t = 10 is 182.045075; the live monitor stores exactly those alerts."""
    config = write_config(
        tmp_path,
        """\
        alerts:
          defaults: {cooldown: 0s}
        """,
    )
    posts = [
        post(
            f"{t}-{j}", f"Trump update number {j}", EPOCH + t * DAY + timedelta(hours=12, seconds=j)
        )
        for t, y in enumerate(EARS_VECTOR)
        for j in range(y)
    ]
    monitor, after = live(config, store)
    play(
        store,
        config,
        posts,
        start=EPOCH - timedelta(hours=11),
        until=EPOCH + 12 * DAY + timedelta(hours=13),
        step=DAY,
        after=after,
    )

    hours = Hours(store, "thaw", ["feed"])
    hours.ensure(ts(EPOCH), ts(EPOCH + 14 * DAY))
    noon = [ts(EPOCH + k * DAY + timedelta(hours=12)) for k in range(13)]
    assert [hours.get(t).total for t in noon] == EARS_VECTOR
    results = {k + 1: check_volume(hours, t, config.alerts.defaults) for k, t in enumerate(noon)}
    seasonal = {
        t: r
        for t, r in results.items()
        if r.baseline is not None and r.baseline.kind == "same-hour"
    }
    assert sorted(seasonal) == [8, 9, 10, 11, 12, 13]
    assert [t for t, r in seasonal.items() if r.alarm] == [9, 10, 13]
    assert seasonal[10].check.limit == pytest.approx(182.045075, abs=1e-6)
    reference = ears_series(EARS_VECTOR)  # the pure function, same numbers
    for t, r in seasonal.items():
        assert r.check.limit == pytest.approx(reference[t - 1].limit, abs=1e-9)

    alerts = {a["bucket_start"]: a for a in list_alerts(store) if a["kind"] == "volume"}
    same_hour = sorted(
        k for k, a in alerts.items() if a["details"]["baseline"]["kind"] == "same-hour"
    )
    assert same_hour == [datetime.fromtimestamp(noon[t - 1], UTC) for t in (9, 10, 13)]
    at10 = alerts[datetime.fromtimestamp(noon[9], UTC)]
    assert at10["threshold"] == pytest.approx(182.045075, abs=1e-6)
    assert (
        at10["value"] == 319
        and [h["posts"] for h in at10["details"]["baseline"]["hours"]] == EARS_VECTOR[2:9]
    )
    # Before 7 days of history the baseline is the 7 previous (empty) hours, and says so.
    assert all(
        a["details"]["baseline"]["kind"] == "recent" for k, a in alerts.items() if k < same_hour[0]
    )


def test_quiet_topic_needs_five_posts_above_its_baseline(store):
    """A baseline of one post a day at noon: sd is floored at 1, and 4 posts (3 above) do not alarm."""
    verdicts = {}
    for y in (4, 6):
        topic = f"quiet{y}"
        for k in range(7):
            put_hour(store, topic, EPOCH + k * DAY + timedelta(hours=12), n=1)
        t = EPOCH + 7 * DAY + timedelta(hours=12)
        put_hour(store, topic, t, n=y)
        hours = Hours(store, topic)
        hours.ensure(ts(EPOCH), ts(t) + HOUR)
        r = check_volume(hours, ts(t), AlertSettings())
        assert r.baseline.kind == "same-hour" and r.check.baseline_sd == pytest.approx(1.0)
        assert r.y > r.check.limit  # above the limit either way: only the excess guard differs
        verdicts[y] = r.alarm
    assert verdicts == {4: False, 6: True}


def test_an_hour_with_a_collection_gap_is_never_part_of_the_volume_baseline(store):
    """A source that failed at noon on day 3 left that hour near-empty: reading it as a quiet
    hour would lower the baseline and raise false alarms. The baseline skips it and takes the
    same hour one day further back instead."""
    for k in range(9):
        put_hour(
            store,
            "gap",
            EPOCH + k * DAY + timedelta(hours=12),
            n=1 if k == 5 else 20,
            incomplete=k == 5,
        )
    t = EPOCH + 9 * DAY + timedelta(hours=12)
    put_hour(store, "gap", t, n=24)
    hours = Hours(store, "gap")
    hours.ensure(ts(EPOCH), ts(t) + HOUR)
    r = check_volume(hours, ts(t), AlertSettings())
    gap = ts(EPOCH + 5 * DAY + timedelta(hours=12))
    assert r.baseline.kind == "same-hour"
    assert gap not in r.baseline.starts and r.baseline.values == (20,) * 7
    assert r.baseline.starts[0] == ts(EPOCH + 1 * DAY + timedelta(hours=12))  # one day further back
    assert not r.alarm


# --- metrics.md §4 sentiment vectors --------------------------------------------------------


def _chart(store, topic, rows, baseline, settings=None):
    settings = settings or AlertSettings()
    start = EPOCH + 30 * DAY
    for i, (mean, n) in enumerate(rows):
        put_hour(store, topic, start + timedelta(hours=i), n=n, mean=mean)
    hours = Hours(store, topic)
    hours.ensure(ts(start), ts(start) + len(rows) * HOUR)
    return sentiment_chart(
        hours, [ts(start) + i * HOUR for i in range(len(rows))], baseline, settings
    )


def test_ewma_vector_of_z_values_signals_first_at_t11(store):
    z = [0, 0.5, -0.3, 0.2, 0, 1.2, 1.5, 1.1, 1.4, 1.3, 1.6, 0.9]
    # mu0 = 0, sigma_w = 1, sigma_b = 0 and n = 25 posts per hour make z = 5 x the hour's mean.
    chart = _chart(
        store, "z", [(v / 5, 25) for v in z], SentimentBaseline(0.0, 1.0, 0.0, 24, 600, 0, 0)
    )
    assert [p.point.z for p in chart] == pytest.approx(z, abs=1e-9)
    first = next(p for p in chart if p.alarm)
    assert first.point.t == 11
    assert first.point.ewma == pytest.approx(1.033107, abs=1e-6)
    assert first.point.limit == pytest.approx(0.996304, abs=1e-6)
    assert first.direction == "up"


def test_ewma_vector_of_hourly_means_signals_at_t8(store):
    rows = [
        (0.12, 40),
        (0.08, 25),
        (0.11, 60),
        (0.05, 12),
        (-0.05, 35),
        (-0.10, 50),
        (-0.02, 8),
        (-0.12, 45),
    ]
    chart = _chart(store, "means", rows, SentimentBaseline(0.10, 0.45, 0.03, 24, 600, 0, 0))
    expected_z = [
        0.259010,
        -0.210819,
        0.152944,
        -0.375029,
        -1.834498,
        -2.842676,
        -0.741186,
        -2.993821,
    ]
    assert [p.point.z for p in chart] == pytest.approx(expected_z, abs=1e-6)
    assert [p.alarm for p in chart] == [False] * 7 + [True]
    assert chart[-1].point.ewma == pytest.approx(-1.289957, abs=1e-6)
    assert chart[-1].point.limit == pytest.approx(0.985826, abs=1e-6)
    assert chart[-1].direction == "down"


def test_hours_with_fewer_than_min_posts_are_skipped_not_read_as_neutral(store):
    chart = _chart(
        store, "thin", [(0.5, 4), (0.5, 5)], SentimentBaseline(0.0, 0.45, 0.03, 24, 600, 0, 0)
    )
    assert chart[0].point.z is None and chart[0].mean == pytest.approx(0.5)
    assert chart[1].point.z is not None and chart[1].point.t == 2


def test_sentiment_baseline_separates_within_and_between_hour_spread(store):
    start = EPOCH
    # 24 hours whose means alternate -0.2 / +0.2 with 1,000 posts each (sampling noise ~ 0).
    for i in range(24):
        m = 0.2 if i % 2 else -0.2
        put_hour(store, "b", start + timedelta(hours=i), n=1000, mean=m)
    hours = Hours(store, "b")
    hours.ensure(ts(start), ts(start) + 24 * HOUR)
    b = sentiment_baseline(hours, ts(start), ts(start) + 24 * HOUR, min_posts=5)
    assert b.mu0 == pytest.approx(0.0, abs=1e-12) and b.hours == 24 and b.posts == 24_000
    assert b.sigma_w == pytest.approx(0.0, abs=1e-6)  # every post of an hour equals its mean
    assert b.sigma_b == pytest.approx(0.2 * (24 / 23) ** 0.5, rel=1e-6)
    # Too little history: no baseline rather than a guess.
    assert sentiment_baseline(hours, ts(start), ts(start) + 11 * HOUR, min_posts=5) is None


def test_the_volume_baseline_looks_back_fourteen_days_past_collection_gaps(store):
    """A week of outages still leaves a same-hour baseline: the 7 complete same hours are found as
    far as 14 days back, as the README promises, and the alert names the baseline it used."""
    t = EPOCH + 14 * DAY + timedelta(hours=12)
    for k in range(1, 15):  # every other day failed at noon
        put_hour(store, "gaps", t - k * DAY, n=20, incomplete=k % 2 == 1)
    put_hour(store, "gaps", t, n=24)
    hours = Hours(store, "gaps")
    hours.ensure(ts(t - 14 * DAY), ts(t) + HOUR)
    r = check_volume(hours, ts(t), AlertSettings())
    assert r.baseline.kind == "same-hour"
    assert r.baseline.describe() == "the same hour on the 7 previous days"
    assert r.baseline.starts == tuple(ts(t - k * DAY) for k in range(14, 0, -2))
    # One more failed noon within the 14 days: the complete one on day 15 is too far back.
    for k in range(1, 16):
        put_hour(store, "older", t - k * DAY, n=20, incomplete=k not in (4, 6, 8, 10, 12, 14, 15))
    put_hour(store, "older", t, n=24)
    hours = Hours(store, "older")
    hours.ensure(ts(t - 15 * DAY), ts(t) + HOUR)
    assert check_volume(hours, ts(t), AlertSettings()).baseline.kind == "recent"


def test_a_young_topic_looks_back_a_day_for_its_seven_complete_hours(store):
    """Less than 7 days of history: the 7 previous complete hours, found up to 24 hours back when
    a source failed for most of the day, and the alert says it used the recent hours."""
    t = EPOCH + timedelta(days=1, hours=12)
    for k in range(1, 25):  # only every 4th hour before t was collected completely
        put_hour(store, "young", t - timedelta(hours=k), n=5, incomplete=k % 4 != 0 and k != 1)
    put_hour(store, "young", t, n=6)
    hours = Hours(store, "young")
    hours.ensure(ts(t - 14 * DAY), ts(t) + HOUR)
    r = check_volume(hours, ts(t), AlertSettings())
    assert r.baseline is not None and r.baseline.kind == "recent"
    assert r.baseline.describe() == "the 7 previous hours (less than 7 days of history)"
    assert r.baseline.starts[0] == ts(t) - 24 * HOUR
    # The 7th complete hour 25 hours back is too far: no baseline yet.
    for k in range(1, 26):
        complete = k in (2, 6, 10, 14, 18, 22, 25)
        put_hour(store, "younger", t - timedelta(hours=k), n=5, incomplete=not complete)
    put_hour(store, "younger", t, n=6)
    hours = Hours(store, "younger")
    hours.ensure(ts(t - 14 * DAY), ts(t) + HOUR)
    assert check_volume(hours, ts(t), AlertSettings()).baseline is None


def test_hours_of_a_quarter_hour_time_zone_begin_at_its_quarter(store):
    """A digest for Kathmandu (UTC+5:45) reads hours that begin at :45 UTC: posts at 10:50 belong
    to the hour that began at 10:45 (a half-hour zone cannot tell the two roundings apart)."""
    put_hour(store, "np", EPOCH + timedelta(hours=10, minutes=50), n=3)
    hours = Hours(store, "np", align=45 * 60)
    hours.ensure(ts(EPOCH), ts(EPOCH + DAY))
    totals = {h: x.total for h in hours.span(ts(EPOCH), ts(EPOCH + DAY)) if (x := hours.get(h))}
    assert totals[ts(EPOCH + timedelta(hours=10, minutes=45))] == 3
    assert sum(totals.values()) == 3


def test_sentiment_baseline_from_twelve_hours_with_spread_inside_them(store):
    """Twelve usable hours are enough (README: at least 12). sigma_w pools the spread inside the
    hours over n - k degrees of freedom; sigma_b is what the hourly means vary beyond the noise
    that 10 posts an hour alone would give. A topic whose hours differ no more than that noise
    still has a baseline, with sigma_b = 0, so its sentiment alerts stay on."""
    for topic, means in (("spread", (0.1, 0.3)), ("steady", (0.2, 0.2))):
        for i in range(12):
            put_hour(
                store, topic, EPOCH + i * timedelta(hours=1), n=10, mean=means[i % 2], spread=0.3
            )
    found = {}
    for topic in ("spread", "steady"):
        hours = Hours(store, topic)
        hours.ensure(ts(EPOCH), ts(EPOCH) + 12 * HOUR)
        found[topic] = sentiment_baseline(hours, ts(EPOCH), ts(EPOCH) + 12 * HOUR, min_posts=5)
    for b in found.values():
        assert b is not None and b.hours == 12 and b.posts == 120
        assert b.mu0 == pytest.approx(0.2, abs=1e-12)
        assert b.sigma_w == pytest.approx((12 * 10 * 0.09 / (120 - 12)) ** 0.5, rel=1e-9)
    # hourly means +-0.1: variance 12 * 0.01 / 11, of which sigma_w^2 / 10 = 0.01 is noise
    assert found["spread"].sigma_b == pytest.approx((12 * 0.01 / 11 - 0.01) ** 0.5, rel=1e-6)
    assert found["steady"].sigma_b == 0.0


# --- live alerts over the corpus's burst ----------------------------------------------------


@pytest.fixture(scope="module")
def burst_run(tmp_path_factory):
    """The corpus up to day 2, 18:00, with the alert hook after every poll: the history up to
    14:00 arrives in the first poll (every hour of it is checked), then a poll every 20 minutes."""
    folder = tmp_path_factory.mktemp("burst")
    config = write_config(folder)
    store = Store(f"sqlite:///{folder}/monitor.db")
    monitor, after = live(config, store)
    play(
        store,
        config,
        corpus(until_s=BURST_WINDOW[0] + 3 * 3600),
        start=DAY2_BURST - timedelta(minutes=80),
        until=EPOCH + timedelta(days=1, hours=18),
        step=timedelta(minutes=20),
        after=after,
    )
    yield config, store, monitor
    store.close()


def test_the_summit_burst_raises_one_volume_alert_while_it_happens(burst_run):
    config, store, monitor = burst_run
    volume = [a for a in list_alerts(store) if a["kind"] == "volume"]
    # nothing on the quiet day 1; cooldown after
    assert [a["bucket_start"] for a in volume] == [DAY2_BURST]
    alert = volume[0]
    details = alert["details"]
    assert details["bucket"]["partial"] is True  # raised during the hour, not after it
    assert alert["created_at"] < DAY2_BURST + timedelta(hours=1)
    assert alert["value"] > details["baseline"]["limit"] > details["baseline"]["mean"]
    assert details["baseline"]["kind"] == "recent" and len(details["baseline"]["hours"]) == 7
    tags = [h["tag"] for h in details["drivers"]["hashtags"]]
    assert "trumpputinbusiness" in tags
    assert details["drivers"]["posts"] and all(
        p["url"].startswith("https://") for p in details["drivers"]["posts"]
    )
    assert (
        "Volume spike in US–Russia business thaw" in alert["summary"]
        and "so far" in alert["summary"]
    )
    assert alert["next_delivery_at"] is None  # no webhook configured: stored and listed, not sent


def test_the_burst_also_shifts_mean_sentiment_upwards(burst_run):
    _config, store, _monitor = burst_run
    shifts = [a for a in list_alerts(store) if a["kind"] == "sentiment"]
    assert shifts, "the burst's mood is far more positive than day 1's"
    up = [a for a in shifts if a["direction"] == "up"]
    assert up and DAY2_BURST <= up[0]["bucket_start"] < DAY2_BURST + timedelta(hours=3)
    ewma = up[0]["details"]["ewma"]
    assert abs(ewma["ewma"]) > ewma["limit"] and up[0]["details"]["drivers"]["posts"]


def test_checking_again_never_repeats_an_alert(burst_run):
    _config, store, monitor = burst_run
    before = list_alerts(store)
    monitor._hours.clear()
    monitor._sentiment_done.clear()
    assert monitor.after_poll(0, source="feed") == []  # every hour re-checked from scratch
    assert len(list_alerts(store)) == len(before)
    fresh = AlertMonitor(_config, store, clock=lambda: EPOCH + timedelta(days=1, hours=18))
    assert fresh.after_poll(0, source="feed") == []


def test_cooldown_is_per_topic_and_zero_alerts_every_alarming_hour(tmp_path, sqlite_url):
    config = write_config(
        tmp_path,
        """\
        alerts:
          topics:
            thaw: {cooldown: 0s, sentiment: false}
        """,
    )
    assert config.alerts.for_topic("thaw").cooldown == timedelta(0)
    assert config.alerts.for_topic("thaw").alpha == 0.025  # the rest stays at the defaults
    store = Store(sqlite_url)
    _monitor, after = live(config, store)
    play(
        store,
        config,
        corpus(until_s=BURST_WINDOW[1] + 3600),
        start=DAY2_BURST - timedelta(hours=2),
        until=EPOCH + timedelta(days=1, hours=18),
        after=after,
    )
    kinds = {(a["kind"], a["bucket_start"]) for a in list_alerts(store)}
    assert kinds == {("volume", DAY2_BURST), ("volume", DAY2_BURST + timedelta(hours=1))}
    store.close()


def test_a_disabled_alerts_section_stores_nothing(tmp_path, sqlite_url):
    config = write_config(tmp_path, "alerts: {enabled: false}\n")
    store = Store(sqlite_url)
    _monitor, after = live(config, store)
    play(
        store,
        config,
        corpus(until_s=BURST_WINDOW[1]),
        start=DAY2_BURST - timedelta(hours=2),
        until=EPOCH + timedelta(days=1, hours=17),
        after=after,
    )
    assert list_alerts(store) == []
    store.close()


# --- delivery of alerts ---------------------------------------------------------------------


def test_alerts_are_sent_to_the_webhook_once_and_failures_retried_with_backoff(
    tmp_path, sqlite_url
):
    with Hook(statuses=[500, 200]) as hook:
        config = write_config(
            tmp_path,
            f"""\
            alerts:
              webhook: {{url: "{hook.url}", format: slack}}
              defaults: {{sentiment: false}}
            """,
        )
        store = Store(sqlite_url)
        monitor, after = live(config, store)
        last_poll = DAY2_BURST + timedelta(minutes=30)
        play(
            store,
            config,
            corpus(until_s=BURST_WINDOW[0] + 1800),
            start=DAY2_BURST - timedelta(hours=1),
            until=last_poll,
            step=timedelta(minutes=30),
            after=after,
        )
        (alert,) = list_alerts(store)
        assert hook.received == []  # the first attempt hit the 500
        assert alert["delivery_attempts"] == 1 and alert["delivered_at"] is None
        assert (
            "answered 500" in alert["delivery_error"]
            and "SECRET-TOKEN" not in alert["delivery_error"]
        )
        assert "\x1b" not in alert["delivery_error"]  # the server's words, without its escape codes
        due = alert["next_delivery_at"]
        assert due == last_poll + timedelta(seconds=30)

        assert monitor.deliver_pending() == 0  # not due yet: backoff
        monitor.clock = lambda: due
        assert monitor.deliver_pending() == 1
        assert monitor.deliver_pending() == 0  # delivered once, never again
        (message,) = hook.received
        (alert,) = list_alerts(store)
        assert alert["delivered_at"] == due and alert["delivery_error"] is None
    assert message["text"].startswith("Volume spike in US–Russia business thaw")
    plain = [
        b for b in message["blocks"] if b["type"] == "section" and b["text"]["type"] == "plain_text"
    ]
    assert plain and "posts so far" in plain[0]["text"]["text"]
    store.close()


def test_a_permanent_webhook_refusal_is_not_retried(tmp_path, store_url):
    with Hook(statuses=[403]) as hook:
        config = write_config(
            tmp_path,
            f"""\
            alerts:
              webhook: {{url: "{hook.url}", format: json}}
              defaults: {{sentiment: false}}
            """,
        )
        store = Store(store_url)
        _monitor, after = live(config, store)
        play(
            store,
            config,
            corpus(until_s=BURST_WINDOW[0] + 3600),
            start=DAY2_BURST - timedelta(hours=1),
            until=DAY2_BURST + timedelta(hours=1),
            after=after,
        )
        (alert,) = list_alerts(store)
    assert alert["next_delivery_at"] is None and alert["delivered_at"] is None
    assert alert["delivery_error"].startswith("gave up after 1 attempt(s): webhook at 127.0.0.1")
    store.close()


def test_collector_polls_the_simulator_and_sends_the_burst_alert(tmp_path, sqlite_url):
    """End to end: the real Collector polls the simulator's feed through the burst; its hook
    alerts once, while the hour is still running, and the webhook receives the JSON alert."""
    from digest_support import Scripted, corpus_post

    from monitor.collector import Collector
    from monitor.ingest.poll import Ingestor
    from monitor.simulator.corpus import load_corpus
    from monitor.simulator.server import SimClock, Simulator, atom_id
    from monitor.sources.base import Batch

    epoch = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=40)
    burst = epoch + timedelta(seconds=BURST_WINDOW[0])
    clock = SimClock(epoch=epoch, speed=0, start_offset_s=BURST_WINDOW[0] - 3600)
    with Simulator(clock=clock) as sim, Hook() as hook:
        config = write_config(
            tmp_path,
            f"""\
            alerts:
              webhook: {{url: "{hook.url}", format: json}}
            """,
            base=f"""\
            topics:
              - name: thaw
                title: US–Russia business thaw
                hashtags: ["#TrumpPutinBusiness", "#TrumpPutin", "#ТрампПутин"]
                keywords: ["Trump", "Putin", "Dmitriev"]
            sources:
              - name: all
                kind: rss
                url: "{sim.url}/feeds/all.atom?limit=300"
                interval: 1m
            """,
        )
        store = Store(sqlite_url)
        # History before the simulated hour of polling, stored as the feed itself would have.
        history = []
        for p in load_corpus():
            if p.offset_s < BURST_WINDOW[0] - 3600:
                raw = corpus_post(p, epoch)
                raw.native_id = atom_id(p)
                history.append(raw)
        Ingestor(store, config.topics, clock=lambda: burst - timedelta(hours=1)).store_batch(
            Scripted(config, "all"), Batch(posts=history, state={}), burst - timedelta(hours=1)
        )
        collector = Collector(config, store)
        try:
            for minutes in range(0, 105, 15):
                clock.set_offset(BURST_WINDOW[0] - 3600 + minutes * 60)
                assert collector.poll("all").outcome in ("ok", "not_modified")
        finally:
            collector.stop()
        alerts = [a for a in list_alerts(store) if a["kind"] == "volume"]
    assert [a["bucket_start"] for a in alerts] == [burst]
    assert alerts[0]["details"]["bucket"]["posts"] < 471  # raised part-way through the hour
    (sent,) = [m for m in hook.received if m["kind"] == "volume"]
    assert (
        sent["type"] == "alert"
        and sent["topic"] == "thaw"
        and sent["bucket_start"] == burst.isoformat()
    )
    assert sent["details"]["drivers"]["posts"]
    store.close()


# --- `monitor alerts` -----------------------------------------------------------------------


def test_monitor_alerts_lists_what_was_stored(burst_run, capsys):
    config, store, _monitor = burst_run
    code = main(
        ["--config", str(config.path), "--db", store.url, "alerts", "--since", "2026-03-16"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "2026-03-17 15:00 UTC  thaw  volume ↑  [not sent (no webhook)]" in out
    assert "Volume spike in US–Russia business thaw" in out
    assert (
        main(
            [
                "--config",
                str(config.path),
                "--db",
                store.url,
                "alerts",
                "--since",
                "2026-03-16",
                "--json",
                "--topic",
                "thaw",
            ]
        )
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert {r["kind"] for r in rows} >= {"volume", "sentiment"} and all(
        r["topic"] == "thaw" for r in rows
    )
    assert (
        main(["--config", str(config.path), "--db", store.url, "alerts", "--since", "2030-01-01"])
        == 0
    )
    assert "no alerts since" in capsys.readouterr().out
    assert main(["--config", str(config.path), "--db", store.url, "alerts", "--since", "soon"]) == 2


def test_a_poll_re_reads_only_the_hours_it_touched(tmp_path, sqlite_url):
    """The 28 days of hourly sums a check needs stay cached; a late post re-reads its own hour only."""
    config = write_config(tmp_path)
    store = Store(sqlite_url)
    monitor, after = live(config, store)
    play(
        store,
        config,
        corpus(until_s=86400 * 2),
        start=EPOCH + 2 * DAY - timedelta(hours=1),
        until=EPOCH + 2 * DAY,
        after=after,
    )
    hours = monitor._hours["thaw"]
    reads = []
    read = hours._read

    def counting(since: int, until: int) -> None:
        reads.append((since, until))
        read(since, until)

    hours._read = counting  # type: ignore[method-assign]
    late = EPOCH + DAY + timedelta(hours=3)
    play(
        store,
        config,
        [post("late", "Trump said something", late)],
        start=EPOCH + 2 * DAY,
        until=EPOCH + 2 * DAY + timedelta(hours=1),
        after=after,
    )
    assert reads == [(ts(late), ts(late) + HOUR)]
    store.close()


def test_the_digest_shows_the_same_spike_and_that_it_was_alerted(burst_run):
    from monitor.outputs.digest.build import build_topic_digest

    config, store, _monitor = burst_run
    now = EPOCH + timedelta(days=1, hours=18)
    d = build_topic_digest(
        store,
        digest="daily",
        topic="thaw",
        title="thaw",
        day=now.date(),
        zone=UTC,
        sources=["feed"],
        settings=config.alerts.for_topic("thaw"),
        now=now,
    )
    (spike,) = [s for s in d.spikes if s.kind == "volume"]
    assert spike.start == DAY2_BURST and spike.alerted
    assert not d.complete and all(h.future for h in d.hours if h.start >= now)


def test_hour_stats_give_the_baselines_of_a_fresh_read(tmp_path):
    """The dashboard checks many hours from one read of their stats; it must decide exactly as
    the live check does hour by hour."""
    import math

    from monitor.config.digests import AlertSettings
    from monitor.ingest.poll import upsert_buckets
    from monitor.metrics.spikes import HOUR, Hours, HourStats, check_sentiment, sentiment_window
    from monitor.store.models import ALL_SOURCES

    store = Store(f"sqlite:///{tmp_path}/h.db")
    first = 1_770_000_000 // HOUR * HOUR
    rows = []
    for i in range(40 * 24):
        m = 0.1 + 0.3 * math.sin(i / 5.0) if i % 17 else -0.7
        n = 3 + i % 11  # some hours under min_posts
        rows.append(
            {
                "topic": "t",
                "source": ALL_SOURCES,
                "start_ts": first + i * HOUR,
                "width_s": 60,
                "n_neg": n // 2,
                "n_neu": 0,
                "n_pos": n - n // 2,
                "sum_neg": (m - 0.4) * (n // 2),
                "sum_neu": 0.0,
                "sum_pos": (m + 0.4) * (n - n // 2),
                "sum_sq": (m - 0.4) ** 2 * (n // 2) + (m + 0.4) ** 2 * (n - n // 2),
                "n_unscored": 0,
                "engagement": 0,
                "incomplete": False,
            }
        )
    with store.write() as conn:
        upsert_buckets(conn, rows)
    settings = AlertSettings()
    hours = Hours(store, "t")
    start, end = first + 30 * 24 * HOUR, first + 40 * 24 * HOUR
    hours.ensure(sentiment_window(start)[1], end)
    stats = HourStats(hours, sentiment_window(start)[1], end, settings.min_posts)
    alarms = 0
    for t in range(start, end - HOUR, HOUR):
        one = check_sentiment(hours, t, settings)
        many = check_sentiment(hours, t, settings, stats)
        assert one == many
        alarms += bool(one[0] and one[0].alarm)
    assert alarms > 0
    store.close()


def test_sentiment_drivers_are_the_posts_and_tags_that_pulled_the_mean_the_alarms_way(store):
    """The panel a reader opens to see why the mood moved: a 'down' alarm lists the posts that
    pulled the hour's mean down, most first, and the hashtags they carry; an 'up' alarm the
    posts that pulled it up. A post's pull is (compound - mu0) / n, a hashtag's the sum of its
    posts' pulls (metrics.md §4)."""
    from types import SimpleNamespace

    from scripted import ScriptedSource

    from monitor.ingest.poll import Ingestor
    from monitor.metrics.spikes import sentiment_drivers
    from monitor.sources.base import Batch, RawPost, SourceSettings

    topics = [
        SimpleNamespace(
            name="mood",
            title=None,
            hashtags=["#deal", "#sanctions"],
            keywords=[],
            exclude=[],
            languages=None,
        )
    ]
    at = EPOCH + timedelta(hours=10)
    texts = {
        "a": "#deal wonderful, great, amazing news",
        "b": "#deal #sanctions terrible, awful, shameful news",
        "c": "#sanctions bad news",
        "d": "#deal news",
    }
    raw = [RawPost(native_id=k, text=v, created_at=at) for k, v in texts.items()]
    src = ScriptedSource(
        SourceSettings(name="s", kind="scripted"), topics, [Batch(posts=raw, state={})]
    )
    Ingestor(store, topics, clock=lambda: at + timedelta(hours=1)).poll(src)
    compound = {p["native_id"]: p["compound"] for p in store.posts()}
    assert compound["a"] > 0 > compound["c"] > compound["b"] and compound["d"] == 0

    down = sentiment_drivers(store, "mood", ts(at), 0.0, "down")
    assert [p.text for p in down.posts] == [texts["b"], texts["c"]]
    assert down.hashtags[0].tag == "sanctions" and down.hashtags[0].count == 2
    assert down.hashtags[0].contribution == pytest.approx(-(compound["b"] + compound["c"]) / 4)
    up = sentiment_drivers(store, "mood", ts(at), 0.0, "up")
    assert [p.text for p in up.posts] == [texts["a"]]
