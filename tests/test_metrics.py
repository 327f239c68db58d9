"""Test vectors of docs/metrics.md (to 6 decimals) and the properties a user would notice."""

from __future__ import annotations

import math

import pytest

from monitor.metrics.formulas import (
    BucketSums,
    Display,
    b_index,
    classify,
    display_level,
    ears_series,
    ears_t,
    er3,
    ewma_chart,
    ewma_z,
    mean,
    mean_interval,
    norm_ppf,
    sigma,
    summarize,
    t_ppf,
    wilson,
)

SIX = 5e-7  # "reproduce to 6 decimal places"

GRID_21 = [i / 10 for i in range(-10, 11)]
MIXED_10 = [0.8, 0.6, 0.4, 0, -0.3, -0.7, 0.9, -0.9, 0.05, -0.05]
EARS_SERIES = [150, 130, 122, 160, 155, 128, 144, 125, 300, 319, 289, 277, 500]


def bucket(scores: list[float | None]) -> BucketSums:
    return BucketSums.from_scores(scores)


# --------------------------------------------------------------------------- §2 polarization


POLARIZATION_TABLE = [
    ([0.7], 0, 0, 0),
    ([0.5] * 6, 0, 0, 0),
    ([0, 0, 0, 0], 0, 0, 0),
    ([0.01, -0.02, 0, 0.04], 0, 0, 0.021651),
    ([1, 1, 1, -1, -1, -1], 1, 1, 1),
    ([1, -1], 1, 1, 1),
    (GRID_21, 0.501242, 0.907029, 0.605530),
    ([1, 1, 0, 0], 0.5, 0, 0.5),
    ([0.1, 0.1, -0.1, -0.1], 0.1, 1, 0.1),
    (MIXED_10, 0.426, 0.8, 0.574543),
    ([0.2, 0.5, 0.9, 0.7], 0, 0, 0.258602),
    ([0.8] * 9 + [-0.8], 0.288, 0.36, 0.48),
    ([0.05, -0.05, 0.0499, -0.0499], 0.025, 0.25, 0.049950),
]


@pytest.mark.parametrize(("scores", "want_er3", "want_b", "want_sigma"), POLARIZATION_TABLE)
def test_polarization_table(scores, want_er3, want_b, want_sigma):
    b = bucket(scores)
    assert er3(b) == pytest.approx(want_er3, abs=SIX)
    assert b_index(b) == pytest.approx(want_b, abs=SIX)
    assert sigma(b) == pytest.approx(want_sigma, abs=SIX)


def test_empty_bucket_is_null_not_zero():
    b = bucket([])
    assert (mean(b), er3(b), b_index(b), sigma(b), mean_interval(b)) == (None,) * 5
    assert wilson(0, 0) is None


def test_unscored_posts_are_counted_but_never_scored():
    """Non-English posts add to volume only; as compound 0 they would fake a neutral mood."""
    b = bucket([None, None, 0.8])
    assert (b.n, b.n_unscored, b.total) == (1, 2, 3)
    assert mean(b) == 0.8
    only_unscored = bucket([None, None])
    assert only_unscored.total == 2
    assert (mean(only_unscored), er3(only_unscored), sigma(only_unscored)) == (None, None, None)


@pytest.mark.parametrize(
    ("compound", "cls"),
    [(0.05, 1), (0.0499, 0), (0.0, 0), (-0.0499, 0), (-0.05, -1), (1.0, 1), (-1.0, -1)],
)
def test_classes_follow_the_vader_readme(compound, cls):
    assert classify(compound) == cls


def test_non_finite_score_is_rejected():
    with pytest.raises(ValueError):
        bucket([0.1, math.nan])


@pytest.mark.parametrize(("inside", "outside"), [(0.0499, 0.05), (-0.0499, -0.05)])
def test_er3_nearly_continuous_across_the_class_boundary(inside, outside):
    """One post nudged across ±0.05 barely moves ER-3, unlike the count-based B."""
    neutral, opinionated = bucket(GRID_21 + [inside]), bucket(GRID_21 + [outside])
    er3_jump = abs(er3(opinionated) - er3(neutral))
    b_jump = abs(b_index(opinionated) - b_index(neutral))
    assert er3_jump < 0.025
    assert er3_jump < b_jump / 4


# --------------------------------------------------------------------------- merging buckets


HOURS: list[list[float | None]] = [
    [0.8, -0.3, None, 0.0, 0.05],
    [],
    [-0.05, -0.9, 0.0499, None],
    [0.4, 0.4, 0.4],
    [None],
    [0.9, -0.7, 0.6, -0.0499, 0.2, -1.0, 1.0],
]


def test_hourly_buckets_add_into_the_daily_bucket():
    day = bucket([s for hour in HOURS for s in hour])
    merged = sum((bucket(hour) for hour in HOURS), BucketSums())
    assert (merged.n_neg, merged.n_neu, merged.n_pos, merged.n_unscored) == (
        day.n_neg,
        day.n_neu,
        day.n_pos,
        day.n_unscored,
    )
    for field in ("sum_neg", "sum_neu", "sum_pos", "sum_sq"):
        assert getattr(merged, field) == pytest.approx(getattr(day, field), abs=1e-12)
    for metric in (mean, sigma, er3, b_index):
        assert metric(merged) == pytest.approx(metric(day), abs=1e-12)
    assert mean_interval(merged) == pytest.approx(mean_interval(day), abs=1e-12)


def test_empty_bucket_is_the_identity_of_merging():
    b = bucket(HOURS[0])
    assert BucketSums() + b == b == b + BucketSums()


# --------------------------------------------------------------------------- §3 intervals


@pytest.mark.parametrize(
    ("p", "df", "want"),
    [
        (0.975, 9, 2.262157162798205),
        (0.95, 5, 2.0150483733330233),
        (0.975, 6, 2.4469118511449786),
        (0.995, 2, 9.924843200918287),
        (0.6, 3, 0.2766706623326898),
        (0.975, 1000, 1.9623390808264083),
        (0.975, 9_999, 1.960201263621357),  # last df on the incomplete-beta path
        (0.975, 10_000, 1.960201239890626),  # first df on the series path
        (0.975, 100_000, 1.9599877075346095),
    ],
)
def test_t_quantile(p, df, want):
    assert t_ppf(p, df) == pytest.approx(want, abs=1e-9)
    assert t_ppf(1 - p, df) == pytest.approx(-want, abs=1e-9)


@pytest.mark.parametrize("p", [0.6, 0.9, 0.975, 0.9999])
def test_t_quantile_df1_is_cauchy(p):
    assert t_ppf(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-10)


def test_normal_quantile_for_wilson():
    assert norm_ppf(0.975) == pytest.approx(1.959964, abs=SIX)


def test_mean_interval_vector():
    b = bucket(MIXED_10)
    assert mean(b) == pytest.approx(0.08, abs=SIX)
    assert mean_interval(b) == pytest.approx((-0.353236, 0.513236), abs=SIX)


def test_mean_interval_is_clipped_to_the_compound_range():
    assert mean_interval(bucket([1, 1, 1, 0.5])) == pytest.approx((0.477, 1.0), abs=1e-3)


def test_mean_interval_needs_two_posts():
    assert mean_interval(bucket([0.3])) is None


@pytest.mark.parametrize(
    ("k", "n", "want"),
    [
        (3, 10, (0.107791, 0.603222)),
        (0, 5, (0.0, 0.434482)),
        (7, 7, (0.645670, 1.0)),
        (12, 40, (0.180748, 0.454300)),
    ],
)
def test_wilson_vectors(k, n, want):
    assert wilson(k, n) == pytest.approx(want, abs=SIX)


def test_wilson_rejects_impossible_counts():
    with pytest.raises(ValueError):
        wilson(6, 5)


# --------------------------------------------------------------------------- §3 display rules


@pytest.mark.parametrize(
    ("n", "level"),
    [
        (0, Display.NO_DATA),
        (1, Display.COUNTS_ONLY),
        (4, Display.COUNTS_ONLY),
        (5, Display.MEAN_ONLY),
        (9, Display.MEAN_ONLY),
        (10, Display.TENTATIVE),
        (29, Display.TENTATIVE),
        (30, Display.NORMAL),
        (5000, Display.NORMAL),
    ],
)
def test_display_level(n, level):
    assert display_level(n) is level


def test_summary_of_no_data_has_only_counts():
    s = summarize(bucket([None, None]))
    assert s.display is Display.NO_DATA
    assert (s.n, s.n_unscored) == (0, 2)
    shown = (s.mean, s.mean_lo, s.mean_hi, s.pos_share, s.pos_lo, s.neg_share, s.er3, s.b, s.sigma)
    assert shown == (None,) * 9


def test_summary_of_few_posts_shows_shares_only():
    s = summarize(bucket([0.5, -0.5, 0.0]))
    assert s.display is Display.COUNTS_ONLY
    assert s.pos_share == pytest.approx(1 / 3)
    assert s.neg_share == pytest.approx(1 / 3)
    assert (s.pos_lo, s.pos_hi) == pytest.approx(wilson(1, 3))
    assert (s.mean, s.mean_lo, s.er3, s.b, s.sigma) == (None,) * 5


def test_summary_from_five_posts_adds_the_mean_but_not_polarization():
    s = summarize(bucket([1, -1, 1, -1, 0.5]))
    assert s.display is Display.MEAN_ONLY
    assert s.mean == pytest.approx(0.1)
    assert s.mean_lo is not None and s.mean_hi is not None
    assert (s.er3, s.b, s.sigma) == (None, None, None)


def test_summary_from_ten_posts_is_complete_and_tentative():
    s = summarize(bucket(MIXED_10))
    assert s.display is Display.TENTATIVE
    assert (s.n, s.n_neg, s.n_neu, s.n_pos) == (10, 4, 1, 5)
    assert (s.mean, s.mean_lo, s.mean_hi) == pytest.approx((0.08, -0.353236, 0.513236), abs=SIX)
    assert (s.er3, s.b, s.sigma) == pytest.approx((0.426, 0.8, 0.574543), abs=SIX)
    assert (s.pos_share, s.neg_share) == pytest.approx((0.5, 0.4))


def test_summary_of_a_one_sided_bucket_shows_zero_polarization_not_null():
    s = summarize(bucket([0.6] * 30))
    assert s.display is Display.NORMAL
    assert (s.er3, s.b, s.sigma) == pytest.approx((0.0, 0.0, 0.0))


# --------------------------------------------------------------------------- §4 volume spikes


def test_ears_vector_alarms():
    checks = ears_series(EARS_SERIES)
    assert checks[:7] == [None] * 7
    alarms = [t for t, c in enumerate(checks, start=1) if c is not None and c.alarm]
    assert alarms == [9, 10, 13]


def test_ears_down_weighting_catches_a_continuing_spike():
    baseline = EARS_SERIES[2:9]
    weighted = ears_t(319, baseline)
    plain = ears_t(319, baseline, downweight=False)
    assert weighted.limit == pytest.approx(182.045075, abs=SIX)
    assert plain.limit == pytest.approx(325.869166, abs=SIX)
    assert weighted.alarm and not plain.alarm
    assert weighted.weights[:6] == (1.0,) * 6
    assert weighted.weights[6] == pytest.approx(0.002356, abs=SIX)


def test_ears_baseline_with_one_spike_among_equal_values():
    """Others all equal gives r* = inf: the spike gets weight 0 instead of a division error."""
    check = ears_t(40, [10, 10, 10, 10, 10, 10, 100])
    assert check.weights == (1.0,) * 6 + (0.0,)
    assert check.baseline_mean == pytest.approx(10.0)
    assert check.alarm


@pytest.mark.parametrize(("y", "alarm"), [(3, False), (4, False), (5, True)])
def test_ears_quiet_topic_guard(y, alarm):
    """A topic with no posts for a week must not alarm on a handful."""
    check = ears_t(y, [0] * 7)
    assert check.baseline_sd == 1.0  # floored at sqrt(max(ybar, 1))
    assert check.limit == pytest.approx(t_ppf(0.975, 6) * math.sqrt(8 / 7))
    assert check.alarm is alarm


# --------------------------------------------------------------------------- §4 mean sentiment


def test_ewma_first_vector():
    points = ewma_chart([0, 0.5, -0.3, 0.2, 0, 1.2, 1.5, 1.1, 1.4, 1.3, 1.6, 0.9])
    first = next(p for p in points if p.alarm)
    assert first.t == 11
    assert (first.ewma, first.limit) == pytest.approx((1.033107, 0.996304), abs=SIX)


def test_ewma_second_vector_from_bucket_means():
    buckets = [
        (0.12, 40),
        (0.08, 25),
        (0.11, 60),
        (0.05, 12),
        (-0.05, 35),
        (-0.10, 50),
        (-0.02, 8),
        (-0.12, 45),
    ]
    z = [ewma_z(m, n, mu0=0.10, sigma_w=0.45, sigma_b=0.03) for m, n in buckets]
    want_z = [0.259010, -0.210819, 0.152944, -0.375029, -1.834498, -2.842676, -0.741186, -2.993821]
    assert z == pytest.approx(want_z, abs=SIX)
    points = ewma_chart(z)
    assert [p.t for p in points if p.alarm] == [8]
    assert (points[-1].ewma, points[-1].limit) == pytest.approx((-1.289957, 0.985826), abs=SIX)


def test_ewma_skipped_bucket_is_no_observation():
    """A skipped bucket neither moves the EWMA nor widens the limit; points stay aligned."""
    z = [0.4, 1.1, -0.2, 2.0]
    with_gaps = ewma_chart([None, 0.4, 1.1, None, None, -0.2, 2.0])
    plain = ewma_chart(z)
    kept = [p for p in with_gaps if p.z is not None]
    assert [p.t for p in with_gaps] == [1, 2, 3, 4, 5, 6, 7]
    assert [(p.ewma, p.limit, p.alarm) for p in kept] == [(p.ewma, p.limit, p.alarm) for p in plain]
    assert (with_gaps[0].ewma, with_gaps[0].limit, with_gaps[0].alarm) == (0.0, 0.0, False)
    assert (with_gaps[4].ewma, with_gaps[4].limit) == (with_gaps[2].ewma, with_gaps[2].limit)
    assert not with_gaps[4].alarm


# --------------------------------------------------------------------------- found by a mutation pass
# Each test below fails for a one-operator change to monitor/metrics/formulas.py that the suite missed.


def test_neutral_scores_add_into_the_sum_and_across_buckets():
    """Neutral compounds are small, so a sign slip in them hid inside loose tolerances."""
    b = bucket([0.04, -0.03, 0.02, 0.6, -0.5])
    assert b.sum == pytest.approx(0.13, abs=1e-15)
    merged = bucket([0.04, 0.03]) + bucket([0.02])
    assert merged.sum_neu == pytest.approx(0.09, abs=1e-15) and merged.sum == pytest.approx(
        0.09, abs=1e-15
    )


def test_outlier_weights_do_not_depend_on_the_order_of_the_baseline():
    """Each value is judged against all the others: a spike in the middle of the week gets the
    weight it would get at the end."""
    week = [130, 122, 300, 155, 128, 144, 125]
    end = [130, 122, 155, 128, 144, 125, 300]
    w_mid, w_end = ears_t(319, week).weights, ears_t(319, end).weights
    assert w_mid[2] == pytest.approx(w_end[6], rel=1e-12) and w_mid[2] < 0.5
    assert ears_t(319, week).limit == pytest.approx(ears_t(319, end).limit, rel=1e-12)
    assert ears_t(319, week[::-1]).weights == pytest.approx(w_mid[::-1], rel=1e-12)


def test_ears_series_checks_from_the_first_full_week():
    checks = ears_series(EARS_SERIES)
    assert checks[7] is not None and checks[7].baseline_mean == pytest.approx(
        ears_t(125, EARS_SERIES[:7]).baseline_mean
    )
    # +4 over a quiet baseline: not enough posts
    assert ears_series([2] * 7 + [6])[7].alarm is False
    assert ears_series([2] * 7 + [7])[7].alarm is True


def test_ears_excess_guard_counts_posts_above_the_baseline():
    """Baseline 2 a day: 6 posts clear the limit (5.70) but are only 4 above the baseline."""
    assert ears_t(6, [2] * 7).limit < 6 and not ears_t(6, [2] * 7).alarm
    assert ears_t(7, [2] * 7).alarm


def test_ears_needs_three_baseline_values():
    assert ears_t(50, [10, 12, 11]).limit > 11
    with pytest.raises(ValueError, match="at least 3"):
        ears_t(50, [10, 12])


def test_mean_interval_from_two_posts_and_levels_out_of_range():
    lo, hi = mean_interval(bucket([0.2, 0.4]))
    assert lo < 0.3 < hi
    for level in (0.0, 1.0):
        with pytest.raises(ValueError):
            mean_interval(bucket([0.2, 0.4]), level=level)


def test_from_row_reads_database_sums_as_python_numbers_in_field_order() -> None:
    """PostgreSQL hands SUM() back as Decimal, SQLite as int or float: a bucket built from either
    must hold ints and floats in the right fields, or the next `+` mixes Decimal and float."""
    from decimal import Decimal

    b = BucketSums.from_row(
        [Decimal(1), Decimal(2), 3, Decimal("-0.5"), 0, Decimal("0.75"), Decimal("0.8125"), 4]
    )
    assert b == BucketSums(
        n_neg=1,
        n_neu=2,
        n_pos=3,
        sum_neg=-0.5,
        sum_neu=0.0,
        sum_pos=0.75,
        sum_sq=0.8125,
        n_unscored=4,
    )
    assert [type(v) for v in (b.n_neg, b.n_neu, b.n_pos, b.n_unscored)] == [int] * 4
    assert [type(v) for v in (b.sum_neg, b.sum_neu, b.sum_pos, b.sum_sq)] == [float] * 4
    assert (b + b).n == 12
