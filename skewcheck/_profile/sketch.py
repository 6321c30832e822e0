"""The sketches of a profile: the binary grid of its histograms, its quantile summary, its
category counts, and the limits of their sizes (see the package docstring). A leaf."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

# At most this many histogram bins per feature; a binary grid gives between half and all of them.
HISTOGRAM_MAX_BINS = 64
# Points in a quantile summary. At least compare's "small reference" (1000 rows, where it runs
# KS on the raw values), so small features keep every value and compare exactly; a power of two
# so that the ranks (i + 1/2) * n / SKETCH_POINTS are computed without rounding.
SKETCH_POINTS = 1024
# Numeric features with at most this many distinct values keep every value's count: compare
# (like Evidently) bins such features per value rather than by Sturges' rule.
VALUE_CAP = 20
# Categories kept per categorical feature; the rest are counted together as "other".
CATEGORY_CAP = 1000
# Grid exponents never go below this: a constant zero column still gets a defined bin.
MIN_EXPONENT = -60
# Bin numbers stay below 2**52, so (bin number) * width is an exact float edge.
_MANTISSA_BITS = 52
LIMITS = {
    "histogram_max_bins": HISTOGRAM_MAX_BINS,
    "sketch_points": SKETCH_POINTS,
    "value_cap": VALUE_CAP,
    "category_cap": CATEGORY_CAP,
}
NUMERIC_KINDS = ("numeric", "temporal")


def grid(low: float, high: float) -> tuple[int, int, int]:
    """Exponent, first bin number and bin count of the binary grid for the range [low, high].

    The exponent is the smallest that covers the range in HISTOGRAM_MAX_BINS bins, but at least
    MIN_EXPONENT and large enough that bin numbers stay below 2**52. Both bounds grow with the
    range, so a partition's exponent never exceeds that of the union.
    """
    magnitude = max(abs(low), abs(high))
    exponent = max(MIN_EXPONENT, math.frexp(magnitude)[1] - _MANTISSA_BITS) if magnitude else MIN_EXPONENT
    spread = high / HISTOGRAM_MAX_BINS - low / HISTOGRAM_MAX_BINS  # no overflow near the float limit
    if spread > 0:
        exponent = max(exponent, math.frexp(spread)[1] - 2)
    while bins(low, high, exponent) > HISTOGRAM_MAX_BINS:
        exponent += 1
    return exponent, bin_number(low, exponent), bins(low, high, exponent)


def bins(low: float, high: float, exponent: int) -> int:
    return bin_number(high, exponent) - bin_number(low, exponent) + 1


def bin_number(value: float, exponent: int) -> int:
    """floor(value / 2**exponent), exactly: a tiny negative value whose quotient underflows to -0.0 is in bin -1."""
    number = math.floor(math.ldexp(value, -exponent))
    return -1 if number == 0 and value < 0 else number


def grid_counts(ordered: np.ndarray, exponent: int, first: int, bins: int) -> np.ndarray:
    """Counts of sorted values per grid bin: x is in bin i exactly when edge_i <= x < edge_(i+1)."""
    edges = np.ldexp(np.arange(first, first + bins + 1, dtype=np.float64), exponent)
    return np.diff(np.searchsorted(ordered, edges, side="left"))


def mid_quantiles(values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Sorted `values` as they are if few and unweighted, else their SKETCH_POINTS mid-quantiles.

    Mid-quantile i is the value holding rank (i + 1/2) * total / SKETCH_POINTS (ranks from 0,
    each value covering `weight` ranks); with unit weights, the value at index
    floor((2i + 1) * n / (2 * SKETCH_POINTS)).
    """
    steps = 2 * np.arange(SKETCH_POINTS, dtype=np.int64) + 1
    if weights is None:
        return values if values.size <= SKETCH_POINTS else values[steps * values.size // (2 * SKETCH_POINTS)]
    if values.size <= SKETCH_POINTS and np.all(weights == 1.0):
        return values
    ranks = steps * (weights.sum() / (2 * SKETCH_POINTS))
    return values[np.minimum(np.searchsorted(np.cumsum(weights), ranks, side="right"), values.size - 1)]


def top_categories(pairs: Iterable[tuple[str, int]]) -> tuple[tuple[tuple[str, int], ...], int]:
    """The CATEGORY_CAP most frequent (ties: alphabetical) and the count of the rest."""
    ranked = sorted(pairs, key=lambda pair: (-pair[1], pair[0]))
    return tuple(ranked[:CATEGORY_CAP]), sum(n for _, n in ranked[CATEGORY_CAP:])
