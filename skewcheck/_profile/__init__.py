"""Profiles: per-feature statistics computed once, merged across partitions, compared later.

A profile holds what a distribution comparison needs, without the rows: counts (rows, nulls,
NaN, infinities), min and max, moments (count, mean, M2), a histogram, a quantile summary and,
for a categorical feature or a numeric one with few distinct values, the count of every value.
Temporal features are profiled as numbers (microseconds since the epoch, UTC), as compare does.

Every part merges: the profile of a union of partitions is computed from their profiles.

- Counts, nulls, min/max, value and category counts add up (or take the min/max): exact.
- Moments merge with Chan et al.'s parallel update: exact up to floating-point rounding.
- Histograms use a **binary grid**: bin width ``2**exponent``, edges at the multiples of the
  width, and the smallest exponent that covers [min, max] in at most :data:`HISTOGRAM_MAX_BINS`
  bins (bounded below so bin numbers stay exact integers). Scaling by a power of two is exact in
  floating point, so the bin of a value never depends on rounding; a wider range never needs a
  narrower bin, and a grid of width ``2**k`` is the union of pairs of bins of width ``2**(k-1)``.
  Merging therefore re-bins each histogram *exactly* onto the grid the union's range calls for,
  which is the grid a profile of the union would have chosen: merged histograms equal the
  histogram of the union, bin for bin.
- The quantile summary keeps every value (sorted) while there are at most
  :data:`SKETCH_POINTS`; above that, the :data:`SKETCH_POINTS` mid-quantiles (the values at ranks
  ``(i + 1/2) * n / SKETCH_POINTS``), each standing for ``n / SKETCH_POINTS`` rows. Merging sorts
  the weighted points and takes the mid-quantiles again: exact while the union holds at most
  ``SKETCH_POINTS`` values or the parts are exact, otherwise within a rank error of
  ``1 / (2 * SKETCH_POINTS)`` per merge. A summary differs from the data by at most
  ``(max - min) / SKETCH_POINTS`` in Wasserstein distance. (Libraries considered: Apache
  DataSketches' KLL sketch is randomised, so a profile would differ from run to run; t-digests
  merge in an order-dependent way. Neither is needed for this bound.)
- A numeric feature with at most :data:`VALUE_CAP` distinct values (the limit below which compare
  bins per value) keeps the count of each value; a categorical feature keeps the
  :data:`CATEGORY_CAP` most frequent categories and an ``other`` count for the rest. Merges are
  exact unless a part has already dropped categories into ``other``.

`compare_profile` compares a profile with online data at the distribution level, producing the
`SkewReport` that `compare` produces without keys.
"""

from .build import profile
from .merge import merge_profiles
from .model import (
    PROFILE_VERSION,
    FeatureProfile,
    GridHistogram,
    Profile,
    QuantileSummary,
    is_profile,
)
from .side import compare_profile
from .sketch import CATEGORY_CAP, HISTOGRAM_MAX_BINS, LIMITS, SKETCH_POINTS, VALUE_CAP

__all__ = [
    "CATEGORY_CAP",
    "HISTOGRAM_MAX_BINS",
    "LIMITS",
    "PROFILE_VERSION",
    "SKETCH_POINTS",
    "VALUE_CAP",
    "FeatureProfile",
    "GridHistogram",
    "Profile",
    "QuantileSummary",
    "compare_profile",
    "is_profile",
    "merge_profiles",
    "profile",
]
