"""Exact distribution statistics over any partitioning of the values, in two passes.

`distribution_test` needs both samples whole (sorted, for KS and Wasserstein). Here the values may
come in any number of partitions, of any size, in any order, and the result equals
`distribution_test` on the concatenated samples (to rounding, 1e-9 relative). No partition, and no
range, needs more memory than its own values.

The passes, for one feature (the same on offline and online values):

1. ``summarize(values)`` on every partition of each side -> a `Summary` (count, sum, sum of
   squares, min, max, value counts while few, a small quantile sample). Summaries merge by
   ``merge_summaries`` (addition; the result does not depend on the partitioning).
   ``spec(kind, offline, online, test=..., ranges=R)`` then decides, from the two merged summaries,
   everything the second pass needs (a `Spec`, small and picklable): the test (as `default_test`),
   and for a numeric feature the shared range boundaries of both sides (for KS and Wasserstein) or
   the bins (for the count tests: Sturges over the global min/max, as `frequencies`).
2. ``spec.range_of(values)`` gives every value its range (0 .. spec.ranges - 1), so an engine can
   send the values of range r of both sides to one place. ``bin_counts(spec, values)`` gives the
   counts over the spec's bins of one partition (they add). For range r, with all values of both
   sides that fall in it (sorted, or not: ``piece`` sorts them) and the counts of both sides in
   the ranges before it (``counts_before``), ``piece(spec, r, offline, online, before)`` -> a
   `Piece` (a few numbers). ``combine(spec, offline, online, pieces=..., bins=...)`` -> the
   `TestResult` of `distribution_test`, and raises the same warnings (empty, constant sample).

Everything here is picklable (dataclasses of numbers, tuples and numpy arrays). The module knows
nothing of features, keys or files (it is part of `_stats`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from .._model import TestResult

# Distinct values a summary counts before it stops (Evidently's binning and test choice only ask
# whether there are more than 20, resp. 5).
FEW_VALUES = 21
# Values of a partition kept in a summary's quantile sample (to place balanced range boundaries).
QUANTILE_SAMPLE = 256


@dataclass(frozen=True)
class Summary:
    """Pass 1: what one partition (or a merge of partitions) of one side's values holds.

    `counts` is the value -> count table while there are at most `FEW_VALUES` distinct values,
    or every value's count for a categorical sample; None once a numeric sample has more.
    """

    kind: str  # "numeric" or "categorical"
    count: int
    total: float  # sum (numeric)
    squares: float  # sum of squared deviations from the mean (numeric; merged as Chan et al.)
    minimum: object
    maximum: object
    counts: tuple[tuple[object, int], ...] | None
    first: object  # the value `warn_if_constant` names (any value, when the sample is constant)
    quantiles: tuple[float, ...] = ()  # evenly spaced order statistics, for range boundaries


@dataclass(frozen=True)
class Spec:
    """Decided from the merged summaries: the test, and the ranges or bins of pass 2."""

    kind: str
    test: str
    threshold: float
    boundaries: tuple[float, ...] = ()  # KS / Wasserstein: range r holds boundaries[r-1] <= x < boundaries[r]
    edges: tuple[float, ...] | None = None  # count tests on a binned numeric feature: np.histogram edges

    @property
    def ranges(self) -> int:
        return len(self.boundaries) + 1

    def range_of(self, values: pl.Series) -> pl.Series:
        """The range (UInt32) of every value."""
        raise NotImplementedError


@dataclass(frozen=True)
class Piece:
    """Pass 2, one range: its part of the KS statistic and of the Wasserstein area."""

    index: int
    offline: int  # values of each side in the range
    online: int
    ks_max: int  # max and min over the range's values of (F_off * n * m - F_on * n * m) as integers
    ks_min: int
    area: float  # the integral of |F_off - F_on| over the range (up to the next range's start)
    lowest: float | None  # the smallest value of the range (either side), None when empty


def summarize(values: pl.Series, *, kind: str) -> Summary:
    """Pass 1 on one partition: the values without nulls and NaN (as `finite_values` gives them)."""
    raise NotImplementedError


def merge_summaries(summaries: Iterable[Summary]) -> Summary:
    """Summaries of partitions of one sample -> the summary of the whole sample."""
    raise NotImplementedError


def spec(kind: str, offline: Summary, online: Summary, *, test: str | None = None, ranges: int = 16) -> Spec:
    """The test (as `distribution_test` chooses it) and the ranges or bins of pass 2."""
    raise NotImplementedError


def bin_counts(spec: Spec, values: pl.Series) -> np.ndarray:
    """Counts of one partition over the spec's bins (numeric count tests); they add over partitions."""
    raise NotImplementedError


def counts_before(pieces_counts: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Given (offline, online) counts of every range in order, the counts in the ranges before each."""
    raise NotImplementedError


def piece(spec: Spec, index: int, offline: pl.Series, online: pl.Series, before: tuple[int, int]) -> Piece:
    """Pass 2 on range `index`: all values of both sides in it, and the counts of both in the ranges before."""
    raise NotImplementedError


def combine(
    spec: Spec,
    offline: Summary,
    online: Summary,
    *,
    pieces: Sequence[Piece] = (),
    bins: tuple[np.ndarray, np.ndarray] | None = None,
) -> TestResult:
    """The `TestResult` of `distribution_test` on the whole samples, from pass 1 and pass 2."""
    raise NotImplementedError


def exact_test(
    offline: Sequence[pl.Series], online: Sequence[pl.Series], *, kind: str, test: str | None = None, ranges: int = 16
) -> TestResult:
    """Both passes over in-memory partitions: the reference use of this module (and its test oracle)."""
    raise NotImplementedError
