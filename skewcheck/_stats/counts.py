"""Statistics on counts over shared bins (Jensen-Shannon, PSI, L-infinity, chi-squared), from two
samples binned as Evidently bins them, or from counts a profile already holds; and the plot's counts."""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from .._model import Histogram, TestResult
from .._settings import NUMERIC_ONLY_TESTS
from .common import DEFAULT_THRESHOLDS, aligned, check_kind, count_unique, floats, warn_if_empty

# Evidently's get_binned_data: a numeric reference with more distinct values than this is
# binned (Sturges' rule on both samples); otherwise each value is its own bin.
_BINNED_ABOVE = 20


def frequencies(offline: pl.Series, online: pl.Series, *, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Relative frequencies of both samples over shared bins, as Evidently's ``get_binned_data``.

    A numeric feature whose offline sample has more than 20 distinct values is cut into the
    bins ``np.histogram_bin_edges(both samples, bins="sturges")``; otherwise (and always for a
    categorical feature) each distinct value of either sample is a bin. Zero frequencies stay
    zero here; :func:`psi` fills them.

    Parameters
    ----------
    offline, online : polars.Series
        Non-empty samples.
    kind : {"numeric", "categorical"}
        The kind of the feature.

    Returns
    -------
    offline_frequencies, online_frequencies : numpy.ndarray
        Two float arrays of the same length, each summing to 1. Value bins are in sorted
        order of the values.

    Raises
    ------
    ValueError
        If `kind` is unknown, or ``"numeric"`` with a non-numeric sample.
    """
    offline_counts, online_counts = _binned_counts(offline, online, kind=kind)
    return offline_counts / offline.len(), online_counts / online.len()


def jensenshannon(offline: pl.Series, online: pl.Series, *, kind: str) -> float:
    """Jensen-Shannon distance (natural log) between the binned samples.

    ``scipy.spatial.distance.jensenshannon`` of the two vectors from :func:`frequencies`, as
    Evidently's ``jensenshannon`` test. It lies between 0 and sqrt(ln 2) ~ 0.83.

    Parameters
    ----------
    offline, online : polars.Series
        The two samples.
    kind : {"numeric", "categorical"}
        The kind of the feature (decides the binning).

    Returns
    -------
    float
        The distance (NaN if a sample is empty).
    """
    if warn_if_empty(offline, online):
        return math.nan
    return frequency_distance("jensenshannon", *frequencies(offline, online, kind=kind))


def psi(offline: pl.Series, online: pl.Series, *, kind: str) -> float:
    """Population stability index between the binned samples, as Evidently's ``psi`` test.

    ``sum((p - q) * ln(p / q))`` over the bins of :func:`frequencies`, after replacing zero
    frequencies as Evidently does: by a millionth of the sample's smallest non-zero frequency
    if that is at most 0.0001, else by 0.0001.

    Parameters
    ----------
    offline, online : polars.Series
        The two samples.
    kind : {"numeric", "categorical"}
        The kind of the feature (decides the binning).

    Returns
    -------
    float
        The index, 0 or more (NaN if a sample is empty).
    """
    if warn_if_empty(offline, online):
        return math.nan
    return frequency_distance("psi", *frequencies(offline, online, kind=kind))


def linf(offline: pl.Series, online: pl.Series, *, kind: str) -> float:
    """L-infinity distance between the binned samples: ``max |p_i - q_i|``.

    The largest difference in relative frequency of any bin of :func:`frequencies`, as
    TFDV's L-infinity (``InfinityNorm``) skew check.

    Parameters
    ----------
    offline, online : polars.Series
        The two samples.
    kind : {"numeric", "categorical"}
        The kind of the feature (decides the binning).

    Returns
    -------
    float
        The distance, between 0 and 1 (NaN if a sample is empty).
    """
    if warn_if_empty(offline, online):
        return math.nan
    return frequency_distance("linf", *frequencies(offline, online, kind=kind))


def chi_squared(offline: pl.Series, online: pl.Series, *, kind: str) -> tuple[float, float]:
    """Chi-squared test of homogeneity (``scipy.stats.chi2_contingency``).

    The table has two rows (offline counts, online counts) and one column per bin of
    :func:`frequencies`: per distinct value of either sample, or per Sturges bin for a numeric
    feature with more than 20 distinct offline values (on raw continuous values the test could
    never reject: with every count 0 or 1 the statistic is always the number of rows); bins
    empty in both samples are left out. No continuity correction, so for two values the
    p-value equals that of Evidently's two-proportion z-test.

    Parameters
    ----------
    offline, online : polars.Series
        The two samples.
    kind : {"numeric", "categorical"}
        The kind of the feature (decides the binning).

    Returns
    -------
    statistic : float
        The chi-squared statistic (NaN if a sample is empty).
    p_value : float
        Its p-value; 1 when both samples hold one and the same value.
    """
    if warn_if_empty(offline, online):
        return math.nan, math.nan
    return chi_squared_counts(*_binned_counts(offline, online, kind=kind))


def frequency_distance(test: str, reference: np.ndarray, current: np.ndarray) -> float:
    """``jensenshannon``, ``psi`` or ``linf`` between two frequency vectors over shared bins.

    The count-level core of :func:`jensenshannon`, :func:`psi` and :func:`linf`, also used on a
    profile's counts (where there are no samples to bin).
    """
    if test == "jensenshannon":
        from scipy.spatial.distance import jensenshannon as scipy_jensenshannon

        return float(scipy_jensenshannon(reference, current))
    if test == "psi":
        reference, current = _fill_zeros(reference), _fill_zeros(current)
        return float(np.sum((reference - current) * np.log(reference / current)))
    if test == "linf":
        return float(np.max(np.abs(reference - current)))
    raise ValueError(f"{test!r} is not a distance between frequencies: expected jensenshannon, psi or linf")


def chi_squared_counts(offline: np.ndarray, online: np.ndarray) -> tuple[float, float]:
    """Chi-squared test of homogeneity on the counts of two samples over shared bins (see
    :func:`chi_squared`); bins empty in both are left out (they have no expected count)."""
    table = np.vstack([offline, online])
    table = table[:, table.sum(axis=0) > 0]
    from scipy.stats import chi2_contingency

    result = chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def counts_test(offline: np.ndarray, online: np.ndarray, test: str) -> TestResult:
    """A histogram test (``jensenshannon``, ``psi``, ``linf`` or ``chisquare``) on the counts of two
    samples over shared bins, decided as :func:`distribution_test` decides.

    Raises
    ------
    ValueError
        For a test that needs the values (``ks``, ``wasserstein``).
    """
    threshold = DEFAULT_THRESHOLDS[test]
    if test == "chisquare":
        statistic, p_value = chi_squared_counts(offline, online)
        return TestResult(test, statistic, p_value, threshold, drifted=p_value < threshold)
    if test in NUMERIC_ONLY_TESTS:
        raise ValueError(f"test {test!r} needs the values, not counts")
    statistic = frequency_distance(test, offline / offline.sum(), online / online.sum())
    return TestResult(test, statistic, None, threshold, drifted=statistic >= threshold)


def histogram(offline: pl.Series, online: pl.Series, *, kind: str, bins: int = 30) -> Histogram:
    """Counts of both samples over shared bins, for plotting.

    Parameters
    ----------
    offline, online : polars.Series
        The two samples (either may be empty).
    kind : {"numeric", "categorical"}
        Numeric: `bins` equal-width bins over the range of both samples. Categorical: the
        `bins` most frequent categories over both samples (ties in alphabetical order).
    bins : int, default 30
        Number of bins, or of categories listed.

    Returns
    -------
    Histogram
        Shared edges or categories, and the counts of each sample.

    Raises
    ------
    ValueError
        If `kind` is unknown, ``"numeric"`` with a non-numeric sample, or `bins` is below 1.
    """
    check_kind(kind, offline, online)
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    if kind == "numeric":
        reference, current = floats(offline), floats(online)
        combined = np.concatenate([reference, current])
        combined = combined[np.isfinite(combined)]
        edges = plot_edges(combined.min(), combined.max(), bins) if combined.size else np.linspace(0, 1, bins + 1)
        return Histogram(
            kind=kind,
            edges=edges.tolist(),
            categories=[],
            offline=count_in_bins(reference, edges).tolist(),
            online=count_in_bins(current, edges).tolist(),
            offline_other=0,
            online_other=0,
        )
    return category_histogram(*_value_counts(offline, online), bins)


def plot_edges(low: float, high: float, bins: int = 30) -> np.ndarray:
    """The edges of `histogram` for values from `low` to `high` (``np.histogram_bin_edges``)."""
    try:
        edges = np.histogram_bin_edges(np.array([low, high], dtype=np.float64), bins=bins)
    except ValueError:  # a range too narrow for `bins` distinct float edges: one bin
        edges = np.array([np.nextafter(low, -np.inf), np.nextafter(high, np.inf)])
    edges[-1] = max(edges[-1], high)  # linspace over a range near the largest float can fall short of it
    return edges


def category_histogram(
    values: pl.Series, offline_counts: np.ndarray, online_counts: np.ndarray, bins: int = 30
) -> Histogram:
    """The categorical `histogram` from the value counts of both samples."""
    top = (
        pl.DataFrame(
            {
                "category": values.cast(pl.String),
                "offline": offline_counts,
                "online": online_counts,
                "total": offline_counts + online_counts,
            }
        )
        .sort(["total", "category"], descending=[True, False])
        .head(bins)
    )
    return Histogram(
        kind="categorical",
        edges=[],
        categories=top["category"].to_list(),
        offline=top["offline"].to_list(),
        online=top["online"].to_list(),
        offline_other=int(offline_counts.sum()) - int(top["offline"].sum()),
        online_other=int(online_counts.sum()) - int(top["online"].sum()),
    )


def _binned_counts(offline: pl.Series, online: pl.Series, *, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Counts of both samples over the bins described in :func:`frequencies`."""
    check_kind(kind, offline, online)
    if kind == "numeric" and count_unique(offline, limit=_BINNED_ABOVE + 1) > _BINNED_ABOVE:
        reference, current = floats(offline), floats(online)
        edges = np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")
        return count_in_bins(reference, edges), count_in_bins(current, edges)
    _, offline_counts, online_counts = _value_counts(offline, online)
    return offline_counts, online_counts


def count_in_bins(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of `values` in the equal-width bins `edges` (as ``np.histogram(values, edges)``).

    Passing the number of bins and the range makes NumPy compute each bin index arithmetically
    (then correct it against the same ``np.linspace`` edges) instead of sorting the values,
    which gives the same counts many times faster.
    """
    try:
        return np.histogram(values, bins=edges.size - 1, range=(edges[0], edges[-1]))[0]
    except ValueError:  # a range wider than the largest float: count against the edges themselves
        return np.histogram(values, edges)[0]


def _value_counts(offline: pl.Series, online: pl.Series) -> tuple[pl.Series, np.ndarray, np.ndarray]:
    """Distinct values of both samples (sorted) and the count of each in each sample."""
    offline, online = aligned(offline, online)
    table = (
        offline.rename("value")
        .value_counts(name="offline")
        .join(
            online.rename("value").value_counts(name="online"),
            on="value",
            how="full",
            coalesce=True,
        )
        .fill_null(0)
        .sort("value")
    )
    return (
        table["value"],
        table["offline"].to_numpy().astype(np.int64),
        table["online"].to_numpy().astype(np.int64),
    )


def _fill_zeros(frequencies: np.ndarray) -> np.ndarray:
    """Replace zero frequencies as Evidently's ``get_binned_data(feel_zeroes=True)`` does."""
    smallest = frequencies[frequencies != 0].min()
    filler = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return np.where(frequencies == 0, filler, frequencies)
