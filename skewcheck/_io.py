"""Inputs: files, datasets and in-memory frames become polars LazyFrames; reports are written safely.

A path is a file, a directory or a glob of parquet, CSV or NDJSON files (`_dataset` finds and
checks them). Parquet is scanned lazily, so later steps read only the columns they need, and its
row count comes from the footers. CSV and NDJSON (also gzip-compressed) are parsed once, here,
so that a parse error is reported at load time with the file named. `estimated_bytes` tells the
out-of-core engines what a source takes in memory, without reading it.
Every problem is raised as `SkewcheckInputError`; this module never prints or exits.
"""

from __future__ import annotations

import csv
import fnmatch
import gzip
import os
import secrets
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from ._dataset import (
    Dataset,
    apply_where,
    check_gzip,
    check_partition_keys,
    check_schemas,
    column_bytes,
    compare_schemas,
    file_format,
    find,
    first_line,
    is_paths,
    named_in,
    parse_where,
    row_counts,
    select_partitions,
    where_columns,
    where_text,
)
from ._errors import SkewcheckInputError

# Rows read to infer CSV column types: enough to see past a leading run of nulls.
CSV_INFER_ROWS = 10_000
# Bytes per value in memory of the fixed-width types; other types take VIEW_BYTES plus their data.
FIXED_WIDTH = {
    pl.Boolean: 1, pl.Int8: 1, pl.UInt8: 1, pl.Int16: 2, pl.UInt16: 2, pl.Int32: 4, pl.UInt32: 4,
    pl.Float32: 4, pl.Date: 4, pl.Int64: 8, pl.UInt64: 8, pl.Float64: 8, pl.Datetime: 8, pl.Duration: 8,
    pl.Time: 8, pl.Int128: 16, pl.Decimal: 16,
}  # fmt: skip
VIEW_BYTES = 16  # a polars string or binary view; strings of up to 12 bytes live inside it


@dataclass(frozen=True)
class Source:
    """One loaded input: a lazy frame, its schema, its row count and a label for messages.

    `files` are the data files it reads (empty for an in-memory frame), after `where` selected
    partitions; `format` is "parquet", "csv" or "ndjson" for files (text files are parsed at
    load), "frame" for an in-memory table, or "lazy" for a polars LazyFrame given as it is. An
    engine that reads the files itself gets them, with the same columns and rows, from `file_frames`.
    """

    frame: pl.LazyFrame
    schema: pl.Schema
    rows: int
    label: str
    files: tuple[Path, ...] = ()
    format: str = "frame"
    partitions: pl.DataFrame | None = None  # per file of `files`, the partition values `frame` adds
    where: pl.Expr | str | None = None  # the row filter in `frame` (None when the partitions decided it)

    def column_list(self) -> str:
        """The column names, for error messages."""
        return ", ".join(self.schema.names())


def load(data: Any, *, role: str, where: Any = None, where_parameter: str = "where") -> Source:
    """Turn a path, a dataset or an in-memory frame into a `Source`.

    Parameters
    ----------
    data : str, Path, list of paths, polars.DataFrame, polars.LazyFrame, pandas.DataFrame or pyarrow.Table
        The input. A path is a file (.parquet/.pq, .csv, .ndjson/.jsonl, and .csv.gz, .ndjson.gz,
        .jsonl.gz), a directory of such files (searched recursively, hive partitions as columns) or a
        glob; a list or tuple names several of them (see `_dataset`).
    role : str
        "offline" or "online": used in messages for in-memory inputs.
    where : str or polars.Expr, optional
        Keep only the rows where this holds: SQL text (``"date >= '2026-11-01'"``) or a polars
        expression. On partition columns alone it selects files before anything is read.
    where_parameter : str
        The parameter that holds `where`, for messages.

    Returns
    -------
    Source

    Raises
    ------
    SkewcheckInputError
        Missing, empty or unreadable input; a dataset of mixed formats or schemas; a bad `where`.
    """
    condition = parse_where(where, where_parameter) if where is not None else None
    files: tuple[Path, ...] = ()
    partitions = None
    if is_paths(data):
        dataset = find(data)
        if condition is not None:
            dataset = select_partitions(dataset, condition, where_parameter)
        file_schema = check_schemas(dataset) if dataset.format == "parquet" else None
        if file_schema is not None:
            check_partition_keys(dataset, file_schema.names())
        frame, partitions = _scan(dataset, file_schema)
        kind, label, files = dataset.format, dataset.label, dataset.files
        if condition is not None and _decided_by_partitions(condition, dataset, file_schema):
            condition = None  # every row of the files left satisfies it: the count stays a metadata read
            label += f" where {where_text(where)}"
    else:
        frame = _from_object(data, role)
        kind = "lazy" if isinstance(data, pl.LazyFrame) else "frame"
        label = f"{role} ({type(data).__module__.split('.')[0]} {type(data).__name__})"
    try:
        schema = frame.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:  # OSError: a lazy scan of a missing or unreadable file
        raise SkewcheckInputError(f"{label}: cannot read it ({first_line(exc)})") from None
    if condition is not None:
        frame = _filtered(frame, schema, condition, label, where_parameter)
        label += f" where {where_text(condition)}"
    try:
        rows = frame.select(pl.len()).collect().item()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise SkewcheckInputError(f"{label}: cannot read it ({first_line(exc)})") from None
    if not schema.names():
        raise SkewcheckInputError(f"{label}: has no columns")
    if rows == 0:
        raise SkewcheckInputError(f"{label}: is empty (0 rows; columns: {', '.join(schema.names())})")
    opaque = [name for name, dtype in schema.items() if dtype == pl.Object]
    if opaque:
        raise SkewcheckInputError(
            f"{label}: column {opaque[0]!r} holds Python objects (polars Object), which cannot be compared; "
            "convert it to numbers, text or timestamps"
        )
    frame, schema = _normalise(frame, schema)
    return Source(frame, schema, rows, label, files, kind, partitions, condition)


def _decided_by_partitions(condition: pl.Expr | str, dataset: Dataset, file_schema: pl.Schema | None) -> bool:
    """Whether `select_partitions` applied the whole condition: it names only partition columns that
    come from the directories (not columns the parquet files hold too)."""
    names = where_columns(condition)
    if file_schema is None or not names or not names <= set(dataset.partitions.columns):
        return False
    return not names & set(file_schema.names())


def _filtered(frame: pl.LazyFrame, schema: pl.Schema, condition: pl.Expr | str, label: str, parameter: str):
    unknown = sorted(where_columns(condition) - set(schema.names()))
    if unknown:
        raise SkewcheckInputError(
            f"{label}: `{parameter}` {where_text(condition)!r} names column {unknown[0]!r}, which it does not have "
            f"(columns: {', '.join(schema.names())})"
        )
    frame = apply_where(frame, condition)
    try:
        frame.collect_schema()
    except pl.exceptions.PolarsError as exc:
        raise SkewcheckInputError(f"{label}: `{parameter}` {where_text(condition)!r}: {first_line(exc)}") from None
    return frame


def estimated_bytes(source: Source, columns: Iterable[str] | None = None) -> int:
    """The bytes `columns` of `source` (default: all) take in memory once read, estimated without reading.

    Parquet files: rows x the width of each column, from the footers: its type's width for
    fixed-width types (`FIXED_WIDTH`), else `VIEW_BYTES` plus its uncompressed bytes per row in the
    files; rows are `source.rows` (after `where`). Text files and in-memory frames, already in
    memory: their size, measured. A LazyFrame: rows x the type widths, `VIEW_BYTES` for other
    types. Validity bitmaps and dictionary sharing are ignored, so text estimates err high.

    Examples
    --------
    >>> import polars as pl
    >>> estimated_bytes(load(pl.DataFrame({"x": [1.0, 2.0]}), role="offline"))
    16
    """
    names = [n for n in (source.schema.names() if columns is None else columns) if n in source.schema]
    if source.format not in ("parquet", "lazy"):
        return int(source.frame.select(names).collect().estimated_size())
    data_bytes = column_bytes(source.files) if source.format == "parquet" else {}
    file_rows = data_bytes.pop(None, 0) or source.rows
    width = 0.0
    for name in names:
        fixed = FIXED_WIDTH.get(source.schema[name].base_type())
        width += fixed if fixed is not None else VIEW_BYTES + data_bytes.get(name, 0) / file_rows
    return int(source.rows * width)


def _scan(dataset: Dataset, file_schema: pl.Schema | None) -> tuple[pl.LazyFrame, pl.DataFrame | None]:
    """One lazy frame over the files, with the partition columns the files do not hold (and, for parquet,
    those values per file)."""
    if file_schema is not None:
        return _scan_parquet(dataset, file_schema)
    frames = [_read_text(path, dataset.format) for path in dataset.files]
    check_partition_keys(dataset, frames[0].columns)
    added = dataset.partitions.select(c for c in dataset.partitions.columns if c not in frames[0].columns)
    frames = [frame.with_columns(_literals(added, i)) for i, frame in enumerate(frames)]
    return _concat_text(dataset, frames).lazy(), None


def _scan_parquet(dataset: Dataset, schema: pl.Schema) -> tuple[pl.LazyFrame, pl.DataFrame]:
    """The files in one scan, and the partition columns the files do not hold: each row's value is its
    file's, found from the scan's row index and the files' row counts (one scan per partition, concatenated,
    would start threads by the hundred in polars). Also those values: one row per file."""
    added = dataset.partitions.select(c for c in dataset.partitions.columns if c not in schema)
    if not added.columns:
        return _scan_files(dataset.files, schema.names()), added
    ends = pl.Series(row_counts(dataset.files), dtype=pl.UInt64).cum_sum()
    file_of_row = pl.lit(ends).search_sorted(pl.col(_ROW), side="right")
    frame = _scan_files(dataset.files, [_ROW, *schema.names()], row_index=True)
    values = [pl.lit(added[name]).gather(file_of_row).alias(name) for name in added.columns]
    return frame.with_columns(values).drop(_ROW), added


_ROW = "__skewcheck_dataset_row"


def _scan_files(files: Sequence[Path], columns: Sequence[str], *, row_index: bool = False) -> pl.LazyFrame:
    """Parquet files read as they are (no globbing, no hive guessing), their columns in one order;
    with `row_index`, a row number over all the files, in order (column `_ROW`)."""
    scan = pl.scan_parquet(list(files), hive_partitioning=False, glob=False, row_index_name=_ROW if row_index else None)
    return scan.select(columns)


def _literals(values: pl.DataFrame, row: int) -> list[pl.Expr]:
    """Row `row` of `values` as literal columns (a file's partition values)."""
    return [pl.lit(values[name][row], dtype=values.schema[name]).alias(name) for name in values.columns]


def file_frames(source: Source) -> list[pl.LazyFrame]:
    """`source` as one lazy frame per parquet file, each with its partition columns, `where` and the casts
    `load` applies: pieces an engine can read in parallel (e.g. ``dask.dataframe.from_map``). Concatenated
    in order they hold the rows of `source.frame`. Any other source is one piece: its frame."""
    if source.format != "parquet":
        return [source.frame]
    added = source.partitions if source.partitions is not None else pl.DataFrame()
    columns = [name for name in source.schema.names() if name not in added.columns]
    pieces = []
    for row, path in enumerate(source.files):
        frame = _scan_files([path], columns).with_columns(_literals(added, row))
        if source.where is not None:
            frame = apply_where(frame, source.where)
        pieces.append(frame.select(source.schema.names()).cast(dict(source.schema)))
    return pieces


def _read_text(path: Path, kind: str) -> pl.DataFrame:
    """A CSV or NDJSON file (gzip-compressed when named .gz), parsed, or an error naming it."""
    if path.stat().st_size == 0:
        raise SkewcheckInputError(f"{path}: is empty (0 bytes)")
    compressed = file_format(path)[1]
    if compressed:
        check_gzip(path)
    try:
        if kind == "csv":
            _refuse_repeated_header(path, compressed)
        with open(path, "rb") as handle:  # a handle: a name with * or [ in it is not a glob; polars un-gzips
            if kind == "csv":
                return pl.read_csv(handle, try_parse_dates=True, infer_schema_length=CSV_INFER_ROWS)
            return pl.read_ndjson(handle)
    except (pl.exceptions.PolarsError, OSError, ValueError, EOFError) as exc:
        kind_name = f"{kind}.gz" if compressed else path.suffix.lower()[1:]
        raise SkewcheckInputError(f"{path}: cannot read it as {kind_name} ({first_line(exc)})") from None


def _concat_text(dataset: Dataset, frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Text files carry no types, so the types inferred per file must agree; but integers in one file
    and floats in another become floats."""
    first_path, first = dataset.files[0], frames[0]
    for path, frame in zip(dataset.files[1:], frames[1:]):
        compare_schemas(dataset.label, first_path, first.schema, path, frame.schema, relaxed=True)
    return pl.concat([frame.select(first.columns) for frame in frames], how="vertical_relaxed")


def _refuse_repeated_header(path: Path, compressed: bool) -> None:
    """polars renames a repeated CSV column (x, x_duplicated_0): refuse it instead, naming the column."""
    with (gzip.open if compressed else open)(path, "rt", newline="", encoding="utf-8", errors="replace") as handle:
        header = next(csv.reader(handle), [])
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise SkewcheckInputError(
            f"{path}: column {repeated[0]!r} appears {header.count(repeated[0])} times in the header; "
            "give each column its own name"
        )


def _from_object(data: Any, role: str) -> pl.LazyFrame:
    if isinstance(data, pl.LazyFrame):
        return data
    if isinstance(data, pl.DataFrame):
        return data.lazy()
    module = type(data).__module__.split(".")[0]
    try:
        if module == "pandas" and hasattr(data, "columns"):
            # A named index holds columns (often the keys, after set_index): keep them as columns.
            return pl.from_pandas(data, include_index=any(name is not None for name in data.index.names)).lazy()
        if module == "pyarrow" and hasattr(data, "schema") and hasattr(data, "columns"):
            return pl.from_arrow(data).lazy()
    except (pl.exceptions.PolarsError, TypeError, ValueError) as exc:
        raise SkewcheckInputError(f"{role}: cannot convert the {type(data).__name__} ({first_line(exc)})") from None
    raise SkewcheckInputError(
        f"{role}: expected a file path or a polars/pandas/pyarrow table, got {module} {type(data).__name__}"
        + (
            "; wrap a single column in a table, e.g. pyarrow.table({'x': column})"
            if module in ("pandas", "pyarrow")
            else ""
        )
    )


def _normalise(frame: pl.LazyFrame, schema: pl.Schema) -> tuple[pl.LazyFrame, pl.Schema]:
    """Categoricals compare as their labels: cast Categorical and Enum columns to String."""
    to_string = [name for name, dtype in schema.items() if isinstance(dtype, (pl.Categorical, pl.Enum))]
    if not to_string:
        return frame, schema
    frame = frame.with_columns(pl.col(to_string).cast(pl.String))
    return frame, frame.collect_schema()


def check_report_paths(reports: Mapping[str, str | os.PathLike | None], inputs: Iterable[Any]) -> None:
    """Refuse a report path that is an input, or resolves to one (symlink, hard link), or another report's.

    `reports` maps how each report is asked for (e.g. "--json") to its path; None is skipped and
    "-" (standard output) takes one report. Raises SkewcheckInputError before anything is read or written.
    A glob input refuses the paths it matches.
    """
    paths = [item for data in inputs for item in (data if isinstance(data, (list, tuple)) else [data])]
    paths += [named_in(path) for path in paths if isinstance(path, str) and named_in(path) != path]  # labels
    sources = [Path(data) for data in paths if isinstance(data, (str, os.PathLike))]
    seen: dict[str, str] = {}
    for name, path in reports.items():
        if path is None:
            continue
        target = "-" if str(path) == "-" else os.path.realpath(path)
        for source in sources if target != "-" else ():
            if (
                _same_file(target, source)
                or (source.is_dir() and Path(target).is_relative_to(source.resolve()))
                or (not source.exists() and fnmatch.fnmatchcase(target, os.path.abspath(source)))
            ):
                raise SkewcheckInputError(
                    f"{name} {str(path)!r} is the input {str(source)!r}: writing the report there would destroy it; "
                    "choose another path"
                )
        if target in seen:
            raise SkewcheckInputError(f"{seen[target]} and {name} both write to {str(path)!r}; choose two paths")
        seen[target] = name


def _same_file(target: str, source: Path) -> bool:
    if target == os.path.realpath(source):
        return True
    try:
        return os.path.samefile(target, source)  # a hard link
    except OSError:  # one of them does not exist
        return False


def write_atomically(path: str | os.PathLike, text: str) -> None:
    """Write a report so that readers never see half of it, and nothing but the report changes.

    A regular file is written to a temporary file beside it, then renamed over it; a symlink is
    followed (its target is replaced, the link kept); a device, FIFO or pipe, or anything under
    /dev or /proc (e.g. /dev/stdout) is written in place. A new file gets the permissions the user's umask gives
    (0644 under 022); a replaced file keeps its own.
    """
    try:
        mode = os.stat(path).st_mode  # of what the path leads to, through any symlinks
    except FileNotFoundError:
        mode = None
    target = Path(os.path.realpath(path))
    if mode is not None and stat.S_ISDIR(mode):
        raise IsADirectoryError(21, "Is a directory", str(path))
    if mode is not None and not stat.S_ISREG(mode) or _through_devices(path):
        # A device, FIFO or pipe (/dev/stdout, /dev/fd/N): renaming would replace it, so write in place.
        # Appending: what the shell opened with > is empty already, and >> must keep what is there.
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
        return
    tmp, fd = _temporary_beside(target)
    try:
        if mode is not None:
            os.fchmod(fd, stat.S_IMODE(mode))
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _through_devices(path: str | os.PathLike) -> bool:
    """Whether the path, or a symlink on the way to its target, lies in /dev or /proc (/dev/stdout, /proc/self/fd/1)."""
    current = os.path.abspath(path)
    for _ in range(40):  # the kernel's limit on a chain of symlinks
        if Path(current).parts[1:2] in (("dev",), ("proc",)):
            return True
        if not os.path.islink(current):
            return False
        current = os.path.abspath(os.path.join(os.path.dirname(current), os.readlink(current)))
    return False


def _temporary_beside(target: Path) -> tuple[Path, int]:
    """A new hidden file in the target's folder, opened for writing; mode 0666 less the umask."""
    while True:
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
