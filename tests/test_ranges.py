"""Exact distribution statistics over partitions (`_stats.ranges`) equal `distribution_test` on the
whole samples, whatever the partitioning, the values (ties, few distinct values) and the ranges."""

import itertools
import math
import pickle
import warnings

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skewcheck._errors import SkewcheckWarning
from skewcheck._stats import TESTS, distribution_test
from skewcheck._stats.ranges import exact_test, merge_summaries, spec, summarize
from skewcheck._stats.samples import ks_p_value

quiet = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-300)


def _split(values: list, cuts: list[int]) -> list[pl.Series]:
    """The values in consecutive partitions cut at `cuts` (some may be empty)."""
    bounds = [0, *sorted(c % (len(values) + 1) for c in cuts), len(values)]
    return [pl.Series(values[a:b], dtype=pl.Float64) for a, b in itertools.pairwise(bounds)]


def _same(partitions_offline, partitions_online, kind, test, ranges):
    offline, online = pl.concat(partitions_offline), pl.concat(partitions_online)
    with warnings.catch_warnings(record=True) as whole:
        warnings.simplefilter("always", SkewcheckWarning)
        want = distribution_test(offline, online, kind=kind, test=test)
    with warnings.catch_warnings(record=True) as parts:
        warnings.simplefilter("always", SkewcheckWarning)
        got = exact_test(partitions_offline, partitions_online, kind=kind, test=test, ranges=ranges)
    assert (got.test, got.threshold, got.drifted) == (want.test, want.threshold, want.drifted), (got, want)
    assert _close(got.statistic, want.statistic), (got, want)
    assert _close(got.p_value, want.p_value), (got, want)
    assert [str(w.message) for w in parts] == [str(w.message) for w in whole]


# Values drawn from a small grid (ties, few distinct values) or anywhere (continuous).
grid = st.sampled_from([-3.0, -1.0, 0.0, 0.5, 2.0, 7.25])
anywhere = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
samples = st.one_of(st.lists(grid, min_size=1, max_size=80), st.lists(anywhere, min_size=1, max_size=80))


@quiet
@given(
    samples,
    samples,
    st.lists(st.integers(0, 100), max_size=4),
    st.lists(st.integers(0, 100), max_size=4),
    st.sampled_from([None, *TESTS]),
    st.integers(1, 9),
)
def test_numeric_over_any_partitioning(offline, online, cuts_offline, cuts_online, test, ranges):
    _same(_split(offline, cuts_offline), _split(online, cuts_online), "numeric", test, ranges)


@quiet
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1001, 3000),
    st.integers(1, 3000),
    st.sampled_from([1, 2, 30, 1000]),
    st.lists(st.integers(0, 3000), max_size=5),
    st.sampled_from([None, "ks", "wasserstein", "psi", "chisquare", "linf"]),
)
def test_large_reference_binned_and_default_tests(seed, n, m, spread, cuts, test):
    """Above 1000 offline rows the default is Wasserstein; above 20 distinct values, count tests bin."""
    rng = np.random.default_rng(seed)
    offline = np.round(rng.normal(0, spread, n)).tolist()
    online = np.round(rng.normal(rng.uniform(-1, 1), spread, m)).tolist()
    _same(_split(offline, cuts), _split(online, cuts[::-1]), "numeric", test, 5)


@quiet
@given(
    st.lists(st.sampled_from(["a", "b", "c", "d", "é", ""]), min_size=1, max_size=120),
    st.lists(st.sampled_from(["a", "b", "c", "x"]), min_size=1, max_size=120),
    st.integers(1, 6),
    st.sampled_from([None, "jensenshannon", "chisquare", "psi", "linf"]),
)
def test_categorical(offline, online, parts, test):
    def split(values):
        return [pl.Series(values[i::parts], dtype=pl.String) for i in range(parts)]

    _same(split(offline), split(online), "categorical", test, 4)


@pytest.mark.parametrize(("n", "m"), [(7, 7), (30, 45), (1000, 9000), (10_000, 10_001), (20_000, 50_000)])
def test_ks_p_value_is_scipys(n, m):
    """Exact below 10,000 values per side, asymptotic above, as SciPy's ks_2samp chooses."""
    from scipy.stats import ks_2samp

    rng = np.random.default_rng(n + m)
    a, b = rng.normal(0, 1, n), rng.normal(0.05, 1, m)
    want = ks_2samp(a, b)
    statistic, p_value = ks_p_value(float(want.statistic), n, m)
    assert _close(statistic, float(want.statistic)) and _close(p_value, float(want.pvalue))


def test_large_partitions_match_and_pickle():
    """A million values in uneven partitions: KS and Wasserstein exact; summaries are small and picklable."""
    rng = np.random.default_rng(7)
    offline = pl.Series(np.round(rng.lognormal(0, 1, 600_000), 3))
    online = pl.Series(np.round(rng.lognormal(0.01, 1, 400_000), 3))
    cut_offline = [offline[:1], offline[1:250_000], offline[250_000:]]
    cut_online = [online[:399_999], online[399_999:]]
    for test in ("ks", "wasserstein", "jensenshannon"):
        _same(cut_offline, cut_online, "numeric", test, 16)
    summary = merge_summaries(summarize(part, kind="numeric") for part in cut_offline)
    assert len(pickle.dumps(summary)) < 20_000
    chosen = spec("numeric", summary, summary, ranges=16)
    assert pickle.loads(pickle.dumps(chosen)) == chosen
    sizes = np.bincount(chosen.range_of(offline).to_numpy(), minlength=chosen.ranges)
    assert sizes.max() < 3 * offline.len() / chosen.ranges  # balanced ranges: no range holds most values


def test_empty_side_is_nan_with_the_warning():
    _same([pl.Series([], dtype=pl.Float64)], [pl.Series([1.0, 2.0])], "numeric", "ks", 3)
