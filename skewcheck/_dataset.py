"""Datasets: which files an input names, their hive partitions, one format and one schema, and `where`.

An input path is a file, a directory (searched recursively) or a glob (``logs/*.parquet``,
``logs/**/*.parquet``, ``logs/date=2026-11-*``: a folder it matches brings its files); in Python
also a list of them. Names Spark and Hive treat as hidden are
skipped, as Spark skips them: a name starting with ``.`` or ``_`` (``_SUCCESS``, ``.part-0.crc``,
``_temporary``), except a ``_name=value`` partition directory, and a name ending in ``._COPYING_``
(Spark lists ``_metadata`` and ``_common_metadata`` for their schema only: they hold no rows).
Directories named ``key=value`` between the dataset's root and a file are hive partitions: the
keys become columns, typed as polars and Spark type them (integer, float, date, datetime, else
text; ``__HIVE_DEFAULT_PARTITION__`` is null). A key the files also hold as a column is taken from
the files. A `where` that names partition columns only selects files by their directories alone:
the other files are never opened.

Everything is checked from file names and parquet footers before any data is read: one format,
the same partition keys for every file, the same column names and types in every file.
Every problem is a `SkewcheckInputError` naming the file and the column.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import polars as pl

from ._errors import SkewcheckInputError

# How a file's name ends -> (format, compressed).
SUFFIXES = {
    ".parquet": ("parquet", False),
    ".pq": ("parquet", False),
    ".csv": ("csv", False),
    ".csv.gz": ("csv", True),
    ".ndjson": ("ndjson", False),
    ".jsonl": ("ndjson", False),
    ".ndjson.gz": ("ndjson", True),
    ".jsonl.gz": ("ndjson", True),
}
GLOB_CHARACTERS = re.compile(r"[*?\[]")
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"  # how Hive and Spark write a null partition value
GZIP_MAGIC = b"\x1f\x8b"
# A label as `Dataset.label` and `load` write it: the name, the file count, the filter.
LABEL = re.compile(r"^(?P<name>.*?)(?: \([\d,]+ (?:of [\d,]+ )?\w+ files?\))?(?: where .*)?$")
# Files named in a message before "and N more".
NAMED_FILES = 3
# Threads reading parquet footers: loading 2,000 small files took 0.86x the wall time of one thread
# (farm-bench median, 2 busy cores).
FOOTER_THREADS = 8


@dataclass(frozen=True)
class Dataset:
    """The files an input names, after `where` selected partitions: one format, one set of partition keys.

    `partitions` holds one row per file (in the order of `files`), a column per partition key,
    typed; it has no columns when the files are not partitioned. `lacking` holds, per file, the
    keys of other files' directories that its own path lacks (null in `partitions`): allowed
    only for columns the files hold (see `check_partition_keys`), as in a served-feature log
    where Feast writes flat files and ``skewcheck feast serve`` writes ``__log_date=`` folders.
    """

    files: tuple[Path, ...]
    format: str
    partitions: pl.DataFrame
    lacking: tuple[frozenset[str], ...]
    name: str  # the path, directory, glob or list as given
    found: int  # files found before `where` selected partitions
    single: bool = False  # one file, named as it is

    @property
    def label(self) -> str:
        """How messages and reports name it: the path, or the directory or glob with the file count."""
        if self.single:
            return self.name
        count = f"{len(self.files):,} of {self.found:,}" if len(self.files) < self.found else f"{self.found:,}"
        return f"{self.name} ({count} {self.format} file{'s' * (self.found != 1)})"


def named_in(label: str) -> str:
    """The path a label names (for a report refusing to overwrite its input): the label without its
    file count and filter."""
    return LABEL.match(label).group("name")


def is_paths(data: Any) -> bool:
    """Whether `data` names files: a path, or a non-empty list or tuple of paths."""
    if isinstance(data, (list, tuple)):
        return bool(data) and all(isinstance(item, (str, os.PathLike)) for item in data)
    return isinstance(data, (str, os.PathLike))


def find(data: str | os.PathLike | Sequence[str | os.PathLike]) -> Dataset:
    """The data files of a path, directory, glob or list of them, with their partitions (unpruned)."""
    items = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    found: list[tuple[Path, dict[str, str | None]]] = []
    for item in items:
        found += _files_of(str(item))
    seen: set[Path] = set()
    unique = [(path, parts) for path, parts in found if not (path in seen or seen.add(path))]
    name = _name(items)
    files = tuple(path for path, _ in unique)
    single = len(items) == 1 and len(files) == 1 and Path(items[0]).is_file()
    keys = list(dict.fromkeys(key for _, parts in unique for key in parts))
    table = pl.DataFrame({key: _typed([parts.get(key) for _, parts in unique]) for key in keys})
    lacking = tuple(frozenset(keys) - set(parts) for _, parts in unique)
    return Dataset(files, _one_format(name, files), table, lacking, name, len(files), single)


def _files_of(item: str) -> list[tuple[Path, dict[str, str | None]]]:
    path = Path(item)
    if path.is_dir():
        found = [(_existing(root / rel), _hive(rel)) for root, rel in _walk(path)]
        if not found:
            skipped = [entry.name for entry in path.iterdir() if _hidden(entry.name)]
            hint = f" (skipped as hidden, as Spark does: {', '.join(sorted(skipped)[:NAMED_FILES])})" if skipped else ""
            raise SkewcheckInputError(f"{item}: a directory that holds no data files{hint}")
        return found
    if path.is_file() or not GLOB_CHARACTERS.search(item):
        if not os.path.lexists(path):
            raise SkewcheckInputError(f"{item}: no such file")
        return [(_existing(path), {})]
    base, pattern = _split_glob(item)
    walked = _walk(base) if base.is_dir() else []
    found = [(_existing(base / rel), _hive(rel)) for _, rel in walked if _matches(rel.parts, pattern)]
    if not found:
        raise SkewcheckInputError(f"{item}: the pattern matches no data files")
    return found


def _walk(root: Path) -> list[tuple[Path, Path]]:
    """(root, relative path) of every visible file under `root`, sorted; symlinks followed, a loop refused."""
    files: list[Path] = []
    visited: dict[tuple[int, int], Path] = {}

    def refuse(error: OSError) -> None:
        raise SkewcheckInputError(f"{error.filename}: cannot list it ({error.strerror})")

    for current, dirs, names in os.walk(root, onerror=refuse, followlinks=True):
        here = Path(current)
        status = here.stat()
        first = visited.setdefault((status.st_dev, status.st_ino), here)
        if first != here:
            loop = here.is_relative_to(first)
            problem = f"a symlink loop (it leads back to {first})" if loop else f"the same directory as {first}"
            raise SkewcheckInputError(f"{here}: {problem}; list each folder once: remove the link or pass the files")
        dirs[:] = sorted(d for d in dirs if not _hidden(d))
        files += (here / name for name in sorted(names) if not _hidden(name))
    return [(root, path.relative_to(root)) for path in files]


def _existing(path: Path) -> Path:
    """The path of a regular file (or a link to one), or an error: a broken symlink, a FIFO, a device."""
    if not path.exists():
        raise SkewcheckInputError(f"{path}: a broken symlink (its target {os.readlink(path)!r} does not exist)")
    if not path.is_file():
        raise SkewcheckInputError(f"{path}: not a regular file (a FIFO, socket or device); pass a file")
    return path


def _hidden(name: str) -> bool:
    """Spark's rule (HadoopFSUtils.shouldFilterOutPathName) for names that hold no data."""
    return (name.startswith("_") and "=" not in name) or name.startswith(".") or name.endswith("._COPYING_")


def _split_glob(pattern: str) -> tuple[Path, tuple[str, ...]]:
    """The directory before the first wildcard, and the pattern's parts after it."""
    parts = Path(pattern).parts
    first = next(i for i, part in enumerate(parts) if GLOB_CHARACTERS.search(part))
    return Path(*parts[:first]) if first else Path("."), parts[first:]


def _matches(parts: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    """Whether a file's path parts match glob parts, ``**`` standing for any number of directories; a
    pattern that matches a folder matches the files in it (``logs/date=2026-11-*``)."""
    if not pattern:
        return True
    if pattern[0] == "**":
        return any(_matches(parts[i:], pattern[1:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], pattern[0]) and _matches(parts[1:], pattern[1:])


def _hive(relative: Path) -> dict[str, str | None]:
    """The partition keys and values of the directories between a dataset's root and a file."""
    pairs = (part.split("=", 1) for part in relative.parts[:-1] if "=" in part)
    return {unquote(key): None if value == HIVE_NULL else unquote(value) for key, value in pairs}


def file_format(path: Path) -> tuple[str, bool]:
    """(format, gzip-compressed) of a file, from how its name ends."""
    name = path.name.lower()
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return SUFFIXES[suffix]
    known = ", ".join(SUFFIXES)
    raise SkewcheckInputError(f"{path}: unknown file type {path.suffix or '(none)'!r}; expected one of {known}")


def _one_format(label: str, files: tuple[Path, ...]) -> str:
    formats: dict[str, Path] = {}
    for path in files:
        formats.setdefault(file_format(path)[0], path)
    if len(formats) > 1:
        (one, first), (other, second) = list(formats.items())[:2]
        raise SkewcheckInputError(
            f"{label}: mixes formats ({first} is {one}, {second} is {other}); a dataset holds files of one format"
        )
    return next(iter(formats))


def check_partition_keys(dataset: Dataset, columns: Sequence[str]) -> None:
    """Refuse files whose directories name other partition keys, unless the files hold those columns."""
    for row, lacking in enumerate(dataset.lacking):
        for key in sorted(lacking - set(columns)):
            other = next(i for i, keys in enumerate(dataset.lacking) if key not in keys)
            raise SkewcheckInputError(
                f"{dataset.label}: {dataset.files[other]} is partitioned by {key!r} but {dataset.files[row]} is "
                "not; put every file at the same depth of key=value directories"
            )


def _typed(values: list[str | None]) -> pl.Series:
    """Partition values typed as polars and Spark infer them: integer, float, date, datetime, else text."""
    text = pl.Series(values, dtype=pl.String)
    for parse in (
        lambda s: s.cast(pl.Int64),
        lambda s: s.cast(pl.Float64),
        lambda s: s.str.to_date("%Y-%m-%d"),
        lambda s: s.str.to_datetime(time_unit="us"),
    ):
        try:
            return parse(text)
        except pl.exceptions.PolarsError:
            continue
    return text


def parse_where(where: Any, parameter: str) -> pl.Expr | str:
    """Check a `where` filter: a polars expression, or SQL text that must parse as one expression."""
    if isinstance(where, pl.Expr):
        return where
    if not isinstance(where, str) or not where.strip():
        raise SkewcheckInputError(
            f"`{parameter}` must be SQL text such as \"date >= '2026-11-01'\" or a polars expression, got {where!r}"
        )
    try:
        pl.sql_expr(where)
    except pl.exceptions.PolarsError as exc:
        raise SkewcheckInputError(f"`{parameter}` {where!r} is not a SQL condition ({first_line(exc)})") from None
    return where


def apply_where(frame: pl.LazyFrame, where: pl.Expr | str) -> pl.LazyFrame:
    """The rows of `frame` where the condition holds. SQL text goes through polars' SQL engine, which
    compares a date or datetime column with a text literal such as '2026-11-01' (pl.sql_expr does not)."""
    if isinstance(where, str):
        return frame.sql(f"SELECT * FROM self WHERE {where}")
    return frame.filter(where)


def where_columns(where: pl.Expr | str) -> set[str]:
    """The columns a condition reads."""
    return set((pl.sql_expr(where) if isinstance(where, str) else where).meta.root_names())


def select_partitions(dataset: Dataset, where: pl.Expr | str, parameter: str) -> Dataset:
    """Keep the files whose partition values satisfy `where`, when it names partition columns only."""
    names = where_columns(where)
    if not names or not names <= set(dataset.partitions.columns):
        return dataset
    table = dataset.partitions.with_row_index("__file")
    undecided = {i for i, lacking in enumerate(dataset.lacking) if lacking & names}  # the rows will decide
    try:
        kept = apply_where(table.lazy(), where).select("__file").collect().to_series().to_list()
        kept = sorted(set(kept) | undecided)
    except pl.exceptions.PolarsError as exc:
        raise SkewcheckInputError(
            f"{dataset.label}: `{parameter}` {where_text(where)!r} fails on the partition columns "
            f"({', '.join(f'{n} {t}' for n, t in dataset.partitions.schema.items())}): {first_line(exc)}"
        ) from None
    if not kept:
        raise SkewcheckInputError(f"{dataset.label}: no partition where {where_text(where)} (`{parameter}`)")
    return replace(
        dataset,
        files=tuple(dataset.files[i] for i in kept),
        partitions=table[kept].drop("__file"),
        lacking=tuple(dataset.lacking[i] for i in kept),
    )


def where_text(where: pl.Expr | str) -> str:
    return where if isinstance(where, str) else str(where)


def check_schemas(dataset: Dataset) -> pl.Schema:
    """The schema every parquet file of `dataset` shares, read from the footers; refuse any disagreement."""
    schemas = _each(parquet_schema, dataset.files)
    for path, schema in zip(dataset.files[1:], schemas[1:]):
        compare_schemas(dataset.label, dataset.files[0], schemas[0], path, schema)
    return schemas[0]


def _each(read: Callable[[Path], Any], files: Sequence[Path]) -> list[Any]:
    """`read` of every file, in order, by a few threads (footers are small reads: threads hide each open
    and parse); the first file's error in file order is raised."""
    if len(files) < 2:
        return [read(path) for path in files]
    with ThreadPoolExecutor(min(FOOTER_THREADS, len(files))) as pool:
        return list(pool.map(read, files))


def parquet_schema(path: Path) -> pl.Schema:
    """A parquet file's schema from its footer, or an error naming the file."""
    try:
        if path.stat().st_size == 0:
            raise SkewcheckInputError(f"{path}: is empty (0 bytes), not a parquet file")
        with open(path, "rb") as handle:  # a handle: a name with * or [ in it is not a glob
            return pl.Schema(pl.read_parquet_schema(handle))
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise SkewcheckInputError(f"{path}: cannot read it as parquet ({first_line(exc)})") from None


def row_counts(files: Sequence[Path]) -> list[int]:
    """Each parquet file's row count, from its footer."""
    return _each(_row_count, files)


def _row_count(path: Path) -> int:
    # polars counts from the footer without reading a column, 3 times faster than pyarrow.read_metadata
    return pl.scan_parquet([path], hive_partitioning=False, glob=False).select(pl.len()).collect().item()


def column_bytes(files: Iterable[Path]) -> dict[str | None, int]:
    """Uncompressed bytes per top-level column over the files' row groups; under None, their row count."""
    import pyarrow.parquet as pq

    sizes: dict[str | None, int] = {None: 0}
    for path in files:
        meta = pq.read_metadata(path)
        sizes[None] += meta.num_rows
        for group in range(meta.num_row_groups):
            row_group = meta.row_group(group)
            for i in range(row_group.num_columns):
                chunk = row_group.column(i)
                name = chunk.path_in_schema.split(".")[0]
                sizes[name] = sizes.get(name, 0) + chunk.total_uncompressed_size
    return sizes


def compare_schemas(
    label: str, first_path: Path, first: pl.Schema, path: Path, schema: pl.Schema, *, relaxed: bool = False
) -> None:
    """Refuse a column missing in one file or of another type: name both files, the column and both types.

    `relaxed` (for text files, whose types are inferred) lets numbers of two types, or a column
    without values (Null), pass: they concatenate to their common type."""
    for name, dtype in first.items():
        if name not in schema:
            raise SkewcheckInputError(
                f"{label}: column {name!r} is in {first_path} but not in {path}; every file must have the same columns"
            )
        other = schema[name]
        if other != dtype and not (
            relaxed and (pl.Null in (dtype, other) or dtype.is_numeric() == other.is_numeric() is True)
        ):
            raise SkewcheckInputError(
                f"{label}: column {name!r} is {dtype} in {first_path} but {other} in {path}; "
                "write every file with one type"
            )
    for name in schema:
        if name not in first:
            raise SkewcheckInputError(
                f"{label}: column {name!r} is in {path} but not in {first_path}; every file must have the same columns"
            )


def check_gzip(path: Path) -> None:
    """Refuse a file named .gz that does not start as gzip data does."""
    with open(path, "rb") as handle:
        if handle.read(2) != GZIP_MAGIC:
            raise SkewcheckInputError(
                f"{path}: named .gz but not gzip data; rename it without .gz if it is not compressed"
            )


def _name(items: list[Any]) -> str:
    """The input as given: a path, or the first few of a list."""
    named = ", ".join(map(str, items[:NAMED_FILES]))
    return named + (f" and {len(items) - NAMED_FILES} more" if len(items) > NAMED_FILES else "")


def first_line(exc: BaseException) -> str:
    """The first line of an error's text, for a one-line message; its backquotes become quotes, since
    `SkewcheckInputError` reads backquoted words as parameter names."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0].replace("`", "'")
