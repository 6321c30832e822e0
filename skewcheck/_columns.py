"""Column helpers: the kind of a column, null and NaN rates, common types, epoch numbers, agreement.

A leaf: imports no computing module (only the time helpers).
"""

from __future__ import annotations

import polars as pl

from ._time import cast_time, common_time_type


def kind_of(dtype: pl.DataType) -> str:
    """numeric, categorical, temporal or other: decides the comparison and the test."""
    if dtype.is_numeric():
        return "numeric"
    if dtype in (pl.String, pl.Boolean) or isinstance(dtype, (pl.Categorical, pl.Enum)):
        return "categorical"
    if dtype.is_temporal():
        return "temporal"
    return "other"


def same_kind(left: pl.DataType, right: pl.DataType) -> bool:
    """Comparable as values: same kind, and for time, both instants, both durations or both times."""
    if kind_of(left) != kind_of(right):
        return False
    if kind_of(left) != "temporal":
        return True
    return _temporal_kind(left) == _temporal_kind(right)


def _temporal_kind(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Duration):
        return "duration"
    return "time" if dtype == pl.Time else "instant"


def null_rate(series: pl.Series | None) -> float:
    """Share of null rows (0 for a missing or empty column)."""
    return series.null_count() / series.len() if series is not None and series.len() else 0.0


def nan_rate(series: pl.Series | None) -> float:
    """Share of NaN rows of a float column (0 for other types)."""
    if series is None or not series.dtype.is_float() or not series.len():
        return 0.0
    return int(series.is_nan().sum()) / series.len()


def dtype_name(series: pl.Series | None) -> str | None:
    return None if series is None else str(series.dtype)


def common_type(off: pl.Series, on: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Bring two comparable columns of different types to one type, losing nothing that both hold.

    Floats meet at the narrower width (width alone is not skew); integers and decimals meet in an
    exact type wide enough for both; a float against an exact number is compared as a float;
    times meet at the finer unit (a date as a datetime at midnight), zones in UTC.
    """
    left, right = off.dtype, on.dtype
    if left.is_numeric():
        target = _numeric_target(left, right)
    elif left.is_temporal():
        target = common_time_type(left, right)
    else:
        target = pl.String
    return cast_time(off, target), cast_time(on, target)


def _numeric_target(left: pl.DataType, right: pl.DataType) -> pl.DataType:
    if left.is_float() and right.is_float():
        return pl.Float32 if pl.Float32 in (left, right) else pl.Float64
    if left.is_float() or right.is_float():
        return pl.Float64
    if isinstance(left, pl.Decimal) or isinstance(right, pl.Decimal):
        scale = max(getattr(d, "scale", 0) or 0 for d in (left, right))
        return pl.Decimal(38, scale)
    signed = left.is_signed_integer() or right.is_signed_integer()
    if pl.Int128 in (left, right) or (pl.UInt64 in (left, right) and signed):
        return pl.Int128  # Int64 cannot hold a UInt64 past 2**63 - 1
    return pl.Int64 if signed else pl.UInt64


def epoch(series: pl.Series) -> pl.Series:
    """Times as numbers for the distribution test: datetimes in epoch µs, others physical."""
    if series.dtype == pl.Date:
        series = series.cast(pl.Datetime("us"))
    if isinstance(series.dtype, pl.Datetime):
        return series.dt.epoch("us")
    return series.to_physical()


def finite_values(series: pl.Series, kind: str) -> pl.Series:
    """Values for the distribution test: finite (no nulls, NaN or infinities), temporal as epoch numbers."""
    series = series.drop_nulls()
    if kind == "temporal":
        return epoch(series)
    if series.dtype.is_float():
        finite = series.is_finite()
        return series if finite.all() else series.filter(finite)
    return series


def agree(x: pl.Expr, y: pl.Expr, dtype: pl.DataType, *, abs_tol: float, rel_tol: float) -> pl.Expr:
    """Two numbers of one type agree.

    Floats: equal (NaN equals NaN, an infinity only the same infinity), or both finite and
    ``|x - y| <= abs_tol + rel_tol * max(|x|, |y|)``. Integers and decimals: exactly equal, or
    within `abs_tol` when one is set (the relative tolerance is for floats only).
    """
    if dtype.is_float():
        x, y = x.cast(pl.Float64), y.cast(pl.Float64)
        bound = abs_tol + rel_tol * pl.max_horizontal(x.abs(), y.abs())
        return (x == y) | (x.is_finite() & y.is_finite() & ((x - y).abs() <= bound))
    if abs_tol > 0:
        return (x == y) | (abs_diff(x, y, dtype) <= abs_tol)
    return x == y


def abs_diff(x: pl.Expr, y: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """|x - y| as a float: computed exactly (Int128 for integers), then converted."""
    if dtype.is_float():
        x, y = x.cast(pl.Float64), y.cast(pl.Float64)
        return pl.when(x.is_finite() & y.is_finite()).then((x - y).abs())
    if dtype.is_integer():
        x, y = x.cast(pl.Int128), y.cast(pl.Int128)
    return (x - y).abs().cast(pl.Float64)
