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

import polars as pl

from .._model import TestResult
from .._settings import NUMERIC_ONLY_TESTS, TESTS
from .common import (
    DEFAULT_THRESHOLDS,
    KINDS,
    aligned,
    check_kind,
    count_unique,
    warn_if_constant,
    warn_if_empty,
)
from .counts import (
    chi_squared,
    chi_squared_counts,
    counts_test,
    frequencies,
    frequency_distance,
    histogram,
    jensenshannon,
    linf,
    psi,
)
from .samples import ks_2samp, wasserstein_distance, wasserstein_normed, weighted_wasserstein

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


_P_VALUE_TESTS = ("ks", "chisquare")

# Evidently: a reference of at most this many rows is "small" (tests with p-values), above it
# "large" (distances, since p-values of huge samples flag negligible differences).
_SMALL_REFERENCE = 1000

# Evidently: a numeric feature with at most this many distinct values over both samples is
# treated like a categorical one (chi-squared or Jensen-Shannon over the values).
_FEW_VALUES = 5


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
    check_kind(kind)
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
    check_kind(kind, offline, online)
    if test is None:
        test = default_test(kind, offline.len(), count_unique(*aligned(offline, online), limit=_FEW_VALUES + 1))
    elif test not in TESTS:
        raise ValueError(f"unknown test {test!r}: expected one of {', '.join(TESTS)}")
    if test in NUMERIC_ONLY_TESTS and kind != "numeric":
        raise ValueError(f"test {test!r} needs a numeric feature, got kind {kind!r}")
    threshold = DEFAULT_THRESHOLDS[test] if threshold is None else float(threshold)
    p_value: float | None = None

    if warn_if_empty(offline, online):
        if test in _P_VALUE_TESTS:
            p_value = math.nan
        return TestResult(test, math.nan, p_value, threshold, drifted=False)
    warn_if_constant(offline, online)

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
