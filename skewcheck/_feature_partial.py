"""One feature in one pair of key-hash buckets (`FeaturePartial`), and the merge of its partials into
the `FeatureResult` that `judge` gives on the whole data, through `judge`'s own steps (`meet_types`,
`needs_diagnosis`, `conclude` ...). The bucketed comparison itself is `_partial`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from ._align import JOIN_PREFIX, OFFLINE_ROW, ONLINE_ROW
from ._columns import finite_values, kind_of
from ._diagnose import type_agreement, type_diagnosis
from ._feature import (
    TESTED_KINDS,
    Evidence,
    RawSide,
    conclude,
    domain_gap,
    meet_types,
    missing_reason,
    needs_diagnosis,
    unjudged,
    warn_no_values,
)
from ._model import FeatureResult, Histogram, NullRates, Reason, ValueResult
from ._stats import ranges
from ._stats.counts import category_histogram
from ._stats.ranges import Summary
from ._values import (
    agreement,
    diagnose_sample,
    diagnosis_sample,
    example_candidates,
    examples,
    first_of_groups,
    history_lookup,
    scatter,
    scatter_candidates,
    with_lags,
)

if TYPE_CHECKING:
    from ._partial import Distribution, Plan

ROW = "__skewcheck_row"  # the global row number of a bucket frame's rows (0-based, input order)


@dataclass(frozen=True)
class FeaturePartial:
    """One feature in one pair of buckets; counts are (rows, nulls, NaN) of a column."""

    offline: tuple[int, int, int]
    online: tuple[int, int, int]
    served: tuple[int, int, int] | None = None  # as of: the offline rows that were served
    values: dict[str, Any] | None = None  # compared, mismatched, null_offline_only, null_online_only, max_diff
    examples: pl.DataFrame | None = None  # the bucket's first mismatching pairs in key order
    scatter: pl.DataFrame | None = None  # its scatter candidates
    sample: pl.DataFrame | None = None  # its diagnosis sample (with stale lags)
    same_type: tuple[int, tuple | None] | None = None  # type mismatch: pairs of the same value; first pair
    summaries: tuple[Summary, Summary] | None = None  # pass 1 of the distribution test


def _counts(series: pl.Series | None) -> tuple[int, int, int]:
    if series is None:
        return 0, 0, 0
    nans = int(series.is_nan().sum()) if series.dtype.is_float() else 0
    return series.len(), series.null_count(), nans


def feature_partial(
    plan: Plan, name: str, off_frame: pl.DataFrame, on_frame: pl.DataFrame, alignment
) -> FeaturePartial:
    """`judge`'s gathering for one feature, on one bucket: what merges into its result."""
    off = off_frame.get_column(name) if name in plan.offline_schema else None
    on = on_frame.get_column(name) if name in plan.online_schema else None
    counted = {"offline": _counts(off), "online": _counts(on)}
    if off is None or on is None or pl.Null in (off.dtype, on.dtype):
        return FeaturePartial(**counted)
    side, on, kind, reasons, _, testable = meet_types(RawSide(off), on, kind_of(off.dtype))
    found: dict[str, Any] = {}
    if alignment is not None:
        settings, pairs = plan.settings, alignment.pairs
        frame, mismatch, totals = agreement(side.series, on, alignment, kind, settings)
        found["values"] = {"compared": frame.height, "mismatched": int(mismatch.sum()), **totals}
        found["examples"] = example_candidates(pairs, frame, mismatch, alignment.on, settings.examples)
        if kind == "numeric":
            found["scatter"] = scatter_candidates(alignment, frame, mismatch)
        if settings.diagnose and found["values"]["mismatched"]:
            sample = diagnosis_sample(side.series, on, alignment, mismatch)
            if alignment.timestamp is not None:
                history = alignment.offline_keys.with_columns(side.series.alias("value"))
                lookup = history_lookup(history, list(alignment.keys), alignment.timestamp, kind, settings)
                sample = with_lags(sample, lookup, list(alignment.keys), alignment.timestamp)
            found["sample"] = sample
        if Reason.TYPE in reasons:
            found["same_type"] = _same_type(off, on_frame.get_column(name), alignment, (off_frame, on_frame))
        if alignment.asof:
            side = RawSide(side.series.gather(pairs.get_column(OFFLINE_ROW)))
            found["served"] = _counts(side.series)
    if testable and kind in TESTED_KINDS:
        test_kind = "categorical" if kind == "categorical" else "numeric"
        found["summaries"] = tuple(
            ranges.summarize(finite_values(values, kind), kind=test_kind) for values in (side.series, on)
        )
    return FeaturePartial(**counted, **found)


def _same_type(off: pl.Series, on: pl.Series, alignment, frames) -> tuple[int, tuple | None]:
    """`type_agreement` on the bucket's pairs; the first pair with both values, with its place in
    the whole data's pair order (offline rows, or online rows as of)."""
    pairs = alignment.pairs
    a, b = off.gather(pairs.get_column(OFFLINE_ROW)), on.gather(pairs.get_column(ONLINE_ROW))
    same, _ = type_agreement(a, b)
    both = (a.is_not_null() & b.is_not_null()).arg_true()
    if not both.len():
        return same, None
    first = both[0]
    order_row = pairs.get_column(ONLINE_ROW if alignment.asof else OFFLINE_ROW)[first]
    order = frames[1 if alignment.asof else 0].get_column(ROW)[order_row]
    return same, (order, a[first], b[first])


def join_names(plan: Plan) -> tuple[list[str], dict[str, str]]:
    """The internal join columns (as `align` names them) and the user's name of each."""
    names = [*plan.keys, *([plan.timestamp] if plan.timestamp else [])]
    on = [f"{JOIN_PREFIX}{i}" for i in range(len(names))]
    return on, dict(zip(on, names))


def _total(parts: list[FeaturePartial], side: str) -> tuple[int, int, int]:
    counts = [getattr(p, side) for p in parts if getattr(p, side) is not None]
    return tuple(sum(c[i] for c in counts) for i in range(3))


def _rates(counts: tuple[int, int, int]) -> tuple[float, float]:
    rows, nulls, nans = counts
    return (nulls / rows, nans / rows) if rows else (0.0, 0.0)


def merge_feature(
    plan: Plan, name: str, parts: list[FeaturePartial], merged, distribution: Distribution | None
) -> FeatureResult:
    """`judge`'s verdict over the merged partials of one feature: the same steps, in the same order."""
    settings = plan.settings
    off_dtype, on_dtype = plan.offline_schema.get(name), plan.online_schema.get(name)
    kind = kind_of(off_dtype if off_dtype is not None else on_dtype)
    offline, online = _total(parts, "offline"), _total(parts, "online")
    (offline_null, offline_nan), (online_null, online_nan) = _rates(offline), _rates(online)
    nulls = NullRates(offline_null, online_null, offline_nan, online_nan)
    dtypes = {"dtype_offline": _name(off_dtype), "dtype_online": _name(on_dtype)}
    all_null = [counts[0] == counts[1] for counts in (offline, online)]
    missing = missing_reason(off_dtype is not None, on_dtype is not None, *all_null)
    early = unjudged(name, kind, nulls, dtypes, missing, all(all_null) and not missing)
    if early is not None:
        return early
    schema_only = (RawSide(pl.Series(name, [], dtype=off_dtype)), pl.Series(name, [], dtype=on_dtype))
    _, _, kind, reasons, notes, testable = meet_types(*schema_only, kind)
    values, diagnosis = None, None
    if plan.keys:
        values = _merge_values(plan, parts, kind)
        if needs_diagnosis(values, settings, reasons):
            on, _ = join_names(plan)
            sample = first_of_groups(pl.concat([p.sample for p in parts if p.sample is not None]), on)
            keys, timestamp = on[: len(plan.keys)], on[-1] if plan.timestamp else None
            diagnosis, benign = diagnose_sample(sample, keys, timestamp, kind, values)
            if benign:
                reasons.remove(Reason.VALUES)
        if Reason.TYPE in reasons:
            same = sum(p.same_type[0] for p in parts)
            firsts = [p.same_type[1] for p in parts if p.same_type[1] is not None]
            example = min(firsts, key=lambda f: f[0])[1:] if firsts else None
            diagnosis = type_diagnosis(str(off_dtype), str(on_dtype), values.compared, same, example)
        if plan.asof:
            offline_null, offline_nan = _rates(_total(parts, "served"))
            nulls = NullRates(offline_null, nulls.online_rate, offline_nan, nulls.online_nan_rate)
    evidence = Evidence()
    if testable and kind in TESTED_KINDS and merged is not None:
        evidence = _evidence(name, kind, *merged, distribution)
    return conclude(name, kind, nulls, dtypes, reasons, notes, values, diagnosis, evidence, settings)


def _name(dtype: pl.DataType | None) -> str | None:
    return None if dtype is None else str(dtype)


def _merge_values(plan: Plan, parts: list[FeaturePartial], kind: str) -> ValueResult:
    on, names = join_names(plan)
    counted = [p.values for p in parts if p.values is not None]
    diffs = [v["max_diff"] for v in counted if v["max_diff"] is not None]
    frames = [p.examples for p in parts if p.examples is not None and p.examples.height]
    candidates = [p.scatter for p in parts if p.scatter is not None]
    return ValueResult(
        compared=sum(v["compared"] for v in counted),
        mismatched=sum(v["mismatched"] for v in counted),
        null_offline_only=sum(int(v["null_offline_only"]) for v in counted),
        null_online_only=sum(int(v["null_online_only"]) for v in counted),
        max_abs_diff=float(max(diffs)) if diffs else None,
        examples=examples(pl.concat(frames), on, names, plan.settings.examples) if frames else (),
        sample=scatter(pl.concat(candidates), on) if kind == "numeric" and candidates else (),
    )


def _evidence(name: str, kind: str, offline: Summary, online: Summary, distribution: Distribution | None) -> Evidence:
    """`RawSide.evidence` from the merged summaries and the engine's pass 2."""
    domain = None
    if kind == "categorical":
        domain = domain_gap(
            *(s.counts.get_column("value") if s.counts is not None else pl.Series() for s in (offline, online))
        )
    if not (offline.count and online.count):
        warn_no_values(name)
        return Evidence(domain=domain)
    test = ranges.combine(distribution.spec, offline, online, pieces=distribution.pieces, counts=distribution.counts)
    return Evidence(distribution=test, domain=domain, plot=lambda: _histogram(kind, offline, online, distribution))


def _histogram(kind: str, offline: Summary, online: Summary, distribution: Distribution) -> Histogram:
    """The report's histogram (`histogram` on the whole samples) from the summaries and pass 2."""
    if kind == "categorical":
        return category_histogram(*ranges.value_table(offline.counts, online.counts))
    edges = distribution.spec.plot_edges
    counts = [c.tolist() for c in distribution.plot]
    return Histogram("numeric", list(edges), [], counts[0], counts[1], 0, 0)
