"""Larger than memory on one machine: a memory budget, an estimate of what the in-memory comparison
needs, and the out-of-core path taken when the estimate exceeds the budget.

The out-of-core path follows `_partial`'s contract: both sides are numbered in input order (`ROW`)
and written to local disk split into B buckets by a hash of their keys (never the timestamp: a key's
history stays in one bucket, on both sides), in slices of a bounded number of rows, one streaming
`sink_parquet` per slice. Bucket pairs are then compared one at a time (`compare_bucket`), the
distributions are tested exactly in two passes (`_stats.ranges`: pass 1 comes with the partials,
pass 2 reads one feature column at a time from the buckets, one value range at a time), and
`merge` gives the report `compare()` gives in memory.

Everything that can make it fail is checked before the long work: a key holding more rows than one
bucket may, and the free space of the spill directory. The spill directory is a fresh one (inside
`spill_dir` when given), removed afterwards, on success, on error and on Ctrl-C; nothing else is removed.
"""

from __future__ import annotations

import math
import os
import resource
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ._errors import SkewcheckInputError
from ._io import PARQUET_SUFFIXES, Source
from ._model import SkewReport

MB, GB = 1000**2, 1000**3
# Share of the available memory (MemAvailable, or the cgroup's room, or RLIMIT_AS) the default budget
# takes: the other half is left to the page cache, the rest of the machine, and the estimate's error.
MEMORY_SHARE = 0.5
# What `compare()` in memory needs: IN_MEMORY_BASE + IN_MEMORY_FACTOR x (rows x columns x width of both
# inputs). Calibrated on the benchmark's rows data (20 float/int features, an int key, a timestamp) with
# /usr/bin/time -v: 1M + 0.99M rows (350 MB of columns) peaked at 516 MB, 10M + 9.9M (3.5 GB) at 2.48 GB,
# a line of 298 MB + 0.62 x the columns; the factor keeps a margin above the measured 0.62.
IN_MEMORY_BASE = 300 * MB
IN_MEMORY_FACTOR = 0.75
# A bucket pair is sized for this much memory even when the budget allows more: past a few hundred
# thousand rows a bucket is no faster per row, and a small peak leaves the machine to its other users.
BUCKET_TARGET = 1 * GB
# A partitioned sink of a slice of S bytes of columns peaked at about 250 MB + 1.1 x S (1M rows of the
# 10M benchmark input, 64 buckets: 448 MB; 2M rows: 697 MB; the whole 10M input at once: 2.3 GB).
SINK_FACTOR = 1.5
# Fine hash slots counted before bucketing: the buckets are slots modulo B, so B is at most SLOTS.
SLOTS = 4096
# Bytes of a text value when the input does not say (polars keeps a 16-byte view plus the text).
TEXT_WIDTH = 32
# Pass 2 holds a range's values of both sides, sorted: about 4 copies of 8 bytes per value.
RANGE_BYTES_PER_VALUE = 32
# The spill is about the size of the input's parquet columns (zstd, as the inputs usually are); margin.
DISK_MARGIN = 1.25

BUCKET = "__skewcheck_bucket"
_WIDTHS = {
    **dict.fromkeys(("Boolean", "Int8", "UInt8"), 1),
    **dict.fromkeys(("Int16", "UInt16"), 2),
    **dict.fromkeys(("Int32", "UInt32", "Float32", "Date"), 4),
    **dict.fromkeys(("Int64", "UInt64", "Float64", "Datetime", "Duration", "Time"), 8),
    **dict.fromkeys(("Int128", "UInt128", "Decimal"), 16),
}


# --- the budget ----------------------------------------------------------------------------------


def available_memory() -> int:
    """Bytes this process can still use: the least of MemAvailable, its cgroup's room (v2 memory.max,
    v1 memory.limit_in_bytes, less what the group uses) and the address-space limit (RLIMIT_AS)."""
    limits = [_meminfo_available()]
    limits += _cgroup_rooms()
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        limits.append(soft)
    known = [limit for limit in limits if limit is not None]
    return min(known) if known else 8 * GB  # no /proc (not Linux): assume a laptop's


def default_budget() -> int:
    """The memory budget when none is given: `MEMORY_SHARE` of the available memory."""
    return int(MEMORY_SHARE * available_memory())


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _cgroup_rooms() -> list[int]:
    """Limit less usage of every memory cgroup this process is in, up to the root (v1 and v2)."""
    rooms = []
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return rooms
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2
            base, limit_file, usage_file = Path("/sys/fs/cgroup"), "memory.max", "memory.current"
        elif "memory" in controllers.split(","):
            base, limit_file, usage_file = Path("/sys/fs/cgroup/memory"), "memory.limit_in_bytes", "memory.usage_in_bytes"
        else:
            continue
        group = base / path.lstrip("/")
        while group.is_relative_to(base):
            limit, usage = _read_int(group / limit_file), _read_int(group / usage_file)
            if limit is not None and limit < 2**60:  # v1 writes "no limit" as a huge number
                rooms.append(max(0, limit - (usage or 0)))
            if group == base:
                break
            group = group.parent
    return rooms


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


# --- the estimate --------------------------------------------------------------------------------


def column_bytes(data: Any, source: Source, columns: list[str]) -> tuple[int, int]:
    """(bytes in memory, bytes on disk) of `columns` of one input: rows x width from the schema, text
    widths and disk sizes from the parquet metadata of a parquet file; in memory otherwise (disk = memory)."""
    sizes = _parquet_sizes(data)
    memory = disk = 0
    for name in columns:
        dtype = source.schema[name]
        width = _WIDTHS.get(type(dtype).__name__ if not isinstance(dtype, type) else dtype.__name__)
        if width is None:  # text, binary, nested: 16 bytes of view + what the file says the values take
            width = 16 + (sizes[name][1] // max(1, source.rows) if name in sizes else TEXT_WIDTH)
        memory += source.rows * width
        disk += sizes[name][0] if name in sizes else source.rows * width
    return memory, disk


def _parquet_sizes(data: Any) -> dict[str, tuple[int, int]]:
    """Column name -> (compressed, uncompressed) bytes in a parquet file's metadata; {} for anything else."""
    if not isinstance(data, (str, os.PathLike)) or Path(data).suffix.lower() not in PARQUET_SUFFIXES:
        return {}
    import pyarrow.parquet as pq

    try:
        metadata = pq.ParquetFile(data).metadata
    except (OSError, ValueError):
        return {}
    sizes: dict[str, list[int]] = {}
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for index in range(row_group.num_columns):
            chunk = row_group.column(index)
            size = sizes.setdefault(chunk.path_in_schema.split(".")[0], [0, 0])
            size[0] += chunk.total_compressed_size
            size[1] += chunk.total_uncompressed_size
    return {name: (c, u) for name, (c, u) in sizes.items()}


def in_memory_need(offline_bytes: int, online_bytes: int) -> int:
    """The estimated peak of `compare()` in memory on inputs of these column sizes (see IN_MEMORY_FACTOR)."""
    return IN_MEMORY_BASE + int(IN_MEMORY_FACTOR * (offline_bytes + online_bytes))


def bucket_allowance(budget: int) -> int:
    """Bytes of columns (both sides) one bucket pair may hold within `budget` (and `BUCKET_TARGET`)."""
    room = min(budget, BUCKET_TARGET)
    room = room - IN_MEMORY_BASE if room > 2 * IN_MEMORY_BASE else room // 2
    return max(1, int(room / IN_MEMORY_FACTOR))


# --- the spill directory and progress ------------------------------------------------------------


@contextmanager
def spill_directory(parent: str | os.PathLike | None) -> Iterator[Path]:
    """A fresh directory inside `parent` (default: the system's temporary directory), removed on exit
    whatever the exit (an error, Ctrl-C). Only this directory is ever removed, never `parent`."""
    root = Path(tempfile.mkdtemp(prefix="skewcheck-spill-", dir=parent))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


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
