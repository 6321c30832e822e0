"""Building a profile: one pass over each column of a dataset."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from .._columns import kind_of
from .._errors import SkewcheckInputError
from .._io import Source, load
from .._run import column_chunks, read_columns, worker_pool
from .._settings import check_engine, column_names
from . import sketch
from .model import FeatureProfile, GridHistogram, Profile, QuantileSummary
from .sketch import NUMERIC_KINDS, VALUE_CAP, grid, grid_counts, mid_quantiles


def profile(
    data: Any, *, features: Sequence[str] | None = None, where: Any = None, engine: str = "local", client: Any = None
) -> Profile:
    """Compute the mergeable statistics of every feature (column) of a dataset.

    Parameters
    ----------
    data : path, dataset or frame
        Parquet, CSV or NDJSON path, a directory, glob or list of them (as compare takes), or a
        polars, pandas or pyarrow table.
    features : list of str, optional
        Columns to profile. Default: all.
    where : str or polars.Expr, optional
        Profile only the rows where this holds (SQL text or a polars expression, as in compare).
    engine : {"local", "dask"}
        ``"dask"``: profile pieces of the data on a Dask cluster and merge them (`merge_profiles`).
    client : distributed.Client, optional
        With ``engine="dask"``: the cluster's client; default: the current one.

    Returns
    -------
    Profile

    Raises
    ------
    SkewcheckInputError
        Unreadable input, or a requested column it does not have.

    Examples
    --------
    >>> import polars as pl, skewcheck
    >>> part = skewcheck.profile(pl.DataFrame({"x": [1.0, 2.0, None]}))
    >>> whole = part.merge(skewcheck.profile(pl.DataFrame({"x": [4.0]})))
    >>> whole["x"].count, whole["x"].nulls, whole["x"].max, whole["x"].mean
    (3, 1, 4.0, 2.3333333333333335)
    """
    features = column_names(features, "features", single=False, optional=True)
    check_engine(engine, client)
    if engine == "dask":
        from .._dask import profile_on_dask

        return profile_on_dask(data, features=features, where=where, client=client)
    source = load(data, role="data", where=where)
    names = profiled_names(source, features)
    results: list[FeatureProfile] = []
    with worker_pool(os.cpu_count() or 1) as pool:
        for chunk in column_chunks(names, source.rows):
            columns = read_columns(source, chunk)
            results.extend(pool.map(_feature_profile, (columns[name] for name in chunk)))
    return Profile(rows=source.rows, features=tuple(results), source=source.label)


def profiled_names(source: Source, features: Sequence[str] | None) -> list[str]:
    if features is None:
        return source.schema.names()
    names = list(dict.fromkeys(features))
    if not names:
        raise SkewcheckInputError("the feature list is empty")
    for name in names:
        if name not in source.schema:
            raise SkewcheckInputError(
                f"{source.label}: no column {name!r} (columns: {source.column_list()}); pass `features` with some of them"
            )
    return names


def _feature_profile(series: pl.Series) -> FeatureProfile:
    kind = kind_of(series.dtype)
    base = {
        "name": series.name,
        "dtype": str(series.dtype),
        "kind": kind,
        "rows": series.len(),
        "nulls": series.null_count(),
    }
    if kind in NUMERIC_KINDS:
        return _numeric_profile(series, base)
    if kind == "categorical":
        return _categorical_profile(series, base)
    return FeatureProfile(**base)


def as_floats(series: pl.Series) -> np.ndarray:
    """The non-null values as float64: temporal ones as microseconds since the epoch (UTC)."""
    if series.null_count():
        series = series.drop_nulls()
    if series.dtype == pl.Date:
        series = series.cast(pl.Datetime("us"))
    if isinstance(series.dtype, pl.Datetime):
        series = series.dt.epoch("us")
    elif series.dtype.is_temporal():
        series = series.to_physical()
    return series.cast(pl.Float64).to_numpy()


def _numeric_profile(series: pl.Series, base: dict[str, Any]) -> FeatureProfile:
    numbers = as_floats(series)
    nans = int(np.count_nonzero(np.isnan(numbers)))
    finite = np.isfinite(numbers)
    if not finite.all():
        numbers = numbers[finite]
    ordered = np.sort(numbers)
    stats = _sorted_stats(ordered)
    return FeatureProfile(**base, nans=nans, infinite=int(finite.size - ordered.size - nans), **stats)


def _sorted_stats(ordered: np.ndarray) -> dict[str, Any]:
    """Moments, range, histogram, summary and value counts of sorted finite numbers."""
    n = ordered.size
    if n == 0:
        return {"values": (), "quantiles": QuantileSummary(0, ())}
    low, high = float(ordered[0]) + 0.0, float(ordered[-1]) + 0.0  # + 0.0 turns -0.0 into 0.0
    mean = float(ordered.mean())
    exponent, first, bins = grid(low, high)
    return {
        "count": n,
        "min": low,
        "max": high,
        "mean": mean,
        "m2": float(np.square(ordered - mean).sum()),
        "histogram": GridHistogram(exponent, first, tuple(grid_counts(ordered, exponent, first, bins).tolist())),
        "quantiles": QuantileSummary(n, tuple(mid_quantiles(ordered).tolist())),
        "values": _value_counts(ordered),
    }


def _value_counts(ordered: np.ndarray) -> tuple[tuple[float, int], ...] | None:
    """Every distinct value with its count, if there are at most VALUE_CAP of them."""
    changes = ordered[1:] != ordered[:-1]
    if np.count_nonzero(changes) >= VALUE_CAP:
        return None
    starts = np.flatnonzero(np.concatenate(([True], changes)))
    counts = np.diff(np.append(starts, ordered.size))
    return tuple(zip((ordered[starts] + 0.0).tolist(), counts.tolist()))


def _categorical_profile(series: pl.Series, base: dict[str, Any]) -> FeatureProfile:
    labels = series.drop_nulls().cast(pl.String)
    table = labels.rename("label").value_counts(name="n")
    categories, other = sketch.top_categories(zip(table["label"].to_list(), table["n"].to_list()))
    return FeatureProfile(**base, count=labels.len(), categories=categories, other=other)
