"""Sentiment, polarization, uncertainty and spike metrics, as specified in metrics.md.

Everything here is a pure function of per-bucket *sums*, never of post lists: the store keeps
one `BucketSums` per bucket, and a coarser bucket (a day) is the exact merge of finer ones
(its hours), so every metric can be recomputed for any window without re-reading posts.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist
from typing import Any

POS_THRESHOLD = 0.05
"""VADER README classes: positive s >= 0.05, negative s <= -0.05, neutral otherwise.

VADER rounds compound to 4 decimals, so exact ±0.05 do occur and the inclusive bounds matter.
"""


def classify(compound: float) -> int:
    """-1, 0 or +1 for negative, neutral, positive."""
    if compound >= POS_THRESHOLD:
        return 1
    if compound <= -POS_THRESHOLD:
        return -1
    return 0


# --------------------------------------------------------------------------- bucket sums


@dataclass(frozen=True, slots=True)
class BucketSums:
    """The six class sums ER-3 needs, plus the sum of squares sigma needs.

    Unscored posts (languages VADER cannot read) are counted so that volume stays honest, but
    they never enter n: treating them as compound 0 would drag every mean towards neutral.
    Merge buckets with `+`, e.g. `sum(hours, BucketSums())`.
    """

    n_neg: int = 0
    n_neu: int = 0
    n_pos: int = 0
    sum_neg: float = 0.0
    sum_neu: float = 0.0
    sum_pos: float = 0.0
    sum_sq: float = 0.0
    n_unscored: int = 0

    @property
    def n(self) -> int:
        """Scored posts: the denominator of every sentiment metric."""
        return self.n_neg + self.n_neu + self.n_pos

    @property
    def total(self) -> int:
        """All stored posts, the number that volume spikes are computed on."""
        return self.n + self.n_unscored

    @property
    def sum(self) -> float:
        """Sum of compound over scored posts."""
        return self.sum_neg + self.sum_neu + self.sum_pos

    @classmethod
    def from_row(cls, values: Iterable[Any]) -> BucketSums:
        """A bucket from database sums in field order (`monitor.store.db.SUM_COLUMNS`).

        Drivers hand back SUMs as Decimal, int or float depending on the database; the counts
        become ints and the sums floats again so buckets merge and compare exactly in Python.
        """
        n_neg, n_neu, n_pos, sum_neg, sum_neu, sum_pos, sum_sq, n_unscored = values
        return cls(
            n_neg=int(n_neg),
            n_neu=int(n_neu),
            n_pos=int(n_pos),
            sum_neg=float(sum_neg),
            sum_neu=float(sum_neu),
            sum_pos=float(sum_pos),
            sum_sq=float(sum_sq),
            n_unscored=int(n_unscored),
        )

    @classmethod
    def from_scores(cls, scores: Iterable[float | None]) -> BucketSums:
        """Build a bucket from compounds; None marks a post stored but not scored.

        Non-finite scores are rejected because one NaN would silently poison every later merge.
        """
        by_class: dict[int, list[float]] = {-1: [], 0: [], 1: []}
        n_unscored = 0
        for s in scores:
            if s is None:
                n_unscored += 1
                continue
            if not math.isfinite(s):
                raise ValueError(f"compound must be finite, got {s!r}")
            by_class[classify(s)].append(float(s))
        neg, neu, pos = by_class[-1], by_class[0], by_class[1]
        return cls(
            n_neg=len(neg),
            n_neu=len(neu),
            n_pos=len(pos),
            sum_neg=math.fsum(neg),
            sum_neu=math.fsum(neu),
            sum_pos=math.fsum(pos),
            sum_sq=math.fsum(s * s for s in neg + neu + pos),
            n_unscored=n_unscored,
        )

    def __add__(self, other: object) -> BucketSums:
        """Merge two disjoint buckets: every field is a plain sum, so the result is the bucket of
        the union (up to float rounding), and every metric of a day equals that of its hours."""
        if not isinstance(other, BucketSums):
            return NotImplemented
        return BucketSums(
            n_neg=self.n_neg + other.n_neg,
            n_neu=self.n_neu + other.n_neu,
            n_pos=self.n_pos + other.n_pos,
            sum_neg=self.sum_neg + other.sum_neg,
            sum_neu=self.sum_neu + other.sum_neu,
            sum_pos=self.sum_pos + other.sum_pos,
            sum_sq=self.sum_sq + other.sum_sq,
            n_unscored=self.n_unscored + other.n_unscored,
        )


# --------------------------------------------------------------------------- bucket metrics


def mean(b: BucketSums) -> float | None:
    """Mean compound; None for an empty bucket, because 0 would read as "neutral"."""
    return b.sum / b.n if b.n else None


def _sum_sq_dev(b: BucketSums) -> float:
    """Sum of squared deviations from the mean, clamped at 0.

    Computed from sums it can come out a few ulps below zero for identical posts, and
    sqrt of that would raise.
    """
    return max(b.sum_sq - b.sum * b.sum / b.n, 0.0)


def sigma(b: BucketSums) -> float | None:
    """Population standard deviation (denominator n): it describes the bucket, not a population."""
    if not b.n:
        return None
    return math.sqrt(_sum_sq_dev(b) / b.n)


def _classes(b: BucketSums) -> list[tuple[float, float]]:
    """(share, mean compound) of each non-empty class."""
    counts_sums = ((b.n_neg, b.sum_neg), (b.n_neu, b.sum_neu), (b.n_pos, b.sum_pos))
    return [(k / b.n, s / k) for k, s in counts_sums if k]


def er3(b: BucketSums) -> float | None:
    """Esteban–Ray polarization over the three VADER classes, alpha = 1, scaled to max 1.

    Each class sits at the mean compound of its own posts (not at a fixed -1/0/+1), which keeps
    the index nearly continuous when a post crosses ±0.05 and lets it use only class sums.
    The factor 2 makes half +1 / half -1 exactly 1.
    """
    if not b.n:
        return None
    groups = _classes(b)
    return 2.0 * sum(pi * pi * pj * abs(mi - mj) for pi, mi in groups for pj, mj in groups)


def b_index(b: BucketSums) -> float | None:
    """B = 4 p+ p-: 1 when every post is opinionated and the two camps are equal."""
    if not b.n:
        return None
    return 4.0 * b.n_pos * b.n_neg / (b.n * b.n)


# --------------------------------------------------------------------------- quantiles


def norm_ppf(p: float) -> float:
    """Standard normal quantile (statistics.NormalDist is accurate to double precision)."""
    return NormalDist().inv_cdf(p)


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function, evaluated with modified Lentz.

    Converges quickly for x < (a + 1) / (a + b + 2); the caller uses the symmetry
    I_x(a, b) = 1 - I_{1-x}(b, a) to stay in that region.
    """
    tiny, eps = 1e-300, 1e-16

    def guard(v: float) -> float:
        return v if abs(v) > tiny else tiny

    c, d = 1.0, 1.0 / guard(1.0 - (a + b) * x / (a + 1.0))
    h = d
    for m in range(1, 10_000):
        even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        for coef in (even, odd):
            d = 1.0 / guard(1.0 + coef * d)
            c = guard(1.0 + coef / c)
            h *= d * c
        if abs(d * c - 1.0) < eps:
            return h
    raise ArithmeticError(f"incomplete beta did not converge for a={a}, b={b}, x={x}")


def _betainc(a: float, b: float, x: float, y: float) -> float:
    """Regularized incomplete beta I_x(a, b), with y = 1 - x passed in separately.

    Near t = 0 the t distribution needs x within 1e-14 of 1; computing 1 - x there would lose
    every digit, so the caller supplies y from an exact expression.
    """
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    log_beta = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    log_front = a * math.log(x) + b * math.log(y) - log_beta
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, y) / b


def _t_upper_tail(t: float, df: float) -> float:
    """P(T > t) for t >= 0."""
    t2 = t * t
    return 0.5 * _betainc(df / 2.0, 0.5, df / (df + t2), t2 / (df + t2))


def _t_pdf(t: float, df: float) -> float:
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_norm - (df + 1) / 2 * math.log1p(t * t / df))


_LARGE_DF = 10_000


def _t_ppf_large_df(p: float, df: float) -> float:
    """Cornish–Fisher expansion of the t quantile in 1/df (Abramowitz & Stegun 26.7.5).

    For huge df the lgamma terms of the incomplete beta cancel catastrophically, while from
    df = 10,000 on this series agrees with scipy to 1e-15 (checked for p up to 1 - 1e-9).
    """
    z = norm_ppf(p)
    z2 = z * z
    g1 = z * (z2 + 1) / 4
    g2 = z * ((5 * z2 + 16) * z2 + 3) / 96
    g3 = z * (((3 * z2 + 19) * z2 + 17) * z2 - 15) / 384
    g4 = z * ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) / 92160
    return z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df


@lru_cache(maxsize=4096)
def t_ppf(p: float, df: int) -> float:
    """Student t quantile, accurate to about 1e-11 (no scipy in this project).

    Newton's method on the upper tail, started at the normal quantile. For p > 0.5 the t quantile
    always lies above the normal one, and the upper tail is convex and decreasing there, so every
    Newton step lands left of the root: the iteration climbs monotonically and cannot overshoot,
    even for df = 1. From df = 10,000 on a series in 1/df takes over (see `_t_ppf_large_df`).
    Cached because the same (level, n - 1) pairs recur for every bucket.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p!r}")
    if df <= 0:
        raise ValueError(f"df must be positive, got {df!r}")
    if p < 0.5:
        return -t_ppf(1.0 - p, df)
    if p == 0.5:
        return 0.0
    if df >= _LARGE_DF:
        return _t_ppf_large_df(p, df)
    q = 1.0 - p
    t = norm_ppf(p)
    for _ in range(200):
        step = (_t_upper_tail(t, df) - q) / _t_pdf(t, df)
        t += step
        if abs(step) <= 1e-12 * max(t, 1.0):
            return t
    raise ArithmeticError(f"t quantile did not converge for p={p}, df={df}")


# --------------------------------------------------------------------------- intervals


def _two_sided(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    return 1.0 - (1.0 - level) / 2.0


def mean_interval(b: BucketSums, level: float = 0.95) -> tuple[float, float] | None:
    """t interval for the mean, clipped to [-1, 1] because compound cannot leave that range.

    None for n < 2: one post says nothing about its own spread.
    """
    if b.n < 2:
        return None
    m = b.sum / b.n
    half = t_ppf(_two_sided(level), b.n - 1) * math.sqrt(_sum_sq_dev(b) / (b.n - 1) / b.n)
    return max(m - half, -1.0), min(m + half, 1.0)


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval for k successes of n.

    Chosen over the Wald interval because it stays inside [0, 1] and does not collapse to zero
    width at 0/n or n/n, which are common in small buckets (Brown, Cai & DasGupta 2001).
    """
    if n == 0:
        return None
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    z = norm_ppf(_two_sided(level))
    z2 = z * z
    center = (k + z2 / 2.0) / (n + z2)
    half = z / (n + z2) * math.sqrt(k * (n - k) / n + z2 / 4.0)
    return max(center - half, 0.0), min(center + half, 1.0)


# --------------------------------------------------------------------------- display rules


class Display(enum.Enum):
    """How much of a bucket the UI may show, by number of scored posts (metrics.md §3)."""

    NO_DATA = "no_data"  # n = 0: every metric null, shown as "no data", never 0
    COUNTS_ONLY = "counts_only"  # 1-4: counts and shares
    MEAN_ONLY = "mean_only"  # 5-9: plus the mean with its interval
    TENTATIVE = "tentative"  # 10-29: plus polarization, marked tentative
    NORMAL = "normal"  # >= 30


def display_level(n: int) -> Display:
    """Polarization from few posts is mostly noise (spread ~0.14 at n = 10), hence the steps."""
    if n < 0:
        raise ValueError(f"n cannot be negative, got {n}")
    if n == 0:
        return Display.NO_DATA
    if n < 5:
        return Display.COUNTS_ONLY
    if n < 10:
        return Display.MEAN_ONLY
    if n < 30:
        return Display.TENTATIVE
    return Display.NORMAL


@dataclass(frozen=True)
class Summary:
    """What the dashboard shows for one bucket; a metric the display level forbids is None."""

    n: int
    n_unscored: int
    n_neg: int
    n_neu: int
    n_pos: int
    mean: float | None
    mean_lo: float | None
    mean_hi: float | None
    pos_share: float | None
    pos_lo: float | None
    pos_hi: float | None
    neg_share: float | None
    neg_lo: float | None
    neg_hi: float | None
    er3: float | None
    b: float | None
    sigma: float | None
    display: Display


def _unpack(interval: tuple[float, float] | None) -> tuple[float | None, float | None]:
    return interval if interval is not None else (None, None)


def summarize(b: BucketSums) -> Summary:
    """Apply the minimum-n rules so that no caller can show a metric the data cannot support.

    Shares are over scored posts and come with their Wilson interval from n = 1, since the
    interval is what tells a reader that 1 of 2 is not "50%". sigma counts as polarization
    (metrics.md §2) and appears with ER-3 and B from n = 10.
    """
    level = display_level(b.n)
    shows_shares = level is not Display.NO_DATA
    shows_mean = level in (Display.MEAN_ONLY, Display.TENTATIVE, Display.NORMAL)
    shows_polarization = level in (Display.TENTATIVE, Display.NORMAL)
    m_lo, m_hi = _unpack(mean_interval(b) if shows_mean else None)
    p_lo, p_hi = _unpack(wilson(b.n_pos, b.n))
    n_lo, n_hi = _unpack(wilson(b.n_neg, b.n))
    return Summary(
        n=b.n,
        n_unscored=b.n_unscored,
        n_neg=b.n_neg,
        n_neu=b.n_neu,
        n_pos=b.n_pos,
        mean=mean(b) if shows_mean else None,
        mean_lo=m_lo,
        mean_hi=m_hi,
        pos_share=b.n_pos / b.n if shows_shares else None,
        pos_lo=p_lo,
        pos_hi=p_hi,
        neg_share=b.n_neg / b.n if shows_shares else None,
        neg_lo=n_lo,
        neg_hi=n_hi,
        er3=er3(b) if shows_polarization else None,
        b=b_index(b) if shows_polarization else None,
        sigma=sigma(b) if shows_polarization else None,
        display=level,
    )


# --------------------------------------------------------------------------- volume spikes


@dataclass(frozen=True)
class VolumeCheck:
    """One EARS-t decision with what drove it, so an alert can show its baseline.

    `baseline_sd` is the s_w actually used in the limit (after the quiet-topic floor);
    `weights` are the raw down-weights of the baseline values, 1.0 for a non-outlier.
    """

    alarm: bool
    y: float
    limit: float
    baseline_mean: float
    baseline_sd: float
    weights: tuple[float, ...]


def _studentised_residual(value: float, others: Sequence[float]) -> float:
    """Externally studentised residual of one baseline value in the intercept-only model.

    Leave-one-out form: (y_i - mean of others) / (sd of others * sqrt(1 + 1/(n-1))). This equals
    epitweetr's e_i / (s_(i) sqrt(1 - 1/n)) with e_i taken from the full mean, because
    y_i - ybar = (n-1)/n (y_i - ybar_(i)). If the others are all equal, any excess is infinitely
    far out (weight 0).
    """
    k = len(others)
    centre = sum(others) / k
    sd = math.sqrt(sum((v - centre) ** 2 for v in others) / (k - 1))
    excess = value - centre
    if sd == 0.0:
        return math.copysign(math.inf, excess) if excess else 0.0
    return excess / (sd * math.sqrt(1.0 + 1.0 / k))


def _outlier_weights(baseline: Sequence[float]) -> tuple[float, ...]:
    """Farrington-style weights (t / r*)^4 for baseline values with r* > t(0.95, n - 2).

    One-sided, as in epitweetr: only past *spikes* are down-weighted, so that yesterday's alarm
    does not raise today's threshold. Past dips are left alone; an outage is handled by marking
    the bucket incomplete, not here.
    """
    threshold = t_ppf(0.95, len(baseline) - 2)
    weights = []
    for i, value in enumerate(baseline):
        r = _studentised_residual(value, [*baseline[:i], *baseline[i + 1 :]])
        weights.append((threshold / r) ** 4 if r > threshold else 1.0)
    return tuple(weights)


def _weighted_mean_sd(values: Sequence[float], weights: Sequence[float]) -> tuple[float, float]:
    """Weighted mean and sd with the weights first rescaled to sum to n.

    Rescaling (Farrington 1996, epitweetr's `w/sum(w)*n`) keeps the baseline worth n
    observations, so the n - 1 denominator stays right: s_w^2 = sum(w' (y - ybar_w)^2) / (n - 1).
    This is the variant that reproduces the reference limit 182.045075; dividing by
    sum(w) - 1 instead gives 182.653067, and by n - 1 without rescaling 178.864496.
    """
    n = len(values)
    scale = n / sum(weights)
    w = [wi * scale for wi in weights]
    centre = sum(wi * v for wi, v in zip(w, values, strict=False)) / n
    var = sum(wi * (v - centre) ** 2 for wi, v in zip(w, values, strict=False)) / (n - 1)
    return centre, math.sqrt(var)


def ears_t(
    y: float,
    baseline: Sequence[float],
    alpha: float = 0.025,
    downweight: bool = True,
    min_excess: float = 5,
) -> VolumeCheck:
    """EARS-t with down-weighting of past outliers, as in ECDC's epitweetr (`ears_t_reweighted`).

    Alarm when y > ybar_w + t(1 - alpha, n - 1) * s_w * sqrt(1 + 1/n), the upper bound of a
    prediction interval for one new value from n baseline values (n = 7 in metrics.md).
    Without down-weighting, yesterday's spike inflates s_w so much that a continuing spike goes
    unnoticed (reference series: limit 325.9 instead of 182.0 at t = 10).

    Quiet-topic guards (not in epitweetr): s_w is floored at sqrt(max(ybar_w, 1)), the Poisson
    sd, because a baseline of identical small counts has s_w = 0 and would alarm on +1; and an
    alarm also needs y - ybar_w >= min_excess posts.
    """
    values = [float(v) for v in baseline]
    n = len(values)
    if n < 3:
        raise ValueError(f"need at least 3 baseline values, got {n}")
    weights = _outlier_weights(values) if downweight else (1.0,) * n
    centre, sd = _weighted_mean_sd(values, weights)
    sd = max(sd, math.sqrt(max(centre, 1.0)))
    limit = centre + t_ppf(1.0 - alpha, n - 1) * sd * math.sqrt(1.0 + 1.0 / n)
    alarm = y > limit and y - centre >= min_excess
    return VolumeCheck(alarm, float(y), limit, centre, sd, weights)


def ears_series(
    values: Sequence[float],
    history: int = 7,
    alpha: float = 0.025,
    downweight: bool = True,
    min_excess: float = 5,
) -> list[VolumeCheck | None]:
    """ears_t at every position, against the `history` values just before it.

    None where the baseline is not complete yet. For hourly buckets compared with the same
    hour on previous days, pass that hour's daily series.
    """
    return [
        ears_t(values[t], values[t - history : t], alpha, downweight, min_excess)
        if t >= history
        else None
        for t in range(len(values))
    ]


# --------------------------------------------------------------------------- mean-sentiment drift


def ewma_z(mean_t: float, n_t: int, mu0: float, sigma_w: float, sigma_b: float) -> float:
    """Standardise a bucket mean against the topic's baseline.

    The variance has two parts: sigma_w^2 / n_t, the sampling noise of a mean of n_t posts, and
    sigma_b^2, the real day-to-day wobble of the topic. Without sigma_b, large buckets would
    alarm on every ordinary fluctuation.
    """
    if n_t < 1:
        raise ValueError(f"n_t must be at least 1, got {n_t}")
    return (mean_t - mu0) / math.sqrt(sigma_b * sigma_b + sigma_w * sigma_w / n_t)


@dataclass(frozen=True)
class EwmaPoint:
    """One bucket of the EWMA chart.

    `t` is the 1-based position in the input, so points line up with buckets. `z` is None for a
    skipped bucket, which repeats the previous ewma and limit (0 and 0 before the first real
    bucket) and never alarms.
    """

    t: int
    z: float | None
    ewma: float
    limit: float
    alarm: bool


def ewma_chart(z: Sequence[float | None], lam: float = 0.2, L: float = 3.0) -> list[EwmaPoint]:
    """Two-sided EWMA chart on standardised means, with exact time-varying limits.

    EWMA_k = lam z + (1 - lam) EWMA_(k-1), EWMA_0 = 0, signal when
    |EWMA_k| > L sqrt(lam / (2 - lam) (1 - (1 - lam)^(2k))).

    A None (bucket skipped, e.g. n < 5) is no observation at all: the EWMA keeps its value and k
    does not advance, so the limit stays as narrow as the information actually seen warrants.
    Counting it as a step would widen the limit as if evidence had arrived; carrying z = 0 would
    pull the EWMA towards the baseline on no evidence. Exact limits rather than the asymptotic
    ones matter at the start, where the asymptotic band is too wide to catch an early shift.
    """
    points: list[EwmaPoint] = []
    ewma, limit, k = 0.0, 0.0, 0
    for t, zt in enumerate(z, start=1):
        if zt is None:
            points.append(EwmaPoint(t, None, ewma, limit, False))
            continue
        k += 1
        ewma = lam * zt + (1.0 - lam) * ewma
        limit = L * math.sqrt(lam / (2.0 - lam) * (1.0 - (1.0 - lam) ** (2 * k)))
        points.append(EwmaPoint(t, zt, ewma, limit, abs(ewma) > limit))
    return points
