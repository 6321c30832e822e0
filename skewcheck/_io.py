"""Files: paths (parquet, CSV, NDJSON) and in-memory frames become polars LazyFrames; reports are written safely.

Parquet is scanned lazily, so later steps read only the columns they need. CSV and NDJSON
are parsed once, here, so that a parse error is reported at load time with the file named.
Every problem is raised as `SkewcheckInputError`; this module never prints or exits.
"""

from __future__ import annotations

import csv
import os
import secrets
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from ._errors import SkewcheckInputError

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv",)
NDJSON_SUFFIXES = (".ndjson", ".jsonl")
# Rows read to infer CSV column types: enough to see past a leading run of nulls.
CSV_INFER_ROWS = 10_000


@dataclass(frozen=True)
class Source:
    """One loaded input: a lazy frame, its schema, its row count and a label for messages."""

    frame: pl.LazyFrame
    schema: pl.Schema
    rows: int
    label: str

    def column_list(self) -> str:
        """The column names, for error messages."""
        return ", ".join(self.schema.names())


def load(data: Any, *, role: str) -> Source:
    """Turn a path or an in-memory frame into a `Source`.

    Parameters
    ----------
    data : str, Path, polars.DataFrame, polars.LazyFrame, pandas.DataFrame or pyarrow.Table
        The input. Paths may end in .parquet/.pq, .csv, .ndjson/.jsonl.
    role : str
        "offline" or "online": used in messages for in-memory inputs.

    Returns
    -------
    Source

    Raises
    ------
    SkewcheckInputError
        Missing, empty or unreadable input.
    """
    if isinstance(data, (str, Path)):
        frame, label = _scan_path(Path(data)), str(data)
    else:
        frame, label = _from_object(data, role), f"{role} ({type(data).__module__.split('.')[0]} {type(data).__name__})"
    try:
        schema = frame.collect_schema()
        rows = frame.select(pl.len()).collect().item()
    except (pl.exceptions.PolarsError, OSError) as exc:  # OSError: a lazy scan of a missing or unreadable file
        raise SkewcheckInputError(f"{label}: cannot read it ({_first_line(exc)})") from None
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
    return Source(frame=frame, schema=schema, rows=rows, label=label)


def _scan_path(path: Path) -> pl.LazyFrame:
    if not path.exists():
        raise SkewcheckInputError(f"{path}: no such file")
    if path.is_dir():
        raise SkewcheckInputError(f"{path}: is a directory; pass a file")
    if path.stat().st_size == 0:
        raise SkewcheckInputError(f"{path}: is empty (0 bytes)")
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        _refuse_repeated_header(path)
    try:
        if suffix in PARQUET_SUFFIXES:
            return pl.scan_parquet(path)
        if suffix in CSV_SUFFIXES:
            return pl.read_csv(path, try_parse_dates=True, infer_schema_length=CSV_INFER_ROWS).lazy()
        if suffix in NDJSON_SUFFIXES:
            return pl.read_ndjson(path).lazy()
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise SkewcheckInputError(f"{path}: cannot read it as {suffix[1:]} ({_first_line(exc)})") from None
    known = ", ".join(PARQUET_SUFFIXES + CSV_SUFFIXES + NDJSON_SUFFIXES)
    raise SkewcheckInputError(f"{path}: unknown file type {suffix or '(none)'!r}; expected one of {known}")


def _refuse_repeated_header(path: Path) -> None:
    """polars renames a repeated CSV column (x, x_duplicated_0): refuse it instead, naming the column."""
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
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
        raise SkewcheckInputError(f"{role}: cannot convert the {type(data).__name__} ({_first_line(exc)})") from None
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def check_report_paths(reports: Mapping[str, str | os.PathLike | None], inputs: Iterable[Any]) -> None:
    """Refuse a report path that is an input, or resolves to one (symlink, hard link), or another report's.

    `reports` maps how each report is asked for (e.g. "--json") to its path; None is skipped and
    "-" (standard output) takes one report. Raises SkewcheckInputError before anything is read or written.
    """
    sources = [Path(data) for data in inputs if isinstance(data, (str, os.PathLike))]
    seen: dict[str, str] = {}
    for name, path in reports.items():
        if path is None:
            continue
        target = "-" if str(path) == "-" else os.path.realpath(path)
        for source in sources if target != "-" else ():
            if _same_file(target, source) or (source.is_dir() and Path(target).is_relative_to(source.resolve())):
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
