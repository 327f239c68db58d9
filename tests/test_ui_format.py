"""What the dashboard draws for numbers and series: the metrics.md display rules, as characters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.metrics.formulas import BucketSums, summarize
from monitor.ui.charts import (
    plot_step,
    polarization_chart,
    sentiment_chart,
    sparkline,
    volume_chart,
)
from monitor.ui.format import (
    Palette,
    ago,
    cell,
    compound_text,
    mean_text,
    polarization_text,
    shares_text,
    signed,
    span,
    until,
)
from monitor.ui.series import Series

P = Palette()


def sums(*scores: float | None) -> BucketSums:
    return BucketSums.from_scores(scores)


@pytest.mark.parametrize(
    "bucket, mean, shares, er3",
    [
        (sums(), "no data", "—", "—"),
        (sums(0.5, 0.5, -0.5), "too few (n=3)", "▲67% ▼33%~", "n<10"),
        (
            sums(*[0.5] * 4, -0.5, 0.0),
            "▲ +0.25 [-0.19 +0.69]~",
            "▲67% ▼17%~",
            "n<10",
        ),  # t(5): ±0.439
        (
            sums(*[0.6] * 8, *[-0.6] * 4),
            "▲ +0.20 [-0.18 +0.58]",
            "▲67% ▼33%",
            "0.53~",
        ),  # ER-3 = 2·(6/27)·1.2
        (sums(*[0.6] * 20, *[-0.6] * 10), "▲ +0.20 [-0.01 +0.41]", "▲67% ▼33%", "0.53"),
        (sums(None, None), "no data", "—", "—"),  # unscored posts are counted, never averaged as 0
    ],
)
def test_display_rules(bucket: BucketSums, mean: str, shares: str, er3: str) -> None:
    s = summarize(bucket)
    assert mean_text(s, P).plain == mean
    assert shares_text(s, P).plain == shares
    assert polarization_text(s.er3, s, P).plain == er3


def test_compact_mean_and_post_scores() -> None:
    assert (
        mean_text(summarize(sums(*[0.6] * 20, *[-0.6] * 10)), P, compact=True).plain
        == "▲ +0.20 ±0.21"
    )
    assert compound_text(-0.8316, P).plain == "▼ -0.83"
    assert compound_text(0.0, P).plain == "● 0.00"
    assert compound_text(None, P).plain == "? unscored"
    assert signed(-0.0001) == "0.00"


def test_untrusted_cells_are_one_safe_cut_line() -> None:
    text = cell("[b]x[/b]\n\x1b]0;t\x07\u202eok " + "y" * 500, 20)
    assert text.plain == "[b]x[/b] ok yyyyyyy…" and len(text.plain) == 20


def test_times_in_words() -> None:
    now = datetime(2026, 3, 3, 14, 5, tzinfo=UTC)
    assert ago(now - timedelta(seconds=40), now) == "40 s ago"
    assert ago(now - timedelta(minutes=125), now) == "2 h 5 min ago"
    assert until(now + timedelta(minutes=20), now) == "in 20 min"
    assert until(now - timedelta(minutes=3), now) == "due 3 min ago"
    assert span(timedelta(days=2, hours=4)) == "2 d 4 h"


def series(values: list[BucketSums | None], gaps: set[int] = frozenset(), step: int = 60) -> Series:
    return Series(
        0, step, tuple(values), tuple(i in gaps for i in range(len(values))), (0,) * len(values)
    )


def test_sparkline_marks_no_data_gaps_and_small_counts() -> None:
    s = series(
        [None, BucketSums(), sums(0.1), BucketSums(), sums(*[0.1] * 80), sums(0.1)], gaps={3, 5}
    )
    line = sparkline(s, 6, P)
    # not collected, quiet, 1 post, gap with nothing counted, peak, gap
    assert line.plain == "· ▁░█▁"
    assert any("underline" in str(span.style) for span in line.spans)  # a gap bucket with posts


def test_series_fit_merges_buckets_exactly() -> None:
    s = series([sums(0.5), sums(-0.5), None, None, sums(0.2), BucketSums()], gaps={1})
    fitted = s.fit(3)
    assert fitted.step_s == 120 and len(fitted) == 3
    assert fitted.sums[0] == sums(0.5) + sums(-0.5) and fitted.incomplete == (True, False, False)
    assert fitted.sums[1] is None  # two uncollected buckets stay no data, not 0
    assert s.total() == sums(0.5, -0.5, 0.2)


def test_plot_step_names_a_width_people_use() -> None:
    day = series([BucketSums()] * 96, step=900)  # 24 h of 15 minutes
    assert plot_step(day, 80) == 3600  # 24 bars of 3 cells fill 72 of 73 columns
    assert plot_step(day, 160) == 1800
    assert plot_step(series([BucketSums()] * 60), 80) == 60


def test_charts_mark_gaps_tentative_and_missing_buckets_on_the_axis() -> None:
    values = [None, sums(0.2), sums(*[0.3] * 6), sums(*[0.4] * 12, *[-0.4] * 3), sums(*[0.1] * 40)]
    s = series(values, gaps={4})
    for chart in (sentiment_chart, polarization_chart, volume_chart):
        lines = [line.plain for line in chart(s, 7 + 5, 12, P)]
        axis = lines[-2][7:]
        assert axis[0] == "·" and axis[4] == "!", (chart.__name__, axis)
    assert [line.plain for line in sentiment_chart(s, 12, 8, P)][-2][
        7:11
    ] == "··~─"  # n<5, n 5–9 tentative
    assert [line.plain for line in polarization_chart(s, 12, 5, P)][-2][
        7:11
    ] == "···~"  # n<10, n 10–29
