"""The memory budget, and the estimate of what the in-memory comparison needs.

The budget is `memory_limit` when given, else `MEMORY_SHARE` of the memory this process can still
use. The estimate is rows x columns x width of both inputs (text widths from the parquet metadata),
scaled by a factor measured on real runs. Used by `_spill`; it reads /proc, /sys and parquet
metadata, never data.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

from ._errors import SkewcheckInputError
from ._io import Source

MB, GB = 1000**2, 1000**3
# Share of the available memory (MemAvailable, or the cgroup's room) the default budget takes: the
# other half is left to the page cache, the rest of the machine, and the estimate's error.
MEMORY_SHARE = 0.5
# What `compare()` in memory needs: IN_MEMORY_BASE + IN_MEMORY_FACTOR x (rows x columns x width of both
# inputs). Calibrated on the benchmark's rows data (20 float/int features, an int key, a timestamp) with
# /usr/bin/time -v: 1M + 0.99M rows (350 MB of columns) peaked at 516 MB, 10M + 9.9M (3.5 GB) at 2.48 GB,
# a line of 298 MB + 0.62 x the columns; the factor keeps a margin above the measured 0.62.
IN_MEMORY_BASE = 300 * MB
IN_MEMORY_FACTOR = 0.75
# A bucket pair is held whole in memory (unlike compare()'s inputs, read a few columns at a time) while
# it is compared: with the comparison's working memory it needs about BUCKET_FACTOR x its columns, plus
# IN_MEMORY_BASE. Measured (resident memory sampled every 20 ms) on 2M + 2M benchmark rows in buckets of
# at most 171 MB of columns: compare_bucket peaked 612 MB above the process's 156 MB, 3.6 x.
BUCKET_FACTOR = 4.0
# A bucket pair is sized for this much memory even when the budget allows more: past a few hundred
# thousand rows a bucket is no faster per row, and a small peak leaves the machine to its other users.
BUCKET_TARGET = 1 * GB
# Address space polars takes beyond the memory it uses: its threads' arenas and stacks. Measured: a
# process that read 1,000 rows peaked at 1.9 GB of address space for 66 MB resident; splitting the
# 10M-row benchmark inputs (2.5 GB of parquet, mapped) at 3.4 GB for 632 MB resident.
ADDRESS_SPACE_RESERVE = 2 * GB
# Bytes of a text value when the input does not say (polars keeps a 16-byte view plus the text).
TEXT_WIDTH = 32
_WIDTHS = {
    **dict.fromkeys(("Boolean", "Int8", "UInt8"), 1),
    **dict.fromkeys(("Int16", "UInt16"), 2),
    **dict.fromkeys(("Int32", "UInt32", "Float32", "Date"), 4),
    **dict.fromkeys(("Int64", "UInt64", "Float64", "Datetime", "Duration", "Time"), 8),
    **dict.fromkeys(("Int128", "UInt128", "Decimal"), 16),
}


def budget_for(memory_limit: int | None, inputs: tuple[Source, Source]) -> int:
    """The budget: `memory_limit`, or `default_budget()`; under an address-space limit, at most
    `MEMORY_SHARE` of the room it leaves (an error when it leaves none)."""
    budget = memory_limit or default_budget()
    mapped = sum(os.path.getsize(path) for source in inputs if source.format == "parquet" for path in source.files)
    room = address_space_room(mapped)
    if room is None:
        return budget
    if room < IN_MEMORY_BASE:
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        raise SkewcheckInputError(
            f"the address-space limit (ulimit -v) of {size_text(soft)} leaves no room for the data once polars "
            f"has mapped the inputs ({size_text(mapped)}) and reserved its threads' memory (about "
            f"{size_text(ADDRESS_SPACE_RESERVE)}); raise it, or cap memory with a cgroup (memory.max), which "
            "counts memory, not address space"
        )
    return min(budget, int(MEMORY_SHARE * room))


def available_memory() -> int:
    """Bytes this process can still use: the lesser of MemAvailable and its cgroup's room (v2 memory.max,
    v1 memory.limit_in_bytes, less what the group uses)."""
    limits = [_meminfo_available(), *_cgroup_rooms()]
    known = [limit for limit in limits if limit is not None]
    return min(known) if known else 8 * GB  # no /proc (not Linux): assume a laptop's


def default_budget() -> int:
    """The memory budget when none is given: `MEMORY_SHARE` of the available memory."""
    return int(MEMORY_SHARE * available_memory())


def address_space_room(mapped: int) -> int | None:
    """Under an address-space limit (RLIMIT_AS: `ulimit -v`, `prlimit --as`), what is left of it for data
    once the process's mappings, the parquet inputs polars maps (`mapped` bytes) and its threads'
    reservations are counted; None without such a limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    return soft - _status_bytes("VmSize") - mapped - ADDRESS_SPACE_RESERVE


def _status_bytes(field: str) -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _cgroup_rooms(membership: Path = Path("/proc/self/cgroup"), root: Path = Path("/sys/fs/cgroup")) -> list[int]:
    """Limit less usage of every memory cgroup this process is in, up to the root (v1 and v2)."""
    rooms = []
    try:
        lines = membership.read_text().splitlines()
    except OSError:
        return rooms
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2
            base, limit_file, usage_file = root, "memory.max", "memory.current"
        elif "memory" in controllers.split(","):
            base, limit_file, usage_file = (
                root / "memory",
                "memory.limit_in_bytes",
                "memory.usage_in_bytes",
            )
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


def column_bytes(source: Source, columns: list[str]) -> tuple[int, int]:
    """(bytes in memory, bytes on disk) of `columns` of one input: rows x width from the schema, text
    widths and disk sizes from the parquet metadata of parquet files; in memory otherwise (disk = memory)."""
    sizes = _parquet_sizes(source)
    memory = disk = 0
    for name in columns:
        dtype = source.schema[name]
        width = _WIDTHS.get(type(dtype).__name__ if not isinstance(dtype, type) else dtype.__name__)
        if width is None:  # text, binary, nested: 16 bytes of view + what the file says the values take
            width = 16 + (sizes[name][1] // max(1, source.rows) if name in sizes else TEXT_WIDTH)
        memory += source.rows * width
        disk += sizes[name][0] if name in sizes else source.rows * width
    return memory, disk


def _parquet_sizes(source: Source) -> dict[str, tuple[int, int]]:
    """Column name -> (compressed, uncompressed) bytes in the parquet metadata of the source's files; {}
    for anything else (text files, frames)."""
    if source.format != "parquet":
        return {}
    import pyarrow.parquet as pq

    sizes: dict[str, list[int]] = {}
    for path in source.files:
        try:
            metadata = pq.ParquetFile(path).metadata
        except (OSError, ValueError):
            return {}
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


def working_room(budget: int) -> int:
    """Bytes one step of the out-of-core path may use within `budget` (and `BUCKET_TARGET`), beyond the
    process's own IN_MEMORY_BASE (half the budget when that is smaller than twice the base)."""
    room = min(budget, BUCKET_TARGET)
    return max(1, room - IN_MEMORY_BASE if room > 2 * IN_MEMORY_BASE else room // 2)


def bucket_allowance(budget: int) -> int:
    """Bytes of columns (both sides) one bucket pair may hold within `budget`."""
    return max(1, int(working_room(budget) / BUCKET_FACTOR))


def size_text(size: float) -> str:
    """A size for a message, in the unit that gives it one to three digits: 2.5 GB, 312.0 MB, 20.0 KB."""
    for unit, scale in (("GB", GB), ("MB", MB), ("KB", 1000)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{int(size)} bytes"
