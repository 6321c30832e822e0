"""The bucketed comparison: compare pairs of key-hash buckets, merge their small partials into the
`SkewReport` that `compare()` gives on the whole data, JSON for JSON (apart from timings).

The engines that do not hold the data in memory (out of core on one machine, Dask) stand on this:

1. ``p = plan(offline, online, keys=..., timestamp=..., ...)`` (the arguments of `compare`), on the
   client. It reads schemas only (and counts rows) and decides everything schema-level once:
   feature names, kinds, dtypes and casts, the join columns and their common types, the settings.
   A `Plan` is picklable.
2. Split both sides into buckets with ``bucket_of(p, side, buckets)``: a polars expression giving
   every row's bucket (UInt32) from a hash of its key columns, cast to the type both sides share
   (never the timestamp: a key's whole history lands in one bucket, on both sides; null keys hash
   too). Before splitting, number the rows of each input in its order (0, 1, ...) in the column
   ``ROW`` (e.g. ``frame.with_row_index(ROW)``): a bucket frame must carry it, so that the first row
   of a duplicated key, and every choice that depends on row order, is the one `compare()` makes.
3. ``partial = compare_bucket(p, offline_frame, online_frame)`` on every pair of bucket frames
   (polars DataFrames, in any row order, holding ``ROW``, the keys, the timestamp and the plan's
   features present on that side; other columns are ignored). A bucket may be empty on one side or
   both. The `BucketPartial` is small and picklable: additive counts, the first `examples`
   mismatching pairs in key order, a bounded sample of mismatching pairs chosen by key hash (the
   sample `compare()` diagnoses), and the pass-1 `Summary` of every feature's distribution values.
4. Distributions, exact in two passes (see `_stats.ranges`): merge the partials' summaries
   (``merge_summaries``), ``distribution_specs(p, partials)`` -> the `Spec` of every feature; then
   for pass 2, ``distribution_values(p, offline_frame, online_frame)`` gives, per bucket, each
   feature's values as its test sees them (as of join: the offline rows that were served), to be
   split by ``spec.range_of`` and reduced to pieces and bin counts; ``ranges.combine`` -> the
   `TestResult` per feature.
5. ``merge(p, partials, distributions)`` -> the `SkewReport`, where `distributions` maps a feature
   name to its `TestResult` (None where no test ran). Partials may come in any order.

``compare_in_buckets(offline, online, buckets=B, **compare_kwargs)`` runs all of it in memory: the
test oracle, and the sequence the spill and Dask engines follow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from ._model import SkewReport, TestResult
from ._stats.ranges import Spec, Summary

ROW = "__skewcheck_row"  # the global row number of a bucket frame's rows (0-based, input order)


@dataclass(frozen=True)
class Plan:
    """Everything schema-level, decided once on the client: picklable."""

    keys: tuple[str, ...]
    timestamp: str | None
    features: tuple[str, ...]
    offline_schema: dict[str, pl.DataType]
    online_schema: dict[str, pl.DataType]
    offline_label: str
    online_label: str
    options: dict[str, Any]  # the checked arguments of `compare` (settings, asof, tolerance, fail_on)


@dataclass(frozen=True)
class BucketPartial:
    """What one pair of buckets contributes: counts that add, bounded samples that merge."""

    rows: dict[str, int]
    features: dict[str, Any]


def plan(offline: Any, online: Any, **compare_kwargs: Any) -> Plan:
    """Check the arguments as `compare` does and decide the schema-level part of the comparison."""
    raise NotImplementedError


def bucket_of(plan: Plan, side: str, buckets: int) -> pl.Expr:
    """The bucket (UInt32, 0 .. buckets - 1) of every row of `side` ("offline" or "online"): a hash of
    its keys cast to their common type, the same on both sides and in every process."""
    raise NotImplementedError


def compare_bucket(plan: Plan, offline: pl.DataFrame, online: pl.DataFrame) -> BucketPartial:
    """Compare one pair of buckets (every row of their keys, on both sides)."""
    raise NotImplementedError


def distribution_specs(plan: Plan, partials: Iterable[BucketPartial], *, ranges: int = 16) -> dict[str, Spec]:
    """Pass 1 merged: the test and the pass-2 ranges or bins of every tested feature."""
    raise NotImplementedError


def summaries(plan: Plan, partials: Iterable[BucketPartial]) -> dict[str, tuple[Summary, Summary]]:
    """The merged pass-1 summaries (offline, online) of every tested feature."""
    raise NotImplementedError


def distribution_values(
    plan: Plan, offline: pl.DataFrame, online: pl.DataFrame
) -> dict[str, tuple[pl.Series, pl.Series]]:
    """Pass 2 input of one pair of buckets: each tested feature's values as its test sees them."""
    raise NotImplementedError


def merge(plan: Plan, partials: Iterable[BucketPartial], distributions: Mapping[str, TestResult | None]) -> SkewReport:
    """The partials of all buckets (any order) and the distribution tests -> the `SkewReport`."""
    raise NotImplementedError


def compare_in_buckets(offline: Any, online: Any, *, buckets: int = 4, **compare_kwargs: Any) -> SkewReport:
    """`compare()` computed bucket by bucket in memory: equal to it, JSON for JSON."""
    raise NotImplementedError
