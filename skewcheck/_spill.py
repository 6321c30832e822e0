"""Larger than memory on one machine: the out-of-core path, taken when the estimate of what the
in-memory comparison needs exceeds the memory budget (both in `_budget`).

The out-of-core path follows `_partial`'s contract: both sides are numbered in input order (`ROW`)
and written to local disk split into B buckets by a hash of their keys (never the timestamp: a key's
history stays in one bucket, on both sides), in slices of a bounded number of rows, one streaming
`sink_parquet` per slice. Bucket pairs are then compared one at a time (`compare_bucket`), the
distributions are tested exactly in two passes (`_stats.ranges`: pass 1 comes with the partials;
pass 2 reads a group of feature columns from the buckets, writes each value range of each feature to
a file of its own, then tests the ranges one at a time), and `merge` gives the report `compare()`
gives in memory.

Everything that can make it fail is checked before the long work: a key holding more rows than one
bucket may, and the free space of the spill directory. The spill directory is a fresh one (inside
`spill_dir` when given), removed afterwards, on success, on error and on Ctrl-C; nothing else is removed.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ._budget import (
    BUCKET_FACTOR,
    bucket_allowance,
    budget_for,
    column_bytes,
    in_memory_need,
    size_text,
    working_room,
)
from ._errors import SkewcheckInputError
from ._io import Source
from ._model import SkewReport
from ._stats.common import floats
from ._stats.ranges import RANGE_BYTES_PER_VALUE

# A partitioned sink of a slice of S bytes of columns peaked at about 250 MB + 1.1 x S (1M rows of the
# 10M benchmark input, 64 buckets: 448 MB; 2M rows: 697 MB; the whole 10M input at once: 2.3 GB).
SINK_FACTOR = 1.5
# Rows a slice holds at least: 100,000 rows of 20 features are 20 MB, far below the process's own
# IN_MEMORY_BASE, so splitting finer would only add files.
MIN_SLICE_ROWS = 100_000
# Fine hash slots counted before bucketing: the buckets are slots modulo B, so B is at most SLOTS.
SLOTS = 4096
# The spill is about the size of the input's parquet columns (zstd, as the inputs usually are); margin.
DISK_MARGIN = 1.25

BUCKET = "__skewcheck_bucket"


# --- the spill directory and progress ------------------------------------------------------------


@contextmanager
def spill_directory(parent: str | os.PathLike | None) -> Iterator[Path]:
    """A fresh directory inside `parent` (default: the system's temporary directory), removed on exit
    whatever the exit (an error, Ctrl-C). Only this directory is ever removed, never `parent`."""
    root = Path(tempfile.mkdtemp(prefix="skewcheck-spill-", dir=parent))
    finished = False
    try:
        yield root
        finished = True
    finally:
        _remove(root, settle=0.0 if finished else SETTLE_SECONDS)


# After an interrupt, how long the spill directory must stay gone: a sink that Ctrl-C cancels returns
# while some of polars' writer tasks still run, and they create their folders and files again.
SETTLE_SECONDS = 1.0
SETTLE_LIMIT = 30.0


def _remove(root: Path, *, settle: float) -> None:
    """Remove `root`; with `settle`, again whenever it comes back, until it has stayed gone that long."""
    shutil.rmtree(root, ignore_errors=True)
    start = gone = time.monotonic()
    while time.monotonic() - gone < settle and time.monotonic() - start < SETTLE_LIMIT:
        time.sleep(0.05)
        if root.exists():
            shutil.rmtree(root, ignore_errors=True)
            gone = time.monotonic()


@contextmanager
def _phases(enabled: bool | None) -> Iterator[Callable[[str, int], Callable[[], None]]]:
    """Yield `start(label, total)`, which shows a bar for one phase on stderr and returns its `advance()`."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield lambda label, total: lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:

        def start(label: str, total: int) -> Callable[[], None]:
            task = bar.add_task(label, total=total)
            return lambda: bar.update(task, advance=1)

        yield start


# --- the out-of-core comparison ------------------------------------------------------------------


def compare_within_budget(
    offline: Any,
    online: Any,
    sources: tuple[Source, Source],
    columns: list[str],
    *,
    memory_limit: int | None,
    spill_dir: str | os.PathLike | None,
    progress: bool | None,
    **compare_kwargs: Any,
) -> SkewReport | None:
    """The out-of-core report when the in-memory comparison of `columns` would not fit the budget
    (`memory_limit`, default `default_budget()`); None when it fits (compare in memory)."""
    budget = budget_for(memory_limit, sources)
    need = in_memory_need(*(column_bytes(source, [c for c in columns if c in source.schema])[0] for source in sources))
    if need <= budget:
        return None
    return compare_out_of_core(
        offline, online, sources, budget=budget, spill_dir=spill_dir, progress=progress, **compare_kwargs
    )


def compare_out_of_core(
    offline: Any,
    online: Any,
    sources: tuple[Source, Source],
    *,
    budget: int,
    spill_dir: str | os.PathLike | None = None,
    progress: bool | None = None,
    buckets: int | None = None,
    **compare_kwargs: Any,
) -> SkewReport:
    """`compare()` within `budget` bytes: the inputs split into key-hash buckets on disk, compared
    bucket by bucket, merged. `sources` are the loaded inputs; `buckets` overrides the bucket count."""
    from . import _partial

    plan = _partial.plan(offline, online, sources=sources, **compare_kwargs)
    join = list(plan.keys) + ([plan.timestamp] if plan.timestamp else [])
    sides = {
        side: (data, source, plan.columns(side))
        for side, data, source in (("offline", offline, sources[0]), ("online", online, sources[1]))
    }
    sizes = {side: column_bytes(source, columns) for side, (_, source, columns) in sides.items()}
    width = {side: sizes[side][0] / max(1, sides[side][1].rows) for side in sides}
    allowance = bucket_allowance(budget)
    with _phases(progress) as start, spill_directory(spill_dir) as root:
        slots = {side: _slot_rows(plan, side, source) for side, (_, source, _) in sides.items()}
        slot_bytes = slots["offline"] * width["offline"] + slots["online"] * width["online"]
        count = buckets or _bucket_count(slot_bytes, allowance)
        _check_heavy_keys(plan, sides, slot_bytes, allowance, width, budget)
        values = sum(source.rows for _, source, _ in sides.values())
        _check_disk(root, int(DISK_MARGIN * (sum(disk for _, disk in sizes.values()) + VALUE_BYTES * values)))
        for side, (_, source, columns) in sides.items():
            rows = max(MIN_SLICE_ROWS, int(working_room(budget) / SINK_FACTOR / max(1.0, width[side])))
            slices = range(0, source.rows, rows)
            advance = start(f"splitting {side} into {count} buckets", len(slices))
            for index, first in enumerate(slices):
                _sink_slice(plan, side, source, columns, root / side / f"{index:06d}", first, rows, count)
                advance()
        read = _bucket_reader(root, {side: sides[side][1] for side in sides}, {s: c for s, (_, _, c) in sides.items()})
        advance = start("comparing buckets", count)
        partials = []
        for bucket in range(count):
            partials = _folded(
                plan, partials, _partial.compare_bucket(plan, read("offline", bucket), read("online", bucket))
            )
            advance()
        distributions = _distributions(plan, partials, read, count, join, values, budget, start, root)
        evidence = []
        online_rows = _partial.rows_to_diagnose(plan, partials)
        if online_rows is not None:  # few rows joined: one more pass, over the join columns, says why
            advance = start("looking for why few rows joined", count)
            for bucket in range(count):
                pair = read("offline", bucket, join), read("online", bucket, join)
                evidence.append(_partial.rows_evidence(plan, *pair, online_rows))
                advance()
    return _partial.merge(plan, partials, distributions, evidence)


def _folded(plan: Any, partials: list, new: Any) -> list:
    """`partials` and `new`, with every feature's diagnosis sample folded into `new`'s: each bucket keeps
    up to FIT_SAMPLE mismatching pairs per feature, and `merge` takes the FIT_SAMPLE of smallest key hash
    of them all (`first_of_groups`), which folding bucket by bucket gives too, holding one sample only."""
    from dataclasses import replace

    from ._feature_partial import join_names
    from ._values import first_of_groups

    if not partials:
        return [new]
    on, _ = join_names(plan)
    last, features = partials[-1], dict(new.features)
    for name, part in new.features.items():
        held = [p.sample for p in (last.features.get(name), part) if p is not None and p.sample is not None]
        if len(held) == 2:
            features[name] = replace(part, sample=first_of_groups(pl.concat(held), on))
        elif held:
            features[name] = replace(part, sample=held[0])
    emptied = {name: replace(part, sample=None) for name, part in last.features.items()}
    return [*partials[:-1], replace(last, features=emptied), replace(new, features=features)]


def _slot_rows(plan: Any, side: str, source: Source) -> np.ndarray:
    """Rows per fine hash slot (0 .. SLOTS - 1) of one side, counted in a streaming pass over the keys."""
    from ._partial import bucket_of

    counts = (
        source.frame.select(bucket_of(plan, side, SLOTS).alias(BUCKET))
        .group_by(BUCKET)
        .len()
        .collect(engine="streaming")
    )
    rows = np.zeros(SLOTS, dtype=np.float64)
    rows[counts.get_column(BUCKET).to_numpy()] = counts.get_column("len").to_numpy()
    return rows


def _bucket_count(slot_bytes: np.ndarray, allowance: int) -> int:
    """The fewest buckets (slots modulo B) whose largest holds at most `allowance` bytes; SLOTS at most."""
    slot = np.arange(SLOTS)
    for count in range(max(1, math.ceil(slot_bytes.sum() / allowance)), SLOTS + 1):
        if np.bincount(slot % count, weights=slot_bytes, minlength=count).max() <= allowance:
            return count
    return SLOTS


# Overfull slots whose heaviest key is looked for (each look is a streaming pass over the keys).
HEAVY_SLOTS_CHECKED = 3


def _check_heavy_keys(
    plan: Any, sides: dict, slot_bytes: np.ndarray, allowance: int, width: dict[str, float], budget: int
) -> None:
    """Refuse, naming it, a key whose rows alone are more than one bucket may hold within the budget."""
    from ._partial import bucket_of

    for slot in np.argsort(slot_bytes)[::-1][:HEAVY_SLOTS_CHECKED]:
        if slot_bytes[slot] <= allowance:
            return
        heaviest = []
        for side, (_, source, _) in sides.items():
            top = (
                source.frame.filter(bucket_of(plan, side, SLOTS) == int(slot))
                .group_by(list(plan.keys))
                .len()
                .sort("len", descending=True)
                .head(1)
                .collect(engine="streaming")
            )
            if top.height:
                heaviest.append((top.item(0, "len") * width[side], top.item(0, "len"), side, source.label, top))
        if sum(size for size, *_ in heaviest) > allowance:
            size, rows, side, label, top = max(heaviest, key=lambda item: item[0])
            key = ", ".join(f"{name}={top.item(0, name)!r}" for name in plan.keys)
            raise SkewcheckInputError(
                f"{label}: key {key} has {rows:,} rows (about {size_text(BUCKET_FACTOR * size)} in memory), more "
                f"than one bucket may hold within the memory budget of {size_text(budget)}; raise `memory_limit`, "
                "or leave out that key"
            )


def _check_disk(root: Path, needed: int) -> None:
    free = shutil.disk_usage(root).free
    if needed > free:
        raise SkewcheckInputError(
            f"the spill directory {str(root.parent)!r} has {size_text(free)} free, and splitting the inputs needs "
            f"about {size_text(needed)}; choose a larger disk with `spill_dir`"
        )


def _sink_slice(
    plan: Any, side: str, source: Source, columns: list[str], target: Path, first: int, rows: int, count: int
) -> None:
    """Rows first .. first + rows of one side, numbered, written to `target` in `count` bucket folders."""
    from ._partial import ROW, bucket_of

    frame = (
        source.frame.slice(first, rows)
        .select(columns)
        .with_row_index(ROW, offset=first)
        .with_columns((bucket_of(plan, side, SLOTS) % count).alias(BUCKET))
    )
    frame.sink_parquet(pl.PartitionBy(target, key=BUCKET, include_key=False), mkdir=True, statistics=False)


def _bucket_reader(root: Path, sources: dict[str, Source], columns: dict[str, list[str]]):
    """`read(side, bucket, names=None)`: the bucket's rows of one side (only `names` of its columns, when given).
    The spill's files are listed once, here: a glob per read would list every slice's folders each time."""
    from ._partial import ROW

    files: dict[tuple[str, int], list[Path]] = {}
    for side in sources:
        for folder in sorted((root / side).glob(f"*/{BUCKET}=*")):
            bucket = (side, int(folder.name.partition("=")[2]))
            files.setdefault(bucket, []).extend(sorted(folder.glob("*.parquet")))

    def read(side: str, bucket: int, names: list[str] | None = None) -> pl.DataFrame:
        wanted = [ROW] + [c for c in columns[side] if names is None or c in names]
        if (side, bucket) not in files:
            schema = {ROW: pl.UInt32, **{c: sources[side].schema[c] for c in wanted[1:]}}
            return pl.DataFrame(schema=schema)
        return pl.read_parquet(files[side, bucket], columns=wanted, hive_partitioning=False)

    return read


def _distributions(
    plan: Any, partials: list, read, count: int, join: list[str], values: int, budget: int, start, root: Path
) -> dict:
    """Pass 2 of every tested feature (`_partial.Distribution`), a group of features at a time: their
    columns read once from the buckets, each range of their values (sized to the budget) kept in a file
    of its own until it is tested, groups sized so that their files take at most PASS_TWO_DISK_SHARE of
    the spill disk's free space (one feature at least: `_check_disk` made sure of room for it)."""
    from . import _partial

    per_range = max(1, working_room(budget) // RANGE_BYTES_PER_VALUE)
    specs = _partial.distribution_specs(plan, partials, ranges=max(1, math.ceil(values / per_range)))
    names = list(specs)
    size = max(1, int(shutil.disk_usage(root).free * PASS_TWO_DISK_SHARE) // (VALUE_BYTES * max(1, values)))
    groups = [names[first : first + size] for first in range(0, len(names), size)]
    steps = len(groups) * count + sum(spec.ranges for spec in specs.values() if spec.needs_ranges)
    advance = start("testing distributions", steps)
    results = {}
    for group in groups:
        tallies = {name: _Tally(specs[name], root / "values" / str(names.index(name))) for name in group}
        wanted = (join if plan.asof else []) + group  # the join columns only to find the served rows
        with ThreadPoolExecutor(os.cpu_count()) as pool:  # NumPy's sorts and searches let go of the GIL
            for bucket in range(count):
                offline, online = read("offline", bucket, wanted), read("online", bucket, wanted)
                found = _partial.distribution_values(plan, offline, online, group)
                list(pool.map(_Tally.add, [tallies[name] for name in found], found.values()))
                advance()
        for name, tally in tallies.items():
            results[name] = tally.distribution(advance)
    return results


# Bytes a value takes in the files of pass 2 (float64), and the share of the free disk they may take.
VALUE_BYTES = 8
PASS_TWO_DISK_SHARE = 0.5


class _Tally:
    """One feature's pass 2 as the bucket pairs go by: the values of every range, bin of a count test and
    bar of the report's histogram counted, and each range's values appended to its two files (offline,
    online), which `distribution` reads back one range at a time to take its `Piece`."""

    def __init__(self, spec: Any, folder: Path):
        self.spec, self.folder = spec, folder
        self.sizes = np.zeros((2, spec.ranges), dtype=np.int64)
        self.bins: tuple[list, list] = ([], [])
        self.plot: list[np.ndarray] | None = None
        folder.mkdir(parents=True)

    def add(self, pair: tuple[pl.Series, pl.Series]) -> None:
        from ._stats import ranges

        spec = self.spec
        for side, values in enumerate(pair):
            if spec.needs_counts:
                self.bins[side].append(ranges.bin_counts(spec, values))
            if spec.plot_edges is not None:
                counted = ranges.plot_counts(spec, values)
                self.plot = [np.zeros_like(counted), np.zeros_like(counted)] if self.plot is None else self.plot
                self.plot[side] = self.plot[side] + counted
            if spec.needs_ranges:
                where = spec.range_of(values).to_numpy()
                sizes = np.bincount(where, minlength=spec.ranges)
                self.sizes[side] += sizes
                if spec.ranges <= np.iinfo(np.uint16).max:  # NumPy's stable sort of 16-bit integers is a radix sort
                    where = where.astype(np.uint16)
                by_range = floats(values)[np.argsort(where, kind="stable")]
                ends = np.cumsum(sizes)
                for r in np.flatnonzero(sizes):
                    with open(self._file(side, r), "ab") as file:
                        by_range[ends[r] - sizes[r] : ends[r]].tofile(file)

    def distribution(self, advance: Callable[[], None]) -> Any:
        from . import _partial
        from ._stats import ranges

        spec, pieces = self.spec, []
        if spec.needs_ranges:
            before = ranges.counts_before([tuple(map(int, row)) for row in self.sizes.T])
            for r in range(spec.ranges):
                offline, online = (pl.Series(self._read(side, r)) for side in (0, 1))
                pieces.append(ranges.piece(spec, r, offline, online, before[r]))
                advance()
        counts = tuple(ranges.merge_counts(side) for side in self.bins) if spec.needs_counts else None
        shutil.rmtree(self.folder)
        plot = tuple(self.plot) if self.plot else None
        return _partial.Distribution(spec, pieces=tuple(pieces), counts=counts, plot=plot)

    def _file(self, side: int, r: int) -> Path:
        return self.folder / f"{side}-{r}.f64"

    def _read(self, side: int, r: int) -> np.ndarray:
        path = self._file(side, r)
        return np.fromfile(path, dtype=np.float64) if path.exists() else np.empty(0, dtype=np.float64)
