"""Tests of skewcheck._stats: equal to SciPy and Evidently, drift decisions, degenerate data."""

from __future__ import annotations

import math
from collections import Counter
from functools import partial

import numpy as np
import polars as pl
import pytest
import scipy.spatial.distance
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from skewcheck._errors import SkewcheckWarning
from skewcheck._stats import (
    DEFAULT_THRESHOLDS,
    TESTS,
    chi_squared,
    default_test,
    distribution_test,
    frequencies,
    histogram,
    jensenshannon,
    ks_2samp,
    linf,
    psi,
    wasserstein_distance,
    wasserstein_normed,
)

DISTANCES = ("wasserstein", "jensenshannon", "psi", "linf")
CATEGORICAL_TESTS = ("jensenshannon", "chisquare", "psi", "linf")

# Samples with many ties (small integers), wide floats, or both; sizes from 1 to 80.
VALUES = st.one_of(
    st.integers(-5, 5).map(float),
    st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    st.floats(-1e15, 1e15, allow_nan=False, allow_infinity=False),
)
SAMPLES = st.lists(VALUES, min_size=1, max_size=80)


def floats(values) -> pl.Series:
    return pl.Series(values, dtype=pl.Float64)


class Evidently:
    """Evidently's legacy stat tests, called on two samples given as lists or arrays."""

    def __init__(self):
        import pandas as pd
        from evidently.legacy.calculations import stattests
        from evidently.legacy.calculations.stattests.jensenshannon import _jensenshannon
        from evidently.legacy.calculations.stattests.psi import _psi
        from evidently.legacy.calculations.stattests.registry import _get_default_stattest
        from evidently.legacy.calculations.stattests.wasserstein_distance_norm import (
            _wasserstein_distance_norm,
        )
        from evidently.legacy.calculations.stattests.z_stattest import _z_stat_test
        from evidently.legacy.core import ColumnType

        self.stattests = stattests
        self._series = pd.Series
        self._default = _get_default_stattest
        self._functions = {
            "jensenshannon": _jensenshannon,
            "psi": _psi,
            "wasserstein": _wasserstein_distance_norm,
            "z": _z_stat_test,
        }
        self._types = {"numeric": ColumnType.Numerical, "categorical": ColumnType.Categorical}

    def default_test(self, u, v, kind):
        """The name of the test Evidently chooses."""
        return self._default(self._series(list(u)), self._series(list(v)), self._types[kind]).name

    def statistic(self, test, u, v, kind):
        """Evidently's value (distance or p-value) of `test`."""
        function = self._functions[test]
        value, _ = function(self._series(list(u)), self._series(list(v)), self._types[kind], 0.1)
        return value


@pytest.fixture(scope="module")
def evidently():
    """Evidently is an optional dependency: the tests comparing with it skip without it."""
    pytest.importorskip("evidently")
    return Evidently()


def reference_frequencies(u, v, kind):
    """Evidently's get_binned_data (without zero filling), written independently of _stats."""
    if kind == "numeric" and len(set(u)) > 20:
        edges = np.histogram_bin_edges(np.concatenate([u, v]), bins="sturges")
        return np.histogram(u, edges)[0] / len(u), np.histogram(v, edges)[0] / len(v)
    counts_u, counts_v = Counter(u), Counter(v)
    keys = sorted(set(counts_u) | set(counts_v))
    return (
        np.array([counts_u[k] for k in keys]) / len(u),
        np.array([counts_v[k] for k in keys]) / len(v),
    )


# --- Wasserstein: fast, and equal to SciPy's --------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(u=SAMPLES, v=SAMPLES)
def test_wasserstein_equals_scipy(u, v):
    expected = scipy.stats.wasserstein_distance(u, v)
    assert wasserstein_distance(floats(u), floats(v)) == pytest.approx(expected, rel=1e-9, abs=0)


@settings(deadline=None)
@given(
    u=st.lists(st.integers(-(10**6), 10**6), min_size=1, max_size=60),
    v=st.lists(st.integers(-(10**6), 10**6), min_size=1, max_size=60),
)
def test_wasserstein_of_integers_equals_scipy(u, v):
    expected = scipy.stats.wasserstein_distance(u, v)
    ours = wasserstein_distance(pl.Series(u, dtype=pl.Int64), pl.Series(v, dtype=pl.Int32))
    assert ours == pytest.approx(expected, rel=1e-9, abs=0)


def adversarial_pairs():
    rng = np.random.default_rng(20240601)
    return {
        "one value each, equal": ([3.0], [3.0]),
        "one value each": ([1.0], [-4.5]),
        "one against many": ([0.0], rng.normal(size=1000)),
        "ties": ([0, 0, 0, 1], [0, 1, 1, 1]),
        "heavy ties, coprime sizes": (rng.integers(0, 3, 5003), rng.integers(0, 4, 3001)),
        "negative integers": (rng.integers(-100, -50, 400), rng.integers(-120, -60, 350)),
        "large offset": (1e12 + rng.integers(0, 5, 300), 1e12 + rng.integers(1, 6, 301)),
        "tiny spread": (1e-12 * rng.normal(size=500), 1e-12 * rng.normal(0.1, 1, size=700)),
        "size multiple": (rng.normal(size=1000), rng.normal(size=10)),
        "prime sizes": (rng.normal(size=997), rng.exponential(size=1009)),
        "same values other order": (np.arange(100.0), np.arange(100.0)[::-1]),
        "same distribution, twice the rows": (np.arange(7.0), np.tile(np.arange(7.0), 2)),
        "large, unequal sizes": (rng.normal(size=200_000), rng.standard_t(3, size=150_001)),
    }


@pytest.mark.parametrize("name", list(adversarial_pairs()))
def test_wasserstein_equals_scipy_on_adversarial_data(name):
    u, v = adversarial_pairs()[name]
    expected = scipy.stats.wasserstein_distance(u, v)
    ours = wasserstein_distance(pl.Series(u), pl.Series(v))
    assert ours == pytest.approx(expected, rel=1e-9, abs=0)


@pytest.mark.parametrize("n", [5, 1000, 50_000])
def test_wasserstein_normed_equals_evidently(evidently, n):
    rng = np.random.default_rng(n)
    u, v = rng.normal(10, 3, size=n), rng.normal(11, 2, size=n + 7)
    expected = evidently.statistic("wasserstein", u, v, "numeric")
    assert wasserstein_normed(pl.Series(u), pl.Series(v)) == pytest.approx(expected, rel=1e-9)


def test_wasserstein_normed_floors_the_std_of_a_constant_offline_sample():
    with pytest.warns(SkewcheckWarning, match="offline"):
        result = distribution_test(floats([2.0] * 50), floats([2.0] * 49 + [3.0]), kind="numeric", test="wasserstein")
    assert result.statistic == pytest.approx((1 / 50) / 0.001, rel=1e-12)
    assert result.drifted


# --- KS and chi-squared call SciPy -------------------------------------------------------------


@pytest.mark.parametrize("sizes", [(20, 30), (900, 1100), (20_000, 15_000)])
def test_ks_equals_scipy(sizes):
    rng = np.random.default_rng(sizes[0])
    u, v = rng.normal(size=sizes[0]), rng.normal(0.05, 1, size=sizes[1]).round(1)
    expected = scipy.stats.ks_2samp(u, v)
    assert ks_2samp(pl.Series(u), pl.Series(v)) == (expected.statistic, expected.pvalue)


@settings(deadline=None)
@given(
    u=st.lists(st.sampled_from("abcde"), min_size=1, max_size=60),
    v=st.lists(st.sampled_from("bcdefg"), min_size=1, max_size=60),
)
def test_chi_squared_equals_scipy(u, v):
    counts_u, counts_v = Counter(u), Counter(v)
    keys = sorted(set(u) | set(v))
    table = [[counts_u[k] for k in keys], [counts_v[k] for k in keys]]
    expected = scipy.stats.chi2_contingency(table, correction=False)
    offline, online = pl.Series(u), pl.Series(v, dtype=pl.Categorical)
    statistic, p_value = chi_squared(offline, online, kind="categorical")
    assert statistic == pytest.approx(expected.statistic, rel=1e-9, abs=1e-12)
    assert p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_numeric_chi_squared_bins_like_evidently():
    rng = np.random.default_rng(8)
    u, v = rng.normal(size=2000), rng.normal(0.1, 1, size=1500)
    edges = np.histogram_bin_edges(np.concatenate([u, v]), bins="sturges")
    table = [np.histogram(u, edges)[0], np.histogram(v, edges)[0]]
    expected = scipy.stats.chi2_contingency(table, correction=False)
    ours = chi_squared(pl.Series(u), pl.Series(v), kind="numeric")
    assert ours == pytest.approx((expected.statistic, expected.pvalue), rel=1e-9)
    assert ours[1] < 0.05  # binned, the test sees the shift; on raw values it never could


def test_numeric_chi_squared_leaves_out_bins_empty_in_both_samples():
    # Found by hypothesis: the Sturges bins of these values include empty ones.
    u = [0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, 7, 8, 14, 0.5, 0.75, 0.25, 0.125, 0.0625, 1 / 32]
    edges = np.histogram_bin_edges(u * 3, bins="sturges")
    table = np.array([np.histogram(u, edges)[0], np.histogram(u * 2, edges)[0]])
    assert (table.sum(axis=0) == 0).any()
    expected = scipy.stats.chi2_contingency(table[:, table.sum(axis=0) > 0], correction=False)
    ours = chi_squared(floats(u), floats(u * 2), kind="numeric")
    assert ours == pytest.approx((expected.statistic, expected.pvalue), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("values", [["no", "yes"], [0, 1]])
def test_chi_squared_of_two_values_equals_evidentlys_z_test(evidently, values):
    rng = np.random.default_rng(7)
    u = rng.choice(values, size=400, p=[0.5, 0.5]).tolist()
    v = rng.choice(values, size=300, p=[0.56, 0.44]).tolist()
    expected = evidently.statistic("z", u, v, "categorical")
    assert 0.001 < expected < 0.9  # a p-value in the range where the z-test is precise
    p_value = chi_squared(pl.Series(u), pl.Series(v), kind="categorical")[1]
    assert p_value == pytest.approx(expected, rel=1e-9)


# --- Binned statistics: Jensen-Shannon, PSI, L-infinity ----------------------------------------


@settings(max_examples=200, deadline=None)
@given(u=SAMPLES, v=SAMPLES)
def test_jensenshannon_equals_scipy(u, v):
    p, q = reference_frequencies(u, v, "numeric")
    expected = scipy.spatial.distance.jensenshannon(p, q)
    ours = jensenshannon(floats(u), floats(v), kind="numeric")
    assert ours == pytest.approx(expected, rel=1e-9, abs=1e-12)


@settings(deadline=None)
@given(
    u=st.lists(st.sampled_from(["x", "y", "z", "w"]), min_size=1, max_size=60),
    v=st.lists(st.sampled_from(["x", "y", "q"]), min_size=1, max_size=60),
)
def test_categorical_jensenshannon_and_linf_equal_the_definitions(u, v):
    p, q = reference_frequencies(u, v, "categorical")
    expected_js = scipy.spatial.distance.jensenshannon(p, q)
    offline, online = pl.Series(u), pl.Series(v)
    assert jensenshannon(offline, online, kind="categorical") == pytest.approx(expected_js, rel=1e-9, abs=1e-12)
    assert linf(offline, online, kind="categorical") == pytest.approx(np.max(np.abs(p - q)))


def binned_datasets():
    rng = np.random.default_rng(11)
    late_variety = np.concatenate([rng.integers(0, 3, 15_000), rng.normal(size=5000)])
    return {
        "numeric, continuous": ("numeric", rng.normal(size=3000), rng.normal(0.2, 1, 2500)),
        "numeric, 20 values": ("numeric", rng.integers(0, 20, 3000), rng.integers(0, 21, 2000)),
        "numeric, 21 values": ("numeric", rng.integers(0, 21, 3000), rng.integers(0, 21, 2000)),
        "numeric, many values after the first rows": (
            "numeric",
            late_variety,
            rng.normal(size=900),
        ),
        "numeric, disjoint values": ("numeric", rng.integers(0, 5, 1500), rng.integers(5, 9, 500)),
        "categorical": (
            "categorical",
            rng.choice(list("abcdef"), 3000).astype(object),
            rng.choice(list("abcdeg"), 2000, p=[0.3, 0.3, 0.1, 0.1, 0.1, 0.1]).astype(object),
        ),
    }


@pytest.mark.parametrize("name", list(binned_datasets()))
def test_jensenshannon_and_psi_equal_evidently(evidently, name):
    kind, u, v = binned_datasets()[name]
    offline, online = pl.Series(u.tolist()), pl.Series(v.tolist())
    expected_js = evidently.statistic("jensenshannon", u, v, kind)
    expected_psi = evidently.statistic("psi", u, v, kind)
    assert jensenshannon(offline, online, kind=kind) == pytest.approx(expected_js, rel=1e-9)
    assert psi(offline, online, kind=kind) == pytest.approx(expected_psi, rel=1e-9)


@pytest.mark.parametrize("name", list(binned_datasets()))
def test_linf_is_the_largest_frequency_difference(name):
    kind, u, v = binned_datasets()[name]
    p, q = reference_frequencies(u.tolist(), v.tolist(), kind)
    ours = linf(pl.Series(u.tolist()), pl.Series(v.tolist()), kind=kind)
    assert ours == pytest.approx(np.max(np.abs(p - q)), rel=1e-12)


def test_frequencies_bin_numeric_data_only_above_20_reference_values():
    offline = pl.Series(list(range(20)) * 3)
    online = pl.Series([0.5] * 10)
    # 20 distinct offline values: one bin per value of either sample (21 of them).
    assert len(frequencies(offline, online, kind="numeric")[0]) == 21
    # 21 values: Sturges' rule on the 73 values, ceil(1 + log2(73)) = 8 bins.
    wider = pl.Series(list(range(21)) * 3)
    reference, current = frequencies(wider, online, kind="numeric")
    assert len(reference) == 8
    assert reference.sum() == pytest.approx(1) and current.sum() == pytest.approx(1)


# --- Evidently's choice of test and thresholds --------------------------------------------------


def choice_cases():
    rng = np.random.default_rng(3)
    late_variety = np.concatenate([np.zeros(12_000), rng.normal(size=3000)])
    return {
        "numeric, small, 2 values": ("numeric", rng.integers(0, 2, 500), rng.integers(0, 2, 80)),
        "numeric, small, 5 values": ("numeric", rng.integers(0, 4, 1000), rng.integers(1, 5, 80)),
        "numeric, small, 6 values": ("numeric", rng.integers(0, 5, 1000), rng.integers(1, 6, 80)),
        "numeric, small, many": ("numeric", rng.normal(size=300), rng.normal(size=300)),
        "numeric, large, 5 values": ("numeric", rng.integers(0, 5, 1001), rng.integers(0, 5, 99)),
        "numeric, large, many": ("numeric", rng.normal(size=1001), rng.normal(size=50)),
        "numeric, large, many after the first rows": ("numeric", late_variety, [0.0, 1.0]),
        "categorical, small, 2 values": ("categorical", rng.choice(["a", "b"], 900), ["a", "b"]),
        "categorical, small, many": ("categorical", rng.choice(list("abcdefgh"), 900), ["a", "z"]),
        "categorical, large, 2 values": ("categorical", rng.choice(["a", "b"], 1001), ["b", "a"]),
        "categorical, large, many": ("categorical", rng.choice(list("abcdefgh"), 5000), ["z", "y"]),
    }


@pytest.mark.parametrize("name", list(choice_cases()))
def test_default_test_is_evidentlys_choice(evidently, name):
    kind, u, v = choice_cases()[name]
    chosen = evidently.default_test(u, v, kind)
    expected = "chisquare" if chosen == "z" else chosen  # our one documented deviation
    offline, online = pl.Series(list(u)), pl.Series(list(v))
    n_unique = pl.concat([offline, online]).n_unique()
    assert default_test(kind, len(offline), n_unique) == expected
    assert distribution_test(offline, online, kind=kind).test == expected


def test_default_thresholds_are_evidentlys(evidently):
    stattests = evidently.stattests
    evidently_tests = {
        "ks": stattests.ks_stat_test,
        "wasserstein": stattests.wasserstein_stat_test,
        "jensenshannon": stattests.jensenshannon_stat_test,
        "chisquare": stattests.chi_stat_test,
        "psi": stattests.psi_stat_test,
    }
    for name, stat_test in evidently_tests.items():
        assert DEFAULT_THRESHOLDS[name] == stat_test.default_threshold, name
    assert stattests.z_stat_test.default_threshold == DEFAULT_THRESHOLDS["chisquare"]
    assert DEFAULT_THRESHOLDS["linf"] == 0.1
    assert set(DEFAULT_THRESHOLDS) == set(TESTS)


# --- Drift decisions ----------------------------------------------------------------------------


@pytest.mark.parametrize("test", DISTANCES)
def test_a_distance_drifts_at_and_above_its_threshold(test):
    rng = np.random.default_rng(5)
    offline, online = pl.Series(rng.normal(size=3000)), pl.Series(rng.normal(0.3, 1, 2000))
    statistic = distribution_test(offline, online, kind="numeric", test=test).statistic
    assert statistic > 0
    at = distribution_test(offline, online, kind="numeric", test=test, threshold=statistic)
    above = np.nextafter(statistic, np.inf)
    just_above = distribution_test(offline, online, kind="numeric", test=test, threshold=above)
    assert at.drifted and at.threshold == statistic and at.p_value is None
    assert not just_above.drifted


@pytest.mark.parametrize("test", ["ks", "chisquare"])
def test_a_p_value_drifts_below_its_threshold(test):
    rng = np.random.default_rng(9)
    offline = pl.Series(rng.integers(0, 4, 400))
    online = pl.Series(rng.choice(4, 300, p=[0.22, 0.24, 0.26, 0.28]))
    p_value = distribution_test(offline, online, kind="numeric", test=test).p_value
    assert 0.001 < p_value < 0.99

    def drifted(threshold):
        return distribution_test(offline, online, kind="numeric", test=test, threshold=threshold).drifted

    assert drifted(np.nextafter(p_value, 1)) and not drifted(np.nextafter(p_value, 0))
    # At the p-value itself Evidently drifts for KS (p <= threshold), not for chi-squared.
    assert drifted(p_value) == (test == "ks")


def valid_tests(kind):
    return TESTS if kind == "numeric" else CATEGORICAL_TESTS


@pytest.mark.filterwarnings("ignore::skewcheck._errors.SkewcheckWarning")  # single-value samples
@settings(max_examples=150, deadline=None)
@given(u=SAMPLES)
def test_the_same_distribution_never_drifts(u):
    offline = floats(u)
    for online in (floats(u[::-1]), floats(u * 2)):  # same values: reversed, or each twice
        for test in TESTS:
            result = distribution_test(offline, online, kind="numeric", test=test)
            assert not result.drifted, test
            if test in DISTANCES:
                assert result.statistic == 0, test
            else:
                assert result.p_value == pytest.approx(1), test


@pytest.mark.parametrize("n", [200, 5000])
@pytest.mark.parametrize("kind", ["numeric", "categorical"])
def test_identical_samples_never_drift(kind, n):
    rng = np.random.default_rng(n)
    values = rng.normal(size=n) if kind == "numeric" else rng.choice(list("abc"), n)
    sample = pl.Series(values)
    for test in (None, *valid_tests(kind)):
        result = distribution_test(sample, sample.clone(), kind=kind, test=test)
        assert not result.drifted, test
        assert (result.p_value is None) == (result.test in DISTANCES)


@pytest.mark.parametrize("n", [100, 300, 5000])
@pytest.mark.parametrize("kind", ["numeric", "categorical"])
def test_clearly_shifted_samples_always_drift(kind, n):
    rng = np.random.default_rng(n + 1)
    if kind == "numeric":
        offline, online = rng.normal(size=n), rng.normal(3, 1, size=n // 2)
    else:
        offline = rng.choice(list("abc"), n, p=[0.7, 0.2, 0.1])
        online = rng.choice(list("abc"), n // 2, p=[0.2, 0.3, 0.5])
    for test in (None, *valid_tests(kind)):
        result = distribution_test(pl.Series(offline), pl.Series(online), kind=kind, test=test)
        assert result.drifted, result


# --- Degenerate data and bad arguments -------------------------------------------------------


@pytest.mark.parametrize("kind", ["numeric", "categorical"])
@pytest.mark.parametrize("empty_side", ["offline", "online", "both"])
def test_an_empty_side_warns_and_reports_no_drift(kind, empty_side):
    dtype = pl.Float64 if kind == "numeric" else pl.String
    full = pl.Series([1.0, 2.0, 3.0]) if kind == "numeric" else pl.Series(["a", "b"])
    empty = pl.Series([], dtype=dtype)
    offline = empty if empty_side in ("offline", "both") else full
    online = empty if empty_side in ("online", "both") else full
    for test in (None, *valid_tests(kind)):
        with pytest.warns(SkewcheckWarning, match="empty"):
            result = distribution_test(offline, online, kind=kind, test=test)
        assert math.isnan(result.statistic) and not result.drifted
        if result.test in DISTANCES:
            assert result.p_value is None
        else:
            assert math.isnan(result.p_value)


@pytest.mark.parametrize(
    "function",
    [wasserstein_distance, wasserstein_normed, ks_2samp, partial(chi_squared, kind="numeric")],
)
def test_statistics_of_an_empty_side_are_nan(function):
    with pytest.warns(SkewcheckWarning, match="online sample is empty"):
        result = function(floats([1.0]), floats([]))
    assert all(math.isnan(x) for x in np.atleast_1d(result))


@pytest.mark.parametrize("function", [jensenshannon, psi, linf])
def test_binned_statistics_of_an_empty_side_are_nan(function):
    with pytest.warns(SkewcheckWarning, match="offline sample is empty"):
        assert math.isnan(function(pl.Series([], dtype=pl.String), pl.Series(["a"]), kind="categorical"))


@pytest.mark.parametrize("kind", ["numeric", "categorical"])
def test_an_equal_constant_warns_and_gives_zero_distance(kind):
    value = 4 if kind == "numeric" else "x"
    offline, online = pl.Series([value] * 2000), pl.Series([value] * 30)
    for test in (None, *valid_tests(kind)):
        with pytest.warns(SkewcheckWarning, match="constant"):
            result = distribution_test(offline, online, kind=kind, test=test)
        assert not result.drifted
        if result.test in DISTANCES:
            assert result.statistic == 0
        else:
            assert result.p_value == 1


def test_single_different_values_warn_and_give_defined_results():
    for test in TESTS:
        with pytest.warns(SkewcheckWarning, match="offline sample holds only 1.0"):
            result = distribution_test(floats([1.0]), floats([2.0]), kind="numeric", test=test)
        assert not math.isnan(result.statistic), test
    assert wasserstein_distance(floats([1.0]), floats([2.0])) == 1.0


def test_a_constant_online_sample_warns_and_drifts():
    rng = np.random.default_rng(2)
    with pytest.warns(SkewcheckWarning, match="online sample holds only 0.0"):
        result = distribution_test(pl.Series(rng.normal(size=2000)), floats([0.0] * 2000), kind="numeric")
    assert result.test == "wasserstein" and result.drifted


def test_mixed_dtypes_are_compared_by_value():
    ints, reals = pl.Series([1, 2, 2, 3], dtype=pl.Int32), floats([2.0, 3.0, 3.0])
    for kind in ("numeric", "categorical"):
        as_floats = chi_squared(ints.cast(pl.Float64), reals, kind=kind)
        assert chi_squared(ints, reals, kind=kind) == as_floats
    assert ks_2samp(ints, reals) == ks_2samp(ints.cast(pl.Float64), reals)
    strings, categories = pl.Series(["a", "b", "b"]), pl.Series(["b", "c"], dtype=pl.Categorical)
    as_strings = chi_squared(strings, categories.cast(pl.String), kind="categorical")
    assert chi_squared(strings, categories, kind="categorical") == as_strings


def test_bad_arguments_raise_value_error():
    numbers, words = floats([1.0, 2.0]), pl.Series(["a", "b"])
    with pytest.raises(ValueError, match="unknown kind"):
        distribution_test(numbers, numbers, kind="text")
    with pytest.raises(ValueError, match="unknown test"):
        distribution_test(numbers, numbers, kind="numeric", test="z")
    for test in ("ks", "wasserstein"):
        with pytest.raises(ValueError, match="needs a numeric feature"):
            distribution_test(words, words, kind="categorical", test=test)
    with pytest.raises(ValueError, match="integer or float"):
        distribution_test(words, words, kind="numeric", test="psi")
    with pytest.raises(ValueError, match="bins"):
        histogram(numbers, numbers, kind="numeric", bins=0)


# --- Histogram ---------------------------------------------------------------------------------


def test_numeric_histogram_shares_edges_over_both_samples():
    rng = np.random.default_rng(4)
    u, v = rng.normal(size=1000), rng.normal(2, 1, size=500)
    result = histogram(pl.Series(u), pl.Series(v), kind="numeric", bins=12)
    edges = np.array(result.edges)
    assert len(edges) == 13
    assert edges[0] == min(u.min(), v.min()) and edges[-1] == max(u.max(), v.max())
    assert result.offline == np.histogram(u, edges)[0].tolist()
    assert result.online == np.histogram(v, edges)[0].tolist()
    assert sum(result.offline) == 1000 and sum(result.online) == 500
    assert result.categories == [] and result.offline_other == result.online_other == 0


def test_categorical_histogram_lists_the_top_categories():
    offline = pl.Series(["a"] * 5 + ["b"] * 3 + ["c"] * 2 + ["d"])
    online = pl.Series(["b"] * 4 + ["c"] * 3 + ["e"], dtype=pl.Categorical)
    result = histogram(offline, online, kind="categorical", bins=3)
    # Totals: b 7, c 5, a 5, e 1, d 1; ties in alphabetical order.
    assert result.categories == ["b", "a", "c"]
    assert result.offline == [3, 5, 2] and result.online == [4, 0, 3]
    assert (result.offline_other, result.online_other) == (1, 1)
    assert result.edges == []


def test_histogram_of_an_empty_side_has_zero_counts():
    result = histogram(floats([1.0, 2.0]), floats([]), kind="numeric", bins=4)
    assert sum(result.offline) == 2 and result.online == [0, 0, 0, 0]


def test_histogram_of_a_huge_near_constant_sample_has_one_bin():
    # 30 equal-width bins cannot be told apart at this magnitude (float spacing is 0.25).
    hist = histogram(pl.Series([1.7e15] * 5), pl.Series([1.7e15] * 3), kind="numeric")
    assert len(hist.edges) == 2 and hist.offline == [5] and hist.online == [3]


def test_histogram_ignores_infinities():
    hist = histogram(pl.Series([0.0, float("inf")]), pl.Series([1.0, float("-inf")]), kind="numeric")
    assert sum(hist.offline) == 1 and sum(hist.online) == 1


def test_histogram_of_a_range_wider_than_the_largest_float():
    hist = histogram(pl.Series([0.0]), pl.Series([1.7976e308, -9.9792e291]), kind="numeric")
    assert sum(hist.offline) == 1 and sum(hist.online) == 2


def test_wasserstein_walks_long_coprime_periods_in_blocks():
    rng = np.random.default_rng(11)
    u, v = rng.normal(0, 1, 600_001), rng.normal(0.2, 1.5, 300_000)  # coprime sizes: one long period
    expected = scipy.stats.wasserstein_distance(u, v)
    assert wasserstein_distance(pl.Series(u), pl.Series(v)) == pytest.approx(expected, rel=1e-9)


def test_sorting_never_changes_the_callers_series():
    chunked = pl.concat([pl.Series([3.0, 1.0]), pl.Series([2.0, 0.5])], rechunk=False)
    single = pl.Series([5.0, 4.0, 9.0])
    assert chunked.n_chunks() == 2
    wasserstein_normed(chunked, single)
    assert chunked.to_list() == [3.0, 1.0, 2.0, 0.5] and single.to_list() == [5.0, 4.0, 9.0]


def _plain_sorted_wasserstein(u: np.ndarray, v: np.ndarray, block: int) -> float:
    """The Wasserstein sum of `_sorted_wasserstein` written with a fresh array per step (issue 3's
    version): its buffered rewrite must give the same float, bit for bit."""
    n, m = u.size, v.size
    g = math.gcd(n, m)
    du, dv = m // g, n // g
    u_rows, v_rows = u.reshape(g, dv), v.reshape(g, du)
    area = 0.0
    for start in range(0, dv, block):
        r = np.arange(start, min(start + block, dv), dtype=np.int64)
        v_index, offset = np.divmod(r * du, dv)
        area += float((np.abs(u_rows[:, r[0] : r[-1] + 1] - v_rows[:, v_index]) * np.minimum(dv - offset, du)).sum())
    for start in range(1, du, block):
        s = np.arange(start, min(start + block, du), dtype=np.int64)
        u_index, offset = np.divmod(s * dv, du)
        area += float((np.abs(v_rows[:, s[0] : s[-1] + 1] - u_rows[:, u_index]) * np.minimum(du - offset, dv)).sum())
    return float(area / (n * du))


@pytest.mark.parametrize(
    "n, m", [(1, 1), (7, 3), (999, 1001), (300_000, 150_000), (12, 600_000), (600_000, 400_000), (262_145, 262_144)]
)
def test_wasserstein_blocks_sum_exactly_as_the_plain_expressions(n, m):
    from skewcheck._stats.samples import _WASSERSTEIN_BLOCK, _sorted_wasserstein

    rng = np.random.default_rng(n + m)
    u, v = np.sort(rng.normal(0, 1, n)), np.sort(rng.normal(0.3, 2, m))
    assert _sorted_wasserstein(u, v) == _plain_sorted_wasserstein(u, v, _WASSERSTEIN_BLOCK)
