"""Pass 2 of the Dask engine (`_dask`, step 4): the distribution statistics, exact, a group of features
at a time, in the workers' memory whatever the rows and features.

Each group is one graph, computed and released before the next. The inputs are read again, the group's
columns only (and the keys and timestamp as of, whose offline values are those of the rows served: then
by pairs of buckets, else piece by piece, with no shuffle by key). Their distribution values, split by
range into a long frame (range, side, value), are shuffled so that each range sits whole on one worker,
which reduces it to a `Piece`; numeric count tests add bin counts per piece. A group's long frame takes
at most GROUP_SHARE of the workers' memory limits (down to one feature a group), and a feature has as
many ranges as it takes for one range's values, sorted, to take at most RANGE_SHARE of one worker's.
"""

from __future__ import annotations

import math
from typing import Any

import dask
import dask.dataframe as dd
import distributed
import numpy as np
import pandas as pd
import polars as pl

from . import _partial
from ._dask import _compute, _pair, bucket_pairs, piece_count, pieces, read, to_pandas, to_polars
from ._io import Source
from ._stats import ranges
from ._stats.common import floats

RANGE, SIDE, VALUE = "__skewcheck_range", "__skewcheck_side", "__skewcheck_value"
SIDES = ("offline", "online")
# Bytes of one value in pass 2's long frame: range (Int64), side (Int8), value (Float64).
LONG_BYTES_PER_VALUE = 17
# Of the workers' memory limits added up, what one group of features' long frame may take; of one
# worker's limit, what one range's values may take while `ranges.piece` sorts them (`ranges.RANGE_BYTES_PER_VALUE`).
GROUP_SHARE = 0.25
RANGE_SHARE = 0.125


def pass_two(
    client: distributed.Client,
    plan: _partial.Plan,
    partials: list[_partial.BucketPartial],
    sides: tuple[Source, Source],
    buckets: tuple[pl.Expr, pl.Expr],
    count: int,
) -> dict[str, _partial.Distribution]:
    """Every tested feature's `Distribution`, from the pass-1 `partials` and the inputs `sides` (as of,
    by pairs of the `count` key-hash `buckets`)."""
    memory = worker_memory(client)
    specs = _partial.distribution_specs(plan, partials, ranges=range_count(memory, sum(s.rows for s in sides)))
    tests = {name: _partial.Distribution(spec) for name, spec in specs.items()}
    for group in feature_groups(specs, memory):
        values = group_values(plan, sides, group, buckets, count)
        tests.update(distributions(client, {name: specs[name] for name in group}, values))
    return tests


def worker_memory(client: distributed.Client) -> list[int]:
    """Every worker's memory limit in bytes; a worker without one (or no worker yet) counts as this
    machine's memory."""
    workers = client.scheduler_info()["workers"].values()
    return [info.get("memory_limit") or distributed.system.MEMORY_LIMIT for info in workers] or [
        distributed.system.MEMORY_LIMIT
    ]


def range_count(memory: list[int], values: int) -> int:
    """Ranges per feature, so that a range of a feature of `values` values (both sides) takes at most
    RANGE_SHARE of the smallest worker's memory limit (if its values are spread evenly)."""
    per_range = max(1, int(min(memory) * RANGE_SHARE) // ranges.RANGE_BYTES_PER_VALUE)
    return max(1, math.ceil(values / per_range))


def feature_groups(specs: dict[str, ranges.Spec], memory: list[int]) -> list[list[str]]:
    """The features pass 2 has work for, in groups (in order) whose long frame takes at most GROUP_SHARE
    of the workers' memory limits added up, at least one feature a group. Count tests put no value in
    the long frame: they go with any group."""
    room, groups, size = sum(memory) * GROUP_SHARE, [], 0
    for name, spec in specs.items():
        if not (spec.needs_ranges or spec.needs_counts or spec.plot_edges is not None):
            continue  # the summaries suffice
        need = (spec.offline + spec.online) * LONG_BYTES_PER_VALUE if spec.needs_ranges else 0
        if not groups or size + need > room:
            groups.append([])
            size = 0
        groups[-1].append(name)
        size += need
    return groups


def group_values(
    plan: _partial.Plan, sides: tuple[Source, Source], group: list[str], buckets: tuple[pl.Expr, pl.Expr], count: int
) -> list[Any]:
    """The delayed {feature: (offline values, online values)} of the features `group`, from the inputs
    read again, their `group` columns only. As of, per pair of the `count` buckets (with the keys and
    timestamp: the offline values are those of the rows served); else per piece of either side (the
    other side empty), with no shuffle: the values of a side are all its rows'."""
    if plan.asof:
        names = tuple([c for c in plan.columns(side) if c not in plan.features or c in group] for side in SIDES)
        return [dask.delayed(_pair_values)(plan, group, a, b) for a, b in bucket_pairs(sides, names, buckets, count)]
    return [
        dask.delayed(_piece_values)(plan, index, group, piece)
        for index, source in enumerate(sides)
        for piece in pieces(source, group, piece_count(source, group))
    ]


def _pair_values(
    plan: _partial.Plan, names: list[str], offline: pd.DataFrame, online: pd.DataFrame
) -> dict[str, tuple[pl.Series, pl.Series]]:
    return _partial.distribution_values(plan, *_pair(plan, offline, online), names)


def _piece_values(
    plan: _partial.Plan, side: int, names: list[str], piece: tuple[Any, int, int]
) -> dict[str, tuple[pl.Series, pl.Series]]:
    frames = [pl.DataFrame(schema=plan.offline_schema), pl.DataFrame(schema=plan.online_schema)]
    frames[side] = read(piece)
    return _partial.distribution_values(plan, *frames, names)


def _ranged(specs: dict[str, ranges.Spec]) -> dict[str, int]:
    """The features whose test needs pass-2 ranges (KS, Wasserstein), each with the number of its first
    range: range r of feature f is global range ``first[f] + r`` of the long frame."""
    first, total = {}, 0
    for name, spec in specs.items():
        if spec.needs_ranges:
            first[name], total = total, total + spec.ranges
    return first


def _split(
    specs: dict[str, ranges.Spec], first: dict[str, int], values: dict[str, tuple[pl.Series, pl.Series]]
) -> tuple[pd.DataFrame, dict[str, dict[str, tuple[Any, Any]]]]:
    """Pass 2 on the values of one pair or piece: those of the ranged features as a long frame (global
    range, side, value); and per feature the counts that add up over them: values per range (``sizes``), the
    bin counts of a count test (``counts``), the histogram's (``plot``)."""
    long, small = [_long_schema()], {}
    for name, (off, on) in values.items():
        spec = specs.get(name)
        if spec is None:  # no test runs
            continue
        small[name] = {}
        if name in first:
            index = [spec.range_of(sample) for sample in (off, on)]
            small[name]["sizes"] = tuple(np.bincount(i.to_numpy(), minlength=spec.ranges) for i in index)
            long += [
                pl.DataFrame(
                    {
                        RANGE: i.cast(pl.Int64) + first[name],
                        SIDE: pl.repeat(side, sample.len(), dtype=pl.Int8, eager=True),
                        VALUE: pl.Series(floats(sample), dtype=pl.Float64),
                    }
                )
                for side, (i, sample) in enumerate(zip(index, (off, on)))
            ]
        if spec.needs_counts:
            small[name]["counts"] = (ranges.bin_counts(spec, off), ranges.bin_counts(spec, on))
        if spec.plot_edges is not None:
            small[name]["plot"] = (ranges.plot_counts(spec, off), ranges.plot_counts(spec, on))
    return to_pandas(pl.concat(long)), small


def _long_schema() -> pl.DataFrame:
    return pl.DataFrame(schema={RANGE: pl.Int64, SIDE: pl.Int8, VALUE: pl.Float64})


def _added(smalls: list[dict[str, dict[str, tuple[Any, Any]]]], name: str, what: str) -> tuple[Any, Any] | None:
    """The (offline, online) counts `what` of feature `name`, added over the pairs; None if none has them."""
    found = [small[name][what] for small in smalls if what in small.get(name, {})]
    if not found:
        return None
    if what == "counts":
        return tuple(ranges.merge_counts(f[side] for f in found) for side in (0, 1))
    return tuple(sum(f[side] for f in found) for side in (0, 1))


def _before(smalls: list[dict[str, dict[str, tuple[Any, Any]]]], name: str) -> list[tuple[int, int]]:
    """The (offline, online) values below each range of feature `name`."""
    sizes = _added(smalls, name, "sizes")
    return ranges.counts_before(list(zip(sizes[0].tolist(), sizes[1].tolist())))


def _range_piece(spec: ranges.Spec, index: int, before: list[tuple[int, int]], part: pd.DataFrame) -> ranges.Piece:
    frame = to_polars(part, {})
    off, on = (frame.filter(pl.col(SIDE) == side).get_column(VALUE) for side in (0, 1))
    return ranges.piece(spec, index, off, on, before[index])


def distributions(
    client: distributed.Client, specs: dict[str, ranges.Spec], values: list[Any]
) -> dict[str, _partial.Distribution]:
    """Pass 2 of the features `specs` (a group): the pieces of their ranges or their bin counts, and their
    histograms' counts, from `values`, the delayed {feature: (offline values, online values)} of every pair
    of buckets or piece (`group_values`).

    One graph: the values split by range go through a shuffle to one partition per range, whose piece is
    taken as soon as it arrives (nothing is persisted); the counts below each range come from the small
    tables of the pairs or pieces, which the pieces wait for."""
    first = _ranged(specs)
    split = [dask.delayed(_split, nout=2)(specs, first, part) for part in values]
    smalls = dask.delayed(list)([small for _, small in split])
    tasks = []
    if first:
        long = dd.from_delayed([frame for frame, _ in split], meta=to_pandas(_long_schema()), verify_meta=False)
        parts = long.set_index(RANGE, divisions=tuple(range(sum(specs[n].ranges for n in first) + 1))).to_delayed()
        for name, start in first.items():
            before = dask.delayed(_before)(smalls, name)
            tasks += [
                dask.delayed(_range_piece)(specs[name], r, before, parts[start + r]) for r in range(specs[name].ranges)
            ]
    *pieces, found = _compute(client, [*tasks, smalls])
    pieces_of = {name: tuple(pieces[start : start + specs[name].ranges]) for name, start in first.items()}
    return {
        name: _partial.Distribution(
            spec, pieces_of.get(name, ()), _added(found, name, "counts"), _added(found, name, "plot")
        )
        for name, spec in specs.items()
    }
