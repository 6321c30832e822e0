"""Load: paths (parquet, CSV, NDJSON) and in-memory frames become polars LazyFrames.

Parquet is scanned lazily, so later steps read only the columns they need. CSV and NDJSON
are parsed once, here, so that a parse error is reported at load time with the file named.
Every problem is raised as `SkewcheckInputError`; this module never prints or exits.
"""

from __future__ import annotations

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
    except pl.exceptions.PolarsError as exc:
        raise SkewcheckInputError(f"{label}: cannot read it ({_first_line(exc)})") from None
    if not schema.names():
        raise SkewcheckInputError(f"{label}: has no columns")
    if rows == 0:
        raise SkewcheckInputError(f"{label}: is empty (0 rows; columns: {', '.join(schema.names())})")
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


def _from_object(data: Any, role: str) -> pl.LazyFrame:
    if isinstance(data, pl.LazyFrame):
        return data
    if isinstance(data, pl.DataFrame):
        return data.lazy()
    module = type(data).__module__.split(".")[0]
    try:
        if module == "pandas":
            return pl.from_pandas(data).lazy()
        if module == "pyarrow":
            return pl.from_arrow(data).lazy()
    except (pl.exceptions.PolarsError, TypeError, ValueError) as exc:
        raise SkewcheckInputError(f"{role}: cannot convert the {type(data).__name__} ({_first_line(exc)})") from None
    raise SkewcheckInputError(
        f"{role}: expected a file path or a polars/pandas/pyarrow table, got {type(data).__name__}"
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
