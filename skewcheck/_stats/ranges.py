"""Exact distribution statistics over any partitioning of the values, in two passes.

The values of a feature may come in any number of partitions, of any size and order; the result
equals `distribution_test` on the concatenated samples (1e-9 relative) with the same warnings, and
no step needs more memory than one partition or one range. Per feature, for both sides alike:

1. ``summarize(values, kind=...)`` on every partition (finite values, as `finite_values` gives
   them) -> a `Summary`; ``merge_summaries`` adds them up (any order). ``spec(kind, offline,
   online, test=None, ranges=R)`` -> the `Spec`: the test `default_test` picks, and what pass 2
   needs: ``needs_ranges`` (KS, Wasserstein) with shared range boundaries for both sides, or
   ``needs_counts`` (a count test of a numeric feature; the Sturges `edges` over the global
   min/max, as `frequencies` bins). A categorical feature needs no pass 2.
2. Ranges: ``spec.range_of(values)`` gives each value its range (0 .. spec.ranges - 1); gather the
   values of range r of both sides in one place, count them per range, ``counts_before(counts)``
   gives each range the counts below it, and ``piece(spec, r, offline, online, before)`` -> a
   `Piece` (a few numbers). Counts: ``bin_counts(spec, values)`` per partition, added up with
   ``merge_counts``.
3. ``combine(spec, offline, online, pieces=..., counts=(offline, online))`` -> the `TestResult`.

Summaries, specs, pieces and counts are picklable (dataclasses of numbers and small polars
frames; a categorical summary holds one row per distinct value). ``exact_test`` runs both passes
over in-memory partitions: the sequence the engines follow. Nothing here knows features or files.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from .._model import TestResult
from .._settings import NUMERIC_ONLY_TESTS, TESTS
from . import default_test
from .common import DEFAULT_THRESHOLDS, check_kind, floats, sorted_floats, warn_constant, warn_empty
from .counts import _BINNED_ABOVE, chi_squared_counts, count_in_bins, frequency_distance, plot_edges
from .samples import MIN_NORM, ks_p_value

# Distinct values a numeric summary counts before it stops: Evidently's binning asks whether the
# offline sample has more than 20 (the test choice, whether both have more than 5).
FEW_VALUES = _BINNED_ABOVE + 1
# Order statistics of a partition kept in its summary, to place balanced range boundaries.
QUANTILE_SAMPLE = 256


@dataclass(frozen=True)
class Summary:
    """Pass 1: what a partition (or a merge of partitions) of one side's finite values holds.

    `counts` (columns ``value``, ``count``) is the table of distinct values: always for a
    categorical sample, for a numeric one while it has at most `FEW_VALUES` (else None).
    """

    kind: str  # "numeric" or "categorical"
    count: int
    mean: float = 0.0  # numeric: mean and sum of squared deviations (merged as Chan et al.)
    squares: float = 0.0
    minimum: float | None = None  # numeric, as float
    maximum: float | None = None
    counts: pl.DataFrame | None = None
    first: object = None  # a value of the sample (the one a constant sample is named by)
    quantiles: tuple[tuple[float, float], ...] = ()  # (value, weight): a coarse picture of the values

    @property
    def std(self) -> float:
        """The population standard deviation (``np.std``)."""
        return math.sqrt(self.squares / self.count) if self.count else math.nan

    def distinct(self, limit: int) -> int:
        """The number of distinct values, or `limit` when it is at least that."""
        return limit if self.counts is None else min(limit, self.counts.height)


@dataclass(frozen=True)
class Spec:
    """Decided from the two merged summaries: the test, and what pass 2 computes.

    ``needs_ranges``: KS or Wasserstein, from pieces over the ranges cut at `boundaries`.
    ``needs_counts``: a count test of a numeric feature, from ``bin_counts`` (over the Sturges
    bins `edges`, or per value when `edges` is None). Neither: the summaries suffice.
    """

    kind: str
    test: str
    threshold: float
    offline: int  # sample sizes
    online: int
    boundaries: tuple[float, ...] = ()  # range r holds boundaries[r - 1] <= x < boundaries[r]
    edges: tuple[float, ...] | None = None
    needs_counts: bool = False
    plot_edges: tuple[float, ...] | None = None  # numeric: the bins of the report's histogram

    @property
    def needs_ranges(self) -> bool:
        return self.test in NUMERIC_ONLY_TESTS and bool(self.offline and self.online)

    @property
    def ranges(self) -> int:
        return len(self.boundaries) + 1

    def range_of(self, values: pl.Series) -> pl.Series:
        """The range (UInt32, 0 .. ranges - 1) of every value."""
        index = np.searchsorted(np.asarray(self.boundaries, dtype=np.float64), floats(values), side="right")
        return pl.Series(values.name, index, dtype=pl.UInt32)


# What `piece` holds per value of a range, both sides' values included: measured 8 bytes of input and
# 61 of sorts, union and searches (4M + 4M values); the margin is for the allocator and uneven ranges.
RANGE_BYTES_PER_VALUE = 144


@dataclass(frozen=True)
class Piece:
    """Pass 2, one range: its share of the KS statistic and of the Wasserstein area.

    CDF differences are kept as integers, ``i * m - j * n`` for i offline and j online values at
    or below a point (n, m the sample sizes), so the KS maximum is found exactly.
    """

    index: int
    ks_max: tuple[int, int, int] | None  # (difference, i, j) at the largest and the smallest difference
    ks_min: tuple[int, int, int] | None
    area: float  # sum over the range's points of |difference| * gap to the next point of the range
    lowest: float | None  # the range's smallest and largest value (None when empty)
    highest: float | None
    tail: int  # |difference| after the range's largest value


def summarize(values: pl.Series, *, kind: str) -> Summary:
    """Pass 1 on one partition of a sample: finite values only (as `finite_values` gives them)."""
    check_kind(kind, values)
    if values.is_empty():
        return Summary(kind, 0)
    first = values[0]
    if kind == "categorical":
        return Summary(kind, values.len(), counts=_count_values(values), first=first)
    x = np.sort(floats(values))
    mean = float(x.mean())
    squares = float(np.sum((x - mean) ** 2))
    picks = np.unique(np.linspace(0, x.size - 1, min(QUANTILE_SAMPLE, x.size)).round().astype(np.int64))
    weight = x.size / picks.size
    few = values.head(10_000).n_unique() < FEW_VALUES and values.n_unique() <= FEW_VALUES
    return Summary(
        kind,
        values.len(),
        mean,
        squares,
        float(x[0]),
        float(x[-1]),
        _count_values(values) if few else None,
        first,
        tuple((float(x[i]), weight) for i in picks),
    )


def _count_values(values: pl.Series) -> pl.DataFrame:
    return values.rename("value").value_counts(name="count").with_columns(pl.col("count").cast(pl.Int64))


def merge_summaries(summaries: Iterable[Summary]) -> Summary:
    """Summaries of partitions of one sample -> the summary of the whole sample (any order)."""
    parts = [s for s in summaries if s.count]
    if not parts:
        return Summary("numeric", 0)
    kind, count = parts[0].kind, sum(s.count for s in parts)
    tables = [s.counts for s in parts]
    counts = None
    if all(t is not None for t in tables):
        counts = pl.concat(tables).group_by("value").agg(pl.col("count").sum())
        if kind == "numeric" and counts.height > FEW_VALUES:
            counts = None
    first = parts[0].first  # a constant sample holds one value, whichever partition names it
    if kind == "categorical":
        return Summary(kind, count, counts=counts, first=first)
    mean = sum(s.mean * s.count for s in parts) / count
    squares = sum(s.squares + s.count * (s.mean - mean) * (s.mean - mean) for s in parts)
    points = sorted(p for s in parts for p in s.quantiles)
    return Summary(
        kind,
        count,
        mean,
        squares,
        min(s.minimum for s in parts),
        max(s.maximum for s in parts),
        counts,
        first,
        _thin(points),
    )


def _thin(points: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """At most `QUANTILE_SAMPLE` weighted points with the same total weight, evenly spread."""
    if len(points) <= QUANTILE_SAMPLE:
        return tuple(points)
    values = np.array([v for v, _ in points])
    weights = np.array([w for _, w in points])
    cut = np.searchsorted(np.cumsum(weights), np.linspace(0, weights.sum(), QUANTILE_SAMPLE, endpoint=False))
    groups = np.unique(np.minimum(cut, len(points) - 1))
    sums = np.add.reduceat(weights, groups)
    return tuple(zip(values[groups].tolist(), sums.tolist()))


def spec(kind: str, offline: Summary, online: Summary, *, test: str | None = None, ranges: int = 16) -> Spec:
    """The test `distribution_test` would run on the whole samples, and what pass 2 needs for it.

    Raises ValueError as `distribution_test` does (unknown test, a numeric-only test on a
    categorical feature).
    """
    check_kind(kind)
    if test is None:
        few = _distinct_over_both(offline, online, 6) if kind == "numeric" else 0
        test = default_test(kind, offline.count, few)
    elif test not in TESTS:
        raise ValueError(f"unknown test {test!r}: expected one of {', '.join(TESTS)}")
    if test in NUMERIC_ONLY_TESTS and kind != "numeric":
        raise ValueError(f"test {test!r} needs a numeric feature, got kind {kind!r}")
    base = Spec(kind, test, DEFAULT_THRESHOLDS[test], offline.count, online.count)
    if not (offline.count and online.count):
        return base
    if kind == "numeric":
        low, high = min(offline.minimum, online.minimum), max(offline.maximum, online.maximum)
        base = Spec(**{**base.__dict__, "plot_edges": tuple(plot_edges(low, high).tolist())})
    if test in NUMERIC_ONLY_TESTS:
        return Spec(**{**base.__dict__, "boundaries": _boundaries(offline, online, ranges)})
    if kind == "categorical":
        return base
    edges = None
    if offline.distinct(_BINNED_ABOVE + 1) > _BINNED_ABOVE:
        edges = tuple(
            _sturges_edges(
                min(offline.minimum, online.minimum), max(offline.maximum, online.maximum), offline.count + online.count
            ).tolist()
        )
    return Spec(**{**base.__dict__, "edges": edges, "needs_counts": True})


def _distinct_over_both(offline: Summary, online: Summary, limit: int) -> int:
    if offline.counts is None or online.counts is None:
        return limit
    values = pl.concat([s.counts.get_column("value").cast(pl.Float64) for s in (offline, online)])
    return min(limit, values.n_unique())


def _boundaries(offline: Summary, online: Summary, ranges: int) -> tuple[float, ...]:
    """Up to `ranges - 1` increasing cut points at quantiles of both samples (for balance only)."""
    points = sorted(offline.quantiles + online.quantiles)
    values = np.array([v for v, _ in points])
    cumulative = np.cumsum([w for _, w in points])
    at = np.searchsorted(cumulative, cumulative[-1] * np.arange(1, ranges) / ranges)
    cuts = np.unique(values[np.minimum(at, values.size - 1)])
    return tuple(float(c) for c in cuts if c > values[0])


def _sturges_edges(low: float, high: float, size: int) -> np.ndarray:
    """``np.histogram_bin_edges(x, bins="sturges")`` of float values x with this min, max and size."""
    low, high = np.float64(low), np.float64(high)
    width = (high - low) / (np.log2(size) + 1.0)
    if low == high:
        low, high = low - 0.5, high + 0.5
    bins = int(np.ceil((high - low) / width)) if width else 1
    return np.linspace(low, high, bins + 1, endpoint=True, dtype=np.float64)


def bin_counts(spec: Spec, values: pl.Series) -> pl.DataFrame:
    """Pass 2 of a numeric count test, one partition: counts per bin (``bin``, ``count``), per
    Sturges bin index or per value. They add up over partitions (``merge_counts``)."""
    if spec.edges is None:
        return _count_values(values).rename({"value": "bin"})
    counts = count_in_bins(floats(values), np.asarray(spec.edges))
    return pl.DataFrame({"bin": np.arange(counts.size, dtype=np.int64), "count": counts.astype(np.int64)})


def merge_counts(tables: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """Bin counts of partitions -> the bin counts of the sample."""
    return pl.concat(list(tables)).group_by("bin").agg(pl.col("count").sum())


def counts_before(counts: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Given the (offline, online) counts of every range in order, the counts in the ranges before each."""
    before, a, b = [], 0, 0
    for offline, online in counts:
        before.append((a, b))
        a, b = a + offline, b + online
    return before


def piece(spec: Spec, index: int, offline: pl.Series, online: pl.Series, before: tuple[int, int]) -> Piece:
    """Pass 2, range `index`: all values of both sides in it, and the counts of each side below it."""
    u, v = pl.Series(sorted_floats(offline)), pl.Series(sorted_floats(online))
    points = _union(u.to_numpy(), v.to_numpy())
    if not points.size:
        return Piece(index, None, None, 0.0, None, None, 0)
    found = pl.Series(points)  # polars searches a sorted column on all cores, NumPy on one
    i = before[0] + u.search_sorted(found, side="right").to_numpy().astype(np.int64)
    j = before[1] + v.search_sorted(found, side="right").to_numpy().astype(np.int64)
    diff = i * spec.online - j * spec.offline
    top, bottom = int(np.argmax(diff)), int(np.argmin(diff))
    area = float(np.sum(np.abs(diff[:-1]).astype(np.float64) * np.diff(points)))
    return Piece(
        index,
        (int(diff[top]), int(i[top]), int(j[top])),
        (int(diff[bottom]), int(i[bottom]), int(j[bottom])),
        area,
        float(points[0]),
        float(points[-1]),
        abs(int(diff[-1])),
    )


def _union(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The distinct values of two sorted arrays, sorted. A stable sort of their concatenation is a merge
    of two runs (timsort), linear, where ``np.unique`` would sort it again."""
    both = np.concatenate([u, v])
    both.sort(kind="stable")
    keep = np.empty(both.size, dtype=bool)
    keep[:1] = True
    np.not_equal(both[1:], both[:-1], out=keep[1:])
    return both[keep]


def combine(
    spec: Spec,
    offline: Summary,
    online: Summary,
    *,
    pieces: Sequence[Piece] = (),
    counts: tuple[pl.DataFrame, pl.DataFrame] | None = None,
) -> TestResult:
    """The `TestResult` of `distribution_test` on the whole samples, from the merged summaries and
    the pass-2 pieces (KS, Wasserstein) or merged bin counts (numeric count tests); with its warnings."""
    test, threshold = spec.test, spec.threshold
    if not (offline.count and online.count):
        warn_empty([name for name, s in (("offline", offline), ("online", online)) if not s.count], stacklevel=3)
        return TestResult(test, math.nan, math.nan if test in ("ks", "chisquare") else None, threshold, drifted=False)
    warn_constant(
        [(name, s.first) for name, s in (("offline", offline), ("online", online)) if _constant(s)], stacklevel=3
    )
    if test == "ks":
        statistic, p_value = _ks(spec, pieces)
        return TestResult(test, statistic, p_value, threshold, drifted=bool(p_value <= threshold))
    if test == "wasserstein":
        statistic = _wasserstein(spec, pieces) / max(offline.std, MIN_NORM)
        return TestResult(test, statistic, None, threshold, drifted=bool(statistic >= threshold))
    reference, current = _bins(spec, offline, online, counts)
    if test == "chisquare":
        statistic, p_value = chi_squared_counts(reference, current)
        return TestResult(test, statistic, p_value, threshold, drifted=bool(p_value < threshold))
    statistic = frequency_distance(test, reference / spec.offline, current / spec.online)
    return TestResult(test, statistic, None, threshold, drifted=bool(statistic >= threshold))


def _constant(summary: Summary) -> bool:
    return summary.minimum == summary.maximum if summary.kind == "numeric" else summary.counts.height == 1


def _ks(spec: Spec, pieces: Sequence[Piece]) -> tuple[float, float]:
    """SciPy's two-sided ``ks_2samp(method="auto")`` from the largest and smallest CDF differences."""
    found = [p for p in pieces if p.ks_max is not None]
    n, m = spec.offline, spec.online
    _, i, j = max(p.ks_max for p in found)
    high = i / n - j / m
    _, i, j = min(p.ks_min for p in found)
    low = min(max(-(i / n - j / m), 0.0), 1.0)
    return ks_p_value(max(high, low), n, m)


def _wasserstein(spec: Spec, pieces: Sequence[Piece]) -> float:
    """The area between the two CDFs, range by range, with the gaps between ranges."""
    found = sorted((p for p in pieces if p.lowest is not None), key=lambda p: p.index)
    area = sum(p.area for p in found)
    area += sum(p.tail * (q.lowest - p.highest) for p, q in itertools.pairwise(found))
    return area / (spec.offline * spec.online)


def _bins(
    spec: Spec, offline: Summary, online: Summary, counts: tuple[pl.DataFrame, pl.DataFrame] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Both samples' counts over the shared bins, in the order `frequencies` uses."""
    if spec.edges is not None:
        size = len(spec.edges) - 1
        return tuple(_dense(table, size) for table in counts)
    if spec.kind == "numeric":
        return value_table(*(table.rename({"bin": "value"}) for table in counts))[1:]
    return value_table(offline.counts, online.counts)[1:]


def value_table(left: pl.DataFrame, right: pl.DataFrame) -> tuple[pl.Series, np.ndarray, np.ndarray]:
    """The distinct values of two value-count tables (sorted, in one type) and each side's counts."""
    if left.schema["value"] != right.schema["value"]:
        common = pl.Float64 if left.schema["value"].is_numeric() and right.schema["value"].is_numeric() else pl.String
        left, right = (t.with_columns(pl.col("value").cast(common)) for t in (left, right))
    table = (
        left.rename({"count": "offline"})
        .join(right.rename({"count": "online"}), on="value", how="full", coalesce=True)
        .fill_null(0)
        .sort("value")
    )
    return table["value"], table["offline"].to_numpy().astype(np.int64), table["online"].to_numpy().astype(np.int64)


def _dense(table: pl.DataFrame, size: int) -> np.ndarray:
    counts = np.zeros(size, dtype=np.int64)
    counts[table["bin"].to_numpy()] = table["count"].to_numpy()
    return counts


def exact_test(
    offline: Sequence[pl.Series], online: Sequence[pl.Series], *, kind: str, test: str | None = None, ranges: int = 16
) -> TestResult:
    """Both passes over in-memory partitions of the two samples (finite values): the reference use
    of this module, which the engines follow with their own ways of moving the values."""
    summaries = [merge_summaries(summarize(part, kind=kind) for part in side) for side in (offline, online)]
    chosen = spec(kind, *summaries, test=test, ranges=ranges)
    found = pass_two(chosen, offline, online)
    return combine(chosen, *summaries, pieces=found["pieces"], counts=found["counts"])


def plot_counts(spec: Spec, values: pl.Series) -> np.ndarray:
    """Counts of one partition over the histogram bins of a numeric feature (they add up)."""
    return count_in_bins(floats(values), np.asarray(spec.plot_edges))


def pass_two(chosen: Spec, offline: Sequence[pl.Series], online: Sequence[pl.Series]) -> dict:
    """Pass 2 over in-memory partitions: the ``pieces`` and ``counts`` of `combine`, and the ``plot``
    counts (offline, online) of a numeric feature's histogram."""
    pieces, counts, plot = (), None, None
    if chosen.plot_edges is not None:
        plot = tuple(sum(plot_counts(chosen, part) for part in side) for side in (offline, online))
    if chosen.needs_ranges:
        per_range = [
            [pl.concat([part.filter(chosen.range_of(part) == r) for part in side]) for side in (offline, online)]
            for r in range(chosen.ranges)
        ]
        before = counts_before([(off.len(), on.len()) for off, on in per_range])
        pieces = [piece(chosen, r, off, on, before[r]) for r, (off, on) in enumerate(per_range)]
    if chosen.needs_counts:
        counts = tuple(merge_counts(bin_counts(chosen, part) for part in side) for side in (offline, online))
    return {"pieces": pieces, "counts": counts, "plot": plot}
