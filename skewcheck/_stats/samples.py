"""Statistics on the samples themselves: the Kolmogorov-Smirnov test and the Wasserstein distance."""

from __future__ import annotations

import math
import warnings

import numpy as np
import polars as pl

from .._model import TestResult
from .common import DEFAULT_THRESHOLDS, floats, sorted_floats, warn_if_empty

# Evidently's floor for the reference std that normalises the Wasserstein distance.
MIN_NORM = 0.001

# SciPy's ks_2samp: exact p-values when both samples have at most this many values.
_KS_EXACT_N = 10_000

# Pieces of one period of the two quantile grids handled at once by the Wasserstein distance.
_WASSERSTEIN_BLOCK = 1 << 18


def ks_2samp(offline: pl.Series, online: pl.Series) -> tuple[float, float]:
    """Two-sided two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``).

    Parameters
    ----------
    offline, online : polars.Series
        Numeric samples.

    Returns
    -------
    statistic : float
        The largest distance between the two empirical CDFs (NaN if a sample is empty).
    p_value : float
        SciPy's p-value (exact for small samples, asymptotic for large ones).
    """
    if warn_if_empty(offline, online):
        return math.nan, math.nan
    from scipy.stats import ks_2samp as scipy_ks_2samp  # SciPy loads slowly: only when needed

    result = scipy_ks_2samp(floats(offline), floats(online))
    return float(result.statistic), float(result.pvalue)


def ks_p_value(d: float, n: int, m: int) -> tuple[float, float]:
    """(statistic, p-value) as ``scipy.stats.ks_2samp`` reports them for a largest CDF distance `d`
    between samples of sizes `n` and `m`: exact when both are at most 10,000 (the statistic is then
    rounded to the lattice of the exact computation, as SciPy does), else Smirnov's asymptotic."""
    from scipy.stats import kstwo
    from scipy.stats._stats_py import _attempt_exact_2kssamp

    if max(n, m) <= _KS_EXACT_N:
        success, exact_d, p_value = _attempt_exact_2kssamp(n, m, math.gcd(n, m), d, "two-sided")
        if success:
            return float(exact_d), float(np.clip(p_value, 0, 1))
        d = exact_d
        warnings.warn("ks_2samp: Exact calculation unsuccessful. Switching to method=asymp.", RuntimeWarning, 2)
    big, small = sorted([float(n), float(m)], reverse=True)
    p_value = kstwo.sf(d, np.round(big * small / (big + small)))
    return float(d), float(np.clip(p_value, 0, 1))


def wasserstein_distance(offline: pl.Series, online: pl.Series) -> float:
    """First Wasserstein (earth mover's) distance between two samples.

    Equals ``scipy.stats.wasserstein_distance`` (to rounding) but is several times faster: it
    sorts each sample once and sums the area between the two quantile functions, without
    SciPy's merge sort and binary searches.

    Parameters
    ----------
    offline, online : polars.Series
        Numeric samples.

    Returns
    -------
    float
        The distance, in the unit of the values (NaN if a sample is empty).
    """
    if warn_if_empty(offline, online):
        return math.nan
    return _sorted_wasserstein(sorted_floats(offline), sorted_floats(online))


def wasserstein_normed(offline: pl.Series, online: pl.Series) -> float:
    """Wasserstein distance divided by the standard deviation of the offline sample.

    As Evidently's ``wasserstein`` test: the divisor is ``max(np.std(offline), 0.001)``, so a
    shift of one offline standard deviation gives 1.

    Parameters
    ----------
    offline, online : polars.Series
        Numeric samples.

    Returns
    -------
    float
        The normed distance (NaN if a sample is empty).
    """
    if warn_if_empty(offline, online):
        return math.nan
    reference = sorted_floats(offline)
    norm = max(float(np.std(reference)), MIN_NORM)
    return _sorted_wasserstein(reference, sorted_floats(online)) / norm


def weighted_wasserstein(
    values: np.ndarray, weights: np.ndarray, online: np.ndarray, reference_std: float
) -> TestResult:
    """The normed Wasserstein test of :func:`wasserstein_normed`, with the offline sample given as
    weighted points (a profile's quantile summary or value counts) and its standard deviation."""
    from scipy.stats import wasserstein_distance as scipy_wasserstein

    statistic = float(scipy_wasserstein(values, online, u_weights=weights) / max(reference_std, MIN_NORM))
    threshold = DEFAULT_THRESHOLDS["wasserstein"]
    return TestResult("wasserstein", statistic, None, threshold, drifted=statistic >= threshold)


def _sorted_wasserstein(u: np.ndarray, v: np.ndarray) -> float:
    """Wasserstein distance of two non-empty sorted float arrays.

    W is the area between the quantile functions (which equals SciPy's area between the
    CDFs): U^-1 is the step function equal to u[i] on (i/n, (i+1)/n], V^-1 equals v[j] on
    (j/m, (j+1)/m]. Measure t in (0, 1) in units of 1/L, L = n*m/g with g = gcd(n, m): u's
    steps start every du = m/g units, v's every dv = n/g units. Together the two grids cut
    (0, 1) into pieces on which both functions are constant; a piece starting at unit p has
    u index p // du and v index p // dv, and ends at the next start on either grid. The
    pattern repeats g times (every dv values of u and du values of v), so one period of
    indices and widths, computed with integer arithmetic, serves every row of the (g, dv)
    and (g, du) reshaped arrays: no merge of the two samples is needed. Pieces starting on
    both grids (the first of each period) are counted once, on u's side. The period is
    walked in blocks, so temporaries stay small when n and m share no factor.
    """
    n, m = u.size, v.size
    g = math.gcd(n, m)
    du, dv = m // g, n // g
    u_rows, v_rows = u.reshape(g, dv), v.reshape(g, du)
    area = 0.0
    # Pieces starting on u's grid, at units r * du of each period.
    for start in range(0, dv, _WASSERSTEIN_BLOCK):
        r = np.arange(start, min(start + _WASSERSTEIN_BLOCK, dv), dtype=np.int64)
        v_index, offset = np.divmod(r * du, dv)
        area += _weighted_abs_sum(u_rows[:, r[0] : r[-1] + 1], v_rows[:, v_index], np.minimum(dv - offset, du))
    # Pieces starting on v's grid only, at units s * dv of each period (s = 0 is shared).
    for start in range(1, du, _WASSERSTEIN_BLOCK):
        s = np.arange(start, min(start + _WASSERSTEIN_BLOCK, du), dtype=np.int64)
        u_index, offset = np.divmod(s * dv, du)
        area += _weighted_abs_sum(v_rows[:, s[0] : s[-1] + 1], u_rows[:, u_index], np.minimum(du - offset, dv))
    return float(area / (n * du))


def _weighted_abs_sum(values: np.ndarray, gathered: np.ndarray, widths: np.ndarray) -> float:
    """``sum(|values - gathered| * widths)``, reusing the fresh array `gathered` as buffer.

    Element-wise and summed by NumPy rather than a BLAS dot product, whose threads stall when
    the cores are busy.
    """
    np.subtract(values, gathered, out=gathered)
    np.abs(gathered, out=gathered)
    gathered *= widths
    return float(gathered.sum())
