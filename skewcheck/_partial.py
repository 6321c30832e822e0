"""The bucketed comparison: pairs of key-hash buckets compared one by one, their small partials merged
into the `SkewReport` that `compare()` gives on the whole data, JSON for JSON (apart from timings).

The engines that do not hold the data in memory (out of core, Dask) follow `compare_in_buckets`:

1. ``p = plan(offline, online, **compare_kwargs)`` on the client: `compare`'s keyword arguments,
   checked as it checks them; reads schemas and row counts only. A `Plan` is picklable;
   ``p.columns(side)`` are the columns a bucket frame of that side needs.
2. Number each input's rows in input order in the column ``ROW`` (``with_row_index(ROW)``), and
   split both sides by ``bucket_of(p, side, buckets)`` (an expression: a hash of the keys cast to
   their common type, never the timestamp, so a key's whole history is in one bucket; null keys
   hash too; the same in every process of one polars version).
3. ``compare_bucket(p, offline, online) -> BucketPartial`` per pair of buckets: polars DataFrames of
   ``ROW`` and ``p.columns(side)``, in any row order; either may be empty (but has the columns).
   Picklable and small: counts, the bucket's first examples in key order, its diagnosis and
   scatter samples chosen by key hash, pass-1 summaries of each feature's distribution.
4. ``specs = distribution_specs(p, partials)``: the test and pass-2 plan (`Spec`) per feature.
   Pass 2 per bucket: ``distribution_values(p, offline, online, specs)`` -> feature -> (offline,
   online) values as the test sees them; then, as `_stats.ranges.pass_two` does in memory: for
   ``spec.needs_ranges`` split by ``spec.range_of``, gather each range over all buckets, count,
   ``counts_before``, ``piece``; for ``spec.needs_counts`` ``bin_counts`` per bucket and
   ``merge_counts``; for ``spec.plot_edges`` (the report's histogram) ``plot_counts`` per bucket,
   added. Wrap each as ``Distribution(spec, pieces=..., counts=..., plot=(offline, online))``.
5. Only when few rows joined: ``n = rows_to_diagnose(p, partials)`` is not None, and one more
   pass gives ``rows_evidence(p, offline, online, n)`` per bucket (why few rows joined).
6. ``merge(p, partials, distributions, rows_evidence) -> SkewReport`` (any order), which raises
   the warnings `compare()` raises.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

from ._align import HASH_SEED, OFFLINE_ROW, align, join_columns
from ._columns import finite_values, kind_of
from ._diagnose_rows import RowsEvidence, merge_evidence, needs_rows_diagnosis, rows_diagnosis
from ._diagnose_rows import rows_evidence as diagnose_rows_evidence
from ._errors import SkewcheckInputError, SkewcheckWarning
from ._feature import (
    RawSide,
    Settings,
    meet_types,
)
from ._feature_partial import ROW, FeaturePartial, feature_partial, join_names, merge_feature
from ._io import Source
from ._model import RowCounts, SkewReport, Verdict
from ._run import recorded_warnings
from ._settings import check_compare
from ._stats import ranges as stats_ranges
from ._stats.ranges import Piece, Spec, Summary

BUCKET_SEED = HASH_SEED + 1  # not the seed of the pairs' KEY_HASH: a bucket's sample hashes stay uniform
_BUCKET = "__skewcheck_bucket"


@dataclass(frozen=True)
class Plan:
    """Everything schema-level, decided once on the client: picklable."""

    keys: tuple[str, ...]
    timestamp: str | None
    features: tuple[str, ...]
    offline_schema: dict[str, pl.DataType]
    online_schema: dict[str, pl.DataType]
    key_types: dict[str, pl.DataType]  # the type both sides' keys are cast to, hashed by `bucket_of`
    offline_label: str
    online_label: str
    settings: Settings
    asof: bool = False
    tolerance: timedelta | None = None
    fail_on: str = "skew"
    report_settings: dict[str, Any] = field(default_factory=dict)

    def columns(self, side: str) -> list[str]:
        """The columns of `side` a bucket frame holds besides `ROW`: keys, timestamp, its features."""
        schema = self.offline_schema if side == "offline" else self.online_schema
        reserved = [*self.keys, *([self.timestamp] if self.timestamp else [])]
        return reserved + [name for name in self.features if name in schema]


@dataclass(frozen=True)
class BucketPartial:
    """What one pair of buckets contributes: row counts that add, and each feature's partial."""

    rows: dict[str, int]
    features: dict[str, FeaturePartial]


@dataclass(frozen=True)
class Distribution:
    """Pass 2 of one feature's test, as an engine computed it: the spec, and pieces or bin counts."""

    spec: Spec
    pieces: tuple[Piece, ...] = ()
    counts: tuple[pl.DataFrame, pl.DataFrame] | None = None
    plot: tuple[np.ndarray, np.ndarray] | None = None  # numeric: `ranges.plot_counts` of each side, added up


def plan(offline: Any, online: Any, *, sources: tuple[Source, Source] | None = None, **compare_kwargs: Any) -> Plan:
    """Check the arguments as `compare` does (the same keyword arguments; `progress` is ignored) and
    decide the schema-level part. Reads schemas and row counts only; not even those when `sources`
    holds the inputs as `compare` loaded them (with their filters)."""
    from ._compare import _feature_names, compare_arguments, compare_settings, load_sides, report_settings, side_wheres
    from ._profile import is_profile

    args = compare_arguments(**compare_kwargs)
    checked = check_compare(**args)
    if is_profile(offline):
        raise SkewcheckInputError("an offline profile is compared in memory, not bucket by bucket")
    wheres = side_wheres(args["where"], args["where_offline"], args["where_online"])
    off, on = sources if sources is not None else load_sides(offline, online, wheres)
    keys, timestamp = checked.keys, args["timestamp"]
    names = _feature_names(off, on, keys, timestamp, checked.features)
    key_types = {}
    if keys:
        if args["asof"] and timestamp is None:
            raise SkewcheckInputError("an as-of join (`asof`) needs a `timestamp`")
        casts = join_columns(off, on, keys, timestamp)
        cast_schema = off.frame.select(cast.alias(k) for cast, k in zip(casts, keys)).collect_schema()
        key_types = dict(cast_schema.items())
    used = [*keys, *([timestamp] if timestamp else []), *names]
    return Plan(
        tuple(keys),
        timestamp,
        tuple(names),
        {c: off.schema[c] for c in used if c in off.schema},
        {c: on.schema[c] for c in used if c in on.schema},
        key_types,
        off.label,
        on.label,
        compare_settings(args),
        args["asof"],
        checked.asof_tolerance,
        checked.fail_on,
        report_settings(**args),
    )


def bucket_of(plan: Plan, side: str, buckets: int) -> pl.Expr:
    """The bucket (UInt32, 0 .. buckets - 1) of every row of `side` ("offline" or "online"): a hash of
    its keys cast to their common type, the same on both sides and in every process (the same
    polars version). Without keys, rows have no partners: any split will do (by `ROW`)."""
    if not plan.keys:
        return (pl.col(ROW).hash(BUCKET_SEED) % buckets).cast(pl.UInt32).alias(_BUCKET)
    schema = plan.offline_schema if side == "offline" else plan.online_schema
    columns = [pl.col(k) if schema[k] == plan.key_types[k] else pl.col(k).cast(plan.key_types[k]) for k in plan.keys]
    return (pl.struct(columns).hash(BUCKET_SEED) % buckets).cast(pl.UInt32).alias(_BUCKET)


def _source(frame: pl.DataFrame, label: str) -> Source:
    frame = frame.sort(ROW)  # the input's row order: the first row of a duplicated key is its first
    return Source(frame.lazy(), frame.schema, frame.height, label)


def _aligned(plan: Plan, offline: pl.DataFrame, online: pl.DataFrame):
    off, on = _source(offline, plan.offline_label), _source(online, plan.online_label)
    alignment = None
    if plan.keys:
        keys, timestamp = list(plan.keys), plan.timestamp
        alignment = align(off, on, keys=keys, timestamp=timestamp, asof=plan.asof, tolerance=plan.tolerance)
    return off.frame.collect(), on.frame.collect(), alignment


def compare_bucket(plan: Plan, offline: pl.DataFrame, online: pl.DataFrame) -> BucketPartial:
    """Compare one pair of buckets: every row of their keys, on both sides (see the module docstring)."""
    off, on, alignment = _aligned(plan, offline, online)
    rows = {}
    if alignment is not None:
        rows = {k: v for k, v in asdict(alignment.counts).items() if k != "diagnosis"}
    features = {name: feature_partial(plan, name, off, on, alignment) for name in plan.features}
    return BucketPartial(rows, features)


def summaries(plan: Plan, partials: Sequence[BucketPartial]) -> dict[str, tuple[Summary, Summary]]:
    """The merged pass-1 summaries (offline, online) of every feature whose test may run."""
    merged = {}
    for name in plan.features:
        found = [p.features[name].summaries for p in partials]
        if found and all(s is not None for s in found):
            merged[name] = tuple(stats_ranges.merge_summaries(s[i] for s in found) for i in (0, 1))
    return merged


def distribution_specs(plan: Plan, partials: Sequence[BucketPartial], *, ranges: int = 16) -> dict[str, Spec]:
    """Pass 1 merged: the test and the pass-2 ranges or bins of every feature whose test runs."""
    specs = {}
    for name, (offline, online) in summaries(plan, partials).items():
        if offline.count and online.count:
            test = plan.settings.test_for(name, offline.kind)
            specs[name] = stats_ranges.spec(offline.kind, offline, online, test=test, ranges=ranges)
    return specs


def distribution_values(
    plan: Plan, offline: pl.DataFrame, online: pl.DataFrame, names: Iterable[str] | None = None
) -> dict[str, tuple[pl.Series, pl.Series]]:
    """Pass 2 input of one pair of buckets: each feature's values as its test sees them (finite;
    as of, the offline rows that were served), for the features `names` (default: all)."""
    off_frame, on_frame, alignment = _aligned(plan, offline, online) if plan.asof else (offline, online, None)
    found = {}
    for name in plan.features if names is None else names:
        off, on = off_frame.get_column(name), on_frame.get_column(name)
        side, on, kind, _, _, _ = meet_types(RawSide(off), on, kind_of(off.dtype))
        values = side.series
        if alignment is not None:
            values = values.gather(alignment.pairs.get_column(OFFLINE_ROW))
        found[name] = (finite_values(values, kind), finite_values(on, kind))
    return found


def rows_to_diagnose(plan: Plan, partials: Iterable[BucketPartial]) -> int | None:
    """When few rows joined (and `diagnose`), the online row count `rows_evidence` needs; else None:
    then an engine makes one more pass over the buckets for `merge`'s `rows_evidence`."""
    partials = list(partials)
    if not (plan.keys and plan.settings.diagnose):
        return None
    matched, online = (sum(p.rows[k] for p in partials) for k in ("matched", "online"))
    return online if needs_rows_diagnosis(matched, online) else None


def rows_evidence(plan: Plan, offline: pl.DataFrame, online: pl.DataFrame, online_rows: int) -> RowsEvidence:
    """Why few rows joined, as one pair of buckets tells it (`online_rows` from `rows_to_diagnose`)."""
    _, _, alignment = _aligned(plan, offline, online)
    keys, timestamp = list(alignment.keys), alignment.timestamp
    return diagnose_rows_evidence(alignment.offline_keys, alignment.online_keys, keys, timestamp, online_rows)


def merge(
    plan: Plan,
    partials: Iterable[BucketPartial],
    distributions: Mapping[str, Distribution],
    rows_evidence: Iterable[RowsEvidence] = (),
) -> SkewReport:
    """The partials of all buckets (any order) and each tested feature's pass 2 -> the `SkewReport`
    `compare()` gives, with the same warnings (raised again here, as `compare()` raises them).
    When `rows_to_diagnose` says so, `rows_evidence` holds every bucket's."""
    from ._compare import build_report

    partials = list(partials)
    rows = None
    if plan.keys:
        rows = RowCounts(**{k: sum(p.rows[k] for p in partials) for k in partials[0].rows})
        if rows_to_diagnose(plan, partials) is not None:
            evidence = merge_evidence(rows_evidence)
            on, names = join_names(plan)
            keys, timestamp = on[: len(plan.keys)], on[-1] if plan.timestamp else None
            found = rows_diagnosis(evidence, keys, timestamp, rows.matched, rows.online, names)
            rows = replace(rows, diagnosis=found)
    merged = summaries(plan, partials)
    with recorded_warnings() as recorded:
        results = [
            merge_feature(plan, name, [p.features[name] for p in partials], merged.get(name), distributions.get(name))
            for name in plan.features
        ]
    notes = tuple(recorded)
    for note in notes:
        warnings.warn(note, SkewcheckWarning, stacklevel=2)
    return build_report(
        results,
        notes,
        rows=rows,
        keys=list(plan.keys),
        timestamp=plan.timestamp,
        asof=plan.asof,
        labels=(plan.offline_label, plan.online_label),
        settings=plan.report_settings,
        gate=Verdict(plan.fail_on),
    )


def compare_in_buckets(offline: Any, online: Any, *, buckets: int = 4, **compare_kwargs: Any) -> SkewReport:
    """`compare()` computed bucket by bucket in memory, in the sequence the engines follow: equal to
    it, JSON for JSON. The test oracle of the bucketed path."""
    from ._compare import load_sides, side_wheres

    chosen = plan(offline, online, **compare_kwargs)
    wheres = side_wheres(*(compare_kwargs.get(k) for k in ("where", "where_offline", "where_online")))
    frames = []
    for side, source in zip(("offline", "online"), load_sides(offline, online, wheres)):
        whole = (
            source.frame.select(chosen.columns(side)).with_row_index(ROW).with_columns(bucket_of(chosen, side, buckets))
        )
        split = whole.collect().partition_by(_BUCKET, as_dict=True, include_key=False)
        empty = whole.drop(_BUCKET).clear().collect()
        frames.append([split.get((b,), empty) for b in range(buckets)])
    pairs = list(zip(*frames))
    partials = [compare_bucket(chosen, off, on) for off, on in pairs]
    specs = distribution_specs(chosen, partials)
    values = [distribution_values(chosen, off, on, specs) for off, on in pairs]
    distributions = {
        name: Distribution(spec, **stats_ranges.pass_two(spec, *([v[name][i] for v in values] for i in (0, 1))))
        for name, spec in specs.items()
    }
    evidence = []
    online_rows = rows_to_diagnose(chosen, partials)
    if online_rows is not None:
        evidence = [rows_evidence(chosen, off, on, online_rows) for off, on in pairs]
    return merge(chosen, partials, distributions, evidence)
