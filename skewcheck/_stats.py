"""Distribution statistics: how far apart the offline and online samples of a feature are.

The module knows nothing about features or files. Every function takes two polars Series
(without nulls or NaNs), always in the same order: ``offline`` first (the reference: the values
the model was trained on), ``online`` second (the current values logged at serving time), and
returns numbers.

Naming rule: every statistic is a *distance* (0 for identical distributions, larger for more
different ones; drift when ``statistic >= threshold``) except ``ks`` and ``chisquare``, which are
hypothesis tests and also give a p-value (drift when it is small: ``p_value <= threshold`` for
``ks``, ``p_value < threshold`` for ``chisquare``, as in Evidently).

The choice of test (:func:`default_test`), the thresholds (:data:`DEFAULT_THRESHOLDS`) and the
binning (:func:`frequencies`) follow Evidently (``evidently.legacy.calculations.stattests``).
The values equal SciPy's on the same data: KS and chi-squared call SciPy; the Wasserstein
distance is computed here, vectorised, because SciPy's is too slow for a million rows.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import polars as pl

from ._errors import SkewcheckWarning
from ._model import Histogram, TestResult
from ._settings import NUMERIC_ONLY_TESTS, TESTS

__all__ = [
    "DEFAULT_THRESHOLDS",
    "KINDS",
    "TESTS",
    "chi_squared",
    "chi_squared_counts",
    "counts_test",
    "default_test",
    "distribution_test",
    "frequencies",
    "frequency_distance",
    "histogram",
    "jensenshannon",
    "ks_2samp",
    "linf",
    "psi",
    "wasserstein_distance",
    "wasserstein_normed",
    "weighted_wasserstein",
]

KINDS = ("numeric", "categorical")

DEFAULT_THRESHOLDS: Mapping[str, float] = MappingProxyType(
    {
        # p-value: Evidently's ks_stat_test.default_threshold (drift when p <= 0.05).
        "ks": 0.05,
        # Distance: Evidently's wasserstein_stat_test.default_threshold (normed by the std).
        "wasserstein": 0.1,
        # Distance: Evidently's jensenshannon_stat_test.default_threshold.
        "jensenshannon": 0.1,
        # p-value: Evidently's chi_stat_test and z_stat_test set none, so they inherit
        # StatTest.default_threshold = 0.05 (drift when p < 0.05).
        "chisquare": 0.05,
        # Distance: Evidently's psi_stat_test.default_threshold.
        "psi": 0.1,
        # Distance: not in Evidently. TFDV's L-infinity check (InfinityNorm) has the same
        # definition but makes the user choose the threshold; 0.1 matches the distances above.
        "linf": 0.1,
    }
)

_P_VALUE_TESTS = ("ks", "chisquare")
# Evidently: a reference of at most this many rows is "small" (tests with p-values), above it
# "large" (distances, since p-values of huge samples flag negligible differences).
_SMALL_REFERENCE = 1000
# Evidently: a numeric feature with at most this many distinct values over both samples is
# treated like a categorical one (chi-squared or Jensen-Shannon over the values).
_FEW_VALUES = 5
# Evidently's get_binned_data: a numeric reference with more distinct values than this is
# binned (Sturges' rule on both samples); otherwise each value is its own bin.
_BINNED_ABOVE = 20
# Evidently's floor for the reference std that normalises the Wasserstein distance.
_MIN_NORM = 0.001
# Rows of each sample looked at before counting all distinct values (see _count_unique).
_PROBE_ROWS = 10_000
# Pieces of one period of the two quantile grids handled at once by the Wasserstein distance.
_WASSERSTEIN_BLOCK = 1 << 18


def default_test(kind: str, n_reference: int, n_unique: int) -> str:
    """Choose the test Evidently would choose for a feature.

    Mirrors ``_get_default_stattest`` in Evidently's ``stattests/registry.py``, except that
    where Evidently uses a two-proportion z-test (at most two distinct values, small reference)
    this returns ``"chisquare"``: without continuity correction the chi-squared test of a 2 x 2
    table is the same test (its statistic is z squared), so the p-value is identical.

    Parameters
    ----------
    kind : {"numeric", "categorical"}
        The kind of the feature.
    n_reference : int
        Number of rows of the offline (reference) sample.
    n_unique : int
        Number of distinct values over both samples. Only whether it exceeds 5 matters.

    Returns
    -------
    str
        ``"ks"`` or ``"chisquare"`` for a reference of at most 1000 rows, ``"wasserstein"`` or
        ``"jensenshannon"`` above that; numeric features with more than 5 distinct values get
        ``"ks"``/``"wasserstein"``, the others ``"chisquare"``/``"jensenshannon"``.

    Raises
    ------
    ValueError
        If `kind` is not one of :data:`KINDS`.
    """
    _check_kind(kind)
    continuous = kind == "numeric" and n_unique > _FEW_VALUES
    if n_reference <= _SMALL_REFERENCE:
        return "ks" if continuous else "chisquare"
    return "wasserstein" if continuous else "jensenshannon"


def distribution_test(
    offline: pl.Series,
    online: pl.Series,
    *,
    kind: str,
    test: str | None = None,
    threshold: float | None = None,
) -> TestResult:
    """Test whether the online sample of a feature is distributed like the offline one.

    Parameters
    ----------
    offline : polars.Series
        The reference sample (training data), without nulls or NaNs.
    online : polars.Series
        The current sample (logged serving data), without nulls or NaNs.
    kind : {"numeric", "categorical"}
        The kind of the feature. ``"numeric"`` needs integer or float samples.
    test : str, optional
        One of :data:`TESTS`; by default the one :func:`default_test` chooses.
    threshold : float, optional
        The drift threshold; by default ``DEFAULT_THRESHOLDS[test]``.

    Returns
    -------
    TestResult
        The statistic, the p-value (for ``ks`` and ``chisquare``) and the decision.

    Raises
    ------
    ValueError
        If `kind` or `test` is unknown, if `test` is ``"ks"`` or ``"wasserstein"`` and `kind`
        is not ``"numeric"``, or if `kind` is ``"numeric"`` and a sample is not numeric.

    Warns
    -----
    SkewcheckWarning
        If a sample is empty (the statistic is NaN and ``drifted`` False) or constant (the
        result is defined: 0 distance and p-value 1 when both hold the same single value).
    """
    _check_kind(kind, offline, online)
    if test is None:
        both = pl.concat(_aligned(offline, online))
        test = default_test(kind, offline.len(), _count_unique(both, limit=_FEW_VALUES + 1))
    elif test not in TESTS:
        raise ValueError(f"unknown test {test!r}: expected one of {', '.join(TESTS)}")
    if test in NUMERIC_ONLY_TESTS and kind != "numeric":
        raise ValueError(f"test {test!r} needs a numeric feature, got kind {kind!r}")
    threshold = DEFAULT_THRESHOLDS[test] if threshold is None else float(threshold)
    p_value: float | None = None

    if _warn_if_empty(offline, online):
        if test in _P_VALUE_TESTS:
            p_value = math.nan
        return TestResult(test, math.nan, p_value, threshold, drifted=False)
    _warn_if_constant(offline, online)

    if test == "ks":
        statistic, p_value = ks_2samp(offline, online)
        drifted = p_value <= threshold
    elif test == "chisquare":
        statistic, p_value = chi_squared(offline, online, kind=kind)
        drifted = p_value < threshold
    else:
        if test == "wasserstein":
            statistic = wasserstein_normed(offline, online)
        elif test == "jensenshannon":
            statistic = jensenshannon(offline, online, kind=kind)
        elif test == "psi":
            statistic = psi(offline, online, kind=kind)
        else:
            statistic = linf(offline, online, kind=kind)
        drifted = statistic >= threshold
    return TestResult(test, statistic, p_value, threshold, drifted=bool(drifted))


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
    if _warn_if_empty(offline, online):
        return math.nan, math.nan
    from scipy.stats import ks_2samp as scipy_ks_2samp  # SciPy loads slowly: only when needed

    result = scipy_ks_2samp(_floats(offline), _floats(online))
    return float(result.statistic), float(result.pvalue)


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
    if _warn_if_empty(offline, online):
        return math.nan
    return _sorted_wasserstein(_sorted_floats(offline), _sorted_floats(online))


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
    if _warn_if_empty(offline, online):
        return math.nan
    reference = _sorted_floats(offline)
    norm = max(float(np.std(reference)), _MIN_NORM)
    return _sorted_wasserstein(reference, _sorted_floats(online)) / norm


def frequencies(
    offline: pl.Series, online: pl.Series, *, kind: str
) -> tuple[np.ndarray, np.ndarray]:
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
    if _warn_if_empty(offline, online):
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
    if _warn_if_empty(offline, online):
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
    if _warn_if_empty(offline, online):
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
    if _warn_if_empty(offline, online):
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


def weighted_wasserstein(values: np.ndarray, weights: np.ndarray, online: np.ndarray, reference_std: float) -> TestResult:
    """The normed Wasserstein test of :func:`wasserstein_normed`, with the offline sample given as
    weighted points (a profile's quantile summary or value counts) and its standard deviation."""
    from scipy.stats import wasserstein_distance as scipy_wasserstein

    statistic = float(scipy_wasserstein(values, online, u_weights=weights) / max(reference_std, _MIN_NORM))
    threshold = DEFAULT_THRESHOLDS["wasserstein"]
    return TestResult("wasserstein", statistic, None, threshold, drifted=statistic >= threshold)


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
    _check_kind(kind, offline, online)
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    if kind == "numeric":
        reference, current = _floats(offline), _floats(online)
        combined = np.concatenate([reference, current])
        combined = combined[np.isfinite(combined)]
        try:
            edges = np.histogram_bin_edges(combined, bins=bins)
        except ValueError:  # a range too narrow for `bins` distinct float edges: one bin
            edges = np.array([np.nextafter(combined.min(), -np.inf), np.nextafter(combined.max(), np.inf)])
        if combined.size:  # linspace over a range near the largest float can fall short of the maximum
            edges[-1] = max(edges[-1], combined.max())
        return Histogram(
            kind=kind,
            edges=edges.tolist(),
            categories=[],
            offline=_bin_counts(reference, edges).tolist(),
            online=_bin_counts(current, edges).tolist(),
            offline_other=0,
            online_other=0,
        )
    values, offline_counts, online_counts = _value_counts(offline, online)
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
        kind=kind,
        edges=[],
        categories=top["category"].to_list(),
        offline=top["offline"].to_list(),
        online=top["online"].to_list(),
        offline_other=offline.len() - int(top["offline"].sum()),
        online_other=online.len() - int(top["online"].sum()),
    )


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


def _binned_counts(
    offline: pl.Series, online: pl.Series, *, kind: str
) -> tuple[np.ndarray, np.ndarray]:
    """Counts of both samples over the bins described in :func:`frequencies`."""
    _check_kind(kind, offline, online)
    if kind == "numeric" and _count_unique(offline, limit=_BINNED_ABOVE + 1) > _BINNED_ABOVE:
        reference, current = _floats(offline), _floats(online)
        edges = np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")
        return _bin_counts(reference, edges), _bin_counts(current, edges)
    _, offline_counts, online_counts = _value_counts(offline, online)
    return offline_counts, online_counts


def _bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of `values` in the equal-width bins `edges` (as ``np.histogram(values, edges)``).

    Passing the number of bins and the range makes NumPy compute each bin index arithmetically
    (then correct it against the same ``np.linspace`` edges) instead of sorting the values,
    which gives the same counts many times faster.
    """
    try:
        return np.histogram(values, bins=edges.size - 1, range=(edges[0], edges[-1]))[0]
    except ValueError:  # a range wider than the largest float: count against the edges themselves
        return np.histogram(values, edges)[0]


def _value_counts(
    offline: pl.Series, online: pl.Series
) -> tuple[pl.Series, np.ndarray, np.ndarray]:
    """Distinct values of both samples (sorted) and the count of each in each sample."""
    offline, online = _aligned(offline, online)
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


def _count_unique(values: pl.Series, *, limit: int) -> int:
    """Number of distinct values, or `limit` if a first look already finds that many.

    Counting the distinct values of a million floats takes ~50 ms; callers only ask whether
    there are more than a handful, which the first rows usually settle.
    """
    if values.head(_PROBE_ROWS).n_unique() >= limit:
        return limit
    return values.n_unique()


def _aligned(offline: pl.Series, online: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Both samples with one dtype: unchanged, both Float64 if numeric, else both String."""
    if offline.dtype == online.dtype:
        return offline, online
    common = pl.Float64 if offline.dtype.is_numeric() and online.dtype.is_numeric() else pl.String
    return offline.cast(common), online.cast(common)


def _floats(values: pl.Series) -> np.ndarray:
    """A numeric sample as a float64 NumPy array (no copy when it already is Float64)."""
    _require_numeric(values)
    return values.cast(pl.Float64).to_numpy()


def _sorted_floats(values: pl.Series) -> np.ndarray:
    """The sample sorted, as float64. A writable array from polars is already a copy (of
    several chunks): it is sorted in place, sparing a second copy of a large column."""
    array = _floats(values)
    if array.flags.writeable:
        array.sort()
        return array
    return np.sort(array)


def _require_numeric(values: pl.Series) -> None:
    if not values.dtype.is_numeric():
        raise ValueError(
            f"a numeric feature needs integer or float values, got dtype {values.dtype}"
        )


def _check_kind(kind: str, *samples: pl.Series) -> None:
    """Raise ValueError for an unknown kind, or for non-numeric samples of a numeric kind."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: expected one of {', '.join(KINDS)}")
    if kind == "numeric":
        for values in samples:
            _require_numeric(values)


def _warn_if_empty(offline: pl.Series, online: pl.Series) -> bool:
    """Warn and return True if a sample is empty (the statistic is then NaN)."""
    empty = [
        name for name, values in (("offline", offline), ("online", online)) if values.is_empty()
    ]
    if empty:
        warnings.warn(
            f"{' and '.join(empty)} sample{'s are' if len(empty) == 2 else ' is'} empty: "
            "no distribution to compare, statistic is NaN and no drift is reported",
            SkewcheckWarning,
            stacklevel=3,
        )
    return bool(empty)


def _warn_if_constant(offline: pl.Series, online: pl.Series) -> None:
    """Warn if a (non-empty) sample holds a single distinct value."""
    constant = [
        f"{name} sample holds only {values[0]!r}"
        for name, values in (("offline", offline), ("online", online))
        if bool((values == values[0]).all())
    ]
    if constant:
        warnings.warn(
            f"constant feature: {' and the '.join(constant)}; the statistic is defined "
            "but says little about the distributions",
            SkewcheckWarning,
            stacklevel=3,
        )
