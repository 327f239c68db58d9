"""Bucket sums → metric columns, as polars expressions: `monitor.metrics.formulas` for whole frames.

`monitor.metrics.formulas.summarize` works on one `BucketSums` at a time; a year of hourly buckets is
~9,000 calls through Python. These expressions compute the same numbers column-wise, so the
export, the analysis API, the dashboard and the digest can all turn `Store` sums into metrics in
one pass, with the same display rules. A test holds them to `summarize` within 1e-9 on random
buckets, including every n at which a rule switches.

Input columns (as `Store.series` and `Store.rollup` return them): n_neg, n_neu, n_pos, sum_neg,
sum_neu, sum_pos, sum_sq, n_unscored. Output columns and the smallest n (scored posts) at which
each one is filled in; below it the value is null, never 0, as metrics.md §3 requires:

    column                          filled from   why
    n                               always        0 for an empty bucket is a count, not a metric
    pos_share pos_lo pos_hi         n >= 1        shares come with their Wilson interval, which is
    neg_share neg_lo neg_hi                       what says that 1 of 2 is not "50 %"
    mean mean_lo mean_hi            n >= 5        the t interval (95 %) of the mean compound
    er3 b sigma                     n >= 10       polarization; "tentative" until n = 30, which a
                                                  reader can tell from n
"""

from __future__ import annotations

import polars as pl

from monitor.metrics.formulas import norm_ppf, t_ppf

MIN_N_SHARES = 1
MIN_N_MEAN = 5
MIN_N_POLARIZATION = 10

LEVEL = 0.95  # the level of every interval, as in metrics.summarize
_Q = 1.0 - (1.0 - LEVEL) / 2.0
_Z = norm_ppf(_Q)

METRIC_COLUMNS = (
    "n",
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


def _t_quantiles(dof: pl.Series) -> pl.Series:
    """t(LEVEL two-sided, df) for a column of degrees of freedom.

    `t_ppf` is a scalar Newton solve; buckets share few distinct n, so it runs once per
    distinct value and the column is filled by lookup.
    """
    table = {int(d): t_ppf(_Q, int(d)) for d in dof.drop_nulls().unique() if d >= 1}
    return dof.replace_strict(table, default=None, return_dtype=pl.Float64)


def _when_n(min_n: int, value: pl.Expr) -> pl.Expr:
    return pl.when(pl.col("n") >= min_n).then(value).otherwise(None)


def _wilson(k: str, name: str) -> list[pl.Expr]:
    """share, lo, hi of column k over n: the Wilson score interval of `metrics.wilson`."""
    n, kk, z2 = pl.col("n"), pl.col(k), _Z * _Z
    centre = (kk + z2 / 2.0) / (n + z2)
    half = _Z / (n + z2) * (kk * (n - kk) / n + z2 / 4.0).sqrt()
    return [
        _when_n(MIN_N_SHARES, kk / n).alias(f"{name}_share"),
        _when_n(MIN_N_SHARES, (centre - half).clip(lower_bound=0.0)).alias(f"{name}_lo"),
        _when_n(MIN_N_SHARES, (centre + half).clip(upper_bound=1.0)).alias(f"{name}_hi"),
    ]


def _er3() -> pl.Expr:
    """ER-3 summed over class pairs: p_i p_j (p_i + p_j) |m_i - m_j| for each pair, times 2.

    The double sum of metrics.er3 counts each unordered pair twice (p_i² p_j and p_j² p_i) and
    the diagonal is 0; a pair with an empty class contributes nothing.
    """
    classes = (("n_neg", "sum_neg"), ("n_neu", "sum_neu"), ("n_pos", "sum_pos"))
    n = pl.col("n")
    terms = []
    for i, (ki, si) in enumerate(classes):
        for kj, sj in classes[i + 1 :]:
            pi, pj = pl.col(ki) / n, pl.col(kj) / n
            gap = (pl.col(si) / pl.col(ki) - pl.col(sj) / pl.col(kj)).abs()
            both = (pl.col(ki) > 0) & (pl.col(kj) > 0)
            terms.append(pl.when(both).then(pi * pj * (pi + pj) * gap).otherwise(0.0))
    return 2.0 * pl.sum_horizontal(terms)


def with_metrics(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with the metric columns added after its sum columns (display rules applied)."""
    n = pl.col("n")
    total = pl.col("sum_neg") + pl.col("sum_neu") + pl.col("sum_pos")
    sum_sq_dev = (pl.col("sum_sq") - total * total / n).clip(lower_bound=0.0)
    mean = total / n
    half = (n - 1).map_batches(_t_quantiles, return_dtype=pl.Float64, is_elementwise=True) * (
        sum_sq_dev / (n - 1) / n
    ).sqrt()
    frame = frame.with_columns((pl.col("n_neg") + pl.col("n_neu") + pl.col("n_pos")).alias("n"))
    return frame.with_columns(
        _when_n(MIN_N_MEAN, mean).alias("mean"),
        _when_n(MIN_N_MEAN, (mean - half).clip(lower_bound=-1.0)).alias("mean_lo"),
        _when_n(MIN_N_MEAN, (mean + half).clip(upper_bound=1.0)).alias("mean_hi"),
        *_wilson("n_pos", "pos"),
        *_wilson("n_neg", "neg"),
        _when_n(MIN_N_POLARIZATION, _er3()).alias("er3"),
        _when_n(MIN_N_POLARIZATION, 4.0 * pl.col("n_pos") * pl.col("n_neg") / (n * n)).alias("b"),
        _when_n(MIN_N_POLARIZATION, (sum_sq_dev / n).sqrt()).alias("sigma"),
    )


__all__ = ["METRIC_COLUMNS", "MIN_N_MEAN", "MIN_N_POLARIZATION", "MIN_N_SHARES", "with_metrics"]
